"""RetryBudget: a per-destination allowance that retries and hedges spend, so they cannot
turn an outage into a retry storm.

Finagle's rule: over the last `ttl` seconds, retries may not exceed
`ratio × requests + min_per_second × ttl`. Every call through a budgeted Retry or Hedge
deposits one request; every retry or hedge must withdraw one token first.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, final

from .._clock import current_clock
from .._events import Event, emit
from .._exceptions import RetryBudgetExhausted
from .._state.partitions import DEFAULT_MAX_PARTITIONS, Partitions
from .._state.store import MEMORY, StateStore
from .._state.window import RollingWindow
from .._validation import check_number
from ._base import KeyFunction, options_repr, partition_key, partitions_of

__all__ = ["RetryBudget", "RetryBudgetExhaustedEvent", "RetryBudgetStatistics"]

_REQUESTS = 0
_RETRIES = 1
_BUCKETS = 10


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryBudgetExhaustedEvent(Event):
    """A retry or hedge for partition `key` was refused: the budget had nothing left."""

    name: ClassVar[str] = "retry_budget_exhausted"
    level: ClassVar[int] = logging.WARNING
    key: object
    requests: float
    retries: float

    def message(self) -> str:
        return (
            f"{self.strategy}: no retry left for {self.key!r} "
            f"({self.retries:g} retries for {self.requests:g} requests in the window)"
        )


@final
@dataclass(frozen=True, slots=True)
class RetryBudgetStatistics:
    """A snapshot of one partition of a budget.

    `available` is how many more retries the budget would allow right now.
    """

    key: object
    requests: float
    retries: float
    available: float


@final
class _BudgetState:
    """One partition's counts; every operation is atomic under its own lock."""

    __slots__ = ("_lock", "_window", "floor", "ratio")

    def __init__(self, ratio: float, floor: float, ttl: float) -> None:
        self.ratio = ratio
        self.floor = floor
        self._window = RollingWindow(length=ttl, buckets=_BUCKETS, fields=2)
        self._lock = threading.Lock()

    def deposit(self, now: float) -> None:
        lock = self._lock
        lock.acquire()  # not `with`: this is every call's path, and `with` costs twice as much
        try:
            self._window.add(now, _REQUESTS)
        finally:
            lock.release()

    def try_withdraw(self, now: float) -> tuple[bool, float, float]:
        """Spend one retry if the budget allows it; return (allowed, requests, retries)."""
        with self._lock:
            requests, retries = self._window.totals(now)
            if retries + 1 > self.ratio * requests + self.floor:
                return False, requests, retries
            self._window.add(now, _RETRIES)
            return True, requests, retries + 1

    def snapshot(self, key: object, now: float) -> RetryBudgetStatistics:
        with self._lock:
            requests, retries = self._window.totals(now)
        available = max(0.0, math.floor(self.ratio * requests + self.floor - retries))
        return RetryBudgetStatistics(key, requests, retries, available)


@final
# Compared by identity: each instance owns its state (its slots, tokens or counts).
@dataclass(frozen=True, slots=True, kw_only=True, repr=False, eq=False)
class RetryBudget:
    """A budget of retries per destination, shared by every Retry and Hedge given it.

    ```python
    budget = stalwart.RetryBudget(key=lambda request: request.url.host)
    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError, budget=budget),
    )
    ```

    Over the last `ttl` seconds, retries (and hedges) may not exceed
    `ratio × requests + min_per_second × ttl`. Under a full outage that bounds the load
    a client sends to `1 + ratio` times its calls (plus the small reserve), where three
    attempts per call without a budget would send three times as much.

    - `ratio=0.1`: retries allowed per request (in [0, 1]; 0 leaves only the reserve).
    - `min_per_second=1.0`: a reserve so that low traffic can still retry (>= 0).
    - `ttl=10.0`: the window, in seconds (> 0), kept in 10 buckets.
    - `key=None`: a function of the call's arguments picking the partition (the
      destination); `None` means one budget for every call.
    - `max_partitions=1024`: partitions kept (least recently used evicted).

    When a Retry finds the budget spent, it stops and hands back the last outcome with
    a note, as when its attempts run out.
    """

    ratio: float = 0.1
    min_per_second: float = 1.0
    ttl: float = 10.0
    key: KeyFunction | None = None
    max_partitions: int = DEFAULT_MAX_PARTITIONS
    store: StateStore = field(default=MEMORY, compare=False)
    name: str = "retry_budget"
    _partitions: Partitions[_BudgetState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_number("ratio", self.ratio, minimum=0, maximum=1)
        check_number("min_per_second", self.min_per_second, minimum=0)
        check_number("ttl", self.ttl, above=0)
        object.__setattr__(
            self, "_partitions", partitions_of(self, "retry_budget", self._new_state)
        )

    __repr__ = options_repr

    def _new_state(self, key: Hashable) -> _BudgetState:
        return _BudgetState(self.ratio, self.min_per_second * self.ttl, self.ttl)

    # -- spending --------------------------------------------------------------------

    def replace(self, **changes: Any) -> RetryBudget:
        """A copy with some options changed (and fresh, empty state), validated again."""
        return dataclasses.replace(self, **changes)

    def key_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
        """The partition of a call with these arguments."""
        return partition_key(self.key, args, kwargs)

    def _deposit_call(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
        """Record one request for the partition of a call with these arguments (what a
        Retry or Hedge does as a call starts); return the partition's key."""
        pick = self.key  # key_of and deposit, inlined: this is every call's path
        key: Hashable = None if pick is None else pick(*args, **kwargs)
        self._partitions.get(key).deposit(current_clock().monotonic())
        return key

    def deposit(self, key: Hashable = None) -> None:
        """Record one request (a call, not an attempt) for partition `key`."""
        self._partitions.get(key).deposit(current_clock().monotonic())

    def try_withdraw(self, key: Hashable = None) -> bool:
        """Spend one retry or hedge for `key`: True if allowed (and spent), else False.

        A refusal emits a `RetryBudgetExhaustedEvent`.
        """
        allowed, requests, retries = self._partitions.get(key).try_withdraw(
            current_clock().monotonic()
        )
        if not allowed:
            emit(
                RetryBudgetExhaustedEvent(
                    strategy=self.name, key=key, requests=requests, retries=retries
                )
            )
        return allowed

    def withdraw(self, key: Hashable = None) -> None:
        """Spend one retry for `key`, or raise `RetryBudgetExhausted` (for code that retries
        by hand and wants the budget's verdict as an exception)."""
        if not self.try_withdraw(key):
            raise RetryBudgetExhausted(
                f"retry budget {self.name!r} has no retry left for {key!r}", key=key
            )

    def statistics(self, key: Hashable = None) -> RetryBudgetStatistics:
        """A snapshot of partition `key` (an unseen key reports a fresh budget)."""
        state = self._partitions.peek(key) or self._new_state(key)
        return state.snapshot(key, current_clock().monotonic())
