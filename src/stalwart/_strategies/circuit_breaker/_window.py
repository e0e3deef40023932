"""The breaker's memory of recent calls: over the last N seconds, or the last N calls.

Both windows count three things per call (the call, whether it failed, whether it was
slow) and answer with the totals. Neither is thread-safe: the breaker state that owns
one holds its lock. Time comes in as an argument, never from a clock.
"""

from __future__ import annotations

from typing import TypeAlias, final

from ..._state.window import RollingWindow

__all__ = ["CountWindow", "TimeWindow", "Window"]

_CALL = 0
_FAILURE = 1
_SLOW = 2


@final
class TimeWindow:
    """Calls over the last `length` seconds, in `buckets` time buckets (see `RollingWindow`)."""

    __slots__ = ("_rolling",)

    def __init__(self, *, length: float, buckets: int) -> None:
        self._rolling = RollingWindow(length=length, buckets=buckets, fields=3)

    def __repr__(self) -> str:
        calls, failures, slow = self._rolling.totals_now()
        rolling = self._rolling
        return (
            f"<TimeWindow {rolling.length:g} s in {rolling.buckets} buckets: "
            f"{calls:g} calls, {failures:g} failed, {slow:g} slow>"
        )

    def record(self, now: float, failed: bool, slow: bool) -> None:
        """Count one finished call at time `now`."""
        rolling = self._rolling
        rolling.add(now, _CALL)
        if failed:
            rolling.add(now, _FAILURE)
        if slow:
            rolling.add(now, _SLOW)

    def totals(self, now: float) -> tuple[int, int, int]:
        """`(calls, failures, slow calls)` in the window ending at `now`."""
        calls, failures, slow = self._rolling.totals(now)
        return int(calls), int(failures), int(slow)

    def clear(self) -> None:
        """Forget every call."""
        self._rolling.clear()


_RECORDED = 1
_FAILED_BIT = 2
_SLOW_BIT = 4


@final
class CountWindow:
    """The last `size` calls, whenever they happened: a ring buffer with running totals.

    Recording and reading are O(1), as in resilience4j's count-based sliding window.
    """

    __slots__ = ("_calls", "_failures", "_next", "_ring", "_slow", "size")

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError(f"window_calls must be >= 1, got {size!r}")
        self.size = size
        self._ring = bytearray(size)
        self._next = 0
        self._calls = 0
        self._failures = 0
        self._slow = 0

    def __repr__(self) -> str:
        return (
            f"<CountWindow last {self.size} calls: {self._calls} calls, "
            f"{self._failures} failed, {self._slow} slow>"
        )

    def record(self, now: float, failed: bool, slow: bool) -> None:
        """Count one finished call; the oldest of a full window drops out. `now` is unused."""
        ring = self._ring
        index = self._next
        old = ring[index]
        if old:
            self._calls -= 1
            if old & _FAILED_BIT:
                self._failures -= 1
            if old & _SLOW_BIT:
                self._slow -= 1
        flags = _RECORDED
        self._calls += 1
        if failed:
            flags |= _FAILED_BIT
            self._failures += 1
        if slow:
            flags |= _SLOW_BIT
            self._slow += 1
        ring[index] = flags
        index += 1
        self._next = 0 if index == self.size else index

    def totals(self, now: float) -> tuple[int, int, int]:
        """`(calls, failures, slow calls)` among the last `size` calls."""
        return self._calls, self._failures, self._slow

    def clear(self) -> None:
        """Forget every call."""
        self._ring = bytearray(self.size)
        self._next = self._calls = self._failures = self._slow = 0


Window: TypeAlias = TimeWindow | CountWindow
