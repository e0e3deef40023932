"""Scenario 3: behaviour under faults, against `stalwart.testing.FlakyServer`.

Every contender gets a FlakyServer of its own, with the same faults and the same seed,
so the requests each server counts are that contender's alone. Parts:

- `transient`: 20% of requests answered 503: success rate, upstream attempts per call,
  latency;
- `outage`: every request answered 503: upstream attempts per call and time per call;
- `slow-tail`: 5% of responses 50× slower (0.25 s instead of 5 ms): latency percentiles
  and the extra requests stalwart's hedging client spends to cut them;
- `hang`: an upstream that never answers, under a 1 s budget per call: time per call;
- `retry-after`: each request answered `429` with `Retry-After: 1` once, then 200: how
  long each contender waits before its second attempt.

`transient`, `outage` and `slow-tail` run the contenders in interleaved rounds; `hang`
and `retry-after` are mostly waiting, so their contenders run side by side, each in a
thread of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

import stalwart
from stalwart.testing import Faults, FlakyServer

from ._contenders import KINDS, SyncContender, sync_contender
from ._core import Budget, Result, Size, Table, clock, median, percentile

__all__ = ["PARTS", "run"]

PARTS = ("transient", "outage", "slow-tail", "hang", "retry-after")
SEED = 20240601

BUDGET_OUTAGE = 1.15
BUDGET_HANG = 1.02
BUDGET_HEDGE_P99 = 5.0
BUDGET_HEDGE_EXTRA = 0.10


@dataclass(frozen=True, slots=True)
class Call:
    """One call as the caller saw it."""

    ok: bool
    seconds: float
    outcome: str  # "200", "503", or the exception's type


@dataclass(slots=True)
class Entry:
    """A contender with its own server, and the calls it made."""

    contender: SyncContender
    server: FlakyServer
    calls: list[Call] = field(default_factory=list)
    wall: float = 0.0  # seconds spent making the calls (threads overlapping)
    serials: Iterator[int] = field(default_factory=itertools.count)

    @property
    def name(self) -> str:
        return self.contender.name

    def call(self, _: object = None) -> Call:
        request_id = f"{self.name}-{next(self.serials)}"
        start = clock()
        try:
            response = self.contender.get("/orders/42", {"x-request-id": request_id})
        except Exception as error:
            seconds = clock() - start
            status = getattr(getattr(error, "response", None), "status_code", None)
            outcome = f"{type(error).__name__}" + (f" {status}" if status else "")
            return Call(False, seconds, outcome)
        seconds = clock() - start
        return Call(response.status_code == 200, seconds, str(response.status_code))

    def statistics(self) -> dict[str, Any]:
        calls = self.calls
        latencies = [call.seconds for call in calls]
        received = self.server.statistics().received
        outcomes: dict[str, int] = {}
        for call in calls:
            outcomes[call.outcome] = outcomes.get(call.outcome, 0) + 1
        return {
            "calls": len(calls),
            "succeeded": sum(call.ok for call in calls),
            "success_rate": sum(call.ok for call in calls) / len(calls) if calls else math.nan,
            "upstream_requests": received,
            "attempts_per_call": received / len(calls) if calls else math.nan,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": max(latencies, default=math.nan),
            "wall_seconds": self.wall,
            "outcomes": outcomes,
            "latencies": latencies,
        }


@contextlib.contextmanager
def _stalwart_events() -> Iterator[Counter[str]]:
    """Count the events stalwart emits (by name) inside the block."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def count(event: stalwart.Event) -> None:
        with lock:
            counts[event.name] += 1

    remove = stalwart.add_listener(count)
    try:
        yield counts
    finally:
        remove()


def _events_note(counts: Counter[str]) -> str:
    found = ", ".join(f"{name} ×{count}" for name, count in sorted(counts.items()))
    return f"stalwart's events: {found or 'none'}"


class _Arena:
    """The entries of one part: servers started, clients made, all closed at the end."""

    def __init__(self, faults: Faults, makers: dict[str, Callable[[str], SyncContender]]) -> None:
        self.entries: list[Entry] = []
        try:
            for maker in makers.values():
                server = FlakyServer(faults, seed=SEED, record=0)
                server.start()
                try:
                    contender = maker(server.url)
                except BaseException:
                    server.stop()
                    raise
                self.entries.append(Entry(contender, server))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for entry in self.entries:
            entry.contender.close()
            entry.server.stop()

    def __enter__(self) -> _Arena:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def rounds(
        self, calls: int, *, rounds: int, workers: int, progress: Callable[[str], None]
    ) -> None:
        """`calls` per entry in `rounds` interleaved rounds, `workers` threads each."""
        per_round = max(1, calls // rounds)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for number in range(rounds):
                shift = number % len(self.entries)
                for entry in self.entries[shift:] + self.entries[:shift]:
                    start = clock()
                    if workers == 1:
                        entry.calls.extend(entry.call() for _ in range(per_round))
                    else:
                        entry.calls.extend(pool.map(entry.call, range(per_round)))
                    entry.wall += clock() - start
                progress(f"round {number + 1}/{rounds}")

    def side_by_side(self, calls: int) -> None:
        """Every entry makes `calls` sequential calls, all entries at once."""

        def work(entry: Entry) -> None:
            start = clock()
            entry.calls.extend(entry.call() for _ in range(calls))
            entry.wall = clock() - start

        with ThreadPoolExecutor(max_workers=len(self.entries)) as pool:
            list(pool.map(work, self.entries))


def _ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1e3:,.1f}"


def _makers(**options: Any) -> dict[str, Callable[[str], SyncContender]]:
    return {kind: _maker(kind, **options) for kind in KINDS}


def _maker(kind: str, **options: Any) -> Callable[[str], SyncContender]:
    def make(base_url: str) -> SyncContender:
        return sync_contender(kind, base_url, **options)

    return make


def _outcomes(stats: dict[str, Any]) -> str:
    items = sorted(stats["outcomes"].items(), key=lambda item: -item[1])
    return ", ".join(f"{name} ×{count}" for name, count in items)


# -- the parts ---------------------------------------------------------------------------------


def _transient(size: Size, progress: Callable[[str], None], result: Result) -> None:
    faults = Faults(error_rate=0.2)
    calls = size.pick(40, 300)
    with _stalwart_events() as events, _Arena(faults, _makers()) as arena:
        arena.rounds(calls, rounds=size.pick(2, 5), workers=8, progress=progress)
        stats = {entry.name: entry.statistics() for entry in arena.entries}
    table = Table(
        "Transient errors: 20% of requests answered 503",
        ["contender", "calls", "success", "attempts/call", "p50 ms", "p99 ms", "outcomes"],
        align="lrrrrrl",
    )
    for name, s in stats.items():
        table.add(
            name,
            s["calls"],
            f"{s['success_rate']:.1%}",
            f"{s['attempts_per_call']:.2f}",
            _ms(s["p50"]),
            _ms(s["p99"]),
            _outcomes(s),
        )
    table.notes.append(
        f"{calls} calls per contender, 8 threads, interleaved rounds; attempts/call = "
        "requests the server received ÷ calls"
    )
    table.notes.append(_events_note(events))
    result.tables.append(table)
    result.data["transient"] = {"contenders": stats, "stalwart_events": dict(events)}


def _outage(size: Size, progress: Callable[[str], None], result: Result) -> None:
    faults = Faults(outage=(0.0, math.inf))
    calls = size.pick(32, 160)
    with _stalwart_events() as events, _Arena(faults, _makers()) as arena:
        arena.rounds(calls, rounds=size.pick(2, 4), workers=16, progress=progress)
        stats = {entry.name: entry.statistics() for entry in arena.entries}
    table = Table(
        "Full outage: every request answered 503",
        ["contender", "calls", "attempts/call", "p50 ms/call", "p99 ms/call", "wall s", "outcomes"],
        align="lrrrrrl",
    )
    for name, s in stats.items():
        table.add(
            name,
            s["calls"],
            f"{s['attempts_per_call']:.2f}",
            _ms(s["p50"]),
            _ms(s["p99"]),
            f"{s['wall_seconds']:.2f}",
            _outcomes(s),
        )
    table.notes.append(
        f"{calls} calls per contender from a cold start, 16 threads, interleaved rounds"
    )
    table.notes.append(_events_note(events))
    result.tables.append(table)
    result.data["outage"] = {"contenders": stats, "stalwart_events": dict(events)}
    ratio = stats["stalwart"]["attempts_per_call"]
    result.budgets.append(
        Budget(
            "outage: upstream attempts ÷ calls, stalwart.Client",
            f"≤ {BUDGET_OUTAGE}",
            f"{ratio:.2f} ({calls} calls)",
            ratio <= BUDGET_OUTAGE,
            ratio,
        )
    )


def _slow_tail(size: Size, progress: Callable[[str], None], result: Result) -> None:
    faults = Faults(latency=0.005, slow_tail_ratio=0.05, slow_tail_latency=0.25)
    makers = {
        "httpx": _maker("httpx"),
        "stalwart": _maker("stalwart"),
        "stalwart, hedge=True": _maker("stalwart", hedge=True, name="stalwart, hedge=True"),
    }
    calls = size.pick(60, 400)
    warmup = size.pick(20, 50)
    with _stalwart_events() as events, _Arena(faults, makers) as arena:
        for entry in arena.entries:  # the hedge learns its delay (p95) from 20 latencies
            for _ in range(warmup):
                entry.call()
            entry.server.reset_counters()
        events.clear()
        arena.rounds(calls, rounds=size.pick(2, 4), workers=1, progress=progress)
        stats = {entry.name: entry.statistics() for entry in arena.entries}
    table = Table(
        "Slow tail: 5% of responses take 0.25 s instead of 5 ms (50×)",
        ["contender", "calls", "p50 ms", "p95 ms", "p99 ms", "max ms", "extra requests"],
    )
    for name, s in stats.items():
        table.add(
            name,
            s["calls"],
            _ms(s["p50"]),
            _ms(s["p95"]),
            _ms(s["p99"]),
            _ms(s["max"]),
            f"{s['attempts_per_call'] - 1:+.1%}",
        )
    table.notes.append(
        f"{calls} sequential calls per contender after {warmup} unmeasured ones, "
        "interleaved rounds; extra requests = requests received ÷ calls − 1"
    )
    table.notes.append(_events_note(events))
    result.tables.append(table)
    result.data["slow_tail"] = {"contenders": stats, "stalwart_events": dict(events)}
    plain, hedged = stats["httpx"], stats["stalwart, hedge=True"]
    drop = plain["p99"] / hedged["p99"] if hedged["p99"] > 0 else math.nan
    extra = hedged["attempts_per_call"] - 1
    result.budgets.append(
        Budget(
            "hedging: p99 of stalwart.Client(hedge=True) vs plain httpx",
            f"≥ {BUDGET_HEDGE_P99:g}× lower",
            f"{drop:.1f}× ({_ms(plain['p99'])} → {_ms(hedged['p99'])} ms)",
            drop >= BUDGET_HEDGE_P99,
            drop,
        )
    )
    result.budgets.append(
        Budget(
            "hedging: extra upstream requests",
            f"≤ {BUDGET_HEDGE_EXTRA:.0%}",
            f"{extra:+.1%}",
            extra <= BUDGET_HEDGE_EXTRA + 1e-9,  # 6 hedges in 60 calls is 10%, not more
            extra,
        )
    )


def _hang(size: Size, progress: Callable[[str], None], result: Result) -> None:
    faults = Faults(hang_rate=1.0)
    calls = size.pick(1, 3)
    progress(f"{calls} call(s) per contender, side by side")
    with _stalwart_events() as events, _Arena(faults, _makers(total=1.0)) as arena:
        arena.side_by_side(calls)
        stats = {entry.name: entry.statistics() for entry in arena.entries}
    table = Table(
        "Hanging upstream (never answers), 1 s budget per call",
        ["contender", "calls", "median s/call", "max s/call", "attempts/call", "outcomes"],
        align="lrrrrl",
    )
    for name, s in stats.items():
        table.add(
            name,
            s["calls"],
            f"{median(s['latencies']):.3f}",
            f"{s['max']:.3f}",
            f"{s['attempts_per_call']:.2f}",
            _outcomes(s),
        )
    table.notes.append(
        "stalwart: `with stalwart.deadline(1.0)`; the others: httpx.Timeout(1.0) plus "
        "their own total limit (tenacity stop_after_delay(1), stamina timeout=1, "
        "httpx-retries total_timeout=1, which bounds only its sleeps)"
    )
    table.notes.append(_events_note(events))
    result.tables.append(table)
    result.data["hang"] = {"contenders": stats, "stalwart_events": dict(events)}
    worst = stats["stalwart"]["max"]
    result.budgets.append(
        Budget(
            "hang: stalwart call under deadline(1.0), slowest call",
            f"≤ {BUDGET_HANG} s",
            f"{worst:.3f} s",
            worst <= BUDGET_HANG,
            worst,
        )
    )


class _Recording(httpx.BaseTransport):
    """The innermost transport, noting when each attempt started and got its answer."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lock = threading.Lock()
        self.attempts: dict[str, list[tuple[float, float, int | None]]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request_id = request.headers.get("x-request-id", "")
        start = clock()
        status: int | None = None
        try:
            response = self.inner.handle_request(request)
            status = response.status_code
            return response
        finally:
            with self.lock:
                self.attempts.setdefault(request_id, []).append((start, clock(), status))

    def close(self) -> None:
        self.inner.close()

    def gaps(self) -> list[float]:
        """Seconds between the end of each request's first attempt and its second."""
        with self.lock:
            found = list(self.attempts.values())
        return [attempts[1][0] - attempts[0][1] for attempts in found if len(attempts) > 1]


def _retry_after(size: Size, progress: Callable[[str], None], result: Result) -> None:
    faults = Faults(fail_first=1, error_status=429, retry_after="1")
    calls = size.pick(1, 3)
    recorders: dict[str, _Recording] = {}

    def recorded(kind: str) -> Callable[[str], SyncContender]:
        def make(base_url: str) -> SyncContender:
            recorder = recorders[kind] = _Recording()
            return sync_contender(kind, base_url, transport=lambda: recorder)

        return make

    progress(f"{calls} call(s) per contender, side by side")
    with (
        _stalwart_events() as events,
        _Arena(faults, {kind: recorded(kind) for kind in KINDS}) as arena,
    ):
        arena.side_by_side(calls)
        stats = {entry.name: entry.statistics() for entry in arena.entries}
    table = Table(
        "429 with Retry-After: 1 on each request's first attempt",
        ["contender", "calls", "success", "attempts/call", "wait after the 429", "honoured"],
    )
    for name, s in stats.items():
        gaps = recorders[name].gaps()
        s["gaps"] = gaps
        wait = median(gaps) if gaps else math.nan
        if not gaps:
            verdict = "no retry"
        elif min(gaps) >= 0.95:
            verdict = "yes"
        else:
            verdict = "no"
        table.add(
            name,
            s["calls"],
            f"{s['success_rate']:.0%}",
            f"{s['attempts_per_call']:.2f}",
            "—" if math.isnan(wait) else f"{wait:.3f} s",
            verdict,
        )
    table.notes.append(
        "the wait is measured at the innermost transport: from the 429's arrival to the "
        "start of the second attempt (median over calls)"
    )
    table.notes.append(_events_note(events))
    result.tables.append(table)
    result.data["retry_after"] = {"contenders": stats, "stalwart_events": dict(events)}


_RUNNERS: dict[str, Callable[[Size, Callable[[str], None], Result], None]] = {
    "transient": _transient,
    "outage": _outage,
    "slow-tail": _slow_tail,
    "hang": _hang,
    "retry-after": _retry_after,
}


def _prefixed(progress: Callable[[str], None], part: str) -> Callable[[str], None]:
    def report(message: str) -> None:
        progress(f"{part}: {message}")

    return report


def run(size: Size, progress: Callable[[str], None], parts: frozenset[str] = frozenset()) -> Result:
    result = Result("faults", "Behaviour under faults (FlakyServer, same process)")
    for part in PARTS:
        if parts and part not in parts:
            continue
        progress(part)
        began = clock()
        _RUNNERS[part](size, _prefixed(progress, part), result)
        result.data.setdefault("seconds", {})[part] = clock() - began
    return result
