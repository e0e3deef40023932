"""Outcome values, verdicts, and the exception classifier."""

from __future__ import annotations

import asyncio

import pytest

from stalwart import (
    Cancelled,
    DeadlineExceeded,
    Outcome,
    Rejected,
    Verdict,
    classify_exceptions,
    is_cancellation,
)

# --- Verdict ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "retryable"),
    [
        pytest.param(Verdict.SUCCESS, False, id="success"),
        pytest.param(Verdict.TRANSIENT, True, id="transient"),
        pytest.param(Verdict.THROTTLED, True, id="throttled"),
        pytest.param(Verdict.TIMEOUT, True, id="timeout"),
        pytest.param(Verdict.FATAL, False, id="fatal"),
        pytest.param(Verdict.CANCELLED, False, id="cancelled"),
    ],
)
def test_verdict_retryable(verdict: Verdict, retryable: bool) -> None:
    """Only TRANSIENT, THROTTLED and TIMEOUT are retryable."""
    assert verdict.retryable is retryable


def test_verdict_table_covers_every_member() -> None:
    """The retryable verdicts are exactly TRANSIENT, THROTTLED and TIMEOUT, out of six."""
    assert len(Verdict) == 6
    assert {v for v in Verdict if v.retryable} == {
        Verdict.TRANSIENT,
        Verdict.THROTTLED,
        Verdict.TIMEOUT,
    }


def test_verdict_repr_names_the_member() -> None:
    """A verdict's repr is its qualified member name."""
    assert repr(Verdict.THROTTLED) == "Verdict.THROTTLED"


# --- Outcome ---------------------------------------------------------------------------------


def test_outcome_of_result_holds_the_value() -> None:
    """`Outcome.of_result` is ok, holds the result and no exception, and unwraps to it."""
    outcome = Outcome.of_result(42)
    assert outcome.ok is True
    assert outcome.result == 42
    assert outcome.exception is None
    assert outcome.unwrap() == 42


def test_outcome_of_none_result_is_still_ok() -> None:
    """A call that returned None is a successful outcome, not a missing one."""
    outcome = Outcome.of_result(None)
    assert outcome.ok is True
    assert outcome.unwrap() is None


def test_outcome_of_exception_holds_the_exception() -> None:
    """`Outcome.of_exception` is not ok, holds the exception and no result."""
    error = OSError("reset")
    outcome = Outcome.of_exception(error)
    assert outcome.ok is False
    assert outcome.exception is error
    assert outcome.result is None


def test_unwrap_reraises_the_same_exception_object() -> None:
    """`unwrap()` raises the very exception object it holds, with its traceback intact."""
    try:
        raise ConnectionResetError("peer reset")
    except ConnectionResetError as caught:
        error = caught
    original_traceback = error.__traceback__
    assert original_traceback is not None
    outcome = Outcome.of_exception(error)
    with pytest.raises(ConnectionResetError) as info:
        outcome.unwrap()
    assert info.value is error
    # The original frames are still at the bottom of the traceback chain.
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    assert original_traceback.tb_frame in [frame.tb_frame for frame in frames]


def test_unwrap_reraises_base_exceptions() -> None:
    """`unwrap()` raises non-Exception BaseExceptions such as KeyboardInterrupt too."""
    interrupt = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as info:
        Outcome.of_exception(interrupt).unwrap()
    assert info.value is interrupt


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(Outcome.of_result(42), "Outcome(result=42)", id="result"),
        pytest.param(Outcome.of_result("x"), "Outcome(result='x')", id="str-result"),
        pytest.param(Outcome.of_result(None), "Outcome(result=None)", id="none-result"),
        pytest.param(
            Outcome.of_exception(OSError("boom")),
            "Outcome(exception=OSError('boom'))",
            id="exception",
        ),
    ],
)
def test_outcome_repr(outcome: Outcome[object], expected: str) -> None:
    """An outcome's repr shows the result or the exception it holds."""
    assert repr(outcome) == expected


def test_outcomes_with_equal_results_are_equal() -> None:
    """Two outcomes holding equal results compare equal; different results do not."""
    assert Outcome.of_result([1, 2]) == Outcome.of_result([1, 2])
    assert Outcome.of_result(1) != Outcome.of_result(2)


def test_outcomes_with_exceptions_compare_by_identity() -> None:
    """Outcomes holding exceptions are equal only when they hold the same exception object."""
    error = ValueError("x")
    assert Outcome.of_exception(error) == Outcome.of_exception(error)
    assert Outcome.of_exception(error) != Outcome.of_exception(ValueError("x"))


def test_result_outcome_differs_from_exception_outcome() -> None:
    """A result outcome never equals an exception outcome, even a None result."""
    assert Outcome.of_result(None) != Outcome.of_exception(ValueError())


def test_outcome_does_not_equal_other_types() -> None:
    """An outcome is not equal to its bare result."""
    assert Outcome.of_result(42) != 42


def test_outcome_is_unhashable() -> None:
    """Outcomes define equality by value and so are unhashable."""
    with pytest.raises(TypeError):
        hash(Outcome.of_result(1))


# --- is_cancellation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        pytest.param(asyncio.CancelledError(), True, id="asyncio-cancelled"),
        pytest.param(KeyboardInterrupt(), True, id="keyboard-interrupt"),
        pytest.param(SystemExit(1), True, id="system-exit"),
        pytest.param(GeneratorExit(), True, id="generator-exit"),
        pytest.param(Cancelled(), True, id="stalwart-cancelled"),
        pytest.param(DeadlineExceeded(), False, id="deadline-exceeded"),
        pytest.param(Rejected(), False, id="rejected"),
        pytest.param(OSError(), False, id="oserror"),
        pytest.param(TimeoutError(), False, id="timeout-error"),
        pytest.param(ValueError(), False, id="value-error"),
    ],
)
def test_is_cancellation(exception: BaseException, expected: bool) -> None:
    """Cancellation is stalwart's Cancelled and every non-Exception BaseException."""
    assert is_cancellation(exception) is expected


# --- classify_exceptions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "on",
    [
        pytest.param(OSError, id="type"),
        pytest.param((ValueError, OSError), id="tuple"),
        pytest.param(lambda exc: isinstance(exc, OSError), id="predicate"),
        pytest.param(BaseException, id="base-exception"),
    ],
)
@pytest.mark.parametrize("result", [pytest.param(42, id="int"), pytest.param(None, id="none")])
def test_results_are_success(on: object, result: object) -> None:
    """Every result is SUCCESS, whatever the classifier matches."""
    classify = classify_exceptions(on)  # type: ignore[arg-type]
    assert classify(Outcome.of_result(result)) is Verdict.SUCCESS


@pytest.mark.parametrize(
    ("on", "exception", "verdict"),
    [
        pytest.param(OSError, ConnectionResetError(), Verdict.TRANSIENT, id="type-subclass"),
        pytest.param(OSError, OSError(), Verdict.TRANSIENT, id="type-exact"),
        pytest.param(OSError, ValueError(), Verdict.FATAL, id="type-unmatched"),
        pytest.param((KeyError, OSError), OSError(), Verdict.TRANSIENT, id="tuple-second"),
        pytest.param((KeyError, OSError), KeyError(), Verdict.TRANSIENT, id="tuple-first"),
        pytest.param((KeyError, OSError), ValueError(), Verdict.FATAL, id="tuple-unmatched"),
        pytest.param(
            lambda exc: "retry" in str(exc),
            RuntimeError("please retry"),
            Verdict.TRANSIENT,
            id="predicate-true",
        ),
        pytest.param(
            lambda exc: "retry" in str(exc),
            RuntimeError("broken"),
            Verdict.FATAL,
            id="predicate-false",
        ),
    ],
)
def test_classify_matches_types_tuples_and_predicates(
    on: object, exception: BaseException, verdict: Verdict
) -> None:
    """Exceptions matched by `on` are TRANSIENT; unmatched ones are FATAL."""
    classify = classify_exceptions(on)  # type: ignore[arg-type]
    assert classify(Outcome.of_exception(exception)) is verdict


@pytest.mark.parametrize(
    ("on", "exception", "verdict"),
    [
        pytest.param(TimeoutError, TimeoutError(), Verdict.TIMEOUT, id="matched-timeout-error"),
        pytest.param(OSError, TimeoutError(), Verdict.TIMEOUT, id="timeout-matched-as-oserror"),
        pytest.param(OSError, OSError(), Verdict.TRANSIENT, id="matched-oserror"),
        pytest.param(ValueError, TimeoutError(), Verdict.FATAL, id="unmatched-timeout-error"),
        pytest.param(ValueError, OSError(), Verdict.FATAL, id="unmatched-oserror"),
        pytest.param(
            lambda exc: True, TimeoutError(), Verdict.TIMEOUT, id="predicate-timeout-error"
        ),
    ],
)
def test_classify_timeouts_and_oserrors(
    on: object, exception: BaseException, verdict: Verdict
) -> None:
    """A matched TimeoutError is TIMEOUT, a matched OSError TRANSIENT, unmatched ones FATAL."""
    classify = classify_exceptions(on)  # type: ignore[arg-type]
    assert classify(Outcome.of_exception(exception)) is verdict


@pytest.mark.parametrize(
    ("on", "verdict"),
    [
        pytest.param(ValueError, Verdict.FATAL, id="unrelated-type"),
        pytest.param(DeadlineExceeded, Verdict.TIMEOUT, id="matched"),
        pytest.param(TimeoutError, Verdict.TIMEOUT, id="matched-as-timeout-error"),
        pytest.param(lambda exc: False, Verdict.FATAL, id="predicate-false"),
    ],
)
def test_deadline_exceeded_follows_on_like_any_exception(on: object, verdict: Verdict) -> None:
    """A DeadlineExceeded is TIMEOUT only when `on` matches it: a callee's own is not retried
    unless asked (a Retry still retries its inner per-attempt Timeout's)."""
    classify = classify_exceptions(on)  # type: ignore[arg-type]
    outcome = Outcome.of_exception(DeadlineExceeded(deadline=1.0, timeout=0.5))
    assert classify(outcome) is verdict


def test_an_empty_tuple_of_types_is_refused() -> None:
    """`on=()` would match nothing, which is never what was meant: ValueError naming `on`."""
    with pytest.raises(ValueError, match="on"):
        classify_exceptions(())


@pytest.mark.parametrize(
    "exception",
    [
        pytest.param(asyncio.CancelledError(), id="asyncio-cancelled"),
        pytest.param(KeyboardInterrupt(), id="keyboard-interrupt"),
        pytest.param(SystemExit(0), id="system-exit"),
        pytest.param(GeneratorExit(), id="generator-exit"),
        pytest.param(Cancelled(), id="stalwart-cancelled"),
    ],
)
@pytest.mark.parametrize(
    "on",
    [
        pytest.param(BaseException, id="on-base-exception"),
        pytest.param(Exception, id="on-exception"),
        pytest.param((BaseException, Cancelled), id="on-tuple"),
        pytest.param(lambda exc: True, id="on-always"),
    ],
)
def test_cancellation_is_cancelled_even_when_matched(on: object, exception: BaseException) -> None:
    """Cancellation is CANCELLED even when `on` would match it (e.g. `on=BaseException`)."""
    classify = classify_exceptions(on)  # type: ignore[arg-type]
    assert classify(Outcome.of_exception(exception)) is Verdict.CANCELLED


def test_predicate_receives_the_exception() -> None:
    """A predicate is called with the outcome's exception object itself."""
    seen: list[BaseException] = []

    def predicate(exception: BaseException) -> bool:
        seen.append(exception)
        return True

    error = OSError("x")
    assert classify_exceptions(predicate)(Outcome.of_exception(error)) is Verdict.TRANSIENT
    assert seen == [error]
    assert seen[0] is error


@pytest.mark.parametrize(
    "on",
    [
        pytest.param(int, id="non-exception-type"),
        pytest.param((OSError, int), id="tuple-with-non-exception-type"),
        pytest.param((OSError, "ValueError"), id="tuple-with-string"),
        pytest.param((OSError, OSError()), id="tuple-with-instance"),
        pytest.param("OSError", id="string"),
        pytest.param(42, id="number"),
        pytest.param(None, id="none"),
        pytest.param([OSError], id="list-of-types"),
    ],
)
def test_classify_rejects_invalid_on(on: object) -> None:
    """`on` that is neither exception types nor a callable raises TypeError naming `on`."""
    with pytest.raises(TypeError, match="on must"):
        classify_exceptions(on)  # type: ignore[arg-type]
