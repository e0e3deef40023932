"""The breaker inside a Pipeline with Retry and Timeout: an outage and its recovery on the
FakeClock, Retry waiting out `retry_after`, and whose deadline counts."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import Backoff, Pipeline, Retry, RetryScheduled, Timeout
from stalwart._exceptions import CircuitOpen
from stalwart._strategies.circuit_breaker import (
    CircuitBreaker,
    CircuitClosed,
    CircuitOpened,
    CircuitState,
)
from stalwart.testing import FakeClock

from .support import of_type


class Outage:
    """An upstream that is down until `recovers_at` on the clock, counting calls on both sides."""

    def __init__(self, clock: FakeClock, recovers_at: float) -> None:
        self.clock = clock
        self.recovers_at = recovers_at
        self.during = 0
        self.after = 0

    def __call__(self) -> str:
        if self.clock.monotonic() < self.recovers_at:
            self.during += 1
            raise ConnectionError("upstream down")
        self.after += 1
        return "ok"


def test_outage_and_recovery_through_retry_and_breaker(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A 60 s outage with one call a second: once open, upstream calls drop to one probe per break
    (5, 10, 20, 40 s) instead of 3 per call, and calls succeed again once a probe gets through."""
    upstream = Outage(clock, recovers_at=60.0)
    breaker = CircuitBreaker(on=ConnectionError, min_calls=6)
    pipeline = Pipeline(
        Retry(on=ConnectionError, max_attempts=3, backoff=Backoff.constant(0.1)), breaker
    )
    outcomes: list[str] = []
    for second in range(120):
        clock.advance(second - clock.monotonic())
        try:
            outcomes.append(pipeline.call(upstream))
        except ConnectionError:
            outcomes.append("failed")
        except CircuitOpen:
            outcomes.append("rejected")
    # 2 calls × 3 attempts trip it at t=1.2; then one probe after each break: t=7, 17, 37.
    assert upstream.during == 6 + 3
    assert outcomes[:2] == ["failed", "failed"]
    # a failed probe's retry meets the re-opened circuit, so its caller gets CircuitOpen;
    # the break after t=37 is 40 s, and the probe at t=77 finds the upstream back
    assert outcomes[2:77] == ["rejected"] * 75
    assert outcomes[77:] == ["ok"] * 43
    assert upstream.after == 43
    assert [event.break_for for event in of_type(events, CircuitOpened)] == [5, 10, 20, 40]
    assert len(of_type(events, CircuitClosed)) == 1
    assert breaker.state() is CircuitState.CLOSED
    # without the breaker the retry would have sent 3 attempts for each of 60 calls
    assert upstream.during < 180 // 10


def test_retry_waits_out_retry_after_and_the_probe_succeeds(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """With CircuitOpen in the Retry's `on=`, the retry sleeps the breaker's retry_after (a hint)
    and its next attempt is the probe."""
    upstream = Outage(clock, recovers_at=3.0)
    pipeline = Pipeline(
        Retry(on=(ConnectionError, CircuitOpen), max_attempts=4, backoff=Backoff.constant(0.1)),
        CircuitBreaker(on=ConnectionError, min_calls=2),
    )
    assert pipeline.call(upstream) == "ok"
    assert (upstream.during, upstream.after) == (2, 1)  # the rejected attempt never reached it
    delays = [(event.delay, event.hinted) for event in of_type(events, RetryScheduled)]
    # two backoffs between failures (the second trips the circuit), then the breaker's hint
    assert delays == [(0.1, False), (0.1, False), (pytest.approx(4.9), True)]
    assert clock.monotonic() == pytest.approx(5.1)


@pytest.mark.anyio
async def test_async_outage_and_recovery(clock: FakeClock) -> None:
    """The async driver goes through the same outage and recovery, probing after the break."""
    recovered = False
    calls = 0

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()
        if not recovered:
            raise ConnectionError("down")
        return "ok"

    breaker = CircuitBreaker(on=ConnectionError, min_calls=3)
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(0.1)), breaker)
    with pytest.raises(ConnectionError):
        await pipeline.acall(upstream)
    with pytest.raises(CircuitOpen):
        await pipeline.acall(upstream)
    assert calls == 3
    recovered = True
    await stalwart.asleep(5.0)
    assert await pipeline.acall(upstream) == "ok"
    assert breaker.state() is CircuitState.CLOSED
    assert calls == 4


def test_a_per_attempt_timeout_inside_counts_as_a_failure(clock: FakeClock) -> None:
    """A Timeout(per_attempt) inside the breaker expiring is a TIMEOUT failure, even when `on=`
    names only ConnectionError."""
    breaker = CircuitBreaker(on=ConnectionError, min_calls=2)
    pipeline = Pipeline(
        Retry(on=ConnectionError, max_attempts=2, backoff=Backoff.constant(0.1)),
        breaker,
        Timeout(per_attempt=1.0),
    )

    def hangs() -> str:
        clock.advance(2.0)
        stalwart.check()
        return "too late"

    with pytest.raises(stalwart.DeadlineExceeded):
        pipeline.call(hangs)
    statistics = breaker.statistics()
    assert (statistics.calls, statistics.failures, statistics.state) == (2, 2, CircuitState.OPEN)


def test_the_callers_own_deadline_is_neutral(clock: FakeClock) -> None:
    """When the caller's deadline (outside the breaker) passes during a sync call, nothing is
    counted."""
    breaker = CircuitBreaker(min_calls=1)

    def slow() -> str:
        clock.advance(2.0)
        stalwart.check()
        return "too late"

    with pytest.raises(stalwart.DeadlineExceeded), stalwart.deadline(1.0):
        Pipeline(breaker).call(slow)
    assert breaker.statistics().calls == 0
    assert breaker.state() is CircuitState.CLOSED


@pytest.mark.anyio
async def test_async_callers_deadline_is_neutral(clock: FakeClock) -> None:
    """In async code the caller's deadline cancels the call inside the breaker: nothing counted."""
    breaker = CircuitBreaker(min_calls=1)

    async def slow() -> str:
        await stalwart.asleep(5.0)
        return "too late"

    with pytest.raises(stalwart.DeadlineExceeded):
        async with stalwart.deadline(1.0):
            await Pipeline(breaker).acall(slow)
    assert breaker.statistics().calls == 0


def test_a_deadline_exceeded_raised_by_the_function_follows_the_classifier(
    clock: FakeClock,
) -> None:
    """A DeadlineExceeded the function raises on its own (no deadline passed) is classified like
    any exception."""
    breaker = CircuitBreaker(min_calls=1)  # every exception is a failure

    def own() -> None:
        raise stalwart.DeadlineExceeded("the upstream said so")

    with pytest.raises(stalwart.DeadlineExceeded):
        Pipeline(breaker).call(own)
    assert breaker.statistics().failures == 1


def test_only_a_stalwart_timeout_counts_whatever_on_says(clock: FakeClock) -> None:
    """A DeadlineExceeded the function raises with an early deadline of its own is not an attempt
    timeout: with on=ConnectionError it is FATAL, a success for the breaker."""
    breaker = CircuitBreaker(on=ConnectionError, min_calls=1)

    def own() -> None:
        raise stalwart.DeadlineExceeded("someone else's deadline", deadline=0.5)

    with pytest.raises(stalwart.DeadlineExceeded):
        Pipeline(breaker).call(own)
    statistics = breaker.statistics()
    assert (statistics.calls, statistics.failures) == (1, 0)
