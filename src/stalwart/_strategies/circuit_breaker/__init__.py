"""The circuit breaker: stop calling an upstream that keeps failing, probe until it is back.

Laid out as Polly's: the options and public strategy (`_options`), the I/O-free state
machine per partition (`_state`), its windows (`_window`), the drivers (`_runner`) and
the events (`_events`).
"""

from ._events import (
    CircuitClosed,
    CircuitHalfOpened,
    CircuitIsolated,
    CircuitOpened,
    CircuitRejected,
)
from ._options import CircuitBreaker
from ._state import CircuitState, CircuitStatistics

__all__ = [
    "CircuitBreaker",
    "CircuitClosed",
    "CircuitHalfOpened",
    "CircuitIsolated",
    "CircuitOpened",
    "CircuitRejected",
    "CircuitState",
    "CircuitStatistics",
]
