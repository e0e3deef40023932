"""Bulkhead: a cap on concurrent calls, with an optional bounded queue of waiting callers.

Admission is decided by `BulkheadState`, one I/O-free object per partition whose
operations are atomic: take a free slot, join the queue, hand a slot to the longest
waiter, leave the queue. The sync and async drivers below only wait for the hand-over
(woken by it, by cancellation or by the deadline) and call; they decide nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, final

import anyio

from .. import _context
from .._clock import Clock, current_clock
from .._context import CancelToken, Context, _loop_caller, cancelled_error, deadline_error
from .._events import Event, emit
from .._exceptions import BulkheadFull, StalwartError
from .._state.partitions import DEFAULT_MAX_PARTITIONS, Partitions
from .._state.store import MEMORY, StateStore
from .._validation import check_int
from ._base import (
    KeyFunction,
    Runner,
    Strategy,
    options_repr,
    partitions_of,
)

__all__ = [
    "Bulkhead",
    "BulkheadRejected",
    "BulkheadState",
    "BulkheadStatistics",
    "BulkheadWaited",
]

_INF: Final = math.inf
_current: Final = _context.current


# -- events ---------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadRejected(Event):
    """Every slot of partition `key` was taken and its queue full: the call was refused.

    `in_flight`, `waiting`, `max_concurrent` and `max_queue` describe the partition at
    the moment of refusal. The call raised `BulkheadFull` and never started.
    """

    name: ClassVar[str] = "bulkhead_rejected"
    level: ClassVar[int] = logging.WARNING
    key: Hashable
    in_flight: int
    waiting: int
    max_concurrent: int
    max_queue: int

    def message(self) -> str:
        return (
            f"{self.strategy}: rejected a call{_for_key(self.key)}: {self.in_flight} in flight "
            f"(max_concurrent={self.max_concurrent}), {self.waiting} waiting "
            f"(max_queue={self.max_queue})"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadWaited(Event):
    """A call waited `waited` seconds in partition `key`'s queue.

    `admitted` is True when it got a slot and went on, False when the deadline or a
    cancellation ended the wait first (the call then raised and never started).
    """

    name: ClassVar[str] = "bulkhead_waited"
    level: ClassVar[int] = logging.DEBUG
    key: Hashable
    waited: float
    admitted: bool

    def message(self) -> str:
        outcome = "got a slot" if self.admitted else "gave up without a slot"
        return f"{self.strategy}: a call{_for_key(self.key)} {outcome} after {self.waited:.3f} s"


def _for_key(key: object) -> str:
    return "" if key is None else f" for key {key!r}"


# -- statistics and state -------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadStatistics:
    """A snapshot of one partition: calls holding a slot and callers waiting for one.

    A partition that was never used (or was evicted) shows `in_flight=0, waiting=0`.
    """

    in_flight: int
    waiting: int
    max_concurrent: int
    max_queue: int

    @property
    def available(self) -> int:
        """Free slots: `max_concurrent - in_flight`."""
        return self.max_concurrent - self.in_flight


@final
class _Waiter:
    """One queued caller. `granted` flips under the state's lock when a slot is handed over;
    `wake` then tells the waiting thread or task (it must not block)."""

    __slots__ = ("granted", "wake")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.granted = False
        self.wake = wake


@final
class BulkheadState:
    """One partition's slots and FIFO queue; every operation is atomic, quick and I/O-free.

    The lock is held only inside these methods, never while a call runs or waits. Slots
    are handed over, not freed and re-taken: while anyone waits, a released slot goes to
    the longest waiter and a newcomer cannot barge in ahead of the queue. So the queue is
    non-empty only while every slot is taken.
    """

    __slots__ = ("_lock", "_queue", "in_flight", "max_concurrent", "max_queue")

    def idle(self) -> bool:
        """No call in flight and none waiting: safe to evict."""
        return self.in_flight == 0 and not self._queue

    def __init__(self, *, max_concurrent: int, max_queue: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        #: calls holding a slot, including waiters granted one that have not resumed yet
        self.in_flight = 0
        self._queue: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<BulkheadState in_flight={self.in_flight}/{self.max_concurrent} "
            f"waiting={len(self._queue)}/{self.max_queue}>"
        )

    @property
    def waiting(self) -> int:
        """Callers in the queue."""
        return len(self._queue)

    def try_acquire(self) -> bool:
        """Take a free slot if there is one and nobody is waiting for it."""
        lock = self._lock
        lock.acquire()  # not `with`: this is every call's path, and `with` costs twice as much
        try:
            if self.in_flight < self.max_concurrent and not self._queue:
                self.in_flight += 1
                return True
            return False
        finally:
            lock.release()

    def enqueue(self, waiter: _Waiter) -> bool:
        """Give `waiter` a free slot at once (`waiter.granted`), or queue it if there is room.

        Return False, changing nothing, when every slot is taken and the queue is full.
        """
        with self._lock:
            if self.in_flight < self.max_concurrent and not self._queue:
                self.in_flight += 1
                waiter.granted = True
                return True
            if len(self._queue) < self.max_queue:
                self._queue.append(waiter)
                return True
            return False

    def release(self) -> _Waiter | None:
        """Give a slot back: hand it to the longest waiter, returned so the caller can wake
        it outside the lock, or free it when nobody waits."""
        lock = self._lock
        lock.acquire()  # not `with`: this is every call's path
        try:
            if self._queue:
                waiter = self._queue.popleft()
                waiter.granted = True
                return waiter
            self.in_flight -= 1
            return None
        finally:
            lock.release()

    def settle(self, waiter: _Waiter) -> bool:
        """End `waiter`'s wait: True if it holds a slot (it must release it), False if it
        was still queued (it leaves the queue)."""
        with self._lock:
            if waiter.granted:
                return True
            self._queue.remove(waiter)
            return False

    def statistics(self) -> BulkheadStatistics:
        """A consistent snapshot of this partition."""
        with self._lock:
            return BulkheadStatistics(
                in_flight=self.in_flight,
                waiting=len(self._queue),
                max_concurrent=self.max_concurrent,
                max_queue=self.max_queue,
            )


def _release(state: BulkheadState) -> None:
    waiter = state.release()
    if waiter is not None:
        waiter.wake()


# -- options --------------------------------------------------------------------------------


@final
# Compared by identity: each instance owns its state (its slots, tokens or counts).
@dataclass(frozen=True, slots=True, kw_only=True, repr=False, eq=False)
class Bulkhead(Strategy):
    """Cap how many calls run at once, with an optional bounded queue of waiting callers.

    ```python
    stalwart.Bulkhead(max_concurrent=10)                  # an 11th call at once: BulkheadFull
    stalwart.Bulkhead(max_concurrent=10, max_queue=50)    # 50 more may wait for a slot
    stalwart.Bulkhead(max_concurrent=8, key=lambda request: request.url.host)  # per host
    ```

    Options, with their defaults:

    - `max_concurrent` (required, an int >= 1): calls running at once in a partition.
    - `max_queue=0`: callers that may wait for a slot (an int >= 0). With 0 (the
      default, as resilience4j's `maxWaitDuration=0`) a call that finds every slot taken
      raises `BulkheadFull` at once; so does one that finds the queue full.
    - `key=None`: a function of the call's arguments choosing its partition, each with
      its own slots and queue (a per-destination cap, like Go's `MaxConnsPerHost`).
      None means one partition for every call.
    - `max_partitions=1024`: partitions kept, least recently used evicted (an int >= 1).
      An evicted partition starts empty if its key returns, so keep it above the number
      of keys busy at the same time.
    - `store=MEMORY`: where the partitions live.
    - `name="bulkhead"`: how events and errors name this strategy.

    Waiting is fair: a freed slot is handed to the caller that has waited longest, and no
    newcomer overtakes the queue. A wait is bounded by the caller's context: the
    deadline ends it with `DeadlineExceeded` (with a note saying how long it waited), and
    `scope.cancel()` ends it at once with `Cancelled`, from any thread. The deadline
    gives `DeadlineExceeded` rather than `BulkheadFull` because the caller's time, not
    the bulkhead's room, ran out: it is what every stalwart wait raises at the deadline
    (so `move_on_after` ends quietly and async cancel scopes agree with sync ones).
    `BulkheadFull` always means "refused at once, every slot and queue place taken".
    A call that arrives already cancelled or past its deadline is refused before
    taking a slot.

    A slot is held for the whole call inside the bulkhead (retries included when the
    bulkhead is outside a `Retry`, its recommended place) and given back however the
    call ends, cancellation included. Threads and tasks (asyncio or trio) may share one
    bulkhead. The state belongs to the instance: the same `Bulkhead` in several pipelines
    shares its slots; `replace()` returns one with fresh, empty state.
    """

    max_concurrent: int
    max_queue: int = 0
    key: KeyFunction | None = None
    max_partitions: int = DEFAULT_MAX_PARTITIONS
    store: StateStore = field(default=MEMORY, compare=False)
    name: str = "bulkhead"
    _partitions: Partitions[BulkheadState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_int("max_concurrent", self.max_concurrent, minimum=1)
        check_int("max_queue", self.max_queue, minimum=0)
        max_concurrent, max_queue = self.max_concurrent, self.max_queue
        partitions = partitions_of(
            self,
            "bulkhead",
            lambda key: BulkheadState(max_concurrent=max_concurrent, max_queue=max_queue),
        )
        object.__setattr__(self, "_partitions", partitions)

    def replace(self, **changes: Any) -> Bulkhead:
        """A copy with some options changed, validated again, with fresh (empty) state."""
        return dataclasses.replace(self, **changes)

    def statistics(self, key: Hashable = None) -> BulkheadStatistics:
        """A snapshot of partition `key` (None: the only partition when there is no key
        function). It never creates a partition."""
        state = self._partitions.peek(key)
        if state is None:
            return BulkheadStatistics(
                in_flight=0,
                waiting=0,
                max_concurrent=self.max_concurrent,
                max_queue=self.max_queue,
            )
        return state.statistics()

    __repr__ = options_repr

    def _bind(self, inner: Runner) -> Runner:
        return _BulkheadRunner(self, inner)


# -- drivers --------------------------------------------------------------------------------


def _done(token: CancelToken | None) -> bool:
    return token is not None and token.origin is not None


@final
class _BulkheadRunner:
    __slots__ = ("_bulkhead", "_inner", "_key", "_partitions")

    def __init__(self, bulkhead: Bulkhead, inner: Runner) -> None:
        self._bulkhead = bulkhead
        self._inner = inner
        self._key = bulkhead.key
        self._partitions = bulkhead._partitions

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        ctx = _current()  # _context.check's tests, inlined: this is every call's path
        token = ctx.token
        if (token is not None and token.origin is not None) or (
            ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline
        ):
            _context.check()
        pick = self._key  # partition_key, inlined: this is every call's path
        key: Hashable = None if pick is None else pick(*args, **kwargs)
        state = self._partitions.get(key)
        if not state.try_acquire():
            self._wait(state, key)
        try:
            return self._inner.call(fn, args, kwargs)
        finally:
            waiter = state.release()  # _release, inlined: this is every call's path
            if waiter is not None:
                waiter.wake()

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        ctx = _current()  # _context.check's tests, inlined: this is every call's path
        token = ctx.token
        if (token is not None and token.origin is not None) or (
            ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline
        ):
            _context.check()
        pick = self._key  # partition_key, inlined: this is every call's path
        key: Hashable = None if pick is None else pick(*args, **kwargs)
        state = self._partitions.get(key)
        if not state.try_acquire():
            await self._await(state, key)
        try:
            return await self._inner.acall(fn, args, kwargs)
        finally:
            waiter = state.release()  # _release, inlined: this is every call's path
            if waiter is not None:
                waiter.wake()

    def _enqueue(self, state: BulkheadState, key: Hashable, waiter: _Waiter) -> None:
        if state.enqueue(waiter):
            return
        stats = state.statistics()
        bulkhead = self._bulkhead
        emit(
            BulkheadRejected(
                strategy=bulkhead.name,
                key=key,
                in_flight=stats.in_flight,
                waiting=stats.waiting,
                max_concurrent=stats.max_concurrent,
                max_queue=stats.max_queue,
            )
        )
        room = "no queue" if stats.max_queue == 0 else f"{stats.waiting} already waiting"
        raise BulkheadFull(
            f"{bulkhead.name} is full{_for_key(key)}: {stats.in_flight} of "
            f"{stats.max_concurrent} slots taken and {room} (max_queue={stats.max_queue})",
            key=key,
        )

    def _wait(self, state: BulkheadState, key: Hashable) -> None:
        """Sync: wait on an event set by the hand-over or by cancellation, up to the deadline."""
        woken = threading.Event()
        waiter = _Waiter(woken.set)
        self._enqueue(state, key, waiter)
        if waiter.granted:
            return
        ctx = _context.current()
        clock = current_clock()
        started = clock.monotonic()
        token = ctx.token
        unsubscribe = token.on_cancel(woken.set) if token is not None else None
        try:
            while not woken.is_set():
                left = ctx.deadline - clock.monotonic()
                if left <= 0:
                    break
                clock.sleep(left, woken)
        except BaseException:
            self._abandon(state, key, waiter, clock.monotonic() - started)
            raise
        finally:
            if unsubscribe is not None:
                unsubscribe()
        self._settle(state, key, waiter, ctx, clock, started)

    async def _await(self, state: BulkheadState, key: Hashable) -> None:
        """Async: wait on an event set by the hand-over, in a cancel scope that cancellation
        and the deadline (on the stalwart clock) cancel."""
        call_in_loop = _loop_caller()
        woken = anyio.Event()
        waiter = _Waiter(lambda: call_in_loop(woken.set))
        self._enqueue(state, key, waiter)
        if waiter.granted:
            return
        ctx = _context.current()
        clock = current_clock()
        started = clock.monotonic()
        try:
            while not woken.is_set() and not _done(ctx.token):
                if clock.monotonic() >= ctx.deadline:
                    break
                await _wait_until(woken, ctx, clock, call_in_loop)
        except BaseException:
            self._abandon(state, key, waiter, clock.monotonic() - started)
            raise
        self._settle(state, key, waiter, ctx, clock, started)

    def _abandon(self, state: BulkheadState, key: Hashable, waiter: _Waiter, waited: float) -> None:
        """The wait was interrupted by an exception (an outer cancel scope, Ctrl-C): leave
        the queue, or pass on a slot granted meanwhile."""
        if state.settle(waiter):
            _release(state)
        emit(BulkheadWaited(strategy=self._bulkhead.name, key=key, waited=waited, admitted=False))

    def _settle(
        self,
        state: BulkheadState,
        key: Hashable,
        waiter: _Waiter,
        ctx: Context,
        clock: Clock,
        started: float,
    ) -> None:
        """After a wait: go on with the slot, or give it back and raise what ended the wait."""
        admitted = state.settle(waiter)
        now = clock.monotonic()
        token = ctx.token
        cancelled = _done(token)
        name = self._bulkhead.name
        if admitted and not cancelled and now < ctx.deadline:
            emit(BulkheadWaited(strategy=name, key=key, waited=now - started, admitted=True))
            return
        if admitted:
            _release(state)
        emit(BulkheadWaited(strategy=name, key=key, waited=now - started, admitted=False))
        error: StalwartError
        if cancelled:
            assert token is not None
            error = cancelled_error(token)
            reason = "it was cancelled"
        else:
            error = deadline_error(ctx.deadline)
            reason = "the deadline passed"
        error.add_note(
            f"stalwart: {name} queued the call{_for_key(key)} for a slot for "
            f"{now - started:.3f} s, then {reason}; the call never started"
        )
        raise error


async def _wait_until(
    woken: anyio.Event,
    ctx: Context,
    clock: Clock,
    call_in_loop: Callable[[Callable[[], None]], None],
) -> None:
    """Wait for `woken`, ending early (without raising) on cancellation or at the deadline."""
    with anyio.CancelScope() as scope:
        disarm: list[Callable[[], None]] = []
        token = ctx.token
        if token is not None:
            disarm.append(token.on_cancel(lambda: call_in_loop(scope.cancel)))
        if ctx.deadline != _INF:
            # A virtual clock fires the expiry itself; real time uses the loop's timer.
            timer = clock.call_at(ctx.deadline, lambda: call_in_loop(scope.cancel))
            if timer is None:
                scope.deadline = anyio.current_time() + (ctx.deadline - clock.monotonic())
            else:
                disarm.append(timer.cancel)
        try:
            await woken.wait()
        finally:
            for undo in disarm:
                undo()
