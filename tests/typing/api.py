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

# The strategies compose in one pipeline, and their snapshots are typed.
budget = stalwart.RetryBudget(key=lambda host, path: host)
breaker = stalwart.CircuitBreaker(on=ConnectionError, key=lambda host, path: host)
bulkhead = stalwart.Bulkhead(max_concurrent=10, max_queue=5)
limiter = stalwart.RateLimiter(rate=100.0, burst=10, wait=True)
throttle = stalwart.AdaptiveThrottle()
standard = stalwart.Pipeline(
    stalwart.Fallback(on=ConnectionError, value="cached"),
    bulkhead,
    limiter,
    stalwart.Timeout(total=30.0),
    stalwart.Retry(on=ConnectionError, budget=budget),
    breaker,
    throttle,
    stalwart.Timeout(per_attempt=10.0),
    stalwart.Chaos(rate=0.1, exception=ConnectionError("injected")),
)
hedged = stalwart.Pipeline(
    stalwart.Timeout(total=5.0),
    stalwart.Hedge(delay=stalwart.Hedge.percentile(95), max_hedges=2, budget=budget),
)
assert_type(breaker.state("api"), stalwart.CircuitState)
assert_type(breaker.statistics(), stalwart.CircuitStatistics)
assert_type(bulkhead.statistics(), stalwart.BulkheadStatistics)
assert_type(limiter.statistics(), stalwart.RateLimiterStatistics)
assert_type(budget.statistics("api"), stalwart.RetryBudgetStatistics)
assert_type(budget.try_withdraw("api"), bool)
assert_type(throttle.statistics(), stalwart.AdaptiveThrottleStatistics)
try:
    standard.call(fetch, 1)
except stalwart.Rejected as refusal:
    assert_type(refusal.retry_after, float | None)
