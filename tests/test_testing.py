"""stalwart.testing: the FakeClock (virtual time) and instant_retries."""

from __future__ import annotations

import math
import threading

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

import stalwart
from stalwart._clock import current_clock
from stalwart.testing import FakeClock, instant_retries

# -- time and randomness --------------------------------------------------------------------


def test_fake_clock_starts_at_start_and_wall_start() -> None:
    """`monotonic()` starts at `start` and `wall()` at `wall_start`; defaults are 0 and 1.7e9."""
    assert FakeClock().monotonic() == 0.0
    assert FakeClock().wall() == 1_700_000_000.0
    clock = FakeClock(start=5.0, wall_start=1000.0)
    assert clock.monotonic() == 5.0
    assert clock.wall() == 1000.0


def test_advance_moves_monotonic_and_wall_time_together() -> None:
    """`advance(s)` moves both clocks by s: `wall()` stays `wall_start` + elapsed."""
    clock = FakeClock(start=5.0, wall_start=1000.0)
    clock.advance(2.5)
    assert clock.monotonic() == 7.5
    assert clock.wall() == 1002.5
    clock.advance(0)
    assert clock.monotonic() == 7.5


@pytest.mark.parametrize("seconds", [-1, -1e-9, math.nan, -math.inf])
def test_advance_refuses_negative_and_nan(seconds: float) -> None:
    """`advance()` with a negative or NaN amount raises ValueError and leaves time alone."""
    clock = FakeClock()
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(seconds)
    assert clock.monotonic() == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [{"start": math.inf}, {"start": math.nan}, {"wall_start": -math.inf}, {"wall_start": math.nan}],
    ids=["start-inf", "start-nan", "wall_start-inf", "wall_start-nan"],
)
def test_fake_clock_refuses_non_finite_starts(kwargs: dict[str, float]) -> None:
    """A FakeClock cannot start at an infinite or NaN time."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FakeClock(**kwargs)


def test_random_repeats_for_a_seed_and_differs_for_another() -> None:
    """`random()` gives the same samples in [0, 1) for the same seed and others for another seed."""
    a, b, c = FakeClock(seed=7), FakeClock(seed=7), FakeClock(seed=8)
    samples_a = [a.random() for _ in range(5)]
    assert samples_a == [b.random() for _ in range(5)]
    assert samples_a != [c.random() for _ in range(5)]
    assert all(0.0 <= sample < 1.0 for sample in samples_a)
    assert len(set(samples_a)) == 5


def test_fake_clock_implements_the_clock_protocol() -> None:
    """A FakeClock is a `stalwart.Clock`, so `use_clock` accepts it."""
    clock = FakeClock()
    assert isinstance(clock, stalwart.Clock)
    with stalwart.use_clock(clock):
        assert current_clock() is clock


# -- installing ---------------------------------------------------------------------------


def test_with_block_installs_the_clock_and_restores_the_previous_one() -> None:
    """`with FakeClock() as c:` makes c the current clock and puts the previous one back after."""
    before = current_clock()
    with FakeClock() as clock:
        assert current_clock() is clock
    assert current_clock() is before


def test_installs_nest() -> None:
    """Nested installs (of different clocks or the same one) each restore what they replaced."""
    before = current_clock()
    outer, inner = FakeClock(), FakeClock()
    with outer:
        with inner:
            assert current_clock() is inner
            with outer:
                assert current_clock() is outer
            assert current_clock() is inner
        assert current_clock() is outer
    assert current_clock() is before


def test_installed_clock_restores_even_when_the_block_raises() -> None:
    """Leaving the block by an exception still restores the previous clock."""
    before = current_clock()
    with pytest.raises(ZeroDivisionError), FakeClock():
        _ = 1 / 0
    assert current_clock() is before


def test_repr_shows_time_and_mode() -> None:
    """The repr shows the current time and whether the clock autojumps."""
    clock = FakeClock(start=3.0, autojump=False, seed=4)
    assert "now=3" in repr(clock)
    assert "autojump=False" in repr(clock)


# -- timers ---------------------------------------------------------------------------------


def test_timers_fire_in_order_of_their_time_during_advance() -> None:
    """`call_at` timers fire during `advance()` in order of time, each seeing its own time."""
    clock = FakeClock()
    fired: list[tuple[str, float]] = []
    for name, when in (("c", 3.0), ("a", 1.0), ("b", 2.0), ("later", 10.0)):
        clock.call_at(when, lambda name=name: fired.append((name, clock.monotonic())))
    clock.advance(1.5)
    assert fired == [("a", 1.0)]
    clock.advance(3.5)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.monotonic() == 5.0


def test_timers_due_at_the_same_time_fire_in_scheduling_order() -> None:
    """Timers due at the same moment fire in the order they were scheduled."""
    clock = FakeClock()
    fired: list[int] = []
    for number in range(5):
        clock.call_at(1.0, lambda number=number: fired.append(number))
    clock.advance(1)
    assert fired == [0, 1, 2, 3, 4]


def test_a_cancelled_timer_never_fires() -> None:
    """A timer cancelled before it is due never fires; cancelling twice is harmless."""
    clock = FakeClock()
    fired: list[str] = []
    timer = clock.call_at(1.0, lambda: fired.append("cancelled one"))
    clock.call_at(2.0, lambda: fired.append("kept"))
    timer.cancel()
    timer.cancel()
    clock.advance(5)
    assert fired == ["kept"]


def test_a_timer_in_the_past_fires_at_once() -> None:
    """A timer whose time has already come fires inside `call_at` itself."""
    clock = FakeClock(start=10.0)
    fired: list[float] = []
    clock.call_at(3.0, lambda: fired.append(clock.monotonic()))
    assert fired == [10.0]
    clock.call_at(10.0, lambda: fired.append(clock.monotonic()))
    assert fired == [10.0, 10.0]


def test_a_timer_scheduled_by_a_timer_fires_in_the_same_advance() -> None:
    """A timer set by another timer's callback fires within the same `advance()` if it is due."""
    clock = FakeClock()
    fired: list[float] = []

    def first() -> None:
        fired.append(clock.monotonic())
        clock.call_at(2.0, lambda: fired.append(clock.monotonic()))

    clock.call_at(1.0, first)
    clock.advance(3)
    assert fired == [1.0, 2.0]


# -- sleeping ---------------------------------------------------------------------------------


def test_autojump_sync_sleep_returns_at_once_with_time_advanced() -> None:
    """With autojump a sync sleep returns immediately, the clock moved by its duration."""
    with FakeClock() as clock:
        stalwart.sleep(3)
        assert clock.monotonic() == 3.0
        clock.sleep(2, threading.Event())
        assert clock.monotonic() == 5.0
        assert clock.sleepers == 0


def test_sync_sleep_with_its_interrupt_set_returns_without_moving_time() -> None:
    """`clock.sleep` returns at once, time unmoved, when its interrupt event is already set."""
    clock = FakeClock()
    interrupt = threading.Event()
    interrupt.set()
    clock.sleep(5, interrupt)
    assert clock.monotonic() == 0.0


def test_autojump_sync_sleep_fires_timers_on_the_way() -> None:
    """An autojumping sleep fires the timers that fall inside it, at their own times."""
    clock = FakeClock()
    fired: list[float] = []
    clock.call_at(1.0, lambda: fired.append(clock.monotonic()))
    clock.sleep(2, threading.Event())
    assert fired == [1.0]
    assert clock.monotonic() == 2.0


@pytest.mark.anyio
async def test_autojump_async_sleepers_wake_in_order_of_their_wake_time() -> None:
    """Two tasks sleeping 2 s and 1 s wake in order of wake time; the clock ends at 2.0."""
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await stalwart.asleep(seconds)
        woke.append(name)

    with FakeClock() as clock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(nap, "two", 2.0)
            tg.start_soon(nap, "one", 1.0)
        assert woke == ["one", "two"]
        assert clock.monotonic() == 2.0
        assert clock.sleepers == 0


@pytest.mark.anyio
async def test_autojump_async_sleepers_each_wake_at_their_own_time() -> None:
    """A task woken from a 1 s sleep sees the clock at 1.0, not at a later sleeper's wake time."""
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await stalwart.asleep(seconds)
        woke.append((name, current_clock().monotonic()))

    with FakeClock() as clock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(nap, "three", 3.0)
            tg.start_soon(nap, "two", 2.0)
            tg.start_soon(nap, "one", 1.0)
        assert woke == [("one", 1.0), ("two", 2.0), ("three", 3.0)]
        assert clock.monotonic() == 3.0


@pytest.mark.anyio
async def test_autojump_async_sleep_lets_ready_tasks_run_before_jumping() -> None:
    """An async sleep does not jump time while another task is still ready to run."""
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(3):
            seen.append(current_clock().monotonic())
            await anyio.lowlevel.checkpoint()

    with FakeClock() as clock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stalwart.asleep, 5.0)
            tg.start_soon(busy)
        assert seen == [0.0, 0.0, 0.0]
        assert clock.monotonic() == 5.0


@pytest.mark.anyio
async def test_async_sleep_of_zero_does_not_move_time() -> None:
    """`asleep(0)` is just a checkpoint: the clock does not move."""
    with FakeClock() as clock:
        await stalwart.asleep(0)
        assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_without_autojump_an_async_sleeper_waits_for_advance() -> None:
    """With `autojump=False` an async sleep ends only once another task advances to its end."""
    woke: list[float] = []

    async def nap() -> None:
        await stalwart.asleep(5)
        woke.append(current_clock().monotonic())

    with FakeClock(autojump=False) as clock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(nap)
            while clock.sleepers < 1:
                await anyio.lowlevel.checkpoint()
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            assert woke == []
            clock.advance(4.5)
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            assert woke == []
            assert clock.sleepers == 1
            clock.advance(0.5)
        assert woke == [5.0]
        assert clock.sleepers == 0


@pytest.mark.anyio
async def test_without_autojump_an_async_sleeper_is_woken_by_advance_from_a_thread() -> None:
    """An async sleeper is woken by `advance()` called from another thread."""
    with FakeClock(autojump=False) as clock:

        def drive() -> None:
            clock.wait_for_sleepers(1, timeout=10)
            clock.advance(3)

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, drive)
            await stalwart.asleep(3)
        assert clock.monotonic() == 3.0


def test_sleepers_counts_a_sync_sleep_in_another_thread() -> None:
    """`sleepers` counts a sync sleep in progress; `wait_for_sleepers` returns once it starts."""
    clock = FakeClock(autojump=False)
    assert clock.sleepers == 0
    interrupt = threading.Event()
    thread = threading.Thread(target=clock.sleep, args=(10, interrupt), daemon=True)
    thread.start()
    try:
        clock.wait_for_sleepers(1, timeout=10)
        assert clock.sleepers == 1
    finally:
        interrupt.set()
        thread.join(10)
    assert not thread.is_alive()
    assert clock.sleepers == 0
    assert clock.monotonic() == 0.0


@pytest.mark.realtime
def test_without_autojump_a_sync_sleep_in_a_thread_ends_on_advance() -> None:
    """A sync sleep on a non-jumping clock ends when another thread advances past its end."""
    clock = FakeClock(autojump=False)
    thread = threading.Thread(target=clock.sleep, args=(10, threading.Event()), daemon=True)
    thread.start()
    clock.wait_for_sleepers(1, timeout=10)
    clock.advance(9)
    thread.join(0.05)
    assert thread.is_alive()
    clock.advance(1)
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.realtime
def test_wait_for_sleepers_times_out_when_nobody_sleeps() -> None:
    """`wait_for_sleepers` raises TimeoutError after its timeout when no sleep begins."""
    clock = FakeClock()
    with pytest.raises(TimeoutError):
        clock.wait_for_sleepers(1, timeout=0.05)


def test_wait_for_sleepers_returns_at_once_when_enough_are_sleeping() -> None:
    """`wait_for_sleepers(0)` needs nobody and returns at once."""
    FakeClock().wait_for_sleepers(0, timeout=0)


# -- instant_retries ---------------------------------------------------------------------------


def flaky(failures: int) -> tuple[list[int], object]:
    """A function that raises ConnectionError `failures` times, then returns "ok"; and its calls."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionError(f"attempt {len(calls)} failed")
        return "ok"

    return calls, call


def constant_retry(max_attempts: int = 3) -> stalwart.Pipeline:
    """A pipeline that retries ConnectionError after a constant 5 s wait."""
    return stalwart.Pipeline(
        stalwart.Retry(
            on=ConnectionError,
            max_attempts=max_attempts,
            backoff=stalwart.Backoff.constant(5.0),
        )
    )


def test_without_instant_retries_the_backoff_waits(clock: FakeClock) -> None:
    """Outside `instant_retries` the same pipeline waits 5 s between attempts (the control)."""
    calls, call = flaky(2)
    assert constant_retry().call(call) == "ok"
    assert len(calls) == 3
    assert clock.monotonic() == 10.0


def test_instant_retries_make_backoff_waits_zero(clock: FakeClock) -> None:
    """Inside `instant_retries()` a retried call succeeds without any wait on the clock."""
    calls, call = flaky(2)
    with instant_retries():
        assert constant_retry().call(call) == "ok"
    assert len(calls) == 3
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_instant_retries_make_async_backoff_waits_zero(clock: FakeClock) -> None:
    """Inside `instant_retries()` an async retried call also waits zero time."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionError("down")
        return "ok"

    with instant_retries():
        assert await constant_retry().acall(call) == "ok"
    assert len(calls) == 3
    assert clock.monotonic() == 0.0


def test_instant_retries_with_max_attempts_one_stops_after_one_attempt(clock: FakeClock) -> None:
    """`instant_retries(max_attempts=1)` makes a failing call raise after exactly one attempt."""
    calls, call = flaky(5)
    with instant_retries(max_attempts=1), pytest.raises(ConnectionError, match="attempt 1"):
        constant_retry().call(call)
    assert len(calls) == 1
    assert clock.monotonic() == 0.0


def test_instant_retries_max_attempts_never_raises_the_retry_own_limit(
    clock: FakeClock,
) -> None:
    """A larger `max_attempts` in `instant_retries` does not add attempts beyond the Retry's own."""
    calls, call = flaky(5)
    with instant_retries(max_attempts=10), pytest.raises(ConnectionError):
        constant_retry(max_attempts=3).call(call)
    assert len(calls) == 3


def test_instant_retries_restores_the_previous_mode(clock: FakeClock) -> None:
    """After the block, retries wait again as before."""
    with instant_retries():
        pass
    _, call = flaky(2)
    assert constant_retry().call(call) == "ok"
    assert clock.monotonic() == 10.0


def test_instant_retries_restores_the_previous_mode_after_an_exception(
    clock: FakeClock,
) -> None:
    """Leaving the block by an exception restores the previous mode too."""
    with pytest.raises(ZeroDivisionError), instant_retries(max_attempts=1):
        _ = 1 / 0
    calls, call = flaky(2)
    assert constant_retry().call(call) == "ok"
    assert len(calls) == 3
    assert clock.monotonic() == 10.0


def test_nested_instant_retries_restore_the_outer_mode(clock: FakeClock) -> None:
    """Leaving an inner `instant_retries(max_attempts=1)` brings back the outer block's mode."""
    with instant_retries():
        with instant_retries(max_attempts=1):
            calls, call = flaky(2)
            with pytest.raises(ConnectionError):
                constant_retry().call(call)
            assert len(calls) == 1
        calls, call = flaky(2)
        assert constant_retry().call(call) == "ok"  # all attempts again, still no waits
        assert len(calls) == 3
        assert clock.monotonic() == 0.0
    calls, call = flaky(2)
    assert constant_retry().call(call) == "ok"
    assert clock.monotonic() == 10.0


def test_instant_retries_apply_to_other_threads(clock: FakeClock) -> None:
    """The mode is process-wide: a retry running in another thread waits zero time too."""
    calls, call = flaky(2)
    results: list[object] = []
    with instant_retries():
        thread = stalwart.start_thread(lambda: results.append(constant_retry().call(call)))
        thread.join(10)
    assert results == ["ok"]
    assert len(calls) == 3
    assert clock.monotonic() == 0.0


@pytest.mark.parametrize(
    ("max_attempts", "error"),
    [
        pytest.param(0, ValueError, id="zero"),
        pytest.param(-1, ValueError, id="negative"),
        pytest.param(False, TypeError, id="bool"),
        pytest.param(2.5, TypeError, id="float"),
        pytest.param("3", TypeError, id="string"),
    ],
)
def test_instant_retries_refuses_bad_max_attempts(
    max_attempts: object, error: type[Exception]
) -> None:
    """`instant_retries(max_attempts=...)` takes an int >= 1; anything else names the parameter."""
    with (
        pytest.raises(error, match="max_attempts"),
        instant_retries(max_attempts=max_attempts),  # type: ignore[arg-type]
    ):
        pass


def test_instant_retries_blocks_closing_out_of_order_restore_normal_waits(clock: FakeClock) -> None:
    """Blocks opened A, B and closed A, B (as two threads may) leave no testing mode behind."""
    first, second = instant_retries(), instant_retries()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError
        return "ok"

    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError, backoff=stalwart.Backoff.constant(5.0))
    )
    assert pipeline.call(flaky) == "ok"
    assert clock.monotonic() == 5.0  # a real (virtual) wait again: testing mode is off


@pytest.mark.anyio
async def test_cancelled_timers_leave_the_fake_clock() -> None:
    """Thousands of finished deadline scopes leave no timers behind on the FakeClock."""
    with FakeClock() as clock:
        for _ in range(2000):
            async with stalwart.deadline(3600):
                pass
        assert clock._timers == []
