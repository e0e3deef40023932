"""`Bulkhead`: options, the slot state, rejection, fair waiting, deadlines, cancellation, stress."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

import stalwart
from stalwart import Backoff, Cancelled, DeadlineExceeded, Pipeline, Retry, Timeout
from stalwart._exceptions import BulkheadFull
from stalwart._state.store import MEMORY, MemoryStore
from stalwart._strategies.bulkhead import (
    Bulkhead,
    BulkheadRejected,
    BulkheadState,
    BulkheadStatistics,
    BulkheadWaited,
    _Waiter,
)
from stalwart.testing import FakeClock

try:  # newer anyio releases keep it in anyio.testing
    from anyio.testing import wait_all_tasks_blocked  # type: ignore[import-not-found]
except ImportError:
    from anyio import wait_all_tasks_blocked


def of_type(events: list[stalwart.Event], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


class Caller:
    """A thread running `pipeline.call(...)` in the test's context (FakeClock included).

    Without `fn` it holds its slot until `join()`: `entered` is set once the call runs.
    """

    def __init__(self, pipeline: Pipeline, fn: Callable[..., object] | None = None) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.outcome: list[object] = []

        def hold() -> str:
            self.entered.set()
            if not self.released.wait(10):
                raise AssertionError("the test never released this slot")
            return "held"

        def run() -> None:
            try:
                self.outcome.append(pipeline.call(fn if fn is not None else hold))
            except BaseException as exc:
                self.outcome.append(exc)

        self.thread = stalwart.start_thread(run, daemon=True)

    def join(self) -> None:
        self.released.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the caller thread did not finish"


def noop() -> str:
    return "ok"


async def anoop() -> str:
    await anyio.lowlevel.checkpoint()
    return "ok"


# -- options --------------------------------------------------------------------------------


def test_max_concurrent_is_required() -> None:
    """`Bulkhead()` without `max_concurrent` raises TypeError naming it: there is no default."""
    with pytest.raises(TypeError, match="max_concurrent"):
        Bulkhead()  # type: ignore[call-arg]


@pytest.mark.parametrize("parameter", ["max_concurrent", "max_queue", "max_partitions"])
@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("3", TypeError), (None, TypeError)],
)
def test_bad_counts_name_the_parameter(
    parameter: str, value: object, error: type[Exception]
) -> None:
    """Negative, fractional, boolean and non-numeric counts raise an error naming the
    parameter."""
    options: dict[str, Any] = {"max_concurrent": 2, parameter: value}
    with pytest.raises(error, match=rf"^{parameter} must"):
        Bulkhead(**options)


def test_zero_is_too_few_slots_but_a_fine_queue() -> None:
    """`max_concurrent=0` and `max_partitions=0` are refused; `max_queue=0` is the default."""
    with pytest.raises(ValueError, match=r"^max_concurrent must be >= 1, got 0"):
        Bulkhead(max_concurrent=0)
    with pytest.raises(ValueError, match=r"^max_partitions must be >= 1, got 0"):
        Bulkhead(max_concurrent=1, max_partitions=0)
    assert Bulkhead(max_concurrent=1, max_queue=0).max_queue == 0


def test_bad_key_store_and_name_are_refused() -> None:
    """A non-callable key, an object that is not a store and an empty name raise, naming
    them."""
    with pytest.raises(TypeError, match=r"^key must"):
        Bulkhead(max_concurrent=1, key="host")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^store must"):
        Bulkhead(max_concurrent=1, store=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^name must"):
        Bulkhead(max_concurrent=1, name="")


def test_defaults_and_repr() -> None:
    """The defaults are as documented, and the repr shows only what differs from them."""
    bulkhead = Bulkhead(max_concurrent=10)
    assert (bulkhead.max_queue, bulkhead.key, bulkhead.max_partitions) == (0, None, 1024)
    assert (bulkhead.store, bulkhead.name) == (MEMORY, "bulkhead")
    assert repr(bulkhead) == "Bulkhead(max_concurrent=10)"

    def host(url: str) -> str:
        return url

    assert repr(Bulkhead(max_concurrent=2, max_queue=5, key=host, name="api")) == (
        "Bulkhead(max_concurrent=2, max_queue=5, key=test_defaults_and_repr.<locals>.host, "
        "name='api')"
    )


def test_replace_revalidates_and_starts_empty() -> None:
    """`replace()` validates again and returns a bulkhead with its own, empty slots."""
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(bulkhead)
    larger = bulkhead.replace(max_concurrent=2)
    assert (larger.max_concurrent, larger.max_queue) == (2, 0)
    assert larger != bulkhead
    with pytest.raises(ValueError, match=r"^max_queue must"):
        bulkhead.replace(max_queue=-1)

    def inside() -> int:
        return larger.statistics().in_flight

    assert pipeline.call(inside) == 0  # the copy does not see the original's slot


def test_options_are_frozen_and_bulkheads_compare_by_identity() -> None:
    """Bulkheads are immutable; each owns its slots, so two with equal options are distinct."""
    bulkhead = Bulkhead(max_concurrent=3)
    with pytest.raises(AttributeError):
        bulkhead.max_concurrent = 4  # type: ignore[misc]
    twin = Bulkhead(max_concurrent=3)
    assert Pipeline(bulkhead) == Pipeline(bulkhead)
    assert bulkhead != twin
    assert len({bulkhead, twin}) == 2
    assert Pipeline(bulkhead) != Pipeline(twin)  # they would not share slots


# -- the slot state ---------------------------------------------------------------------------


def test_state_hands_slots_to_waiters_in_order() -> None:
    """A released slot goes to the longest waiter, never to a newcomer, and frees only when
    nobody waits."""
    woken: list[int] = []
    state = BulkheadState(max_concurrent=1, max_queue=2)
    assert state.try_acquire()
    first, second = _Waiter(lambda: woken.append(1)), _Waiter(lambda: woken.append(2))
    assert state.enqueue(first)
    assert state.enqueue(second)
    assert not first.granted
    assert (state.in_flight, state.waiting) == (1, 2)
    handed = state.release()
    assert handed is first
    assert handed.granted
    assert not state.try_acquire()  # a newcomer cannot take the slot the queue is owed
    assert state.settle(first)  # first holds the slot
    assert not state.settle(second)  # second was still queued: it leaves
    assert (state.in_flight, state.waiting) == (1, 0)
    assert state.release() is None
    assert (state.in_flight, state.waiting) == (0, 0)
    assert woken == []  # waking is the driver's job, outside the lock


def test_state_refuses_only_when_slots_and_queue_are_full() -> None:
    """`enqueue` grants a free slot at once, queues while there is room, then refuses without
    change."""
    state = BulkheadState(max_concurrent=1, max_queue=1)
    at_once = _Waiter(lambda: None)
    assert state.enqueue(at_once)
    assert at_once.granted
    queued, refused = _Waiter(lambda: None), _Waiter(lambda: None)
    assert state.enqueue(queued)
    assert not state.enqueue(refused)
    assert state.statistics() == BulkheadStatistics(
        in_flight=1, waiting=1, max_concurrent=1, max_queue=1
    )
    assert state.statistics().available == 0


# -- sync -----------------------------------------------------------------------------------


def test_calls_within_the_limit_pass_and_give_their_slot_back(clock: FakeClock) -> None:
    """Calls within the limit return their value, holding a slot only while they run."""
    bulkhead = Bulkhead(max_concurrent=2)
    pipeline = Pipeline(bulkhead)

    def inside(value: str) -> tuple[str, int]:
        return value, bulkhead.statistics().in_flight

    assert pipeline.call(inside, "a") == ("a", 1)
    assert pipeline.call(inside, value="b") == ("b", 1)
    assert bulkhead.statistics() == BulkheadStatistics(
        in_flight=0, waiting=0, max_concurrent=2, max_queue=0
    )


def test_full_bulkhead_rejects_at_once(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """With every slot taken and no queue, a call raises BulkheadFull at once and never runs."""
    bulkhead = Bulkhead(max_concurrent=1, name="db")
    pipeline = Pipeline(bulkhead)
    ran: list[int] = []

    def nested() -> object:
        return pipeline.call(ran.append, 1)

    with pytest.raises(BulkheadFull) as excinfo:
        pipeline.call(nested)
    error = excinfo.value
    assert isinstance(error, stalwart.Rejected)
    assert (error.retry_after, error.key) == (None, None)
    assert str(error) == "db is full: 1 of 1 slots taken and no queue (max_queue=0)"
    assert ran == []
    assert clock.monotonic() == 0.0
    [event] = of_type(events, BulkheadRejected)
    assert event == BulkheadRejected(
        strategy="db", key=None, in_flight=1, waiting=0, max_concurrent=1, max_queue=0
    )
    assert bulkhead.statistics().in_flight == 0  # the outer call gave its slot back


def test_queue_is_bounded(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """`max_queue` callers wait for a slot; one more is refused at once; the waiter runs once a
    slot frees."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)
    holder = Caller(pipeline)
    assert holder.entered.wait(10)
    waiter = Caller(pipeline, noop)
    clock.wait_for_sleepers(1)  # the waiter is queued
    assert bulkhead.statistics().waiting == 1
    with pytest.raises(BulkheadFull, match="1 already waiting"):
        pipeline.call(noop)
    holder.join()
    waiter.join()
    assert holder.outcome == ["held"]
    assert waiter.outcome == ["ok"]
    [waited] = of_type(events, BulkheadWaited)
    assert waited.admitted
    assert waited.waited == 0.0  # virtual time did not move
    assert len(of_type(events, BulkheadRejected)) == 1
    assert bulkhead.statistics() == BulkheadStatistics(
        in_flight=0, waiting=0, max_concurrent=1, max_queue=1
    )


def test_waiters_get_slots_in_fifo_order(clock: FakeClock) -> None:
    """Queued threads get the slot in the order they arrived."""
    pipeline = Pipeline(Bulkhead(max_concurrent=1, max_queue=3))
    order: list[int] = []
    holder = Caller(pipeline)
    assert holder.entered.wait(10)
    waiters = []
    for index in range(3):
        waiters.append(Caller(pipeline, lambda index=index: order.append(index)))
        clock.wait_for_sleepers(index + 1)  # queued before the next one arrives
    holder.join()
    for waiter in waiters:
        waiter.join()
    assert order == [0, 1, 2]


def test_threads_run_concurrently_up_to_the_limit() -> None:
    """Three threads hold the three slots at the same time (they meet at a barrier); a fourth
    call is refused."""
    bulkhead = Bulkhead(max_concurrent=3)
    pipeline = Pipeline(bulkhead)
    all_met, release = threading.Event(), threading.Event()
    barrier = threading.Barrier(3, action=all_met.set, timeout=10)

    def meet() -> str:
        barrier.wait()  # breaks (and fails the test) unless all three run at once
        release.wait(10)
        return "met"

    callers = [Caller(pipeline, meet) for _ in range(3)]
    assert all_met.wait(10)
    assert bulkhead.statistics().in_flight == 3
    with pytest.raises(BulkheadFull):
        pipeline.call(noop)
    release.set()
    for caller in callers:
        caller.join()
    assert [caller.outcome for caller in callers] == [["met"]] * 3


def test_threads_never_exceed_the_limit() -> None:
    """8 threads x 60 calls through a 3-slot bulkhead: never more than 3 inside, every call
    runs."""
    bulkhead = Bulkhead(max_concurrent=3, max_queue=8)
    pipeline = Pipeline(bulkhead)
    lock = threading.Lock()
    inside = peak = done = 0
    start = threading.Barrier(8)

    def work() -> None:
        nonlocal inside, peak, done
        with lock:
            inside += 1
            peak = max(peak, inside)
        for _ in range(20):
            os.sched_yield()
        with lock:
            inside -= 1
            done += 1

    errors: list[BaseException] = []

    def worker() -> None:
        start.wait(10)
        for _ in range(60):
            try:
                pipeline.call(work)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert done == 8 * 60
    assert 1 <= peak <= 3
    assert bulkhead.statistics() == BulkheadStatistics(
        in_flight=0, waiting=0, max_concurrent=3, max_queue=8
    )


def test_sync_wait_ends_at_the_deadline(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """A queued call gives up at its deadline with DeadlineExceeded (noted), never running, and
    leaves the queue."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, name="pool")
    pipeline = Pipeline(bulkhead)
    holder = Caller(pipeline)
    assert holder.entered.wait(10)
    ran: list[int] = []
    with pytest.raises(DeadlineExceeded) as excinfo, stalwart.deadline(2):
        pipeline.call(ran.append, 1)
    assert clock.monotonic() == 2.0
    assert ran == []
    assert excinfo.value.deadline == 2.0
    assert any(
        "pool queued the call for a slot for 2.000 s, then the deadline passed" in note
        for note in excinfo.value.__notes__
    )
    [waited] = of_type(events, BulkheadWaited)
    assert (waited.admitted, waited.waited) == (False, 2.0)
    assert bulkhead.statistics().waiting == 0
    assert bulkhead.statistics().in_flight == 1
    holder.join()
    assert holder.outcome == ["held"]
    assert bulkhead.statistics().in_flight == 0


def test_move_on_after_swallows_a_wait_ended_by_its_deadline(clock: FakeClock) -> None:
    """The deadline ending a wait is the scope's own: `move_on_after` ends its block quietly."""
    pipeline = Pipeline(Bulkhead(max_concurrent=1, max_queue=1))
    holder = Caller(pipeline)
    assert holder.entered.wait(10)
    with stalwart.move_on_after(1) as scope:
        pipeline.call(noop)
    assert scope.cancelled_caught
    holder.join()


def test_cancel_from_another_thread_wakes_a_waiting_thread(events: list[stalwart.Event]) -> None:
    """`scope.cancel()` from another thread ends a queued call at once with Cancelled, no time
    passing."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)
    woke = threading.Event()
    with FakeClock(autojump=False) as clock:
        holder = Caller(pipeline)
        assert holder.entered.wait(10)
        with stalwart.deadline(100) as scope:

            def cancel_once_queued() -> None:
                clock.wait_for_sleepers(1, timeout=10)
                scope.cancel()
                if not woke.wait(5):
                    clock.advance(100)  # the cancel did not wake the wait: end it, failing

            helper = threading.Thread(target=cancel_once_queued, daemon=True)
            helper.start()
            try:
                with pytest.raises(Cancelled) as excinfo:
                    pipeline.call(noop)
            finally:
                woke.set()
                helper.join(10)
        assert clock.monotonic() == 0.0
        assert any("then it was cancelled" in note for note in excinfo.value.__notes__)
        assert bulkhead.statistics().waiting == 0
        holder.join()
    assert bulkhead.statistics().in_flight == 0
    [waited] = of_type(events, BulkheadWaited)
    assert not waited.admitted


def test_slot_is_released_when_the_call_raises(clock: FakeClock) -> None:
    """A call that raises gives its slot back, and its exception comes out unchanged."""
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(bulkhead)

    def fail() -> None:
        raise ValueError("boom")

    for _ in range(3):
        with pytest.raises(ValueError, match="boom"):
            pipeline.call(fail)
    assert bulkhead.statistics().in_flight == 0
    assert pipeline.call(noop) == "ok"


def test_slot_is_released_when_the_call_is_cancelled(clock: FakeClock) -> None:
    """A call cancelled while it runs gives its slot back."""
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(bulkhead)
    with pytest.raises(Cancelled), stalwart.cancel_scope() as scope:

        def cancelled_midway() -> None:
            scope.cancel()
            stalwart.check()

        pipeline.call(cancelled_midway)
    assert bulkhead.statistics().in_flight == 0


def test_done_context_is_refused_before_taking_a_slot(clock: FakeClock) -> None:
    """A call arriving cancelled or past its deadline raises without running or taking a slot."""
    bulkhead = Bulkhead(max_concurrent=1, key=lambda value: value)
    pipeline = Pipeline(bulkhead)
    ran: list[int] = []
    with pytest.raises(Cancelled), stalwart.cancel_scope() as scope:
        scope.cancel()
        pipeline.call(ran.append, 1)
    with pytest.raises(DeadlineExceeded), stalwart.deadline(0):
        pipeline.call(ran.append, 2)
    assert ran == []
    assert 1 not in bulkhead._partitions
    assert 2 not in bulkhead._partitions


def test_partitions_are_independent(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """Each key has its own slots: a full partition refuses (naming its key) while another
    passes."""
    bulkhead = Bulkhead(max_concurrent=1, key=lambda host, inner=None: host)
    pipeline = Pipeline(bulkhead)

    def through(host: str, inner: str | None = None) -> object:
        if inner is None:
            return host
        return pipeline.call(through, inner)

    assert pipeline.call(through, "a", inner="b") == "b"
    with pytest.raises(BulkheadFull) as excinfo:
        pipeline.call(through, "a", inner="a")
    assert excinfo.value.key == "a"
    assert "for key 'a'" in str(excinfo.value)
    [event] = of_type(events, BulkheadRejected)
    assert event.key == "a"

    def look(host: str) -> list[int]:
        return [bulkhead.statistics(key).in_flight for key in ("a", "b", None)]

    assert pipeline.call(look, "a") == [1, 0, 0]


def test_partitions_are_bounded(clock: FakeClock) -> None:
    """At most `max_partitions` partitions are kept, least recently used evicted."""
    bulkhead = Bulkhead(max_concurrent=1, key=lambda value: value, max_partitions=4)
    pipeline = Pipeline(bulkhead)
    for value in range(100):
        pipeline.call(noop_of, value)
    assert len(bulkhead._partitions) == 4
    assert list(bulkhead._partitions.keys()) == [96, 97, 98, 99]


def noop_of(value: object) -> object:
    return value


def test_one_instance_shares_its_slots_across_pipelines(clock: FakeClock) -> None:
    """The same Bulkhead in two pipelines is one limit: a call through one fills the other."""
    bulkhead = Bulkhead(max_concurrent=1)
    first, second = Pipeline(bulkhead), Pipeline(Timeout(total=5), bulkhead)

    with pytest.raises(BulkheadFull):
        first.call(second.call, noop)


def test_statistics_of_an_unknown_partition_are_empty() -> None:
    """`statistics(key)` of a key never used shows an idle partition, without creating it."""
    bulkhead = Bulkhead(max_concurrent=4, max_queue=2, key=lambda value: value)
    assert bulkhead.statistics("nobody") == BulkheadStatistics(
        in_flight=0, waiting=0, max_concurrent=4, max_queue=2
    )
    assert "nobody" not in bulkhead._partitions


def test_custom_store_receives_the_spec() -> None:
    """The bulkhead asks its store for partitions with kind "bulkhead", its name and the size."""
    seen: list[tuple[str, str, int]] = []

    class Recording:
        def partitions(self, spec: Any, *, max_size: int) -> Any:
            seen.append((spec.kind, spec.name, max_size))
            return MemoryStore().partitions(spec, max_size=max_size)

    bulkhead = Bulkhead(max_concurrent=2, store=Recording(), max_partitions=7, name="api")
    assert seen == [("bulkhead", "api", 7)]
    assert Pipeline(bulkhead).call(noop) == "ok"


# -- async ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_full_bulkhead_rejects_at_once(clock: FakeClock) -> None:
    """In async code too, a call finding every slot taken and no queue raises BulkheadFull."""
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(bulkhead)

    async def nested() -> object:
        return await pipeline.acall(anoop)

    with pytest.raises(BulkheadFull):
        await pipeline.acall(nested)
    assert bulkhead.statistics().in_flight == 0
    assert await pipeline.acall(anoop) == "ok"


@pytest.mark.anyio
async def test_async_tasks_never_exceed_the_limit_and_run_concurrently(clock: FakeClock) -> None:
    """20 tasks of ~1 s each through 3 slots: at most 3 (and at some point exactly 3) inside,
    all done in ~7 virtual seconds."""
    bulkhead = Bulkhead(max_concurrent=3, max_queue=20)
    pipeline = Pipeline(bulkhead)
    inside = peak = 0
    finished: list[int] = []

    async def work(index: int) -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        # Distinct durations (1 + 2**-k): no two sleeps ever end at the same virtual instant.
        await stalwart.asleep(1 + 2.0 ** -(index + 4))
        inside -= 1
        finished.append(index)

    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(pipeline.acall, work, index)
    assert sorted(finished) == list(range(20))
    assert peak == 3
    assert 7.0 <= clock.monotonic() < 7.1  # ceil(20 / 3) rounds: concurrent, and never 4 at once
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_async_waiters_get_slots_in_fifo_order(clock: FakeClock) -> None:
    """Queued tasks get the slot in arrival order, and a latecomer cannot overtake them."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=4)
    pipeline = Pipeline(bulkhead)
    release = anyio.Event()
    order: list[object] = []

    async def hold() -> None:
        await release.wait()
        order.append("holder")

    async def record(label: object) -> None:
        await anyio.lowlevel.checkpoint()
        order.append(label)

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, hold)
        await wait_all_tasks_blocked()
        for index in range(3):
            group.start_soon(pipeline.acall, record, index)
            await wait_all_tasks_blocked()
        assert bulkhead.statistics().waiting == 3
        release.set()
        group.start_soon(pipeline.acall, record, "late")
    assert order == ["holder", 0, 1, 2, "late"]
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_async_wait_ends_at_the_deadline(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A queued task gives up when the virtual clock reaches its deadline, with
    DeadlineExceeded."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)
    release = anyio.Event()
    outcome: list[object] = []

    async def hold() -> None:
        await release.wait()

    async def wait_in_deadline() -> None:
        try:
            async with stalwart.deadline(2):
                outcome.append(await pipeline.acall(anoop))
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, hold)
        await wait_all_tasks_blocked()
        group.start_soon(wait_in_deadline)
        await wait_all_tasks_blocked()
        assert bulkhead.statistics().waiting == 1
        clock.advance(1.5)
        await wait_all_tasks_blocked()
        assert outcome == []
        clock.advance(0.5)
        await wait_all_tasks_blocked()
        [error] = outcome
        assert isinstance(error, DeadlineExceeded)
        assert bulkhead.statistics() == BulkheadStatistics(
            in_flight=1, waiting=0, max_concurrent=1, max_queue=1
        )
        release.set()
    assert bulkhead.statistics().in_flight == 0
    [waited] = of_type(events, BulkheadWaited)
    assert (waited.admitted, waited.waited) == (False, 2.0)


@pytest.mark.anyio
async def test_async_cancel_from_another_thread_wakes_a_waiting_task(clock: FakeClock) -> None:
    """`scope.cancel()` from another thread ends a queued task's wait with Cancelled, no time
    passing."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)
    release = anyio.Event()
    scopes: list[stalwart.Scope] = []
    outcome: list[object] = []

    async def hold() -> None:
        await release.wait()

    async def wait_cancellably() -> None:
        try:
            async with stalwart.cancel_scope() as scope:
                scopes.append(scope)
                outcome.append(await pipeline.acall(anoop))
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, hold)
        await wait_all_tasks_blocked()
        group.start_soon(wait_cancellably)
        await wait_all_tasks_blocked()
        assert bulkhead.statistics().waiting == 1
        await anyio.to_thread.run_sync(scopes[0].cancel)
        with anyio.fail_after(5):  # real seconds: the cancel must arrive, not time out
            while not outcome:
                await anyio.lowlevel.checkpoint()
        assert [type(error) for error in outcome] == [Cancelled]
        assert bulkhead.statistics().waiting == 0
        release.set()
    assert clock.monotonic() == 0.0
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_async_cancelled_tasks_give_back_slots_and_queue_places(clock: FakeClock) -> None:
    """Cancelling a task group frees the slot of a running call and the place of a queued one."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)

    async def forever() -> None:
        await anyio.Event().wait()

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline.acall, forever)
        await wait_all_tasks_blocked()
        group.start_soon(pipeline.acall, forever)
        await wait_all_tasks_blocked()
        assert (bulkhead.statistics().in_flight, bulkhead.statistics().waiting) == (1, 1)
        group.cancel_scope.cancel()
    assert (bulkhead.statistics().in_flight, bulkhead.statistics().waiting) == (0, 0)
    assert await pipeline.acall(anoop) == "ok"


@pytest.mark.anyio
async def test_async_slot_is_released_when_the_call_raises(clock: FakeClock) -> None:
    """An async call that raises gives its slot back, its exception unchanged."""
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(bulkhead)

    async def fail() -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await pipeline.acall(fail)
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_a_slot_freed_by_a_thread_wakes_a_waiting_task(clock: FakeClock) -> None:
    """Threads and tasks share a bulkhead: a slot a thread gives back is handed to a queued
    task."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)
    entered, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def hold() -> str:
        entered.set()
        release.wait(10)
        return "thread"

    async def in_thread() -> None:
        outcome.append(await anyio.to_thread.run_sync(pipeline.call, hold))

    async def in_task() -> None:
        outcome.append(await pipeline.acall(anoop))

    async with anyio.create_task_group() as group:
        group.start_soon(in_thread)
        assert await anyio.to_thread.run_sync(entered.wait, 10)
        group.start_soon(in_task)
        await wait_all_tasks_blocked()
        assert bulkhead.statistics().waiting == 1
        release.set()
    assert sorted(map(str, outcome)) == ["ok", "thread"]  # both ran; either may report first
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("ending", ["deadline", "cancel"])
def test_an_enclosing_sync_scope_ends_an_async_wait(backend: str, ending: str) -> None:
    """An event loop run inside a sync deadline or cancel scope: the scope alone ends a queued
    task's wait."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    pipeline = Pipeline(bulkhead)
    outcome: list[object] = []

    async def main(scope: stalwart.Scope, clock: FakeClock) -> None:
        release = anyio.Event()

        async def hold() -> None:
            await release.wait()

        async def queued() -> None:
            try:
                outcome.append(await pipeline.acall(anoop))
            except Exception as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(pipeline.acall, hold)
            await wait_all_tasks_blocked()
            group.start_soon(queued)
            await wait_all_tasks_blocked()
            assert bulkhead.statistics().waiting == 1
            if ending == "deadline":
                clock.advance(2)
            else:
                scope.cancel()
            await wait_all_tasks_blocked()
            assert len(outcome) == 1
            release.set()

    with FakeClock(autojump=False) as clock:
        scope = stalwart.deadline(2) if ending == "deadline" else stalwart.cancel_scope()
        with scope:
            anyio.run(main, scope, clock, backend=backend)
    [error] = outcome
    assert isinstance(error, DeadlineExceeded if ending == "deadline" else Cancelled)
    assert any("the call never started" in note for note in error.__notes__)
    assert bulkhead.statistics() == BulkheadStatistics(
        in_flight=0, waiting=0, max_concurrent=1, max_queue=1
    )


# -- in a pipeline --------------------------------------------------------------------------


def test_outermost_bulkhead_holds_one_slot_across_retries(clock: FakeClock) -> None:
    """Outermost, the bulkhead holds one slot for the whole call while the Retry inside
    retries."""
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(
        bulkhead,
        Timeout(total=5),
        Retry(on=ConnectionError, backoff=Backoff.constant(0.25)),
        Timeout(per_attempt=1),
    )
    seen: list[int] = []

    def flaky() -> str:
        seen.append(bulkhead.statistics().in_flight)
        if len(seen) < 3:
            raise ConnectionError("down")
        return "ok"

    assert pipeline.call(flaky) == "ok"
    assert seen == [1, 1, 1]
    assert clock.monotonic() == 0.5
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_async_outermost_bulkhead_with_timeouts_and_retry(clock: FakeClock) -> None:
    """Async, outermost: a per-attempt timeout cancels a slow attempt, the retry wins, the slot
    comes back."""
    bulkhead = Bulkhead(max_concurrent=2)
    pipeline = Pipeline(
        bulkhead,
        Timeout(total=10),
        Retry(on=ConnectionError, backoff=Backoff.constant(0.5)),
        Timeout(per_attempt=1),
    )
    calls: list[int] = []

    async def slow_then_fast() -> str:
        calls.append(bulkhead.statistics().in_flight)
        if len(calls) == 1:
            await stalwart.asleep(5)
        return "ok"

    assert await pipeline.acall(slow_then_fast) == "ok"
    assert calls == [1, 1]
    assert clock.monotonic() == 1.5
    assert bulkhead.statistics().in_flight == 0
    assert math.isinf(stalwart.remaining())
