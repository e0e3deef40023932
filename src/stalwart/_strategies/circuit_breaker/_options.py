"""`CircuitBreaker`: the options, validated once, and the breaker's state, per partition."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, final

from ..._clock import current_clock
from ..._outcome import Classifier, classify_exceptions
from ..._state.partitions import DEFAULT_MAX_PARTITIONS, Partitions
from ..._state.store import MEMORY, StateStore
from .._base import KeyFunction, Runner, Strategy, options_repr, partitions_of
from ._events import announce
from ._runner import CircuitBreakerRunner
from ._state import BreakerConfig, BreakerState, CircuitState, CircuitStatistics

__all__ = ["CircuitBreaker"]

_DEFAULT_WINDOW = 30.0
_DEFAULT_BUCKETS = 10


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    return float(value)


def _seconds(name: str, value: object) -> float:
    seconds = _number(name, value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return seconds


def _ratio(name: str, value: object) -> float:
    ratio = _number(name, value)
    if not 0 < ratio <= 1:
        raise ValueError(f"{name} must be a ratio in (0, 1], got {value!r}")
    return ratio


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False, eq=False)
class CircuitBreaker(Strategy):
    """Stop calling an upstream that is failing, then let a few probes find out when it is back.

    ```python
    breaker = stalwart.CircuitBreaker(on=ConnectionError)      # failure ratio 0.5, 20 calls
    stalwart.CircuitBreaker(failure_ratio=0.25, min_calls=50, window=60.0)
    stalwart.CircuitBreaker(window_calls=100)                  # the last 100 calls
    stalwart.CircuitBreaker(slow_call_duration=2.0)            # all calls slower than 2 s trip it
    stalwart.CircuitBreaker(key=lambda request: request.url.host)   # one circuit per host
    breaker.state()        # CircuitState.CLOSED        breaker.statistics()  # a snapshot
    breaker.isolate()      # hold open until breaker.reset()
    ```

    **Closed**: calls pass and their outcomes are counted in a window: by default the
    last `window=30.0` seconds in `buckets=10` time buckets (so between 27 and 30 s of
    history), or with `window_calls=N` the last N calls (then leave `window` and
    `buckets` alone). Once the window holds at least `min_calls=20` calls (capped at
    `window_calls`), the circuit opens when failures ÷ calls ≥ `failure_ratio=0.5`, or,
    with `slow_call_duration` set (off by default), when calls slower than it ÷ calls ≥
    `slow_call_ratio=1.0`. The check runs as each failed or slow call is recorded.

    **Open**: calls fail at once with `CircuitOpen`, whose `retry_after` is the time
    left in the break and `key` the partition. The break lasts `break_for=5.0` seconds
    and grows ×`break_multiplier=2.0` with each consecutive opening, up to
    `max_break_for=60.0`; closing resets it. There is no timer: the first call after the
    break turns the circuit **half-open** (as in Polly).

    **Half-open**: up to `probes=1` calls pass as probes, the rest are rejected. When all
    of them succeed the circuit closes with an empty window; one failure (or one slow
    call, when slow detection is on) opens it again. A probe that has not reported
    within `probe_timeout=10.0` seconds (the standard per-attempt timeout) counts as
    failed, so the circuit can never stick half-open; its late result is ignored.

    Which outcomes are failures: give `on=` (exception types or a predicate, as for
    `Retry`) or `classify=` (a `Classifier`, which can fail results too); with neither,
    every exception is a failure (the Polly and resilience4j default). Verdicts
    `TRANSIENT`, `THROTTLED` and `TIMEOUT` are failures; `SUCCESS` and `FATAL` (an
    exception `on` does not match, say a 404: the upstream did answer) are successes;
    `CANCELLED` is neutral: the caller's cancellation is never counted, and a cancelled
    probe frees its slot. stalwart's own rejections from strategies inside the breaker
    (`Rejected`) are neutral too: the upstream was never called. Deadlines are judged by
    whose they are: a `Timeout(per_attempt=...)` inside the breaker expiring is always a
    failure (`TIMEOUT`); the caller's own deadline passing is neutral, as cancellation.

    In a `Pipeline`, put the breaker inside the `Retry` (after it), so each attempt is
    counted; add `CircuitOpen` to the Retry's `on=` to have it wait `retry_after`.

    Other options: `metrics_only=False` (True: count, transition and emit events, but
    never reject: to try a breaker out in production); `key=None` (a function of the
    call's arguments naming its partition, each with its own circuit); `max_partitions=
    1024` (least recently used partitions are forgotten beyond it, and start closed if
    they return, isolated ones included); `store=MEMORY`; `name="circuit_breaker"`.

    The breaker's state belongs to this object, shared by every pipeline it is in and
    safe to use from any thread or task; no lock is held while the call runs. Each
    breaker is equal only to itself, and `replace()` returns one with a fresh state.
    Bad options raise `TypeError` or `ValueError` naming the parameter: ratios must be in
    (0, 1], counts and durations > 0, `break_multiplier` >= 1, `max_break_for` >=
    `break_for`.
    """

    on: (
        type[BaseException]
        | tuple[type[BaseException], ...]
        | Callable[[BaseException], bool]
        | None
    ) = None
    classify: Classifier | None = None
    failure_ratio: float = 0.5
    min_calls: int = 20
    window: float = _DEFAULT_WINDOW
    buckets: int = _DEFAULT_BUCKETS
    window_calls: int | None = None
    slow_call_duration: float | None = None
    slow_call_ratio: float = 1.0
    break_for: float = 5.0
    break_multiplier: float = 2.0
    max_break_for: float = 60.0
    probes: int = 1
    probe_timeout: float = 10.0
    metrics_only: bool = False
    key: KeyFunction | None = None
    max_partitions: int = DEFAULT_MAX_PARTITIONS
    store: StateStore = field(default=MEMORY, compare=False)
    name: str = "circuit_breaker"
    _classifier: Classifier = field(init=False, repr=False, compare=False)
    _config: BreakerConfig = field(init=False, repr=False, compare=False)
    _partitions: Partitions[BreakerState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.on is not None and self.classify is not None:
            raise TypeError("give CircuitBreaker either `on=` or `classify=`, not both")
        if self.classify is not None:
            if not callable(self.classify):
                raise TypeError(f"classify must be callable, got {self.classify!r}")
            classifier = self.classify
        else:
            classifier = classify_exceptions(Exception if self.on is None else self.on)
        set_ = object.__setattr__
        set_(self, "_classifier", classifier)
        set_(self, "failure_ratio", _ratio("failure_ratio", self.failure_ratio))
        set_(self, "slow_call_ratio", _ratio("slow_call_ratio", self.slow_call_ratio))
        set_(self, "min_calls", _count("min_calls", self.min_calls))
        set_(self, "window", _seconds("window", self.window))
        set_(self, "buckets", _count("buckets", self.buckets))
        if self.window_calls is not None:
            _count("window_calls", self.window_calls)
            if self.window != _DEFAULT_WINDOW or self.buckets != _DEFAULT_BUCKETS:
                raise TypeError(
                    "give window=/buckets= (a window of seconds) or window_calls= "
                    "(a window of the last N calls), not both"
                )
        if self.slow_call_duration is not None:
            set_(
                self, "slow_call_duration", _seconds("slow_call_duration", self.slow_call_duration)
            )
        set_(self, "break_for", _seconds("break_for", self.break_for))
        multiplier = _number("break_multiplier", self.break_multiplier)
        if not (multiplier >= 1 and math.isfinite(multiplier)):
            raise ValueError(f"break_multiplier must be a finite number >= 1, got {multiplier!r}")
        set_(self, "break_multiplier", multiplier)
        set_(self, "max_break_for", _seconds("max_break_for", self.max_break_for))
        if self.max_break_for < self.break_for:
            raise ValueError(
                f"max_break_for must be >= break_for ({self.break_for:g} s), "
                f"got {self.max_break_for!r}"
            )
        set_(self, "probes", _count("probes", self.probes))
        set_(self, "probe_timeout", _seconds("probe_timeout", self.probe_timeout))
        if not isinstance(self.metrics_only, bool):
            raise TypeError(f"metrics_only must be a bool, got {self.metrics_only!r}")
        config = BreakerConfig(
            failure_ratio=self.failure_ratio,
            slow_call_ratio=self.slow_call_ratio,
            slow_call_duration=self.slow_call_duration,
            min_calls=self.min_calls,
            window=self.window,
            buckets=self.buckets,
            window_calls=self.window_calls,
            break_for=self.break_for,
            break_multiplier=self.break_multiplier,
            max_break_for=self.max_break_for,
            probes=self.probes,
            probe_timeout=self.probe_timeout,
            metrics_only=self.metrics_only,
        )
        set_(self, "_config", config)
        set_(
            self,
            "_partitions",
            partitions_of(self, "circuit_breaker", partial(BreakerState, config)),
        )

    __repr__ = options_repr

    def replace(self, **changes: Any) -> CircuitBreaker:
        """A copy with some options changed, validated again, with a fresh (closed) state."""
        return dataclasses.replace(self, **changes)

    def state(self, key: Hashable = None) -> CircuitState:
        """The state of partition `key` (the only one, None, when there is no key function)."""
        return self.statistics(key).state

    def statistics(self, key: Hashable = None) -> CircuitStatistics:
        """A snapshot of partition `key`; an unknown partition is reported closed and empty."""
        now = current_clock().monotonic()
        state = self._partitions.peek(key)
        if state is None:
            return BreakerState(self._config, key).snapshot(now)[0]
        statistics, transitions = state.snapshot(now)
        if transitions:
            announce(self.name, key, transitions, probes=self.probes)
        return statistics

    def keys(self) -> list[Hashable]:
        """The partitions this breaker currently remembers, least recently used first."""
        return list(self._partitions.keys())

    def isolate(self, key: Hashable = None) -> None:
        """Hold partition `key` open, rejecting every call, until `reset(key)`.

        `CircuitOpen.retry_after` is None meanwhile. In metrics-only mode calls still pass.
        """
        transitions = self._partitions.get(key).isolate(current_clock().monotonic())
        announce(self.name, key, transitions, probes=self.probes)

    def reset(self, key: Hashable = None) -> None:
        """Close partition `key`, clearing its counts and its run of openings."""
        state = self._partitions.peek(key)
        if state is not None:
            transitions = state.reset(current_clock().monotonic())
            announce(self.name, key, transitions, probes=self.probes)

    def _bind(self, inner: Runner) -> Runner:
        return CircuitBreakerRunner(self, inner)
