"""A short tour of stalwart's foundation, on the real clock: `make demo` runs it.

It shows retries with backoff, a retry that stops before the deadline instead of
sleeping past it, an async deadline cancelling a hung call, cancellation from another
thread ending a long backoff at once, and request values carried into a thread.
(The full `stalwart demo`, against a fault-injecting HTTP upstream, comes with the CLI.)
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import anyio

import stalwart


def show_events(event: stalwart.Event) -> None:
    """Print what the strategies decide, as they decide it."""
    if isinstance(event, stalwart.RetryScheduled | stalwart.RetryGaveUp):
        print(f"    · {event.message()}")


def flaky_service(failures: int) -> Callable[[], str]:
    """A function failing `failures` times with ConnectionError, then answering."""
    counter = itertools.count(1)

    def call() -> str:
        n = next(counter)
        if n <= failures:
            raise ConnectionError(f"connection reset (call {n})")
        return f"200 OK on call {n}"

    return call


def retries_recover() -> None:
    print("1. Retries with exponential backoff and full jitter recover a flaky call")
    pipeline = stalwart.Pipeline(
        stalwart.Timeout(total=5.0),
        stalwart.Retry(
            on=ConnectionError, max_attempts=4, backoff=stalwart.Backoff.exponential(base=0.05)
        ),
    )
    started = time.perf_counter()
    result = pipeline.call(flaky_service(2))
    print(f"    = {result} after {time.perf_counter() - started:.2f} s\n")


def retry_stops_before_the_deadline() -> None:
    print("2. Under a 0.5 s deadline, a retry with 0.3 s waits stops instead of overrunning")
    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError, max_attempts=10, backoff=stalwart.Backoff.constant(0.3))
    )
    started = time.perf_counter()
    try:
        with stalwart.deadline(0.5):
            pipeline.call(flaky_service(100))
    except ConnectionError as error:
        print(f"    = {type(error).__name__}: {error}")
        for note in error.__notes__:
            print(f"      note: {note}")
    print(f"    = returned after {time.perf_counter() - started:.2f} s, inside the 0.5 s budget\n")


async def hung_call_is_cancelled() -> None:
    print("3. An async deadline of 0.3 s cancels a call that hangs forever")

    async def hang() -> None:
        await anyio.Event().wait()  # an upstream that never answers

    started = time.perf_counter()
    try:
        async with stalwart.deadline(0.3):
            await hang()
    except stalwart.DeadlineExceeded as error:
        print(f"    = DeadlineExceeded ({error}) after {time.perf_counter() - started:.2f} s\n")


def cancel_from_another_thread() -> None:
    print("4. scope.cancel() from another thread ends a 30 s backoff at once")
    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError, backoff=stalwart.Backoff.constant(30.0))
    )
    started = time.perf_counter()
    try:
        with stalwart.cancel_scope() as scope:
            threading.Timer(0.2, scope.cancel).start()
            pipeline.call(flaky_service(100))
    except stalwart.Cancelled:
        print(f"    = Cancelled after {time.perf_counter() - started:.2f} s, not 30 s\n")


def values_reach_worker_threads() -> None:
    print("5. Request values and the deadline follow the call into a worker thread")

    def work() -> str:
        left = stalwart.remaining()
        return f"request_id={stalwart.value('request_id')} with {left:.1f} s left"

    with (
        stalwart.bind(request_id="r-42"),
        stalwart.deadline(2.0),
        ThreadPoolExecutor(1) as executor,
    ):
        print(f"    = {executor.submit(stalwart.carry_context(work)).result()}\n")


def main() -> None:
    remove = stalwart.add_listener(show_events)
    try:
        retries_recover()
        retry_stops_before_the_deadline()
        anyio.run(hung_call_is_cancelled)
        cancel_from_another_thread()
        values_reach_worker_threads()
    finally:
        remove()
    print("All five behaviours shown. `make test` runs the suite.")


if __name__ == "__main__":
    main()
