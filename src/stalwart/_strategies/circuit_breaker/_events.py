"""The circuit breaker's events: one per transition, and one per rejected call.

Levels: opened and isolated are WARNING (an upstream is being cut off), half-opened and
closed are INFO, a rejected call is DEBUG (there is one per call while open, too many
for a default log).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import ClassVar, final

from ..._events import Event, emit
from ._state import CLOSED, HALF_OPEN, OPEN, CircuitState, Transition

__all__ = [
    "CircuitClosed",
    "CircuitHalfOpened",
    "CircuitIsolated",
    "CircuitOpened",
    "CircuitRejected",
    "announce",
]


def _where(strategy: str, key: Hashable) -> str:
    return strategy if key is None else f"{strategy} [{key!r}]"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitOpened(Event):
    """The circuit of partition `key` opened for `break_for` seconds, for `reason`.

    `previous` is CLOSED (the window tripped) or HALF_OPEN (a probe failed, was slow or
    timed out); `openings` counts consecutive openings since the circuit last closed;
    `exception` is the outcome that tripped it, when there was one.
    """

    name: ClassVar[str] = "circuit_opened"
    level: ClassVar[int] = logging.WARNING
    key: Hashable
    previous: CircuitState
    reason: str
    break_for: float
    openings: int
    exception: BaseException | None = None

    def message(self) -> str:
        return (
            f"{_where(self.strategy, self.key)}: circuit opened for {self.break_for:g} s "
            f"(opening {self.openings}): {self.reason}"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitHalfOpened(Event):
    """The break of partition `key` is over: up to `probes` probe calls may now pass."""

    name: ClassVar[str] = "circuit_half_opened"
    level: ClassVar[int] = logging.INFO
    key: Hashable
    probes: int

    def message(self) -> str:
        where = _where(self.strategy, self.key)
        return f"{where}: circuit half-open, admitting {self.probes} probe(s)"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitClosed(Event):
    """The circuit of partition `key` closed, from `previous`, for `reason` (probes or reset)."""

    name: ClassVar[str] = "circuit_closed"
    level: ClassVar[int] = logging.INFO
    key: Hashable
    previous: CircuitState
    reason: str

    def message(self) -> str:
        return f"{_where(self.strategy, self.key)}: circuit closed: {self.reason}"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitIsolated(Event):
    """`isolate()` is holding the circuit of partition `key` open until `reset()`."""

    name: ClassVar[str] = "circuit_isolated"
    level: ClassVar[int] = logging.WARNING
    key: Hashable
    previous: CircuitState

    def message(self) -> str:
        return f"{_where(self.strategy, self.key)}: circuit isolated until reset()"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitRejected(Event):
    """A call to partition `key` was refused because the circuit is `state`.

    `retry_after` is the seconds until a probe would be admitted (None while isolated).
    `enforced` is False in metrics-only mode, where the call ran anyway.
    """

    name: ClassVar[str] = "circuit_rejected"
    level: ClassVar[int] = logging.DEBUG
    key: Hashable
    state: CircuitState
    retry_after: float | None
    enforced: bool = True

    def message(self) -> str:
        verb = "rejected" if self.enforced else "would have rejected (metrics only)"
        wait = "" if self.retry_after is None else f"; retry after {self.retry_after:.3f} s"
        return f"{_where(self.strategy, self.key)}: circuit {self.state.value}, {verb} a call{wait}"


def announce(
    strategy: str,
    key: Hashable,
    transitions: Iterable[Transition],
    *,
    probes: int,
    exception: BaseException | None = None,
) -> None:
    """Emit one event per transition (outside any lock)."""
    for transition in transitions:
        target = transition.target
        event: Event
        if target is OPEN:
            assert transition.break_for is not None
            event = CircuitOpened(
                strategy=strategy,
                key=key,
                previous=transition.source,
                reason=transition.reason,
                break_for=transition.break_for,
                openings=transition.openings,
                exception=exception if transition.by_outcome else None,
            )
        elif target is HALF_OPEN:
            event = CircuitHalfOpened(strategy=strategy, key=key, probes=probes)
        elif target is CLOSED:
            event = CircuitClosed(
                strategy=strategy, key=key, previous=transition.source, reason=transition.reason
            )
        else:
            event = CircuitIsolated(strategy=strategy, key=key, previous=transition.source)
        emit(event)
