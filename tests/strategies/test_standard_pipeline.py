"""The complete standard pipeline through an outage and a recovery, on the fake clock.

Bulkhead → total timeout → budgeted retry → circuit breaker → per-attempt timeout, the
order DESIGN.md recommends, around an upstream that is healthy, then down, then hanging,
then healthy again.
"""

from __future__ import annotations

import enum

import pytest

import stalwart
from stalwart.testing import FakeClock


class Mode(enum.Enum):
    HEALTHY = "healthy"
    DOWN = "down"
    HANGING = "hanging"


class Upstream:
    """A callee whose health the test switches, counting every attempt it receives."""

    def __init__(self) -> None:
        self.mode = Mode.HEALTHY
        self.attempts = 0

    def call(self, order_id: int) -> str:
        self.attempts += 1
        if self.mode is Mode.DOWN:
            raise ConnectionError("connection refused")
        if self.mode is Mode.HANGING:
            stalwart.sleep(3600)  # cut by the per-attempt timeout
        return f"order {order_id}"

    async def acall(self, order_id: int) -> str:
        self.attempts += 1
        if self.mode is Mode.DOWN:
            raise ConnectionError("connection refused")
        if self.mode is Mode.HANGING:
            await stalwart.asleep(3600)
        return f"order {order_id}"


def standard_pipeline() -> tuple[stalwart.Pipeline, stalwart.CircuitBreaker, stalwart.Bulkhead]:
    """The recommended order with the defaults DESIGN.md gives for HTTP."""
    bulkhead = stalwart.Bulkhead(max_concurrent=100)
    breaker = stalwart.CircuitBreaker(on=ConnectionError, min_calls=20, break_for=5.0)
    pipeline = stalwart.Pipeline(
        bulkhead,
        stalwart.Timeout(total=30.0),
        stalwart.Retry(on=ConnectionError, max_attempts=3, budget=stalwart.RetryBudget()),
        breaker,
        stalwart.Timeout(per_attempt=10.0),
    )
    return pipeline, breaker, bulkhead


class Tally:
    """What the callers saw: answers, the upstream's own errors, and local rejections."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.rejected = 0
        self.timed_out = 0

    def record(self, outcome: stalwart.Outcome[str]) -> None:
        exception = outcome.exception
        if exception is None:
            self.ok += 1
        elif isinstance(exception, stalwart.CircuitOpen):
            self.rejected += 1
        elif isinstance(exception, TimeoutError):
            self.timed_out += 1
        elif isinstance(exception, ConnectionError):
            self.failed += 1
        else:
            raise exception


def run_sync(
    pipeline: stalwart.Pipeline, upstream: Upstream, order_id: int
) -> stalwart.Outcome[str]:
    try:
        return stalwart.Outcome.of_result(pipeline.call(upstream.call, order_id))
    except Exception as error:
        return stalwart.Outcome.of_exception(error)


async def run_async(
    pipeline: stalwart.Pipeline, upstream: Upstream, order_id: int
) -> stalwart.Outcome[str]:
    try:
        return stalwart.Outcome.of_result(await pipeline.acall(upstream.acall, order_id))
    except Exception as error:
        return stalwart.Outcome.of_exception(error)


def test_outage_and_recovery_sync(clock: FakeClock) -> None:
    """Healthy calls pass untouched; an outage opens the breaker and the load collapses;
    a hang is bounded per attempt; after recovery a probe closes the breaker again."""
    pipeline, breaker, bulkhead = standard_pipeline()
    upstream = Upstream()

    healthy = Tally()
    for order_id in range(50):
        healthy.record(run_sync(pipeline, upstream, order_id))
        clock.advance(1.0)
    assert (healthy.ok, upstream.attempts) == (50, 50)

    # A 60 s outage with one call a second: without the breaker and the budget the
    # upstream would see 3 attempts per call (180); it sees a small fraction.
    upstream.mode, upstream.attempts = Mode.DOWN, 0
    outage = Tally()
    for order_id in range(60):
        outage.record(run_sync(pipeline, upstream, order_id))
        clock.advance(1.0)
    assert outage.ok == 0
    assert outage.rejected > outage.failed  # most calls never reached the upstream
    assert upstream.attempts < 0.25 * 180
    assert breaker.state() is not stalwart.CircuitState.CLOSED

    # A hanging upstream: each attempt is cut at 10 s and the whole call within 30 s.
    upstream.mode = Mode.HANGING
    clock.advance(120.0)  # past any break, so the next call is a probe
    started = clock.monotonic()
    outcome = run_sync(pipeline, upstream, 0)
    assert isinstance(outcome.exception, stalwart.DeadlineExceeded | stalwart.CircuitOpen)
    assert clock.monotonic() - started <= 30.0

    # Recovery: once the break is over a probe goes through and closes the breaker.
    upstream.mode, upstream.attempts = Mode.HEALTHY, 0
    clock.advance(120.0)
    recovered = Tally()
    for order_id in range(30):
        recovered.record(run_sync(pipeline, upstream, order_id))
        clock.advance(1.0)
    assert recovered.ok == 30
    assert breaker.state() is stalwart.CircuitState.CLOSED
    assert upstream.attempts == 30
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_outage_and_recovery_async(clock: FakeClock) -> None:
    """The same story through `acall`, on asyncio and trio: the hang is cancelled for real."""
    pipeline, breaker, bulkhead = standard_pipeline()
    upstream = Upstream()

    for order_id in range(30):
        assert (await run_async(pipeline, upstream, order_id)).ok
        clock.advance(1.0)

    upstream.mode, upstream.attempts = Mode.DOWN, 0
    outage = Tally()
    for order_id in range(60):
        outage.record(await run_async(pipeline, upstream, order_id))
        clock.advance(1.0)
    assert outage.ok == 0
    assert upstream.attempts < 0.25 * 180
    assert outage.rejected > outage.failed

    upstream.mode = Mode.HANGING
    clock.advance(120.0)
    started = clock.monotonic()
    outcome = await run_async(pipeline, upstream, 0)
    assert isinstance(outcome.exception, stalwart.DeadlineExceeded | stalwart.CircuitOpen)
    assert clock.monotonic() - started <= 30.0

    upstream.mode, upstream.attempts = Mode.HEALTHY, 0
    clock.advance(120.0)
    recovered = Tally()
    for order_id in range(30):
        recovered.record(await run_async(pipeline, upstream, order_id))
        clock.advance(1.0)
    assert recovered.ok == 30
    assert breaker.state() is stalwart.CircuitState.CLOSED
    assert bulkhead.statistics().in_flight == 0


def test_the_caller_deadline_bounds_the_whole_pipeline(clock: FakeClock) -> None:
    """Under the caller's 2 s deadline a hanging upstream costs 2 s, not the 30 s total."""
    pipeline, _, _ = standard_pipeline()
    upstream = Upstream()
    upstream.mode = Mode.HANGING
    with pytest.raises(stalwart.DeadlineExceeded), stalwart.deadline(2.0):
        pipeline.call(upstream.call, 1)
    assert clock.monotonic() == pytest.approx(2.0)
    assert upstream.attempts == 1
