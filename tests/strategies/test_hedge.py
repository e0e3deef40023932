"""`Hedge` in a `Pipeline`: delays, winners and losers, failures, budget, deadline, cancellation."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Hashable, Mapping
from typing import Any

import anyio
import pytest

import stalwart
import stalwart._strategies.hedge as hedge_module
from stalwart import Cancelled, DeadlineExceeded, Outcome, Pipeline, Timeout, Verdict
from stalwart._clock import current_clock
from stalwart._strategies._base import WrongKind
from stalwart._strategies.hedge import (
    Hedge,
    HedgeBudget,
    HedgeBudgetExhausted,
    HedgeStarted,
    HedgeWon,
    LatencyPercentile,
    _Latencies,
    _Race,
)
from stalwart.testing import FakeClock

# -- helpers --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def workers_leave_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pool workers exit as soon as they are idle, so tests can count and join them."""
    monkeypatch.setattr(hedge_module, "WORKER_IDLE_TIMEOUT", 0.0)


def started(events: list[stalwart.Event]) -> list[HedgeStarted]:
    return [event for event in events if isinstance(event, HedgeStarted)]


def won(events: list[stalwart.Event]) -> list[HedgeWon]:
    return [event for event in events if isinstance(event, HedgeWon)]


def refused(events: list[stalwart.Event]) -> list[HedgeBudgetExhausted]:
    return [event for event in events if isinstance(event, HedgeBudgetExhausted)]


class Script:
    """A callable whose n-th call (1-based, counted across threads) waits `plan[n-1][0]`
    seconds on the stalwart clock, then returns `plan[n-1][1]`, or raises it when it is an
    exception class; calls past the plan repeat its last step.

    The async form sleeps on the clock itself rather than `stalwart.asleep`, which would
    clip the sleep to the deadline and so end it together with other sleepers there.
    """

    def __init__(self, *plan: tuple[float, object]) -> None:
        self.plan = plan
        self.starts: list[float] = []
        self.interrupted: list[int] = []  # attempts whose wait ended with an exception
        self.raised: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.starts)

    def _begin(self) -> tuple[int, float, object]:
        with self._lock:
            self.starts.append(current_clock().monotonic())
            self.threads.append(threading.current_thread())
            number = len(self.starts)
        seconds, then = self.plan[min(number, len(self.plan)) - 1]
        return number, seconds, then

    def _end(self, number: int, then: object) -> object:
        if isinstance(then, type) and issubclass(then, BaseException):
            error = then(f"attempt {number}")
            self.raised.append(error)
            raise error
        return then

    async def __call__(self, *args: object, **kwargs: object) -> object:
        number, seconds, then = self._begin()
        try:
            await current_clock().asleep(seconds)
        except BaseException:
            self.interrupted.append(number)
            raise
        return self._end(number, then)

    def sync(self, *args: object, **kwargs: object) -> object:
        number, seconds, then = self._begin()
        try:
            stalwart.sleep(seconds)
        except BaseException:
            self.interrupted.append(number)
            raise
        return self._end(number, then)


class FakeBudget:
    """A retry budget with `tokens` withdrawals to give, recording every use by key."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.deposits: list[Hashable] = []
        self.withdrawals: list[Hashable] = []
        self.refusals: list[Hashable] = []

    def key_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
        return kwargs.get("host")

    def deposit(self, key: Hashable) -> None:
        self.deposits.append(key)

    def try_withdraw(self, key: Hashable) -> bool:
        if self.tokens > 0:
            self.tokens -= 1
            self.withdrawals.append(key)
            return True
        self.refusals.append(key)
        return False


def attempt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("stalwart-hedge-")]


def join_attempt_threads() -> None:
    for thread in attempt_threads():
        thread.join(timeout=10)
        assert not thread.is_alive()


# -- winners and losers (async) ---------------------------------------------------------


@pytest.mark.anyio
async def test_slow_first_attempt_is_beaten_by_a_hedge(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A hedge started after `delay` wins over a slow first attempt, which is cancelled and
    finished before the call returns."""
    baseline = len(anyio.get_running_tasks())
    script = Script((10.0, "slow"), (0.1, "fast"))
    result = await Pipeline(Hedge(delay=1.0)).acall(script)
    assert result == "fast"
    assert clock.monotonic() == pytest.approx(1.1)
    assert script.starts == [0.0, 1.0]
    assert script.interrupted == [1]
    assert len(anyio.get_running_tasks()) == baseline
    [hedge] = started(events)
    assert (hedge.attempt, hedge.delay, hedge.trigger) == (2, 1.0, None)
    [win] = won(events)
    assert (win.attempt, win.attempts, win.verdict) == (2, 2, Verdict.SUCCESS)


@pytest.mark.anyio
async def test_fast_first_attempt_starts_no_hedge(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """An attempt that answers before `delay` is the only one, and no timer task is left behind."""
    baseline = len(anyio.get_running_tasks())
    script = Script((0.5, "ok"))
    assert await Pipeline(Hedge(delay=1.0)).acall(script) == "ok"
    assert clock.monotonic() == 0.5
    assert script.calls == 1
    assert started(events) == []
    assert won(events) == []
    assert len(anyio.get_running_tasks()) == baseline


@pytest.mark.anyio
async def test_retryable_failure_starts_the_next_hedge_at_once(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A retryable failure starts the next attempt at once instead of waiting for `delay`."""
    script = Script((0.2, ConnectionError), (0.3, "ok"))
    assert await Pipeline(Hedge(delay=5.0, on=ConnectionError)).acall(script) == "ok"
    assert script.starts == [0.0, 0.2]
    assert clock.monotonic() == pytest.approx(0.5)
    [hedge] = started(events)
    assert (hedge.attempt, hedge.delay, hedge.trigger) == (2, 0.2, Verdict.TRANSIENT)


@pytest.mark.anyio
async def test_hedges_resume_at_the_delay_after_a_failure_started_one(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """After a failure starts a hedge at once, the next one waits `delay` from that start."""
    script = Script((10.0, "first"), (0.2, ConnectionError), (10.0, "third"), (10.0, "fourth"))
    hedge = Hedge(delay=1.0, max_hedges=3, on=ConnectionError)
    assert await Pipeline(hedge).acall(script) == "first"
    assert script.starts == pytest.approx([0.0, 1.0, 1.2, 2.2])
    assert [event.trigger for event in started(events)] == [None, Verdict.TRANSIENT, None]
    assert sorted(script.interrupted) == [3, 4]


@pytest.mark.anyio
async def test_fatal_outcome_stops_hedging_and_comes_out(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A fatal failure ends the call at once: it is raised with a note and no hedge starts after
    it."""
    script = Script((10.0, "slow"), (0.5, ValueError))
    with pytest.raises(ValueError, match="attempt 2") as excinfo:
        await Pipeline(Hedge(delay=1.0, max_hedges=3, on=ConnectionError)).acall(script)
    assert excinfo.value is script.raised[0]
    assert clock.monotonic() == 1.5
    assert script.calls == 2
    assert script.interrupted == [1]
    [note] = excinfo.value.__notes__
    assert "stopped on attempt 2 of 2" in note
    assert "fatal" in note
    assert [event.verdict for event in won(events)] == [Verdict.FATAL]


def test_fatal_first_attempt_starts_no_hedge_and_gets_no_note() -> None:
    """A first attempt that fails fatally comes out unchanged, without a hedge or a note."""
    script = Script((0.0, ValueError))
    # No autojump: a sync sleeper would otherwise jump past the hedge delay before the
    # worker thread has reported the failure.
    with FakeClock(autojump=False), pytest.raises(ValueError) as excinfo:
        Pipeline(Hedge(delay=1.0, on=ConnectionError)).call(script.sync)
    assert excinfo.value is script.raised[0]
    assert script.calls == 1
    assert not hasattr(excinfo.value, "__notes__")


@pytest.mark.anyio
async def test_when_every_attempt_fails_retryably_the_last_comes_out_with_a_note(
    clock: FakeClock,
) -> None:
    """When all attempts fail retryably, the exception of the last to fail is raised with a note."""
    script = Script((0.1, ConnectionError), (0.2, ConnectionError))
    with pytest.raises(ConnectionError) as excinfo:
        await Pipeline(Hedge(delay=1.0, on=ConnectionError)).acall(script)
    assert excinfo.value is script.raised[-1]
    assert str(excinfo.value) == "attempt 2"
    [note] = excinfo.value.__notes__
    assert "gave up after 2 attempt(s): max_hedges=1 reached" in note
    assert not hasattr(script.raised[0], "__notes__")


def test_sync_when_every_attempt_fails_retryably_the_last_comes_out() -> None:
    """In sync code too, retryable failures start hedges at once and the last one is raised."""
    script = Script((0.0, ConnectionError))
    with FakeClock(autojump=False) as clock, pytest.raises(ConnectionError) as excinfo:
        Pipeline(Hedge(delay=5.0, max_hedges=2, on=ConnectionError)).call(script.sync)
    assert script.calls == 3
    assert clock.monotonic() == 0.0
    assert excinfo.value is script.raised[-1]
    assert any("max_hedges=2 reached" in note for note in excinfo.value.__notes__)
    join_attempt_threads()


@pytest.mark.anyio
async def test_classify_makes_results_retryable(clock: FakeClock) -> None:
    """With `classify=`, a retryable result starts the next attempt, and a good one wins."""

    def classify(outcome: Outcome[Any]) -> Verdict:
        return Verdict.TRANSIENT if outcome.result == "bad" else Verdict.SUCCESS

    script = Script((0.0, "bad"), (0.0, "good"))
    assert await Pipeline(Hedge(delay=5.0, classify=classify)).acall(script) == "good"
    assert script.calls == 2
    only_bad = Script((0.0, "bad"))
    assert await Pipeline(Hedge(delay=5.0, classify=classify)).acall(only_bad) == "bad"
    assert only_bad.calls == 2


@pytest.mark.anyio
@pytest.mark.parametrize("max_hedges", [1, 3])
async def test_max_hedges_bounds_the_attempts(
    clock: FakeClock, events: list[stalwart.Event], max_hedges: int
) -> None:
    """At most `1 + max_hedges` attempts start, one every `delay`; the first to answer wins."""
    script = Script((10.0, "done"))
    assert await Pipeline(Hedge(delay=1.0, max_hedges=max_hedges)).acall(script) == "done"
    assert script.starts == [float(n) for n in range(max_hedges + 1)]
    assert clock.monotonic() == 10.0
    assert [event.attempt for event in started(events)] == list(range(2, max_hedges + 2))
    assert won(events) == []  # the first attempt won
    assert sorted(script.interrupted) == list(range(2, max_hedges + 2))


@pytest.mark.anyio
async def test_zero_delay_starts_every_attempt_at_once(clock: FakeClock) -> None:
    """`delay=0` starts all attempts together and takes the fastest."""
    script = Script((3.0, "a"), (1.0, "b"), (2.0, "c"))
    assert await Pipeline(Hedge(delay=0, max_hedges=2)).acall(script) == "b"
    assert script.starts == [0.0, 0.0, 0.0]
    assert clock.monotonic() == 1.0
    assert sorted(script.interrupted) == [1, 3]


@pytest.mark.anyio
async def test_infinite_delay_hedges_only_on_failures(clock: FakeClock) -> None:
    """`delay=math.inf` never hedges a slow attempt but still replaces a failed one."""
    pipeline = Pipeline(Hedge(delay=math.inf, on=ConnectionError))
    slow = Script((50.0, "slow"))
    assert await pipeline.acall(slow) == "slow"
    assert slow.calls == 1
    failing = Script((1.0, ConnectionError), (1.0, "ok"))
    assert await pipeline.acall(failing) == "ok"
    assert failing.calls == 2


@pytest.mark.anyio
async def test_wrong_kind_is_never_hedged(clock: FakeClock) -> None:
    """A sync function given to `acall` fails once with WrongKind, even when `on=Exception`."""
    calls: list[int] = []

    def not_async() -> int:
        calls.append(1)
        return 1

    with pytest.raises(WrongKind):
        await Pipeline(Hedge(delay=1.0, on=Exception)).acall(not_async)  # type: ignore[arg-type]
    assert calls == [1]


@pytest.mark.parametrize("make", [Cancelled, KeyboardInterrupt])
def test_cancellation_raised_by_an_attempt_comes_out_unchanged(
    clock: FakeClock, events: list[stalwart.Event], make: type[BaseException]
) -> None:
    """Cancellation raised inside an attempt is raised to the caller as is, without a hedge or a
    note."""
    script = Script((0.0, make))
    with pytest.raises(make) as excinfo:
        Pipeline(Hedge(delay=1.0, on=BaseException)).call(script.sync)
    assert excinfo.value is script.raised[0]
    assert script.calls == 1
    assert not hasattr(excinfo.value, "__notes__")
    assert started(events) == []


# -- losers in sync code ------------------------------------------------------------------


def test_sync_slow_first_attempt_is_beaten_and_its_thread_ends(
    events: list[stalwart.Event],
) -> None:
    """In sync code the hedge wins, the loser wakes from its stalwart sleep with Cancelled, and its
    thread ends."""
    baseline = threading.active_count()
    script = Script((10.0, "slow"), (0.1, "fast"))
    hedge_began = threading.Event()

    def fn() -> object:
        if script.calls == 1:
            hedge_began.set()
        return script.sync()

    with FakeClock(autojump=False) as clock:

        def drive() -> None:
            clock.wait_for_sleepers(2)  # attempt 1 asleep, and the wait for the delay
            clock.advance(1.0)
            hedge_began.wait(10)
            clock.wait_for_sleepers(2)  # attempts 1 and 2 asleep
            clock.advance(0.1)

        driver = threading.Thread(target=drive)
        driver.start()
        try:
            result = Pipeline(Hedge(delay=1.0)).call(fn)
        finally:
            driver.join(10)
        assert result == "fast"
        assert clock.monotonic() == pytest.approx(1.1)
    join_attempt_threads()
    assert script.interrupted == [1]
    assert script.threads[0] is not threading.current_thread()
    assert threading.active_count() == baseline
    assert [event.attempt for event in won(events)] == [2]


def test_sync_uninterruptible_loser_keeps_running_and_is_discarded(clock: FakeClock) -> None:
    """A loser blocked outside stalwart keeps running after the call returns, meets Cancelled at its
    next stalwart sleep, and its thread ends."""
    baseline = threading.active_count()
    gate = threading.Event()
    seen: list[str] = []
    calls = itertools.count(1)

    def fn() -> str:
        if next(calls) == 1:  # attempt 1: it starts a whole delay before the hedge
            gate.wait(10)  # a call stalwart cannot interrupt
            try:
                stalwart.sleep(1.0)
            except Cancelled:
                seen.append("cancelled")
                raise
            seen.append("finished")
            return "late"
        stalwart.sleep(0.1)
        return "fast"

    assert Pipeline(Hedge(delay=1.0)).call(fn) == "fast"
    assert clock.monotonic() == pytest.approx(1.1)
    [loser] = attempt_threads()
    assert loser.is_alive()
    assert loser.daemon
    gate.set()
    loser.join(10)
    assert not loser.is_alive()
    assert seen == ["cancelled"]
    assert threading.active_count() == baseline


def test_sync_attempts_run_in_the_callers_context(clock: FakeClock) -> None:
    """Attempt threads see the caller's request values and deadline."""
    seen: list[tuple[object, float]] = []

    def fn() -> str:
        seen.append((stalwart.value("tenant"), stalwart.current_deadline()))
        return "ok"

    with stalwart.bind(tenant="acme"), stalwart.deadline(5.0):
        assert Pipeline(Hedge(delay=1.0)).call(fn) == "ok"
    assert seen == [("acme", 5.0)]
    join_attempt_threads()


def test_sync_calls_run_unhedged_while_too_many_losers_are_stuck(
    clock: FakeClock, events: list[stalwart.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the pipeline's stuck losers reach the cap, calls run in the caller's thread without
    hedging, until the losers end."""
    monkeypatch.setattr(hedge_module, "MAX_ABANDONED_THREADS", 1)
    gate = threading.Event()
    ran_in: list[threading.Thread] = []

    def fn(stuck: bool) -> str:
        ran_in.append(threading.current_thread())
        if stuck and len(ran_in) == 1:  # attempt 1 of the first call
            gate.wait(10)
            return "late"
        return "ok"

    pipeline = Pipeline(Hedge(delay=1.0))
    assert pipeline.call(fn, True) == "ok"  # won by the hedge; attempt 1 stays stuck
    assert len(started(events)) == 1
    assert pipeline.call(fn, False) == "ok"
    assert ran_in[-1] is threading.current_thread()
    assert len(started(events)) == 1
    gate.set()
    join_attempt_threads()
    assert pipeline.call(fn, False) == "ok"
    assert ran_in[-1] is not threading.current_thread()
    join_attempt_threads()


# -- the budget ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_budget_is_charged_once_per_hedge(clock: FakeClock) -> None:
    """Each call deposits once in its partition and each hedge withdraws once."""
    budget = FakeBudget(tokens=10)
    script = Script((10.0, "done"))
    hedge = Hedge(delay=1.0, max_hedges=2, budget=budget)
    assert await Pipeline(hedge).acall(script, host="a.example") == "done"
    assert budget.deposits == ["a.example"]
    assert budget.withdrawals == ["a.example", "a.example"]
    assert budget.refusals == []


@pytest.mark.anyio
async def test_budget_refusal_prevents_hedges(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """When the budget refuses, no hedge starts, the refusal is reported once and the first
    attempt's answer comes out."""
    budget = FakeBudget(tokens=0)
    script = Script((10.0, "slow"))
    hedge = Hedge(delay=1.0, max_hedges=3, budget=budget)
    assert await Pipeline(hedge).acall(script) == "slow"
    assert script.calls == 1
    assert clock.monotonic() == 10.0
    assert started(events) == []
    assert [event.attempt for event in refused(events)] == [2]
    assert len(budget.refusals) == 1


@pytest.mark.anyio
async def test_budget_stops_hedging_when_it_runs_out(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """With one token, exactly one hedge starts and the next is refused."""
    budget = FakeBudget(tokens=1)
    script = Script((10.0, "done"))
    assert await Pipeline(Hedge(delay=1.0, max_hedges=3, budget=budget)).acall(script) == "done"
    assert script.starts == [0.0, 1.0]
    assert [event.attempt for event in refused(events)] == [3]
    assert len(budget.withdrawals) == 1
    assert len(budget.refusals) == 1


def test_budget_refusal_after_a_failure_brings_out_the_failure(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A retryable failure the budget will not hedge comes out with a note naming the budget."""
    budget = FakeBudget(tokens=0)
    script = Script((0.0, ConnectionError))
    with pytest.raises(ConnectionError) as excinfo:
        Pipeline(Hedge(delay=1.0, on=ConnectionError, budget=budget)).call(script.sync)
    assert script.calls == 1
    assert any("the retry budget refused attempt 2" in n for n in excinfo.value.__notes__)
    assert [event.attempt for event in refused(events)] == [2]
    assert budget.deposits == [None]


def test_fake_budget_satisfies_the_protocol() -> None:
    """The test budget has exactly the shape `Hedge(budget=...)` relies on."""
    assert isinstance(FakeBudget(1), HedgeBudget)


# -- deadlines and cancellation -------------------------------------------------------------


@pytest.mark.anyio
async def test_no_hedge_starts_after_the_deadline(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A deadline before `delay` ends the call with DeadlineExceeded and no hedge."""
    script = Script((10.0, "slow"))
    with pytest.raises(DeadlineExceeded):
        async with stalwart.deadline(0.5):
            await Pipeline(Hedge(delay=1.0)).acall(script)
    assert clock.monotonic() == 0.5
    assert script.calls == 1
    assert script.interrupted == [1]
    assert started(events) == []


def test_deadline_bounds_the_sync_wait_for_stuck_attempts(clock: FakeClock) -> None:
    """In sync code the caller stops waiting at the deadline even while attempts cannot be
    interrupted, and no hedge starts at it."""
    baseline = threading.active_count()
    gate = threading.Event()
    seen: list[str] = []

    def fn() -> str:
        gate.wait(10)
        try:
            stalwart.sleep(1.0)
        except Cancelled:
            seen.append("cancelled")
            raise
        return "late"

    # A deadline, not Timeout(total=3): the pipeline refuses hedges scheduled past a total.
    pipeline = Pipeline(Hedge(delay=1.0, max_hedges=5))
    with pytest.raises(DeadlineExceeded) as excinfo, stalwart.deadline(3.0):
        pipeline.call(fn)
    assert clock.monotonic() == 3.0
    assert len(attempt_threads()) == 3  # started at 0, 1 and 2; none at the deadline
    assert any("3 of 3 attempt(s) were still running" in n for n in excinfo.value.__notes__)
    gate.set()
    join_attempt_threads()
    assert seen == ["cancelled"] * 3
    assert threading.active_count() == baseline


def test_expired_deadline_makes_no_attempt(clock: FakeClock) -> None:
    """Under an already expired deadline the function is never called."""
    script = Script((0.0, "ok"))
    with pytest.raises(DeadlineExceeded), stalwart.deadline(0):
        Pipeline(Hedge(delay=1.0)).call(script.sync)
    assert script.calls == 0


@pytest.mark.anyio
async def test_caller_cancellation_cancels_every_attempt_and_is_neutral(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Cancelling the caller cancels all attempts, and samples no latency for the next call."""
    baseline = len(anyio.get_running_tasks())
    delay = Hedge.percentile(100, min_samples=1, fallback=1.0)
    pipeline = Pipeline(Hedge(delay=delay))
    script = Script((10.0, "never"))
    finished: list[object] = []

    async def run() -> None:
        finished.append(await pipeline.acall(script))

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await stalwart.asleep(2.0)  # the hedge starts at 1.0
            scope.cancel()
    assert finished == []
    assert sorted(script.interrupted) == [1, 2]
    assert len(anyio.get_running_tasks()) == baseline
    assert won(events) == []
    # Had the cancelled attempts been sampled (2.0 and 1.0 s), the delay would be 2.0.
    again = Script((10.0, "slow"), (0.1, "fast"))
    assert await pipeline.acall(again) == "fast"
    assert [event.delay for event in started(events)] == [1.0, 1.0]


@pytest.mark.anyio
async def test_stalwart_cancel_scope_cancels_every_attempt_with_cancelled(
    clock: FakeClock,
) -> None:
    """`scope.cancel()` of an enclosing stalwart scope ends the call with Cancelled and stops all
    attempts."""
    script = Script((10.0, "never"))
    with pytest.raises(Cancelled):
        async with stalwart.cancel_scope() as scope, anyio.create_task_group() as group:
            group.start_soon(Pipeline(Hedge(delay=0)).acall, script)
            await stalwart.asleep(1.0)
            scope.cancel()
    assert sorted(script.interrupted) == [1, 2]


def test_sync_caller_cancellation_cancels_every_attempt() -> None:
    """`scope.cancel()` from another thread ends a sync hedged call with Cancelled at once, and
    every attempt thread ends."""
    baseline = threading.active_count()
    script = Script((10.0, "never"))
    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:

        def cancel_when_both_sleep() -> None:
            clock.wait_for_sleepers(2)
            scope.cancel()

        canceller = threading.Thread(target=cancel_when_both_sleep)
        canceller.start()
        try:
            with pytest.raises(Cancelled) as excinfo:
                Pipeline(Hedge(delay=0)).call(script.sync)
        finally:
            canceller.join(10)
        assert clock.monotonic() == 0.0
    assert any("cancelled while 2 attempt(s) ran" in n for n in excinfo.value.__notes__)
    join_attempt_threads()
    assert sorted(script.interrupted) == [1, 2]
    assert threading.active_count() == baseline


def test_already_cancelled_scope_makes_no_attempt(clock: FakeClock) -> None:
    """Inside an already cancelled scope the function is never called and Cancelled is raised."""
    script = Script((0.0, "ok"))
    scope = stalwart.cancel_scope()
    scope.cancel()
    with pytest.raises(Cancelled), scope:
        Pipeline(Hedge(delay=1.0)).call(script.sync)
    assert script.calls == 0


class BrokenBudget(FakeBudget):
    """A budget whose withdrawals fail: a bug in the budget, not in the call."""

    def try_withdraw(self, key: Hashable) -> bool:
        raise RuntimeError("budget store is broken")


@pytest.mark.anyio
async def test_a_failing_budget_raises_its_own_error_as_is(clock: FakeClock) -> None:
    """An error from the budget comes out unwrapped (no ExceptionGroup) after the attempts were
    cancelled."""
    baseline = len(anyio.get_running_tasks())
    script = Script((10.0, "slow"))
    with pytest.raises(RuntimeError, match="budget store is broken"):
        await Pipeline(Hedge(delay=1.0, budget=BrokenBudget(0))).acall(script)
    assert script.interrupted == [1]
    assert len(anyio.get_running_tasks()) == baseline


def test_sync_failing_budget_raises_its_own_error_and_cancels_the_attempt(
    clock: FakeClock,
) -> None:
    """In sync code too, a budget error comes out as is and the running attempt is cancelled."""
    gate = threading.Event()
    seen: list[str] = []

    def fn() -> str:
        gate.wait(10)
        try:
            stalwart.sleep(1.0)
        except Cancelled:
            seen.append("cancelled")
            raise
        return "late"

    with pytest.raises(RuntimeError, match="budget store is broken"):
        Pipeline(Hedge(delay=1.0, budget=BrokenBudget(0))).call(fn)
    gate.set()
    join_attempt_threads()
    assert seen == ["cancelled"]


# -- the decisions, without I/O ---------------------------------------------------------------


def race(hedge: Hedge, deadline: float = math.inf) -> _Race:
    assert isinstance(hedge.delay, float)
    return _Race(hedge, now=0.0, deadline=deadline, delay=hedge.delay, key=None, latencies=None)


def test_race_launches_one_attempt_per_delay_until_max_hedges() -> None:
    """The plan starts attempt 1 at once, the next each `delay` after, and stops at
    `1 + max_hedges`."""
    plan = race(Hedge(delay=1.0, max_hedges=2), deadline=10.0)
    assert plan.launch(0.0) == 1
    assert plan.launch(0.0) is None
    assert plan.wake_at == 1.0
    assert plan.launch(0.5) is None
    assert plan.launch(1.0) == 2
    assert plan.launch(2.0) == 3
    assert plan.launch(3.0) is None
    assert plan.wake_at == 10.0  # only the deadline is left to wake up for
    assert plan.next_hedge_at == math.inf
    plan.finish(2, Outcome.of_result("two"), 3.5)
    assert plan.outcome is not None
    assert plan.result() == "two"
    plan.finish(1, Outcome.of_result("one"), 3.6)  # a loser reporting late changes nothing
    assert plan.result() == "two"


def test_race_starts_no_hedge_at_the_deadline_and_gives_up_when_idle() -> None:
    """A hedge due at the deadline does not start; with nothing running the last failure is the
    outcome, with a note."""
    plan = race(Hedge(delay=5.0, on=ConnectionError), deadline=1.0)
    assert plan.launch(0.0) == 1
    assert plan.next_hedge_at == math.inf  # due at 5.0, after the deadline
    error = ConnectionError("down")
    plan.finish(1, Outcome.of_exception(error), 1.0)
    assert plan.launch(1.0) is None
    assert plan.outcome is not None
    assert plan.outcome.exception is error
    assert error.__notes__ == [
        "stalwart: hedge gave up after 1 attempt(s): the deadline passed before attempt 2"
    ]


def test_race_expiry_with_attempts_running_is_a_deadline_error() -> None:
    """At the deadline, running attempts make the outcome a DeadlineExceeded noting them."""
    plan = race(Hedge(delay=1.0), deadline=2.0)
    plan.launch(0.0)
    plan.launch(1.0)
    plan.expire(2.0)
    assert plan.outcome is not None
    assert isinstance(plan.outcome.exception, DeadlineExceeded)
    assert plan.outcome.exception.deadline == 2.0
    assert "2 of 2 attempt(s) were still running" in plan.outcome.exception.__notes__[0]


def test_race_expiry_with_nothing_running_brings_out_the_last_failure() -> None:
    """At the deadline, with every attempt over, the last failure comes out with a note."""
    plan = race(Hedge(delay=0.5, on=ConnectionError, max_hedges=1), deadline=2.0)
    plan.launch(0.0)
    error = ConnectionError("down")
    plan.finish(1, Outcome.of_exception(error), 2.0)  # the next hedge would be due now
    plan.expire(2.0)
    assert plan.outcome is not None
    assert plan.outcome.exception is error
    assert "the deadline passed" in error.__notes__[0]


# -- composition ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_total_timeout_bounds_a_hedged_call(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Under a 3 s deadline, hedges start at 1 and 2, none at 3, and all are cancelled."""
    baseline = len(anyio.get_running_tasks())
    script = Script((100.0, "never"))
    pipeline = Pipeline(Hedge(delay=1.0, max_hedges=5))
    with pytest.raises(DeadlineExceeded):
        async with stalwart.deadline(3.0):
            await pipeline.acall(script)
    assert clock.monotonic() == 3.0
    assert script.starts == [0.0, 1.0, 2.0]
    assert sorted(script.interrupted) == [1, 2, 3]
    assert len(anyio.get_running_tasks()) == baseline


@pytest.mark.anyio
async def test_per_attempt_timeout_inside_the_hedge_starts_the_next_at_once(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """An attempt cut by a per-attempt timeout inside the hedge starts the next one at once."""
    pipeline = Pipeline(Hedge(delay=10.0, max_hedges=2), Timeout(per_attempt=1.0))
    script = Script((100.0, "never"))
    with pytest.raises(DeadlineExceeded) as excinfo:
        await pipeline.acall(script)
    assert script.starts == [0.0, 1.0, 2.0]
    assert clock.monotonic() == 3.0
    assert [event.trigger for event in started(events)] == [Verdict.TIMEOUT] * 2
    assert any("gave up after 3 attempt(s)" in n for n in excinfo.value.__notes__)


# -- the percentile delay -------------------------------------------------------------------


def test_percentile_delay_is_the_nearest_rank() -> None:
    """The delay is the nearest-rank percentile, floored at `min_delay`, with `fallback` until
    `min_samples`."""
    hundred = [float(n) for n in range(100, 0, -1)]
    assert Hedge.percentile(95).delay(hundred) == 95.0
    assert Hedge.percentile(50, min_samples=1).delay([4.0, 1.0, 3.0, 2.0]) == 2.0
    assert Hedge.percentile(100, min_samples=1).delay([4.0, 1.0]) == 4.0
    assert Hedge.percentile(1, min_samples=1).delay([4.0, 1.0]) == 1.0
    assert Hedge.percentile(50, min_samples=1).delay([0.0, 0.0]) == 0.001
    assert Hedge.percentile(50, min_samples=1, min_delay=0.5).delay([0.1]) == 0.5
    assert Hedge.percentile(95).delay([1.0] * 19) == math.inf
    assert Hedge.percentile(95, fallback=0.2).delay([1.0] * 19) == 0.2
    assert Hedge.percentile(95, fallback=0.2).delay([1.0] * 20) == 1.0


def test_latency_window_forgets_old_samples_and_refreshes_every_tenth() -> None:
    """The window drops samples older than `window` and recomputes at most every `window / 10`."""
    latencies = _Latencies(Hedge.percentile(50, window=10.0, min_samples=2))
    assert latencies.delay(0.0) == math.inf
    latencies.add(0.0, 1.0)
    latencies.add(0.0, 1.0)
    assert latencies.delay(0.0) == 1.0
    latencies.add(0.5, 5.0)
    latencies.add(0.5, 5.0)
    latencies.add(0.5, 5.0)
    assert latencies.delay(0.5) == 1.0  # cached until 1.0
    assert latencies.delay(1.0) == 5.0
    assert latencies.delay(10.6) == math.inf  # everything older than 10 s is gone


@pytest.mark.anyio
async def test_percentile_delay_adapts_to_observed_latency(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """The hedge delay follows the observed median: none while warming up, then 0.2 s, then 2 s
    once the latency changed."""
    delay = Hedge.percentile(50, window=10.0, min_samples=3)
    pipeline = Pipeline(Hedge(delay=delay))

    async def fn(latencies: list[float]) -> float:
        seconds = latencies.pop(0)
        await stalwart.asleep(seconds)
        return seconds

    for _ in range(3):
        await pipeline.acall(fn, [0.2, 0.2])
    assert started(events) == []  # no fallback: no delay hedges before 3 samples
    assert await pipeline.acall(fn, [5.0, 0.1]) == 0.1
    await stalwart.asleep(20.0)  # the window forgets the fast latencies
    for _ in range(3):
        await pipeline.acall(fn, [2.0, 2.0])
    assert await pipeline.acall(fn, [5.0, 0.1]) == 0.1
    assert [event.delay for event in started(events)] == pytest.approx([0.2, 2.0])


# -- options --------------------------------------------------------------------------------


def test_defaults() -> None:
    """Defaults: one hedge, no budget, named "hedge"; percentile: 1 ms floor, no fallback,
    30 s window, 20 samples."""
    hedge = Hedge(delay=0.05)
    assert (hedge.max_hedges, hedge.budget, hedge.name, hedge.on, hedge.classify) == (
        1,
        None,
        "hedge",
        None,
        None,
    )
    p = Hedge.percentile(95)
    assert (p.percentile, p.min_delay, p.fallback, p.window, p.min_samples) == (
        95,
        0.001,
        None,
        30.0,
        20,
    )
    assert isinstance(p, LatencyPercentile)


@pytest.mark.parametrize(
    ("options", "error", "parameter"),
    [
        ({"delay": "1"}, TypeError, "delay"),
        ({"delay": True}, TypeError, "delay"),
        ({"delay": -1}, ValueError, "delay"),
        ({"delay": math.nan}, ValueError, "delay"),
        ({"max_hedges": 0}, ValueError, "max_hedges"),
        ({"max_hedges": 11}, ValueError, "max_hedges"),
        ({"max_hedges": 1.0}, TypeError, "max_hedges"),
        ({"max_hedges": True}, TypeError, "max_hedges"),
        ({"on": 42}, TypeError, "on"),
        ({"on": "ValueError"}, TypeError, "on"),
        ({"classify": 42}, TypeError, "classify"),
        ({"budget": object()}, TypeError, "budget"),
        ({"name": ""}, ValueError, "name"),
    ],
)
def test_bad_options_name_the_parameter(
    options: dict[str, Any], error: type[Exception], parameter: str
) -> None:
    """Invalid Hedge options raise TypeError or ValueError with a message naming the parameter."""
    with pytest.raises(error, match=rf"^{parameter} must"):
        Hedge(**{"delay": 1.0, **options})


def test_on_and_classify_together_are_a_type_error() -> None:
    """Giving both `on=` and `classify=` is refused."""
    with pytest.raises(TypeError, match="not both"):
        Hedge(delay=1.0, on=ConnectionError, classify=lambda outcome: Verdict.SUCCESS)


@pytest.mark.parametrize(
    ("options", "error", "parameter"),
    [
        ({"percentile": 0}, ValueError, "percentile"),
        ({"percentile": 100.5}, ValueError, "percentile"),
        ({"percentile": math.nan}, ValueError, "percentile"),
        ({"percentile": "95"}, TypeError, "percentile"),
        ({"min_delay": -0.1}, ValueError, "min_delay"),
        ({"min_delay": math.inf}, ValueError, "min_delay"),
        ({"fallback": -1}, ValueError, "fallback"),
        ({"fallback": "1"}, TypeError, "fallback"),
        ({"window": 0}, ValueError, "window"),
        ({"window": math.inf}, ValueError, "window"),
        ({"window": None}, TypeError, "window"),
        ({"min_samples": 0}, ValueError, "min_samples"),
        ({"min_samples": 2.5}, TypeError, "min_samples"),
    ],
)
def test_bad_percentile_options_name_the_parameter(
    options: dict[str, Any], error: type[Exception], parameter: str
) -> None:
    """Invalid percentile options raise TypeError or ValueError naming the parameter."""
    with pytest.raises(error, match=rf"^{parameter} must"):
        Hedge.percentile(**{"percentile": 95, **options})


def test_repr_shows_only_non_default_options() -> None:
    """Reprs read like the code that built them, listing options that differ from defaults."""
    assert repr(Hedge(delay=0.05)) == "Hedge(delay=0.05)"
    assert repr(Hedge(delay=1, max_hedges=2, on=ConnectionError, name="reads")) == (
        "Hedge(delay=1.0, max_hedges=2, on=ConnectionError, name='reads')"
    )
    assert repr(Hedge.percentile(95)) == "Hedge.percentile(95)"
    assert repr(Hedge(delay=Hedge.percentile(99, fallback=0.2, window=10))) == (
        "Hedge(delay=Hedge.percentile(99, fallback=0.2, window=10.0))"
    )


def test_replace_revalidates_and_options_are_frozen() -> None:
    """`replace()` returns a validated copy; options are immutable and compare by value."""
    hedge = Hedge(delay=1.0)
    assert hedge.replace(max_hedges=3).max_hedges == 3
    assert hedge == Hedge(delay=1.0)
    assert hash(hedge) == hash(Hedge(delay=1.0))
    assert hedge != Hedge(delay=2.0)
    with pytest.raises(ValueError, match="max_hedges"):
        hedge.replace(max_hedges=0)
    with pytest.raises(AttributeError):
        hedge.max_hedges = 2  # type: ignore[misc]
    p = Hedge.percentile(95)
    assert p.replace(window=5.0).window == 5.0
    with pytest.raises(ValueError, match="window"):
        p.replace(window=0)


def test_event_messages_are_sentences() -> None:
    """Each hedge event describes itself in one readable sentence for logs."""
    assert (
        "after the previous attempt" in HedgeStarted(strategy="h", attempt=2, delay=1.0).message()
    )
    assert "failed (transient)" in (
        HedgeStarted(strategy="h", attempt=2, delay=0.0, trigger=Verdict.TRANSIENT).message()
    )
    assert "attempt 2 of 3" in (
        HedgeWon(strategy="h", attempt=2, attempts=3, verdict=Verdict.SUCCESS).message()
    )
    assert "refused" in HedgeBudgetExhausted(strategy="h", attempt=2).message()


@pytest.mark.realtime
def test_sync_attempts_reuse_pool_workers(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sync attempts run on a reused pool of daemon workers that leave once idle, not on a
    new thread per attempt (idle workers wait 0.2 s of real time here)."""
    monkeypatch.setattr(hedge_module, "WORKER_IDLE_TIMEOUT", 0.2)
    used: set[threading.Thread] = set()

    def fn() -> str:
        used.add(threading.current_thread())
        return "ok"

    pipeline = Pipeline(Hedge(delay=1.0))
    for _ in range(20):
        assert pipeline.call(fn) == "ok"
    # A thread per attempt would be 20; a worker that reports before it marks itself idle
    # may make the next call start one more, rarely.
    assert len(used) <= 10
    assert all(worker.daemon for worker in used)
    assert threading.current_thread() not in used
    for worker in used:  # idle workers leave by themselves
        worker.join(10)
        assert not worker.is_alive()


def test_an_outcome_marked_unsafe_ends_the_race() -> None:
    from stalwart._outcome import forbid_retry

    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        error = ConnectionError("sent, then reset")
        forbid_retry(error, "may have taken effect")
        raise error

    pipeline = stalwart.Pipeline(stalwart.Hedge(delay=math.inf, on=ConnectionError))
    with FakeClock(autojump=False), pytest.raises(ConnectionError):
        pipeline.call(flaky)
    assert calls == 1
