"""The stalwart context: deadlines, cancellation, request values, and threads."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

import stalwart
from stalwart._clock import SystemClock, current_clock
from stalwart.testing import FakeClock

# -- helpers ----------------------------------------------------------------------------


class Helper:
    """A helper thread that records what went wrong in it, so the test can assert on it."""

    def __init__(self, fn: Callable[[], object], *, carry: bool = False) -> None:
        self.errors: list[BaseException] = []
        self.result: list[object] = []

        def run() -> None:
            try:
                self.result.append(fn())
            except BaseException as exc:
                self.errors.append(exc)

        if carry:
            self.thread = stalwart.start_thread(run, daemon=True)
        else:
            self.thread = threading.Thread(target=run, daemon=True)
            self.thread.start()

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive(), "the helper thread did not finish"


@contextmanager
def signal_handler(signum: int, handler: Callable[[int, object], None]) -> Iterator[None]:
    """Install a signal handler for the block, then put the previous one back."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


# -- deadlines --------------------------------------------------------------------------


def test_deadline_sets_current_deadline_to_now_plus_seconds_on_the_current_clock() -> None:
    """`deadline(s)` sets the absolute deadline to the current clock's now + s."""
    with FakeClock(start=100.0) as clock:
        clock.advance(10)
        with stalwart.deadline(2.5) as scope:
            assert stalwart.current_deadline() == 112.5
            assert scope.deadline == 112.5
            assert stalwart.remaining() == 2.5
            clock.advance(1)
            assert stalwart.remaining() == 1.5
            assert scope.remaining() == 1.5
        assert stalwart.current_deadline() == math.inf


def test_remaining_is_inf_outside_any_scope() -> None:
    """Outside any scope there is no deadline: `remaining()` and `current_deadline()` are inf."""
    assert stalwart.remaining() == math.inf
    assert stalwart.current_deadline() == math.inf


def test_remaining_never_goes_below_zero(clock: FakeClock) -> None:
    """Once the deadline has passed, `remaining()` is 0, not negative."""
    with stalwart.deadline(1):
        clock.advance(5)
        assert stalwart.remaining() == 0.0


def test_nested_longer_deadline_keeps_the_outer_one(clock: FakeClock) -> None:
    """An inner scope with a longer deadline does not extend the outer one."""
    with stalwart.deadline(1), stalwart.deadline(5) as inner:
        assert stalwart.current_deadline() == 1.0
        assert inner.deadline == 1.0
        assert stalwart.remaining() == 1.0


def test_nested_shorter_deadline_wins_and_the_outer_one_comes_back(clock: FakeClock) -> None:
    """An inner shorter deadline applies inside its block; after it the outer one is back."""
    with stalwart.deadline(5):
        with stalwart.deadline(1):
            assert stalwart.current_deadline() == 1.0
        assert stalwart.current_deadline() == 5.0
    assert stalwart.current_deadline() == math.inf


def test_check_raises_deadline_exceeded_once_the_clock_passes_the_deadline(
    clock: FakeClock,
) -> None:
    """`check()` is quiet before the deadline and raises DeadlineExceeded (a TimeoutError) at it."""
    with stalwart.deadline(1):
        stalwart.check()
        clock.advance(0.5)
        stalwart.check()
        clock.advance(0.5)
        with pytest.raises(stalwart.DeadlineExceeded) as caught:
            stalwart.check()
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.deadline == 1.0


def test_check_raises_cancelled_after_cancel(clock: FakeClock) -> None:
    """`check()` raises Cancelled once the enclosing scope's `cancel()` was called."""
    with pytest.raises(stalwart.Cancelled), stalwart.cancel_scope() as scope:
        stalwart.check()
        scope.cancel()
        stalwart.check()


def test_check_never_raises_outside_scopes(clock: FakeClock) -> None:
    """Outside any scope `check()` never raises, however much time passes."""
    clock.advance(1e9)
    stalwart.check()


def test_deadline_exceeded_is_a_builtin_timeout_error() -> None:
    """DeadlineExceeded is caught by a plain `except TimeoutError:`."""
    assert issubclass(stalwart.DeadlineExceeded, TimeoutError)
    assert issubclass(stalwart.DeadlineExceeded, stalwart.StalwartError)
    assert not issubclass(stalwart.Cancelled, TimeoutError)


# -- sync sleep -------------------------------------------------------------------------


def test_sleep_on_the_fake_clock_advances_time_by_its_duration(clock: FakeClock) -> None:
    """A sync `stalwart.sleep(d)` on an autojumping FakeClock moves time forward by d."""
    stalwart.sleep(2.5)
    assert clock.monotonic() == 2.5
    stalwart.sleep(0)
    assert clock.monotonic() == 2.5


def test_sleep_longer_than_the_deadline_sleeps_up_to_it_then_raises(clock: FakeClock) -> None:
    """A sleep longer than the time left sleeps until the deadline and raises DeadlineExceeded."""
    with stalwart.deadline(1), pytest.raises(stalwart.DeadlineExceeded):
        stalwart.sleep(5)
    assert clock.monotonic() == 1.0


def test_sleep_shorter_than_the_deadline_returns(clock: FakeClock) -> None:
    """A sleep that fits in the time left returns normally."""
    with stalwart.deadline(1):
        stalwart.sleep(0.25)
        assert stalwart.remaining() == 0.75


def test_sleep_after_the_deadline_passed_raises_at_once(clock: FakeClock) -> None:
    """A sleep started after the deadline raises DeadlineExceeded without waiting."""
    with stalwart.deadline(1):
        clock.advance(2)
        with pytest.raises(stalwart.DeadlineExceeded):
            stalwart.sleep(5)
    assert clock.monotonic() == 2.0


def test_sleep_in_a_cancelled_scope_raises_cancelled_at_once(clock: FakeClock) -> None:
    """A sleep inside a cancelled scope raises Cancelled at once, without moving time."""
    with stalwart.move_on_after(100) as scope:
        scope.cancel()
        with pytest.raises(stalwart.Cancelled):
            stalwart.sleep(5)
        with pytest.raises(stalwart.Cancelled):
            stalwart.sleep(0)
    assert clock.monotonic() == 0.0


# -- scopes -----------------------------------------------------------------------------


def test_move_on_after_swallows_its_own_expiry(clock: FakeClock) -> None:
    """`move_on_after` ends its block quietly at expiry and sets `cancelled_caught`."""
    reached = []
    with stalwart.move_on_after(1) as scope:
        stalwart.sleep(5)
        reached.append("after the sleep")
    assert scope.cancelled_caught
    assert reached == []
    assert clock.monotonic() == 1.0


def test_move_on_after_that_does_not_expire_leaves_cancelled_caught_false(
    clock: FakeClock,
) -> None:
    """A `move_on_after` block that finishes in time reports `cancelled_caught` False."""
    with stalwart.move_on_after(5) as scope:
        stalwart.sleep(1)
    assert not scope.cancelled_caught
    assert not scope.cancel_called


def test_move_on_after_does_not_swallow_an_outer_deadline(clock: FakeClock) -> None:
    """An outer, shorter deadline's DeadlineExceeded passes through an inner `move_on_after`."""
    with (
        pytest.raises(stalwart.DeadlineExceeded),
        stalwart.deadline(1),
        stalwart.move_on_after(5) as inner,
    ):
        stalwart.sleep(10)
    assert not inner.cancelled_caught
    assert clock.monotonic() == 1.0


def test_outer_move_on_after_swallows_an_inner_deadline_it_caused(clock: FakeClock) -> None:
    """An outer, shorter `move_on_after` catches the expiry seen inside a longer inner deadline."""
    with stalwart.move_on_after(1) as outer, stalwart.deadline(5):
        stalwart.sleep(10)
    assert outer.cancelled_caught
    assert clock.monotonic() == 1.0


def test_move_on_after_does_not_swallow_a_deadline_exceeded_it_did_not_cause(
    clock: FakeClock,
) -> None:
    """A DeadlineExceeded raised by other code while the scope's own deadline is far away passes."""
    with (
        pytest.raises(stalwart.DeadlineExceeded, match="upstream"),
        stalwart.move_on_after(10) as scope,
    ):
        raise stalwart.DeadlineExceeded("upstream reported a deadline")
    assert not scope.cancelled_caught


def test_deadline_raises_deadline_exceeded_out_of_the_block(clock: FakeClock) -> None:
    """`deadline()` lets its own expiry out of the block as DeadlineExceeded."""
    with pytest.raises(stalwart.DeadlineExceeded) as caught, stalwart.deadline(1):
        stalwart.sleep(2)
    assert caught.value.deadline == 1.0


def test_cancel_scope_raises_cancelled_out_of_the_block(clock: FakeClock) -> None:
    """`cancel_scope()` lets Cancelled out of the block after `cancel()`."""
    with pytest.raises(stalwart.Cancelled), stalwart.cancel_scope() as scope:
        scope.cancel()
        stalwart.sleep(1)
    assert scope.cancel_called
    assert not scope.cancelled_caught


def test_move_on_after_swallows_its_own_cancel(clock: FakeClock) -> None:
    """`move_on_after` also ends quietly when its own `cancel()` is called."""
    with stalwart.move_on_after(10) as scope:
        scope.cancel()
        stalwart.sleep(1)
    assert scope.cancelled_caught
    assert clock.monotonic() == 0.0


def test_a_scope_can_be_entered_only_once(clock: FakeClock) -> None:
    """Entering a scope a second time, after or during its first use, raises RuntimeError."""
    scope = stalwart.deadline(1)
    with scope, pytest.raises(RuntimeError, match="once"), scope:
        pass
    with pytest.raises(RuntimeError, match="once"), scope:
        pass


def test_cancel_before_entry_cancels_at_once_on_entry(clock: FakeClock) -> None:
    """`cancel()` called before the block starts makes the block cancelled from its start."""
    scope = stalwart.cancel_scope()
    scope.cancel()
    assert scope.cancel_called
    with pytest.raises(stalwart.Cancelled), scope:
        assert scope.cancel_called
        stalwart.check()


def test_cancelling_an_outer_scope_cancels_inner_scopes(clock: FakeClock) -> None:
    """`cancel()` on an outer scope marks nested scopes cancelled and stops sleeps in them."""
    with stalwart.move_on_after(100) as outer:
        with stalwart.deadline(50) as middle, stalwart.move_on_after(10) as inner:
            assert not inner.cancel_called
            outer.cancel()
            assert middle.cancel_called
            assert inner.cancel_called
            stalwart.sleep(5)
        pytest.fail("the Cancelled of the outer scope was swallowed by an inner one")
    assert outer.cancelled_caught
    assert not inner.cancelled_caught
    assert clock.monotonic() == 0.0


def test_scope_entered_inside_a_cancelled_scope_starts_cancelled(clock: FakeClock) -> None:
    """A scope opened inside an already cancelled scope is cancelled from its start."""
    with stalwart.move_on_after(100) as outer:
        outer.cancel()
        with stalwart.deadline(5) as inner:
            assert inner.cancel_called
            stalwart.check()
    assert outer.cancelled_caught


def test_cancel_after_the_scope_ended_does_nothing(clock: FakeClock) -> None:
    """Calling `cancel()` after the block ended raises nothing and affects nothing outside."""
    with stalwart.cancel_scope() as scope:
        pass
    scope.cancel()
    scope.cancel()
    stalwart.check()


def test_sync_scopes_are_cooperative_and_keep_late_results(clock: FakeClock) -> None:
    """Sync work that finishes late without a stalwart check returns its result unharmed."""

    def slow_work() -> str:
        clock.advance(5)  # takes 5 s, never asks stalwart
        return "late but done"

    with stalwart.deadline(1):
        result = slow_work()
    assert result == "late but done"


# -- cancellation across threads ----------------------------------------------------------


def test_cancel_from_another_thread_wakes_a_sync_sleep_at_once() -> None:
    """`scope.cancel()` from another thread ends a sync sleep with Cancelled, no time passing."""
    woke = threading.Event()
    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:

        def cancel_once_asleep() -> None:
            clock.wait_for_sleepers(1, timeout=10)
            scope.cancel()
            if not woke.wait(5):
                clock.advance(30)  # the cancel did not wake the sleep: end it so the test fails

        helper = Helper(cancel_once_asleep)
        try:
            with pytest.raises(stalwart.Cancelled):
                stalwart.sleep(30)
        finally:
            woke.set()
            helper.join()
        assert helper.errors == []
    assert clock.monotonic() == 0.0


def test_cancel_reaches_a_sleep_in_a_carried_thread() -> None:
    """Cancelling a scope wakes a sleep in a thread started with `start_thread`, no time passing."""
    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:
        helper = Helper(lambda: stalwart.sleep(30), carry=True)
        clock.wait_for_sleepers(1, timeout=10)
        assert clock.sleepers == 1
        scope.cancel()
        helper.join()
    assert [type(error) for error in helper.errors] == [stalwart.Cancelled]
    assert clock.monotonic() == 0.0


def test_cancel_of_an_outer_scope_reaches_a_sleep_in_an_inner_scope_in_a_thread() -> None:
    """An outer scope's cancel wakes a sleep nested in a thread's own inner scope."""

    def sleeper() -> None:
        with stalwart.deadline(100):
            stalwart.sleep(30)

    with FakeClock(autojump=False) as clock, stalwart.move_on_after(1000) as outer:
        helper = Helper(sleeper, carry=True)
        clock.wait_for_sleepers(1, timeout=10)
        outer.cancel()
        helper.join()
    assert [type(error) for error in helper.errors] == [stalwart.Cancelled]
    assert clock.monotonic() == 0.0


@pytest.mark.realtime
def test_cancel_from_another_thread_wakes_a_real_sleep_at_once() -> None:
    """On the real clock, a cancel from another thread ends `stalwart.sleep(30)` at once."""
    assert isinstance(current_clock(), SystemClock)
    started = time.perf_counter()
    with pytest.raises(stalwart.Cancelled), stalwart.cancel_scope() as scope:
        timer = threading.Timer(0.05, scope.cancel)
        timer.start()
        try:
            stalwart.sleep(30)
        finally:
            timer.join()
    assert time.perf_counter() - started < 5


@pytest.mark.realtime
def test_sleep_forever_on_the_real_clock_is_ended_by_cancel() -> None:
    """`stalwart.sleep(math.inf)` on the real clock waits until the scope is cancelled."""
    assert isinstance(current_clock(), SystemClock)
    started = time.perf_counter()
    with pytest.raises(stalwart.Cancelled), stalwart.cancel_scope() as scope:
        timer = threading.Timer(0.05, scope.cancel)
        timer.start()
        try:
            stalwart.sleep(math.inf)
        finally:
            timer.cancel()
            timer.join()
    assert time.perf_counter() - started < 5


# -- Ctrl-C and signal handlers -----------------------------------------------------------


@pytest.mark.realtime
@pytest.mark.parametrize("in_scope", [False, True], ids=["bare", "in-a-deadline"])
def test_ctrl_c_interrupts_a_sync_sleep_at_once(in_scope: bool) -> None:
    """SIGINT (Ctrl-C) interrupts a real-clock `stalwart.sleep(30)` in the main thread at once."""
    assert isinstance(current_clock(), SystemClock)
    armed = threading.Event()
    armed.set()
    late: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        if armed.is_set():
            raise KeyboardInterrupt
        late.append(signum)  # arrived after the test stopped listening: never kill pytest

    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    with signal_handler(signal.SIGINT, on_sigint):
        try:
            with pytest.raises(KeyboardInterrupt):
                timer.start()
                if in_scope:
                    with stalwart.deadline(60):
                        stalwart.sleep(30)
                else:
                    stalwart.sleep(30)
        finally:
            armed.clear()
            timer.cancel()
            timer.join()
    assert time.perf_counter() - started < 5
    assert late == []


def test_a_signal_handler_may_cancel_a_scope() -> None:
    """A signal handler calling `scope.cancel()` ends a sleep in the main thread with Cancelled."""
    woke = threading.Event()
    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:

        def signal_once_asleep() -> None:
            clock.wait_for_sleepers(1, timeout=10)
            os.kill(os.getpid(), signal.SIGUSR1)
            if not woke.wait(5):
                clock.advance(30)  # the handler did not wake the sleep: end it so the test fails

        with signal_handler(signal.SIGUSR1, lambda signum, frame: scope.cancel()):
            helper = Helper(signal_once_asleep)
            try:
                with pytest.raises(stalwart.Cancelled):
                    stalwart.sleep(30)
            finally:
                woke.set()
                helper.join()
        assert helper.errors == []
    assert clock.monotonic() == 0.0


@pytest.mark.realtime
def test_a_signal_handler_may_cancel_a_scope_on_the_real_clock() -> None:
    """A handler for a signal arriving mid-sleep cancels the scope; the real sleep ends at once."""
    assert isinstance(current_clock(), SystemClock)
    started = time.perf_counter()
    with stalwart.cancel_scope() as scope:
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
        with signal_handler(signal.SIGUSR1, lambda signum, frame: scope.cancel()):
            try:
                with pytest.raises(stalwart.Cancelled):
                    timer.start()
                    stalwart.sleep(30)
            finally:
                timer.cancel()
                timer.join()
    assert time.perf_counter() - started < 5


# -- async scopes -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_deadline_stops_asleep_at_exactly_the_deadline(clock: FakeClock) -> None:
    """`async with deadline(1)` around `asleep(5)` raises DeadlineExceeded at fake time 1.0."""
    with pytest.raises(stalwart.DeadlineExceeded) as caught:
        async with stalwart.deadline(1):
            await stalwart.asleep(5)
    assert clock.monotonic() == 1.0
    assert caught.value.deadline == 1.0


@pytest.mark.anyio
async def test_async_deadline_cancels_any_await_when_the_clock_reaches_it(
    clock: FakeClock,
) -> None:
    """A non-stalwart await inside an async deadline is cancelled when the FakeClock reaches it."""
    entered = anyio.Event()
    outcome: list[object] = []

    async def wait_forever() -> None:
        try:
            async with stalwart.deadline(1):
                entered.set()
                await anyio.Event().wait()
        except stalwart.DeadlineExceeded:
            outcome.append(clock.monotonic())

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_forever)
        await entered.wait()
        clock.advance(0.5)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        assert outcome == []  # not yet due
        clock.advance(0.5)
    assert outcome == [1.0]


@pytest.mark.realtime
@pytest.mark.anyio
async def test_async_deadline_on_the_real_clock_cancels_a_long_sleep() -> None:
    """On the real clock, `async with deadline(0.05)` cuts `anyio.sleep(10)` short."""
    assert isinstance(current_clock(), SystemClock)
    started = time.perf_counter()
    with pytest.raises(stalwart.DeadlineExceeded):
        async with stalwart.deadline(0.05):
            await anyio.sleep(10)
    assert time.perf_counter() - started < 5


@pytest.mark.anyio
async def test_async_move_on_after_swallows_its_expiry(clock: FakeClock) -> None:
    """`async with move_on_after(1)` ends quietly at expiry and sets `cancelled_caught`."""
    reached = []
    async with stalwart.move_on_after(1) as scope:
        await stalwart.asleep(5)
        reached.append("after the sleep")
    assert scope.cancelled_caught
    assert reached == []
    assert clock.monotonic() == 1.0


@pytest.mark.anyio
async def test_async_move_on_after_in_time_leaves_cancelled_caught_false(
    clock: FakeClock,
) -> None:
    """An async `move_on_after` whose body finishes in time reports `cancelled_caught` False."""
    async with stalwart.move_on_after(5) as scope:
        await stalwart.asleep(1)
    assert not scope.cancelled_caught
    assert clock.monotonic() == 1.0


@pytest.mark.anyio
async def test_async_outer_shorter_deadline_propagates_out_of_inner_move_on_after(
    clock: FakeClock,
) -> None:
    """An outer, shorter async deadline leaves an inner `move_on_after` as DeadlineExceeded."""
    with pytest.raises(stalwart.DeadlineExceeded) as caught:
        async with stalwart.deadline(1), stalwart.move_on_after(5) as inner:
            await stalwart.asleep(10)
    assert not inner.cancelled_caught
    assert clock.monotonic() == 1.0
    assert caught.value.deadline == 1.0


@pytest.mark.anyio
async def test_async_outer_move_on_after_swallows_expiry_inside_a_longer_deadline(
    clock: FakeClock,
) -> None:
    """An outer, shorter async `move_on_after` swallows the expiry seen inside a longer deadline."""
    async with stalwart.move_on_after(1) as outer, stalwart.deadline(5):
        await stalwart.asleep(10)
    assert outer.cancelled_caught
    assert clock.monotonic() == 1.0


@pytest.mark.anyio
async def test_async_cancel_scope_cancel_raises_cancelled(clock: FakeClock) -> None:
    """`scope.cancel()` inside an async `cancel_scope()` stops the next await with Cancelled."""
    with pytest.raises(stalwart.Cancelled):
        async with stalwart.cancel_scope() as scope:
            scope.cancel()
            await anyio.Event().wait()
    assert scope.cancel_called


@pytest.mark.anyio
async def test_async_move_on_after_swallows_its_own_cancel(clock: FakeClock) -> None:
    """An async `move_on_after` ends quietly when its own `cancel()` is called."""
    async with stalwart.move_on_after(10) as scope:
        scope.cancel()
        await anyio.Event().wait()
    assert scope.cancelled_caught
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_async_cancel_from_another_thread_cancels_any_await(clock: FakeClock) -> None:
    """`scope.cancel()` from a worker thread cancels an `anyio.Event().wait()` with Cancelled."""
    with pytest.raises(stalwart.Cancelled):
        async with stalwart.cancel_scope() as scope, anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, scope.cancel)
            await anyio.Event().wait()
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_async_cancel_of_outer_scope_cancels_inner_scopes(clock: FakeClock) -> None:
    """Cancelling an outer async scope from a thread cancels nested scopes and their awaits."""
    with pytest.raises(stalwart.Cancelled):
        async with (
            stalwart.cancel_scope() as outer,
            stalwart.deadline(100) as middle,
            stalwart.move_on_after(50) as inner,
        ):
            await anyio.to_thread.run_sync(outer.cancel)
            await anyio.Event().wait()
    assert middle.cancel_called
    assert inner.cancel_called
    assert not inner.cancelled_caught


@pytest.mark.anyio
async def test_async_cancel_wakes_a_sync_sleep_in_a_worker_thread() -> None:
    """Cancelling an async scope wakes a `stalwart.sleep` running in `anyio.to_thread`."""
    outcome: list[str] = []

    async def sleep_in_a_thread() -> None:
        try:
            await anyio.to_thread.run_sync(stalwart.sleep, 30)
        except stalwart.Cancelled:
            outcome.append("cancelled")

    with FakeClock(autojump=False) as clock:
        with pytest.raises(stalwart.Cancelled):
            async with stalwart.cancel_scope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(sleep_in_a_thread)
                    await anyio.to_thread.run_sync(clock.wait_for_sleepers, 1)
                    scope.cancel()
                await anyio.lowlevel.checkpoint()
        assert outcome == ["cancelled"]
        assert clock.monotonic() == 0.0
        assert clock.sleepers == 0


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["deadline", "move_on_after", "cancel_scope"])
async def test_async_scopes_that_finish_in_time_exit_quietly(kind: str, clock: FakeClock) -> None:
    """An async scope whose body ends before expiry or cancel raises and catches nothing."""
    make = {
        "deadline": lambda: stalwart.deadline(5),
        "move_on_after": lambda: stalwart.move_on_after(5),
        "cancel_scope": stalwart.cancel_scope,
    }[kind]
    reached = []
    async with make() as scope:
        await stalwart.asleep(1)
        reached.append("end of block")
    async with make() as empty:
        pass
    assert reached == ["end of block"]
    assert not scope.cancelled_caught
    assert not empty.cancelled_caught
    assert clock.monotonic() == 1.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancel_of_a_sync_scope_reaches_an_async_scope_in_a_carried_thread(backend: str) -> None:
    """A sync scope's cancel stops an await inside an async scope of an event loop it encloses."""
    outcome: list[tuple[str, float]] = []

    async def wait_in_scope() -> None:
        try:
            async with stalwart.deadline(1000):
                await stalwart.asleep(30)
        except stalwart.Cancelled:
            outcome.append(("cancelled", current_clock().monotonic()))
        else:
            outcome.append(("slept", current_clock().monotonic()))

    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:
        helper = Helper(lambda: anyio.run(wait_in_scope, backend=backend), carry=True)
        clock.wait_for_sleepers(1, timeout=10)
        scope.cancel()
        helper.thread.join(1)
        if helper.thread.is_alive():
            clock.advance(30)  # the cancel did not arrive: release the sleeper to end the thread
        helper.join()
    assert helper.errors == []
    assert outcome == [("cancelled", 0.0)]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_asleep_inside_a_cancelled_sync_scope_raises_cancelled(backend: str) -> None:
    """`asleep` in an event loop run inside an already cancelled sync scope raises Cancelled."""
    with FakeClock() as clock, stalwart.cancel_scope() as scope:
        scope.cancel()
        with pytest.raises(stalwart.Cancelled):
            anyio.run(stalwart.asleep, 5, backend=backend)
    assert clock.monotonic() == 0.0


# -- async deadlines of zero, and context propagation --------------------------------------


@pytest.mark.anyio
async def test_async_deadline_zero_raises_at_the_first_await(clock: FakeClock) -> None:
    """`async with deadline(0)` runs up to the first await, which raises DeadlineExceeded."""
    reached = []
    with pytest.raises(stalwart.DeadlineExceeded):
        async with stalwart.deadline(0):
            reached.append("before")
            await anyio.lowlevel.checkpoint()
            reached.append("after")
    assert reached == ["before"]


@pytest.mark.anyio
async def test_async_deadline_zero_on_the_real_clock_raises_at_the_first_await() -> None:
    """On the real clock too, `async with deadline(0)` raises at the first await."""
    assert isinstance(current_clock(), SystemClock)
    reached = []
    with pytest.raises(stalwart.DeadlineExceeded):
        async with stalwart.deadline(0):
            reached.append("before")
            await anyio.lowlevel.checkpoint()
            reached.append("after")
    assert reached == ["before"]


@pytest.mark.anyio
async def test_context_flows_into_task_group_tasks_and_worker_threads(clock: FakeClock) -> None:
    """Deadline and values reach tasks of an anyio task group and `anyio.to_thread.run_sync`."""

    def read() -> tuple[float, object]:
        return stalwart.current_deadline(), stalwart.value("request_id", None)

    seen: list[tuple[float, object]] = []

    async def task() -> None:
        seen.append(read())

    async with stalwart.deadline(5), stalwart.bind(request_id="r1"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task)
        seen.append(await anyio.to_thread.run_sync(read))
    assert seen == [(5.0, "r1"), (5.0, "r1")]
    assert read() == (math.inf, None)


@pytest.mark.anyio
async def test_async_bind_sets_values_for_the_block(clock: FakeClock) -> None:
    """`async with stalwart.bind(...)` binds values inside the block and removes them after."""
    async with stalwart.bind(tenant="acme") as bound:
        assert stalwart.value("tenant") == "acme"
        assert bound["tenant"] == "acme"
        await anyio.lowlevel.checkpoint()
        assert stalwart.value("tenant") == "acme"
    assert stalwart.value("tenant", None) is None


# -- values -------------------------------------------------------------------------------


def test_bind_makes_values_readable_inside_the_block() -> None:
    """`bind(...)` exposes its values through `value()` and `values()` inside the block."""
    with stalwart.bind(request_id="r1", tenant="t"):
        assert stalwart.value("tenant") == "t"
        assert stalwart.value("request_id") == "r1"
        assert dict(stalwart.values()) == {"request_id": "r1", "tenant": "t"}
    assert dict(stalwart.values()) == {}


def test_values_is_a_read_only_mapping() -> None:
    """The mapping from `values()` refuses assignment with TypeError."""
    with stalwart.bind(tenant="t"):
        mapping = stalwart.values()
        with pytest.raises(TypeError):
            mapping["tenant"] = "other"  # type: ignore[index]
        assert stalwart.value("tenant") == "t"


def test_inner_bind_overrides_and_is_undone_on_exit() -> None:
    """An inner `bind` overrides a key and adds others; leaving it restores the outer values."""
    with stalwart.bind(tenant="outer", request_id="r1"):
        with stalwart.bind(tenant="inner", user="u"):
            assert dict(stalwart.values()) == {"tenant": "inner", "request_id": "r1", "user": "u"}
        assert dict(stalwart.values()) == {"tenant": "outer", "request_id": "r1"}


def test_value_of_a_missing_key_raises_key_error_naming_it() -> None:
    """`value("missing")` raises KeyError naming the key; with a default it returns the default."""
    with stalwart.bind(tenant="t"):
        with pytest.raises(KeyError, match="missing"):
            stalwart.value("missing")
        assert stalwart.value("missing", None) is None
        assert stalwart.value("missing", 42) == 42


def test_bind_inside_a_deadline_keeps_the_deadline_and_cancellation(clock: FakeClock) -> None:
    """A `bind` inside a deadline scope keeps that deadline and the scope's cancellation."""
    with stalwart.move_on_after(3) as scope, stalwart.bind(tenant="t"):
        assert stalwart.current_deadline() == 3.0
        scope.cancel()
        stalwart.check()
    assert scope.cancelled_caught


def test_deadline_inside_a_bind_keeps_the_values(clock: FakeClock) -> None:
    """A deadline scope opened inside a `bind` keeps the bound values."""
    with stalwart.bind(tenant="t"), stalwart.deadline(1):
        assert stalwart.value("tenant") == "t"


def test_a_bind_block_can_be_entered_only_once() -> None:
    """Entering the same `bind(...)` object twice raises RuntimeError."""
    binding = stalwart.bind(tenant="t")
    with binding:
        pass
    with pytest.raises(RuntimeError), binding:
        pass


# -- threads ------------------------------------------------------------------------------


def test_carry_context_takes_values_and_deadline_into_an_executor(clock: FakeClock) -> None:
    """A function wrapped with `carry_context` sees the caller's values and deadline in a pool."""

    def read() -> tuple[float, object]:
        return stalwart.current_deadline(), stalwart.value("request_id", None)

    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        stalwart.deadline(7),
        stalwart.bind(request_id="r1"),
    ):
        carried = pool.submit(stalwart.carry_context(read)).result(10)
        plain = pool.submit(read).result(10)
    assert carried == (7.0, "r1")
    assert plain == (math.inf, None)


def test_a_plain_thread_without_carry_context_sees_no_values() -> None:
    """A plain `threading.Thread` does not inherit bound values or the deadline."""
    with stalwart.bind(tenant="t"), stalwart.deadline(5):
        helper = Helper(lambda: (dict(stalwart.values()), stalwart.current_deadline()))
        helper.join()
    assert helper.result == [({}, math.inf)]


def test_carry_context_snapshots_the_context_when_wrapping() -> None:
    """The wrapper keeps the context of the moment it was made and can be called repeatedly."""
    with stalwart.bind(tenant="t"):
        wrapped = stalwart.carry_context(lambda: stalwart.value("tenant", None))
    assert wrapped() == "t"
    assert wrapped() == "t"
    assert stalwart.value("tenant", None) is None


def test_start_thread_carries_the_context(clock: FakeClock) -> None:
    """`start_thread` runs its function with the caller's values, deadline and clock."""
    seen: list[object] = []

    def read(extra: str) -> None:
        seen.append((stalwart.value("tenant"), stalwart.current_deadline(), current_clock(), extra))

    with stalwart.bind(tenant="t"), stalwart.deadline(4):
        thread = stalwart.start_thread(read, "arg", name="stalwart-test")
        assert thread.name == "stalwart-test"
        thread.join(10)
    assert seen == [("t", 4.0, clock, "arg")]


# -- bad input and repr -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: stalwart.deadline(-1), ValueError),
        (lambda: stalwart.deadline(float("nan")), ValueError),
        (lambda: stalwart.deadline("1"), TypeError),
        (lambda: stalwart.deadline(True), TypeError),
        (lambda: stalwart.deadline(None), TypeError),
        (lambda: stalwart.move_on_after(-0.5), ValueError),
        (lambda: stalwart.sleep(-1), ValueError),
        (lambda: stalwart.sleep(float("nan")), ValueError),
    ],
    ids=[
        "deadline-negative",
        "deadline-nan",
        "deadline-str",
        "deadline-bool",
        "deadline-none",
        "move_on_after-negative",
        "sleep-negative",
        "sleep-nan",
    ],
)
def test_bad_seconds_are_refused_naming_the_parameter(
    make: Callable[[], object], error: type[Exception], clock: FakeClock
) -> None:
    """Negative, NaN and non-number seconds raise ValueError or TypeError naming `seconds`."""
    with pytest.raises(error, match="seconds"):
        make()
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_asleep_refuses_negative_seconds(clock: FakeClock) -> None:
    """`stalwart.asleep(-1)` raises ValueError naming `seconds`."""
    with pytest.raises(ValueError, match="seconds"):
        await stalwart.asleep(-1)


def test_deadline_inf_means_no_deadline_but_is_still_cancellable(clock: FakeClock) -> None:
    """`deadline(math.inf)` sets no deadline, yet its `cancel()` still works."""
    with pytest.raises(stalwart.Cancelled), stalwart.deadline(math.inf) as scope:
        assert stalwart.current_deadline() == math.inf
        assert stalwart.remaining() == math.inf
        clock.advance(1e6)
        stalwart.check()
        scope.cancel()
        stalwart.check()


def test_scope_repr_names_its_kind_and_state(clock: FakeClock) -> None:
    """A scope's repr says which kind it is and whether it is idle, active or cancelled."""
    scope = stalwart.deadline(2)
    assert "deadline" in repr(scope)
    assert "idle" in repr(scope)
    with scope:
        assert "active" in repr(scope)
        scope.cancel()
        assert "cancelled" in repr(scope)
        with pytest.raises(stalwart.Cancelled):
            stalwart.check()
    assert "move_on_after" in repr(stalwart.move_on_after(1))
    assert "cancel_scope" in repr(stalwart.cancel_scope())
