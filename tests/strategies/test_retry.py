"""`stalwart.Retry` in a `Pipeline`: attempts, give-up, backoff, hints, deadlines, cancellation."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import (
    Backoff,
    Cancelled,
    DeadlineExceeded,
    Outcome,
    Pipeline,
    Retry,
    RetryGaveUp,
    RetryScheduled,
    Verdict,
)
from stalwart._strategies.retry import Stop, Wait
from stalwart.testing import FakeClock, instant_retries

try:  # anyio >= 4.? moved it; older releases export it at the top level
    from anyio.testing import wait_all_tasks_blocked  # type: ignore[import-not-found]
except ImportError:
    from anyio import wait_all_tasks_blocked


# -- helpers --------------------------------------------------------------------------


def scheduled(events: list[stalwart.Event]) -> list[RetryScheduled]:
    return [event for event in events if isinstance(event, RetryScheduled)]


def gave_up(events: list[stalwart.Event]) -> list[RetryGaveUp]:
    return [event for event in events if isinstance(event, RetryGaveUp)]


class Failing:
    """A sync callable that raises a fresh exception from `make` on each of its first
    `failures` calls (all of them if None), then returns `result`."""

    def __init__(
        self,
        failures: int | None = None,
        make: Callable[[], BaseException] = lambda: ConnectionError("down"),
        result: object = "ok",
    ) -> None:
        self.failures = failures
        self.make = make
        self.result = result
        self.calls = 0
        self.raised: list[BaseException] = []

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            error = self.make()
            self.raised.append(error)
            raise error
        return self.result


class AsyncFailing(Failing):
    """The async twin of `Failing`."""

    async def __call__(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        return Failing.__call__(self, *args, **kwargs)


class Throttled(Exception):
    """An exception carrying a server's delay hint, like an HTTP 429 with Retry-After."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"slow down for {retry_after} s")
        self.retry_after = retry_after


# -- attempts ---------------------------------------------------------------------------


def test_default_makes_three_attempts(clock: FakeClock) -> None:
    """By default an always-failing function is called exactly 3 times (attempts count the first
    call)."""
    fn = Failing()
    with pytest.raises(ConnectionError):
        Pipeline(Retry(on=ConnectionError)).call(fn)
    assert fn.calls == 3


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_max_attempts_counts_the_first_call(clock: FakeClock, max_attempts: int) -> None:
    """`max_attempts=n` calls an always-failing function exactly n times."""
    fn = Failing()
    with pytest.raises(ConnectionError):
        Pipeline(Retry(on=ConnectionError, max_attempts=max_attempts)).call(fn)
    assert fn.calls == max_attempts


def test_max_retries_is_attempts_minus_one() -> None:
    """`max_retries` is the number of retries after the first call."""
    assert Retry(on=ConnectionError).max_retries == 2
    assert Retry(on=ConnectionError, max_attempts=1).max_retries == 0
    assert Retry(on=ConnectionError, max_attempts=5).max_retries == 4


@pytest.mark.anyio
@pytest.mark.parametrize("max_attempts", [1, 3, 5])
async def test_async_max_attempts_counts_the_first_call(
    clock: FakeClock, max_attempts: int
) -> None:
    """`acall` calls an always-failing coroutine function exactly `max_attempts` times."""
    fn = AsyncFailing()
    with pytest.raises(ConnectionError):
        await Pipeline(Retry(on=ConnectionError, max_attempts=max_attempts)).acall(fn)
    assert fn.calls == max_attempts


# -- giving up --------------------------------------------------------------------------


def test_give_up_reraises_the_last_exception_with_a_note(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """On giving up the last exception object comes out unchanged, noted with why and after how many
    attempts."""
    fn = Failing()
    with pytest.raises(ConnectionError) as excinfo:
        Pipeline(Retry(on=ConnectionError)).call(fn)
    assert type(excinfo.value) is ConnectionError
    assert excinfo.value is fn.raised[-1]
    assert excinfo.value.args == ("down",)
    notes = excinfo.value.__notes__
    assert len(notes) == 1
    assert "gave up after 3 attempt" in notes[0]
    assert "max_attempts=3 reached" in notes[0]
    # the earlier exceptions are not decorated
    assert not hasattr(fn.raised[0], "__notes__")


def test_give_up_emits_retry_gave_up(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """Giving up emits one RetryGaveUp with the attempt count, the reason and the last exception."""
    fn = Failing()
    with pytest.raises(ConnectionError):
        Pipeline(Retry(on=ConnectionError, name="upstream")).call(fn)
    [event] = gave_up(events)
    assert event.strategy == "upstream"
    assert event.attempts == 3
    assert "max_attempts" in event.reason
    assert event.exception is fn.raised[-1]
    assert event.verdict is Verdict.TRANSIENT


def test_retry_scheduled_events_carry_attempts_and_delays(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Each retry emits RetryScheduled with the failed attempt's number and the delay before the
    next."""
    fn = Failing()
    with pytest.raises(ConnectionError):
        Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(0.5))).call(fn)
    found = scheduled(events)
    assert [event.attempt for event in found] == [1, 2]
    assert [event.delay for event in found] == [0.5, 0.5]
    assert [event.exception for event in found] == fn.raised[:2]
    assert all(not event.hinted for event in found)


@pytest.mark.anyio
async def test_async_give_up_reraises_the_last_exception_with_a_note(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """In async code too, the last exception comes out unchanged with a give-up note and event."""
    fn = AsyncFailing()
    with pytest.raises(ConnectionError) as excinfo:
        await Pipeline(Retry(on=ConnectionError)).acall(fn)
    assert excinfo.value is fn.raised[-1]
    assert any("gave up after 3 attempt" in note for note in excinfo.value.__notes__)
    assert [event.attempts for event in gave_up(events)] == [3]
    assert [event.attempt for event in scheduled(events)] == [1, 2]


# -- success and backoff ----------------------------------------------------------------


def test_success_after_failures_returns_the_value(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A call that fails twice then succeeds returns its value, without a give-up event."""
    fn = Failing(failures=2, result={"id": 42})
    assert Pipeline(Retry(on=ConnectionError)).call(fn) == {"id": 42}
    assert fn.calls == 3
    assert gave_up(events) == []


def test_virtual_time_equals_sum_of_scheduled_delays(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """The time slept is the sum of the scheduled delays, each within the default backoff's
    bounds."""
    fn = Failing(failures=4)
    assert Pipeline(Retry(on=ConnectionError, max_attempts=5)).call(fn) == "ok"
    delays = [event.delay for event in scheduled(events)]
    assert len(delays) == 4
    assert clock.monotonic() == pytest.approx(sum(delays))
    ceilings = [0.1, 0.2, 0.4, 0.8]  # exponential, base 0.1, x2, full jitter: U(0, t)
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert 0.0 <= delay <= ceiling


def test_constant_backoff_waits_exactly_its_delay(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """`Backoff.constant(1.0)` waits exactly 1.0 s before each retry."""
    fn = Failing(failures=2)
    assert Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(1.0))).call(fn) == "ok"
    assert [event.delay for event in scheduled(events)] == [1.0, 1.0]
    assert clock.monotonic() == 2.0


@pytest.mark.anyio
async def test_async_success_sleeps_the_scheduled_delays(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """In async code, success after failures returns the value after sleeping the scheduled
    delays."""
    fn = AsyncFailing(failures=2)
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(1.0)))
    assert await pipeline.acall(fn) == "ok"
    assert fn.calls == 3
    assert clock.monotonic() == 2.0
    assert [event.delay for event in scheduled(events)] == [1.0, 1.0]


# -- what is retried ----------------------------------------------------------------------


def test_retry_without_on_or_classify_is_a_type_error() -> None:
    """There is no retry-everything default: `Retry()` raises TypeError."""
    with pytest.raises(TypeError, match=r"on=.*classify="):
        Retry()


def test_retry_with_both_on_and_classify_is_a_type_error() -> None:
    """`on=` and `classify=` together raise TypeError."""
    with pytest.raises(TypeError, match="not both"):
        Retry(on=ConnectionError, classify=lambda outcome: Verdict.TRANSIENT)


def test_unmatched_exception_is_raised_after_one_call(clock: FakeClock) -> None:
    """An exception `on=` does not match is raised at once, unchanged and without a note."""
    fn = Failing(make=lambda: ValueError("bad input"))
    with pytest.raises(ValueError, match="bad input") as excinfo:
        Pipeline(Retry(on=ConnectionError)).call(fn)
    assert fn.calls == 1
    assert excinfo.value is fn.raised[0]
    assert not hasattr(excinfo.value, "__notes__")
    assert clock.monotonic() == 0.0


def test_on_predicate_decides_what_is_retried(clock: FakeClock) -> None:
    """`on=` may be a predicate over the exception: matching ones are retried, others raised at
    once."""
    retry = Retry(on=lambda exc: "again" in str(exc))
    again = Failing(make=lambda: RuntimeError("try again"))
    with pytest.raises(RuntimeError):
        Pipeline(retry).call(again)
    assert again.calls == 3
    final = Failing(make=lambda: RuntimeError("never"))
    with pytest.raises(RuntimeError):
        Pipeline(retry).call(final)
    assert final.calls == 1


def test_on_tuple_of_types(clock: FakeClock) -> None:
    """`on=` may be a tuple of exception types: each of them is retried."""
    retry = Retry(on=(ConnectionError, KeyError))
    for make in (lambda: ConnectionResetError("reset"), lambda: KeyError("k")):
        fn = Failing(make=make)
        with pytest.raises((ConnectionError, KeyError)):
            Pipeline(retry).call(fn)
        assert fn.calls == 3
    other = Failing(make=lambda: ValueError("v"))
    with pytest.raises(ValueError):
        Pipeline(retry).call(other)
    assert other.calls == 1


def results_classifier(outcome: Outcome[Any]) -> Verdict:
    """Results starting with "bad" are transient; other results succeed; exceptions are fatal."""
    if outcome.exception is not None:
        return Verdict.FATAL
    if isinstance(outcome.result, str) and outcome.result.startswith("bad"):
        return Verdict.TRANSIENT
    return Verdict.SUCCESS


def test_classify_retries_bad_results_until_a_good_one(clock: FakeClock) -> None:
    """With `classify=`, a result classified TRANSIENT is retried and a good result returned."""
    results = iter(["bad-1", "bad-2", "good"])
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        return next(results)

    assert Pipeline(Retry(classify=results_classifier)).call(fn) == "good"
    assert len(calls) == 3


def test_classify_returns_the_last_result_when_attempts_run_out(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """When attempts run out on bad results the LAST result is returned and RetryGaveUp emitted."""
    results = iter(["bad-1", "bad-2", "bad-3", "bad-4"])
    assert Pipeline(Retry(classify=results_classifier)).call(lambda: next(results)) == "bad-3"
    [event] = gave_up(events)
    assert event.attempts == 3
    assert event.exception is None
    assert event.verdict is Verdict.TRANSIENT
    assert [event.attempt for event in scheduled(events)] == [1, 2]


@pytest.mark.anyio
async def test_async_classify_returns_the_last_result(clock: FakeClock) -> None:
    """In async code too, bad results are retried and the last one is returned at the end."""
    results = iter(["bad-1", "bad-2", "bad-3"])

    async def fn() -> str:
        await anyio.lowlevel.checkpoint()
        return next(results)

    assert await Pipeline(Retry(classify=results_classifier)).acall(fn) == "bad-3"


def test_classify_sees_exceptions_too(clock: FakeClock) -> None:
    """A `classify=` classifier receives exception outcomes and can mark them retryable."""
    seen: list[Outcome[Any]] = []

    def classify(outcome: Outcome[Any]) -> Verdict:
        seen.append(outcome)
        return Verdict.SUCCESS if outcome.ok else Verdict.TRANSIENT

    fn = Failing(failures=1)
    assert Pipeline(Retry(classify=classify)).call(fn) == "ok"
    assert seen[0].exception is fn.raised[0]
    assert seen[1].result == "ok"


def test_exception_classified_success_is_still_raised(clock: FakeClock) -> None:
    """An exception a classifier calls SUCCESS (not a failure) still comes out: it is never
    swallowed."""
    fn = Failing(make=lambda: LookupError("not found"))
    with pytest.raises(LookupError, match="not found"):
        Pipeline(Retry(classify=lambda outcome: Verdict.SUCCESS)).call(fn)
    assert fn.calls == 1


@pytest.mark.anyio
async def test_async_exception_classified_success_is_still_raised(clock: FakeClock) -> None:
    """In async code, an exception a classifier calls SUCCESS still comes out unchanged."""
    fn = AsyncFailing(make=lambda: LookupError("not found"))
    with pytest.raises(LookupError, match="not found"):
        await Pipeline(Retry(classify=lambda outcome: Verdict.SUCCESS)).acall(fn)
    assert fn.calls == 1


# -- cancellation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Cancelled("stop"), id="stalwart.Cancelled"),
        pytest.param(KeyboardInterrupt, id="KeyboardInterrupt"),
        pytest.param(asyncio.CancelledError, id="asyncio.CancelledError"),
    ],
)
def test_cancellation_is_never_retried(
    clock: FakeClock, events: list[stalwart.Event], make: Callable[[], BaseException]
) -> None:
    """Cancellation raised by the call is raised after one call, even with `on=BaseException`,
    without a note."""
    fn = Failing(make=make)
    with pytest.raises(BaseException) as excinfo:
        Pipeline(Retry(on=BaseException)).call(fn)
    assert excinfo.value is fn.raised[0]
    assert fn.calls == 1
    assert not hasattr(excinfo.value, "__notes__")
    assert gave_up(events) == []
    assert scheduled(events) == []


def test_cancelled_is_never_retried_whatever_classify_says(clock: FakeClock) -> None:
    """Even a classifier that calls everything TRANSIENT does not get `stalwart.Cancelled`
    retried."""
    fn = Failing(make=lambda: Cancelled("stop"))
    with pytest.raises(Cancelled):
        Pipeline(Retry(classify=lambda outcome: Verdict.TRANSIENT)).call(fn)
    assert fn.calls == 1


@pytest.mark.anyio
async def test_async_cancelling_the_scope_during_an_attempt_stops_at_once(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Cancelling the surrounding anyio scope during an attempt ends the call with no further
    attempt."""
    calls: list[int] = []
    finished: list[object] = []

    async def hang() -> None:
        calls.append(1)
        await anyio.Event().wait()

    async def run() -> None:
        finished.append(await Pipeline(Retry(on=BaseException)).acall(hang))

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert calls == [1]
    assert finished == []
    assert scheduled(events) == []
    assert gave_up(events) == []


@pytest.mark.anyio
async def test_async_cancelling_the_scope_during_the_backoff_sleep_stops_at_once(
    events: list[stalwart.Event],
) -> None:
    """Cancelling the surrounding anyio scope during the backoff sleep ends the call without another
    attempt."""
    fn = AsyncFailing()
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(5.0)))
    with FakeClock(autojump=False) as clock:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(pipeline.acall, fn)
                while clock.sleepers < 1:
                    await anyio.lowlevel.checkpoint()
                scope.cancel()
        assert scope.cancelled_caught
        assert clock.monotonic() == 0.0
    assert fn.calls == 1
    assert not hasattr(fn.raised[0], "__notes__")
    assert [event.attempt for event in scheduled(events)] == [1]
    assert gave_up(events) == []


@pytest.mark.anyio
async def test_async_stalwart_cancel_scope_during_backoff_raises_cancelled() -> None:
    """`scope.cancel()` of a stalwart cancel scope during an async backoff sleep ends the call with
    Cancelled."""
    fn = AsyncFailing()
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(5.0)))
    with FakeClock(autojump=False) as clock, pytest.raises(Cancelled):
        async with stalwart.cancel_scope() as scope, anyio.create_task_group() as group:
            group.start_soon(pipeline.acall, fn)
            while clock.sleepers < 1:
                await anyio.lowlevel.checkpoint()
            scope.cancel()
    assert clock.monotonic() == 0.0
    assert fn.calls == 1


def test_scope_cancel_from_another_thread_wakes_the_backoff_sleep() -> None:
    """`scope.cancel()` from another thread wakes a sync backoff sleep at once; the call ends with
    Cancelled."""
    fn = Failing()
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(1.0)))
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(pipeline.call(fn))
        except BaseException as exc:  # reported to the test thread
            outcome.append(exc)

    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:
        thread = stalwart.start_thread(run)
        try:
            clock.wait_for_sleepers(1)
            scope.cancel()
        finally:
            thread.join(timeout=10)
        assert not thread.is_alive()
        assert clock.monotonic() == 0.0
    assert fn.calls == 1
    [error] = outcome
    assert isinstance(error, Cancelled)
    assert any("waiting" in note for note in error.__notes__)
    assert not hasattr(fn.raised[0], "__notes__")


def test_already_cancelled_scope_makes_no_attempt(clock: FakeClock) -> None:
    """Inside an already cancelled scope the function is never called and Cancelled is raised."""
    fn = Failing()
    scope = stalwart.cancel_scope()
    scope.cancel()
    with pytest.raises(Cancelled), scope:
        Pipeline(Retry(on=ConnectionError)).call(fn)
    assert fn.calls == 0


# -- deadlines ------------------------------------------------------------------------------


def test_retry_stops_when_the_next_sleep_would_overrun_the_deadline(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Under a 1 s deadline with 0.6 s waits the retry stops after 2 attempts, re-raising the last
    exception."""
    fn = Failing()
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(0.6)))
    with pytest.raises(ConnectionError) as excinfo, stalwart.deadline(1.0):
        pipeline.call(fn)
    assert fn.calls == 2
    assert excinfo.value is fn.raised[-1]
    assert not isinstance(excinfo.value, DeadlineExceeded)
    [note] = excinfo.value.__notes__
    assert "gave up after 2 attempt" in note
    assert "deadline" in note
    assert clock.monotonic() == pytest.approx(0.6)
    assert clock.monotonic() <= 1.0
    [event] = gave_up(events)
    assert event.attempts == 2
    assert "deadline" in event.reason


@pytest.mark.anyio
async def test_async_retry_stops_when_the_next_sleep_would_overrun_the_deadline(
    clock: FakeClock,
) -> None:
    """In async code too, the retry stops early instead of sleeping past the deadline."""
    fn = AsyncFailing()
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(0.6)))
    with pytest.raises(ConnectionError) as excinfo:
        async with stalwart.deadline(1.0):
            await pipeline.acall(fn)
    assert fn.calls == 2
    assert excinfo.value is fn.raised[-1]
    assert any("deadline" in note for note in excinfo.value.__notes__)
    assert clock.monotonic() == pytest.approx(0.6)


def test_expired_deadline_never_calls_the_function(clock: FakeClock) -> None:
    """Under an already expired deadline the function is never called and DeadlineExceeded is
    raised."""
    fn = Failing(failures=0)
    with pytest.raises(DeadlineExceeded), stalwart.deadline(0):
        Pipeline(Retry(on=ConnectionError)).call(fn)
    assert fn.calls == 0


@pytest.mark.anyio
async def test_async_expired_deadline_never_calls_the_function(clock: FakeClock) -> None:
    """In async code, an already expired deadline means no call and DeadlineExceeded."""
    fn = AsyncFailing(failures=0)
    with pytest.raises(DeadlineExceeded):
        async with stalwart.deadline(0):
            await Pipeline(Retry(on=ConnectionError)).acall(fn)
    assert fn.calls == 0


# -- server hints -----------------------------------------------------------------------------


def test_retry_after_attribute_sets_the_delay(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """An exception's numeric `retry_after` replaces the backoff delay exactly."""
    fn = Failing(failures=1, make=lambda: Throttled(2.5))
    assert Pipeline(Retry(on=Throttled)).call(fn) == "ok"
    assert clock.monotonic() == 2.5
    [event] = scheduled(events)
    assert event.delay == 2.5
    assert event.hinted


def test_hints_are_capped_at_max_hint(clock: FakeClock) -> None:
    """A hint longer than `max_hint` waits only `max_hint`."""
    fn = Failing(failures=1, make=lambda: Throttled(1000))
    assert Pipeline(Retry(on=Throttled, max_hint=5)).call(fn) == "ok"
    assert clock.monotonic() == 5.0


def test_default_max_hint_is_sixty_seconds(clock: FakeClock) -> None:
    """By default hints are capped at 60 s."""
    fn = Failing(failures=1, make=lambda: Throttled(3600))
    assert Pipeline(Retry(on=Throttled)).call(fn) == "ok"
    assert clock.monotonic() == 60.0


def test_custom_hint_callable(clock: FakeClock) -> None:
    """A custom `hint=` callable receives the outcome and its answer sets the delay."""
    seen: list[BaseException | None] = []

    def hint(outcome: Outcome[Any]) -> float:
        seen.append(outcome.exception)
        return 0.75

    fn = Failing(failures=2)
    assert Pipeline(Retry(on=ConnectionError, hint=hint)).call(fn) == "ok"
    assert clock.monotonic() == 1.5
    assert seen == fn.raised


def test_hint_none_disables_hints(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """With `hint=None` a `retry_after` attribute is ignored and the backoff delay is used."""
    fn = Failing(failures=1, make=lambda: Throttled(100))
    pipeline = Pipeline(Retry(on=Throttled, hint=None, backoff=Backoff.constant(0.2)))
    assert pipeline.call(fn) == "ok"
    assert clock.monotonic() == 0.2
    assert not scheduled(events)[0].hinted


def test_hint_longer_than_the_deadline_stops_with_the_last_exception(clock: FakeClock) -> None:
    """A hint that would sleep past the deadline ends the retry at once with the last exception."""
    fn = Failing(make=lambda: Throttled(30))
    with pytest.raises(Throttled) as excinfo, stalwart.deadline(10):
        Pipeline(Retry(on=Throttled)).call(fn)
    assert fn.calls == 1
    assert excinfo.value is fn.raised[0]
    assert any("deadline" in note for note in excinfo.value.__notes__)
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_async_retry_after_attribute_sets_the_delay(clock: FakeClock) -> None:
    """In async code a `retry_after` hint sets the delay exactly too."""
    fn = AsyncFailing(failures=1, make=lambda: Throttled(2.5))
    assert await Pipeline(Retry(on=Throttled)).acall(fn) == "ok"
    assert clock.monotonic() == 2.5


# -- testing helpers -----------------------------------------------------------------------------


def test_instant_retries_makes_waits_zero(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """Inside `instant_retries()` every retry waits zero time, hints included."""
    fn = Failing(failures=2)
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(5.0)))
    with instant_retries():
        assert pipeline.call(fn) == "ok"
        assert Pipeline(Retry(on=Throttled)).call(Failing(1, lambda: Throttled(9))) == "ok"
    assert clock.monotonic() == 0.0
    assert [event.delay for event in scheduled(events)] == [0.0, 0.0, 0.0]
    # and the mode is restored afterwards
    assert (
        Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(5.0))).call(Failing(failures=1))
        == "ok"
    )
    assert clock.monotonic() == 5.0


def test_instant_retries_max_attempts_limits_attempts(clock: FakeClock) -> None:
    """`instant_retries(max_attempts=n)` also stops retries after n attempts."""
    fn = Failing()
    with instant_retries(max_attempts=2), pytest.raises(ConnectionError):
        Pipeline(Retry(on=ConnectionError, max_attempts=5)).call(fn)
    assert fn.calls == 2


# -- the pure plan -----------------------------------------------------------------------------


def plan(retry: Retry, **overrides: Any) -> Wait | Stop:
    arguments: dict[str, Any] = {
        "attempt": 1,
        "verdict": Verdict.TRANSIENT,
        "outcome": Outcome.of_exception(ConnectionError("down")),
        "previous_delay": retry.backoff.base,
        "remaining": math.inf,
        "sample": 0.5,
    }
    arguments.update(overrides)
    return retry.plan(**arguments)


@pytest.mark.parametrize(
    "verdict", [Verdict.FATAL, Verdict.CANCELLED, Verdict.SUCCESS], ids=lambda v: v.name
)
def test_plan_stops_without_reason_on_non_retryable_verdicts(verdict: Verdict) -> None:
    """`plan` answers Stop(None) for a verdict that is not retryable."""
    assert plan(Retry(on=ConnectionError), verdict=verdict) == Stop(None)


@pytest.mark.parametrize("verdict", [Verdict.TRANSIENT, Verdict.THROTTLED, Verdict.TIMEOUT])
def test_plan_waits_on_retryable_verdicts(verdict: Verdict) -> None:
    """`plan` answers Wait for TRANSIENT, THROTTLED and TIMEOUT while attempts remain."""
    assert isinstance(plan(Retry(on=ConnectionError), verdict=verdict), Wait)


def test_plan_stops_with_a_reason_at_max_attempts() -> None:
    """`plan` answers Stop with a reason once `attempt` reaches `max_attempts`."""
    step = plan(Retry(on=ConnectionError, max_attempts=3), attempt=3)
    assert isinstance(step, Stop)
    assert step.reason is not None
    assert "max_attempts=3" in step.reason
    assert isinstance(plan(Retry(on=ConnectionError, max_attempts=3), attempt=2), Wait)


def test_plan_stops_when_the_delay_reaches_the_remaining_time() -> None:
    """`plan` answers Stop when the delay is at or beyond the remaining time, and Wait just below
    it."""
    retry = Retry(on=ConnectionError, backoff=Backoff.constant(1.0))
    for remaining in (1.0, 0.5, 0.0):
        step = plan(retry, remaining=remaining)
        assert isinstance(step, Stop)
        assert step.reason is not None
        assert "deadline" in step.reason
    assert plan(retry, remaining=1.001) == Wait(1.0, False)


@pytest.mark.parametrize(("sample", "expected"), [(0.0, 0.0), (0.999, 0.1998)])
def test_plan_waits_with_the_backoff_delay(sample: float, expected: float) -> None:
    """`plan` answers Wait with the backoff's delay for the given sample (full jitter of 0.2 s on
    retry 2)."""
    step = plan(Retry(on=ConnectionError), attempt=2, sample=sample)
    assert isinstance(step, Wait)
    assert step.delay == pytest.approx(expected)
    assert step.delay == pytest.approx(Backoff.exponential().delay(2, 0.1, sample))
    assert not step.hinted


def test_plan_uses_and_caps_hints() -> None:
    """`plan` takes a hint from the outcome as the delay, marks it hinted and caps it at
    `max_hint`."""
    retry = Retry(on=Throttled, max_hint=5)
    assert plan(retry, outcome=Outcome.of_exception(Throttled(2))) == Wait(2.0, True)
    assert plan(retry, outcome=Outcome.of_exception(Throttled(50))) == Wait(5.0, True)


def test_plan_is_pure() -> None:
    """`plan` gives the same answer for the same arguments, with no clock or randomness of its
    own."""
    retry = Retry(on=ConnectionError)
    assert plan(retry, sample=0.3) == plan(retry, sample=0.3)


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "parameter"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"max_attempts": -1}, ValueError, "max_attempts"),
        ({"max_attempts": 1.5}, TypeError, "max_attempts"),
        ({"max_attempts": True}, TypeError, "max_attempts"),
        ({"backoff": "x"}, TypeError, "backoff"),
        ({"max_hint": -1}, ValueError, "max_hint"),
        ({"max_hint": math.nan}, ValueError, "max_hint"),
        ({"max_hint": math.inf}, ValueError, "max_hint"),
        ({"max_hint": "5"}, TypeError, "max_hint"),
        ({"hint": 5}, TypeError, "hint"),
        ({"name": ""}, ValueError, "name"),
        ({"name": None}, ValueError, "name"),
        ({"on": 42}, TypeError, "on"),
        ({"on": (ValueError, 3)}, TypeError, "on"),
        ({"on": "ValueError"}, TypeError, "on"),
    ],
)
def test_bad_options_name_the_parameter(
    options: dict[str, Any], error: type[Exception], parameter: str
) -> None:
    """Invalid options raise TypeError or ValueError with a message naming the parameter."""
    with pytest.raises(error, match=rf"^{parameter} must"):
        Retry(**{"on": ConnectionError, **options})


def test_bad_classify_names_the_parameter() -> None:
    """A non-callable `classify=` raises TypeError naming it."""
    with pytest.raises(TypeError, match=r"^classify must"):
        Retry(classify=42)  # type: ignore[arg-type]


def test_repr_shows_only_non_default_options() -> None:
    """The repr is `Retry(on=...)` plus the options that differ from their defaults."""
    assert repr(Retry(on=ConnectionError)) == "Retry(on=ConnectionError)"
    assert repr(Retry(on=(ConnectionError, TimeoutError))) == (
        "Retry(on=(ConnectionError, TimeoutError))"
    )
    assert (
        repr(Retry(on=ConnectionError, max_attempts=5, backoff=Backoff.constant(1.0)))
        == "Retry(on=ConnectionError, max_attempts=5, backoff=Backoff.constant(1.0))"
    )
    assert repr(Retry(on=ConnectionError, max_hint=5.0, name="db")) == (
        "Retry(on=ConnectionError, max_hint=5.0, name='db')"
    )
    assert repr(Retry(on=ConnectionError, hint=None)) == "Retry(on=ConnectionError, hint=None)"


def test_replace_revalidates() -> None:
    """`replace()` returns a changed copy and validates it again."""
    retry = Retry(on=ConnectionError)
    changed = retry.replace(max_attempts=5)
    assert changed.max_attempts == 5
    assert retry.max_attempts == 3
    assert changed.on is ConnectionError
    with pytest.raises(ValueError, match="max_attempts"):
        retry.replace(max_attempts=0)
    with pytest.raises(TypeError, match="not both"):
        retry.replace(classify=results_classifier)


def test_replace_rebuilds_the_classifier(clock: FakeClock) -> None:
    """A copy made by `replace(on=...)` retries what its new `on=` names."""
    retry = Retry(on=ConnectionError).replace(on=ValueError)
    fn = Failing(make=lambda: ValueError("v"))
    with pytest.raises(ValueError):
        Pipeline(retry).call(fn)
    assert fn.calls == 3


def test_retry_is_frozen_and_compares_by_value() -> None:
    """Retry options are immutable and equal when their options are equal."""
    retry = Retry(on=ConnectionError)
    with pytest.raises(AttributeError):
        retry.max_attempts = 5  # type: ignore[misc]
    assert retry == Retry(on=ConnectionError)
    assert hash(retry) == hash(Retry(on=ConnectionError))
    assert retry != Retry(on=ConnectionError, max_attempts=4)


# -- outcomes marked unsafe to repeat ------------------------------------------------------


def test_an_outcome_marked_unsafe_is_never_retried(clock: FakeClock) -> None:
    from stalwart._outcome import forbid_retry

    calls = 0

    def charge() -> None:
        nonlocal calls
        calls += 1
        error = ConnectionError("reset after the request was sent")
        forbid_retry(error, "the payment may have gone through")
        raise error

    retry = stalwart.Pipeline(stalwart.Retry(on=ConnectionError))
    with pytest.raises(ConnectionError) as caught:
        retry.call(charge)
    assert calls == 1
    assert caught.value.__notes__ == [
        "stalwart: retry did not retry attempt 1: the payment may have gone through"
    ]


@pytest.mark.anyio
async def test_an_attempt_timeout_whose_attempt_was_marked_unsafe_is_not_retried(
    clock: FakeClock,
) -> None:
    """The deadline interrupts the attempt with a cancellation; the attempt marks that
    cancellation, and the retry finds the mark on the DeadlineExceeded that replaced it."""
    from stalwart._outcome import forbid_retry

    calls = 0

    async def charge() -> None:
        nonlocal calls
        calls += 1
        try:
            await stalwart.asleep(60)
        except BaseException as exc:
            forbid_retry(exc, "sent")
            raise

    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError), stalwart.Timeout(per_attempt=1.0)
    )
    with pytest.raises(stalwart.DeadlineExceeded) as caught:
        await pipeline.acall(charge)
    assert calls == 1
    assert "stalwart: retry did not retry attempt 1: sent" in caught.value.__notes__
