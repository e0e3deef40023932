"""The asyncio watchdog behind `Timeout` in real time: one loop timer per task."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import stalwart
from stalwart._strategies._asyncio_deadlines import Watchdog, watchdog


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    async def wrapper() -> Any:
        return await main()

    return asyncio.run(wrapper())


def current() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None
    return task


def armed(dog: Watchdog) -> bool:
    return dog._handle is not None


def test_sequential_calls_in_one_task_share_one_armed_timer() -> None:
    async def main() -> None:
        pipeline = stalwart.Pipeline(
            stalwart.Timeout(total=30),
            stalwart.Retry(on=ConnectionError),
            stalwart.Timeout(per_attempt=10),
        )

        async def work() -> str:
            return "ok"

        assert await pipeline.acall(work) == "ok"
        dog = watchdog(current())
        handle = dog._handle
        assert handle is not None
        assert not handle.cancelled()
        for _ in range(50):
            assert await pipeline.acall(work) == "ok"
        # Every later scope ended after the armed time: nothing was re-armed.
        assert dog._handle is handle
        assert dog.scopes == []
        assert current().cancelling() == 0

    run(main)


def test_a_tighter_scope_re_arms_the_timer_earlier() -> None:
    async def main() -> None:
        task = current()
        dog = watchdog(task)
        outer = dog.open(30.0)
        first = dog._handle
        inner = dog.open(1.0)
        assert dog._handle is not first
        assert first is not None
        assert first.cancelled()
        assert dog._when == inner.deadline
        assert not dog.close(inner)
        assert not dog.close(outer)

    run(main)


def test_scopes_closed_out_of_order_are_all_taken_away() -> None:
    async def main() -> None:
        task = current()
        dog = watchdog(task)
        first = dog.open(10.0)
        second = dog.open(20.0)
        dog.close(first)
        dog.close(second)
        assert dog.scopes == []

    run(main)


def test_a_timer_that_fires_with_no_scope_open_stops() -> None:
    async def main() -> None:
        task = current()
        dog = watchdog(task)
        dog.close(dog.open(10.0))
        assert armed(dog)
        dog._fire()  # what the loop does at the armed time
        assert not armed(dog)
        assert task.cancelling() == 0

    run(main)


def test_a_finished_task_cancels_its_timer() -> None:
    async def main() -> None:
        async def child() -> Watchdog:
            task = current()
            dog = watchdog(task)
            dog.close(dog.open(60.0))
            return dog

        dog = await asyncio.create_task(child())
        handle = dog._handle
        await asyncio.sleep(0)  # the task's done callbacks run
        assert handle is not None
        assert handle.cancelled()
        assert not armed(dog)
        dog._fire()  # harmless once the task is done
        assert not armed(dog)

    run(main)


@pytest.mark.realtime
def test_a_task_nobody_references_still_gets_its_timeout() -> None:
    """As with asyncio.timeout, the timer keeps its task alive: a fire-and-forget task
    waiting on a future nothing else holds is not collected before its deadline."""
    log: list[str] = []
    pipeline = stalwart.Pipeline(stalwart.Timeout(total=0.05))

    async def hang() -> None:
        await asyncio.get_running_loop().create_future()

    async def job() -> None:
        try:
            await pipeline.acall(hang)
        except stalwart.DeadlineExceeded:
            log.append("timed out")

    async def main() -> None:
        asyncio.create_task(job())  # noqa: RUF006 (no reference kept, on purpose)
        await asyncio.sleep(0.01)
        gc.collect()
        await asyncio.sleep(0.1)

    run(main)
    assert log == ["timed out"]


def test_a_child_task_gets_a_watchdog_of_its_own() -> None:
    async def main() -> None:
        parent = watchdog(current())

        async def child() -> Watchdog:
            return watchdog(current())

        dog = await asyncio.create_task(child())
        assert dog is not parent
        assert watchdog(current()) is parent

    run(main)


@pytest.mark.realtime
def test_an_inner_scope_runs_out_and_the_outer_one_carries_on() -> None:
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return "ok"

    async def main() -> None:
        pipeline = stalwart.Pipeline(
            stalwart.Timeout(total=5),
            stalwart.Retry(on=ConnectionError, backoff=stalwart.Backoff.constant(0.0)),
            stalwart.Timeout(per_attempt=0.05),
        )
        assert await pipeline.acall(slow_then_fast) == "ok"
        assert calls == 2
        assert current().cancelling() == 0

    run(main)


@pytest.mark.realtime
def test_an_outer_scope_runs_out_while_a_longer_inner_one_is_open() -> None:
    async def main() -> None:
        task = current()
        dog = watchdog(task)
        outer = dog.open(0.05)
        inner = dog.open(5.0)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.sleep(5)
        assert not dog.close(inner)  # not the inner scope's deadline
        assert dog.close(outer)  # the outer one's, and nothing else cancelled
        assert task.cancelling() == 0

    run(main)


@pytest.mark.realtime
def test_a_total_timeout_runs_out_during_an_attempt() -> None:
    async def hang() -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        pipeline = stalwart.Pipeline(
            stalwart.Timeout(total=0.05),
            stalwart.Retry(on=ConnectionError),
            stalwart.Timeout(per_attempt=0.05),
        )
        with pytest.raises(stalwart.DeadlineExceeded) as caught:
            await pipeline.acall(hang)
        assert isinstance(caught.value.__context__, asyncio.CancelledError)
        assert current().cancelling() == 0
        assert watchdog(current()).scopes == []

    run(main)


@pytest.mark.realtime
def test_concurrent_tasks_each_keep_their_own_deadline() -> None:
    async def work(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    async def main() -> None:
        quick = stalwart.Pipeline(stalwart.Timeout(total=0.05))
        patient = stalwart.Pipeline(stalwart.Timeout(total=5))
        results = await asyncio.gather(
            quick.acall(work, 5), patient.acall(work, 0.1), return_exceptions=True
        )
        assert isinstance(results[0], stalwart.DeadlineExceeded)
        assert results[1] == "done"

    run(main)


@pytest.mark.realtime
def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    started = asyncio.Event

    async def main() -> None:
        ready = started()

        async def hang() -> None:
            ready.set()
            await asyncio.sleep(5)

        task = asyncio.create_task(stalwart.Pipeline(stalwart.Timeout(total=5)).acall(hang))
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)


@pytest.mark.realtime
def test_the_calls_own_cancellation_handling_is_left_alone() -> None:
    """A call that swallows the cancellation and returns keeps its result, as under
    asyncio.timeout, and leaves no cancellation pending."""

    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "caught it"
        return "slept"

    async def main() -> None:
        result = await stalwart.Pipeline(stalwart.Timeout(total=0.05)).acall(stubborn)
        assert result == "caught it"
        assert current().cancelling() == 0
        await asyncio.sleep(0)  # no cancellation is left to land here

    run(main)
