"""The circuit breaker's sync and async drivers: acquire a permit, call, record. No decisions.

Whether a call may pass, and what its outcome does to the circuit, is decided by the
partition's `BreakerState` under its own lock; the drivers never hold that lock while
the call runs, and turn the transitions it reports into events afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Final, final

from ... import _context
from ..._clock import Clock, current_clock
from ..._events import emit
from ..._exceptions import CircuitOpen, DeadlineExceeded, Rejected
from ..._outcome import Outcome, Verdict, is_cancellation, judges_results
from .._base import Runner, WrongKind
from ..timeout import is_attempt_timeout
from ._events import CircuitRejected, announce
from ._state import HALF_OPEN, ISOLATED, BreakerState, Grant, Permit

if TYPE_CHECKING:
    from ._options import CircuitBreaker

__all__ = ["CircuitBreakerRunner"]

#: The verdicts that count against the upstream; SUCCESS and FATAL count for it.
_FAILURES: Final = frozenset({Verdict.TRANSIENT, Verdict.THROTTLED, Verdict.TIMEOUT})
_CANCELLED: Final = Verdict.CANCELLED


@final
class CircuitBreakerRunner:
    __slots__ = (
        "_checks_results",
        "_classify",
        "_inner",
        "_key",
        "_name",
        "_partitions",
        "_probes",
        "_single",
    )

    def __init__(self, breaker: CircuitBreaker, inner: Runner) -> None:
        self._inner = inner
        self._name = breaker.name
        self._key = breaker.key
        self._probes = breaker.probes
        self._classify = breaker._classifier
        self._checks_results = judges_results(breaker.classify)
        self._partitions = breaker._partitions
        # Without a key function there is one partition, never evicted: skip the lookup.
        self._single = breaker._partitions.get(None) if breaker.key is None else None

    def _admit(self, key: Hashable, grant: Grant) -> Permit:
        """The slow path of admission: announce transitions, refuse, or let a shadow call pass."""
        if grant.transitions:
            announce(self._name, key, grant.transitions, probes=self._probes)
        state = grant.refused_by
        permit = grant.permit
        if state is None:
            assert permit is not None
            return permit
        retry_after = grant.retry_after
        emit(
            CircuitRejected(
                strategy=self._name,
                key=key,
                state=state,
                retry_after=retry_after,
                enforced=permit is None,
            )
        )
        if permit is not None:
            return permit  # metrics only: the call runs anyway
        where = "" if key is None else f" for {key!r}"
        if state is ISOLATED:
            detail = "is isolated: it stays open until reset()"
        elif state is HALF_OPEN:
            detail = (
                f"is half-open with its {self._probes} probe(s) in flight; "
                f"retry after {retry_after:.3f} s"
            )
        else:
            detail = f"is open; a probe will be admitted in {retry_after:.3f} s"
        raise CircuitOpen(
            f"circuit breaker {self._name!r}{where} {detail}", retry_after=retry_after, key=key
        )

    def _settle(
        self,
        state: BreakerState,
        key: Hashable,
        permit: Permit,
        clock: Clock,
        start: float,
        outcome: Outcome[Any],
    ) -> None:
        """Classify a finished call and report it to its state."""
        exception = outcome.exception
        if exception is None:
            verdict = self._classify(outcome)
        elif is_cancellation(exception) or isinstance(exception, Rejected | WrongKind):
            verdict = _CANCELLED
        elif isinstance(exception, DeadlineExceeded):
            verdict = self._deadline_verdict(outcome, exception, clock)
        else:
            verdict = self._classify(outcome)
        if verdict is _CANCELLED:
            transitions = state.release(permit, clock.monotonic())
        else:
            end = clock.monotonic()
            transitions = state.record(permit, end, verdict in _FAILURES, end - start)
        if transitions:
            announce(self._name, key, transitions, probes=self._probes, exception=exception)

    def _deadline_verdict(
        self, outcome: Outcome[Any], exception: DeadlineExceeded, clock: Clock
    ) -> Verdict:
        """Whose deadline ran out decides, whatever the classifier says: a timeout inside the
        breaker (a per-attempt `Timeout`) is the upstream's failure; the caller's own deadline
        passing is the caller's decision, neutral like a cancellation (which is how it reaches
        the breaker in async code)."""
        limit = _context.current().deadline
        if is_attempt_timeout(exception, limit):
            return Verdict.TIMEOUT
        if limit != math.inf and clock.monotonic() >= limit:
            return _CANCELLED
        return self._classify(outcome)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        state = self._single  # the call's partition (None: the only one)
        key: Hashable = None
        if state is None:
            pick = self._key
            if pick is not None:
                key = pick(*args, **kwargs)
            state = self._partitions.get(key)
        clock = current_clock()
        start = clock.monotonic()
        permit = state.standing  # a closed circuit's: one read, without the lock
        if permit is None:
            grant = state.acquire(start)
            permit = grant.permit
            if permit is None or grant.refused_by is not None or grant.transitions:
                permit = self._admit(key, grant)
        try:
            result = self._inner.call(fn, args, kwargs)
        except BaseException as exc:
            self._settle(state, key, permit, clock, start, Outcome(None, exc))
            raise
        if self._checks_results:
            self._settle(state, key, permit, clock, start, Outcome(result, None))
        else:
            end = clock.monotonic()
            transitions = state.record(permit, end, False, end - start)
            if transitions:
                announce(self._name, key, transitions, probes=self._probes)
        return result

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        state = self._single  # the call's partition (None: the only one)
        key: Hashable = None
        if state is None:
            pick = self._key
            if pick is not None:
                key = pick(*args, **kwargs)
            state = self._partitions.get(key)
        clock = current_clock()
        start = clock.monotonic()
        permit = state.standing  # a closed circuit's: one read, without the lock
        if permit is None:
            grant = state.acquire(start)
            permit = grant.permit
            if permit is None or grant.refused_by is not None or grant.transitions:
                permit = self._admit(key, grant)
        try:
            result = await self._inner.acall(fn, args, kwargs)
        except BaseException as exc:
            self._settle(state, key, permit, clock, start, Outcome(None, exc))
            raise
        if self._checks_results:
            self._settle(state, key, permit, clock, start, Outcome(result, None))
        else:
            end = clock.monotonic()
            transitions = state.record(permit, end, False, end - start)
            if transitions:
                announce(self._name, key, transitions, probes=self._probes)
        return result
