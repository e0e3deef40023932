"""Shared fixtures: async tests run on asyncio and on trio, time is virtual by default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stalwart
from stalwart.testing import FakeClock


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every `@pytest.mark.anyio` test on both backends."""
    return str(request.param)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """A FakeClock installed for the test: every stalwart wait is instant and repeatable."""
    with FakeClock() as fake:
        yield fake


@pytest.fixture
def events() -> Iterator[list[stalwart.Event]]:
    """Every stalwart event emitted during the test, in order; the listener is removed after."""
    seen: list[stalwart.Event] = []
    remove = stalwart.add_listener(seen.append)
    yield seen
    remove()
