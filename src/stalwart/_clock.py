"""Time and randomness: the only module allowed to touch the real clock or `random`.

Every wait, timestamp and jitter sample in stalwart goes through the `Clock` that is
current in the calling context. Production code uses `SystemClock`; tests install
`stalwart.testing.FakeClock`, which makes every stalwart wait instant and repeatable.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, final, runtime_checkable

import anyio

__all__ = ["Clock", "SystemClock", "TimerHandle", "current_clock", "seeded_random", "use_clock"]


@runtime_checkable
class TimerHandle(Protocol):
    """What `Clock.call_at` returns: a way to disarm the timer before it fires."""

    def cancel(self) -> None:
        """Disarm the timer; calling it after the timer fired does nothing."""


@runtime_checkable
class Clock(Protocol):
    """The source of time and randomness for every stalwart strategy.

    Implement it to run stalwart on your own notion of time; `SystemClock` and
    `stalwart.testing.FakeClock` are the two that ship.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; deadlines are held on it."""

    def wall(self) -> float:
        """Seconds since the Unix epoch, for HTTP dates (`Retry-After`) and logs."""

    def random(self) -> float:
        """A uniform sample in [0, 1), the source of all jitter."""

    def sleep(self, seconds: float, interrupt: threading.Event) -> None:
        """Block for `seconds`, returning early as soon as `interrupt` is set."""

    async def asleep(self, seconds: float) -> None:
        """Wait for `seconds` in async code; cancellable like any await."""

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle | None:
        """Call `callback` once `monotonic()` reaches `when`.

        Return `None` when the clock is real time: async deadline scopes then use the
        event loop's own timers, which are exact and cost nothing.
        """


@final
class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, and a private `random.Random`.

    Sleeps wait on an event rather than `time.sleep`, so cancellation from another thread
    or a signal handler ends them at once, and Ctrl-C interrupts them on POSIX.
    """

    __slots__ = ("_random",)

    def __init__(self) -> None:
        self._random = random.Random()

    def __repr__(self) -> str:
        return "SystemClock()"

    # The C functions themselves, not wrappers: strategies read the clock on every call.
    monotonic = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def random(self) -> float:
        return self._random.random()

    def sleep(self, seconds: float, interrupt: threading.Event) -> None:
        if seconds > 0:
            # Event.wait rejects timeouts beyond TIMEOUT_MAX (inf included): wait unbounded.
            interrupt.wait(None if seconds >= threading.TIMEOUT_MAX else seconds)

    async def asleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle | None:
        return None


def seeded_random(seed: int) -> Callable[[], float]:
    """A repeatable source of uniform samples in [0, 1), for fake clocks and simulations."""
    return random.Random(seed).random


SYSTEM_CLOCK = SystemClock()

_current: contextvars.ContextVar[Clock] = contextvars.ContextVar(
    "stalwart.clock", default=SYSTEM_CLOCK
)

#: The fastest way to read the current clock; strategies call it on every call.
current_clock: Callable[[], Clock] = _current.get


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the current clock inside the block (and in tasks started from it)."""
    if not isinstance(clock, Clock):
        raise TypeError(f"clock must implement stalwart.Clock, got {clock!r}")
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
