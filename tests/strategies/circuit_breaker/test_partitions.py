"""Partitioned breakers: one circuit per key, bounded by max_partitions (least recently used)."""

from __future__ import annotations

import pytest

import stalwart
from stalwart import Pipeline
from stalwart._exceptions import CircuitOpen
from stalwart._strategies.circuit_breaker import (
    CircuitBreaker,
    CircuitOpened,
    CircuitRejected,
    CircuitState,
)
from stalwart.testing import FakeClock

from .support import fail, of_type, run, succeed, trip


def by_host(host: str) -> str:
    """The partition key: the call's first argument."""
    return host


def test_each_key_has_its_own_circuit(clock: FakeClock) -> None:
    """Tripping the circuit of one host leaves the others closed."""
    breaker = CircuitBreaker(key=by_host, min_calls=2)
    trip(breaker, "a.example")
    assert breaker.state("a.example") is CircuitState.OPEN
    assert breaker.state("b.example") is CircuitState.CLOSED
    assert run(breaker, succeed, "b.example") == "ok"
    error = run(breaker, succeed, "a.example")
    assert isinstance(error, CircuitOpen)
    assert error.key == "a.example"
    assert "'a.example'" in str(error)


def test_counts_are_per_key(clock: FakeClock) -> None:
    """Failures of one key do not add up with another's towards a trip."""
    breaker = CircuitBreaker(key=by_host, min_calls=2)
    run(breaker, fail, "a")
    run(breaker, fail, "b")
    assert breaker.state("a") is CircuitState.CLOSED
    assert breaker.state("b") is CircuitState.CLOSED
    assert breaker.statistics("a").calls == 1
    assert breaker.statistics("a").key == "a"


def test_key_function_sees_keyword_arguments(clock: FakeClock) -> None:
    """The key function receives the call's positional and keyword arguments."""
    seen: list[tuple[object, ...]] = []

    def key(*args: object, **kwargs: object) -> object:
        seen.append((args, kwargs))
        return kwargs["host"]

    def call(path: str, *, host: str) -> str:
        return path

    assert Pipeline(CircuitBreaker(key=key)).call(call, "/x", host="h") == "/x"
    assert seen == [(("/x",), {"host": "h"})]


def test_events_carry_the_key(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """Opened and rejected events name the partition they concern."""
    breaker = CircuitBreaker(key=by_host, min_calls=1)
    trip(breaker, "h")
    assert [e.key for e in of_type(events, CircuitOpened)] == ["h"]
    assert [e.key for e in of_type(events, CircuitRejected)] == ["h"]
    assert "[" in of_type(events, CircuitOpened)[0].message()


def test_partitions_are_bounded_least_recently_used_first(clock: FakeClock) -> None:
    """Beyond max_partitions the least recently used idle key is forgotten, and returns closed."""
    breaker = CircuitBreaker(key=by_host, min_calls=1, max_partitions=2)
    run(breaker, succeed, "a")
    run(breaker, succeed, "b")
    run(breaker, succeed, "c")  # evicts "a", the least recently used
    assert set(breaker.keys()) == {"b", "c"}
    run(breaker, succeed, "b")  # marks "b" as recently used
    run(breaker, succeed, "d")  # evicts "c"
    assert set(breaker.keys()) == {"b", "d"}


def test_random_keys_cannot_push_out_an_open_circuit(clock: FakeClock) -> None:
    """Eviction spares an open circuit: a stream of new keys does not close it."""
    breaker = CircuitBreaker(key=by_host, min_calls=1, max_partitions=2)
    trip(breaker, "api")
    for index in range(50):
        run(breaker, succeed, f"random-{index}")
    assert breaker.state("api") is CircuitState.OPEN
    assert len(breaker.keys()) == 2


def test_the_bound_holds_even_when_every_partition_is_busy(clock: FakeClock) -> None:
    """When every partition is open, the oldest goes anyway: memory stays bounded."""
    breaker = CircuitBreaker(key=by_host, min_calls=1, max_partitions=2)
    for host in ("a", "b", "c"):
        trip(breaker, host)
    assert set(breaker.keys()) == {"b", "c"}
    assert run(breaker, succeed, "a") == "ok"  # forgotten: starts closed


def test_many_random_keys_stay_within_the_bound(clock: FakeClock) -> None:
    """Thousands of distinct keys never hold more than max_partitions circuits."""
    breaker = CircuitBreaker(key=by_host, max_partitions=16)
    for index in range(2000):
        run(breaker, succeed, f"host-{index}")
    assert len(breaker.keys()) == 16


def test_default_bound_is_1024(clock: FakeClock) -> None:
    """By default a breaker remembers at most 1024 partitions."""
    breaker = CircuitBreaker(key=by_host)
    for index in range(1100):
        run(breaker, succeed, index)
    assert len(breaker.keys()) == 1024


def test_statistics_of_an_unknown_key_do_not_create_it(clock: FakeClock) -> None:
    """Asking about a key never seen reports a closed, empty circuit without remembering it."""
    breaker = CircuitBreaker(key=by_host)
    statistics = breaker.statistics("nowhere")
    assert (statistics.key, statistics.state, statistics.calls) == (
        "nowhere",
        CircuitState.CLOSED,
        0,
    )
    breaker.reset("nowhere")
    assert breaker.keys() == []


def test_isolate_and_reset_one_key(clock: FakeClock) -> None:
    """isolate(key) holds one partition open; the others keep working; reset(key) closes it."""
    breaker = CircuitBreaker(key=by_host)
    breaker.isolate("a")
    assert isinstance(run(breaker, succeed, "a"), CircuitOpen)
    assert run(breaker, succeed, "b") == "ok"
    breaker.reset("a")
    assert run(breaker, succeed, "a") == "ok"


def test_unpartitioned_breaker_has_the_single_key_none(clock: FakeClock) -> None:
    """Without a key function every call shares the partition None."""
    breaker = CircuitBreaker()
    Pipeline(breaker).call(succeed)
    assert breaker.keys() == [None]
    assert breaker.statistics().key is None


def test_a_failing_key_function_fails_the_call(clock: FakeClock) -> None:
    """An error in the key function comes out unchanged and counts for no partition."""
    breaker = CircuitBreaker(key=lambda host: {}[host])
    with pytest.raises(KeyError):
        Pipeline(breaker).call(succeed, "h")
    assert breaker.keys() == []
