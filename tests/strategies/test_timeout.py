"""`stalwart.Timeout`: options, async cancellation at expiry, cooperative sync clipping."""

from __future__ import annotations

import math
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import (
    Backoff,
    DeadlineExceeded,
    Outcome,
    Pipeline,
    Retry,
    RetryScheduled,
    Timeout,
    TimeoutExpired,
    Verdict,
)
from stalwart.testing import FakeClock

try:  # newer anyio releases keep it in anyio.testing
    from anyio.testing import wait_all_tasks_blocked  # type: ignore[import-not-found]
except ImportError:
    from anyio import wait_all_tasks_blocked


def expired(events: list[stalwart.Event]) -> list[TimeoutExpired]:
    return [event for event in events if isinstance(event, TimeoutExpired)]


def delays(events: list[stalwart.Event]) -> list[float]:
    return [event.delay for event in events if isinstance(event, RetryScheduled)]


# -- options ------------------------------------------------------------------------------


def test_timeout_needs_exactly_one_kind() -> None:
    """`Timeout()` and `Timeout(per_attempt=..., total=...)` raise TypeError."""
    with pytest.raises(TypeError, match="exactly one of per_attempt= or total="):
        Timeout()
    with pytest.raises(TypeError, match="exactly one of per_attempt= or total="):
        Timeout(per_attempt=1, total=2)


@pytest.mark.parametrize("kind", ["per_attempt", "total"])
@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (-0.5, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (True, TypeError),
        (False, TypeError),
        ("10", TypeError),
        ([1], TypeError),
    ],
)
def test_bad_seconds_name_the_parameter(kind: str, value: object, error: type[Exception]) -> None:
    """Non-positive, NaN, infinite, boolean and non-numeric seconds raise an error naming the
    parameter."""
    with pytest.raises(error, match=rf"^{kind} must"):
        Timeout(**{kind: value})  # type: ignore[arg-type]


def test_empty_name_is_rejected() -> None:
    """`name=""` raises ValueError naming `name`."""
    with pytest.raises(ValueError, match=r"^name must"):
        Timeout(total=1, name="")


def test_kind_and_seconds() -> None:
    """`kind` says which timeout it is and `seconds` gives its value as a float."""
    total = Timeout(total=10)
    assert total.kind == "total"
    assert total.seconds == 10.0
    assert isinstance(total.seconds, float)
    assert total.per_attempt is None
    per_attempt = Timeout(per_attempt=2.5)
    assert per_attempt.kind == "per_attempt"
    assert per_attempt.seconds == 2.5
    assert per_attempt.total is None


def test_repr() -> None:
    """The repr shows the kind and seconds, plus a non-default name."""
    assert repr(Timeout(total=10)) == "Timeout(total=10.0)"
    assert repr(Timeout(per_attempt=2)) == "Timeout(per_attempt=2.0)"
    assert repr(Timeout(total=1, name="db")) == "Timeout(total=1.0, name='db')"


def test_replace_revalidates() -> None:
    """`replace()` returns a changed copy and validates it again."""
    timeout = Timeout(total=10)
    assert timeout.replace(total=5) == Timeout(total=5)
    with pytest.raises(ValueError, match=r"^total must"):
        timeout.replace(total=0)
    with pytest.raises(TypeError, match="exactly one"):
        timeout.replace(per_attempt=1)


def test_timeout_is_frozen_and_compares_by_value() -> None:
    """Timeouts are immutable, and equal (with equal hashes) when their options are."""
    timeout = Timeout(total=10)
    with pytest.raises(AttributeError):
        timeout.total = 5  # type: ignore[misc]
    assert timeout == Timeout(total=10.0)
    assert hash(timeout) == hash(Timeout(total=10.0))
    assert timeout != Timeout(per_attempt=10)


# -- async: real cancellation ----------------------------------------------------------------


@pytest.mark.anyio
async def test_async_total_cancels_a_foreign_await_at_expiry(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """`Timeout(total=1)` cancels a non-stalwart await once the clock passes 1 s, raising
    DeadlineExceeded."""
    outcome: list[BaseException | object] = []

    async def wait_forever() -> None:
        await anyio.Event().wait()

    async def run() -> None:
        try:
            outcome.append(await Pipeline(Timeout(total=1)).acall(wait_forever))
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await wait_all_tasks_blocked()
        assert outcome == []
        clock.advance(0.5)
        await wait_all_tasks_blocked()
        assert outcome == []  # not yet: only half the time went by
        clock.advance(1.0)
    [error] = outcome
    assert isinstance(error, DeadlineExceeded)
    assert isinstance(error, TimeoutError)
    assert error.timeout == 1.0
    [event] = expired(events)
    assert event.kind == "total"
    assert event.timeout == 1.0
    assert event.strategy == "timeout"


@pytest.mark.anyio
async def test_async_fast_call_returns_through_timeouts(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A call that finishes in time returns its value through total and per-attempt timeouts."""

    async def fast(value: str) -> str:
        await anyio.lowlevel.checkpoint()
        return value

    assert await Pipeline(Timeout(total=5)).acall(fast, "a") == "a"
    pipeline = Pipeline(Timeout(total=5), Retry(on=ConnectionError), Timeout(per_attempt=1))
    assert await pipeline.acall(fast, "b") == "b"
    assert expired(events) == []
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_async_per_attempt_timeout_is_retried(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A per-attempt timeout inside a Retry cancels the slow attempt, and the retry's next attempt
    wins."""
    calls: list[int] = []

    async def slow_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            await stalwart.asleep(5)
        return "ok"

    pipeline = Pipeline(
        Timeout(total=10), Retry(on=ConnectionError), Timeout(per_attempt=1, name="attempt")
    )
    assert await pipeline.acall(slow_then_fast) == "ok"
    assert len(calls) == 2
    [delay] = delays(events)
    assert clock.monotonic() == pytest.approx(1.0 + delay)
    [event] = expired(events)
    assert event.kind == "per_attempt"
    assert event.strategy == "attempt"


@pytest.mark.anyio
async def test_async_total_ends_the_call_without_more_attempts(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """When the total runs out during an attempt the call ends with DeadlineExceeded, with no
    further attempt."""
    calls: list[int] = []

    async def always_slow() -> None:
        calls.append(1)
        await stalwart.asleep(5)

    pipeline = Pipeline(
        Timeout(total=3),
        Retry(on=ConnectionError, max_attempts=10, backoff=Backoff.constant(0.1)),
        Timeout(per_attempt=2),
    )
    with pytest.raises(DeadlineExceeded):
        await pipeline.acall(always_slow)
    assert len(calls) == 2
    assert clock.monotonic() == pytest.approx(3.0)
    assert "total" in [event.kind for event in expired(events)]


@pytest.mark.anyio
async def test_async_enclosing_deadline_shortens_a_timeout(clock: FakeClock) -> None:
    """Inside a shorter enclosing deadline, a longer Timeout does not extend it."""
    seen: list[float] = []

    async def look() -> None:
        seen.append(stalwart.remaining())
        await stalwart.asleep(5)

    with pytest.raises(DeadlineExceeded):
        async with stalwart.deadline(0.5):
            await Pipeline(Timeout(total=2)).acall(look)
    assert seen == [0.5]
    assert clock.monotonic() == pytest.approx(0.5)


# -- sync: cooperative clipping ------------------------------------------------------------------


def test_sync_remaining_inside_a_per_attempt_timeout(clock: FakeClock) -> None:
    """The function sees at most `per_attempt` seconds remaining."""
    seen: list[float] = []

    def look() -> str:
        seen.append(stalwart.remaining())
        return "ok"

    with stalwart.deadline(100):
        assert Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=2)).call(look) == "ok"
    assert seen == [2.0]
    assert stalwart.remaining() == math.inf  # the scope is gone afterwards


def test_sync_sleep_inside_is_clipped_and_retried(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """`stalwart.sleep()` inside an attempt stops at its timeout with DeadlineExceeded, which the
    Retry retries."""
    calls: list[int] = []

    def slow_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            stalwart.sleep(5)
            raise AssertionError("the sleep should have been clipped")
        return "ok"

    pipeline = Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=2))
    assert pipeline.call(slow_then_fast) == "ok"
    assert len(calls) == 2
    [delay] = delays(events)
    assert clock.monotonic() == pytest.approx(2.0 + delay)
    [event] = expired(events)
    assert event.kind == "per_attempt"
    assert event.timeout == 2.0


def test_sync_check_inside_raises_once_the_time_is_used(clock: FakeClock) -> None:
    """`stalwart.check()` inside an attempt raises DeadlineExceeded once its time is used, and the
    Retry retries."""
    calls: list[int] = []
    errors: list[DeadlineExceeded] = []

    def busy_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            stalwart.check()  # plenty of time at first
            clock.advance(3)  # work that takes 3 s
            try:
                stalwart.check()
            except DeadlineExceeded as exc:
                errors.append(exc)
                raise
        return "ok"

    pipeline = Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=2))
    assert pipeline.call(busy_then_fast) == "ok"
    assert len(calls) == 2
    [error] = errors
    assert error.deadline == pytest.approx(2.0)


def test_sync_late_result_is_kept(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """A sync function that overruns its timeout without any stalwart check keeps its result
    (cooperative)."""
    calls: list[int] = []

    def late() -> str:
        calls.append(1)
        clock.advance(5)
        return "late"

    assert Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=1)).call(late) == "late"
    assert Pipeline(Timeout(total=1)).call(late) == "late"
    assert len(calls) == 2
    assert expired(events) == []


def test_sync_enclosing_shorter_deadline_wins(clock: FakeClock) -> None:
    """Inside a shorter enclosing deadline the function sees the outer remaining time, not
    `per_attempt`."""
    seen: list[float] = []

    def look() -> str:
        seen.append(stalwart.remaining())
        return "ok"

    with stalwart.deadline(0.5):
        Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=2)).call(look)
        Pipeline(Timeout(total=2)).call(look)
    assert seen == [0.5, 0.5]


def test_sync_total_timeout_clips_a_sleep(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """`Timeout(total=1)` alone clips a `stalwart.sleep(5)` to 1 s and raises DeadlineExceeded."""
    with pytest.raises(DeadlineExceeded) as excinfo:
        Pipeline(Timeout(total=1)).call(stalwart.sleep, 5)
    assert clock.monotonic() == 1.0
    assert excinfo.value.timeout == 1.0
    [event] = expired(events)
    assert event.kind == "total"


def test_sync_expired_enclosing_deadline_means_no_call(clock: FakeClock) -> None:
    """A Timeout inside an already expired deadline never calls the function."""
    calls: list[int] = []
    with pytest.raises(DeadlineExceeded), stalwart.deadline(0):
        Pipeline(Timeout(total=1)).call(calls.append, 1)
    assert calls == []


# -- the Retry and the per-attempt timeout ---------------------------------------------------------


def test_per_attempt_deadline_is_retried_even_if_on_does_not_name_it(clock: FakeClock) -> None:
    """A per-attempt DeadlineExceeded is retried although `on=` names only ValueError."""
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        stalwart.sleep(5)

    with pytest.raises(DeadlineExceeded) as excinfo:
        Pipeline(Retry(on=ValueError), Timeout(per_attempt=1)).call(slow)
    assert len(calls) == 3
    assert any("gave up after 3 attempt" in note for note in excinfo.value.__notes__)


def test_per_attempt_deadline_is_retried_whatever_classify_says(clock: FakeClock) -> None:
    """A per-attempt DeadlineExceeded is retried even with a `classify=` that calls every exception
    FATAL."""
    calls: list[int] = []

    def slow_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            stalwart.sleep(5)
        return "ok"

    def classify(outcome: Outcome[Any]) -> Verdict:
        return Verdict.SUCCESS if outcome.ok else Verdict.FATAL

    assert Pipeline(Retry(classify=classify), Timeout(per_attempt=1)).call(slow_then_fast) == "ok"
    assert len(calls) == 2


def test_sync_total_deadline_ends_the_retries(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """When the TOTAL runs out the call ends with DeadlineExceeded: no retry past the total
    deadline."""
    calls: list[int] = []

    def always_slow() -> None:
        calls.append(1)
        stalwart.sleep(5)

    pipeline = Pipeline(
        Timeout(total=3),
        Retry(on=ConnectionError, max_attempts=10, backoff=Backoff.constant(0.1)),
        Timeout(per_attempt=2),
    )
    with pytest.raises(DeadlineExceeded) as excinfo:
        pipeline.call(always_slow)
    assert len(calls) == 2
    assert clock.monotonic() == pytest.approx(3.0)
    assert any("deadline" in note for note in excinfo.value.__notes__)
    assert [event.kind for event in expired(events)] == ["per_attempt", "total"]


@pytest.mark.anyio
async def test_async_per_attempt_deadline_is_retried_even_if_on_does_not_name_it(
    clock: FakeClock,
) -> None:
    """In async code too, a per-attempt DeadlineExceeded is retried although `on=` names only
    ValueError."""
    calls: list[int] = []

    async def slow() -> None:
        calls.append(1)
        await stalwart.asleep(5)

    with pytest.raises(DeadlineExceeded) as excinfo:
        await Pipeline(Retry(on=ValueError), Timeout(per_attempt=1)).acall(slow)
    assert len(calls) == 3
    assert any("gave up after 3 attempt" in note for note in excinfo.value.__notes__)


# -- real time: the event loop's own timeouts -------------------------------------------


@pytest.mark.anyio
@pytest.mark.realtime
async def test_real_time_attempt_timeouts_are_cut_and_retried() -> None:
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(5)
        return "ok"

    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError, backoff=stalwart.Backoff.constant(0.0)),
        stalwart.Timeout(per_attempt=0.05),
    )
    assert await pipeline.acall(slow_then_fast) == "ok"
    assert calls == 2


@pytest.mark.anyio
@pytest.mark.realtime
async def test_real_time_timeout_raises_deadline_exceeded_with_its_context() -> None:
    seen: list[float] = []

    async def hang() -> None:
        seen.append(stalwart.remaining())
        await anyio.sleep(5)

    with pytest.raises(stalwart.DeadlineExceeded) as caught:
        await stalwart.Pipeline(stalwart.Timeout(total=0.05)).acall(hang)
    assert caught.value.timeout == 0.05
    assert 0 < seen[0] <= 0.05


@pytest.mark.anyio
@pytest.mark.realtime
async def test_real_time_timeout_lets_the_calls_own_timeout_error_through() -> None:
    async def fails() -> None:
        raise TimeoutError("the callee's own")

    with pytest.raises(TimeoutError, match="the callee's own") as caught:
        await stalwart.Pipeline(stalwart.Timeout(total=5.0)).acall(fails)
    assert not isinstance(caught.value, stalwart.DeadlineExceeded)


@pytest.mark.anyio
@pytest.mark.realtime
async def test_real_time_timeout_under_a_tighter_deadline() -> None:
    async def hang() -> None:
        await anyio.sleep(5)

    with pytest.raises(stalwart.DeadlineExceeded):
        async with stalwart.deadline(0.05):
            await stalwart.Pipeline(stalwart.Timeout(total=5.0)).acall(hang)


@pytest.mark.anyio
@pytest.mark.realtime
async def test_real_time_timeout_is_cancelled_from_another_thread() -> None:
    async def hang() -> None:
        await anyio.sleep(5)

    with pytest.raises(stalwart.Cancelled), stalwart.cancel_scope() as scope:
        threading.Timer(0.05, scope.cancel).start()
        await stalwart.Pipeline(stalwart.Timeout(total=5.0)).acall(hang)
