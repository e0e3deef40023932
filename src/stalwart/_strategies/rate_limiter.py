"""RateLimiter: a token bucket per partition; a call spends one token or is refused.

The bucket is `TokenBucket`, an I/O-free object whose operations take the time as an
argument and are atomic: take a token now, or reserve the next one that arrives within
a given wait (so concurrent waiters line up one token apart, as in resilience4j's
`AtomicRateLimiter`), and give back a reservation that will not be used. The sync and
async drivers below only read the clock, sleep until a reserved token is due, and call.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, final

from .. import _context
from .._clock import current_clock
from .._context import Context, cancellable_asleep, cancelled_error
from .._events import Event, emit
from .._exceptions import Cancelled, RateLimited
from .._state.partitions import DEFAULT_MAX_PARTITIONS, Partitions
from .._state.store import MEMORY, StateStore
from .._validation import check_int, check_number
from ._base import (
    KeyFunction,
    Runner,
    Strategy,
    options_repr,
    partition_key,
    partitions_of,
)

__all__ = [
    "RateLimiter",
    "RateLimiterDelayed",
    "RateLimiterRejected",
    "RateLimiterStatistics",
    "Reservation",
    "TokenBucket",
]

_INF: Final = math.inf

#: Waits this short count as none: floating-point rounding (a clock advanced by exactly a
#: `retry_after`) must not turn "now" into a wait of 1e-17 s.
_EPSILON: Final = 1e-6


# -- events ---------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimiterRejected(Event):
    """Partition `key` had no token for a call (none now, or none soon enough to wait for).

    The call raised `RateLimited` and never started; `retry_after` is the time until
    the bucket would have a token for a caller arriving at that moment.
    """

    name: ClassVar[str] = "rate_limiter_rejected"
    level: ClassVar[int] = logging.WARNING
    key: Hashable
    retry_after: float

    def message(self) -> str:
        return (
            f"{self.strategy}: rejected a call{_for_key(self.key)}: the next token comes in "
            f"{self.retry_after:.3f} s"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimiterDelayed(Event):
    """A call in partition `key` reserved a future token and waits `delay` seconds for it."""

    name: ClassVar[str] = "rate_limiter_delayed"
    level: ClassVar[int] = logging.DEBUG
    key: Hashable
    delay: float

    def message(self) -> str:
        return f"{self.strategy}: a call{_for_key(self.key)} waits {self.delay:.3f} s for a token"


def _for_key(key: object) -> str:
    return "" if key is None else f" for key {key!r}"


# -- the bucket -----------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimiterStatistics:
    """A snapshot of one partition's bucket.

    `available` is the tokens in the bucket now, between 0 and `capacity` and possibly
    fractional while one refills; it is 0 while callers wait for reserved tokens, and
    `waiting` counts those callers. A partition never used (or evicted) is full.
    """

    available: float
    waiting: int
    capacity: int
    rate: float
    per: float


@final
@dataclass(frozen=True, slots=True)
class Reservation:
    """`TokenBucket.take`'s answer.

    Granted: the call may start after `delay` seconds (0.0: at once); a positive delay
    holds a reserved future token, identified by `ticket`, to be settled with
    `TokenBucket.done`. Refused: nothing changed, and `delay` is the wait a caller
    arriving now would face (the `retry_after`).
    """

    granted: bool
    delay: float
    ticket: float = math.nan


_NOW: Final = Reservation(True, 0.0)


@final
class TokenBucket:
    """A token bucket of `capacity` tokens refilled at one token every `interval` seconds.

    Held in the GCRA form: one number, the "theoretical arrival time" `tat` at which the
    bucket would be full again, so a token can be reserved before it exists (the bucket
    goes into debt) and concurrent waiters line up one `interval` apart. Every method
    takes the time as `now`, does no I/O, and holds the lock only for a few arithmetic
    operations. Over any span of t seconds it grants at most `capacity + t / interval`
    tokens.
    """

    __slots__ = ("_lock", "_tat", "_tolerance", "capacity", "interval", "waiting")

    def __init__(self, *, capacity: int, interval: float) -> None:
        self.capacity = capacity
        self.interval = interval
        # How far `tat` may run ahead of now with a token still available.
        self._tolerance = (capacity - 1) * interval
        self._tat = -_INF
        #: callers holding a reservation for a future token, not yet settled
        self.waiting = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenBucket capacity={self.capacity} interval={self.interval:g} s>"

    def idle(self) -> bool:
        """Nobody waiting for a token: safe to evict (a fresh bucket starts full, which
        at worst grants one burst early)."""
        return self.waiting == 0

    def take(self, now: float, max_wait: float) -> Reservation:
        """Take a token at `now`, or reserve the next one if it comes within `max_wait`
        seconds (>= 0; `inf` for any wait); otherwise refuse, changing nothing."""
        with self._lock:
            start = self._tat if self._tat > now else now
            delay = start - self._tolerance - now
            if delay <= _EPSILON:
                self._tat = start + self.interval
                return _NOW
            if delay > max_wait:
                return Reservation(False, delay)
            self._tat = ticket = start + self.interval
            self.waiting += 1
            return Reservation(True, delay, ticket)

    def done(self, reservation: Reservation, *, used: bool) -> None:
        """Settle a reservation with a positive delay: the caller went on (`used`), or gave
        up waiting. An unused token is given back when nobody has reserved after it;
        otherwise it is lost (later callers already count on the time slots after it)."""
        with self._lock:
            self.waiting -= 1
            if not used and self._tat == reservation.ticket:
                self._tat -= self.interval

    def available(self, now: float) -> float:
        """The tokens in the bucket at `now`: from 0 to `capacity`, fractional while refilling."""
        with self._lock:
            ahead = self._tat - now if self._tat > now else 0.0
        return min(float(self.capacity), max(0.0, self.capacity - ahead / self.interval))


# -- options --------------------------------------------------------------------------------


def _max_wait(wait: object) -> float:
    if isinstance(wait, bool):
        return _INF if wait else 0.0
    if not isinstance(wait, int | float):
        raise TypeError(f"wait must be True, False or a number of seconds, got {wait!r}")
    return check_number("wait", wait, minimum=0, allow_inf=True)


@final
# Compared by identity: each instance owns its state (its slots, tokens or counts).
@dataclass(frozen=True, slots=True, kw_only=True, repr=False, eq=False)
class RateLimiter(Strategy):
    """Let calls through at `rate` per `per` seconds, in bursts of up to `burst`: a token bucket.

    ```python
    stalwart.RateLimiter(rate=10)                        # 10 at once, then 10 per second
    stalwart.RateLimiter(rate=100, per=60, burst=5)      # 100 a minute, at most 5 at once
    stalwart.RateLimiter(rate=5, wait=True)              # wait for a token, within the deadline
    stalwart.RateLimiter(rate=5, key=lambda request: request.url.host)   # per host
    ```

    Each call spends one token. The bucket holds up to `burst` tokens and gains one every
    `per / rate` seconds, so over any span of t seconds at most `burst + rate·t/per`
    calls pass. A call that finds no token raises `RateLimited`, whose `retry_after` is
    exactly the time until the next token (an outer `Retry` honours it as a hint).

    Options, with their defaults:

    - `rate` (required, a finite number > 0): tokens added per `per` seconds.
    - `per=1.0`: the period of `rate`, in seconds (finite, > 0).
    - `burst=None`: the bucket size, an int >= 1; None means `rate` rounded down, and
      at least 1 (`rate=10` gives 10, `rate=0.5` gives 1). See `capacity`.
    - `wait=False`: whether a call without a token waits for the next one. `False`:
      refuse at once. `True`: wait if the token comes before the context's deadline
      (any wait when there is none). A number of seconds: wait at most that long, and
      never past the deadline. A call never starts a wait that would end at or after
      the deadline: it is refused at once instead. Waiting calls reserve their token,
      so they go through one `per / rate` apart, in order; `scope.cancel()` ends a wait
      at once with `Cancelled` and gives the token back when nobody reserved after it.
    - `key=None`: a function of the call's arguments choosing its partition, each with
      its own bucket. None means one bucket for every call.
    - `max_partitions=1024`: buckets kept, least recently used evicted (an int >= 1);
      an evicted bucket comes back full.
    - `store=MEMORY`: where the buckets live.
    - `name="rate_limiter"`: how events and errors name this strategy.

    The bucket is full at first. A token is spent when the call starts, whatever its
    outcome. The state belongs to the instance: the same `RateLimiter` in several
    pipelines shares its buckets; `replace()` returns one with fresh, full buckets.
    """

    rate: float
    per: float = 1.0
    burst: int | None = None
    wait: bool | float = False
    key: KeyFunction | None = None
    max_partitions: int = DEFAULT_MAX_PARTITIONS
    store: StateStore = field(default=MEMORY, compare=False)
    name: str = "rate_limiter"
    _max_wait: float = field(init=False, repr=False, compare=False)
    _partitions: Partitions[TokenBucket] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_number("rate", self.rate, above=0))
        object.__setattr__(self, "per", check_number("per", self.per, above=0))
        if not 0 < self.interval < math.inf:
            raise ValueError(
                f"rate must leave a representable interval between tokens: rate={self.rate!r} "
                f"per {self.per!r} s gives per / rate = {self.interval!r}"
            )
        if self.burst is not None:
            check_int("burst", self.burst, minimum=1)
        max_wait = _max_wait(self.wait)
        object.__setattr__(self, "_max_wait", max_wait)
        if not isinstance(self.wait, bool):
            object.__setattr__(self, "wait", max_wait)
        capacity, interval = self.capacity, self.interval
        partitions = partitions_of(
            self, "rate_limiter", lambda key: TokenBucket(capacity=capacity, interval=interval)
        )
        object.__setattr__(self, "_partitions", partitions)

    @property
    def capacity(self) -> int:
        """The bucket size: `burst`, or by default `rate` rounded down (at least 1)."""
        if self.burst is not None:
            return self.burst
        return max(1, math.floor(self.rate))

    @property
    def interval(self) -> float:
        """Seconds between two tokens: `per / rate`."""
        return self.per / self.rate

    def replace(self, **changes: Any) -> RateLimiter:
        """A copy with some options changed, validated again, with fresh (full) buckets."""
        return dataclasses.replace(self, **changes)

    def statistics(self, key: Hashable = None) -> RateLimiterStatistics:
        """A snapshot of partition `key`'s bucket (None: the only bucket when there is no
        key function). It never creates a partition."""
        bucket = self._partitions.peek(key)
        if bucket is None:
            available, waiting = float(self.capacity), 0
        else:
            available, waiting = bucket.available(current_clock().monotonic()), bucket.waiting
        return RateLimiterStatistics(
            available=available,
            waiting=waiting,
            capacity=self.capacity,
            rate=self.rate,
            per=self.per,
        )

    __repr__ = options_repr

    def _bind(self, inner: Runner) -> Runner:
        return _RateLimiterRunner(self, inner)


# -- drivers --------------------------------------------------------------------------------


@final
class _RateLimiterRunner:
    __slots__ = ("_inner", "_key", "_limiter", "_max_wait", "_partitions")

    def __init__(self, limiter: RateLimiter, inner: Runner) -> None:
        self._limiter = limiter
        self._inner = inner
        self._key = limiter.key
        self._max_wait = limiter._max_wait
        self._partitions = limiter._partitions

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        ctx = _context.current()
        bucket, key, reservation = self._take(ctx, args, kwargs)
        if reservation.delay > 0:
            self._sleep(ctx, bucket, key, reservation)
        return self._inner.call(fn, args, kwargs)

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        ctx = _context.current()
        bucket, key, reservation = self._take(ctx, args, kwargs)
        if reservation.delay > 0:
            try:
                await cancellable_asleep(ctx, reservation.delay)
            except BaseException as exc:
                bucket.done(reservation, used=False)
                self._note_cancelled(exc, key, reservation)
                raise
            bucket.done(reservation, used=True)
        return await self._inner.acall(fn, args, kwargs)

    def _take(
        self, ctx: Context, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[TokenBucket, Hashable, Reservation]:
        """Check the context, then take or reserve a token; raise `RateLimited` if none."""
        _context.check()
        key = partition_key(self._key, args, kwargs)
        bucket = self._partitions.get(key)
        now = current_clock().monotonic()
        remaining = ctx.deadline - now
        max_wait = self._max_wait
        # A wait must end strictly before the deadline, leaving the call some time.
        if max_wait > 0 and remaining - _EPSILON < max_wait:
            max_wait = max(0.0, remaining - _EPSILON)
        reservation = bucket.take(now, max_wait)
        limiter = self._limiter
        if not reservation.granted:
            retry_after = reservation.delay
            emit(RateLimiterRejected(strategy=limiter.name, key=key, retry_after=retry_after))
            if self._max_wait == 0:
                why = ""
            elif retry_after <= self._max_wait:
                why = f"; waiting for it would outlast the deadline ({remaining:.3f} s left)"
            else:
                why = f"; that is longer than wait={self._max_wait:g} s"
            raise RateLimited(
                f"{limiter.name} has no token{_for_key(key)}: the next one comes in "
                f"{retry_after:.3f} s (rate={limiter.rate:g} per {limiter.per:g} s, "
                f"burst={limiter.capacity}){why}",
                retry_after=retry_after,
                key=key,
            )
        if reservation.delay > 0:
            emit(RateLimiterDelayed(strategy=limiter.name, key=key, delay=reservation.delay))
        return bucket, key, reservation

    def _sleep(
        self, ctx: Context, bucket: TokenBucket, key: Hashable, reservation: Reservation
    ) -> None:
        """Sync: sleep on the clock until the reserved token is due; cancellation wakes it."""
        clock = current_clock()
        token = ctx.token
        interrupt = token.event if token is not None else threading.Event()
        due = clock.monotonic() + reservation.delay
        try:
            while not interrupt.is_set():
                left = due - clock.monotonic()
                if left <= 0:
                    break
                clock.sleep(left, interrupt)
            if token is not None and token.origin is not None:
                raise cancelled_error(token)
        except BaseException as exc:
            bucket.done(reservation, used=False)
            self._note_cancelled(exc, key, reservation)
            raise
        bucket.done(reservation, used=True)

    def _note_cancelled(self, exc: BaseException, key: Hashable, reservation: Reservation) -> None:
        if isinstance(exc, Cancelled):
            exc.add_note(
                f"stalwart: cancelled while {self._limiter.name} waited "
                f"{reservation.delay:.3f} s for a token{_for_key(key)}; the call never started"
            )
