"""`AdaptiveThrottle`: the SRE book's client-side throttling, on virtual time."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import (
    Backoff,
    Cancelled,
    CircuitOpen,
    Outcome,
    Pipeline,
    Retry,
    Throttled,
    Timeout,
    Verdict,
)
from stalwart._clock import seeded_random, use_clock
from stalwart._strategies._base import WrongKind
from stalwart._strategies.adaptive_throttle import (
    AdaptiveThrottle,
    AdaptiveThrottleStatistics,
    ThrottleRejected,
    rejection_probability,
)
from stalwart._strategies.chaos import Chaos
from stalwart.testing import FakeClock

# -- helpers --------------------------------------------------------------------------


def rejections(events: list[stalwart.Event]) -> list[ThrottleRejected]:
    return [event for event in events if isinstance(event, ThrottleRejected)]


class SampleClock:
    """A clock with a FakeClock's time and a `random()` the test sets; counts its draws."""

    def __init__(self, fake: FakeClock, sample: float = 0.999) -> None:
        self.fake = fake
        self.sample = sample
        self.draws = 0

    def monotonic(self) -> float:
        return self.fake.monotonic()

    def wall(self) -> float:
        return self.fake.wall()

    def random(self) -> float:
        self.draws += 1
        return self.sample

    def sleep(self, seconds: float, interrupt: threading.Event) -> None:
        self.fake.sleep(seconds, interrupt)

    async def asleep(self, seconds: float) -> None:
        await self.fake.asleep(seconds)

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        return self.fake.call_at(when, callback)


@pytest.fixture
def sampled(clock: FakeClock) -> Iterator[SampleClock]:
    """A SampleClock installed for the test (draws 0.999 until the test changes it)."""
    sample_clock = SampleClock(clock)
    with use_clock(sample_clock):
        yield sample_clock


def ok(*args: object) -> str:
    return "ok"


def down(*args: object) -> str:
    raise ConnectionError("refused")


def run(pipeline: Pipeline, fn: Callable[..., str], *args: object) -> str:
    """Call through the pipeline; "ok", "refused" (the callee failed) or "throttled"."""
    try:
        return pipeline.call(fn, *args)
    except ConnectionError:
        return "refused"
    except Throttled:
        return "throttled"


def feed(throttle: AdaptiveThrottle, *, accepts: int, refusals: int, key: object = None) -> None:
    """Record `accepts` accepted then `refusals` refused calls (the clock must admit them)."""
    pipeline = Pipeline(throttle)
    for _ in range(accepts):
        assert pipeline.call(ok, key) == "ok"
    for _ in range(refusals):
        assert run(pipeline, down, key) == "refused"


def model(accepted: list[bool], *, k: float, seed: int) -> list[str]:
    """The SRE book's algorithm written out plainly: what each call should end as."""
    draw = seeded_random(seed)
    requests = accepts = 0
    trace = []
    for good in accepted:
        p = max(0.0, (requests - k * accepts) / (requests + 1))
        requests += 1
        if p > 0 and draw() < p:
            trace.append("throttled")
            continue
        accepts += good
        trace.append("ok" if good else "refused")
    return trace


# -- options --------------------------------------------------------------------------


def test_defaults_are_as_documented() -> None:
    """k=2, a 120 s window in 12 buckets, 1024 partitions, one partition, its own name."""
    throttle = AdaptiveThrottle()
    assert (throttle.k, throttle.window, throttle.buckets) == (2.0, 120.0, 12)
    assert throttle.max_partitions == 1024
    assert throttle.key is None
    assert throttle.on is None
    assert throttle.classify is None
    assert throttle.name == "adaptive_throttle"
    assert repr(throttle) == "AdaptiveThrottle()"


def test_repr_shows_only_non_default_options() -> None:
    """The repr lists the options that differ from their defaults, functions by name."""
    throttle = AdaptiveThrottle(k=1.5, window=60, on=ConnectionError, name="upstream")
    assert repr(throttle) == (
        "AdaptiveThrottle(k=1.5, window=60, on=ConnectionError, name='upstream')"
    )


@pytest.mark.parametrize(
    ("options", "error", "parameter"),
    [
        pytest.param({"k": 0.5}, ValueError, "k", id="k-below-1"),
        pytest.param({"k": math.nan}, ValueError, "k", id="k-nan"),
        pytest.param({"k": math.inf}, ValueError, "k", id="k-inf"),
        pytest.param({"k": "2"}, TypeError, "k", id="k-str"),
        pytest.param({"window": 0}, ValueError, "window", id="window-zero"),
        pytest.param({"window": math.inf}, ValueError, "window", id="window-inf"),
        pytest.param({"window": True}, TypeError, "window", id="window-bool"),
        pytest.param({"buckets": 0}, ValueError, "buckets", id="buckets-zero"),
        pytest.param({"buckets": 2.5}, TypeError, "buckets", id="buckets-float"),
        pytest.param({"on": "ConnectionError"}, TypeError, "on", id="on-str"),
        pytest.param({"on": (ConnectionError, 3)}, TypeError, "on", id="on-tuple-with-int"),
        pytest.param({"classify": 3}, TypeError, "classify", id="classify-not-callable"),
        pytest.param({"key": "host"}, TypeError, "key", id="key-not-callable"),
        pytest.param({"max_partitions": 0}, ValueError, "max_partitions", id="partitions-0"),
        pytest.param({"store": object()}, TypeError, "store", id="store-not-a-store"),
        pytest.param({"name": ""}, ValueError, "name", id="name-empty"),
    ],
)
def test_bad_options_name_the_parameter(
    options: dict[str, Any], error: type[Exception], parameter: str
) -> None:
    """Each invalid option raises TypeError or ValueError naming that option."""
    with pytest.raises(error, match=rf"\b{parameter}\b"):
        AdaptiveThrottle(**options)


def test_on_and_classify_together_are_refused() -> None:
    """`on=` and `classify=` together raise TypeError."""
    with pytest.raises(TypeError, match="not both"):
        AdaptiveThrottle(on=ConnectionError, classify=lambda outcome: Verdict.SUCCESS)


def test_k_of_exactly_one_is_allowed() -> None:
    """k=1 is the smallest K: it is accepted (the boundary of the range)."""
    assert AdaptiveThrottle(k=1).k == 1


# -- the formula ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "accepts", "k", "expected"),
    [
        (0, 0, 2.0, 0.0),
        (10, 10, 2.0, 0.0),
        (10, 5, 2.0, 0.0),
        (10, 4, 2.0, 2 / 11),
        (10, 2, 2.0, 6 / 11),
        (100, 0, 2.0, 100 / 101),
        (3, 1, 1.0, 2 / 4),
        (20, 10, 1.1, 9 / 21),
    ],
)
def test_rejection_probability_is_the_sre_formula(
    requests: int, accepts: int, k: float, expected: float
) -> None:
    """p = max(0, (requests − k·accepts) / (requests + 1)), exactly."""
    assert rejection_probability(requests, accepts, k) == pytest.approx(expected, abs=1e-15)
    assert AdaptiveThrottle(k=k).rejection_probability(requests, accepts) == pytest.approx(
        expected, abs=1e-15
    )


def test_rejection_probability_never_reaches_one() -> None:
    """However many calls were refused, p stays below 1, so some calls still go through."""
    for requests in (1, 10, 10_000, 10**9):
        assert 0 < rejection_probability(requests, 0, 2.0) < 1


# -- counting and rejecting -----------------------------------------------------------


def test_a_healthy_callee_is_never_throttled_and_draws_no_randomness(
    sampled: SampleClock,
) -> None:
    """With every call accepted p stays 0, no call is rejected and no sample is drawn."""
    throttle = AdaptiveThrottle()
    sampled.sample = 0.0  # would reject any p > 0
    feed(throttle, accepts=500, refusals=0)
    assert throttle.statistics() == AdaptiveThrottleStatistics(None, 500, 500, 0.0)
    assert sampled.draws == 0


def test_statistics_report_exact_counts_and_probability(sampled: SampleClock) -> None:
    """After 2 accepts and 8 refusals the snapshot shows 10, 2 and p = 6/11."""
    throttle = AdaptiveThrottle()
    feed(throttle, accepts=2, refusals=8)
    stats = throttle.statistics()
    assert (stats.key, stats.requests, stats.accepts) == (None, 10, 2)
    assert stats.rejection_probability == pytest.approx(6 / 11, abs=1e-15)


def test_a_call_is_rejected_exactly_when_the_sample_is_below_p(sampled: SampleClock) -> None:
    """With p = 6/11 a sample just below p rejects the call and one at p lets it through."""
    throttle = AdaptiveThrottle(min_requests=0)
    feed(throttle, accepts=2, refusals=8)
    pipeline = Pipeline(throttle)
    sampled.sample = 6 / 11
    assert pipeline.call(ok) == "ok"  # sample == p: admitted
    # now 11 requests, 3 accepts: p = 5/12
    assert throttle.statistics().rejection_probability == pytest.approx(5 / 12)
    sampled.sample = 5 / 12 - 1e-9
    with pytest.raises(Throttled):
        pipeline.call(ok)


def test_a_rejected_call_never_runs_and_counts_as_a_request(
    sampled: SampleClock, events: list[stalwart.Event]
) -> None:
    """A local rejection raises Throttled without calling, adds one request and no accept."""
    throttle = AdaptiveThrottle(min_requests=0)
    feed(throttle, accepts=2, refusals=8)
    sampled.sample = 0.0
    calls: list[int] = []
    with pytest.raises(Throttled, match=r"adaptive_throttle rejected the call locally") as info:
        Pipeline(throttle).call(lambda: calls.append(1))
    assert calls == []
    assert info.value.key is None
    assert info.value.retry_after is None
    assert "0.545" in str(info.value)
    assert throttle.statistics().requests == 11
    assert throttle.statistics().accepts == 2
    [event] = rejections(events)
    assert event.strategy == "adaptive_throttle"
    assert event.key is None
    assert event.probability == pytest.approx(6 / 11)
    assert (event.requests, event.accepts) == (10, 2)
    assert "0.545" in event.message()


@pytest.mark.parametrize("seed", [0, 1, 7, 2024])
def test_calls_follow_the_reference_model_exactly(seed: int) -> None:
    """Under a seeded FakeClock, each call is rejected exactly when the book's algorithm says."""
    pattern = [True] * 20 + [False] * 60 + [True] * 40 + [False, True] * 20
    with FakeClock(seed=seed):
        pipeline = Pipeline(AdaptiveThrottle())
        trace = [run(pipeline, ok if good else down) for good in pattern]
    expected = model(pattern, k=2.0, seed=seed)
    assert trace == expected
    assert "throttled" in trace


def test_lower_k_throttles_harder(sampled: SampleClock) -> None:
    """For the same counts a smaller k gives a larger rejection probability."""
    strict, lenient = AdaptiveThrottle(k=1.1), AdaptiveThrottle(k=3.0)
    for throttle in (strict, lenient):
        feed(throttle, accepts=10, refusals=20)
    assert strict.statistics().rejection_probability == pytest.approx(19 / 31)
    assert lenient.statistics().rejection_probability == 0.0


def test_accepts_bring_the_probability_back_to_zero(sampled: SampleClock) -> None:
    """Once the callee recovers, accepted calls lower p until it reaches 0 again."""
    throttle = AdaptiveThrottle()
    feed(throttle, accepts=0, refusals=10)
    assert throttle.statistics().rejection_probability == pytest.approx(10 / 11)
    feed(throttle, accepts=10, refusals=0)
    assert throttle.statistics().rejection_probability == 0.0


# -- the window -----------------------------------------------------------------------


def test_counts_leave_the_window_after_120_seconds(clock: FakeClock, sampled: SampleClock) -> None:
    """Refusals counted at t=0 still count at t=119.9 and are gone at t=120."""
    throttle = AdaptiveThrottle()
    feed(throttle, accepts=0, refusals=10)
    clock.advance(119.9)
    assert throttle.statistics().requests == 10
    clock.advance(0.1)
    assert throttle.statistics() == AdaptiveThrottleStatistics(None, 0, 0, 0.0)
    sampled.sample = 0.0
    assert Pipeline(throttle).call(ok) == "ok"


def test_buckets_expire_one_at_a_time(clock: FakeClock, sampled: SampleClock) -> None:
    """Counts from t=0 expire at t=120 while those from t=60 stay until t=180."""
    throttle = AdaptiveThrottle()
    feed(throttle, accepts=0, refusals=6)
    clock.advance(60)
    feed(throttle, accepts=4, refusals=0)
    clock.advance(60)
    assert throttle.statistics() == AdaptiveThrottleStatistics(None, 4, 4, 0.0)
    clock.advance(60)
    assert throttle.statistics().requests == 0


def test_a_custom_window_and_buckets(clock: FakeClock, sampled: SampleClock) -> None:
    """`window=10, buckets=2` keeps counts for 10 s, dropping them in 5 s steps."""
    throttle = AdaptiveThrottle(window=10, buckets=2)
    feed(throttle, accepts=0, refusals=3)
    clock.advance(5)
    feed(throttle, accepts=0, refusals=2)
    clock.advance(5)
    assert throttle.statistics().requests == 2
    clock.advance(5)
    assert throttle.statistics().requests == 0


# -- what counts as accepted ----------------------------------------------------------


def test_by_default_every_exception_is_a_refusal(sampled: SampleClock) -> None:
    """Without options any exception counts as refused, and comes out unchanged."""
    throttle = AdaptiveThrottle()
    error = ValueError("bad")

    def fails() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        Pipeline(throttle).call(fails)
    assert info.value is error
    assert throttle.statistics().accepts == 0
    assert throttle.statistics().requests == 1


def test_on_counts_only_matching_exceptions_as_refusals(sampled: SampleClock) -> None:
    """With `on=ConnectionError`, a ValueError (the callee answered) counts as accepted."""
    throttle = AdaptiveThrottle(on=ConnectionError)
    pipeline = Pipeline(throttle)
    assert run(pipeline, down) == "refused"
    with pytest.raises(ValueError):
        pipeline.call(lambda: int("x"))
    assert (throttle.statistics().requests, throttle.statistics().accepts) == (2, 1)


def test_on_predicate(sampled: SampleClock) -> None:
    """`on=` may be a predicate: matching exceptions are refusals, others accepts."""
    throttle = AdaptiveThrottle(on=lambda exc: "overloaded" in str(exc))
    pipeline = Pipeline(throttle)

    def fails(message: str) -> None:
        raise RuntimeError(message)

    for message in ("overloaded", "not found"):
        with pytest.raises(RuntimeError):
            pipeline.call(fails, message)
    assert (throttle.statistics().requests, throttle.statistics().accepts) == (2, 1)


def statuses(outcome: Outcome[Any]) -> Verdict:
    """429 and 503 results are refusals, 404 is fatal, exceptions time out."""
    if outcome.exception is not None:
        return Verdict.TIMEOUT
    codes: dict[object, Verdict] = {
        429: Verdict.THROTTLED,
        503: Verdict.TRANSIENT,
        404: Verdict.FATAL,
    }
    return codes.get(outcome.result, Verdict.SUCCESS)


def test_classify_sees_results(sampled: SampleClock) -> None:
    """With `classify=`, THROTTLED, TRANSIENT and TIMEOUT refuse; SUCCESS and FATAL accept."""
    throttle = AdaptiveThrottle(classify=statuses)
    pipeline = Pipeline(throttle)
    for status in (200, 404, 429, 503):
        assert pipeline.call(int, status) == status
    with pytest.raises(OSError):
        pipeline.call(down)
    assert (throttle.statistics().requests, throttle.statistics().accepts) == (5, 2)


def test_a_classifier_saying_cancelled_counts_neither_way(sampled: SampleClock) -> None:
    """An outcome the classifier calls CANCELLED adds no request and no accept."""
    throttle = AdaptiveThrottle(classify=lambda outcome: Verdict.CANCELLED)
    assert Pipeline(throttle).call(ok) == "ok"
    assert throttle.statistics().requests == 0


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Cancelled("stop"), id="stalwart.Cancelled"),
        pytest.param(KeyboardInterrupt, id="KeyboardInterrupt"),
        pytest.param(asyncio.CancelledError, id="asyncio.CancelledError"),
        pytest.param(lambda: CircuitOpen("open", retry_after=3.0), id="stalwart.CircuitOpen"),
    ],
)
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"on": BaseException}, id="on-BaseException"),
        pytest.param({"classify": lambda outcome: Verdict.TRANSIENT}, id="classify-all-refused"),
    ],
)
def test_cancellation_and_stalwart_refusals_are_neutral(
    sampled: SampleClock, make: Callable[[], BaseException], options: dict[str, Any]
) -> None:
    """Cancellation and a refusal by an inner stalwart strategy count as nothing at all,
    whatever the options say."""
    throttle = AdaptiveThrottle(**options)
    error = make()

    def fails() -> None:
        raise error

    with pytest.raises(BaseException) as info:
        Pipeline(throttle).call(fails)
    assert info.value is error
    assert throttle.statistics().requests == 0


def test_a_sync_async_mix_up_is_neutral(sampled: SampleClock) -> None:
    """An async function given to `call` raises WrongKind and counts as nothing."""
    throttle = AdaptiveThrottle()

    async def fetch() -> str:
        return "never"

    with pytest.raises(WrongKind):
        Pipeline(throttle).call(fetch)  # type: ignore[unused-coroutine]
    assert throttle.statistics().requests == 0


# -- partitions and sharing -----------------------------------------------------------


def test_partitions_are_throttled_separately(sampled: SampleClock) -> None:
    """Refusals from host "a" raise only a's probability; Throttled carries the key."""
    throttle = AdaptiveThrottle(min_requests=0, key=lambda host: host)
    feed(throttle, accepts=0, refusals=10, key="a")
    feed(throttle, accepts=3, refusals=0, key="b")
    assert throttle.statistics("a").rejection_probability == pytest.approx(10 / 11)
    assert throttle.statistics("b") == AdaptiveThrottleStatistics("b", 3, 3, 0.0)
    sampled.sample = 0.5
    assert Pipeline(throttle).call(ok, "b") == "ok"
    with pytest.raises(Throttled, match="for 'a'") as info:
        Pipeline(throttle).call(ok, "a")
    assert info.value.key == "a"


def test_an_unseen_key_reports_zero_without_creating_a_partition() -> None:
    """`statistics` for an unknown key is all zeros and does not use up a partition."""
    throttle = AdaptiveThrottle(key=lambda host: host)
    assert throttle.statistics("nowhere") == AdaptiveThrottleStatistics("nowhere", 0, 0, 0.0)
    assert len(throttle._partitions) == 0


def test_least_recently_used_partitions_are_evicted(sampled: SampleClock) -> None:
    """With `max_partitions=1`, a second key evicts the first, which then starts afresh."""
    throttle = AdaptiveThrottle(key=lambda host: host, max_partitions=1)
    feed(throttle, accepts=0, refusals=5, key="a")
    feed(throttle, accepts=1, refusals=0, key="b")
    assert throttle.statistics("a").requests == 0
    assert throttle.statistics("b").requests == 1


def test_pipelines_sharing_a_throttle_share_its_counts(sampled: SampleClock) -> None:
    """One throttle in two pipelines counts both; `replace` starts with empty counts."""
    throttle = AdaptiveThrottle()
    assert Pipeline(throttle).call(ok) == "ok"
    assert Pipeline(Retry(on=ConnectionError), throttle).call(ok) == "ok"
    assert throttle.statistics().requests == 2
    fresh = throttle.replace(k=3.0)
    assert fresh.k == 3.0
    assert fresh.statistics().requests == 0


def test_counts_stay_exact_under_threads(clock: FakeClock) -> None:
    """Calls from 8 threads at once are all counted: 8 × 250 requests and accepts."""
    throttle = AdaptiveThrottle()
    pipeline = Pipeline(throttle)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(250):
            pipeline.call(ok)

    threads = [stalwart.start_thread(worker) for _ in range(8)]
    for thread in threads:
        thread.join()
    assert throttle.statistics() == AdaptiveThrottleStatistics(None, 2000, 2000, 0.0)


# -- async ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_calls_are_counted_and_rejected(sampled: SampleClock) -> None:
    """`acall` counts accepts and refusals and rejects locally with Throttled too."""
    throttle = AdaptiveThrottle(min_requests=0)
    pipeline = Pipeline(throttle)

    async def fetch(good: bool) -> str:
        await anyio.lowlevel.checkpoint()
        if not good:
            raise ConnectionError("refused")
        return "ok"

    assert await pipeline.acall(fetch, True) == "ok"
    for _ in range(4):
        with pytest.raises(ConnectionError):
            await pipeline.acall(fetch, False)
    assert throttle.statistics().rejection_probability == pytest.approx(3 / 6)
    sampled.sample = 0.49
    with pytest.raises(Throttled):
        await pipeline.acall(fetch, True)
    assert (throttle.statistics().requests, throttle.statistics().accepts) == (6, 1)


@pytest.mark.anyio
async def test_async_cancellation_in_flight_is_neutral(clock: FakeClock) -> None:
    """A call cancelled by its task group while awaiting counts as nothing."""
    throttle = AdaptiveThrottle()
    started = anyio.Event()

    async def hang() -> None:
        started.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(Pipeline(throttle).acall, hang)
        await started.wait()
        group.cancel_scope.cancel()
    assert throttle.statistics().requests == 0


# -- in a pipeline --------------------------------------------------------------------


def test_inside_a_retry_every_attempt_counts(sampled: SampleClock) -> None:
    """Placed after (inside) a Retry, each of the 3 attempts of one call is a request."""
    throttle = AdaptiveThrottle()
    pipeline = Pipeline(Retry(on=ConnectionError, backoff=Backoff.constant(1.0)), throttle)
    with pytest.raises(ConnectionError):
        pipeline.call(down)
    assert (throttle.statistics().requests, throttle.statistics().accepts) == (3, 0)


def test_a_throttled_attempt_is_not_retried_by_a_retry_on_other_errors(
    clock: FakeClock, sampled: SampleClock
) -> None:
    """Retry(on=ConnectionError) lets a local rejection out at once, with no backoff sleep."""
    throttle = AdaptiveThrottle(min_requests=0)
    feed(throttle, accepts=0, refusals=10)
    sampled.sample = 0.0
    calls: list[int] = []
    pipeline = Pipeline(Retry(on=ConnectionError), throttle)
    with pytest.raises(Throttled):
        pipeline.call(lambda: calls.append(1))
    assert calls == []
    assert clock.monotonic() == 0.0


def test_per_attempt_timeouts_inside_count_as_refusals(clock: FakeClock) -> None:
    """An attempt cut by a per-attempt Timeout inside the throttle counts as refused."""
    throttle = AdaptiveThrottle(on=ConnectionError)
    pipeline = Pipeline(
        Retry(on=ConnectionError, max_attempts=2, backoff=Backoff.constant(0.5)),
        throttle,
        Timeout(per_attempt=1.0),
        Chaos(rate=1.0, latency=5.0, enabled=True),
    )
    with pytest.raises(stalwart.DeadlineExceeded):
        pipeline.call(ok)
    assert (throttle.statistics().requests, throttle.statistics().accepts) == (2, 0)
    assert clock.monotonic() == 2.5


def test_nothing_is_rejected_below_min_requests(clock: FakeClock) -> None:
    """With the default min_requests=20, early refusals shed nothing until 20 requests."""
    throttle = AdaptiveThrottle(on=ConnectionError)
    pipeline = Pipeline(throttle)
    attempts = 0

    def refused() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError

    for _ in range(19):
        with pytest.raises(ConnectionError):
            pipeline.call(refused)
    assert attempts == 19  # every call reached the callee: below the threshold
    assert throttle.statistics().rejection_probability > 0.9  # the formula alone would shed
    rejected = 0
    for _ in range(20):
        try:
            pipeline.call(refused)
        except Throttled:
            rejected += 1
        except ConnectionError:
            pass
    assert rejected > 0  # from 20 requests on, the formula applies


def test_min_requests_is_validated() -> None:
    """min_requests must be an int >= 0, named in the error."""
    with pytest.raises(ValueError, match="min_requests"):
        AdaptiveThrottle(min_requests=-1)
    with pytest.raises(TypeError, match="min_requests"):
        AdaptiveThrottle(min_requests=2.5)  # type: ignore[arg-type]


def test_the_callers_own_deadline_is_neutral_in_sync_code(clock: FakeClock) -> None:
    """A call cut by the caller's deadline counts neither way, as cancellation does in async."""
    throttle = AdaptiveThrottle(min_requests=0)
    pipeline = Pipeline(stalwart.Timeout(total=0.5), throttle)

    def slow() -> None:
        stalwart.sleep(1.0)

    for _ in range(3):
        with pytest.raises(stalwart.DeadlineExceeded):
            pipeline.call(slow)
    stats = throttle.statistics()
    assert (stats.requests, stats.accepts, stats.rejection_probability) == (0, 0, 0.0)


def test_a_per_attempt_timeout_inside_is_a_refusal(clock: FakeClock) -> None:
    """An attempt cut by a per-attempt Timeout inside the throttle counts as not accepted."""
    throttle = AdaptiveThrottle(min_requests=0)
    pipeline = Pipeline(
        stalwart.Retry(on=ConnectionError, max_attempts=1),
        throttle,
        stalwart.Timeout(per_attempt=0.5),
    )

    def slow() -> None:
        stalwart.sleep(1.0)

    with pytest.raises(stalwart.DeadlineExceeded):
        pipeline.call(slow)
    stats = throttle.statistics()
    assert (stats.requests, stats.accepts) == (1, 0)
