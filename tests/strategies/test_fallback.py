"""`Fallback`: answer with a value or a function when the call fails in a chosen way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import (
    Backoff,
    Cancelled,
    CircuitOpen,
    DeadlineExceeded,
    Outcome,
    Pipeline,
    Retry,
    Throttled,
    Timeout,
    Verdict,
)
from stalwart._strategies._base import WrongKind
from stalwart._strategies.adaptive_throttle import AdaptiveThrottle
from stalwart._strategies.chaos import Chaos
from stalwart._strategies.fallback import Fallback, FallbackUsed
from stalwart.testing import FakeClock

# -- helpers --------------------------------------------------------------------------


def used(events: list[stalwart.Event]) -> list[FallbackUsed]:
    return [event for event in events if isinstance(event, FallbackUsed)]


class Raises:
    """A sync callable raising `error` on every call, counting calls."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def __call__(self, *args: object) -> object:
        self.calls += 1
        raise self.error


class ARaises(Raises):
    """The async twin of `Raises`."""

    async def __call__(self, *args: object) -> object:
        await anyio.lowlevel.checkpoint()
        return Raises.__call__(self, *args)


def statuses(outcome: Outcome[Any]) -> Verdict:
    """429 throttled, 503 transient, 404 fatal, other results succeed; exceptions time out."""
    if outcome.exception is not None:
        return Verdict.TIMEOUT
    codes: dict[object, Verdict] = {
        429: Verdict.THROTTLED,
        503: Verdict.TRANSIENT,
        404: Verdict.FATAL,
    }
    return codes.get(outcome.result, Verdict.SUCCESS)


def returns(value: object) -> Callable[[], object]:
    """A callee answering `value` (typed `object`, as a fallback may answer anything)."""
    return lambda: value


# -- options --------------------------------------------------------------------------


def test_repr_shows_the_given_options() -> None:
    """The repr lists what was given, functions by name and verdicts in enum order."""
    assert repr(Fallback(on=ConnectionError, value=[])) == "Fallback(value=[], on=ConnectionError)"
    fallback = Fallback(
        classify=statuses, verdicts=[Verdict.TIMEOUT, Verdict.THROTTLED], call=repr, name="fb"
    )
    assert repr(fallback) == (
        "Fallback(call=repr, classify=statuses, "
        "verdicts=(Verdict.THROTTLED, Verdict.TIMEOUT), name='fb')"
    )


def test_default_name_and_verdicts() -> None:
    """The name defaults to "fallback"; with classify= and no verdicts every failure counts."""
    fallback = Fallback(classify=statuses, value=0)
    assert fallback.name == "fallback"
    assert fallback.verdicts is None
    assert fallback._when == {Verdict.TRANSIENT, Verdict.THROTTLED, Verdict.TIMEOUT, Verdict.FATAL}


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"on": OSError}, TypeError, "value= or call=", id="no-answer"),
        pytest.param(
            {"on": OSError, "value": 1, "call": repr}, TypeError, "value= or call=", id="both"
        ),
        pytest.param({"on": OSError, "call": 3}, TypeError, r"\bcall\b", id="call-not-callable"),
        pytest.param({"value": 1}, TypeError, r"on=.*classify=", id="no-condition"),
        pytest.param(
            {"value": 1, "on": OSError, "classify": statuses}, TypeError, "not both", id="on+cls"
        ),
        pytest.param({"value": 1, "on": "OSError"}, TypeError, r"\bon\b", id="on-str"),
        pytest.param({"value": 1, "on": (OSError, 1)}, TypeError, r"\bon\b", id="on-tuple-int"),
        pytest.param({"value": 1, "classify": 3}, TypeError, r"\bclassify\b", id="classify-int"),
        pytest.param(
            {"value": 1, "on": OSError, "verdicts": Verdict.FATAL},
            TypeError,
            r"\bverdicts\b",
            id="verdicts-with-on",
        ),
        pytest.param(
            {"value": 1, "classify": statuses, "verdicts": Verdict.SUCCESS},
            ValueError,
            r"\bverdicts\b",
            id="verdicts-success",
        ),
        pytest.param(
            {"value": 1, "classify": statuses, "verdicts": [Verdict.CANCELLED]},
            ValueError,
            r"\bverdicts\b",
            id="verdicts-cancelled",
        ),
        pytest.param(
            {"value": 1, "classify": statuses, "verdicts": []},
            ValueError,
            r"\bverdicts\b",
            id="verdicts-empty",
        ),
        pytest.param(
            {"value": 1, "classify": statuses, "verdicts": "transient"},
            TypeError,
            r"\bverdicts\b",
            id="verdicts-str",
        ),
        pytest.param(
            {"value": 1, "classify": statuses, "verdicts": [1]},
            TypeError,
            r"\bverdicts\b",
            id="verdicts-int",
        ),
        pytest.param({"value": 1, "on": OSError, "name": ""}, ValueError, r"\bname\b", id="name"),
    ],
)
def test_bad_options_say_what_is_wrong(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Each invalid combination raises TypeError or ValueError naming the parameter."""
    with pytest.raises(error, match=match):
        Fallback(**options)


def test_none_is_a_valid_fallback_value() -> None:
    """`value=None` is a value like any other, returned on failure."""
    assert Pipeline(Fallback(on=OSError, value=None)).call(Raises(OSError())) is None


# -- when it falls back: on= ------------------------------------------------------------


def test_a_matching_exception_returns_the_value(events: list[stalwart.Event]) -> None:
    """On a matching exception the value is returned, after one call, with a FallbackUsed."""
    fn = Raises(ConnectionResetError("reset"))
    assert Pipeline(Fallback(on=ConnectionError, value="cached")).call(fn) == "cached"
    assert fn.calls == 1
    [event] = used(events)
    assert event.strategy == "fallback"
    assert event.verdict is Verdict.TRANSIENT
    assert event.exception is fn.error
    assert "falling back" in event.message()


def test_an_unmatched_exception_comes_out_unchanged(events: list[stalwart.Event]) -> None:
    """An exception `on=` does not match is raised as it was, with no event and no note."""
    fn = Raises(ValueError("bad input"))
    with pytest.raises(ValueError) as info:
        Pipeline(Fallback(on=ConnectionError, value="cached")).call(fn)
    assert info.value is fn.error
    assert not hasattr(info.value, "__notes__")
    assert used(events) == []


def test_results_pass_through_with_on(events: list[stalwart.Event]) -> None:
    """With `on=`, results are never replaced, whatever they are."""
    fallback = Fallback(on=Exception, value="cached")
    assert Pipeline(fallback).call(returns(503)) == 503
    assert used(events) == []


def test_on_predicate() -> None:
    """`on=` may be a predicate: matching exceptions fall back, others come out."""
    fallback = Fallback(on=lambda exc: "busy" in str(exc), value="later")
    assert Pipeline(fallback).call(Raises(RuntimeError("server busy"))) == "later"
    with pytest.raises(RuntimeError, match="broken"):
        Pipeline(fallback).call(Raises(RuntimeError("broken")))


def test_deadline_exceeded_falls_back_only_if_on_matches_it(events: list[stalwart.Event]) -> None:
    """`on=TimeoutError` catches DeadlineExceeded (verdict TIMEOUT); `on=ConnectionError` not."""
    error = DeadlineExceeded("too slow")
    assert Pipeline(Fallback(on=TimeoutError, value="late")).call(Raises(error)) == "late"
    assert used(events)[0].verdict is Verdict.TIMEOUT
    with pytest.raises(DeadlineExceeded):
        Pipeline(Fallback(on=ConnectionError, value="late")).call(Raises(error))


# -- when it falls back: classify= --------------------------------------------------------


def test_classify_falls_back_on_every_failure_by_default(events: list[stalwart.Event]) -> None:
    """With `classify=`, results classified as any failure fall back; SUCCESS passes."""
    fallback = Fallback(classify=statuses, call=lambda outcome: f"fallback for {outcome.result}")
    pipeline = Pipeline(fallback)
    assert pipeline.call(returns(200)) == 200
    for status in (404, 429, 503):
        assert pipeline.call(returns(status)) == f"fallback for {status}"
    assert pipeline.call(Raises(OSError())) == "fallback for None"
    assert [event.verdict for event in used(events)] == [
        Verdict.FATAL,
        Verdict.THROTTLED,
        Verdict.TRANSIENT,
        Verdict.TIMEOUT,
    ]
    assert used(events)[0].exception is None


def test_verdicts_narrow_what_falls_back() -> None:
    """`verdicts=Verdict.THROTTLED` falls back on 429 only; other failures pass through."""
    pipeline = Pipeline(Fallback(classify=statuses, verdicts=Verdict.THROTTLED, value="slow"))
    assert pipeline.call(returns(429)) == "slow"
    assert pipeline.call(returns(503)) == 503
    assert pipeline.call(returns(404)) == 404
    error = OSError("timed out")
    with pytest.raises(OSError) as info:
        pipeline.call(Raises(error))
    assert info.value is error


def test_handles_is_a_pure_decision() -> None:
    """`handles` returns the verdict to fall back on, or None, for a given outcome."""
    fallback = Fallback(classify=statuses, verdicts=[Verdict.TRANSIENT], value=0)
    assert fallback.handles(Outcome.of_result(503)) is Verdict.TRANSIENT
    assert fallback.handles(Outcome.of_result(429)) is None
    assert fallback.handles(Outcome.of_result(200)) is None
    on = Fallback(on=KeyError, value=0)
    assert on.handles(Outcome.of_exception(KeyError("k"))) is Verdict.TRANSIENT
    assert on.handles(Outcome.of_exception(ValueError())) is None
    assert on.handles(Outcome.of_result(1)) is None


# -- never on cancellation or a mix-up ------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Cancelled("stop"), id="stalwart.Cancelled"),
        pytest.param(KeyboardInterrupt, id="KeyboardInterrupt"),
        pytest.param(asyncio.CancelledError, id="asyncio.CancelledError"),
    ],
)
@pytest.mark.parametrize(
    "fallback",
    [
        pytest.param(Fallback(on=BaseException, value="no"), id="on-BaseException"),
        pytest.param(
            Fallback(classify=lambda outcome: Verdict.TRANSIENT, value="no"), id="classify-all"
        ),
    ],
)
def test_cancellation_never_falls_back(
    events: list[stalwart.Event], make: Callable[[], BaseException], fallback: Fallback
) -> None:
    """Cancellation comes out unchanged even when the options would match everything."""
    fn = Raises(make())
    with pytest.raises(BaseException) as info:
        Pipeline(fallback).call(fn)
    assert info.value is fn.error
    assert used(events) == []


def test_a_sync_async_mix_up_never_falls_back() -> None:
    """An async function given to `call` raises WrongKind even with `on=Exception`."""

    async def fetch() -> str:
        return "never"

    with pytest.raises(WrongKind):
        Pipeline(Fallback(on=Exception, value="no")).call(fetch)  # type: ignore[unused-coroutine]


@pytest.mark.anyio
async def test_async_mix_up_never_falls_back() -> None:
    """A sync function given to `acall` raises WrongKind even with `on=Exception`."""
    with pytest.raises(WrongKind):
        await Pipeline(Fallback(on=Exception, value="no")).acall(cast("Any", returns("sync")))


@pytest.mark.anyio
async def test_async_cancellation_in_flight_never_falls_back(clock: FakeClock) -> None:
    """A call cancelled by its task group while awaiting does not run the fallback."""
    calls: list[Outcome[Any]] = []
    pipeline = Pipeline(Fallback(on=BaseException, call=calls.append))
    started = anyio.Event()

    async def hang() -> None:
        started.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, hang)
        await started.wait()
        group.cancel_scope.cancel()
    assert calls == []


@pytest.mark.anyio
async def test_a_stalwart_cancel_scope_never_falls_back(clock: FakeClock) -> None:
    """Cancelling a stalwart cancel scope ends the call with Cancelled, not the fallback."""
    pipeline = Pipeline(Fallback(on=Exception, value="no"))
    with pytest.raises(Cancelled):
        async with stalwart.cancel_scope() as scope:
            scope.cancel()
            await pipeline.acall(stalwart.asleep, 10)


# -- the fallback function ------------------------------------------------------------------


def test_the_function_receives_the_failed_outcome() -> None:
    """`call=` gets the Outcome holding the exception, and its return value is the answer."""
    seen: list[Outcome[Any]] = []

    def answer(outcome: Outcome[Any]) -> str:
        seen.append(outcome)
        return "from cache"

    fn = Raises(ConnectionError("down"))
    assert Pipeline(Fallback(on=ConnectionError, call=answer)).call(fn) == "from cache"
    [outcome] = seen
    assert outcome.exception is fn.error
    assert not outcome.ok


def test_an_error_in_the_function_comes_out_chained_to_the_original() -> None:
    """What the fallback function raises comes out, with the call's exception as context."""

    def answer(outcome: Outcome[Any]) -> str:
        raise LookupError("cache miss")

    fn = Raises(ConnectionError("down"))
    with pytest.raises(LookupError, match="cache miss") as info:
        Pipeline(Fallback(on=ConnectionError, call=answer)).call(fn)
    assert info.value.__context__ is fn.error


def test_the_sync_driver_refuses_an_async_function(events: list[stalwart.Event]) -> None:
    """`call()` with an async fallback function raises WrongKind, without calling it."""
    calls: list[int] = []

    async def answer(outcome: Outcome[Any]) -> str:
        calls.append(1)
        return "never"

    fn = Raises(ConnectionError("down"))
    with pytest.raises(WrongKind, match=r"fallback function .* is async.*acall") as info:
        Pipeline(Fallback(on=ConnectionError, call=answer)).call(fn)
    assert calls == []
    assert info.value.__context__ is fn.error
    assert used(events) == []


def test_the_sync_driver_refuses_an_awaitable_answer() -> None:
    """A callable object whose answer is a coroutine is refused too (and the coroutine closed)."""

    class Answer:
        def __call__(self, outcome: Outcome[Any]) -> Coroutine[Any, Any, str]:
            return self.fetch()

        async def fetch(self) -> str:
            return "never"

    with pytest.raises(WrongKind, match="is async"):
        Pipeline(Fallback(on=ConnectionError, call=Answer())).call(Raises(ConnectionError()))


@pytest.mark.anyio
async def test_the_async_driver_awaits_an_async_function(clock: FakeClock) -> None:
    """`acall` awaits an async fallback function, which may itself wait on the clock."""

    async def answer(outcome: Outcome[Any]) -> str:
        await stalwart.asleep(2.0)
        return f"after {type(outcome.exception).__name__}"

    fn = ARaises(ConnectionError("down"))
    pipeline = Pipeline(Fallback(on=ConnectionError, call=answer))
    assert await pipeline.acall(fn) == "after ConnectionError"
    assert clock.monotonic() == 2.0


@pytest.mark.anyio
async def test_the_async_driver_takes_sync_functions_and_values(
    events: list[stalwart.Event],
) -> None:
    """`acall` also accepts a sync fallback function, or a plain value."""
    fn = ARaises(ConnectionError("down"))
    assert await Pipeline(Fallback(on=OSError, call=lambda o: "sync")).acall(fn) == "sync"
    assert await Pipeline(Fallback(on=OSError, value="value")).acall(fn) == "value"
    assert len(used(events)) == 2


@pytest.mark.anyio
async def test_async_unmatched_exceptions_and_results_pass_through() -> None:
    """In async code too, unmatched exceptions come out unchanged and results are kept."""
    fn = ARaises(ValueError("bad"))
    pipeline = Pipeline(Fallback(on=ConnectionError, value="no"))
    with pytest.raises(ValueError) as info:
        await pipeline.acall(fn)
    assert info.value is fn.error

    async def fetch() -> object:
        return 503

    assert await Pipeline(Fallback(classify=statuses, value="down")).acall(fetch) == "down"
    assert await pipeline.acall(fetch) == 503


# -- in a pipeline --------------------------------------------------------------------------


def test_outermost_it_answers_after_the_retry_gives_up(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Fallback before a Retry: three attempts, then the fallback sees the annotated error."""
    seen: list[Outcome[Any]] = []

    def answer(outcome: Outcome[Any]) -> str:
        seen.append(outcome)
        return "stale"

    fn = Raises(ConnectionError("down"))
    pipeline = Pipeline(
        Fallback(on=ConnectionError, call=answer),
        Retry(on=ConnectionError, backoff=Backoff.constant(1.0)),
    )
    assert pipeline.call(fn) == "stale"
    assert fn.calls == 3
    assert clock.monotonic() == 2.0
    assert any("gave up after 3 attempt(s)" in note for note in seen[0].exception.__notes__)  # type: ignore[union-attr]


def test_outermost_it_answers_for_local_rejections(clock: FakeClock) -> None:
    """A Throttled from an AdaptiveThrottle inside is answered like any matching exception."""
    throttle = AdaptiveThrottle()
    pipeline = Pipeline(
        Fallback(on=(ConnectionError, Throttled, CircuitOpen), value="degraded"),
        Retry(on=ConnectionError, max_attempts=1),
        throttle,
    )
    fn = Raises(ConnectionError())
    answers = [pipeline.call(fn) for _ in range(200)]
    assert answers == ["degraded"] * 200
    assert throttle.statistics().requests == 200
    assert fn.calls < 100  # most calls were rejected locally, and answered all the same


@pytest.mark.anyio
async def test_outermost_it_answers_when_the_total_timeout_expires(clock: FakeClock) -> None:
    """Before a Timeout(total=...), an expired deadline is answered by `on=TimeoutError`."""
    pipeline = Pipeline(Fallback(on=TimeoutError, value="late"), Timeout(total=1.0))

    async def slow() -> object:
        await stalwart.asleep(5.0)
        return "on time"

    assert await pipeline.acall(slow) == "late"
    assert clock.monotonic() == 1.0


def test_with_chaos_inside_every_injected_fault_is_answered(clock: FakeClock) -> None:
    """Fallback, Retry and Chaos(rate=1): three injected failures, then the fallback value."""
    calls: list[int] = []
    pipeline = Pipeline(
        Fallback(on=ConnectionError, value="fallback"),
        Retry(on=ConnectionError),
        Chaos(rate=1.0, exception=ConnectionError("injected"), enabled=True),
    )
    assert pipeline.call(lambda: calls.append(1)) == "fallback"
    assert calls == []
