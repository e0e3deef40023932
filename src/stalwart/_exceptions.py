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
```

Later strategies add their refusals under `Rejected` (an open circuit, a full bulkhead,
a rate limit, a spent retry budget), each carrying what a caller needs to react.
Misuse (a negative timeout, an unknown option) raises the builtin `ValueError` or
`TypeError`, naming the parameter, never a `StalwartError`.
"""

from __future__ import annotations

import math

__all__ = ["Cancelled", "DeadlineExceeded", "Rejected", "StalwartError"]


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


class Rejected(StalwartError):
    """A strategy refused to run the call; the call itself never started."""
