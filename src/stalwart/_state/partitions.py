"""A bounded, thread-safe map from partition keys to state objects."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar, final

from .._validation import check_int

__all__ = ["DEFAULT_MAX_PARTITIONS", "Partitions"]

S = TypeVar("S")

#: Enough for every upstream a service talks to; small enough that random keys cannot
#: grow memory without limit.
DEFAULT_MAX_PARTITIONS = 1024

#: How many of the oldest partitions eviction looks through for an idle one.
_EVICTION_SCAN = 16


@final
class Partitions(Generic[S]):
    """One state object per key, created on first use, least recently used evicted.

    The lock is held only to find or create an entry, never while a call runs. An
    evicted partition starts afresh if its key comes back: for a breaker that means
    closed, for a budget full. `max_size` must be >= 1.

    Eviction spares busy partitions: among the oldest few entries it evicts the first
    whose state says it is `idle()` (no call in flight, no waiter, no open circuit), so
    a stream of random keys cannot lift a bulkhead's limit or close an open circuit.
    Only when all of those are busy does the oldest go, which keeps the bound hard.
    """

    __slots__ = ("_create", "_entries", "_lock", "_recent", "max_size")

    def __init__(self, create: Callable[[Hashable], S], *, max_size: int) -> None:
        check_int("max_partitions", max_size, minimum=1)
        self._create = create
        self._entries: OrderedDict[Hashable, S] = OrderedDict()
        self._lock = threading.Lock()
        #: (key, state) of the latest lookup: asking for the most recently used key again
        #: needs no lock and no reordering (it is already last)
        self._recent: tuple[Hashable, S] | None = None
        self.max_size = max_size

    def __repr__(self) -> str:
        return f"<Partitions {len(self._entries)}/{self.max_size}>"

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> S:
        """The state for `key`, created if new, marked most recently used."""
        recent = self._recent  # one read: the pair cannot change under us
        if recent is not None and recent[0] == key:
            return recent[1]
        entries = self._entries
        lock = self._lock
        lock.acquire()  # not `with`: this is every call's path, and `with` costs twice as much
        try:
            state = entries.get(key)
            if state is not None:
                entries.move_to_end(key)
            else:
                state = entries[key] = self._create(key)
                if len(entries) > self.max_size:
                    self._evict(key)
            self._recent = (key, state)
            return state
        finally:
            lock.release()

    def _evict(self, newcomer: Hashable) -> None:
        entries = self._entries
        for candidate, (old_key, old_state) in enumerate(entries.items()):
            if candidate >= _EVICTION_SCAN or old_key == newcomer:
                break
            idle = getattr(old_state, "idle", None)
            if idle is None or idle():
                del entries[old_key]
                return
        entries.popitem(last=False)

    def peek(self, key: Hashable) -> S | None:
        """The state for `key` if it exists, without creating it or touching its age."""
        return self._entries.get(key)

    def keys(self) -> Iterator[Hashable]:
        """A snapshot of the keys, oldest first."""
        with self._lock:
            return iter(list(self._entries))

    def clear(self) -> None:
        """Forget every partition."""
        with self._lock:
            self._entries.clear()
            self._recent = None
