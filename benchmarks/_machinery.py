"""Scenario 1: the cost of the retry machinery on the success path, with no network.

A no-op function is called plainly and through each library's retry decorator, sync and
async; every contender succeeds at the first attempt, so what is measured is the price
of being ready to retry. Async contenders are awaited many times inside one run of an
asyncio loop (the loop's start-up is not measured).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import backoff
import stamina
import tenacity

import stalwart

from ._core import (
    Budget,
    Result,
    Size,
    Table,
    Timed,
    calibrate,
    clock,
    interleaved,
    median,
    paired_ratio,
    ratio_text,
    us,
)

__all__ = ["run"]

#: The machinery budget of DESIGN.md: Retry + CircuitBreaker + Timeout around a no-op.
BUDGET_US = 2.5
BUDGET_VS_TENACITY = 5.0

PLAIN = "plain call"
TENACITY = "tenacity @retry"
STALWART_3 = "stalwart Retry+CircuitBreaker+Timeout"


def _noop() -> None:
    return None


async def _anoop() -> None:
    return None


def _three_strategies() -> stalwart.Pipeline:
    return stalwart.Pipeline(
        stalwart.Retry(on=ConnectionError),
        stalwart.CircuitBreaker(),
        stalwart.Timeout(per_attempt=10.0),
    )


def sync_contenders() -> dict[str, Callable[[], Any]]:
    """Name → a no-op made ready to retry, as each library's documentation writes it."""
    three = _three_strategies()
    return {
        PLAIN: _noop,
        TENACITY: tenacity.retry(
            stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_exponential()
        )(_noop),
        "stamina @retry": stamina.retry(on=Exception, attempts=3)(_noop),
        "backoff @on_exception": backoff.on_exception(backoff.expo, Exception, max_tries=3)(_noop),
        "stalwart Retry (decorator)": stalwart.Pipeline(stalwart.Retry(on=Exception))(_noop),
        STALWART_3: three(_noop),
        "stalwart Retry+CircuitBreaker+Timeout, .call()": _bound_call(three),
    }


def _bound_call(pipeline: stalwart.Pipeline) -> Callable[[], Any]:
    call = pipeline.call

    def run() -> Any:
        return call(_noop)

    return run


def async_contenders() -> dict[str, Callable[[], Awaitable[Any]]]:
    three = _three_strategies()
    acall = three.acall

    def via_acall() -> Awaitable[Any]:
        return acall(_anoop)

    return {
        PLAIN: _anoop,
        TENACITY: tenacity.retry(
            stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_exponential()
        )(_anoop),
        "stamina @retry": stamina.retry(on=Exception, attempts=3)(_anoop),
        "backoff @on_exception": backoff.on_exception(backoff.expo, Exception, max_tries=3)(_anoop),
        "stalwart Retry (decorator)": stalwart.Pipeline(stalwart.Retry(on=Exception))(_anoop),
        STALWART_3: three(_anoop),
        "stalwart Retry+CircuitBreaker+Timeout, .acall()": via_acall,
    }


def _sync_timed(fn: Callable[[], Any]) -> Timed:
    def timed(n: int) -> float:
        loop = range(n)
        start = clock()
        for _ in loop:
            fn()
        return clock() - start

    return timed


def _async_timed(loop: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[Any]]) -> Timed:
    async def body(n: int) -> float:
        # Yield to the loop every 100 calls, as real code does on its I/O: the loop then
        # drops cancelled timers (a timeout's), which would otherwise pile up in its heap.
        blocks, rest = divmod(n, 100)
        block = range(100)
        start = clock()
        for _ in range(blocks):
            for _ in block:
                await fn()
            await asyncio.sleep(0)
        for _ in range(rest):
            await fn()
        return clock() - start

    def timed(n: int) -> float:
        return loop.run_until_complete(body(n))

    return timed


def _measure(
    timed: dict[str, Timed], size: Size, progress: Callable[[str], None]
) -> dict[str, list[float]]:
    # Short rounds, many of them: this machine's speed drifts within seconds, and a
    # round's contenders should see the same speed.
    target = size.pick(0.01, 0.08)
    low, high = size.pick((500, 20_000), (5_000, 200_000))
    iterations = {
        name: calibrate(run, target=target, low=low, high=high) for name, run in timed.items()
    }
    return interleaved(timed, rounds=size.pick(3, 21), iterations=iterations, progress=progress)


def _table(title: str, samples: dict[str, list[float]], kind: str) -> tuple[Table, dict[str, Any]]:
    plain = samples[PLAIN]
    tenacity_samples = samples[TENACITY]
    table = Table(
        title,
        ["contender", "µs/call", "overhead µs", "× plain", "tenacity ÷ this"],
    )
    data: dict[str, Any] = {}
    plain_median = median(plain)
    for name, values in samples.items():
        per_call = median(values)
        overhead = median(v - p for v, p in zip(values, plain, strict=True))
        vs_plain = paired_ratio(values, plain)
        vs_tenacity = paired_ratio(tenacity_samples, values)
        table.add(
            name,
            us(per_call, 3),
            "—" if name == PLAIN else us(overhead, 3),
            ratio_text(vs_plain, 1),
            ratio_text(vs_tenacity, 1),
        )
        data[name] = {
            "seconds_per_call": values,
            "median_us": per_call * 1e6,
            "overhead_us": overhead * 1e6,
            "ratio_to_plain": vs_plain,
            "tenacity_over_this": vs_tenacity,
        }
    table.notes.append(
        f"median of {len(plain)} interleaved rounds; the plain {kind} no-op costs "
        f"{us(plain_median, 3)} µs including the loop"
    )
    return table, data


def run(size: Size, progress: Callable[[str], None]) -> Result:
    result = Result("machinery", "Machinery overhead on the success path (no network)")

    progress("sync")
    sync = _measure({n: _sync_timed(f) for n, f in sync_contenders().items()}, size, progress)
    table, data = _table("Sync: a no-op through each retry decorator", sync, "sync")
    result.tables.append(table)
    result.data["sync"] = data

    progress("async")
    loop = asyncio.new_event_loop()
    try:
        timed = {n: _async_timed(loop, f) for n, f in async_contenders().items()}
        asynchronous = _measure(timed, size, progress)
    finally:
        loop.close()
    table, data = _table(
        "Async (asyncio): a no-op coroutine through each retry decorator", asynchronous, "async"
    )
    result.tables.append(table)
    result.data["async"] = data

    per_call = result.data["sync"][STALWART_3]["median_us"]
    result.budgets.append(
        Budget(
            "machinery: Retry+CircuitBreaker+Timeout around a no-op (sync)",
            f"≤ {BUDGET_US} µs/call",
            f"{per_call:.2f} µs/call",
            per_call <= BUDGET_US,
            per_call,
        )
    )
    cheaper = result.data["sync"][STALWART_3]["tenacity_over_this"]
    result.budgets.append(
        Budget(
            "machinery: same pipeline vs tenacity @retry (sync)",
            f"≥ {BUDGET_VS_TENACITY:g}× cheaper",
            f"{cheaper:.1f}× cheaper",
            cheaper >= BUDGET_VS_TENACITY,
            cheaper,
        )
    )
    return result
