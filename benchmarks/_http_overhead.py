"""Scenario 2: what a resilient client adds to a GET on loopback, when nothing fails.

Each contender (see `_contenders`) keeps one keep-alive connection to a fast server in
another process and sends sequential GETs, a few at a time in many interleaved rounds,
each request timed on its own. Two servers are measured: a do-nothing asyncio server
(`raw`, the fastest a Python server gets, so the client's overhead is the largest share
of a request) and `stalwart.testing.FlakyServer` with no faults (`flaky`). A third
measurement replaces the network with a transport that answers at once, which shows the
CPU each client layer costs per request, free of the network's noise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from . import _upstream
from ._contenders import KINDS, AsyncContender, SyncContender, async_contender, sync_contender
from ._core import (
    Budget,
    Result,
    Size,
    Table,
    Timed,
    clock,
    interleaved,
    median,
    paired_ratio,
    ratio_text,
    us,
)

__all__ = ["run"]

BUDGET_RATIO = 1.03
BASELINE = "httpx"
SERVERS = {
    "raw": "a do-nothing asyncio server in another process",
    "flaky": "FlakyServer (no faults) in another process",
    "none": "no network: a transport that answers at once",
}

_HEADERS: dict[str, str] = {}
_BODY = b'{"ok": true, "attempt": 1, "path": "/"}'


class _Instant(httpx.BaseTransport):
    """Answers every request at once: what is left to measure is the client's own code."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_BODY)


class _AsyncInstant(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_BODY)


def _sync_timed(contender: SyncContender, latencies: list[float]) -> Timed:
    get = contender.get
    record = latencies.append

    def timed(n: int) -> float:
        began = clock()
        for _ in range(n):
            start = clock()
            get("/", _HEADERS)
            record(clock() - start)
        return clock() - began

    return timed


def _async_timed(
    loop: asyncio.AbstractEventLoop, contender: AsyncContender, latencies: list[float]
) -> Timed:
    get = contender.get
    record = latencies.append

    async def body(n: int) -> float:
        began = clock()
        for _ in range(n):
            start = clock()
            await get("/", _HEADERS)
            record(clock() - start)
        return clock() - began

    def timed(n: int) -> float:
        return loop.run_until_complete(body(n))

    return timed


def _plan(size: Size, server: str) -> tuple[int, int, int]:
    """(warm-up requests, rounds, requests per round) for one table."""
    if server == "none":
        return size.pick(50, 500), size.pick(3, 25), 200
    return size.pick(20, 200), size.pick(4, 40), size.pick(10, 40)


def _measure(
    timed: dict[str, Timed], size: Size, server: str, progress: Callable[[str], None]
) -> tuple[dict[str, list[float]], int]:
    _, rounds, n = _plan(size, server)
    return interleaved(
        timed, rounds=rounds, iterations=dict.fromkeys(timed, n), progress=progress
    ), n


def _measure_sync(
    server: str, base_url: str, size: Size, progress: Callable[[str], None]
) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    transport = _Instant if server == "none" else None
    contenders = [sync_contender(kind, base_url, transport=transport) for kind in KINDS]
    latencies: dict[str, list[float]] = {contender.name: [] for contender in contenders}
    try:
        timed = {c.name: _sync_timed(c, latencies[c.name]) for c in contenders}
        for run, values in zip(timed.values(), latencies.values(), strict=True):
            run(_plan(size, server)[0])  # connect, and warm every cache on the way
            values.clear()
        samples, n = _measure(timed, size, server, progress)
        return samples, latencies, n
    finally:
        for contender in contenders:
            contender.close()


def _measure_async(
    server: str, base_url: str, size: Size, progress: Callable[[str], None]
) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    loop = asyncio.new_event_loop()
    transport = _AsyncInstant if server == "none" else None
    contenders = [async_contender(kind, base_url, transport=transport) for kind in KINDS]
    latencies: dict[str, list[float]] = {contender.name: [] for contender in contenders}
    try:
        timed = {c.name: _async_timed(loop, c, latencies[c.name]) for c in contenders}
        for run, values in zip(timed.values(), latencies.values(), strict=True):
            run(_plan(size, server)[0])  # connect, and warm every cache on the way
            values.clear()
        samples, n = _measure(timed, size, server, progress)
        return samples, latencies, n
    finally:
        for contender in contenders:
            loop.run_until_complete(contender.aclose())
        loop.close()


def _table(
    title: str, samples: dict[str, list[float]], latencies: dict[str, list[float]], n: int
) -> tuple[Table, dict[str, Any]]:
    baseline = samples[BASELINE]
    baseline_median = median(latencies[BASELINE])
    table = Table(
        title,
        [
            "contender",
            "mean µs",
            "overhead µs",
            f"× {BASELINE}",
            "median µs",
            f"× {BASELINE} (medians)",
        ],
    )
    data: dict[str, Any] = {}
    for name, values in samples.items():
        mean = median(values)
        overhead = median(v - b for v, b in zip(values, baseline, strict=True))
        ratio = paired_ratio(values, baseline)
        typical = median(latencies[name])
        table.add(
            name,
            us(mean, 1),
            "—" if name == BASELINE else us(overhead, 1),
            ratio_text(ratio, 3),
            us(typical, 1),
            ratio_text(typical / baseline_median, 3),
        )
        data[name] = {
            "round_mean_seconds": values,
            "mean_us": mean * 1e6,
            "overhead_us": overhead * 1e6,
            "ratio_to_httpx": ratio,
            "median_request_us": typical * 1e6,
            "median_ratio_to_httpx": typical / baseline_median,
            "requests": len(latencies[name]),
        }
    table.notes.append(
        f"{len(baseline)} interleaved rounds of {n} sequential GETs per contender on one "
        "keep-alive connection; mean µs: median over rounds of the round's mean; "
        f"× {BASELINE}: median over rounds of the ratio of the round means (the budget's "
        "measure); medians: over every request"
    )
    return table, data


def run(size: Size, progress: Callable[[str], None]) -> Result:
    result = Result("http", "HTTP overhead, nothing failing")
    for server in ("none", *_upstream.KINDS):
        for mode, measure in (("sync", _measure_sync), ("async", _measure_async)):
            progress(f"{server} server, {mode}")
            if server == "none":
                samples, latencies, n = measure(server, "http://upstream", size, progress)
            else:
                with _upstream.serve(server) as base_url:
                    samples, latencies, n = measure(server, base_url, size, progress)
            client = "httpx.Client" if mode == "sync" else "httpx.AsyncClient (asyncio)"
            table, data = _table(
                f"{mode.capitalize()} GET through {client} and its resilient wrappers; "
                f"upstream: {SERVERS[server]}",
                samples,
                latencies,
                n,
            )
            result.tables.append(table)
            result.data[f"{server}/{mode}"] = data
            if server == "none":
                continue
            ratio = data["stalwart"]["ratio_to_httpx"]
            overhead = data["stalwart"]["overhead_us"]
            result.budgets.append(
                Budget(
                    f"http: stalwart.{'Client' if mode == 'sync' else 'AsyncClient'} GET "
                    f"vs bare httpx ({server} server)",
                    f"≤ {BUDGET_RATIO:.2f}× (+3%)",
                    f"{ratio:.3f}× (+{overhead:.0f} µs)",
                    ratio <= BUDGET_RATIO,
                    ratio,
                )
            )
    return result
