"""Helpers shared by the circuit breaker tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.lowlevel

import stalwart
from stalwart._strategies.circuit_breaker import CircuitBreaker

E = TypeVar("E", bound=stalwart.Event)


def of_type(events: list[stalwart.Event], kind: type[E]) -> list[E]:
    """The events of one kind, in order."""
    return [event for event in events if isinstance(event, kind)]


def names(events: list[stalwart.Event]) -> list[str]:
    """The names of the circuit events, in order (rejections left out)."""
    return [
        e.name for e in events if e.name.startswith("circuit_") and e.name != "circuit_rejected"
    ]


def fail(*args: object) -> None:
    """An upstream that is down."""
    raise ConnectionError("down")


def succeed(*args: object) -> str:
    """An upstream that answers."""
    return "ok"


async def afail(*args: object) -> None:
    """An async upstream that is down."""
    await anyio.lowlevel.checkpoint()
    raise ConnectionError("down")


async def asucceed(*args: object) -> str:
    """An async upstream that answers."""
    await anyio.lowlevel.checkpoint()
    return "ok"


def run(breaker: CircuitBreaker, fn: Callable[..., Any], *args: Any) -> Any:
    """Call `fn` through a pipeline holding only `breaker`; return the result or exception."""
    try:
        return stalwart.Pipeline(breaker).call(fn, *args)
    except Exception as exc:
        return exc


def trip(breaker: CircuitBreaker, *args: Any) -> None:
    """Fail through `breaker` until it opens (at most 1000 calls)."""
    pipeline = stalwart.Pipeline(breaker)
    for _ in range(1000):
        try:
            pipeline.call(fail, *args)
        except ConnectionError:
            continue
        except stalwart.Rejected:
            return
    raise AssertionError("the breaker never opened")
