"""stalwart's exceptions.

stalwart lets your own exceptions through unchanged: when a retry gives up it re-raises
the last exception the call raised, with a note saying why it stopped. The classes below
are only for stalwart's own refusals and for the context's deadline and cancellation.

```
Exception
 └── StalwartError                 every exception stalwart raises on its own
      ├── DeadlineExceeded         the context's deadline passed (also a builtin TimeoutError)
      ├── Cancelled                a cancel scope around the call was cancelled
      └── Rejected                 a strategy refused to run the call at all
           ├── CircuitOpen         the circuit breaker is open (retry_after)
           ├── BulkheadFull        no concurrency slot (and no room to wait) was free
           ├── RateLimited         the rate limiter has no token (retry_after)
           ├── Throttled           adaptive throttling shed the call locally
           └── RetryBudgetExhausted  the retry budget has no retry left to spend
```

Every `Rejected` carries `retry_after` (seconds, or None when unknown): a caller, or an
outer `Retry`, can wait that long before trying again.
Misuse (a negative timeout, an unknown option) raises the builtin `ValueError` or
`TypeError`, naming the parameter, never a `StalwartError`.
"""

from __future__ import annotations

import math

__all__ = [
    "BulkheadFull",
    "Cancelled",
    "CircuitOpen",
    "DeadlineExceeded",
    "RateLimited",
    "Rejected",
    "RetryBudgetExhausted",
    "StalwartError",
    "Throttled",
]


class StalwartError(Exception):
    """The root of every exception stalwart raises on its own."""


class DeadlineExceeded(StalwartError, TimeoutError):
    """The deadline of the current context passed before the work finished.

    It is a builtin `TimeoutError` too, so generic `except TimeoutError:` handlers see it.
    `deadline` is the absolute monotonic deadline that expired (`inf` if unknown) and
    `timeout` the relative budget the scope was opened with, when there was one.
    """

    def __init__(
        self,
        message: str = "deadline exceeded",
        *,
        deadline: float = math.inf,
        timeout: float | None = None,
    ) -> None:
        super().__init__(message)
        self.deadline = deadline
        self.timeout = timeout

    def __reduce__(self) -> tuple[object, ...]:
        # The instance dict carries notes and anything else attached along the way.
        return (
            _rebuild_deadline_exceeded,
            (str(self), self.deadline, self.timeout),
            self.__dict__,
        )


def _rebuild_deadline_exceeded(
    message: str, deadline: float, timeout: float | None
) -> DeadlineExceeded:
    return DeadlineExceeded(message, deadline=deadline, timeout=timeout)


class Cancelled(StalwartError):
    """A cancel scope around the call was cancelled (`scope.cancel()`).

    Cancellation is the caller's decision, never the callee's failure: stalwart never
    retries it and never counts it against a circuit breaker, budget or throttle.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # Which scope was cancelled means nothing in another process: drop that link.
        state = {k: v for k, v in self.__dict__.items() if k != "_stalwart_origin"}
        return (type(self), self.args, state)


class Rejected(StalwartError):
    """A strategy refused to run the call; the call itself never started.

    `retry_after` is how many seconds until the strategy would likely accept a call
    again (None when it cannot tell); `key` is the partition that refused (None when the
    strategy is not partitioned).
    """

    def __init__(
        self,
        message: str = "a stalwart strategy rejected the call",
        *,
        retry_after: float | None = None,
        key: object = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.key = key

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_rejected,
            (type(self), str(self), self.retry_after, self.key),
            self.__dict__,
        )


def _rebuild_rejected(
    cls: type[Rejected], message: str, retry_after: float | None, key: object
) -> Rejected:
    return cls(message, retry_after=retry_after, key=key)


class CircuitOpen(Rejected):
    """The circuit breaker is open (or its half-open probes are all taken).

    `retry_after` is the time left until it lets a probe through.
    """


class BulkheadFull(Rejected):
    """The bulkhead had no free slot, and no room (or no time) to wait for one."""


class RateLimited(Rejected):
    """The rate limiter had no token; `retry_after` is when the next one arrives."""


class Throttled(Rejected):
    """Adaptive throttling rejected the call locally: the callee is refusing too much."""


class RetryBudgetExhausted(Rejected):
    """The retry budget has no retry left to spend for this destination."""
