"""Never executed: mypy checks that the public API keeps its types (run by `make typecheck`)."""

from __future__ import annotations

from typing import assert_type

import stalwart

pipeline = stalwart.Pipeline(stalwart.Retry(on=ConnectionError))


def fetch(uid: int, *, verbose: bool = False) -> str:
    return str(uid)


async def afetch(uid: int) -> bytes:
    return b""


assert_type(pipeline.call(fetch, 1, verbose=True), str)
decorated = pipeline(fetch)
assert_type(decorated(1, verbose=True), str)
adecorated = pipeline(afetch)
