"""Fixtures for the circuit breaker tests: the events emitted during a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stalwart


@pytest.fixture
def events() -> Iterator[list[stalwart.Event]]:
    """Every stalwart event emitted during the test, in order."""
    seen: list[stalwart.Event] = []
    remove = stalwart.add_listener(seen.append)
    yield seen
    remove()
