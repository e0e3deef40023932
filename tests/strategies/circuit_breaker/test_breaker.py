"""`CircuitBreaker` in a `Pipeline`: opening, rejecting, probing, closing, classification,
cancellation, slow calls, metrics-only, manual control, statistics and events; sync and async."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import Outcome, Pipeline, Rejected, Verdict
from stalwart._exceptions import CircuitOpen
from stalwart._strategies.circuit_breaker import (
    CircuitBreaker,
    CircuitClosed,
    CircuitHalfOpened,
    CircuitIsolated,
    CircuitOpened,
    CircuitRejected,
    CircuitState,
    CircuitStatistics,
)
from stalwart.testing import FakeClock

from .support import afail, asucceed, fail, names, of_type, run, succeed, trip

try:  # newer anyio releases keep it in anyio.testing
    from anyio.testing import wait_all_tasks_blocked  # type: ignore[import-not-found]
except ImportError:
    from anyio import wait_all_tasks_blocked

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN
ISOLATED = CircuitState.ISOLATED


class Upstream:
    """A sync upstream that fails while `down` is True and counts the calls it receives."""

    def __init__(self, *, down: bool = True) -> None:
        self.down = down
        self.calls = 0

    def __call__(self, *args: object) -> str:
        self.calls += 1
        if self.down:
            raise ConnectionError("down")
        return "ok"


# -- opening and rejecting ------------------------------------------------------------------


def test_opens_at_min_calls_and_stops_calling_the_upstream(clock: FakeClock) -> None:
    """After min_calls failures the circuit opens and further calls never reach the upstream."""
    breaker = CircuitBreaker(min_calls=4)
    upstream = Upstream()
    results = [run(breaker, upstream) for _ in range(10)]
    assert [type(r) for r in results[:4]] == [ConnectionError] * 4
    assert all(isinstance(r, CircuitOpen) for r in results[4:])
    assert upstream.calls == 4
    assert breaker.state() is OPEN


def test_default_min_calls_is_twenty(clock: FakeClock) -> None:
    """With the defaults, 19 failures keep the circuit closed and the 20th opens it."""
    breaker = CircuitBreaker()
    for _ in range(19):
        assert isinstance(run(breaker, fail), ConnectionError)
    assert breaker.state() is CLOSED
    assert isinstance(run(breaker, fail), ConnectionError)
    assert breaker.state() is OPEN


def test_circuit_open_carries_retry_after_and_key(clock: FakeClock) -> None:
    """CircuitOpen is a Rejected whose retry_after is the time left in the break, key None."""
    breaker = CircuitBreaker(min_calls=2, break_for=5.0)
    trip(breaker)
    clock.advance(1.5)
    error = run(breaker, succeed)
    assert isinstance(error, CircuitOpen)
    assert isinstance(error, Rejected)
    assert error.retry_after == pytest.approx(3.5)
    assert error.key is None
    assert "circuit_breaker" in str(error)
    assert "3.500 s" in str(error)


def test_rejected_calls_emit_circuit_rejected(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Each refused call emits one DEBUG CircuitRejected with the state and retry_after."""
    breaker = CircuitBreaker(min_calls=2, name="api")
    trip(breaker)
    run(breaker, succeed)
    rejected = of_type(events, CircuitRejected)
    assert len(rejected) == 2  # the one inside trip() and this one
    event = rejected[-1]
    assert (event.strategy, event.key, event.state, event.enforced) == ("api", None, OPEN, True)
    assert event.retry_after == pytest.approx(5.0)
    assert event.level == logging.DEBUG
    assert "rejected a call" in event.message()


def test_opened_event_carries_the_cause(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """CircuitOpened says why, for how long, which opening, and the exception that tripped it."""
    breaker = CircuitBreaker(min_calls=2, name="api")
    raised: list[BaseException] = []

    def failing() -> None:
        error = ConnectionError("reset")
        raised.append(error)
        raise error

    run(breaker, failing)
    run(breaker, failing)
    [event] = of_type(events, CircuitOpened)
    assert event.strategy == "api"
    assert event.key is None
    assert event.previous is CLOSED
    assert event.break_for == 5.0
    assert event.openings == 1
    assert event.exception is raised[-1]
    assert "failure ratio 1.00" in event.reason
    assert event.level == logging.WARNING
    assert "opened for 5 s" in event.message()


# -- half-open and closing ------------------------------------------------------------------


def test_full_cycle_closed_open_half_open_closed(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """After the break the next call is the probe; its success closes the circuit."""
    breaker = CircuitBreaker(min_calls=2, break_for=5.0)
    trip(breaker)
    clock.advance(4.9)
    assert isinstance(run(breaker, succeed), CircuitOpen)
    clock.advance(0.1)
    assert breaker.state() is OPEN  # lazy: nothing happens until a call arrives
    assert run(breaker, succeed) == "ok"
    assert breaker.state() is CLOSED
    assert names(events) == ["circuit_opened", "circuit_half_opened", "circuit_closed"]
    half, closed = of_type(events, CircuitHalfOpened)[0], of_type(events, CircuitClosed)[0]
    assert half.probes == 1
    assert half.level == logging.INFO
    assert closed.previous is HALF_OPEN
    assert closed.level == logging.INFO
    assert "1 probe(s) succeeded" in closed.reason


def test_failed_probe_reopens_for_twice_as_long(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A failed probe re-opens the circuit for 10 s, then 20 s, up to 60 s."""
    breaker = CircuitBreaker(min_calls=2)
    trip(breaker)
    breaks = []
    for _ in range(5):
        clock.advance(breaker.statistics().retry_after or 0.0)
        assert isinstance(run(breaker, fail), ConnectionError)  # the probe
        breaks.append(breaker.statistics().break_for)
    assert breaks == [10.0, 20.0, 40.0, 60.0, 60.0]
    assert [e.openings for e in of_type(events, CircuitOpened)] == [1, 2, 3, 4, 5, 6]
    assert of_type(events, CircuitOpened)[1].previous is HALF_OPEN


def test_probes_option_needs_every_probe_to_succeed(clock: FakeClock) -> None:
    """With probes=2 the first successful probe leaves the circuit half-open; the second closes."""
    breaker = CircuitBreaker(min_calls=2, probes=2)
    trip(breaker)
    clock.advance(5.0)
    assert run(breaker, succeed) == "ok"
    assert breaker.state() is HALF_OPEN
    assert run(breaker, succeed) == "ok"
    assert breaker.state() is CLOSED


@pytest.mark.anyio
async def test_half_open_rejects_while_the_probe_is_in_flight(clock: FakeClock) -> None:
    """While the single probe runs, other calls get CircuitOpen with the probe timeout left."""
    breaker = CircuitBreaker(min_calls=2, probe_timeout=10.0)
    pipeline = Pipeline(breaker)
    trip(breaker)
    clock.advance(5.0)
    release = anyio.Event()
    results: list[object] = []

    async def slow_probe() -> str:
        await release.wait()
        return "probe ok"

    async def probe() -> None:
        results.append(await pipeline.acall(slow_probe))

    async with anyio.create_task_group() as group:
        group.start_soon(probe)
        await wait_all_tasks_blocked()
        clock.advance(3.0)
        with pytest.raises(CircuitOpen) as excinfo:
            await pipeline.acall(asucceed)
        assert excinfo.value.retry_after == pytest.approx(7.0)
        assert "half-open" in str(excinfo.value)
        statistics = breaker.statistics()
        assert (statistics.state, statistics.probes_in_flight) == (HALF_OPEN, 1)
        release.set()
    assert results == ["probe ok"]
    assert breaker.state() is CLOSED


@pytest.mark.anyio
async def test_a_probe_that_hangs_reopens_after_probe_timeout(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A probe that never reports counts as failed once probe_timeout passes; its late success
    is ignored."""
    breaker = CircuitBreaker(min_calls=2, probe_timeout=10.0)
    pipeline = Pipeline(breaker)
    trip(breaker)
    clock.advance(5.0)
    release = anyio.Event()

    async def hung() -> str:
        await release.wait()
        return "late"

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, hung)
        await wait_all_tasks_blocked()
        clock.advance(10.0)
        with pytest.raises(CircuitOpen) as excinfo:
            await pipeline.acall(asucceed)
        assert excinfo.value.retry_after == pytest.approx(10.0)
        release.set()
    opened = of_type(events, CircuitOpened)
    assert len(opened) == 2
    assert "probe_timeout=10" in opened[-1].reason
    assert opened[-1].exception is None
    assert breaker.state() is OPEN  # the late success did not close it


@pytest.mark.anyio
async def test_an_overdue_probe_noticed_by_a_late_failure_blames_no_exception(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """When a late failure's report is what notices an overdue probe, the re-opening carries no
    exception: that failure did not cause it."""
    breaker = CircuitBreaker(min_calls=2, probe_timeout=10.0)
    pipeline = Pipeline(breaker)
    release_late, release_probe = anyio.Event(), anyio.Event()

    async def late() -> None:
        await release_late.wait()
        raise ConnectionError("late")

    async def hung() -> None:
        await release_probe.wait()

    async def quietly(fn: Any) -> None:
        with pytest.raises((ConnectionError, CircuitOpen)):
            await pipeline.acall(fn)

    async with anyio.create_task_group() as group:
        group.start_soon(quietly, late)  # admitted while closed
        await wait_all_tasks_blocked()
        trip(breaker)
        clock.advance(5.0)
        group.start_soon(pipeline.acall, hung)  # the probe
        await wait_all_tasks_blocked()
        clock.advance(10.0)
        release_late.set()  # its report finds the probe overdue
        await wait_all_tasks_blocked()
        opened = of_type(events, CircuitOpened)
        assert len(opened) == 2
        assert "probe_timeout" in opened[-1].reason
        assert opened[-1].exception is None
        release_probe.set()


# -- what counts ---------------------------------------------------------------------------


def test_exceptions_not_matched_by_on_count_as_successes(clock: FakeClock) -> None:
    """With on=ConnectionError, a ValueError (FATAL: the upstream answered) is a success."""
    breaker = CircuitBreaker(on=ConnectionError, min_calls=2)

    def bad_request() -> None:
        raise ValueError("404")

    for _ in range(5):
        assert isinstance(run(breaker, bad_request), ValueError)
    statistics = breaker.statistics()
    assert (statistics.state, statistics.calls, statistics.failures) == (CLOSED, 5, 0)
    trip(breaker)
    assert breaker.state() is OPEN


def test_classify_can_fail_results(clock: FakeClock) -> None:
    """With classify=, results can be failures: TRANSIENT, THROTTLED and TIMEOUT count, FATAL does
    not."""

    def by_status(outcome: Outcome[Any]) -> Verdict:
        return {
            503: Verdict.TRANSIENT,
            429: Verdict.THROTTLED,
            504: Verdict.TIMEOUT,
            404: Verdict.FATAL,
        }.get(outcome.result or 0, Verdict.SUCCESS)

    breaker = CircuitBreaker(classify=by_status, min_calls=100, window_calls=100)
    for status in (503, 429, 504, 404, 200):
        assert run(breaker, lambda s=status: s) == status
    statistics = breaker.statistics()
    assert (statistics.calls, statistics.failures) == (5, 3)
    assert statistics.failure_ratio == pytest.approx(0.6)


def test_on_predicate(clock: FakeClock) -> None:
    """`on=` also takes a predicate over the exception."""
    breaker = CircuitBreaker(on=lambda exc: "unavailable" in str(exc), min_calls=1)

    def raising(message: str) -> None:
        raise RuntimeError(message)

    run(breaker, raising, "bad input")
    assert breaker.state() is CLOSED
    run(breaker, raising, "service unavailable")
    assert breaker.state() is OPEN


@pytest.mark.parametrize(
    "error",
    [stalwart.Cancelled("scope cancelled"), KeyboardInterrupt()],
    ids=["stalwart.Cancelled", "KeyboardInterrupt"],
)
def test_cancellation_is_never_counted(clock: FakeClock, error: BaseException) -> None:
    """A cancelled call is neither a success nor a failure, whatever the classifier says."""
    breaker = CircuitBreaker(min_calls=1, classify=lambda outcome: Verdict.TRANSIENT)

    def cancelled() -> None:
        raise error

    with pytest.raises(type(error)):
        Pipeline(breaker).call(cancelled)
    statistics = breaker.statistics()
    assert (statistics.state, statistics.calls) == (CLOSED, 0)


def test_cancelled_probe_frees_its_slot(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """A cancelled probe neither closes nor opens the circuit; the next call probes again."""
    breaker = CircuitBreaker(min_calls=2)
    trip(breaker)
    clock.advance(5.0)

    def cancelled() -> None:
        raise stalwart.Cancelled("caller gave up")

    with pytest.raises(stalwart.Cancelled):
        Pipeline(breaker).call(cancelled)
    assert breaker.state() is HALF_OPEN
    assert breaker.statistics().probes_in_flight == 0
    assert run(breaker, succeed) == "ok"
    assert names(events) == ["circuit_opened", "circuit_half_opened", "circuit_closed"]


@pytest.mark.anyio
async def test_async_cancelled_probe_frees_its_slot(clock: FakeClock) -> None:
    """A probe task cancelled by its task group releases its slot without deciding anything."""
    breaker = CircuitBreaker(min_calls=2)
    pipeline = Pipeline(breaker)
    trip(breaker)
    clock.advance(5.0)

    async def forever() -> None:
        await anyio.Event().wait()

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, forever)
        await wait_all_tasks_blocked()
        assert breaker.statistics().probes_in_flight == 1
        group.cancel_scope.cancel()
    statistics = breaker.statistics()
    assert (statistics.state, statistics.probes_in_flight) == (HALF_OPEN, 0)
    assert await pipeline.acall(asucceed) == "ok"
    assert breaker.state() is CLOSED


def test_rejections_from_inner_strategies_are_not_counted(clock: FakeClock) -> None:
    """A Rejected raised inside the breaker (the upstream was never called) counts for nothing."""
    inner = CircuitBreaker(name="inner")
    inner.isolate()
    outer = CircuitBreaker(min_calls=1, name="outer")
    with pytest.raises(CircuitOpen):
        Pipeline(outer, inner).call(succeed)
    assert outer.statistics().calls == 0
    assert outer.state() is CLOSED


def test_a_sync_call_of_an_async_function_is_not_counted(clock: FakeClock) -> None:
    """Running an async function with `call` is a bug in the caller, not an upstream failure."""
    breaker = CircuitBreaker(min_calls=1)
    with pytest.raises(TypeError):
        Pipeline(breaker).call(asucceed)  # type: ignore[unused-coroutine]
    assert breaker.statistics().calls == 0


# -- slow calls -------------------------------------------------------------------------------


def test_slow_calls_open_the_circuit(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """Successful calls slower than slow_call_duration, timed on the clock, trip the circuit."""
    breaker = CircuitBreaker(min_calls=3, slow_call_duration=2.0)

    def slow() -> str:
        clock.advance(2.5)
        return "late but fine"

    for _ in range(3):
        assert run(breaker, slow) == "late but fine"
    assert breaker.state() is OPEN
    statistics = breaker.statistics()
    assert (statistics.calls, statistics.failures, statistics.slow_calls) == (3, 0, 3)
    assert statistics.slow_call_ratio == 1.0
    assert "slow-call ratio" in of_type(events, CircuitOpened)[0].reason


def test_slow_call_ratio_below_one(clock: FakeClock) -> None:
    """With slow_call_ratio=0.5, half the calls being slow is enough."""
    breaker = CircuitBreaker(min_calls=4, slow_call_duration=1.0, slow_call_ratio=0.5)

    def call(seconds: float) -> None:
        clock.advance(seconds)

    for seconds in (0.1, 3.0, 0.1):
        run(breaker, call, seconds)
    assert breaker.state() is CLOSED
    run(breaker, call, 3.0)
    assert breaker.state() is OPEN


def test_slow_failures_count_as_slow_too(clock: FakeClock) -> None:
    """A failing call slower than slow_call_duration counts both as failed and as slow."""
    breaker = CircuitBreaker(min_calls=10, slow_call_duration=1.0)

    def slow_failure() -> None:
        clock.advance(2.0)
        raise ConnectionError("timed out eventually")

    run(breaker, slow_failure)
    statistics = breaker.statistics()
    assert (statistics.calls, statistics.failures, statistics.slow_calls) == (1, 1, 1)


@pytest.mark.anyio
async def test_async_slow_calls_are_timed_on_the_clock(clock: FakeClock) -> None:
    """An async call that sleeps past slow_call_duration on the fake clock counts as slow."""
    breaker = CircuitBreaker(min_calls=1, slow_call_duration=1.0)

    async def sleepy() -> str:
        await stalwart.asleep(1.5)
        return "ok"

    assert await Pipeline(breaker).acall(sleepy) == "ok"
    assert breaker.statistics().slow_calls == 1
    assert breaker.state() is OPEN


# -- metrics-only --------------------------------------------------------------------------


def test_metrics_only_never_rejects_but_transitions(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """metrics_only=True opens (and emits) like a real breaker, yet every call reaches the
    upstream."""
    breaker = CircuitBreaker(min_calls=2, metrics_only=True)
    upstream = Upstream()
    for _ in range(6):
        assert isinstance(run(breaker, upstream), ConnectionError)
    assert upstream.calls == 6
    assert breaker.state() is OPEN
    assert breaker.statistics().failures == 6  # the calls it let through are still counted
    rejected = of_type(events, CircuitRejected)
    assert len(rejected) == 4
    assert not any(event.enforced for event in rejected)
    assert "would have rejected" in rejected[0].message()
    clock.advance(5.0)
    upstream.down = False
    assert run(breaker, upstream) == "ok"
    assert breaker.state() is CLOSED
    assert names(events) == ["circuit_opened", "circuit_half_opened", "circuit_closed"]


def test_metrics_only_lets_calls_through_while_isolated(clock: FakeClock) -> None:
    """Even isolated, a metrics-only breaker runs the call."""
    breaker = CircuitBreaker(metrics_only=True)
    breaker.isolate()
    assert run(breaker, succeed) == "ok"


# -- manual control ------------------------------------------------------------------------


def test_isolate_holds_open_until_reset(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """isolate() rejects every call with retry_after None, however long; reset() closes it."""
    breaker = CircuitBreaker()
    upstream = Upstream(down=False)
    breaker.isolate()
    clock.advance(3600.0)
    error = run(breaker, upstream)
    assert isinstance(error, CircuitOpen)
    assert error.retry_after is None
    assert "reset()" in str(error)
    assert upstream.calls == 0
    assert breaker.state() is ISOLATED
    assert breaker.statistics().retry_after is None
    breaker.reset()
    assert run(breaker, upstream) == "ok"
    [isolated] = of_type(events, CircuitIsolated)
    assert (isolated.previous, isolated.level) == (CLOSED, logging.WARNING)
    [closed] = of_type(events, CircuitClosed)
    assert closed.previous is ISOLATED
    assert "reset" in closed.reason


def test_reset_clears_counts_and_growth(clock: FakeClock) -> None:
    """reset() of an open circuit closes it, empties the window and restarts the break at 5 s."""
    breaker = CircuitBreaker(min_calls=2)
    trip(breaker)
    clock.advance(5.0)
    run(breaker, fail)  # failed probe: 10 s
    breaker.reset()
    statistics = breaker.statistics()
    assert (statistics.state, statistics.calls, statistics.consecutive_openings) == (CLOSED, 0, 0)
    trip(breaker)
    assert breaker.statistics().break_for == 5.0


def test_reset_of_a_closed_circuit_emits_nothing(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """reset() on a closed circuit clears its counts without a transition event."""
    breaker = CircuitBreaker()
    run(breaker, fail)
    breaker.reset()
    assert breaker.statistics().calls == 0
    assert names(events) == []


# -- statistics ------------------------------------------------------------------------------


def test_statistics_snapshot(clock: FakeClock) -> None:
    """statistics() is a frozen snapshot of counts, ratios, openings and timing."""
    breaker = CircuitBreaker(min_calls=4)
    clock.advance(100.0)
    run(breaker, succeed)
    run(breaker, fail)
    statistics = breaker.statistics()
    assert statistics == CircuitStatistics(
        key=None,
        state=CLOSED,
        calls=2,
        failures=1,
        slow_calls=0,
        failure_ratio=0.5,
        slow_call_ratio=0.0,
        consecutive_openings=0,
        break_for=None,
        opened_at=None,
        retry_after=0.0,
        probes_in_flight=0,
    )
    run(breaker, fail)
    run(breaker, fail)
    clock.advance(2.0)
    statistics = breaker.statistics()
    assert (statistics.state, statistics.opened_at, statistics.retry_after) == (OPEN, 100.0, 3.0)
    assert (statistics.consecutive_openings, statistics.break_for) == (1, 5.0)
    with pytest.raises(AttributeError):
        statistics.calls = 0  # type: ignore[misc]


def test_time_window_forgets_old_calls(clock: FakeClock) -> None:
    """Calls older than the 30 s window (in 3 s buckets) no longer count."""
    breaker = CircuitBreaker(min_calls=3)
    run(breaker, fail)
    run(breaker, fail)
    clock.advance(30.0)
    run(breaker, fail)
    statistics = breaker.statistics()
    assert (statistics.state, statistics.calls) == (CLOSED, 1)


def test_count_window_keeps_the_last_calls(clock: FakeClock) -> None:
    """window_calls=N counts the last N calls however old they are."""
    breaker = CircuitBreaker(min_calls=3, window_calls=3)
    run(breaker, fail)
    clock.advance(1e6)
    run(breaker, fail)
    run(breaker, fail)
    assert breaker.state() is OPEN


# -- sharing and async ----------------------------------------------------------------------


def test_state_is_shared_by_every_pipeline_holding_the_breaker(clock: FakeClock) -> None:
    """One breaker in two pipelines is one circuit: tripping it through one opens the other."""
    breaker = CircuitBreaker(min_calls=2)
    first = Pipeline(stalwart.Retry(on=ValueError), breaker)
    second = Pipeline(breaker)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            first.call(fail)
    with pytest.raises(CircuitOpen):
        second.call(succeed)


@pytest.mark.anyio
async def test_async_cycle(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """acall opens, rejects, probes and closes exactly like call."""
    breaker = CircuitBreaker(min_calls=3)
    pipeline = Pipeline(breaker)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await pipeline.acall(afail)
    with pytest.raises(CircuitOpen) as excinfo:
        await pipeline.acall(asucceed)
    assert excinfo.value.retry_after == pytest.approx(5.0)
    await stalwart.asleep(5.0)
    assert await pipeline.acall(asucceed) == "ok"
    assert names(events) == ["circuit_opened", "circuit_half_opened", "circuit_closed"]


@pytest.mark.anyio
async def test_async_classify_can_fail_results(clock: FakeClock) -> None:
    """acall classifies results too when `classify=` is given."""

    def by_value(outcome: Outcome[Any]) -> Verdict:
        return Verdict.TRANSIENT if outcome.result == "busy" else Verdict.SUCCESS

    breaker = CircuitBreaker(classify=by_value, min_calls=1)

    async def busy() -> str:
        await anyio.lowlevel.checkpoint()
        return "busy"

    assert await Pipeline(breaker).acall(busy) == "busy"
    assert breaker.state() is OPEN


@pytest.mark.anyio
async def test_statistics_notice_an_overdue_probe(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Asking for statistics applies a probe timeout that fell due, and emits the re-opening."""
    breaker = CircuitBreaker(min_calls=2, probe_timeout=3.0)
    trip(breaker)
    clock.advance(5.0)
    release = anyio.Event()

    async def hung() -> None:
        await release.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(Pipeline(breaker).acall, hung)
        await wait_all_tasks_blocked()
        clock.advance(3.0)
        statistics = breaker.statistics()
        assert (statistics.state, statistics.probes_in_flight) == (OPEN, 0)
        assert statistics.consecutive_openings == 2
        assert len(of_type(events, CircuitOpened)) == 2
        release.set()


def test_reprs_and_messages_are_readable(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """States, statistics and event messages read well in logs and debuggers."""
    breaker = CircuitBreaker(key=str, min_calls=1, name="payments")
    assert repr(CircuitState.HALF_OPEN) == "CircuitState.HALF_OPEN"
    trip(breaker, "h")
    clock.advance(5.0)
    run(breaker, succeed, "h")
    breaker.isolate("h")
    messages = [event.message() for event in events]
    assert messages == [
        "payments ['h']: circuit opened for 5 s (opening 1): failure ratio 1.00 ≥ 0.5 "
        "(1 of 1 calls)",
        "payments ['h']: circuit open, rejected a call; retry after 5.000 s",
        "payments ['h']: circuit half-open, admitting 1 probe(s)",
        "payments ['h']: circuit closed: 1 probe(s) succeeded",
        "payments ['h']: circuit isolated until reset()",
    ]
    state = breaker._partitions.peek("h")
    assert repr(state).startswith("<BreakerState isolated key='h' <TimeWindow 30 s")
    assert repr(breaker._partitions) == "<Partitions 1/1024>"
