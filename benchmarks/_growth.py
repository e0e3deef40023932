"""Scenario 4: the cost of partitioned state as the number of partitions grows.

A `Pipeline(CircuitBreaker(key=lambda key: key))` around a no-op is called with keys in
rotation: 1, 1,000 or 100,000 distinct keys (10,000 in a quick run). With room for every
partition (`max_partitions=200_000`) the cost should not depend on the count; with the
default bound (1,024 partitions, least recently used evicted) a rotation wider than the
bound creates and evicts a partition on every call, which shows the price of churn.
Memory is measured separately with tracemalloc after every key was seen once.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Hashable
from typing import Any

import stalwart

from ._core import (
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

ROOMY = 200_000
DEFAULT = 1024  # stalwart's DEFAULT_MAX_PARTITIONS

PLAIN = "plain noop(key)"
REFERENCE = "1 key, max_partitions=200,000"


def _noop(key: Hashable) -> None:
    return None


def _key(key: Hashable) -> Hashable:
    return key


def _keys(count: int) -> list[str]:
    return [f"upstream-{index}.example.com" for index in range(count)]


def _pipeline(max_partitions: int) -> stalwart.Pipeline:
    return stalwart.Pipeline(stalwart.CircuitBreaker(key=_key, max_partitions=max_partitions))


def _timed(call: Callable[[Hashable], Any], keys: list[str]) -> Timed:
    """Runs `call` over `keys` in rotation, continuing where the last round stopped."""
    position = 0
    count = len(keys)

    def timed(n: int) -> float:
        nonlocal position
        chunk = [keys[(position + index) % count] for index in range(n)]
        position = (position + n) % count
        start = clock()
        for key in chunk:
            call(key)
        return clock() - start

    return timed


def _pipeline_call(pipeline: stalwart.Pipeline) -> Callable[[Hashable], Any]:
    call = pipeline.call

    def run(key: Hashable) -> Any:
        return call(_noop, key)

    return run


def _memory(count: int, max_partitions: int) -> int:
    """Bytes still allocated after `count` distinct keys went through a fresh breaker."""
    keys = _keys(count)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pipeline = _pipeline(max_partitions)
        for key in keys:
            pipeline.call(_noop, key)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del pipeline
    return after - before


def run(size: Size, progress: Callable[[str], None]) -> Result:
    result = Result("growth", "Cost of growth: one circuit breaker per key")
    many = size.pick(10_000, 100_000)
    counts = (1, 1_000, many)
    contenders: dict[str, Timed] = {PLAIN: _timed(_noop, _keys(many))}
    shapes: dict[str, tuple[int, int]] = {}
    for bound in (ROOMY, DEFAULT):
        for count in counts:
            name = f"{count:,} key{'s' if count > 1 else ''}, max_partitions={bound:,}"
            call = _pipeline_call(_pipeline(bound))
            keys = _keys(count)
            for key in keys:  # every partition exists before the clock starts
                call(key)
            contenders[name] = _timed(call, keys)
            shapes[name] = (count, bound)
    progress("timing")
    # 100,000 partitions are a large live heap: freeze it, so that the collection run
    # before each sample does not walk all of it every time.
    gc.collect()
    gc.freeze()
    try:
        n = size.pick(5_000, 10_000)
        samples = interleaved(
            contenders,
            rounds=size.pick(3, 15),
            iterations=dict.fromkeys(contenders, n),
            progress=progress,
        )
    finally:
        gc.unfreeze()
    plain = samples[PLAIN]
    reference = samples[REFERENCE]
    table = Table(
        "Per-call cost of Pipeline(CircuitBreaker(key=...)) around a no-op, keys in rotation",
        ["keys in rotation, bound", "µs/call", "overhead µs", "× 1 key", "churn/call"],
    )
    table.add(PLAIN, us(median(plain), 3), "—", "—", "—")
    data: dict[str, Any] = {"plain": {"seconds_per_call": plain, "median_us": median(plain) * 1e6}}
    for name, (count, bound) in shapes.items():
        values = samples[name]
        overhead = median(v - p for v, p in zip(values, plain, strict=True))
        ratio = paired_ratio(values, reference)
        churn = "1 partition" if count > bound else "—"
        table.add(name, us(median(values), 3), us(overhead, 3), ratio_text(ratio), churn)
        data[name] = {
            "keys": count,
            "max_partitions": bound,
            "seconds_per_call": values,
            "median_us": median(values) * 1e6,
            "overhead_us": overhead * 1e6,
            "ratio_to_one_key": ratio,
        }
    table.notes.append(
        f"median of {len(plain)} interleaved rounds of {n:,} calls, the rotation going on "
        "from round to round; the keys are hostname-like strings; × 1 key: the median "
        f"over rounds of the ratio to '{REFERENCE}'; churn: a partition created and one "
        "evicted on every call"
    )
    result.tables.append(table)
    result.data["timing"] = data

    progress("memory")
    memory = Table(
        f"Memory after {many:,} distinct keys (tracemalloc, a fresh breaker each)",
        ["bound", "partitions kept", "MiB", "bytes/partition kept"],
    )
    result.data["memory"] = {}
    for bound in (DEFAULT, ROOMY):
        used = _memory(many, bound)
        kept = min(many, bound)
        label = f"max_partitions={bound:,}" + (" (default)" if bound == DEFAULT else "")
        memory.add(label, f"{kept:,}", f"{used / 2**20:.2f}", f"{used / kept:,.0f}")
        result.data["memory"][str(bound)] = {"keys": many, "kept": kept, "bytes": used}
    memory.notes.append("the key strings themselves are allocated before tracing starts")
    result.tables.append(memory)

    return result
