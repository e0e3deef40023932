"""`Faults`: validation naming the parameter, repr, replace, and per-request overrides."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from stalwart._flaky import Faults
from stalwart._flaky._faults import parse_overrides


def test_defaults_inject_nothing() -> None:
    faults = Faults()
    assert (faults.latency, faults.error_rate, faults.fail_first, faults.outage) == (0, 0, 0, None)
    assert (faults.error_status, faults.retry_after, faults.body_size) == (503, None, None)
    assert repr(faults) == "Faults()"


def test_repr_lists_only_the_fields_that_differ_from_defaults() -> None:
    faults = Faults(error_rate=0.2, retry_after="1", outage=(0, 5))
    assert repr(faults) == "Faults(error_rate=0.2, retry_after='1', outage=(0.0, 5.0))"


def test_is_frozen_keyword_only_and_replaceable() -> None:
    faults = Faults(latency=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        faults.latency = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Faults(0.1)  # type: ignore[call-arg]
    assert faults.replace(error_rate=1).error_rate == 1.0
    assert faults.replace(error_rate=1).latency == 0.1
    with pytest.raises(ValueError, match="error_rate"):
        faults.replace(error_rate=2)


def test_numbers_are_stored_as_floats_and_equal_faults_are_equal() -> None:
    assert Faults(latency=1).latency == 1.0
    assert isinstance(Faults(latency=1).latency, float)
    assert Faults(outage=[1, 2]).outage == (1.0, 2.0)  # type: ignore[arg-type]
    assert Faults(outage=(0, math.inf)).outage == (0.0, math.inf)
    assert Faults(error_rate=0.5) == Faults(error_rate=0.5)
    assert hash(Faults(error_rate=0.5)) == hash(Faults(error_rate=0.5))


@pytest.mark.parametrize(
    ("changes", "error", "name"),
    [
        ({"latency": -0.1}, ValueError, "latency"),
        ({"latency": math.nan}, ValueError, "latency"),
        ({"latency": math.inf}, ValueError, "latency"),
        ({"latency": "1"}, TypeError, "latency"),
        ({"latency_jitter": -1}, ValueError, "latency_jitter"),
        ({"slow_tail_latency": -1}, ValueError, "slow_tail_latency"),
        ({"slow_body": -1}, ValueError, "slow_body"),
        ({"error_rate": 1.5}, ValueError, "error_rate"),
        ({"error_rate": -0.1}, ValueError, "error_rate"),
        ({"hang_rate": 2}, ValueError, "hang_rate"),
        ({"reset_rate": -1}, ValueError, "reset_rate"),
        ({"slow_tail_ratio": 1.01}, ValueError, "slow_tail_ratio"),
        ({"error_rate": True}, TypeError, "error_rate"),
        ({"error_status": 99}, ValueError, "error_status"),
        ({"error_status": 100}, ValueError, "error_status"),
        ({"error_status": 600}, ValueError, "error_status"),
        ({"error_status": 503.0}, TypeError, "error_status"),
        ({"fail_first": -1}, ValueError, "fail_first"),
        ({"fail_first": 1.5}, TypeError, "fail_first"),
        ({"body_size": -1}, ValueError, "body_size"),
        ({"retry_after": 1}, TypeError, "retry_after"),
        ({"retry_after": "1\r\nx-evil: 1"}, ValueError, "retry_after"),
        ({"retry_after": "€"}, ValueError, "retry_after"),
        ({"outage": 5}, TypeError, "outage"),
        ({"outage": (1, 2, 3)}, TypeError, "outage"),
        ({"outage": (-1, 2)}, ValueError, "outage start"),
        ({"outage": (3, 2)}, ValueError, "outage end"),
        ({"outage": (0, math.nan)}, ValueError, "outage end"),
    ],
)
def test_bad_values_raise_naming_the_parameter(
    changes: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        Faults(**changes)


def test_edge_values_are_accepted() -> None:
    faults = Faults(
        error_rate=1,
        hang_rate=0,
        error_status=599,
        retry_after="",
        body_size=0,
        outage=(0, 0),
        fail_first=0,
    )
    assert faults.error_status == 599
    assert Faults(error_status=200).error_status == 200
    assert Faults(retry_after="Wed, 21 Oct 2015 07:28:00 GMT").retry_after is not None
    assert Faults(retry_after="soon, maybe").retry_after == "soon, maybe"


# -- per-request overrides -------------------------------------------------------------------


def test_overrides_apply_each_field_by_name() -> None:
    base = Faults(latency=0.5)
    query = (
        b"fail_first=2&error_status=429&retry_after=1&hang_rate=0.5&latency=0.2"
        b"&outage=1,inf&body_size=10&other=ignored"
    )
    assert parse_overrides(base, query) == Faults(
        fail_first=2,
        error_status=429,
        retry_after="1",
        hang_rate=0.5,
        latency=0.2,
        outage=(1.0, math.inf),
        body_size=10,
    )


def test_overrides_can_clear_optional_fields_and_ignore_unknown_parameters() -> None:
    base = Faults(outage=(0, 1), body_size=5)
    assert parse_overrides(base, b"outage=none&body_size=none") == Faults()
    assert parse_overrides(base, b"page=2&sort=name") is base


def test_the_last_repeated_override_wins() -> None:
    assert parse_overrides(Faults(), b"latency=1&latency=2") == Faults(latency=2)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        (b"latency=abc", "latency"),
        (b"latency=-1", "latency"),
        (b"error_rate=2", "error_rate"),
        (b"error_status=99", "error_status"),
        (b"fail_first=1.5", "fail_first"),
        (b"outage=5", "outage"),
        (b"outage=a,b", "outage"),
        (b"body_size=big", "body_size"),
        (b"retry_after=%0d%0a", "retry_after"),
    ],
)
def test_bad_overrides_give_a_message_naming_the_parameter(query: bytes, name: str) -> None:
    result = parse_overrides(Faults(), query)
    assert isinstance(result, str)
    assert result.startswith("bad fault override: ")
    assert name in result


def test_overrides_are_cached_per_faults_and_query() -> None:
    first = parse_overrides(Faults(), b"latency=0.25")
    assert parse_overrides(Faults(), b"latency=0.25") is first
    assert parse_overrides(Faults(error_rate=1), b"latency=0.25") == Faults(
        error_rate=1, latency=0.25
    )
