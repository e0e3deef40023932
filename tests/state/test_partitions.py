"""Partitions: one state per key, LRU-bounded, sparing busy partitions."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import pytest

from stalwart._state.partitions import Partitions
from stalwart._state.window import RollingWindow


class State:
    """A partition state that says whether it is idle."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.busy = False

    def idle(self) -> bool:
        return not self.busy


def test_a_state_is_created_once_per_key() -> None:
    """The same key gives the same state; a new key a new one."""
    partitions = Partitions(State, max_size=4)
    first = partitions.get("a")
    assert partitions.get("a") is first
    assert partitions.get("b") is not first
    assert len(partitions) == 2


def test_the_least_recently_used_idle_partition_goes_first() -> None:
    """Beyond max_size the oldest idle key is evicted; using a key makes it young again."""
    partitions = Partitions(State, max_size=2)
    partitions.get("a")
    partitions.get("b")
    partitions.get("a")
    partitions.get("c")
    assert list(partitions.keys()) == ["a", "c"]


def test_busy_partitions_are_spared() -> None:
    """A busy partition survives a flood of new keys: they push each other out instead."""
    partitions = Partitions(State, max_size=3)
    partitions.get("api").busy = True
    for index in range(100):
        partitions.get(f"random-{index}")
    assert "api" in partitions
    assert len(partitions) == 3


def test_the_bound_is_hard_when_everything_is_busy() -> None:
    """With every partition busy, the oldest goes anyway: memory never exceeds max_size."""
    partitions = Partitions(State, max_size=2)
    partitions.get("a").busy = True
    partitions.get("b").busy = True
    partitions.get("c")
    assert list(partitions.keys()) == ["b", "c"]


def test_asking_again_for_the_latest_key_keeps_the_lru_order_right() -> None:
    """The latest key is answered without the lock (it is already the youngest): equal
    keys that are other objects hit too, and the order after such hits is still LRU."""
    partitions = Partitions(State, max_size=2)
    a = partitions.get("a")
    partitions.get("b")
    partitions.get("a")
    assert partitions.get("".join(["a"])) is a  # an equal string, not the same object
    partitions.get("c")  # evicts b, the least recently used
    assert list(partitions.keys()) == ["a", "c"]
    assert partitions.get("c") is partitions.get("c")


def test_the_latest_key_is_forgotten_with_everything_else() -> None:
    """clear() and eviction never leave the latest lookup's state behind to be handed out."""
    partitions = Partitions(State, max_size=1)
    first = partitions.get("a")
    partitions.clear()
    assert partitions.get("a") is not first
    again = partitions.get("a")
    partitions.get("b")  # evicts a
    assert partitions.get("a") is not again
    assert len(partitions) == 1


def test_states_without_idle_are_evicted_plainly() -> None:
    """A state with no idle() method is always evictable, oldest first."""
    partitions: Partitions[object] = Partitions(lambda key: object(), max_size=1)
    partitions.get("a")
    partitions.get("b")
    assert list(partitions.keys()) == ["b"]


def test_peek_neither_creates_nor_refreshes() -> None:
    """peek() returns None for unknown keys and leaves the LRU order alone."""
    partitions = Partitions(State, max_size=2)
    assert partitions.peek("a") is None
    assert len(partitions) == 0
    partitions.get("a")
    partitions.get("b")
    assert partitions.peek("a") is not None
    partitions.get("c")
    assert "a" not in partitions  # peek did not make "a" young


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_max_size_must_be_a_positive_int(size: object) -> None:
    """max_partitions below 1, or not an int, is refused naming the parameter."""
    with pytest.raises((ValueError, TypeError), match="max_partitions"):
        Partitions(State, max_size=size)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Key:
    """A key whose hash is Python code, which lets other threads run mid-lookup."""

    n: int


@pytest.mark.parametrize("make_key", [int, Key], ids=["int-keys", "python-hash-keys"])
def test_lookups_and_evictions_from_many_threads_keep_the_bound(
    make_key: Callable[[int], Hashable],
) -> None:
    """Threads finding, creating and evicting at once: nothing fails, every lookup gets
    a state for its own key, the bound holds."""
    partitions: Partitions[State] = Partitions(State, max_size=8)
    failures: list[BaseException] = []
    wrong: list[tuple[Hashable, Hashable]] = []

    def hammer(seed: int) -> None:
        try:
            for i in range(4000):
                key = make_key((seed * 7 + i) % 24 if i % 3 else seed)  # hot key and churn
                state = partitions.get(key)
                if state.key != key:
                    wrong.append((key, state.key))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(4)]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert failures == []
    assert wrong == []
    assert len(partitions) <= 8


def test_rolling_window_counts_across_bucket_edges() -> None:
    """The newest bucket's end, kept to skip arithmetic, moves with time."""
    window = RollingWindow(length=1.0, buckets=4, fields=1)
    for now in (0.0, 0.24, 0.25, 0.49, 0.5, 0.99, 1.0, 1.24):
        window.add(now, 0)
    assert window.totals(1.24) == [6.0]  # 0.25 s buckets: the two before 0.25 s left
    assert window.totals(1.74) == [3.0]
    assert window.totals(2.5) == [0.0]


def test_rolling_window_drops_buckets_as_time_moves() -> None:
    """Counts leave the window bucket by bucket and all at once after a long gap."""
    window = RollingWindow(length=10.0, buckets=10, fields=2)
    window.add(0.5, 0)
    window.add(5.0, 0)
    window.add(9.9, 1)
    assert window.totals(9.9) == [2.0, 1.0]
    assert window.totals(10.5) == [1.0, 1.0]  # the 0.5 s bucket left
    assert window.totals(15.1) == [0.0, 1.0]
    assert window.totals(100.0) == [0.0, 0.0]


def test_rolling_window_counts_a_clock_step_back_in_the_newest_bucket() -> None:
    """A timestamp before the newest bucket is counted, not lost or misplaced."""
    window = RollingWindow(length=10.0, buckets=10, fields=1)
    window.add(5.0, 0)
    window.add(3.0, 0)
    assert window.totals(5.0) == [2.0]


@pytest.mark.parametrize(
    ("options", "name"),
    [
        pytest.param({"length": 0.0, "buckets": 10}, "window", id="zero-window"),
        pytest.param({"length": float("nan"), "buckets": 10}, "window", id="nan-window"),
        pytest.param({"length": 10.0, "buckets": 0}, "buckets", id="zero-buckets"),
    ],
)
def test_rolling_window_validates(options: dict[str, float], name: str) -> None:
    """Bad window options raise naming the parameter."""
    with pytest.raises(ValueError, match=name):
        RollingWindow(fields=1, **options)  # type: ignore[arg-type]
