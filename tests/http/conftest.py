"""Every HTTP test runs against httpx and against its fork httpx2."""

from __future__ import annotations

import types
from dataclasses import dataclass

import httpx
import httpx2
import pytest

import stalwart.httpx
import stalwart.httpx2


@dataclass(frozen=True)
class Flavour:
    """One HTTP library and stalwart's module for it."""

    http: types.ModuleType  # httpx or httpx2
    stalwart: types.ModuleType  # stalwart.httpx or stalwart.httpx2

    def __repr__(self) -> str:
        return self.http.__name__


@pytest.fixture(
    params=[
        pytest.param(Flavour(httpx, stalwart.httpx), id="httpx"),
        pytest.param(Flavour(httpx2, stalwart.httpx2), id="httpx2"),
    ]
)
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return request.param  # type: ignore[no-any-return]
