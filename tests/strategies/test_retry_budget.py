"""RetryBudget: retries within ratio × requests + floor, per destination, shared."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stalwart
from stalwart.testing import FakeClock


class AlwaysDown:
    """A callee in a full outage, counting the attempts it receives."""

    def __init__(self) -> None:
        self.attempts = 0
        self.lock = threading.Lock()

    def __call__(self, *args: object) -> None:
        with self.lock:
            self.attempts += 1
        raise ConnectionError("upstream down")


def test_defaults_are_as_documented() -> None:
    """ratio 0.1, a reserve of 1 retry per second, a 10 s window, 1024 partitions."""
    budget = stalwart.RetryBudget()
    assert (budget.ratio, budget.min_per_second, budget.ttl) == (0.1, 1.0, 10.0)
    assert budget.max_partitions == 1024
    assert repr(budget) == "RetryBudget()"


def test_a_fresh_budget_allows_exactly_its_reserve(clock: FakeClock) -> None:
    """With no requests, min_per_second × ttl retries are allowed, and not one more."""
    budget = stalwart.RetryBudget(min_per_second=2.0, ttl=5.0)
    granted = [budget.try_withdraw() for _ in range(15)]
    assert granted == [True] * 10 + [False] * 5


def test_requests_earn_ratio_retries(clock: FakeClock) -> None:
    """Each request deposits `ratio` of a retry: 100 requests earn 10 with no reserve."""
    budget = stalwart.RetryBudget(ratio=0.1, min_per_second=0.0)
    for _ in range(100):
        budget.deposit()
    assert sum(budget.try_withdraw() for _ in range(20)) == 10
    assert budget.statistics().available == 0


def test_spent_retries_come_back_after_the_ttl(clock: FakeClock) -> None:
    """Counts leave the window after ttl seconds, so a spent budget refills."""
    budget = stalwart.RetryBudget(min_per_second=1.0, ttl=10.0)
    assert sum(budget.try_withdraw() for _ in range(20)) == 10
    assert not budget.try_withdraw()
    clock.advance(10.0)
    assert budget.try_withdraw()


@settings(max_examples=200, deadline=None)
@given(
    ratio=st.floats(0, 1),
    min_per_second=st.floats(0, 5),
    ttl=st.floats(0.5, 30),
    steps=st.lists(
        st.tuples(st.sampled_from(["deposit", "withdraw", "advance"]), st.floats(0, 3)),
        max_size=300,
    ),
)
def test_retries_never_exceed_ratio_times_requests_plus_floor(
    ratio: float, min_per_second: float, ttl: float, steps: list[tuple[str, float]]
) -> None:
    """Whatever the sequence, each grant keeps retries ≤ ratio × requests + floor."""
    with FakeClock() as clock:
        budget = stalwart.RetryBudget(ratio=ratio, min_per_second=min_per_second, ttl=ttl)
        for action, amount in steps:
            if action == "deposit":
                budget.deposit()
            elif action == "withdraw" and budget.try_withdraw():
                # At every grant, the window's retries fit the window's requests.
                stats = budget.statistics()
                assert stats.retries <= ratio * stats.requests + min_per_second * ttl + 1e-9
            elif action == "advance":
                clock.advance(amount)


@settings(max_examples=100, deadline=None)
@given(requests=st.integers(0, 500), ratio=st.floats(0, 1), min_per_second=st.floats(0, 3))
def test_within_one_window_the_grant_count_is_exact(
    requests: int, ratio: float, min_per_second: float
) -> None:
    """Within one window, exactly floor(ratio × requests + floor) retries are granted."""
    with FakeClock():
        budget = stalwart.RetryBudget(ratio=ratio, min_per_second=min_per_second, ttl=10.0)
        for _ in range(requests):
            budget.deposit()
        limit = ratio * requests + min_per_second * 10.0
        granted = sum(budget.try_withdraw() for _ in range(int(limit) + 5))
        assert granted == math.floor(limit + 1e-9) or granted == math.floor(limit)


@pytest.mark.parametrize("calls", [pytest.param(200, id="200"), pytest.param(2000, id="2000")])
def test_outage_amplification_is_bounded(calls: int) -> None:
    """Under 100% failure with 3 attempts, attempts ÷ calls ≤ 1 + ratio + floor/calls."""
    down = AlwaysDown()
    budget = stalwart.RetryBudget()
    pipeline = stalwart.Pipeline(
        stalwart.Retry(
            on=ConnectionError,
            max_attempts=3,
            budget=budget,
            backoff=stalwart.Backoff.constant(0.001),
        )
    )
    with FakeClock():
        for _ in range(calls):
            with pytest.raises(ConnectionError):
                pipeline.call(down)
    bound = 1 + budget.ratio + budget.min_per_second * budget.ttl / calls
    assert down.attempts / calls <= bound
    assert down.attempts > calls  # the reserve and the ratio were used, not ignored


def test_without_a_budget_an_outage_triples_the_load() -> None:
    """The control: the same outage without a budget sends three attempts per call."""
    down = AlwaysDown()
    pipeline = stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError, backoff=stalwart.Backoff.constant(0.001))
    )
    with FakeClock():
        for _ in range(100):
            with pytest.raises(ConnectionError):
                pipeline.call(down)
    assert down.attempts == 300


def test_a_spent_budget_stops_the_retry_with_a_note_and_an_event(clock: FakeClock) -> None:
    """The last exception comes out unchanged, noting the budget; an event says so."""
    seen: list[stalwart.Event] = []
    remove = stalwart.add_listener(seen.append)
    try:
        budget = stalwart.RetryBudget(ratio=0.0, min_per_second=0.0)
        pipeline = stalwart.Pipeline(stalwart.Retry(on=ConnectionError, budget=budget))
        down = AlwaysDown()
        with pytest.raises(ConnectionError) as caught:
            pipeline.call(down)
    finally:
        remove()
    assert down.attempts == 1
    assert "retry budget" in caught.value.__notes__[-1]
    exhausted = [e for e in seen if isinstance(e, stalwart.RetryBudgetExhaustedEvent)]
    assert len(exhausted) == 1
    assert any(isinstance(e, stalwart.RetryGaveUp) for e in seen)


def test_partitions_are_independent_per_destination(clock: FakeClock) -> None:
    """A destination that spent its budget does not spend another's."""
    budget = stalwart.RetryBudget(ratio=0.0, min_per_second=0.1, ttl=10.0, key=lambda host: host)
    pipeline = stalwart.Pipeline(stalwart.Retry(on=ConnectionError, budget=budget))
    down = AlwaysDown()
    with pytest.raises(ConnectionError):
        pipeline.call(down, "a.example")
    with pytest.raises(ConnectionError):
        pipeline.call(down, "a.example")
    assert down.attempts == 3  # one retry from a.example's single token, then none
    with pytest.raises(ConnectionError):
        pipeline.call(down, "b.example")
    assert down.attempts == 5  # b.example still had its own token
    assert budget.statistics("a.example").retries == 1
    assert budget.statistics("b.example").requests == 1


def test_partitions_are_bounded(clock: FakeClock) -> None:
    """Random destinations cannot grow memory: only max_partitions are kept."""
    budget = stalwart.RetryBudget(max_partitions=8)
    for i in range(1000):
        budget.deposit(f"host-{i}")
    assert len(budget._partitions) == 8


def test_one_budget_is_shared_by_every_retry_given_it(clock: FakeClock) -> None:
    """Two pipelines with the same budget draw from one pool."""
    budget = stalwart.RetryBudget(ratio=0.0, min_per_second=0.2, ttl=10.0)
    first = stalwart.Pipeline(stalwart.Retry(on=ConnectionError, budget=budget))
    second = stalwart.Pipeline(stalwart.Retry(on=ConnectionError, budget=budget, name="other"))
    down = AlwaysDown()
    for pipeline in (first, second, first):
        with pytest.raises(ConnectionError):
            pipeline.call(down)
    assert down.attempts == 3 + 2  # two retries in the pool, shared by both pipelines


@pytest.mark.anyio
async def test_async_retries_spend_the_budget(clock: FakeClock) -> None:
    """The async driver deposits and withdraws like the sync one."""
    budget = stalwart.RetryBudget(ratio=0.0, min_per_second=0.1, ttl=10.0)
    pipeline = stalwart.Pipeline(stalwart.Retry(on=ConnectionError, budget=budget))
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await pipeline.acall(down)
    assert attempts == 3
    assert budget.statistics().requests == 2


def test_concurrent_withdrawals_never_overspend(clock: FakeClock) -> None:
    """Eight threads racing for 50 tokens get exactly 50."""
    budget = stalwart.RetryBudget(ratio=0.0, min_per_second=5.0, ttl=10.0)
    granted: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        mine = [budget.try_withdraw() for _ in range(20)]
        with lock:
            granted.extend(mine)

    threads = [threading.Thread(target=stalwart.carry_context(take)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 50


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        pytest.param({"ratio": 1.5}, ValueError, "ratio", id="ratio-above-1"),
        pytest.param({"ratio": -0.1}, ValueError, "ratio", id="ratio-negative"),
        pytest.param({"ratio": math.nan}, ValueError, "ratio", id="ratio-nan"),
        pytest.param({"min_per_second": -1}, ValueError, "min_per_second", id="floor-negative"),
        pytest.param({"ttl": 0}, ValueError, "ttl", id="ttl-zero"),
        pytest.param({"ttl": math.inf}, ValueError, "ttl", id="ttl-inf"),
        pytest.param({"ttl": "10"}, TypeError, "ttl", id="ttl-string"),
        pytest.param({"max_partitions": 0}, ValueError, "max_partitions", id="partitions-zero"),
        pytest.param({"key": 42}, TypeError, "key", id="key-not-callable"),
        pytest.param({"name": ""}, ValueError, "name", id="name-empty"),
    ],
)
def test_bad_options_name_the_parameter(
    options: dict[str, object], error: type[Exception], names: str
) -> None:
    """Invalid options raise at construction with the parameter in the message."""
    with pytest.raises(error, match=names):
        stalwart.RetryBudget(**options)  # type: ignore[arg-type]


def test_retry_rejects_a_budget_of_the_wrong_type() -> None:
    """Retry(budget=...) takes a RetryBudget and says so otherwise."""
    with pytest.raises(TypeError, match="budget"):
        stalwart.Retry(on=OSError, budget=object())  # type: ignore[arg-type]


def test_withdraw_raises_when_the_budget_is_spent(clock: FakeClock) -> None:
    """For hand-written retry loops, withdraw() raises RetryBudgetExhausted naming the key."""
    budget = stalwart.RetryBudget(ratio=0.0, min_per_second=0.1, ttl=10.0)
    budget.withdraw("api")
    with pytest.raises(stalwart.RetryBudgetExhausted, match="api") as caught:
        budget.withdraw("api")
    assert caught.value.key == "api"
