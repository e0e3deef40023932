"""Fallback: when the call fails in a chosen way, answer with a value or another function.

The decision ("does this outcome fall back?") is `Fallback.handles`, a pure function of
the outcome; the sync and async drivers only call, and run the fallback.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeAlias, final

from .._events import Event, emit
from .._outcome import Classifier, Outcome, Verdict, is_cancellation
from ._base import Runner, Strategy, WrongKind, check_name, options_repr

__all__ = ["Fallback", "FallbackUsed"]

_ExceptionMatch: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)

#: The verdicts a fallback can act on: every failure.
_FAILURES: Final = (Verdict.TRANSIENT, Verdict.THROTTLED, Verdict.TIMEOUT, Verdict.FATAL)
#: What an exception matched by `on=` is classified as.
_MATCHED: Final = frozenset({Verdict.TRANSIENT, Verdict.TIMEOUT})


@final
class _Unset:
    """The default of `value`: no fallback value was given (None is a valid value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackUsed(Event):
    """The call ended with `verdict` (an exception, or None for a result the classifier
    rejected) and the fallback answered instead. Emitted before the fallback runs."""

    name: ClassVar[str] = "fallback_used"
    level: ClassVar[int] = logging.WARNING
    verdict: Verdict
    exception: BaseException | None

    def message(self) -> str:
        cause = (
            "a result"
            if self.exception is None
            else f"{type(self.exception).__qualname__}: {self.exception}"
        )
        return f"{self.strategy}: the call failed ({self.verdict.value}: {cause}); falling back"


def _on_classifier(on: object) -> Classifier:
    """Matching exceptions are TRANSIENT (TIMEOUT if TimeoutErrors), others FATAL.

    Unlike `classify_exceptions`, a `DeadlineExceeded` is matched only if `on` says so.
    """
    if isinstance(on, type | tuple):
        kinds = on if isinstance(on, tuple) else (on,)
        for kind in kinds:
            candidate: object = kind
            if not (isinstance(candidate, type) and issubclass(candidate, BaseException)):
                raise TypeError(f"on must name exception types, got {kind!r}")

        def matches(exception: BaseException) -> bool:
            return isinstance(exception, kinds)

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

    return classify


def _verdicts(verdicts: object) -> tuple[Verdict, ...]:
    """`verdicts` as a tuple in the enum's order, checked."""
    chosen = (verdicts,) if isinstance(verdicts, Verdict) else verdicts
    if isinstance(chosen, str) or not isinstance(chosen, Iterable):
        raise TypeError(f"verdicts must be a Verdict or several, got {verdicts!r}")
    given = set(chosen)
    for verdict in given:
        if not isinstance(verdict, Verdict):
            raise TypeError(f"verdicts must hold stalwart.Verdict members, got {verdict!r}")
        if verdict not in _FAILURES:
            raise ValueError(
                f"verdicts may hold only failures (TRANSIENT, THROTTLED, TIMEOUT, FATAL), "
                f"got {verdict!r}: a fallback never replaces a success or a cancellation"
            )
    if not given:
        raise ValueError("verdicts must name at least one verdict")
    return tuple(verdict for verdict in _FAILURES if verdict in given)


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Fallback(Strategy):
    """Answer with a value, or another function's answer, when the call fails.

    ```python
    stalwart.Fallback(on=ConnectionError, value=[])              # a constant
    stalwart.Fallback(on=(ConnectionError, TimeoutError),
                      call=lambda outcome: cache.get("orders"))   # a function of the outcome
    stalwart.Fallback(classify=my_classifier, verdicts=Verdict.THROTTLED, value=None)
    ```

    What to answer, exactly one of:

    - `value`: returned as is (the same object every time; None is a valid value).
    - `call`: a function called with the failed `Outcome` (its `exception`, or its
      `result` when a classifier rejected a result); what it returns is the answer and
      what it raises comes out of the call. It may be async when the pipeline runs with
      `acall`, which awaits it; `call()` refuses an async function with `WrongKind`.

    When to answer, exactly one of (there is no fall-back-on-everything default; write
    `on=Exception` for that):

    - `on`: exception types, or a predicate over the exception. Matching exceptions
      fall back; other exceptions come out unchanged; results never fall back. A
      `DeadlineExceeded` falls back only if `on` matches it (`TimeoutError` does).
    - `classify`: a `Classifier`, which sees results too; the call falls back when
      the verdict is one of `verdicts` (default: every failure — `TRANSIENT`,
      `THROTTLED`, `TIMEOUT`, `FATAL`; `SUCCESS` and `CANCELLED` are not allowed).

    Never, whatever the options say, on cancellation (`Cancelled`, asyncio's and trio's
    cancellation, `KeyboardInterrupt`) or on a sync/async mix-up (`WrongKind`): a
    fallback must not hide the caller's decision or a bug. `name="fallback"` names it in
    `FallbackUsed` events, emitted before each fallback runs.

    Place it first (outermost) in a pipeline, so it answers for whatever the strategies
    inside it give up with: the last exception of a `Retry`, `CircuitOpen`, `Throttled`,
    or a total `Timeout`'s `DeadlineExceeded`.
    """

    value: Any = field(default=_UNSET, hash=False)
    call: Callable[[Outcome[Any]], Any] | None = None
    on: _ExceptionMatch | None = None
    classify: Classifier | None = None
    verdicts: Verdict | Iterable[Verdict] | None = None
    name: str = "fallback"
    _classifier: Classifier = field(init=False, repr=False, compare=False)
    _when: frozenset[Verdict] = field(init=False, repr=False, compare=False)
    _is_async: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.value is _UNSET) == (self.call is None):
            raise TypeError("Fallback needs exactly one of value= or call=")
        if self.call is not None and not callable(self.call):
            raise TypeError(f"call must be a function of the failed outcome, got {self.call!r}")
        if self.on is None and self.classify is None:
            raise TypeError(
                "Fallback needs `on=` (exception types or a predicate) or `classify=`: "
                "there is no fall-back-on-everything default (write on=Exception for that)"
            )
        if self.on is not None and self.classify is not None:
            raise TypeError("give Fallback either `on=` or `classify=`, not both")
        if self.classify is not None:
            if not callable(self.classify):
                raise TypeError(f"classify must be callable, got {self.classify!r}")
            classifier = self.classify
            when = frozenset(_FAILURES)
            if self.verdicts is not None:
                verdicts = _verdicts(self.verdicts)
                object.__setattr__(self, "verdicts", verdicts)
                when = frozenset(verdicts)
        else:
            if self.verdicts is not None:
                raise TypeError(
                    "verdicts= goes with classify=; with on= every matching exception falls back"
                )
            classifier = _on_classifier(self.on)
            when = _MATCHED
        object.__setattr__(self, "_classifier", classifier)
        object.__setattr__(self, "_when", when)
        object.__setattr__(self, "_is_async", inspect.iscoroutinefunction(self.call))
        check_name(self.name)

    __repr__ = options_repr

    def replace(self, **changes: Any) -> Fallback:
        """A copy with some options changed, validated again."""
        return dataclasses.replace(self, **changes)

    def handles(self, outcome: Outcome[Any]) -> Verdict | None:
        """The verdict `outcome` falls back on, or None to let it through; no I/O."""
        exception = outcome.exception
        if exception is not None and (
            is_cancellation(exception) or isinstance(exception, WrongKind)
        ):
            return None
        verdict = self._classifier(outcome)
        return verdict if verdict in self._when else None

    def _bind(self, inner: Runner) -> Runner:
        return _FallbackRunner(self, inner)


@final
class _FallbackRunner:
    __slots__ = ("_checks_results", "_fallback", "_inner")

    def __init__(self, fallback: Fallback, inner: Runner) -> None:
        self._fallback = fallback
        self._inner = inner
        self._checks_results = fallback.classify is not None

    def _report(self, outcome: Outcome[Any], verdict: Verdict) -> None:
        emit(
            FallbackUsed(strategy=self._fallback.name, verdict=verdict, exception=outcome.exception)
        )

    def _answer(self, outcome: Outcome[Any], verdict: Verdict) -> Any:
        fallback = self._fallback
        if fallback._is_async:
            raise _wrong_kind(fallback)
        self._report(outcome, verdict)
        if fallback.call is None:
            return fallback.value
        answer = fallback.call(outcome)
        if inspect.isawaitable(answer):
            if isinstance(answer, types.CoroutineType):
                answer.close()
            raise _wrong_kind(fallback)
        return answer

    async def _aanswer(self, outcome: Outcome[Any], verdict: Verdict) -> Any:
        fallback = self._fallback
        self._report(outcome, verdict)
        if fallback.call is None:
            return fallback.value
        answer = fallback.call(outcome)
        if inspect.isawaitable(answer):
            return await answer
        return answer

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        try:
            result = self._inner.call(fn, args, kwargs)
        except Exception as exc:
            outcome: Outcome[Any] = Outcome(None, exc)
            verdict = self._fallback.handles(outcome)
            if verdict is None:
                raise
            return self._answer(outcome, verdict)
        if self._checks_results:
            outcome = Outcome(result, None)
            verdict = self._fallback.handles(outcome)
            if verdict is not None:
                return self._answer(outcome, verdict)
        return result

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        try:
            result = await self._inner.acall(fn, args, kwargs)
        except Exception as exc:
            outcome: Outcome[Any] = Outcome(None, exc)
            verdict = self._fallback.handles(outcome)
            if verdict is None:
                raise
            return await self._aanswer(outcome, verdict)
        if self._checks_results:
            outcome = Outcome(result, None)
            verdict = self._fallback.handles(outcome)
            if verdict is not None:
                return await self._aanswer(outcome, verdict)
        return result


def _wrong_kind(fallback: Fallback) -> WrongKind:
    return WrongKind(
        f"{fallback.name}: the fallback function {fallback.call!r} is async; run the "
        "pipeline with `await pipeline.acall(...)`, or give a sync function"
    )
