"""`stalwart.Pipeline`: validation, sync and async entry points, the decorator, identity,
threads."""

from __future__ import annotations

import gc
import inspect
import threading
import warnings

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import Backoff, Pipeline, Retry, Timeout
from stalwart.testing import FakeClock


def standard() -> Pipeline:
    return Pipeline(
        Timeout(total=10),
        Retry(on=ConnectionError, backoff=Backoff.constant(0.5)),
        Timeout(per_attempt=2),
    )


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "position"),
    [
        ((42,), 0),
        ((Retry(on=ConnectionError), "Timeout(total=1)"), 1),
        ((Timeout(total=1), Retry(on=ValueError), ConnectionError), 2),
        ((Retry,), 0),
    ],
)
def test_non_strategy_arguments_are_rejected_by_position(
    arguments: tuple[object, ...], position: int
) -> None:
    """A non-strategy argument raises TypeError naming its position."""
    with pytest.raises(TypeError, match=rf"argument {position} is"):
        Pipeline(*arguments)  # type: ignore[arg-type]


def test_two_retries_are_rejected() -> None:
    """A pipeline takes at most one Retry."""
    with pytest.raises(ValueError, match="at most one Retry"):
        Pipeline(Retry(on=ConnectionError), Retry(on=ValueError))
    with pytest.raises(ValueError, match="at most one Retry"):
        Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=1), Retry(on=ValueError))


def test_total_timeout_inside_the_retry_is_rejected() -> None:
    """`Timeout(total=...)` after (inside) the Retry is rejected, pointing to per_attempt=."""
    with pytest.raises(ValueError, match=r"Timeout\(total=1\) is inside the Retry.*per_attempt="):
        Pipeline(Retry(on=ConnectionError), Timeout(total=1))


@pytest.mark.parametrize(
    "strategies",
    [
        pytest.param((Timeout(per_attempt=1),), id="alone"),
        pytest.param((Timeout(per_attempt=1), Retry(on=ConnectionError)), id="before-retry"),
        pytest.param((Timeout(total=5), Timeout(per_attempt=1)), id="after-total"),
    ],
)
def test_per_attempt_timeout_needs_a_retry_before_it(strategies: tuple[Timeout, ...]) -> None:
    """`Timeout(per_attempt=...)` without a Retry before it is rejected, pointing to total=."""
    with pytest.raises(
        ValueError, match=r"Timeout\(per_attempt=1\) needs a Retry or Hedge before it.*total="
    ):
        Pipeline(*strategies)


def test_per_attempt_longer_than_total_is_rejected() -> None:
    """A per-attempt timeout longer than the total one is rejected, naming both."""
    with pytest.raises(ValueError, match=r"per_attempt=5\) is longer than Timeout\(total=2\)"):
        Pipeline(Timeout(total=2), Retry(on=ConnectionError), Timeout(per_attempt=5))


def test_valid_orders_build() -> None:
    """The standard order and its sensible subsets build and keep their strategies in order."""
    strategies = (Timeout(total=10), Retry(on=ConnectionError), Timeout(per_attempt=2))
    assert Pipeline(*strategies).strategies == strategies
    Pipeline(Timeout(total=10), Retry(on=ConnectionError))
    Pipeline(Retry(on=ConnectionError), Timeout(per_attempt=2))
    Pipeline(Retry(on=ConnectionError))
    Pipeline(Timeout(total=10))
    Pipeline(Timeout(total=2), Retry(on=ConnectionError), Timeout(per_attempt=2))  # equal is fine


def test_empty_pipeline_just_calls_the_function(events: list[stalwart.Event]) -> None:
    """`Pipeline()` calls the function once, returning its value or raising its exception."""
    calls: list[int] = []

    def fail() -> None:
        calls.append(1)
        raise ConnectionError("down")

    assert Pipeline().call(lambda: "ok") == "ok"
    with pytest.raises(ConnectionError):
        Pipeline().call(fail)
    assert calls == [1]
    assert events == []


# -- calling ---------------------------------------------------------------------------------------


def test_call_passes_arguments_through(clock: FakeClock) -> None:
    """`call` passes positional and keyword arguments through, even ones named `fn` or `self`."""

    def echo(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
        return args, kwargs

    pipeline = standard()
    assert pipeline.call(echo, 1, "two", three=3, fn="f", self="s") == (
        (1, "two"),
        {"three": 3, "fn": "f", "self": "s"},
    )
    assert Pipeline().call(echo) == ((), {})


@pytest.mark.anyio
async def test_acall_awaits_and_passes_arguments_through(clock: FakeClock) -> None:
    """`acall` awaits the coroutine function with its arguments and returns its value."""

    async def echo(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
        await anyio.lowlevel.checkpoint()
        return args, kwargs

    expected = ((1, "two"), {"three": 3, "fn": "f"})
    assert await Pipeline().acall(echo, 1, "two", three=3, fn="f") == expected
    assert await standard().acall(echo, 1, "two", three=3, fn="f") == expected


@pytest.mark.anyio
async def test_acall_retries_then_returns(clock: FakeClock) -> None:
    """`acall` through the standard pipeline retries a failing coroutine and returns its value."""
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        await anyio.lowlevel.checkpoint()
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    assert await standard().acall(flaky) == "ok"
    assert len(calls) == 3
    assert clock.monotonic() == 1.0


async def _coroutine_function() -> str:
    return "never"


def test_call_on_an_async_function_is_a_type_error_without_warnings() -> None:
    """`call` with a coroutine function raises TypeError pointing to acall, leaving no un-awaited
    coroutine."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError, match="acall"):
            Pipeline().call(_coroutine_function)
        with pytest.raises(TypeError, match="acall"):
            standard().call(_coroutine_function)
        gc.collect()
    assert [str(warning.message) for warning in caught] == []


def test_call_on_an_async_function_is_not_retried(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """The misuse TypeError is raised at once, even by a Retry whose `on=` matches TypeError."""
    calls: list[int] = []

    def tracked() -> object:  # behaves like a coroutine function: returns a coroutine
        calls.append(1)
        return _coroutine_function()

    with pytest.raises(TypeError, match="acall"):
        Pipeline(Retry(on=Exception)).call(tracked)
    assert calls == [1]
    assert not any(isinstance(event, stalwart.RetryScheduled) for event in events)


@pytest.mark.anyio
async def test_acall_on_a_sync_function_is_a_type_error() -> None:
    """`acall` with a plain function raises TypeError pointing to call."""
    with pytest.raises(TypeError, match=r"pipeline\.call"):
        await Pipeline().acall(lambda: "sync")  # type: ignore[arg-type, return-value]


@pytest.mark.anyio
async def test_acall_on_a_sync_function_is_not_retried(clock: FakeClock) -> None:
    """The misuse TypeError from `acall` is raised at once, not retried, so the sync function runs
    once."""
    calls: list[int] = []

    def sync() -> str:
        calls.append(1)
        return "sync"

    with pytest.raises(TypeError, match=r"pipeline\.call"):
        await Pipeline(Retry(on=Exception)).acall(sync)  # type: ignore[arg-type]
    assert calls == [1]


# -- the decorator ---------------------------------------------------------------------------------


def test_decorator_keeps_metadata_and_sync_kind(clock: FakeClock) -> None:
    """`@pipeline` on a sync function keeps name, doc, wrapped, signature and sync kind, and
    retries."""
    calls: list[int] = []

    def fetch(uid: int, *, verbose: bool = False) -> str:
        """Fetch a user."""
        calls.append(uid)
        if len(calls) < 2:
            raise ConnectionError("down")
        return f"user-{uid}-{verbose}"

    decorated = standard()(fetch)
    assert decorated.__name__ == "fetch"
    assert decorated.__doc__ == "Fetch a user."
    assert decorated.__wrapped__ is fetch  # type: ignore[attr-defined]
    assert inspect.signature(decorated) == inspect.signature(fetch)
    assert not inspect.iscoroutinefunction(decorated)
    assert decorated(7, verbose=True) == "user-7-True"
    assert calls == [7, 7]


@pytest.mark.anyio
async def test_decorator_keeps_metadata_and_async_kind(clock: FakeClock) -> None:
    """`@pipeline` on a coroutine function keeps its metadata, stays a coroutine function, and
    retries."""
    calls: list[int] = []

    async def afetch(uid: int, *, verbose: bool = False) -> str:
        """Fetch a user, async."""
        calls.append(uid)
        await anyio.lowlevel.checkpoint()
        if len(calls) < 2:
            raise ConnectionError("down")
        return f"user-{uid}-{verbose}"

    decorated = standard()(afetch)
    assert decorated.__name__ == "afetch"
    assert decorated.__doc__ == "Fetch a user, async."
    assert decorated.__wrapped__ is afetch  # type: ignore[attr-defined]
    assert inspect.signature(decorated) == inspect.signature(afetch)
    assert inspect.iscoroutinefunction(decorated)
    assert await decorated(7, verbose=True) == "user-7-True"
    assert calls == [7, 7]


def test_decorator_syntax(clock: FakeClock) -> None:
    """`@pipeline` works as decorator syntax on a module-style function."""
    pipeline = Pipeline(Retry(on=ConnectionError, max_attempts=2))

    @pipeline
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, b=3) == 5


# -- identity ------------------------------------------------------------------------------------


def test_repr_lists_the_strategies() -> None:
    """The repr lists the strategies, outermost first."""
    assert repr(Pipeline()) == "Pipeline()"
    assert (
        repr(Pipeline(Timeout(total=10), Retry(on=ConnectionError), Timeout(per_attempt=1)))
        == "Pipeline(Timeout(total=10.0), Retry(on=ConnectionError), Timeout(per_attempt=1.0))"
    )


def test_equality_and_hash_follow_the_strategies() -> None:
    """Pipelines with equal strategies are equal and hash alike; different ones are not equal."""
    assert standard() == standard()
    assert hash(standard()) == hash(standard())
    assert Pipeline() == Pipeline()
    assert Pipeline(Retry(on=ConnectionError)) != Pipeline(Retry(on=ValueError))
    assert Pipeline(Retry(on=ConnectionError)) != Pipeline()
    assert Pipeline() != ()
    assert len({standard(), standard(), Pipeline()}) == 2


def test_pipeline_is_immutable() -> None:
    """A pipeline's strategies cannot be reassigned after it is built."""
    pipeline = Pipeline(Retry(on=ConnectionError))
    with pytest.raises(AttributeError):
        pipeline.strategies = ()  # type: ignore[misc]
    assert pipeline.strategies == (Retry(on=ConnectionError),)


# -- reuse and threads -----------------------------------------------------------------------------


def test_pipeline_is_reusable(clock: FakeClock) -> None:
    """One pipeline runs many calls, each with its own fresh attempt count."""
    pipeline = Pipeline(Retry(on=ConnectionError, max_attempts=2))
    for _ in range(3):
        calls: list[int] = []

        def flaky(calls: list[int] = calls) -> str:
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("down")
            return "ok"

        assert pipeline.call(flaky) == "ok"
        assert len(calls) == 2


def test_pipeline_is_thread_safe(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """One pipeline, 8 threads x 200 calls of a flaky function on a carried FakeClock: every call
    succeeds."""
    threads, calls_per_thread = 8, 200
    # No timeouts here: the shared virtual clock moves with every thread's backoff, so a
    # deadline in one thread would be eaten by the others' sleeps.
    pipeline = Pipeline(Retry(on=ConnectionError, max_attempts=3))
    local = threading.local()
    attempts = [0] * threads
    results: list[list[object]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def flaky(index: int) -> int:
        attempts[index] += 1
        local.count = getattr(local, "count", 0) + 1
        if local.count % 2 == 1:  # every call fails once, then succeeds
            raise ConnectionError("down")
        return index

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(calls_per_thread):
            try:
                results[index].append(pipeline.call(flaky, index))
            except BaseException as exc:  # reported to the test thread
                results[index].append(exc)

    started = [stalwart.start_thread(worker, index) for index in range(threads)]
    for thread in started:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in started)
    assert results == [[index] * calls_per_thread for index in range(threads)]
    assert attempts == [2 * calls_per_thread] * threads
    retries = [event for event in events if isinstance(event, stalwart.RetryScheduled)]
    assert len(retries) == threads * calls_per_thread
    assert clock.monotonic() > 0  # the backoff ran on the carried FakeClock


def test_pipeline_is_thread_safe_with_instant_retries() -> None:
    """With instant retries, 8 threads x 200 calls share one pipeline on the real clock without
    waiting."""
    from stalwart.testing import instant_retries

    pipeline = Pipeline(
        Timeout(total=10),
        Retry(on=ConnectionError, backoff=Backoff.constant(60.0)),
        Timeout(per_attempt=1),
    )
    local = threading.local()
    failures: list[BaseException] = []
    done = [0] * 8

    def flaky() -> str:
        local.count = getattr(local, "count", 0) + 1
        if local.count % 2 == 1:
            raise ConnectionError("down")
        return "ok"

    def worker(index: int) -> None:
        for _ in range(200):
            try:
                assert pipeline.call(flaky) == "ok"
                done[index] += 1
            except BaseException as exc:  # reported to the test thread
                failures.append(exc)

    with instant_retries():
        started = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join(timeout=30)
    assert failures == []
    assert done == [200] * 8


def test_retry_and_hedge_do_not_stack() -> None:
    """A pipeline takes a Retry or a Hedge, not both: each multiplies the load."""
    with pytest.raises(ValueError, match="at most one Retry or Hedge"):
        Pipeline(stalwart.Hedge(delay=0.1), Retry(on=ConnectionError))


def test_per_attempt_timeout_may_sit_inside_a_hedge() -> None:
    """Timeout(per_attempt=...) is accepted after a Hedge, as after a Retry."""
    Pipeline(Timeout(total=5), stalwart.Hedge(delay=0.5), Timeout(per_attempt=1))


@pytest.mark.parametrize(
    ("hedges", "delay", "total"),
    [pytest.param(5, 1.0, 3.0, id="beyond"), pytest.param(3, 1.0, 3.0, id="at-the-total")],
)
def test_hedges_scheduled_past_the_total_are_refused(
    hedges: int, delay: float, total: float
) -> None:
    """max_hedges × delay must stay below the total timeout, or the last hedges never start."""
    with pytest.raises(ValueError, match=r"Hedge\(max_hedges=.*Timeout\(total="):
        Pipeline(Timeout(total=total), stalwart.Hedge(delay=delay, max_hedges=hedges))
    Pipeline(Timeout(total=total), stalwart.Hedge(delay=delay, max_hedges=2))
