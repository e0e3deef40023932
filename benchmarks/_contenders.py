"""HTTP clients with retries, each set up the way its library's documentation shows.

Every contender makes 3 attempts at most (one call and two retries) and, where the
library lets one choose, backs off exponentially from 0.1 s with full jitter, as
stalwart does by default, so that differences come from behaviour, not from settings:

- `httpx`: `httpx.Client()`, no retries.
- `tenacity`: `@retry(stop=stop_after_attempt(3),
  wait=wait_random_exponential(multiplier=0.1, max=10),
  retry=retry_if_exception(retryable), reraise=True)` around
  `client.get(...).raise_for_status()`; with a total budget, `stop` also has
  `| stop_after_delay(total)`. tenacity has no `Retry-After` support of its own.
- `stamina`: `@stamina.retry(on=stamina_hook, attempts=3)` around
  `client.get(...).raise_for_status()`, with stamina's own waits (0.1 s initial plus up
  to 1 s of jitter); the hook returns `Retry-After` as the wait, as stamina's docs
  suggest; with a total budget, `timeout=total`.
- `httpx-retries`: `httpx.Client(transport=RetryTransport(retry=Retry(total=2,
  backoff_factor=0.05)))` (its README's form; 0.05 makes the first wait up to 0.1 s);
  with a total budget, `total_timeout=total`, which caps its sleeps only.
- `stalwart`: `stalwart.Client()`, the standard pipeline; with a total budget,
  `with stalwart.deadline(total):` around the call.

`retryable`: transport errors (connect, read, timeouts) and the statuses 429, 500, 502,
503 and 504. Contenders other than stalwart get `httpx.Timeout(total)` when a total
budget is given, as their docs advise for bounding a call; stalwart keeps its defaults
and relies on the deadline.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import httpx_retries
import stamina
import tenacity

import stalwart

__all__ = [
    "KINDS",
    "RETRYABLE_STATUSES",
    "AsyncContender",
    "SyncContender",
    "async_contender",
    "retryable",
    "stamina_hook",
    "sync_contender",
]

KINDS = ("httpx", "tenacity", "stamina", "httpx-retries", "stalwart")
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

Headers = Mapping[str, str]


def retryable(error: BaseException) -> bool:
    """What the tenacity and stamina recipes retry: transport failures and retryable
    statuses (raised by `raise_for_status()`)."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in RETRYABLE_STATUSES
    return isinstance(error, httpx.TransportError)


def stamina_hook(error: Exception) -> bool | float:
    """stamina's backoff hook: retry what `retryable` says, waiting `Retry-After` seconds
    when the response gives them (stamina ≥ 25.2 lets a hook return the wait)."""
    if not retryable(error):
        return False
    if isinstance(error, httpx.HTTPStatusError):
        hint = error.response.headers.get("retry-after", "").strip()
        if hint.isdigit():
            return float(hint)
    return True


def _tenacity_retry(total: float | None) -> Callable[[Any], Any]:
    stop: Any = tenacity.stop_after_attempt(3)
    if total is not None:
        stop = stop | tenacity.stop_after_delay(total)
    return tenacity.retry(
        stop=stop,
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=10),
        retry=tenacity.retry_if_exception(retryable),
        reraise=True,
    )


def _stamina_retry(total: float | None) -> Callable[[Any], Any]:
    if total is None:
        return stamina.retry(on=stamina_hook, attempts=3)
    return stamina.retry(on=stamina_hook, attempts=3, timeout=total)


def _httpx_retries(total: float | None) -> httpx_retries.Retry:
    return httpx_retries.Retry(total=2, backoff_factor=0.05, total_timeout=total)


@dataclass(slots=True)
class SyncContender:
    """One sync client and how to GET through it (raises what the library raises)."""

    name: str
    client: httpx.Client
    get: Callable[[str, Headers], httpx.Response]

    def close(self) -> None:
        self.client.close()


@dataclass(slots=True)
class AsyncContender:
    name: str
    client: httpx.AsyncClient
    get: Callable[[str, Headers], Awaitable[httpx.Response]]

    async def aclose(self) -> None:
        await self.client.aclose()


def sync_contender(
    kind: str,
    base_url: str,
    *,
    total: float | None = None,
    hedge: bool = False,
    transport: Callable[[], httpx.BaseTransport] | None = None,
    name: str | None = None,
) -> SyncContender:
    """A sync contender of `kind` (one of `KINDS`) for `base_url`.

    `total`: a time budget for each call (see the module's table); `hedge`: stalwart's
    hedging client; `transport`: makes the innermost transport (each library wraps it
    as it would wrap its default one).
    """
    options: dict[str, Any] = {"base_url": base_url}
    if total is not None and kind != "stalwart":
        options["timeout"] = httpx.Timeout(total)
    inner = transport() if transport is not None else None
    if kind == "stalwart":
        if inner is not None:
            options["transport"] = inner
        client: httpx.Client = stalwart.Client(hedge=hedge, **options)
        send = client.get
        if total is None:
            return SyncContender(
                name or kind, client, lambda path, headers: send(path, headers=headers)
            )

        def get_within(path: str, headers: Headers) -> httpx.Response:
            with stalwart.deadline(total):
                response = send(path, headers=headers)
            return response

        return SyncContender(name or kind, client, get_within)
    if hedge:
        raise ValueError("only stalwart hedges")
    if kind == "httpx-retries":
        options["transport"] = httpx_retries.RetryTransport(
            transport=inner or httpx.HTTPTransport(), retry=_httpx_retries(total)
        )
    elif inner is not None:
        options["transport"] = inner
    client = httpx.Client(**options)
    send = client.get
    if kind in ("httpx", "httpx-retries"):
        return SyncContender(
            name or kind, client, lambda path, headers: send(path, headers=headers)
        )

    def get_or_raise(path: str, headers: Headers) -> httpx.Response:
        return send(path, headers=headers).raise_for_status()

    if kind == "tenacity":
        return SyncContender(name or kind, client, _tenacity_retry(total)(get_or_raise))
    if kind == "stamina":
        return SyncContender(name or kind, client, _stamina_retry(total)(get_or_raise))
    raise ValueError(f"unknown contender {kind!r}; expected one of {KINDS}")


def async_contender(
    kind: str,
    base_url: str,
    *,
    total: float | None = None,
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
    name: str | None = None,
) -> AsyncContender:
    """The async twin of `sync_contender` (no hedging: the benchmarks hedge in sync code)."""
    options: dict[str, Any] = {"base_url": base_url}
    if total is not None and kind != "stalwart":
        options["timeout"] = httpx.Timeout(total)
    inner = transport() if transport is not None else None
    if kind == "stalwart":
        if inner is not None:
            options["transport"] = inner
        client: httpx.AsyncClient = stalwart.AsyncClient(**options)
        send = client.get
        if total is None:
            return AsyncContender(
                name or kind, client, lambda path, headers: send(path, headers=headers)
            )

        async def get_within(path: str, headers: Headers) -> httpx.Response:
            async with stalwart.deadline(total):
                response = await send(path, headers=headers)
            return response

        return AsyncContender(name or kind, client, get_within)
    if kind == "httpx-retries":
        options["transport"] = httpx_retries.RetryTransport(
            transport=inner or httpx.AsyncHTTPTransport(), retry=_httpx_retries(total)
        )
    elif inner is not None:
        options["transport"] = inner
    client = httpx.AsyncClient(**options)
    send = client.get
    if kind in ("httpx", "httpx-retries"):
        return AsyncContender(
            name or kind, client, lambda path, headers: send(path, headers=headers)
        )

    async def get_or_raise(path: str, headers: Headers) -> httpx.Response:
        return (await send(path, headers=headers)).raise_for_status()

    if kind == "tenacity":
        return AsyncContender(name or kind, client, _tenacity_retry(total)(get_or_raise))
    if kind == "stamina":
        return AsyncContender(name or kind, client, _stamina_retry(total)(get_or_raise))
    raise ValueError(f"unknown contender {kind!r}; expected one of {KINDS}")


@contextlib.contextmanager
def opened(contenders: list[SyncContender]) -> Iterator[list[SyncContender]]:
    """Close every contender on the way out."""
    try:
        yield contenders
    finally:
        for contender in contenders:
            contender.close()


@contextlib.asynccontextmanager
async def aopened(contenders: list[AsyncContender]) -> AsyncIterator[list[AsyncContender]]:
    try:
        yield contenders
    finally:
        for contender in contenders:
            await contender.aclose()
