"""stalwart: call external services without letting them take your service down.

Deadlines and cancellation that flow through the whole call tree (Go's
`context.Context`, done the Python way), and resilience strategies composed into a
`Pipeline`, for sync code, asyncio and trio.
"""

import importlib as _importlib
import typing as _typing
from contextlib import suppress as _suppress

from ._backoff import Backoff as Backoff
from ._backoff import Jitter as Jitter
from ._clock import Clock as Clock
from ._clock import SystemClock as SystemClock
from ._clock import use_clock as use_clock
from ._context import Scope as Scope
from ._context import asleep as asleep
from ._context import bind as bind
from ._context import cancel_scope as cancel_scope
from ._context import carry_context as carry_context
from ._context import check as check
from ._context import current_deadline as current_deadline
from ._context import deadline as deadline
from ._context import move_on_after as move_on_after
from ._context import remaining as remaining
from ._context import sleep as sleep
from ._context import start_thread as start_thread
from ._context import value as value
from ._context import values as values
from ._events import Event as Event
from ._events import Listener as Listener
from ._events import RetryGaveUp as RetryGaveUp
from ._events import RetryScheduled as RetryScheduled
from ._events import TimeoutExpired as TimeoutExpired
from ._events import add_listener as add_listener
from ._events import log_event as log_event
from ._events import remove_listener as remove_listener
from ._exceptions import BulkheadFull as BulkheadFull
from ._exceptions import Cancelled as Cancelled
from ._exceptions import CircuitOpen as CircuitOpen
from ._exceptions import DeadlineExceeded as DeadlineExceeded
from ._exceptions import RateLimited as RateLimited
from ._exceptions import Rejected as Rejected
from ._exceptions import RetryBudgetExhausted as RetryBudgetExhausted
from ._exceptions import StalwartError as StalwartError
from ._exceptions import Throttled as Throttled
from ._outcome import Classifier as Classifier
from ._outcome import Outcome as Outcome
from ._outcome import Verdict as Verdict
from ._outcome import classify_exceptions as classify_exceptions
from ._outcome import is_cancellation as is_cancellation
from ._pipeline import Pipeline as Pipeline
from ._state.store import MemoryStore as MemoryStore
from ._state.store import StateStore as StateStore
from ._strategies._base import Strategy as Strategy
from ._strategies.adaptive_throttle import AdaptiveThrottle as AdaptiveThrottle
from ._strategies.adaptive_throttle import AdaptiveThrottleStatistics as AdaptiveThrottleStatistics
from ._strategies.adaptive_throttle import ThrottleRejected as ThrottleRejected
from ._strategies.bulkhead import Bulkhead as Bulkhead
from ._strategies.bulkhead import BulkheadRejected as BulkheadRejected
from ._strategies.bulkhead import BulkheadStatistics as BulkheadStatistics
from ._strategies.bulkhead import BulkheadWaited as BulkheadWaited
from ._strategies.chaos import Chaos as Chaos
from ._strategies.chaos import ChaosInjected as ChaosInjected
from ._strategies.circuit_breaker import CircuitBreaker as CircuitBreaker
from ._strategies.circuit_breaker import CircuitClosed as CircuitClosed
from ._strategies.circuit_breaker import CircuitHalfOpened as CircuitHalfOpened
from ._strategies.circuit_breaker import CircuitIsolated as CircuitIsolated
from ._strategies.circuit_breaker import CircuitOpened as CircuitOpened
from ._strategies.circuit_breaker import CircuitRejected as CircuitRejected
from ._strategies.circuit_breaker import CircuitState as CircuitState
from ._strategies.circuit_breaker import CircuitStatistics as CircuitStatistics
from ._strategies.fallback import Fallback as Fallback
from ._strategies.fallback import FallbackUsed as FallbackUsed
from ._strategies.hedge import Hedge as Hedge
from ._strategies.hedge import HedgeBudgetExhausted as HedgeBudgetExhausted
from ._strategies.hedge import HedgeStarted as HedgeStarted
from ._strategies.hedge import HedgeWon as HedgeWon
from ._strategies.hedge import LatencyPercentile as LatencyPercentile
from ._strategies.rate_limiter import RateLimiter as RateLimiter
from ._strategies.rate_limiter import RateLimiterDelayed as RateLimiterDelayed
from ._strategies.rate_limiter import RateLimiterRejected as RateLimiterRejected
from ._strategies.rate_limiter import RateLimiterStatistics as RateLimiterStatistics
from ._strategies.retry import Retry as Retry
from ._strategies.retry import retry_after_hint as retry_after_hint
from ._strategies.retry_budget import RetryBudget as RetryBudget
from ._strategies.retry_budget import RetryBudgetExhaustedEvent as RetryBudgetExhaustedEvent
from ._strategies.retry_budget import RetryBudgetStatistics as RetryBudgetStatistics
from ._strategies.timeout import Timeout as Timeout

if _typing.TYPE_CHECKING:
    from . import httpx as httpx
    from .httpx import AsyncClient as AsyncClient
    from .httpx import Client as Client

__version__ = "0.1.0.dev0"

__all__ = [
    "AdaptiveThrottle",
    "AdaptiveThrottleStatistics",
    "AsyncClient",
    "Backoff",
    "Bulkhead",
    "BulkheadFull",
    "BulkheadRejected",
    "BulkheadStatistics",
    "BulkheadWaited",
    "Cancelled",
    "Chaos",
    "ChaosInjected",
    "CircuitBreaker",
    "CircuitClosed",
    "CircuitHalfOpened",
    "CircuitIsolated",
    "CircuitOpen",
    "CircuitOpened",
    "CircuitRejected",
    "CircuitState",
    "CircuitStatistics",
    "Classifier",
    "Client",
    "Clock",
    "DeadlineExceeded",
    "Event",
    "Fallback",
    "FallbackUsed",
    "Hedge",
    "HedgeBudgetExhausted",
    "HedgeStarted",
    "HedgeWon",
    "Jitter",
    "LatencyPercentile",
    "Listener",
    "MemoryStore",
    "Outcome",
    "Pipeline",
    "RateLimited",
    "RateLimiter",
    "RateLimiterDelayed",
    "RateLimiterRejected",
    "RateLimiterStatistics",
    "Rejected",
    "Retry",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryBudgetExhaustedEvent",
    "RetryBudgetStatistics",
    "RetryGaveUp",
    "RetryScheduled",
    "Scope",
    "StalwartError",
    "StateStore",
    "Strategy",
    "SystemClock",
    "ThrottleRejected",
    "Throttled",
    "Timeout",
    "TimeoutExpired",
    "Verdict",
    "add_listener",
    "asleep",
    "bind",
    "cancel_scope",
    "carry_context",
    "check",
    "classify_exceptions",
    "current_deadline",
    "deadline",
    "is_cancellation",
    "log_event",
    "move_on_after",
    "remaining",
    "remove_listener",
    "retry_after_hint",
    "sleep",
    "start_thread",
    "use_clock",
    "value",
    "values",
]

# Show the public path in reprs, docs and tracebacks (stalwart.Retry, not stalwart._...).
for _name in __all__:
    _obj = globals().get(_name)
    if getattr(_obj, "__module__", "").startswith("stalwart._"):
        with _suppress(AttributeError, TypeError):  # aliases such as Jitter have no module
            _obj.__module__ = "stalwart"
del _name, _obj, _suppress


#: Imported on first use, so `import stalwart` does not import httpx.
_LAZY = {"Client": "httpx", "AsyncClient": "httpx", "httpx": None, "httpx2": None}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'stalwart' has no attribute {name!r}")
    module_name = _LAZY[name]
    if module_name is None:
        return _importlib.import_module(f"stalwart.{name}")
    found = getattr(_importlib.import_module(f"stalwart.{module_name}"), name)
    globals()[name] = found
    return found
