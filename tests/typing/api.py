"""Never executed: mypy checks that the public API keeps its types (`make typecheck`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, assert_type

import stalwart
from stalwart.testing import FakeClock, instant_retries

pipeline = stalwart.Pipeline(
    stalwart.Timeout(total=10.0),
    stalwart.Retry(on=(ConnectionError, TimeoutError), backoff=stalwart.Backoff.exponential()),
    stalwart.Timeout(per_attempt=2.0),
)


def fetch(uid: int, *, verbose: bool = False) -> str:
    return str(uid)


async def afetch(uid: int) -> bytes:
    return b""


# call / acall keep the function's parameters and return type.
assert_type(pipeline.call(fetch, 1, verbose=True), str)
pipeline.call(fetch, "1")  # type: ignore[arg-type]
pipeline.call(fetch, 1, colour=True)  # type: ignore[call-arg]


async def use_acall() -> None:
    assert_type(await pipeline.acall(afetch, 1), bytes)


# The decorator keeps the signature and the sync or async kind.
decorated = pipeline(fetch)
assert_type(decorated(1, verbose=True), str)
decorated("x")  # type: ignore[arg-type]
adecorated = pipeline(afetch)
coroutine_function: Callable[[int], Coroutine[Any, Any, bytes]] = adecorated


async def use_decorated() -> None:
    assert_type(await adecorated(1), bytes)


@pipeline
def declared(a: int, b: str = "") -> float:
    return 1.0


assert_type(declared(1, b="x"), float)

# The context API.
with stalwart.deadline(2.0) as scope:
    assert_type(scope, stalwart.Scope)
    assert_type(stalwart.remaining(), float)
    assert_type(stalwart.current_deadline(), float)
    stalwart.check()
    scope.cancel()
with stalwart.bind(request_id="r-1") as bound:
    assert_type(bound, Mapping[str, object])
assert_type(stalwart.value("request_id"), Any)
assert_type(stalwart.values(), Mapping[str, object])
carried = stalwart.carry_context(fetch)
assert_type(carried(1, verbose=False), str)

# Outcomes and classifiers.
outcome = stalwart.Outcome.of_result(3)
assert_type(outcome, stalwart.Outcome[int])
assert_type(outcome.unwrap(), int)


def classify(outcome: stalwart.Outcome[Any]) -> stalwart.Verdict:
    return stalwart.Verdict.TRANSIENT if outcome.result == 503 else stalwart.Verdict.SUCCESS


retry_on_results = stalwart.Retry(classify=classify, max_attempts=5)
assert_type(retry_on_results.replace(max_attempts=2), stalwart.Retry)

# Testing helpers.
with FakeClock(seed=1) as clock:
    assert_type(clock.monotonic(), float)
    clock.advance(1.0)
with instant_retries(max_attempts=1):
    pass
