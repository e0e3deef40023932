"""Concurrency: calls run in parallel through one breaker (no lock is held while they run),
every outcome is counted exactly, and transitions and probe slots are atomic; threads and
asyncio/trio tasks."""

from __future__ import annotations

import contextlib
import threading

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import Pipeline
from stalwart._exceptions import CircuitOpen
from stalwart._strategies.circuit_breaker import CircuitBreaker, CircuitOpened, CircuitState
from stalwart.testing import FakeClock

from .support import of_type, trip

THREADS = 8
CALLS = 500


def test_threads_call_concurrently_and_are_counted_exactly(clock: FakeClock) -> None:
    """8 threads × 500 calls meet at a barrier *inside* the call, so all 8 run at once each round
    (a lock held across the call would break the barrier), and the counts come out exact."""
    breaker = CircuitBreaker(on=ConnectionError)
    pipeline = Pipeline(breaker)
    barrier = threading.Barrier(THREADS, timeout=10.0)
    problems: list[BaseException] = []
    returned: list[int] = []

    def upstream(index: int) -> int:
        barrier.wait()  # every thread must be inside the protected call at the same time
        if index % 4 == 0:
            raise ConnectionError("down")
        return index

    def worker() -> None:
        for index in range(CALLS):
            try:
                returned.append(pipeline.call(upstream, index))
            except ConnectionError:
                pass
            except BaseException as exc:
                problems.append(exc)
                barrier.abort()
                return

    threads = [stalwart.start_thread(worker) for _ in range(THREADS)]
    for thread in threads:
        thread.join()
    assert problems == []
    assert len(returned) == THREADS * CALLS * 3 // 4
    statistics = breaker.statistics()
    assert statistics.state is CircuitState.CLOSED  # a 0.25 failure ratio never trips
    assert (statistics.calls, statistics.failures) == (THREADS * CALLS, THREADS * CALLS // 4)


def test_concurrent_failures_open_the_circuit_exactly_once(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Threads failing together trip the circuit once; only calls already admitted reach the
    upstream afterwards."""
    breaker = CircuitBreaker(min_calls=20)
    pipeline = Pipeline(breaker)
    upstream_calls: list[int] = []
    start = threading.Barrier(THREADS, timeout=10.0)

    def upstream() -> None:
        upstream_calls.append(1)
        raise ConnectionError("down")

    def worker() -> None:
        start.wait()
        for _ in range(50):
            with contextlib.suppress(ConnectionError, CircuitOpen):
                pipeline.call(upstream)

    threads = [stalwart.start_thread(worker) for _ in range(THREADS)]
    for thread in threads:
        thread.join()
    assert len(of_type(events, CircuitOpened)) == 1
    # the 20 that tripped it, plus at most one call in flight in each other thread
    assert 20 <= len(upstream_calls) <= 20 + THREADS - 1
    assert breaker.statistics().calls == len(upstream_calls)


def test_half_open_admits_exactly_probes_under_contention(clock: FakeClock) -> None:
    """8 threads racing into a half-open circuit with probes=3: exactly 3 get through, 5 get
    CircuitOpen, and the 3 successes close it."""
    breaker = CircuitBreaker(min_calls=1, probes=3)
    pipeline = Pipeline(breaker)
    trip(breaker)
    clock.advance(5.0)
    start = threading.Barrier(THREADS, timeout=10.0)
    release = threading.Event()
    settled = threading.Condition()
    admitted: list[int] = []
    rejected: list[CircuitOpen] = []

    def note(bucket: list[object], item: object) -> None:
        with settled:
            bucket.append(item)
            settled.notify_all()

    def probe() -> str:
        note(admitted, 1)  # type: ignore[arg-type]
        assert release.wait(10.0)
        return "ok"

    def worker() -> None:
        start.wait()
        try:
            pipeline.call(probe)
        except CircuitOpen as exc:
            note(rejected, exc)  # type: ignore[arg-type]

    threads = [stalwart.start_thread(worker) for _ in range(THREADS)]
    with settled:
        assert settled.wait_for(lambda: len(admitted) + len(rejected) == THREADS, timeout=10.0)
    assert (len(admitted), len(rejected)) == (3, 5)
    statistics = breaker.statistics()
    assert (statistics.state, statistics.probes_in_flight) == (CircuitState.HALF_OPEN, 3)
    release.set()
    for thread in threads:
        thread.join()
    assert breaker.state() is CircuitState.CLOSED


@pytest.mark.anyio
async def test_tasks_call_concurrently_and_are_counted_exactly(clock: FakeClock) -> None:
    """10 rounds of 100 tasks all wait inside the call at once (no lock is held across an await),
    and the counts come out exact."""
    tasks, rounds = 100, 10
    breaker = CircuitBreaker(on=ConnectionError)
    pipeline = Pipeline(breaker)
    peak = 0
    returned: list[int] = []

    async def one_round() -> None:
        nonlocal peak
        inside = 0
        everyone_in = anyio.Event()

        async def upstream(index: int) -> int:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            if inside == tasks:
                everyone_in.set()
            await everyone_in.wait()
            if index % 5 == 0:
                raise ConnectionError("down")
            return index

        async def one(index: int) -> None:
            with contextlib.suppress(ConnectionError):
                returned.append(await pipeline.acall(upstream, index))

        async with anyio.create_task_group() as group:
            for index in range(tasks):
                group.start_soon(one, index)

    for _ in range(rounds):
        await one_round()

    assert peak == tasks
    assert len(returned) == tasks * rounds * 4 // 5
    statistics = breaker.statistics()
    assert (statistics.calls, statistics.failures) == (tasks * rounds, tasks * rounds // 5)
    assert statistics.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_tasks_race_for_probe_slots(clock: FakeClock) -> None:
    """50 tasks entering a half-open circuit with probes=2: exactly 2 run, the rest are refused."""
    breaker = CircuitBreaker(min_calls=1, probes=2)
    pipeline = Pipeline(breaker)
    trip(breaker)
    clock.advance(5.0)
    release = anyio.Event()
    ran: list[int] = []
    refused: list[CircuitOpen] = []

    async def probe() -> None:
        ran.append(1)
        await release.wait()

    async def one() -> None:
        try:
            await pipeline.acall(probe)
        except CircuitOpen as exc:
            refused.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(one)
        while len(ran) + len(refused) < 50:
            await anyio.lowlevel.checkpoint()
        assert (len(ran), len(refused)) == (2, 48)
        release.set()
    assert breaker.state() is CircuitState.CLOSED
