"""`RateLimiter`: options, the token bucket, exact `retry_after`, waiting within the deadline."""

from __future__ import annotations

import math
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stalwart
from stalwart import Backoff, Cancelled, DeadlineExceeded, Pipeline, Retry, Timeout
from stalwart._exceptions import RateLimited
from stalwart._state.store import MEMORY
from stalwart._strategies.bulkhead import Bulkhead
from stalwart._strategies.rate_limiter import (
    RateLimiter,
    RateLimiterDelayed,
    RateLimiterRejected,
    RateLimiterStatistics,
    Reservation,
    TokenBucket,
)
from stalwart.testing import FakeClock

try:  # newer anyio releases keep it in anyio.testing
    from anyio.testing import wait_all_tasks_blocked  # type: ignore[import-not-found]
except ImportError:
    from anyio import wait_all_tasks_blocked


def of_type(events: list[stalwart.Event], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def noop(*args: object) -> str:
    return "ok"


async def anoop(*args: object) -> str:
    await anyio.lowlevel.checkpoint()
    return "ok"


def passes(pipeline: Pipeline, *args: object) -> bool:
    """Whether one call gets through the limiter (False: RateLimited)."""
    try:
        pipeline.call(noop, *args)
    except RateLimited:
        return False
    return True


# -- options --------------------------------------------------------------------------------


def test_rate_is_required() -> None:
    """`RateLimiter()` without `rate` raises TypeError naming it: there is no default."""
    with pytest.raises(TypeError, match="rate"):
        RateLimiter()  # type: ignore[call-arg]


@pytest.mark.parametrize("parameter", ["rate", "per"])
@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (True, TypeError),
        ("1", TypeError),
        (None, TypeError),
    ],
)
def test_bad_rate_and_period_name_the_parameter(
    parameter: str, value: object, error: type[Exception]
) -> None:
    """Zero, negative, NaN, infinite, boolean and non-numeric rates and periods raise an error
    naming the parameter."""
    options: dict[str, Any] = {"rate": 1, parameter: value}
    with pytest.raises(error, match=rf"^{parameter} must"):
        RateLimiter(**options)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"rate": 1e308, "per": 1e-300}, ValueError, r"^rate must leave a representable"),
        ({"burst": 0}, ValueError, r"^burst must be >= 1, got 0"),
        ({"burst": 1.5}, TypeError, r"^burst must be an int"),
        ({"burst": True}, TypeError, r"^burst must be an int"),
        ({"wait": -1}, ValueError, r"^wait must be >= 0"),
        ({"wait": math.nan}, ValueError, r"^wait must be finite"),
        ({"wait": "yes"}, TypeError, r"^wait must be True, False or a number"),
        ({"max_partitions": 0}, ValueError, r"^max_partitions must be >= 1"),
        ({"max_partitions": 2.0}, TypeError, r"^max_partitions must be an int"),
        ({"key": "host"}, TypeError, r"^key must"),
        ({"store": object()}, TypeError, r"^store must"),
        ({"name": ""}, ValueError, r"^name must"),
    ],
)
def test_bad_options_name_the_parameter(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Each bad option raises an error whose message starts with the parameter's name."""
    with pytest.raises(error, match=message):
        RateLimiter(**{"rate": 1, **options})


@pytest.mark.parametrize(
    ("options", "capacity"),
    [({"rate": 10}, 10), ({"rate": 0.5}, 1), ({"rate": 2.5}, 2), ({"rate": 2, "burst": 7}, 7)],
)
def test_default_burst_is_the_rate_rounded_down(options: dict[str, Any], capacity: int) -> None:
    """Without `burst` the bucket holds `rate` tokens rounded down, at least 1."""
    assert RateLimiter(**options).capacity == capacity


def test_defaults_repr_and_interval() -> None:
    """Defaults are as documented; the repr shows what differs; `interval` is `per / rate`."""
    limiter = RateLimiter(rate=10)
    assert (limiter.per, limiter.burst, limiter.wait, limiter.key) == (1.0, None, False, None)
    assert (limiter.max_partitions, limiter.store, limiter.name) == (1024, MEMORY, "rate_limiter")
    assert repr(limiter) == "RateLimiter(rate=10.0)"
    assert repr(RateLimiter(rate=100, per=60, burst=5, wait=2)) == (
        "RateLimiter(rate=100.0, per=60.0, burst=5, wait=2.0)"
    )
    assert repr(RateLimiter(rate=1, wait=True)) == "RateLimiter(rate=1.0, wait=True)"
    assert RateLimiter(rate=4, per=2).interval == 0.5


def test_replace_revalidates_with_full_buckets(clock: FakeClock) -> None:
    """`replace()` validates again and returns a limiter with its own, full buckets."""
    limiter = RateLimiter(rate=1)
    assert passes(Pipeline(limiter))
    assert not passes(Pipeline(limiter))
    copy = limiter.replace(per=2)
    assert repr(copy) == repr(RateLimiter(rate=1, per=2))  # same options, its own bucket
    assert passes(Pipeline(copy))
    with pytest.raises(ValueError, match=r"^rate must"):
        limiter.replace(rate=0)


def test_options_are_frozen_and_limiters_compare_by_identity() -> None:
    """Limiters are immutable; each owns its bucket, so two with equal options are distinct."""
    limiter = RateLimiter(rate=5)
    with pytest.raises(AttributeError):
        limiter.rate = 6  # type: ignore[misc]
    twin = RateLimiter(rate=5.0)
    assert {limiter} == {limiter}  # equal to itself
    assert limiter != twin
    assert len({limiter, twin}) == 2


# -- the bucket -----------------------------------------------------------------------------


def test_bucket_reserves_future_tokens_one_interval_apart() -> None:
    """Waiters reserve successive future tokens one interval apart; a refused caller changes
    nothing."""
    bucket = TokenBucket(capacity=2, interval=0.5)
    assert bucket.take(0.0, 0.0) == Reservation(True, 0.0)
    assert bucket.take(0.0, 0.0).delay == 0.0
    refused = bucket.take(0.0, 0.0)
    assert (refused.granted, refused.delay) == (False, 0.5)
    assert [bucket.take(0.0, math.inf).delay for _ in range(3)] == [0.5, 1.0, 1.5]
    assert bucket.waiting == 3
    assert bucket.available(0.0) == 0.0
    late = bucket.take(0.0, 1.9)
    assert (late.granted, late.delay) == (False, 2.0)
    assert bucket.available(10.0) == 2.0  # refilled, capped at the capacity


def test_bucket_gives_back_only_the_last_reservation() -> None:
    """An unused reservation returns its token only if nobody reserved after it."""
    bucket = TokenBucket(capacity=1, interval=1.0)
    bucket.take(0.0, 0.0)
    first = bucket.take(0.0, math.inf)
    second = bucket.take(0.0, math.inf)
    assert (first.delay, second.delay) == (1.0, 2.0)
    bucket.done(first, used=False)  # later slots are promised: the token is lost
    assert bucket.take(0.0, math.inf).delay == 3.0
    bucket.done(second, used=True)
    third = bucket.take(0.0, math.inf)
    assert third.delay == 4.0
    bucket.done(third, used=False)  # the last one: given back
    assert bucket.take(0.0, math.inf).delay == 4.0


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 5),
    interval=st.sampled_from([0.25, 0.5, 1.0, 0.1, 1 / 3]),
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=60),
)
def test_bucket_never_grants_more_than_burst_plus_rate(
    capacity: int, interval: float, gaps: list[float]
) -> None:
    """Over any span of t seconds the bucket grants at most `capacity + t / interval` tokens."""
    bucket = TokenBucket(capacity=capacity, interval=interval)
    now, granted = 0.0, []
    for gap in gaps:
        now += gap
        if bucket.take(now, 0.0).granted:
            granted.append(now)
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            span = granted[j] - start
            assert j - i + 1 <= capacity + span / interval + 1e-6


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(0, 1e7, allow_nan=False),
    capacity=st.integers(1, 5),
    interval=st.floats(1e-3, 100, allow_nan=False),
)
def test_waiting_exactly_retry_after_always_finds_a_token(
    start: float, capacity: int, interval: float
) -> None:
    """Whatever the clock reads and the interval is, a caller coming back after exactly
    `retry_after` gets a token (no rounding leftovers)."""
    bucket = TokenBucket(capacity=capacity, interval=interval)
    now = start
    for _ in range(3):
        while bucket.take(now, 0.0).granted:
            pass
        refused = bucket.take(now, 0.0)
        assert not refused.granted
        assert refused.delay == pytest.approx(interval, abs=1e-6)
        now += refused.delay
        assert bucket.take(now, 0.0).granted


# -- sync -----------------------------------------------------------------------------------


def test_burst_then_rate_with_exact_retry_after(clock: FakeClock) -> None:
    """`burst` calls pass at once, then one per `per / rate`; `retry_after` is exactly the time
    to the next token."""
    pipeline = Pipeline(RateLimiter(rate=2, burst=3))
    assert [passes(pipeline) for _ in range(4)] == [True, True, True, False]
    with pytest.raises(RateLimited) as excinfo:
        pipeline.call(noop)
    assert excinfo.value.retry_after == 0.5
    clock.advance(0.25)
    with pytest.raises(RateLimited) as excinfo:
        pipeline.call(noop)
    assert excinfo.value.retry_after == 0.25
    clock.advance(0.25)
    assert [passes(pipeline) for _ in range(2)] == [True, False]
    clock.advance(0.5)
    assert passes(pipeline)


def test_idle_refill_is_capped_at_the_burst(clock: FakeClock) -> None:
    """However long the limiter idles, at most `burst` calls pass at once afterwards."""
    pipeline = Pipeline(RateLimiter(rate=10, per=1, burst=2))
    clock.advance(3600)
    assert [passes(pipeline) for _ in range(3)] == [True, True, False]


def test_retry_after_lands_exactly_on_the_next_token(clock: FakeClock) -> None:
    """Advancing the clock by `retry_after` always finds a token, even with an interval like
    0.1."""
    pipeline = Pipeline(RateLimiter(rate=10, burst=1))
    for _ in range(50):
        assert passes(pipeline)
        with pytest.raises(RateLimited) as excinfo:
            pipeline.call(noop)
        retry_after = excinfo.value.retry_after
        assert retry_after == pytest.approx(0.1)
        assert retry_after is not None
        clock.advance(retry_after)


def test_rejection_carries_retry_after_key_message_and_event(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """A refused call never runs; RateLimited names the limiter and key; an event reports it."""
    limiter = RateLimiter(rate=4, burst=1, key=lambda host: host, name="api")
    pipeline = Pipeline(limiter)
    ran: list[str] = []
    pipeline.call(ran.append, "a")
    with pytest.raises(RateLimited) as excinfo:
        pipeline.call(ran.append, "a")
    error = excinfo.value
    assert ran == ["a"]
    assert isinstance(error, stalwart.Rejected)
    assert (error.retry_after, error.key) == (0.25, "a")
    assert str(error) == (
        "api has no token for key 'a': the next one comes in 0.250 s (rate=4 per 1 s, burst=1)"
    )
    assert of_type(events, RateLimiterRejected) == [
        RateLimiterRejected(strategy="api", key="a", retry_after=0.25)
    ]


def test_statistics(clock: FakeClock) -> None:
    """`statistics()` shows the tokens left (fractional while refilling); an unused key is
    full."""
    limiter = RateLimiter(rate=2, burst=2, key=lambda host: host)
    pipeline = Pipeline(limiter)
    assert limiter.statistics("a") == RateLimiterStatistics(
        available=2.0, waiting=0, capacity=2, rate=2.0, per=1.0
    )
    assert "a" not in limiter._partitions  # looking does not create a partition
    pipeline.call(noop, "a")
    pipeline.call(noop, "a")
    assert limiter.statistics("a").available == 0.0
    clock.advance(0.25)
    assert limiter.statistics("a").available == 0.5
    assert limiter.statistics("b").available == 2.0


def test_wait_mode_waits_for_the_next_token(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """With `wait=True` a call without a token sleeps (on the clock) until its token comes."""
    pipeline = Pipeline(RateLimiter(rate=2, burst=1, wait=True))
    started: list[float] = []

    def record() -> None:
        started.append(clock.monotonic())

    for _ in range(3):
        pipeline.call(record)
    assert started == [0.0, 0.5, 1.0]
    assert [event.delay for event in of_type(events, RateLimiterDelayed)] == [0.5, 0.5]


def test_wait_mode_rejects_at_once_when_the_token_comes_after_the_deadline(
    clock: FakeClock,
) -> None:
    """A waiting call whose token would come at or after the deadline is refused at once,
    without sleeping."""
    limiter = RateLimiter(rate=2, burst=1, wait=True)
    pipeline = Pipeline(limiter)
    pipeline.call(noop)
    for seconds in (0.4, 0.5):
        with pytest.raises(RateLimited) as excinfo, stalwart.deadline(seconds):
            pipeline.call(noop)
        assert excinfo.value.retry_after == 0.5
        assert "would outlast the deadline" in str(excinfo.value)
        assert clock.monotonic() == 0.0
    assert limiter.statistics().waiting == 0
    with stalwart.deadline(0.6):
        pipeline.call(noop)  # in time: waits for the token
    assert clock.monotonic() == 0.5


def test_wait_seconds_bound_the_wait(clock: FakeClock) -> None:
    """`wait=<seconds>` waits at most that long: a token due later is refused at once."""
    short = Pipeline(RateLimiter(rate=2, burst=1, wait=0.3))
    short.call(noop)
    with pytest.raises(RateLimited, match=r"longer than wait=0\.3 s"):
        short.call(noop)
    assert clock.monotonic() == 0.0
    exact = Pipeline(RateLimiter(rate=2, burst=1, wait=0.5))
    exact.call(noop)
    exact.call(noop)
    assert clock.monotonic() == 0.5


def test_cancel_wakes_a_waiting_thread_and_gives_the_token_back() -> None:
    """`scope.cancel()` from another thread ends a wait for a token at once, and the token
    returns."""
    limiter = RateLimiter(rate=1, burst=1, wait=True)
    pipeline = Pipeline(limiter)
    woke = threading.Event()
    waiting: list[int] = []
    with FakeClock(autojump=False) as clock:
        pipeline.call(noop)
        with stalwart.cancel_scope() as scope:

            def cancel_once_waiting() -> None:
                clock.wait_for_sleepers(1, timeout=10)
                waiting.append(limiter.statistics().waiting)
                scope.cancel()
                if not woke.wait(5):
                    clock.advance(1)  # the cancel did not wake the wait: end it, failing

            helper = threading.Thread(target=cancel_once_waiting, daemon=True)
            helper.start()
            try:
                with pytest.raises(Cancelled) as excinfo:
                    pipeline.call(noop)
            finally:
                woke.set()
                helper.join(10)
        assert waiting == [1]
        assert clock.monotonic() == 0.0
        assert any("waited 1.000 s for a token" in note for note in excinfo.value.__notes__)
        assert limiter.statistics().waiting == 0
        clock.advance(1)
        # The cancelled caller's token came back: at t=1 the bucket has a token again
        # (without the refund it would be promised to nobody until t=2).
        assert limiter.statistics().available == 1.0
        pipeline.call(noop)
        assert clock.monotonic() == 1.0


def test_done_context_is_refused_before_spending_a_token(clock: FakeClock) -> None:
    """A call arriving cancelled or past its deadline raises without running or spending a
    token."""
    limiter = RateLimiter(rate=1, burst=1)
    pipeline = Pipeline(limiter)
    ran: list[int] = []
    with pytest.raises(Cancelled), stalwart.cancel_scope() as scope:
        scope.cancel()
        pipeline.call(ran.append, 1)
    with pytest.raises(DeadlineExceeded), stalwart.deadline(0):
        pipeline.call(ran.append, 2)
    assert ran == []
    assert limiter.statistics().available == 1.0


def test_partitions_are_independent(clock: FakeClock) -> None:
    """Each key has its own bucket: one key out of tokens does not slow another."""
    pipeline = Pipeline(RateLimiter(rate=1, burst=1, key=lambda host: host))
    assert [passes(pipeline, "a"), passes(pipeline, "a")] == [True, False]
    assert passes(pipeline, "b")
    with pytest.raises(RateLimited) as excinfo:
        pipeline.call(noop, "b")
    assert excinfo.value.key == "b"


def test_partitions_are_bounded_least_recently_used_first(clock: FakeClock) -> None:
    """With `max_partitions=2` a third key evicts the least recently used, which returns full."""
    limiter = RateLimiter(rate=1, burst=1, key=lambda host: host, max_partitions=2)
    pipeline = Pipeline(limiter)
    assert [passes(pipeline, key) for key in ("a", "b")] == [True, True]
    assert not passes(pipeline, "a")  # a is now the most recently used
    assert passes(pipeline, "c")  # evicts b
    assert sorted(limiter._partitions.keys()) == ["a", "c"]  # type: ignore[type-var]
    assert passes(pipeline, "b")  # b came back full, evicting a
    assert passes(pipeline, "a")


def test_threads_spend_exactly_the_burst() -> None:
    """8 threads x 40 calls at one frozen instant: exactly `burst` calls pass, atomically."""
    with FakeClock():
        limiter = RateLimiter(rate=1, per=3600, burst=50)
        pipeline = Pipeline(limiter)
        passed: list[bool] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def worker() -> None:
            start.wait(10)
            for _ in range(40):
                outcome = passes(pipeline)
                with lock:
                    passed.append(outcome)

        threads = [stalwart.start_thread(worker) for _ in range(8)]
        for thread in threads:
            thread.join(30)
    assert len(passed) == 320
    assert passed.count(True) == 50


def test_retry_inside_honours_retry_after(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """A Retry outside a limiter waits exactly `retry_after` (the limiter's hint), then
    passes."""
    limiter = RateLimiter(rate=4, burst=1)
    pipeline = Pipeline(Retry(on=RateLimited), limiter)
    pipeline.call(noop)
    assert pipeline.call(noop) == "ok"
    assert clock.monotonic() == 0.25
    [scheduled] = of_type(events, stalwart.RetryScheduled)
    assert (scheduled.delay, scheduled.hinted) == (0.25, True)


# -- async ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_burst_then_rate(clock: FakeClock) -> None:
    """In async code too: `burst` calls pass, then RateLimited with the exact `retry_after`."""
    pipeline = Pipeline(RateLimiter(rate=2, burst=2))
    assert await pipeline.acall(anoop) == "ok"
    assert await pipeline.acall(anoop) == "ok"
    with pytest.raises(RateLimited) as excinfo:
        await pipeline.acall(anoop)
    assert excinfo.value.retry_after == 0.5
    clock.advance(0.5)
    assert await pipeline.acall(anoop) == "ok"


@pytest.mark.anyio
async def test_async_waiters_line_up_one_interval_apart(clock: FakeClock) -> None:
    """Concurrent waiting tasks reserve successive tokens and start one interval apart."""
    limiter = RateLimiter(rate=2, burst=1, wait=True)
    pipeline = Pipeline(limiter)
    started: list[float] = []

    async def record() -> None:
        started.append(clock.monotonic())

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(pipeline.acall, record)
    assert started == [0.0, 0.5, 1.0, 1.5]
    assert limiter.statistics().waiting == 0


@pytest.mark.anyio
async def test_async_wait_is_refused_when_the_token_comes_after_the_deadline(
    clock: FakeClock,
) -> None:
    """An async waiting call is refused at once when its token would come after the deadline."""
    pipeline = Pipeline(RateLimiter(rate=1, burst=1, wait=True))
    await pipeline.acall(anoop)
    with pytest.raises(RateLimited) as excinfo:
        async with stalwart.deadline(0.9):
            await pipeline.acall(anoop)
    assert excinfo.value.retry_after == 1.0
    assert clock.monotonic() == 0.0
    async with stalwart.deadline(1.5):
        assert await pipeline.acall(anoop) == "ok"
    assert clock.monotonic() == 1.0


@pytest.mark.anyio
async def test_async_cancelled_waiter_gives_the_token_back() -> None:
    """Cancelling a task that waits for a reserved token returns the token to the bucket."""
    limiter = RateLimiter(rate=1, burst=1, wait=True)
    pipeline = Pipeline(limiter)
    with FakeClock(autojump=False) as clock:
        await pipeline.acall(anoop)
        outcome: list[object] = []

        async def wait_cancellably(scope: stalwart.Scope) -> None:
            try:
                async with scope:
                    outcome.append(await pipeline.acall(anoop))
            except Exception as exc:
                outcome.append(exc)

        scope = stalwart.cancel_scope()
        async with anyio.create_task_group() as group:
            group.start_soon(wait_cancellably, scope)
            await wait_all_tasks_blocked()
            assert limiter.statistics().waiting == 1
            scope.cancel()
        assert [type(error) for error in outcome] == [Cancelled]
        assert limiter.statistics().waiting == 0
        clock.advance(1)
        assert limiter.statistics().available == 1.0  # the reserved token came back
        assert await pipeline.acall(anoop) == "ok"
        assert clock.monotonic() == 1.0


@pytest.mark.anyio
async def test_async_tasks_spend_exactly_the_burst(clock: FakeClock) -> None:
    """Many tasks at one instant: exactly `burst` calls pass, the rest are refused."""
    pipeline = Pipeline(RateLimiter(rate=1, per=60, burst=7))
    outcomes: list[bool] = []

    async def one() -> None:
        try:
            await pipeline.acall(anoop)
        except RateLimited:
            outcomes.append(False)
        else:
            outcomes.append(True)

    async with anyio.create_task_group() as group:
        for _ in range(30):
            group.start_soon(one)
    assert (len(outcomes), outcomes.count(True)) == (30, 7)


# -- in a pipeline --------------------------------------------------------------------------


def test_outermost_limiter_spends_one_token_per_call_not_per_attempt(clock: FakeClock) -> None:
    """Outside the Retry (its recommended place) a call costs one token however many attempts
    it makes."""
    bulkhead = Bulkhead(max_concurrent=4)
    limiter = RateLimiter(rate=1, burst=1)
    pipeline = Pipeline(
        bulkhead,
        limiter,
        Timeout(total=5),
        Retry(on=ConnectionError, backoff=Backoff.constant(0.25)),
        Timeout(per_attempt=1),
    )
    attempts: list[float] = []

    def flaky() -> str:
        attempts.append(limiter.statistics().available)
        if len(attempts) < 3:
            raise ConnectionError("down")
        return "ok"

    assert pipeline.call(flaky) == "ok"
    assert len(attempts) == 3
    assert clock.monotonic() == 0.5
    with pytest.raises(RateLimited) as excinfo:
        pipeline.call(flaky)
    assert excinfo.value.retry_after == 0.5
    assert bulkhead.statistics().in_flight == 0


@pytest.mark.anyio
async def test_async_outermost_limiter_waits_then_retries_within_the_total(
    clock: FakeClock,
) -> None:
    """Async: the outermost limiter waits for a token, then the retry and timeouts run as
    usual."""
    limiter = RateLimiter(rate=2, burst=1, wait=True)
    pipeline = Pipeline(
        limiter,
        Timeout(total=10),
        Retry(on=ConnectionError, backoff=Backoff.constant(0.25)),
        Timeout(per_attempt=1),
    )
    calls: list[float] = []

    async def slow_then_fast() -> str:
        calls.append(clock.monotonic())
        if len(calls) == 2:  # the second call's first attempt hangs
            await stalwart.asleep(5)
        return "ok"

    assert await pipeline.acall(slow_then_fast) == "ok"
    assert await pipeline.acall(slow_then_fast) == "ok"
    assert calls == [0.0, 0.5, 1.75]  # waited for the token, timed out at 1.5, backed off 0.25


@pytest.mark.parametrize(
    ("rate", "per"),
    [
        pytest.param(1e-300, 1e10, id="interval-overflows"),
        pytest.param(1e300, 1e-300, id="underflows"),
    ],
)
def test_an_unrepresentable_interval_is_refused(rate: float, per: float) -> None:
    """rate and per whose interval is 0 or infinite raise ValueError naming `rate`."""
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=rate, per=per)
