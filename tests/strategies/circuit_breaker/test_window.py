"""The breaker's windows: the last N calls, and the last N seconds in buckets."""

from __future__ import annotations

import pytest

from stalwart._strategies.circuit_breaker._window import CountWindow, TimeWindow


def test_count_window_keeps_the_last_n_calls() -> None:
    """A count window of 3 forgets the oldest call as each new one arrives."""
    window = CountWindow(size=3)
    window.record(0.0, True, False)
    window.record(0.0, True, True)
    window.record(0.0, False, True)
    assert window.totals(0.0) == (3, 2, 2)
    window.record(0.0, False, False)  # drops the first (failed) call
    assert window.totals(0.0) == (3, 1, 2)
    window.record(0.0, False, False)  # drops the second (failed, slow) call
    assert window.totals(0.0) == (3, 0, 1)


def test_count_window_ignores_time() -> None:
    """A count window counts calls however long ago they happened."""
    window = CountWindow(size=2)
    window.record(0.0, True, False)
    assert window.totals(1e9) == (1, 1, 0)


def test_count_window_clear() -> None:
    """Clearing a count window forgets every call, and counting starts over."""
    window = CountWindow(size=2)
    window.record(0.0, True, True)
    window.clear()
    assert window.totals(0.0) == (0, 0, 0)
    window.record(0.0, True, False)
    window.record(0.0, False, False)
    window.record(0.0, False, False)
    assert window.totals(0.0) == (2, 0, 0)


def test_count_window_rejects_an_empty_size() -> None:
    """A window of zero calls is refused, naming window_calls."""
    with pytest.raises(ValueError, match="window_calls"):
        CountWindow(size=0)


def test_time_window_drops_old_buckets() -> None:
    """A 10 s window in 10 buckets keeps a call for 9 to 10 s, then forgets it."""
    window = TimeWindow(length=10.0, buckets=10)
    window.record(0.5, True, False)
    window.record(3.2, False, True)
    assert window.totals(9.9) == (2, 1, 1)
    assert window.totals(10.0) == (1, 0, 1)  # bucket [0, 1) is now out
    assert window.totals(12.9) == (1, 0, 1)
    assert window.totals(13.0) == (0, 0, 0)  # and now bucket [3, 4)


def test_time_window_clear() -> None:
    """Clearing a time window forgets every call."""
    window = TimeWindow(length=10.0, buckets=2)
    window.record(1.0, True, True)
    window.clear()
    assert window.totals(1.0) == (0, 0, 0)


def test_window_reprs_show_the_counts() -> None:
    """Both windows describe their shape and counts in their repr."""
    count = CountWindow(size=5)
    count.record(0.0, True, False)
    assert repr(count) == "<CountWindow last 5 calls: 1 calls, 1 failed, 0 slow>"
    timed = TimeWindow(length=30.0, buckets=10)
    timed.record(0.0, False, True)
    assert repr(timed) == "<TimeWindow 30 s in 10 buckets: 1 calls, 0 failed, 1 slow>"
