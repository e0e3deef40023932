"""`CircuitBreaker` options: defaults, validation naming the parameter, repr, replace, identity."""

from __future__ import annotations

import math
from typing import Any

import pytest

from stalwart import Outcome, Verdict
from stalwart._state.store import MEMORY
from stalwart._strategies.circuit_breaker import CircuitBreaker, CircuitState


def test_defaults() -> None:
    """The documented defaults: 0.5, 20 calls, 30 s in 10 buckets, 5 s ×2 up to 60 s, 1 probe."""
    breaker = CircuitBreaker()
    assert breaker.failure_ratio == 0.5
    assert breaker.min_calls == 20
    assert breaker.window == 30.0
    assert breaker.buckets == 10
    assert breaker.window_calls is None
    assert breaker.slow_call_duration is None
    assert breaker.slow_call_ratio == 1.0
    assert breaker.break_for == 5.0
    assert breaker.break_multiplier == 2.0
    assert breaker.max_break_for == 60.0
    assert breaker.probes == 1
    assert breaker.probe_timeout == 10.0
    assert breaker.metrics_only is False
    assert breaker.key is None
    assert breaker.max_partitions == 1024
    assert breaker.store is MEMORY
    assert breaker.name == "circuit_breaker"
    assert breaker.state() is CircuitState.CLOSED


def test_default_classifier_counts_every_exception_but_cancellation() -> None:
    """With neither `on=` nor `classify=`, any exception is a failure and results succeed."""
    classify = CircuitBreaker()._classifier
    assert classify(Outcome.of_exception(ValueError())) is Verdict.TRANSIENT
    assert classify(Outcome.of_exception(TimeoutError())) is Verdict.TIMEOUT
    assert classify(Outcome.of_exception(KeyboardInterrupt())) is Verdict.CANCELLED
    assert classify(Outcome.of_result(None)) is Verdict.SUCCESS


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"failure_ratio": 0}, ValueError, "failure_ratio"),
        ({"failure_ratio": 0.0}, ValueError, "failure_ratio"),
        ({"failure_ratio": -0.1}, ValueError, "failure_ratio"),
        ({"failure_ratio": 1.01}, ValueError, "failure_ratio"),
        ({"failure_ratio": math.nan}, ValueError, "failure_ratio"),
        ({"failure_ratio": "0.5"}, TypeError, "failure_ratio"),
        ({"failure_ratio": True}, TypeError, "failure_ratio"),
        ({"slow_call_ratio": 0}, ValueError, "slow_call_ratio"),
        ({"slow_call_ratio": 2}, ValueError, "slow_call_ratio"),
        ({"min_calls": 0}, ValueError, "min_calls"),
        ({"min_calls": 1.5}, TypeError, "min_calls"),
        ({"window": 0}, ValueError, "window"),
        ({"window": -1}, ValueError, "window"),
        ({"window": math.inf}, ValueError, "window"),
        ({"buckets": 0}, ValueError, "buckets"),
        ({"window_calls": 0}, ValueError, "window_calls"),
        ({"window_calls": 10.0}, TypeError, "window_calls"),
        ({"window_calls": 10, "window": 60.0}, TypeError, "window_calls"),
        ({"window_calls": 10, "buckets": 5}, TypeError, "window_calls"),
        ({"slow_call_duration": 0}, ValueError, "slow_call_duration"),
        ({"slow_call_duration": math.inf}, ValueError, "slow_call_duration"),
        ({"break_for": 0}, ValueError, "break_for"),
        ({"break_for": -5}, ValueError, "break_for"),
        ({"break_multiplier": 0.5}, ValueError, "break_multiplier"),
        ({"break_multiplier": math.inf}, ValueError, "break_multiplier"),
        ({"max_break_for": 4.0}, ValueError, "max_break_for"),
        ({"break_for": 10, "max_break_for": 9.99}, ValueError, "max_break_for"),
        ({"probes": 0}, ValueError, "probes"),
        ({"probe_timeout": 0}, ValueError, "probe_timeout"),
        ({"metrics_only": 1}, TypeError, "metrics_only"),
        ({"key": "host"}, TypeError, "key"),
        ({"max_partitions": 0}, ValueError, "max_partitions"),
        ({"store": object()}, TypeError, "store"),
        ({"name": ""}, ValueError, "name"),
        ({"on": ConnectionError, "classify": lambda o: Verdict.SUCCESS}, TypeError, "on="),
        ({"classify": 42}, TypeError, "classify"),
        ({"on": 42}, TypeError, "on"),
    ],
)
def test_bad_options_name_the_parameter(
    options: dict[str, Any], error: type[Exception], names: str
) -> None:
    """Each invalid option raises ValueError or TypeError whose message names the parameter."""
    with pytest.raises(error, match=names):
        CircuitBreaker(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"failure_ratio": 1},
        {"failure_ratio": 1e-9},
        {"slow_call_ratio": 1.0},
        {"min_calls": 1},
        {"buckets": 1},
        {"window_calls": 1},
        {"probes": 1},
        {"break_multiplier": 1},
        {"break_for": 7, "max_break_for": 7},
        {"max_partitions": 1},
    ],
)
def test_edge_values_are_accepted(options: dict[str, Any]) -> None:
    """The documented edge values (ratio 1, counts of 1, multiplier 1, max == break) are valid."""
    breaker = CircuitBreaker(**options)
    for name, value in options.items():
        assert getattr(breaker, name) == value


def test_numbers_are_stored_as_floats() -> None:
    """Integer seconds and ratios are normalised to floats."""
    breaker = CircuitBreaker(failure_ratio=1, window=60, break_for=1, max_break_for=2)
    assert type(breaker.failure_ratio) is float
    assert type(breaker.window) is float
    assert type(breaker.break_for) is float
    assert type(breaker.max_break_for) is float


def test_repr_lists_only_changed_options() -> None:
    """The repr shows the options that differ from their defaults, exception types by name."""
    assert repr(CircuitBreaker()) == "CircuitBreaker()"
    assert (
        repr(CircuitBreaker(on=ConnectionError, min_calls=5, window_calls=50))
        == "CircuitBreaker(on=ConnectionError, min_calls=5, window_calls=50)"
    )


def test_replace_validates_and_starts_fresh() -> None:
    """`replace` changes options, validates them again, and returns a breaker with its own state."""
    breaker = CircuitBreaker(min_calls=5)
    breaker.isolate()
    changed = breaker.replace(probes=3)
    assert changed.probes == 3
    assert changed.min_calls == 5
    assert changed.state() is CircuitState.CLOSED
    assert breaker.state() is CircuitState.ISOLATED
    with pytest.raises(ValueError, match="probes"):
        breaker.replace(probes=0)


def test_breakers_are_equal_only_to_themselves() -> None:
    """Two breakers with the same options hold different states, so they are not equal."""
    first, second = CircuitBreaker(), CircuitBreaker()
    same = first
    assert first == same
    assert first != second
    assert len({first, second}) == 2


def test_options_are_frozen() -> None:
    """Options cannot be changed after construction."""
    breaker = CircuitBreaker()
    with pytest.raises(AttributeError):
        breaker.min_calls = 3  # type: ignore[misc]
