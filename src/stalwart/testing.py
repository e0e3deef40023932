"""Helpers for testing code that uses stalwart: virtual time and instant retries.

```python
from stalwart.testing import FakeClock, instant_retries

def test_retries_then_succeeds():
    with FakeClock() as clock:                 # every stalwart wait is now instant
        assert pipeline.call(flaky) == "ok"
        assert clock.monotonic() == pytest.approx(0.3)   # the backoff that was "slept"

def test_my_service():
    with instant_retries():                    # retries in your own code wait zero time
        ...
```
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import final

import anyio
import anyio.lowlevel

from ._clock import Clock, seeded_random, use_clock
from ._context import _loop_caller, _running_trio
from ._flaky import FaultKind, Faults, FlakyServer, FlakyStatistics, RecordedRequest
from ._strategies.retry import TestingMode, pop_testing_mode, push_testing_mode
from ._validation import check_int

__all__ = [
    "FakeClock",
    "FaultKind",
    "Faults",
    "FlakyServer",
    "FlakyStatistics",
    "RecordedRequest",
    "instant_retries",
]


@dataclass(order=True, slots=True)
class _Timer:
    when: float
    seq: int
    callback: Callable[[], None] | None = field(compare=False)
    clock: FakeClock | None = field(compare=False, default=None)

    def cancel(self) -> None:
        self.callback = None
        if self.clock is not None:
            self.clock._discard_timer(self)
            self.clock = None


@dataclass(order=True, slots=True, unsafe_hash=True)
class _AsyncSleeper:
    wake: float
    seq: int
    wake_up: Callable[[], None] = field(compare=False)
    event: anyio.Event = field(compare=False)


@final
class FakeClock:
    """A virtual clock: stalwart's waits take no real time, and time moves only on demand.

    Install it with `with FakeClock() as clock:` (it becomes the current clock for the
    block and for tasks and carried threads started from it); `clock.advance(seconds)`
    moves time forward and fires whatever falls due, deadlines included.

    With `autojump=True` (the default), a stalwart sleep moves time forward by itself as
    soon as nothing earlier is waiting, like trio's `MockClock(autojump_threshold=0)`:
    sync sleeps jump at once; an async sleep first lets the other ready tasks run, then
    the earliest sleeper jumps. With `autojump=False` sleeps wait until another thread or
    task calls `advance()`, which lets a test act while a sleep is in progress.

    `monotonic()` starts at `start` (default 0.0); `wall()` starts at `wall_start`
    (default 1,700,000,000.0, a fixed date in 2023) and moves with it. `random()` comes
    from a generator seeded with `seed` (default 0), so jitter repeats run after run.
    """

    def __init__(
        self,
        *,
        start: float = 0.0,
        wall_start: float = 1_700_000_000.0,
        seed: int = 0,
        autojump: bool = True,
    ) -> None:
        for name, number in (("start", start), ("wall_start", wall_start)):
            if not math.isfinite(number):
                raise ValueError(f"{name} must be a finite number, got {number!r}")
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._random = seeded_random(seed)
        self._seed = seed
        self._autojump = autojump
        self._lock = threading.Lock()
        self._moved = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._timers: list[_Timer] = []
        self._async_sleepers: list[_AsyncSleeper] = []
        # Sleepers a jump has woken that have not run yet: no jump until they have.
        self._woken: set[_AsyncSleeper] = set()
        self._sync_sleepers = 0
        self._installs: list[AbstractContextManager[Clock]] = []

    def __repr__(self) -> str:
        return f"<FakeClock now={self._now:g} autojump={self._autojump} seed={self._seed}>"

    # -- the Clock protocol -------------------------------------------------------

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def random(self) -> float:
        return self._random()

    def sleep(self, seconds: float, interrupt: threading.Event) -> None:
        if seconds <= 0 or interrupt.is_set():
            return
        # An endless sleep never jumps (time would reach infinity): it waits for its interrupt.
        autojump = self._autojump and math.isfinite(seconds)
        with self._lock:
            wake = self._now + seconds
            self._sync_sleepers += 1
            self._moved.notify_all()
        try:
            while not interrupt.is_set():
                with self._lock:
                    if self._now >= wake:
                        return
                    if not autojump:
                        # A short real wait: the interrupt is an Event we cannot join.
                        self._moved.wait(0.001)
                        continue
                    target = min(wake, self._timers[0].when) if self._timers else wake
                # Stop at each timer on the way: it may cancel this very sleep.
                self._jump_to(target)
        finally:
            with self._lock:
                self._sync_sleepers -= 1

    async def asleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        call_in_loop = _loop_caller()

        def wake_up() -> None:
            call_in_loop(sleeper.event.set)

        with self._lock:
            sleeper = _AsyncSleeper(self._now + seconds, next(self._seq), wake_up, anyio.Event())
            heapq.heappush(self._async_sleepers, sleeper)
            self._moved.notify_all()
        autojump = self._autojump and math.isfinite(seconds)
        try:
            while self._now < sleeper.wake:
                if autojump:
                    # Time moves only once every other task is blocked, as with trio's
                    # MockClock: ready tasks run (and register earlier sleeps) first.
                    await _wait_all_other_tasks_blocked(lambda: self._is_earliest(sleeper))
                    with self._lock:
                        my_turn = (
                            bool(self._async_sleepers)
                            and self._async_sleepers[0] is sleeper
                            and not self._woken
                        )
                        target = sleeper.wake
                        if self._timers:
                            target = min(target, self._timers[0].when)
                    if my_turn:
                        # Stop at each timer on the way and let the cancellation it may
                        # have caused (a deadline scope expiring) reach this task.
                        self._jump_to(target)
                        await anyio.lowlevel.checkpoint()
                        continue
                await sleeper.event.wait()
                with self._lock:
                    sleeper.event = anyio.Event()
                    self._woken.discard(sleeper)
            await anyio.lowlevel.checkpoint()
        finally:
            self._forget(sleeper)

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, next(self._seq), callback)
        with self._lock:
            due = when <= self._now
            if not due:
                timer.clock = self
                heapq.heappush(self._timers, timer)
        if due:
            callback()
        return timer

    def _discard_timer(self, timer: _Timer) -> None:
        # Cancelled timers leave the heap at once: a test opening thousands of deadline
        # scopes would otherwise keep them all, and every jump would stop at each.
        with self._lock:
            try:
                self._timers.remove(timer)
            except ValueError:
                return
            heapq.heapify(self._timers)

    # -- driving time -----------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (>= 0), firing every timer and sleep that falls due."""
        if not seconds >= 0:  # also rejects NaN
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._jump_to(self._now + seconds)

    @property
    def sleepers(self) -> int:
        """How many stalwart sleeps (sync and async) are waiting on this clock right now."""
        with self._lock:
            return self._sync_sleepers + len(self._async_sleepers)

    def wait_for_sleepers(self, count: int = 1, *, timeout: float = 10.0) -> None:
        """Block (in real time, up to `timeout`) until `count` sleeps are waiting.

        For tests that act while another thread sleeps: start the thread, wait for its
        sleep to begin, then cancel or advance.
        """
        with self._lock:
            if not self._moved.wait_for(
                lambda: self._sync_sleepers + len(self._async_sleepers) >= count, timeout
            ):
                raise TimeoutError(f"no {count} sleeper(s) on {self!r} within {timeout} s")

    def _jump_to(self, target: float) -> None:
        while True:
            with self._lock:
                if self._timers and self._timers[0].when <= target:
                    timer = heapq.heappop(self._timers)
                    timer.clock = None
                    self._now = max(self._now, timer.when)
                    callback = timer.callback
                else:
                    self._now = max(self._now, target)
                    callback = None
            if callback is None:
                if self._now >= target:
                    break
                continue
            callback()
        woken: list[_AsyncSleeper] = []
        with self._lock:
            while self._async_sleepers and self._async_sleepers[0].wake <= self._now:
                woken.append(heapq.heappop(self._async_sleepers))
            self._woken.update(woken)
            self._moved.notify_all()
        for sleeper in woken:
            sleeper.wake_up()
        self._nudge_earliest()

    def _is_earliest(self, sleeper: _AsyncSleeper) -> bool:
        with self._lock:
            return bool(self._async_sleepers) and self._async_sleepers[0] is sleeper

    def _earliest_sleeper(self) -> _AsyncSleeper | None:
        with self._lock:
            return self._async_sleepers[0] if self._async_sleepers else None

    def _forget(self, sleeper: _AsyncSleeper) -> None:
        with self._lock:
            self._woken.discard(sleeper)
            if sleeper in self._async_sleepers:
                self._async_sleepers.remove(sleeper)
                heapq.heapify(self._async_sleepers)
            self._moved.notify_all()
        self._nudge_earliest()

    def _nudge_earliest(self) -> None:
        # The earliest sleeper may be parked on its event; wake it to take its turn.
        if self._autojump:
            earliest = self._earliest_sleeper()
            if earliest is not None:
                earliest.wake_up()

    # -- installing -----------------------------------------------------------

    def __enter__(self) -> FakeClock:
        install = use_clock(self)
        install.__enter__()
        self._installs.append(install)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._installs.pop().__exit__(exc_type, exc, tb)


async def _wait_all_other_tasks_blocked(still_needed: Callable[[], bool]) -> None:
    """Return once every other task of the event loop is blocked, on trio or asyncio,
    or as soon as `still_needed()` turns false (another sleeper took the lead)."""
    if _running_trio():
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    # anyio's own version polls with real 0.1 s sleeps; this one only yields.
    this = asyncio.current_task()
    while still_needed():
        await anyio.lowlevel.checkpoint()
        for task in asyncio.all_tasks():
            if task is this:
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                break  # a task that is ready to run: let it
        else:
            return


@contextmanager
def instant_retries(*, max_attempts: int | None = None) -> Iterator[None]:
    """Make every stalwart retry wait zero time inside the block, then restore the old mode.

    For your own test suite, where a real backoff would only slow the tests down. With
    `max_attempts`, retries also stop after that many attempts (1 turns them off). It
    applies process-wide, to every thread, while the block is open; blocks nest (the
    newest open one applies), and they may close in any order, from any thread.
    """
    if max_attempts is not None:
        check_int("max_attempts", max_attempts, minimum=1)
    mode = TestingMode(max_attempts=max_attempts)
    push_testing_mode(mode)
    try:
        yield
    finally:
        pop_testing_mode(mode)
