"""Retry: run the call again when it fails in a way that may pass.

The decision ("wait d, then attempt again" or "stop, for this reason") is the pure
function `Retry.plan`; the sync and async drivers below only call, sleep and report.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final

from .. import _context
from .._backoff import Backoff
from .._clock import current_clock
from .._context import Context, deadline_error
from .._events import RetryGaveUp, RetryScheduled, emit
from .._exceptions import DeadlineExceeded
from .._outcome import (
    Classifier,
    Outcome,
    Verdict,
    classify_exceptions,
    is_cancellation,
    judges_results,
    retry_forbidden,
)
from ._base import Runner, Strategy, WrongKind, check_name, options_repr
from .retry_budget import RetryBudget
from .timeout import is_attempt_timeout

__all__ = ["Retry", "TestingMode", "pop_testing_mode", "push_testing_mode", "retry_after_hint"]

_SUCCESS: Final = Verdict.SUCCESS
_INF: Final = math.inf


def retry_after_hint(outcome: Outcome[Any]) -> float | None:
    """The default delay hint: a numeric `retry_after` attribute on the exception.

    stalwart's own refusals carry one (an open circuit, a rate limit); HTTP integrations
    supply their own hint reading `Retry-After`.
    """
    hint = getattr(outcome.exception, "retry_after", None)
    if isinstance(hint, int | float) and not isinstance(hint, bool) and hint >= 0:
        return float(hint)
    return None


@final
@dataclass(frozen=True, slots=True)
class TestingMode:
    """How `stalwart.testing.instant_retries()` changes retries: no waits, fewer attempts."""

    max_attempts: int | None = None


_testing: TestingMode | None = None
_testing_modes: list[TestingMode] = []
_testing_lock = threading.Lock()


def push_testing_mode(mode: TestingMode) -> None:
    """Turn on a process-wide testing mode (the newest open one applies)."""
    global _testing
    with _testing_lock:
        _testing_modes.append(mode)
        _testing = mode


def pop_testing_mode(mode: TestingMode) -> None:
    """Close `mode` (this very object), whatever order the blocks of threads close in."""
    global _testing
    with _testing_lock:
        for index in range(len(_testing_modes) - 1, -1, -1):
            if _testing_modes[index] is mode:
                del _testing_modes[index]
                break
        _testing = _testing_modes[-1] if _testing_modes else None


@final
@dataclass(frozen=True, slots=True)
class Wait:
    """The plan's answer to go on: sleep `delay` seconds, then attempt again."""

    delay: float
    hinted: bool


@final
@dataclass(frozen=True, slots=True)
class Stop:
    """The plan's answer to stop; `reason` is None when there was nothing to give up on."""

    reason: str | None


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Retry(Strategy):
    """Call again when an attempt fails in a way that may pass.

    ```python
    stalwart.Retry(on=ConnectionError)                        # 3 attempts, exponential
    stalwart.Retry(on=(ConnectionError, TimeoutError), max_attempts=5,
                   backoff=stalwart.Backoff.exponential(base=0.2, cap=5.0))
    stalwart.Retry(on=lambda exc: getattr(exc, "code", None) == "UNAVAILABLE")
    stalwart.Retry(classify=my_classifier)                    # results can be retried too
    ```

    What to retry is always explicit, there is no "retry everything" default:

    - `on`: exception types, or a predicate over the exception. Matching exceptions are
      retried; everything else is raised at once. Results are never retried.
    - `classify`: a `Classifier` from `Outcome` to `Verdict`; `TRANSIENT`, `THROTTLED`
      and `TIMEOUT` are retried, on results as well as exceptions.

    Exactly one of the two is required. Whatever they say, cancellation (stalwart's
    `Cancelled`, asyncio's `CancelledError`, trio's `Cancelled`, `KeyboardInterrupt`) is
    never retried, and a `DeadlineExceeded` from a `Timeout(per_attempt=...)` inside the
    retry is always retried while time remains, unless the code that failed marked its
    exception unsafe to repeat (the HTTP transports do so for a POST that may have
    reached the server): such an outcome is never retried.

    Other options, with their defaults:

    - `max_attempts=3`: attempts *including* the first call (1 turns retrying off), as
      gRPC, AWS and resilience4j count them.
    - `backoff=Backoff.exponential()`: base 0.1 s, ×2, cap 10 s, full jitter.
    - `hint=retry_after_hint`: reads a server's delay hint from an outcome (`None` for
      none). A hint replaces the backoff delay and is capped at `max_hint=60.0` seconds.
    - `budget=None`: a `RetryBudget` every retry must withdraw from first; when it is
      spent the retry stops as if its attempts had run out.
    - `name="retry"`: how events and notes name this strategy.

    The retry never starts a sleep that would end at or after the context's deadline:
    it stops instead. When it stops without success it re-raises the last exception
    unchanged, with a note saying why and after how many attempts, or returns the last
    result.
    """

    on: (
        type[BaseException]
        | tuple[type[BaseException], ...]
        | Callable[[BaseException], bool]
        | None
    ) = None
    classify: Classifier | None = None
    max_attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff.exponential)
    hint: Callable[[Outcome[Any]], float | None] | None = retry_after_hint
    max_hint: float = 60.0
    budget: RetryBudget | None = None
    name: str = "retry"
    _classifier: Classifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.on is None and self.classify is None:
            raise TypeError(
                "Retry needs `on=` (exception types or a predicate) or `classify=`: "
                "there is no retry-everything default"
            )
        if self.on is not None and self.classify is not None:
            raise TypeError("give Retry either `on=` or `classify=`, not both")
        if self.classify is not None and not callable(self.classify):
            raise TypeError(f"classify must be callable, got {self.classify!r}")
        classifier = self.classify if self.classify is not None else classify_exceptions(self.on)  # type: ignore[arg-type]
        object.__setattr__(self, "_classifier", classifier)
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError(f"max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if not isinstance(self.backoff, Backoff):
            raise TypeError(f"backoff must be a stalwart.Backoff, got {self.backoff!r}")
        if self.hint is not None and not callable(self.hint):
            raise TypeError(f"hint must be callable or None, got {self.hint!r}")
        if isinstance(self.max_hint, bool) or not isinstance(self.max_hint, int | float):
            raise TypeError(f"max_hint must be a number of seconds, got {self.max_hint!r}")
        if not (self.max_hint >= 0 and math.isfinite(self.max_hint)):
            raise ValueError(f"max_hint must be a finite number >= 0, got {self.max_hint!r}")
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise TypeError(f"budget must be a stalwart.RetryBudget, got {self.budget!r}")
        check_name(self.name)

    @property
    def max_retries(self) -> int:
        """Retries after the first call: `max_attempts - 1`."""
        return self.max_attempts - 1

    def replace(self, **changes: Any) -> Retry:
        """A copy with some options changed, validated again."""
        return dataclasses.replace(self, **changes)

    def plan(
        self,
        *,
        attempt: int,
        verdict: Verdict,
        outcome: Outcome[Any],
        previous_delay: float,
        remaining: float,
        sample: float,
    ) -> Wait | Stop:
        """Decide what follows attempt number `attempt` (1-based), without any I/O.

        `remaining` is the time left before the deadline (`inf` if none), `previous_delay`
        the delay before this attempt (`backoff.base` before the first retry), `sample`
        a uniform draw in [0, 1) for jitter.
        """
        if not verdict.retryable:
            return Stop(None)
        testing = _testing
        max_attempts = self.max_attempts
        if testing is not None and testing.max_attempts is not None:
            max_attempts = min(max_attempts, testing.max_attempts)
        if attempt >= max_attempts:
            return Stop(f"max_attempts={max_attempts} reached")
        hint = self.hint(outcome) if self.hint is not None else None
        if hint is not None:
            delay, hinted = min(max(hint, 0.0), self.max_hint), True
        else:
            delay, hinted = self.backoff.delay(attempt, previous_delay, sample), False
        if testing is not None:
            delay = 0.0
        if delay >= remaining:
            return Stop(
                f"the next attempt would start after the deadline "
                f"(a {delay:.3f} s wait with {remaining:.3f} s left)"
            )
        return Wait(delay, hinted)

    __repr__ = options_repr

    def _bind(self, inner: Runner) -> Runner:
        return _RetryRunner(self, inner)


_DEADLINE_DURING_BACKOFF: Final = Stop("the deadline passed during the backoff wait")


def _expired(ctx: Context) -> bool:
    """Whether the deadline passed (a wait on a real clock may overshoot by a hair)."""
    return ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline


def _check_start(ctx: Context) -> None:
    """Cooperative enforcement: no attempt starts once the context is cancelled or expired."""
    token = ctx.token
    if token is not None and token.origin is not None:
        raise _context.cancelled_error(token)
    if ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline:
        raise deadline_error(ctx.deadline)


@final
class _RetryRunner:
    __slots__ = ("_base", "_budget", "_checks_results", "_classify", "_inner", "_retry")

    def __init__(self, retry: Retry, inner: Runner) -> None:
        self._retry = retry
        self._base = retry.backoff.base
        self._budget = retry.budget
        self._inner = inner
        self._classify = retry._classifier
        self._checks_results = judges_results(retry.classify)

    def _verdict(self, outcome: Outcome[Any], ctx: Context) -> Verdict:
        """The classifier's verdict, except for what no classifier may overrule."""
        exception = outcome.exception
        if exception is not None:
            if is_cancellation(exception):
                return Verdict.CANCELLED
            if isinstance(exception, WrongKind) or retry_forbidden(exception) is not None:
                return Verdict.FATAL
            # A deadline earlier than the retry's own came from a per-attempt timeout inside.
            if is_attempt_timeout(exception, ctx.deadline):
                return Verdict.TIMEOUT
            if (
                isinstance(exception, DeadlineExceeded)
                and exception.deadline >= ctx.deadline
                and current_clock().monotonic() >= ctx.deadline
            ):
                return Verdict.TIMEOUT  # the call's own deadline: the plan stops, saying so
        return self._classify(outcome)

    def _next(
        self,
        attempt: int,
        verdict: Verdict,
        outcome: Outcome[Any],
        previous: float,
        ctx: Context,
        budget_key: Hashable,
    ) -> Wait | Stop:
        clock = current_clock()
        remaining = ctx.deadline - clock.monotonic()
        step = self._retry.plan(
            attempt=attempt,
            verdict=verdict,
            outcome=outcome,
            previous_delay=previous,
            remaining=remaining,
            sample=clock.random(),
        )
        budget = self._budget
        if isinstance(step, Wait) and budget is not None and not budget.try_withdraw(budget_key):
            return Stop(f"the retry budget {budget.name!r} is spent for {budget_key!r}")
        if isinstance(step, Wait):
            emit(
                RetryScheduled(
                    strategy=self._retry.name,
                    attempt=attempt,
                    delay=step.delay,
                    verdict=verdict,
                    exception=outcome.exception,
                    hinted=step.hinted,
                )
            )
        return step

    def _finish(self, attempt: int, verdict: Verdict, outcome: Outcome[Any], stop: Stop) -> Any:
        exception = outcome.exception
        name = self._retry.name
        if stop.reason is not None:
            emit(
                RetryGaveUp(
                    strategy=name,
                    attempts=attempt,
                    reason=stop.reason,
                    verdict=verdict,
                    exception=exception,
                )
            )
            if exception is not None:
                exception.add_note(
                    f"stalwart: {name} gave up after {attempt} attempt(s): {stop.reason}"
                )
        elif exception is not None and verdict is not Verdict.CANCELLED:
            forbidden = retry_forbidden(exception)
            if forbidden is not None:
                exception.add_note(f"stalwart: {name} did not retry attempt {attempt}: {forbidden}")
            elif attempt > 1:
                exception.add_note(
                    f"stalwart: {name} stopped on attempt {attempt}: "
                    f"the outcome is {verdict.value}, not retryable"
                )
        return outcome.unwrap()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        ctx = _context.current()
        inner = self._inner
        attempt = 1
        previous = self._base
        budget = self._budget
        budget_key = None if budget is None else budget._deposit_call(args, kwargs)
        while True:
            token = ctx.token  # _check_start's tests, inlined: this is every call's path
            if (token is not None and token.origin is not None) or (
                ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline
            ):
                _check_start(ctx)
            try:
                result = inner.call(fn, args, kwargs)
            except Exception as exc:
                outcome: Outcome[Any] = Outcome(None, exc)
            else:
                if not self._checks_results:
                    return result
                outcome = Outcome(result, None)
            verdict = self._verdict(outcome, ctx)
            if verdict is _SUCCESS:
                return outcome.unwrap()
            step = self._next(attempt, verdict, outcome, previous, ctx, budget_key)
            if isinstance(step, Stop):
                return self._finish(attempt, verdict, outcome, step)
            _wait(ctx, step.delay, attempt, outcome)
            if _expired(ctx):
                return self._finish(attempt, verdict, outcome, _DEADLINE_DURING_BACKOFF)
            previous = step.delay
            attempt += 1

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        ctx = _context.current()
        inner = self._inner
        attempt = 1
        previous = self._base
        budget = self._budget
        budget_key = None if budget is None else budget._deposit_call(args, kwargs)
        while True:
            token = ctx.token  # _check_start's tests, inlined: this is every call's path
            if (token is not None and token.origin is not None) or (
                ctx.deadline != _INF and current_clock().monotonic() >= ctx.deadline
            ):
                _check_start(ctx)
            try:
                result = await inner.acall(fn, args, kwargs)
            except Exception as exc:
                outcome: Outcome[Any] = Outcome(None, exc)
            else:
                if not self._checks_results:
                    return result
                outcome = Outcome(result, None)
            verdict = self._verdict(outcome, ctx)
            if verdict is _SUCCESS:
                return outcome.unwrap()
            step = self._next(attempt, verdict, outcome, previous, ctx, budget_key)
            if isinstance(step, Stop):
                return self._finish(attempt, verdict, outcome, step)
            await _context.cancellable_asleep(ctx, step.delay)
            if _expired(ctx):
                return self._finish(attempt, verdict, outcome, _DEADLINE_DURING_BACKOFF)
            previous = step.delay
            attempt += 1


def _wait(ctx: Context, delay: float, attempt: int, outcome: Outcome[Any]) -> None:
    """The sync backoff sleep: on the clock, woken at once by cancellation."""
    token = ctx.token
    interrupt = token.event if token is not None else threading.Event()
    current_clock().sleep(delay, interrupt)
    if token is not None and token.origin is not None:
        error = _context.cancelled_error(token)
        error.add_note(
            f"stalwart: cancelled while waiting {delay:.3f} s to retry after attempt "
            f"{attempt} failed with {outcome.exception!r}"
        )
        raise error from None
