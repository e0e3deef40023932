"""The HTTP integration: one implementation behind `stalwart.httpx` and `stalwart.httpx2`.

Every module here works with either library through a `Library` (the library's classes,
looked up once); the public modules only name their library and re-export.
"""
