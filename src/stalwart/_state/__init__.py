"""Where strategies keep their state: partitioned by key, bounded, behind a small interface."""
