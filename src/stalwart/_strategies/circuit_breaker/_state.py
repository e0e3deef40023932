"""The circuit breaker's state machine, one per partition: every decision, no I/O.

```
            trip (ratio ≥ threshold, ≥ min_calls)            break elapsed, next call
  CLOSED ─────────────────────────────────────► OPEN ───────────────────────────► HALF_OPEN
    ▲ ▲                                           ▲                                    │ │
    │ └──────────── every probe succeeded ────────┼────────────────────────────────────┘ │
    │                                             └─ a probe failed, was slow, or timed out┘
    └── reset() ── ISOLATED ◄── isolate() (from any state; only reset() leaves it)
```

Each `BreakerState` is guarded by its own lock, held only inside its methods: never while
the protected call runs. Every method takes `now` (monotonic seconds) as an argument and
returns the transitions it made, which the driver turns into events after the lock is
released. Permits tie a finished call back to the state that admitted it, so a result
that arrives after the circuit has moved on updates the counts at most, never the state.
"""

from __future__ import annotations

import enum
import itertools
import math
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final, Literal, final

from ._window import CountWindow, TimeWindow, Window

__all__ = [
    "BreakerConfig",
    "BreakerState",
    "CircuitState",
    "CircuitStatistics",
    "Grant",
    "Permit",
    "Transition",
]


class CircuitState(enum.Enum):
    """Where a circuit stands.

    - `CLOSED`: calls pass; outcomes are counted in the window.
    - `OPEN`: calls are rejected with `CircuitOpen` until the break is over.
    - `HALF_OPEN`: a few probe calls pass; their outcomes close or re-open the circuit.
    - `ISOLATED`: held open by `isolate()` until `reset()`.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    ISOLATED = "isolated"

    def __repr__(self) -> str:
        return f"CircuitState.{self.name}"


CLOSED: Final = CircuitState.CLOSED
OPEN: Final = CircuitState.OPEN
HALF_OPEN: Final = CircuitState.HALF_OPEN
ISOLATED: Final = CircuitState.ISOLATED


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """The numbers the state machine runs on, already validated by `CircuitBreaker`."""

    failure_ratio: float = 0.5
    slow_call_ratio: float = 1.0
    slow_call_duration: float | None = None
    min_calls: int = 20
    window: float = 30.0
    buckets: int = 10
    window_calls: int | None = None
    break_for: float = 5.0
    break_multiplier: float = 2.0
    max_break_for: float = 60.0
    probes: int = 1
    probe_timeout: float = 10.0
    metrics_only: bool = False

    @property
    def effective_min_calls(self) -> int:
        """`min_calls`, capped at the size of a count-based window (as resilience4j does)."""
        if self.window_calls is not None:
            return min(self.min_calls, self.window_calls)
        return self.min_calls

    def new_window(self) -> Window:
        """A fresh, empty window of the configured kind."""
        if self.window_calls is not None:
            return CountWindow(size=self.window_calls)
        return TimeWindow(length=self.window, buckets=self.buckets)


PermitKind = Literal["call", "probe", "shadow"]


@final
class Permit:
    """What `acquire` hands to an admitted call, to be given back to `record` or `release`.

    `kind` is `"call"` (admitted while closed), `"probe"` (a half-open probe) or
    `"shadow"` (a call that metrics-only mode let through instead of rejecting it).
    """

    __slots__ = ("kind", "probe", "window_epoch")

    def __init__(self, kind: PermitKind, window_epoch: int, probe: int = 0) -> None:
        self.kind = kind
        # Which window (cleared on closing and reset) the call's outcome may count in.
        self.window_epoch = window_epoch
        # A probe's id: unique for the state's lifetime, and forgotten on every change of
        # state, so a report from an earlier round (or a second report) finds nothing.
        self.probe = probe

    def __repr__(self) -> str:
        return f"<Permit {self.kind} window={self.window_epoch} probe={self.probe}>"


@final
@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state, made at monotonic time `at`.

    `break_for` and `openings` describe the open period when `target` is OPEN;
    `by_outcome` is True when the outcome being recorded caused the transition.
    """

    source: CircuitState
    target: CircuitState
    reason: str
    at: float
    break_for: float | None = None
    openings: int = 0
    by_outcome: bool = False


_NO_TRANSITIONS: tuple[Transition, ...] = ()


@final
class Grant:
    """`acquire`'s answer. `permit` is None when the call is rejected.

    `refused_by` is the state that refuses (or, in metrics-only mode, would refuse) the
    call, `retry_after` the seconds until a probe would be admitted (None while isolated).
    """

    __slots__ = ("permit", "refused_by", "retry_after", "transitions")

    def __init__(
        self,
        permit: Permit | None,
        refused_by: CircuitState | None = None,
        retry_after: float | None = None,
        transitions: tuple[Transition, ...] = _NO_TRANSITIONS,
    ) -> None:
        self.permit = permit
        self.refused_by = refused_by
        self.retry_after = retry_after
        self.transitions = transitions

    def __repr__(self) -> str:
        if self.refused_by is None:
            return f"<Grant {self.permit!r}>"
        return f"<Grant {self.permit!r} refused by {self.refused_by.value}>"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitStatistics:
    """A snapshot of one partition of a circuit breaker, from `CircuitBreaker.statistics()`.

    - `key`: the partition (None for an unpartitioned breaker).
    - `state`: the `CircuitState`. Open → half-open happens on the next call after the
      break, so an `OPEN` state with `retry_after == 0` admits a probe on the next call.
    - `calls`, `failures`, `slow_calls`: counted in the current window (late results of
      calls admitted before the circuit opened are counted too); cleared on closing.
    - `failure_ratio`, `slow_call_ratio`: failures ÷ calls and slow ÷ calls (0.0 with no
      calls).
    - `consecutive_openings`: openings since the circuit was last closed (0 when closed).
    - `break_for`: the length of the current (or last) open period; None when closed.
    - `opened_at`: monotonic time the circuit last stopped admitting calls; None when closed.
    - `retry_after`: seconds until a probe would be admitted: 0.0 when a call would pass
      now, None while isolated.
    - `probes_in_flight`: half-open probes admitted that have not reported yet.
    """

    key: Hashable
    state: CircuitState
    calls: int
    failures: int
    slow_calls: int
    failure_ratio: float
    slow_call_ratio: float
    consecutive_openings: int
    break_for: float | None
    opened_at: float | None
    retry_after: float | None
    probes_in_flight: int


@final
class BreakerState:
    """One partition's circuit: state, window and probes, behind one short-held lock."""

    __slots__ = (
        "_blocked_until",
        "_break",
        "_config",
        "_fast",
        "_lock",
        "_min_calls",
        "_opened_at",
        "_openings",
        "_probe_ids",
        "_probes",
        "_state",
        "_successes",
        "_window",
        "_window_epoch",
        "key",
        "standing",
    )

    def idle(self) -> bool:
        """Closed with no probe in flight: safe to evict (an open or isolated circuit is
        kept, so random keys cannot close it by pushing it out)."""
        return self._state is CLOSED and not self._probes

    def __init__(self, config: BreakerConfig, key: Hashable = None) -> None:
        self.key = key
        self._config = config
        self._lock = threading.Lock()
        self._state = CLOSED
        self._window = config.new_window()
        self._window_epoch = 0
        self._min_calls = config.effective_min_calls
        self._openings = 0
        self._break = 0.0
        self._blocked_until = -math.inf
        self._opened_at: float | None = None
        # Probes in flight: id → the time it was admitted.
        self._probes: dict[int, float] = {}
        self._probe_ids = itertools.count(1)
        self._successes = 0
        # The grant of every call while closed, published as one attribute (None otherwise)
        # so the closed path reads it without the lock: a single atomic read, which orders
        # the call just before or just after any concurrent transition. Everything else
        # happens under the lock.
        self._fast: Grant | None = Grant(Permit("call", 0))
        #: the permit of that grant, for drivers that skip `acquire` while closed
        self.standing: Permit | None = self._fast.permit

    def __repr__(self) -> str:
        return f"<BreakerState {self._state.value} key={self.key!r} {self._window!r}>"

    @property
    def config(self) -> BreakerConfig:
        """The configuration this state runs on."""
        return self._config

    @property
    def state(self) -> CircuitState:
        """The state as last decided (without applying a pending probe timeout)."""
        return self._state

    # -- the operations -------------------------------------------------------------

    def acquire(self, now: float) -> Grant:
        """May a call start at `now`? Admit it (as a call or a probe) or refuse it."""
        fast = self._fast
        if fast is not None:
            return fast
        with self._lock:
            state = self._state
            if state is CLOSED:
                fast = self._fast
                assert fast is not None
                return fast
            out: list[Transition] = []
            if state is OPEN:
                if now >= self._blocked_until:
                    self._half_open(now, out)
            elif state is HALF_OPEN:
                self._expire_probes(now, out)
            state = self._state
            if state is OPEN:
                return self._refuse(OPEN, max(self._blocked_until - now, 0.0), out)
            if state is ISOLATED:
                return self._refuse(ISOLATED, None, out)
            probes = self._probes
            if len(probes) + self._successes < self._config.probes:
                probe = next(self._probe_ids)
                probes[probe] = now
                return Grant(Permit("probe", self._window_epoch, probe), None, None, tuple(out))
            return self._refuse(HALF_OPEN, self._probe_deadline() - now, out)

    def record(
        self, permit: Permit, now: float, failed: bool, duration: float
    ) -> tuple[Transition, ...]:
        """Count a finished call that `permit` admitted; `duration` in seconds."""
        slow_after = self._config.slow_call_duration
        slow = slow_after is not None and duration > slow_after
        lock = self._lock
        if not (failed or slow) and permit.kind == "call":
            # Every call's path: a success counts and changes nothing else.
            lock.acquire()  # not `with`: `with` costs more
            try:
                if self._state is not HALF_OPEN:  # (half-open: probes may have to expire)
                    if permit.window_epoch == self._window_epoch:
                        self._window.record(now, False, False)
                    return _NO_TRANSITIONS
            finally:
                lock.release()
        out: list[Transition] = []
        lock.acquire()
        try:
            if self._state is HALF_OPEN:
                self._expire_probes(now, out)
            if permit.kind == "probe":
                # Only a report from the round that admitted it, and only once, counts.
                if self._probes.pop(permit.probe, None) is not None:
                    if failed:
                        self._open(now, "a probe failed", out, by_outcome=True)
                    elif slow:
                        why = f"a probe was slow ({duration:.3f} s)"
                        self._open(now, why, out, by_outcome=True)
                    else:
                        self._successes += 1
                        if self._successes >= self._config.probes:
                            count = self._config.probes
                            self._close(now, f"{count} probe(s) succeeded", out)
            elif permit.window_epoch == self._window_epoch:
                self._window.record(now, failed, slow)
                if (failed or slow) and self._state is CLOSED:
                    reason = self._trip_reason(now)
                    if reason is not None:
                        self._open(now, reason, out, by_outcome=True)
        finally:
            lock.release()
        return tuple(out) if out else _NO_TRANSITIONS

    def release(self, permit: Permit, now: float) -> tuple[Transition, ...]:
        """Give back the permit of a call that ended without an outcome (cancelled).

        Nothing is counted; a probe's slot is freed for the next call.
        """
        with self._lock:
            out: list[Transition] = []
            if self._state is HALF_OPEN:
                self._expire_probes(now, out)
            if permit.kind == "probe":
                self._probes.pop(permit.probe, None)
            return tuple(out)

    def isolate(self, now: float) -> tuple[Transition, ...]:
        """Hold the circuit open until `reset`; no-op if already isolated."""
        with self._lock:
            source = self._state
            if source is ISOLATED:
                return _NO_TRANSITIONS
            if source is CLOSED:
                self._opened_at = now
            self._enter(ISOLATED)
            return (Transition(source, ISOLATED, "isolated by hand", now),)

    def reset(self, now: float) -> tuple[Transition, ...]:
        """Close the circuit and clear its counts and its run of openings."""
        with self._lock:
            out: list[Transition] = []
            if self._state is CLOSED:
                self._clear_window()
            else:
                self._close(now, "reset by hand", out)
            return tuple(out)

    def snapshot(self, now: float) -> tuple[CircuitStatistics, tuple[Transition, ...]]:
        """The statistics at `now`, after applying any probe timeout that fell due."""
        with self._lock:
            out: list[Transition] = []
            if self._state is HALF_OPEN:
                self._expire_probes(now, out)
            state = self._state
            calls, failures, slow = self._window.totals(now)
            retry_after: float | None
            if state is CLOSED:
                retry_after = 0.0
            elif state is OPEN:
                retry_after = max(self._blocked_until - now, 0.0)
            elif state is HALF_OPEN:
                free = len(self._probes) + self._successes < self._config.probes
                retry_after = 0.0 if free else self._probe_deadline() - now
            else:
                retry_after = None
            statistics = CircuitStatistics(
                key=self.key,
                state=state,
                calls=calls,
                failures=failures,
                slow_calls=slow,
                failure_ratio=failures / calls if calls else 0.0,
                slow_call_ratio=slow / calls if calls else 0.0,
                consecutive_openings=self._openings,
                break_for=self._break if self._openings else None,
                opened_at=self._opened_at,
                retry_after=retry_after,
                probes_in_flight=len(self._probes),
            )
            return statistics, tuple(out)

    # -- inside the lock ----------------------------------------------------------------

    def _refuse(
        self, state: CircuitState, retry_after: float | None, out: list[Transition]
    ) -> Grant:
        permit = None
        if self._config.metrics_only:
            permit = Permit("shadow", self._window_epoch)
        return Grant(permit, state, retry_after, tuple(out))

    def _probe_deadline(self) -> float:
        return min(self._probes.values()) + self._config.probe_timeout

    def _expire_probes(self, now: float, out: list[Transition]) -> None:
        if self._probes and now >= self._probe_deadline():
            timeout = self._config.probe_timeout
            self._open(now, f"a probe did not report within probe_timeout={timeout:g} s", out)

    def _trip_reason(self, now: float) -> str | None:
        calls, failures, slow = self._window.totals(now)
        if calls < self._min_calls:
            return None
        config = self._config
        ratio = failures / calls
        if ratio >= config.failure_ratio:
            return (
                f"failure ratio {ratio:.2f} ≥ {config.failure_ratio:g} "
                f"({failures} of {calls} calls)"
            )
        ratio = slow / calls
        if ratio >= config.slow_call_ratio:
            return (
                f"slow-call ratio {ratio:.2f} ≥ {config.slow_call_ratio:g} "
                f"({slow} of {calls} calls slower than {config.slow_call_duration:g} s)"
            )
        return None

    def _enter(self, state: CircuitState) -> None:
        self._fast = None
        self.standing = None
        self._state = state
        self._probes.clear()
        self._successes = 0

    def _open(
        self, now: float, reason: str, out: list[Transition], *, by_outcome: bool = False
    ) -> None:
        config = self._config
        source = self._state
        self._openings += 1
        if self._openings == 1:
            self._break = config.break_for
        else:
            self._break = min(self._break * config.break_multiplier, config.max_break_for)
        self._blocked_until = now + self._break
        self._opened_at = now
        self._enter(OPEN)
        out.append(Transition(source, OPEN, reason, now, self._break, self._openings, by_outcome))

    def _half_open(self, now: float, out: list[Transition]) -> None:
        self._enter(HALF_OPEN)
        out.append(Transition(OPEN, HALF_OPEN, "the break is over", now))

    def _close(self, now: float, reason: str, out: list[Transition]) -> None:
        source = self._state
        self._enter(CLOSED)
        self._openings = 0
        self._break = 0.0
        self._blocked_until = -math.inf
        self._opened_at = None
        self._clear_window()
        out.append(Transition(source, CLOSED, reason, now))

    def _clear_window(self) -> None:
        self._window.clear()
        self._window_epoch += 1
        standing = Permit("call", self._window_epoch)
        self._fast = Grant(standing)
        self.standing = standing
