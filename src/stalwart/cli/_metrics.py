"""What the demo measures: every call of one client, and the summary of them."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CallRecord", "Metrics", "Tally", "percentile"]

#: The failure recorded for a call still running when its scenario was cut.
UNFINISHED = "unfinished"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call: when it started (seconds into the scenario), how long it took, and its
    failure (`None` for a success: a 2xx answer)."""

    start: float
    latency: float
    failure: str | None

    @property
    def ok(self) -> bool:
        return self.failure is None


def percentile(sorted_values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """One client over one scenario (or so far).

    `calls` are the calls made; `dropped` the arrivals that found every worker busy for
    too long and were never made. Both clients get the same arrivals, so the success
    rate is over arrivals: a client that ties its workers up serves fewer of them.
    Amplification is over the calls made: upstream requests per call.
    """

    calls: int
    dropped: int
    successes: int
    #: Calls running at the moment of the snapshot (workers busy).
    running: int
    upstream_attempts: int
    p50: float | None
    p95: float | None
    p99: float | None
    failure_p50: float | None
    failures: dict[str, int]

    @property
    def arrivals(self) -> int:
        """Calls asked of the client: made or dropped."""
        return self.calls + self.dropped

    @property
    def success_rate(self) -> float | None:
        """Successes ÷ arrivals ("served"); None before any arrival."""
        return self.successes / self.arrivals if self.arrivals else None

    @property
    def amplification(self) -> float | None:
        """Upstream requests ÷ calls made; None before any call."""
        return self.upstream_attempts / self.calls if self.calls else None


class Tally:
    """The calls of one client's workers, thread-safe; `close()` ends the count, and
    turns calls still running into failed "unfinished" ones (they took at least that
    long), so a hung call is not silently left out of the numbers."""

    __slots__ = ("_closed", "_dropped", "_in_flight", "_lock", "_records")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._dropped = 0
        self._in_flight: dict[int, float] = {}
        self._closed = False

    def begin(self, worker: int, start: float) -> None:
        """`worker` starts a call (`start`: seconds into the scenario)."""
        with self._lock:
            self._in_flight[worker] = start

    def end(self, worker: int, record: CallRecord) -> None:
        """`worker`'s call ended; ignored once the tally is closed."""
        with self._lock:
            if self._in_flight.pop(worker, None) is not None and not self._closed:
                self._records.append(record)

    def drop(self) -> None:
        """An arrival waited too long for a worker."""
        with self._lock:
            if not self._closed:
                self._dropped += 1

    def close(self, now: float) -> None:
        """Stop counting at `now` (seconds into the scenario)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for start in self._in_flight.values():
                self._records.append(CallRecord(start, now - start, UNFINISHED))
            self._in_flight.clear()

    def records(self) -> list[CallRecord]:
        """Every call counted so far."""
        with self._lock:
            return list(self._records)

    def metrics(self, upstream_attempts: int, *, waiting: int = 0) -> Metrics:
        """The numbers so far; `waiting` arrivals no worker took count as dropped."""
        with self._lock:
            records = list(self._records)
            dropped = self._dropped + waiting
            running = len(self._in_flight)
        latencies = sorted(record.latency for record in records)
        failed = sorted(
            record.latency for record in records if record.failure not in (None, UNFINISHED)
        )
        failures = Counter(record.failure for record in records if record.failure is not None)
        return Metrics(
            calls=len(records),
            dropped=dropped,
            successes=sum(record.ok for record in records),
            running=running,
            upstream_attempts=upstream_attempts,
            p50=percentile(latencies, 50),
            p95=percentile(latencies, 95),
            p99=percentile(latencies, 99),
            failure_p50=percentile(failed, 50),
            failures=dict(failures.most_common()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientResult:
    """One client's run of one scenario.

    `load` holds `(seconds into the scenario, upstream requests so far)` samples taken a
    few times per second; `by_status` is what its upstream answered, by status code.
    """

    label: str
    metrics: Metrics
    wall_time: float
    records: list[CallRecord]
    load: list[tuple[float, int]]
    by_status: dict[int, int]

    def upstream_between(self, start: float, end: float) -> int:
        """Upstream requests received between two moments, from the nearest samples."""
        return _sample_at(self.load, end) - _sample_at(self.load, start)

    def calls_between(self, start: float, end: float) -> list[CallRecord]:
        """The calls started between two moments."""
        return [record for record in self.records if start <= record.start < end]


def _sample_at(samples: Sequence[tuple[float, int]], moment: float) -> int:
    best = 0
    for when, count in samples:
        if when > moment:
            break
        best = count
    return best


@dataclass(slots=True)
class StalwartEvents:
    """What the stalwart client's strategies reported during a scenario (events are
    process-wide; only the stalwart client emits any)."""

    retries: int = 0
    hinted_retries: int = 0
    budget_refusals: int = 0
    hedges: int = 0
    #: (seconds into the scenario, "open" | "half-open" | "closed")
    breaker: list[tuple[float, str]] | None = None

    def transitions(self) -> list[tuple[float, str]]:
        """The breaker's states, in order, with when they began."""
        return [] if self.breaker is None else list(self.breaker)

    def first(self, state: str, after: float = 0.0) -> float | None:
        """When the breaker first entered `state` at or after `after`, or None."""
        for when, entered in self.transitions():
            if entered == state and when >= after:
                return when
        return None
