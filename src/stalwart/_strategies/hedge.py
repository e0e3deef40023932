"""Hedge: when an attempt is slow, start another; the first acceptable outcome wins.

The decisions of one hedged call (start attempt n now? wake up when? which outcome ends
the call, and with which note?) live in the I/O-free `_Race`. The async driver runs
attempts as tasks of an anyio task group, the sync driver on a pool of daemon threads; both only
start attempts, wait on the clock and cancel the losers.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol, final, runtime_checkable

import anyio

from .. import _context
from .._clock import current_clock
from .._context import CancelToken, Context, Scope, deadline_error
from .._events import Event, emit
from .._exceptions import Cancelled
from .._outcome import (
    Classifier,
    Outcome,
    Verdict,
    classify_exceptions,
    is_cancellation,
    retry_forbidden,
)
from ._base import Runner, Strategy, WrongKind, check_name, options_repr
from .timeout import is_attempt_timeout

__all__ = [
    "Hedge",
    "HedgeBudget",
    "HedgeBudgetExhausted",
    "HedgeStarted",
    "HedgeWon",
    "LatencyPercentile",
]

_INF: Final = math.inf
#: Polly's range for MaxHedgedAttempts.
MAX_HEDGES: Final = 10
#: The most recent latencies a `LatencyPercentile` keeps, whatever its window.
MAX_SAMPLES: Final = 2048
#: Sync losers of one pipeline still running after their call returned; beyond this,
#: calls run unhedged in the caller's thread until some of them end.
MAX_ABANDONED_THREADS = 64
#: Seconds an idle worker of the sync attempt pool waits for more work before it exits.
WORKER_IDLE_TIMEOUT = 10.0


@final
class _Workers:
    """The small pool of daemon threads that run sync attempts.

    Threads are reused while work keeps coming and leave after `WORKER_IDLE_TIMEOUT`
    seconds idle, so a quiet process keeps none. They are daemon threads on purpose:
    a loser stuck in a call that cannot be interrupted must not hold up interpreter exit
    (a `ThreadPoolExecutor` joins its workers at exit). Tasks are plain callables that
    already carry their context.
    """

    __slots__ = ("_idle", "_lock", "_names", "_tasks")

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # idle workers not yet promised to a queued task
        self._names = itertools.count(1)

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1
        self._tasks.put(task)
        if not reuse:
            name = f"stalwart-hedge-worker-{next(self._names)}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                timeout = WORKER_IDLE_TIMEOUT
                task = self._tasks.get(timeout=timeout) if timeout > 0 else self._tasks.get_nowait()
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # nothing promised to this worker: leave
                        self._idle -= 1
                        return
                continue  # every idle worker is promised to a task already queued
            task()
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()


def _seconds(name: str, value: object, *, allow_inf: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0 or (math.isinf(value) and not allow_inf):
        kind = "a number of seconds >= 0" if allow_inf else "a finite number of seconds >= 0"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return float(value)


# -- the retry budget, as the hedge sees it ---------------------------------------------


@runtime_checkable
class HedgeBudget(Protocol):
    """What `Hedge(budget=...)` needs from a retry budget (`stalwart.RetryBudget` has it).

    The hedge asks `key_of` for the call's partition once, `deposit`s once per call, and
    `try_withdraw`s once per hedge it wants to start; a refusal means no hedge starts.
    """

    def key_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
        """The budget partition (a destination) of a call with these arguments."""

    def try_withdraw(self, key: Hashable) -> bool:
        """Take one retry from partition `key`; False when the budget has none left."""

    def deposit(self, key: Hashable) -> None:
        """Record one call in partition `key`, which earns retries."""


_BUDGET_METHODS: Final = ("key_of", "try_withdraw", "deposit")


# -- events -------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeStarted(Event):
    """Attempt `attempt` (2 for the first hedge) started `delay` seconds after the previous one.

    `trigger` is None when the hedge delay ran out without an outcome, or the verdict of
    the failed attempt that made it start at once.
    """

    name: ClassVar[str] = "hedge_started"
    level: ClassVar[int] = logging.INFO
    attempt: int
    delay: float
    trigger: Verdict | None = None

    def message(self) -> str:
        if self.trigger is None:
            why = f"no outcome {self.delay:.3f} s after the previous attempt started"
        else:
            why = f"an attempt failed ({self.trigger.value})"
        return f"{self.strategy}: started attempt {self.attempt}: {why}"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeWon(Event):
    """Hedge `attempt` (2 or more) gave the outcome that ended the call, out of `attempts`
    started; `verdict` is its verdict (SUCCESS, or the failure that is not retryable)."""

    name: ClassVar[str] = "hedge_won"
    level: ClassVar[int] = logging.INFO
    attempt: int
    attempts: int
    verdict: Verdict

    def message(self) -> str:
        return (
            f"{self.strategy}: attempt {self.attempt} of {self.attempts} ended the call "
            f"({self.verdict.value}); the others were cancelled"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeBudgetExhausted(Event):
    """The retry budget refused hedge `attempt`: it did not start, nor will any after it."""

    name: ClassVar[str] = "hedge_budget_exhausted"
    level: ClassVar[int] = logging.WARNING
    attempt: int

    def message(self) -> str:
        return f"{self.strategy}: the retry budget refused to start attempt {self.attempt}"


# -- the delay ------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class LatencyPercentile:
    """A hedge delay that follows observed latency; make it with `Hedge.percentile(...)`.

    ```python
    stalwart.Hedge(delay=stalwart.Hedge.percentile(95))     # hedge the slowest ~5%
    stalwart.Hedge(delay=stalwart.Hedge.percentile(99, fallback=0.2, window=10.0))
    ```

    The delay is the `percentile`-th percentile (nearest rank) of recent attempt
    latencies, as in Finagle's backup requests, which hedge at
    p(100·(1 − max_extra_load)): p95 adds at most about 5% load, p99 about 1%.

    - `percentile`: in (0, 100]; 100 hedges only what is slower than the slowest seen.
    - `min_delay=0.001`: the delay never goes below it (Finagle's 1 ms floor), so a
      near-zero percentile does not hedge every call at once.
    - `fallback=None`: the delay while fewer than `min_samples` latencies are known.
      None means no hedge starts on delay then (a retryable failure still starts one).
    - `window=30.0`: seconds of history; the most recent 2,048 latencies at most. The
      percentile is recomputed at most every `window / 10` seconds (Finagle: 3 s of 30).
    - `min_samples=20`: latencies needed before the percentile is used; raise it for
      high percentiles (p99 of 20 samples is the slowest one).

    Samples: how long the attempt that ended the call took and, for each loser that
    was cancelled, how long it had run (a lower bound that keeps slow attempts in the
    tail, so hedging does not hide the latency it is measured from). Retryable failures
    and the caller's cancellations are not sampled. Each pipeline keeps its own window.
    """

    percentile: float
    min_delay: float = 0.001
    fallback: float | None = None
    window: float = 30.0
    min_samples: int = 20

    def __post_init__(self) -> None:
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise TypeError(f"percentile must be a number in (0, 100], got {p!r}")
        if not 0 < p <= 100:  # NaN fails too
            raise ValueError(f"percentile must be a number in (0, 100], got {p!r}")
        object.__setattr__(
            self, "min_delay", _seconds("min_delay", self.min_delay, allow_inf=False)
        )
        if self.fallback is not None:
            object.__setattr__(
                self, "fallback", _seconds("fallback", self.fallback, allow_inf=True)
            )
        window = self.window
        if isinstance(window, bool) or not isinstance(window, int | float):
            raise TypeError(f"window must be a number of seconds, got {window!r}")
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window must be a finite number of seconds > 0, got {window!r}")
        object.__setattr__(self, "window", float(window))
        samples = self.min_samples
        if isinstance(samples, bool) or not isinstance(samples, int):
            raise TypeError(f"min_samples must be an int, got {samples!r}")
        if samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {samples!r}")

    def delay(self, latencies: Sequence[float]) -> float:
        """The hedge delay for these observed latencies (any order), without any I/O.

        `fallback` (`inf` when None) below `min_samples` latencies; otherwise the
        nearest-rank percentile, never below `min_delay`.
        """
        count = len(latencies)
        if count < self.min_samples:
            return _INF if self.fallback is None else self.fallback
        rank = max(math.ceil(self.percentile / 100 * count), 1)
        return max(sorted(latencies)[rank - 1], self.min_delay)

    def replace(self, **changes: Any) -> LatencyPercentile:
        """A copy with some options changed, validated again."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = [repr(self.percentile)]
        for item in dataclasses.fields(self)[1:]:
            value = getattr(self, item.name)
            if value != item.default:
                parts.append(f"{item.name}={value!r}")
        return f"Hedge.percentile({', '.join(parts)})"


@final
class _Latencies:
    """The sliding window of one pipeline's latencies, and the delay it gives (thread-safe)."""

    __slots__ = ("_cached", "_fresh_until", "_lock", "_options", "_refresh", "_samples")

    def __init__(self, options: LatencyPercentile) -> None:
        self._options = options
        self._refresh = options.window / 10
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)
        self._cached: float | None = None
        self._fresh_until = -_INF
        self._lock = threading.Lock()

    def add(self, now: float, seconds: float) -> None:
        with self._lock:
            self._samples.append((now, seconds))

    def delay(self, now: float) -> float:
        with self._lock:
            if self._cached is not None and now < self._fresh_until:
                return self._cached
            samples = self._samples
            horizon = now - self._options.window
            while samples and samples[0][0] <= horizon:
                samples.popleft()
            delay = self._options.delay([seconds for _, seconds in samples])
            if len(samples) >= self._options.min_samples:
                self._cached, self._fresh_until = delay, now + self._refresh
            else:
                self._cached = None
            return delay


# -- the strategy -----------------------------------------------------------------------


def _only_slowness(outcome: Outcome[Any]) -> Verdict:
    """With neither `on=` nor `classify=`: every answer ends the race, only time hedges."""
    if outcome.exception is None:
        return Verdict.SUCCESS
    return Verdict.CANCELLED if is_cancellation(outcome.exception) else Verdict.FATAL


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Hedge(Strategy):
    """When an attempt is slow, start another; the first acceptable outcome wins.

    ```python
    stalwart.Hedge(delay=0.05)                               # a second attempt after 50 ms
    stalwart.Hedge(delay=stalwart.Hedge.percentile(95))      # ... after the observed p95
    stalwart.Hedge(delay=0.05, max_hedges=2, on=ConnectionError, budget=budget)
    ```

    **Hedge idempotent calls only** (a GET, a read-only query, a request carrying an
    `Idempotency-Key`): up to `1 + max_hedges` copies of the call run at once, and a
    cancelled loser may already have done its work on the server.

    - `delay`: seconds from the start of the latest attempt to the start of the next,
      while no acceptable outcome has arrived: `0` starts every attempt at once,
      `math.inf` starts hedges only on failures; or `Hedge.percentile(...)` to follow
      observed latency. Required.
    - `max_hedges=1`: attempts beyond the first, from 1 to 10.
    - `on` / `classify`: which failures are retryable, as for `Retry`. A retryable
      outcome (`TRANSIENT`, `THROTTLED`, `TIMEOUT`) of one attempt starts the next hedge
      at once, as in gRPC and Polly; any other outcome (a success, a `FATAL` failure, a
      cancellation) is accepted: it ends the call and cancels the other attempts. With
      neither, every exception is accepted as it is, except a `DeadlineExceeded` from a
      `Timeout(per_attempt=...)` inside the hedge, which is a `TIMEOUT`: hedging is then
      about slowness only. Give at most one of the two.
    - `budget=None`: a retry budget shared with retries (any `HedgeBudget`): each call
      deposits once, each hedge withdraws once, and when the budget refuses, that hedge
      and all later ones of the call do not start (a `HedgeBudgetExhausted` event).
    - `name="hedge"`: how events and notes name this strategy.

    When every attempt failed retryably, the last one to fail comes out: its exception
    unchanged with a note saying why no more attempts started, or its result.

    No hedge starts at or after the context's deadline, and the call ends at it with
    `DeadlineExceeded` (sync code stops waiting for its attempts then). Cancellation of
    the caller (an enclosing scope) cancels every attempt and is neutral: it is no
    failure and gives no latency sample.

    What happens to the losers:

    - async (asyncio or trio): attempts are tasks of an anyio task group; the others are
      cancelled when one wins, and the call returns only after they finished (a loser
      that shields itself from cancellation delays the return, as in Polly).
    - sync: attempts run on a small shared pool of daemon worker threads (reused while
      work keeps coming, gone after 10 s idle), in the caller's context (its deadline
      and request values) and inside their own `stalwart.cancel_scope()`. The losers'
      scopes are cancelled when one wins: a loser wakes with `Cancelled` from the
      stalwart wait it is in, or meets it at its next one, and its worker is free again.
      The call does not wait for them: a loser blocked in code that cannot be
      interrupted keeps its worker until that code returns, then its result or exception
      is discarded. While 64 such losers of one pipeline are still running, calls run
      unhedged in the caller's thread, so a hung upstream cannot pile up threads.
    """

    delay: float | LatencyPercentile
    max_hedges: int = 1
    on: (
        type[BaseException]
        | tuple[type[BaseException], ...]
        | Callable[[BaseException], bool]
        | None
    ) = None
    classify: Classifier | None = None
    budget: HedgeBudget | None = None
    name: str = "hedge"
    _classifier: Classifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.delay, LatencyPercentile):
            delay = self.delay
            if isinstance(delay, bool) or not isinstance(delay, int | float):
                raise TypeError(
                    f"delay must be a number of seconds or Hedge.percentile(...), got {delay!r}"
                )
            object.__setattr__(self, "delay", _seconds("delay", delay, allow_inf=True))
        hedges = self.max_hedges
        if isinstance(hedges, bool) or not isinstance(hedges, int):
            raise TypeError(f"max_hedges must be an int, got {hedges!r}")
        if not 1 <= hedges <= MAX_HEDGES:
            raise ValueError(f"max_hedges must be from 1 to {MAX_HEDGES}, got {hedges!r}")
        if self.on is not None and self.classify is not None:
            raise TypeError("give Hedge either `on=` or `classify=`, not both")
        if self.classify is not None:
            if not callable(self.classify):
                raise TypeError(f"classify must be callable, got {self.classify!r}")
            classifier = self.classify
        else:
            classifier = classify_exceptions(self.on) if self.on is not None else _only_slowness
        object.__setattr__(self, "_classifier", classifier)
        budget = self.budget
        if budget is not None and not all(
            callable(getattr(budget, method, None)) for method in _BUDGET_METHODS
        ):
            raise TypeError(
                "budget must have key_of(args, kwargs), try_withdraw(key) and deposit(key) "
                f"methods, like stalwart.RetryBudget; got {budget!r}"
            )
        check_name(self.name)

    @staticmethod
    def percentile(
        percentile: float,
        *,
        min_delay: float = 0.001,
        fallback: float | None = None,
        window: float = 30.0,
        min_samples: int = 20,
    ) -> LatencyPercentile:
        """A delay that follows the `percentile`-th percentile of observed latencies.

        See `LatencyPercentile` for the options and what is sampled.
        """
        return LatencyPercentile(
            percentile=percentile,
            min_delay=min_delay,
            fallback=fallback,
            window=window,
            min_samples=min_samples,
        )

    def replace(self, **changes: Any) -> Hedge:
        """A copy with some options changed, validated again."""
        return dataclasses.replace(self, **changes)

    __repr__ = options_repr

    def _bind(self, inner: Runner) -> Runner:
        return _HedgeRunner(self, inner)


# -- the decisions of one call --------------------------------------------------------------


@final
class _Race:
    """One hedged call's decisions, free of I/O; used by one driver thread or task.

    The driver calls `launch(now)` until it returns None and starts each attempt it
    names, reports each attempt's outcome with `finish`, calls `expire` once the
    deadline has passed, and otherwise waits until `wake_at` or the next outcome. The
    call is decided once `outcome` is set.
    """

    __slots__ = (
        "_deadline",
        "_delay",
        "_due",
        "_hedge",
        "_key",
        "_last",
        "_last_start",
        "_latencies",
        "_limit",
        "_running",
        "_stop",
        "_trigger",
        "launched",
        "outcome",
    )

    def __init__(
        self,
        hedge: Hedge,
        *,
        now: float,
        deadline: float,
        delay: float,
        key: Hashable,
        latencies: _Latencies | None,
    ) -> None:
        self._hedge = hedge
        self._deadline = deadline
        self._delay = delay
        self._key = key
        self._latencies = latencies
        self._limit = hedge.max_hedges + 1
        self._due = now  # the first attempt starts at once
        self._last_start = now
        self._running: dict[int, float] = {}  # attempt number -> start time
        self._last: tuple[Outcome[Any], Verdict] | None = None
        self._stop: str | None = None
        self._trigger: Verdict | None = None
        #: how many attempts have started
        self.launched = 0
        #: the outcome that ends the call, once decided
        self.outcome: Outcome[Any] | None = None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def wake_at(self) -> float:
        """When the sync driver must call in again if no outcome arrives first."""
        return min(self._due, self._deadline)

    @property
    def next_hedge_at(self) -> float:
        """When the next hedge is due (`inf` if none can start before the deadline)."""
        return self._due if self._due < self._deadline else _INF

    def launch(self, now: float) -> int | None:
        """The number of an attempt to start now, or None; emits the hedge events."""
        if self.outcome is not None or now < self._due:
            return None
        number = self.launched + 1
        if number > 1:
            hedge = self._hedge
            if now >= self._deadline:
                self._cannot_start(f"the deadline passed before attempt {number}")
                return None
            budget = hedge.budget
            if budget is not None and not budget.try_withdraw(self._key):
                emit(HedgeBudgetExhausted(strategy=hedge.name, attempt=number))
                self._cannot_start(f"the retry budget refused attempt {number}")
                return None
            emit(
                HedgeStarted(
                    strategy=hedge.name,
                    attempt=number,
                    delay=now - self._last_start,
                    trigger=self._trigger,
                )
            )
        self.launched = number
        self._running[number] = now
        self._last_start = now
        self._trigger = None
        self._due = now + self._delay if number < self._limit else _INF
        return number

    def finish(self, number: int, outcome: Outcome[Any], now: float) -> None:
        """Take attempt `number`'s outcome: accept it, or start the next hedge at once."""
        started = self._running.pop(number)
        if self.outcome is not None:
            return
        verdict = self._verdict(outcome)
        if not verdict.retryable:
            self._accept(number, outcome, verdict, now, started)
            return
        self._last = (outcome, verdict)
        if self._stop is None:
            if self.launched < self._limit:
                self._due = now
                self._trigger = verdict
            else:
                self._stop = f"max_hedges={self._hedge.max_hedges} reached"
        self._settle_if_idle()

    def expire(self, now: float) -> None:
        """The deadline has passed: end the call (the drivers cancel what still runs)."""
        if self.outcome is not None:
            return
        self._stop = "the deadline passed"
        self._due = _INF
        if not self._running and self._last is not None:
            self._settle_if_idle()
            return
        self._sample_losers(now)
        error = deadline_error(self._deadline)
        error.add_note(
            f"stalwart: {self._hedge.name}: the deadline passed while {self.running} of "
            f"{self.launched} attempt(s) were still running"
        )
        self.outcome = Outcome(None, error)

    def result(self) -> Any:
        assert self.outcome is not None
        return self.outcome.unwrap()

    def _verdict(self, outcome: Outcome[Any]) -> Verdict:
        """The classifier's verdict, except for what no classifier may overrule."""
        exception = outcome.exception
        if exception is not None:
            if is_cancellation(exception):
                return Verdict.CANCELLED
            if isinstance(exception, WrongKind) or retry_forbidden(exception) is not None:
                return Verdict.FATAL
            # A deadline earlier than the call's own came from a per-attempt timeout inside.
            if is_attempt_timeout(exception, self._deadline):
                return Verdict.TIMEOUT
        return self._hedge._classifier(outcome)

    def _cannot_start(self, reason: str) -> None:
        self._stop = reason
        self._due = _INF
        self._settle_if_idle()

    def _settle_if_idle(self) -> None:
        """With nothing running and nothing left to start, the last failure comes out."""
        if self._running or self._due != _INF or self._last is None:
            return
        outcome, _ = self._last
        if outcome.exception is not None:
            outcome.exception.add_note(
                f"stalwart: {self._hedge.name} gave up after {self.launched} attempt(s): "
                f"{self._stop}"
            )
        self.outcome = outcome

    def _accept(
        self, number: int, outcome: Outcome[Any], verdict: Verdict, now: float, started: float
    ) -> None:
        self.outcome = outcome
        hedge = self._hedge
        if verdict is not Verdict.CANCELLED:
            if self._latencies is not None:
                self._latencies.add(now, now - started)
            self._sample_losers(now)
        if number > 1:
            emit(
                HedgeWon(
                    strategy=hedge.name, attempt=number, attempts=self.launched, verdict=verdict
                )
            )
        exception = outcome.exception
        if exception is not None and self.launched > 1 and verdict is not Verdict.CANCELLED:
            exception.add_note(
                f"stalwart: {hedge.name} stopped on attempt {number} of {self.launched}: "
                f"the outcome is {verdict.value}, not retryable; the others were cancelled"
            )

    def _sample_losers(self, now: float) -> None:
        """Cancelled attempts ran at least this long: keep them in the latency tail."""
        latencies = self._latencies
        if latencies is not None:
            for started in self._running.values():
                latencies.add(now, now - started)


# -- the drivers ------------------------------------------------------------------------------


def _check_start(ctx: Context) -> None:
    """Cooperative enforcement: no call starts once the context is cancelled or expired."""
    token = ctx.token
    if token is not None and token.origin is not None:
        raise _context.cancelled_error(token)
    if ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline:
        raise deadline_error(ctx.deadline)


def _do_nothing() -> None:
    return None


@final
class _AsyncBox:
    """Where async attempts leave their outcomes, and the event that wakes the driver."""

    __slots__ = ("event", "items")

    def __init__(self) -> None:
        self.items: list[tuple[int, Outcome[Any]]] = []
        self.event = anyio.Event()

    def put(self, number: int, outcome: Outcome[Any]) -> None:
        self.items.append((number, outcome))
        self.event.set()

    def take(self) -> list[tuple[int, Outcome[Any]]]:
        if self.event.is_set():
            self.event = anyio.Event()
        items, self.items = self.items, []
        return items


@final
class _ThreadBox:
    """Where attempt threads leave their outcomes; `closed` once the call has returned."""

    __slots__ = ("closed", "items", "lock", "reported", "wake")

    def __init__(self) -> None:
        self.items: list[tuple[int, Outcome[Any]]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.closed = False
        #: attempts that reported before the call returned
        self.reported = 0

    def take(self) -> list[tuple[int, Outcome[Any]]]:
        with self.lock:
            self.wake.clear()
            items, self.items = self.items, []
            return items


async def _wait(event: anyio.Event, seconds: float) -> None:
    """Wait until `event` is set, at most `seconds` on the stalwart clock."""
    if seconds == _INF:
        await event.wait()
        return
    clock = current_clock()
    async with anyio.create_task_group() as alarm:

        async def ring() -> None:
            await clock.asleep(seconds)
            alarm.cancel_scope.cancel()

        alarm.start_soon(ring)
        await event.wait()
        alarm.cancel_scope.cancel()


@final
class _HedgeRunner:
    __slots__ = ("_abandoned", "_delay", "_hedge", "_inner", "_latencies", "_lock")

    def __init__(self, hedge: Hedge, inner: Runner) -> None:
        self._hedge = hedge
        self._inner = inner
        delay = hedge.delay
        if isinstance(delay, LatencyPercentile):
            self._latencies: _Latencies | None = _Latencies(delay)
            self._delay = _INF
        else:
            self._latencies = None
            self._delay = delay
        self._lock = threading.Lock()
        self._abandoned = 0  # sync losers still running after their call returned

    def _begin(self, ctx: Context, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> _Race:
        _check_start(ctx)
        now = current_clock().monotonic()
        hedge = self._hedge
        budget = hedge.budget
        key: Hashable = None
        if budget is not None:
            key = budget.key_of(args, kwargs)
            budget.deposit(key)
        latencies = self._latencies
        return _Race(
            hedge,
            now=now,
            deadline=ctx.deadline,
            delay=latencies.delay(now) if latencies is not None else self._delay,
            key=key,
            latencies=latencies,
        )

    def _cancelled(self, token: CancelToken, race: _Race) -> Cancelled:
        error = _context.cancelled_error(token)
        error.add_note(
            f"stalwart: {self._hedge.name}: cancelled while {race.running} attempt(s) ran"
        )
        return error

    # -- async ----------------------------------------------------------------------------

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        ctx = _context.current()
        race = self._begin(ctx, args, kwargs)
        clock = current_clock()
        inner = self._inner
        box = _AsyncBox()
        cancellation = anyio.get_cancelled_exc_class()
        failure: Exception | None = None

        async def attempt(number: int) -> None:
            try:
                result = await inner.acall(fn, args, kwargs)
            except cancellation:
                raise
            except BaseException as exc:  # reported to the driver, which decides
                box.put(number, Outcome(None, exc))
            else:
                box.put(number, Outcome(result, None))

        async with anyio.create_task_group() as group:
            try:
                while True:
                    items = box.take()
                    now = clock.monotonic()
                    for done, outcome in items:
                        race.finish(done, outcome, now)
                    if race.outcome is None and now >= ctx.deadline:
                        race.expire(now)
                    while (number := race.launch(now)) is not None:
                        group.start_soon(attempt, number, name=f"{self._hedge.name}-{number}")
                    if race.outcome is not None:
                        break
                    # The enclosing deadline scope cancels this task group at expiry:
                    # only the next hedge needs a timer.
                    await _wait(box.event, race.next_hedge_at - now)
            except Exception as exc:  # a failing budget: raised as is, not in a group
                failure = exc
            # The losers: cancelled, and awaited by the task group before it exits.
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return race.result()

    # -- sync -----------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        ctx = _context.current()
        race = self._begin(ctx, args, kwargs)
        if self._abandoned >= MAX_ABANDONED_THREADS:
            # Too many losers still stuck in their threads: no more threads, no hedging.
            return self._inner.call(fn, args, kwargs)
        clock = current_clock()
        box = _ThreadBox()
        scopes: list[Scope] = []
        token = ctx.token
        unsubscribe = token.on_cancel(box.wake.set) if token is not None else _do_nothing
        try:
            while True:
                items = box.take()
                if token is not None and token.origin is not None:
                    raise self._cancelled(token, race)
                now = clock.monotonic()
                for done, outcome in items:
                    race.finish(done, outcome, now)
                if race.outcome is None and now >= ctx.deadline:
                    race.expire(now)
                while (number := race.launch(now)) is not None:
                    scope = _context.cancel_scope()
                    scopes.append(scope)
                    _WORKERS.submit(
                        functools.partial(
                            _context.carry_context(self._attempt),
                            box,
                            scope,
                            number,
                            fn,
                            args,
                            kwargs,
                        )
                    )
                if race.outcome is not None:
                    break
                wait = race.wake_at - now
                if wait == _INF:
                    box.wake.wait()
                else:
                    clock.sleep(wait, box.wake)
        finally:
            unsubscribe()
            self._close(box, scopes)
        return race.result()

    def _attempt(
        self,
        box: _ThreadBox,
        scope: Scope,
        number: int,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        """One attempt, on a pool worker in its own cancel scope, in the caller's context."""
        try:
            with scope:
                result = self._inner.call(fn, args, kwargs)
        except BaseException as exc:  # reported to the driver, which decides
            outcome: Outcome[Any] = Outcome(None, exc)
        else:
            outcome = Outcome(result, None)
        with box.lock:
            if not box.closed:
                box.reported += 1
                box.items.append((number, outcome))
                box.wake.set()
                return
        # The call returned without this loser: its outcome is discarded.
        with self._lock:
            self._abandoned -= 1

    def _close(self, box: _ThreadBox, scopes: list[Scope]) -> None:
        """Cancel every attempt still running and count those the call leaves behind."""
        with box.lock:
            box.closed = True
            left_behind = len(scopes) - box.reported
        if left_behind:
            with self._lock:
                self._abandoned += left_behind
        for scope in scopes:
            scope.cancel()
