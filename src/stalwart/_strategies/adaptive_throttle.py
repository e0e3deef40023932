"""AdaptiveThrottle: the client-side throttling of Google's SRE book ("Handling Overload").

Each partition counts, over a sliding window, the `requests` it made and the `accepts`
the callee granted, and rejects a new call locally with probability

    p = max(0, (requests − k·accepts) / (requests + 1))

A healthy callee accepts everything and p stays 0; as it refuses more, the client sends
it less, down to about `k` times what it accepts, and recovers on its own as accepts come
back. A locally rejected call raises `Throttled` and counts as a request, as in the book.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeAlias, final

from .. import _context
from .._clock import current_clock
from .._events import Event, emit
from .._exceptions import DeadlineExceeded, Rejected, Throttled
from .._outcome import Classifier, Outcome, Verdict, classify_exceptions, is_cancellation
from .._state.partitions import DEFAULT_MAX_PARTITIONS, Partitions
from .._state.store import MEMORY, StateStore
from .._state.window import RollingWindow
from .._validation import check_int, check_number
from ._base import (
    KeyFunction,
    Runner,
    Strategy,
    WrongKind,
    options_repr,
    partition_key,
    partitions_of,
)
from .timeout import is_attempt_timeout

__all__ = [
    "AdaptiveThrottle",
    "AdaptiveThrottleStatistics",
    "ThrottleRejected",
    "rejection_probability",
]

_REQUESTS: Final = 0
_ACCEPTS: Final = 1

#: Verdicts that mean the callee did not accept the call.
_REFUSED: Final = frozenset({Verdict.TRANSIENT, Verdict.THROTTLED, Verdict.TIMEOUT})

_ExceptionMatch: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)


def rejection_probability(requests: float, accepts: float, k: float) -> float:
    """The SRE book's formula: `max(0, (requests − k·accepts) / (requests + 1))`.

    Always in [0, 1): however many calls were refused, one in `requests + 1` still
    gets through, so the client notices when the callee recovers.
    """
    return max(0.0, (requests - k * accepts) / (requests + 1.0))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleRejected(Event):
    """The throttle rejected a call for partition `key` locally, with `probability`,
    from `requests` and `accepts` counted over its window."""

    name: ClassVar[str] = "throttle_rejected"
    level: ClassVar[int] = logging.INFO
    key: object
    probability: float
    requests: float
    accepts: float

    def message(self) -> str:
        where = "" if self.key is None else f" for {self.key!r}"
        return (
            f"{self.strategy}: rejected a call locally{where} with probability "
            f"{self.probability:.3f} ({self.requests:g} requests, {self.accepts:g} accepted)"
        )


@final
@dataclass(frozen=True, slots=True)
class AdaptiveThrottleStatistics:
    """A snapshot of one partition of an `AdaptiveThrottle`, over its window.

    `requests` counts calls made (locally rejected ones included), `accepts` the calls
    the callee accepted, and `rejection_probability` is the chance the next call is
    rejected locally.
    """

    key: object
    requests: int
    accepts: int
    rejection_probability: float


@final
class _ThrottleState:
    """One partition's counts; every operation is atomic under its own lock."""

    __slots__ = ("_lock", "_window")

    def __init__(self, window: float, buckets: int) -> None:
        self._window = RollingWindow(length=window, buckets=buckets, fields=2)
        self._lock = threading.Lock()

    def admit(
        self, now: float, k: float, draw: Callable[[], float], min_requests: int = 0
    ) -> tuple[float, float, float] | None:
        """None to let the call through; else (p, requests, accepts), the rejection counted.

        Below `min_requests` requests in the window nothing is rejected. `draw` is called
        only when p > 0, so a healthy throttle draws no randomness.
        """
        with self._lock:
            requests, accepts = self._window.totals(now)
            if requests < min_requests:
                return None
            probability = rejection_probability(requests, accepts, k)
            if probability <= 0.0 or draw() >= probability:
                return None
            self._window.add(now, _REQUESTS)
            return probability, requests, accepts

    def record(self, now: float, *, accepted: bool) -> None:
        """Count one finished request, and one accept if the callee accepted it."""
        with self._lock:
            self._window.add(now, _REQUESTS)
            if accepted:
                self._window.add(now, _ACCEPTS)

    def totals(self, now: float) -> tuple[float, float]:
        with self._lock:
            requests, accepts = self._window.totals(now)
        return requests, accepts


@final
# Compared by identity: each instance owns its state (its slots, tokens or counts).
@dataclass(frozen=True, slots=True, kw_only=True, repr=False, eq=False)
class AdaptiveThrottle(Strategy):
    """Reject calls locally, before they leave the process, while the callee refuses many.

    ```python
    throttle = stalwart.AdaptiveThrottle(key=lambda request: request.url.host)
    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError),
        throttle,                              # inside the Retry: every attempt counts
        stalwart.Timeout(per_attempt=2.0),
    )
    throttle.statistics("api.example.com")     # requests, accepts, rejection_probability
    ```

    Over the last `window` seconds it counts `requests` and `accepts`, and rejects a new
    call with probability `max(0, (requests − k·accepts) / (requests + 1))` by raising
    `Throttled` (with `key`, and `retry_after=None`). A rejected call counts as a
    request, so a callee that keeps refusing is sent less and less, never nothing: p
    stays below 1. Randomness comes from the current clock (`clock.random()`), drawn
    only while p > 0, so a seeded `FakeClock` makes rejections repeatable.

    The formula assumes refusals come from overload that sending less relieves. At low
    traffic a single early refusal would already give p = 0.5 (hence `min_requests`),
    and a callee that refuses about 1/k of calls whatever the load keeps p high (each
    local rejection is one more request without an accept): test it with `Chaos` rates
    well below 1/k.

    What counts as accepted: a call is counted when it finishes, as a refusal when its
    verdict is `TRANSIENT`, `THROTTLED` or `TIMEOUT` (an overloaded callee refuses,
    fails or times out), as an accept otherwise (`SUCCESS`, and `FATAL`: the callee
    answered, if only to say no). The verdict comes from:

    - neither option (the default): every exception counts as a refusal, every result
      as an accept;
    - `on`: exception types or a predicate; matching exceptions are refusals, other
      exceptions and every result are accepts;
    - `classify`: a `Classifier`, which sees results too (e.g. an HTTP 503 response).

    Some calls count neither way, whatever the options say: cancellation by the caller
    (`Cancelled`, asyncio's and trio's cancellation, `KeyboardInterrupt`), stalwart's
    own refusals from strategies inside it (`Rejected`: an open circuit, a full
    bulkhead), and a sync/async mix-up (`WrongKind`): none of them reached the callee.

    Options, with their defaults:

    - `k=2.0`: the book's K; >= 1 (below 1 a healthy callee would be throttled). About
      `k` requests are sent per accepted one; lower wastes less and recovers slower.
    - `min_requests=20`: below this many requests in the window nothing is rejected,
      like Envoy admission control's request-rate threshold: at low traffic the formula
      would shed half the calls after one early refusal. 0 applies the book's formula
      from the first request.
    - `window=120.0`: seconds of history (> 0), the book's two minutes, kept in
      `buckets=12` time buckets (>= 1); counts leave the window one bucket at a time,
      so the totals span between `window − window/buckets` and `window` seconds.
    - `key=None`: a function of the call's arguments picking the partition (the
      destination); `None` means one throttle for every call.
    - `max_partitions=1024`: partitions kept (least recently used evicted).
    - `store=MEMORY`: where the counts live.
    - `name="adaptive_throttle"`: how events and errors name this strategy.

    The state belongs to this object: pipelines sharing it share the counts; `replace`
    returns a copy with fresh, empty counts.
    """

    k: float = 2.0
    window: float = 120.0
    buckets: int = 12
    min_requests: int = 20
    on: _ExceptionMatch | None = None
    classify: Classifier | None = None
    key: KeyFunction | None = None
    max_partitions: int = DEFAULT_MAX_PARTITIONS
    store: StateStore = field(default=MEMORY, compare=False)
    name: str = "adaptive_throttle"
    _classifier: Classifier = field(init=False, repr=False, compare=False)
    _partitions: Partitions[_ThrottleState] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_number("k", self.k, minimum=1)
        check_int("min_requests", self.min_requests, minimum=0)
        check_number("window", self.window, above=0)
        check_int("buckets", self.buckets, minimum=1)
        if self.on is not None and self.classify is not None:
            raise TypeError("give AdaptiveThrottle either `on=` or `classify=`, not both")
        if self.classify is not None:
            if not callable(self.classify):
                raise TypeError(f"classify must be callable, got {self.classify!r}")
            classifier = self.classify
        else:
            classifier = classify_exceptions(Exception if self.on is None else self.on)
        object.__setattr__(self, "_classifier", classifier)
        window, buckets = self.window, self.buckets
        partitions = partitions_of(
            self, "adaptive_throttle", lambda key: _ThrottleState(window, buckets)
        )
        object.__setattr__(self, "_partitions", partitions)

    __repr__ = options_repr

    # -- decisions and state -----------------------------------------------------------

    def replace(self, **changes: Any) -> AdaptiveThrottle:
        """A copy with some options changed (and fresh, empty counts), validated again."""
        return dataclasses.replace(self, **changes)

    def rejection_probability(self, requests: float, accepts: float) -> float:
        """p for these counts with this throttle's `k`, without any state or I/O."""
        return rejection_probability(requests, accepts, self.k)

    def accepted(self, outcome: Outcome[Any]) -> bool | None:
        """Whether the callee accepted the call that ended in `outcome`; None when the
        call counts neither way (cancellation, stalwart's own refusals, WrongKind)."""
        exception = outcome.exception
        if exception is not None and (
            is_cancellation(exception) or isinstance(exception, Rejected | WrongKind)
        ):
            return None
        verdict = self._classifier(outcome)
        if verdict is Verdict.CANCELLED:
            return None
        return verdict not in _REFUSED

    def statistics(self, key: Hashable = None) -> AdaptiveThrottleStatistics:
        """A snapshot of partition `key` now (an unseen key reports zero counts)."""
        state = self._partitions.peek(key)
        requests, accepts = (
            (0.0, 0.0) if state is None else state.totals(current_clock().monotonic())
        )
        return AdaptiveThrottleStatistics(
            key, int(requests), int(accepts), rejection_probability(requests, accepts, self.k)
        )

    def _admit(self, key: Hashable) -> _ThrottleState:
        """The partition's state if the call may go; else raise `Throttled`."""
        state = self._partitions.get(key)
        clock = current_clock()
        rejected = state.admit(clock.monotonic(), self.k, clock.random, self.min_requests)
        if rejected is None:
            return state
        probability, requests, accepts = rejected
        emit(
            ThrottleRejected(
                strategy=self.name,
                key=key,
                probability=probability,
                requests=requests,
                accepts=accepts,
            )
        )
        where = "" if key is None else f" for {key!r}"
        raise Throttled(
            f"{self.name} rejected the call locally{where} (probability {probability:.3f}: "
            f"{requests:g} requests, {accepts:g} accepted in the last {self.window:g} s)",
            key=key,
        )

    def _bind(self, inner: Runner) -> Runner:
        return _ThrottleRunner(self, inner)


@final
class _ThrottleRunner:
    __slots__ = ("_checks_results", "_inner", "_throttle")

    def __init__(self, throttle: AdaptiveThrottle, inner: Runner) -> None:
        self._throttle = throttle
        self._inner = inner
        self._checks_results = throttle.classify is not None

    def _finished(self, state: _ThrottleState, outcome: Outcome[Any]) -> None:
        now = current_clock().monotonic()
        exception = outcome.exception
        if isinstance(exception, DeadlineExceeded):
            limit = _context.current().deadline
            if is_attempt_timeout(exception, limit):
                state.record(now, accepted=False)  # the callee did not answer in time
                return
            if now >= limit:
                return  # the caller's own deadline: neutral, as cancellation is in async code
        accepted = self._throttle.accepted(outcome)
        if accepted is not None:
            state.record(now, accepted=accepted)

    def _returned(self, state: _ThrottleState, result: Any) -> None:
        if self._checks_results:
            self._finished(state, Outcome(result, None))
        else:
            state.record(current_clock().monotonic(), accepted=True)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        state = self._throttle._admit(partition_key(self._throttle.key, args, kwargs))
        try:
            result = self._inner.call(fn, args, kwargs)
        except Exception as exc:
            self._finished(state, Outcome(None, exc))
            raise
        self._returned(state, result)
        return result

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        state = self._throttle._admit(partition_key(self._throttle.key, args, kwargs))
        try:
            result = await self._inner.acall(fn, args, kwargs)
        except Exception as exc:
            self._finished(state, Outcome(None, exc))
            raise
        self._returned(state, result)
        return result
