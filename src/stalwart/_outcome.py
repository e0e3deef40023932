"""Outcomes as values, and the verdicts strategies act on.

A strategy never inspects exceptions with scattered `isinstance` checks: the call's
result or exception becomes an `Outcome`, a classifier turns it into a `Verdict`, and
the strategy decides from the verdict.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Generic, TypeAlias, TypeVar, final

from ._exceptions import Cancelled, DeadlineExceeded

__all__ = [
    "Classifier",
    "Outcome",
    "Verdict",
    "classify_exceptions",
    "forbid_retry",
    "is_cancellation",
    "judges_results",
    "retry_forbidden",
]

T = TypeVar("T")


class Verdict(enum.Enum):
    """What an outcome means for the strategies that see it.

    - `SUCCESS`: a good result; stop retrying, count as a success.
    - `TRANSIENT`: a failure that may pass (a reset connection, a 503); retryable.
    - `THROTTLED`: the callee asked us to slow down (a 429); retryable, after its hint.
    - `TIMEOUT`: the attempt ran out of time; retryable while the deadline allows.
    - `FATAL`: a failure that will not pass by retrying (a 404, a bug); stop.
    - `CANCELLED`: the caller cancelled; never retried, never counted as a failure.
    """

    SUCCESS = "success"
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    TIMEOUT = "timeout"
    FATAL = "fatal"
    CANCELLED = "cancelled"

    @property
    def retryable(self) -> bool:
        """True for `TRANSIENT`, `THROTTLED` and `TIMEOUT`."""
        return self in _RETRYABLE

    def __repr__(self) -> str:
        return f"Verdict.{self.name}"


_RETRYABLE = frozenset({Verdict.TRANSIENT, Verdict.THROTTLED, Verdict.TIMEOUT})


@final
class Outcome(Generic[T]):
    """The result of one call: either a value (`result`) or an exception (`exception`).

    ```python
    Outcome.of_result(42).unwrap()               # 42
    Outcome.of_exception(OSError()).unwrap()     # raises the OSError
    ```
    """

    __slots__ = ("exception", "result")

    def __init__(self, result: T | None, exception: BaseException | None) -> None:
        self.result = result
        self.exception = exception

    @classmethod
    def of_result(cls, result: T) -> Outcome[T]:
        """An outcome holding the value the call returned."""
        return cls(result, None)

    @classmethod
    def of_exception(cls, exception: BaseException) -> Outcome[Any]:
        """An outcome holding the exception the call raised."""
        return cls(None, exception)

    @property
    def ok(self) -> bool:
        """True when the call returned instead of raising."""
        return self.exception is None

    def unwrap(self) -> T:
        """Return the result, or raise the exception (unchanged, with its traceback)."""
        if self.exception is not None:
            raise self.exception
        return self.result  # type: ignore[return-value]

    def __repr__(self) -> str:
        if self.exception is not None:
            return f"Outcome(exception={self.exception!r})"
        return f"Outcome(result={self.result!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return self.result == other.result and self.exception is other.exception

    __hash__ = None  # type: ignore[assignment]


#: A function from an outcome to its verdict; the one way stalwart learns what went wrong.
Classifier: TypeAlias = Callable[[Outcome[Any]], Verdict]


def is_cancellation(exception: BaseException) -> bool:
    """True for the caller's cancellation: stalwart's `Cancelled`, and every exception
    that is not an `Exception` (asyncio's `CancelledError`, trio's `Cancelled`,
    `KeyboardInterrupt`, `SystemExit`, `GeneratorExit`)."""
    return isinstance(exception, Cancelled) or not isinstance(exception, Exception)


def judges_results(classifier: Classifier | None) -> bool:
    """Whether a strategy must show `classifier` its call's results, not only exceptions.

    A classifier that marks itself `exceptions_only = True` (the HTTP integration's:
    failed responses reach it as exceptions) calls every result a `SUCCESS`, so the
    strategy skips building an `Outcome` for it on the success path.
    """
    return classifier is not None and not getattr(classifier, "exceptions_only", False)


def forbid_retry(exception: BaseException, reason: str) -> None:
    """Mark `exception` as unsafe to repeat, whatever any classifier says.

    Integrations call this when they know the failed operation may already have taken
    effect (an HTTP POST whose request reached the server); `Retry` and `Hedge` then stop
    at once and add `reason` to the exception's notes.
    """
    exception._stalwart_no_retry = reason  # type: ignore[attr-defined]


def retry_forbidden(exception: BaseException) -> str | None:
    """The reason `exception` must not be repeated, or None.

    A `DeadlineExceeded` that interrupted an attempt carries the mark of the cancellation
    it replaced (its `__context__`): the attempt saw that cancellation, not the deadline.
    """
    reason = getattr(exception, "_stalwart_no_retry", None)
    if reason is None and isinstance(exception, DeadlineExceeded):
        reason = getattr(exception.__context__, "_stalwart_no_retry", None)
    return reason if isinstance(reason, str) else None


def classify_exceptions(
    on: type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool],
) -> Classifier:
    """A classifier from exception types or a predicate over exceptions.

    Results are `SUCCESS`; cancellation is `CANCELLED`; exceptions matched by `on` are
    `TRANSIENT` (`TIMEOUT` if they are `TimeoutError`s, `DeadlineExceeded` included);
    everything else is `FATAL`. (A `Retry` or `Hedge` retries the `DeadlineExceeded` of
    its own per-attempt `Timeout` whatever `on` says; other deadlines follow `on`.)
    """
    if isinstance(on, type | tuple):
        types = on if isinstance(on, tuple) else (on,)
        for kind in types:
            candidate: object = kind
            if not (isinstance(candidate, type) and issubclass(candidate, BaseException)):
                raise TypeError(f"on must name exception types, got {kind!r}")
        if not types:
            raise ValueError("on=() names no exception types: nothing would ever match")

        def match_types(exception: BaseException) -> bool:
            return isinstance(exception, types)

        matches: Callable[[BaseException], bool] = match_types
    elif callable(on):
        matches = on
    else:
        raise TypeError(f"on must be exception types or a predicate, got {on!r}")

    def classify(outcome: Outcome[Any]) -> Verdict:
        exception = outcome.exception
        if exception is None:
            return Verdict.SUCCESS
        if is_cancellation(exception):
            return Verdict.CANCELLED
        if matches(exception):
            return Verdict.TIMEOUT if isinstance(exception, TimeoutError) else Verdict.TRANSIENT
        return Verdict.FATAL

    classify.__qualname__ = f"classify_exceptions({on!r})"
    return classify
