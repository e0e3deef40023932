"""A rolling window of counters, in time buckets: the memory behind rates and ratios."""

from __future__ import annotations

import math
from typing import final

from .._validation import check_int, check_number

__all__ = ["RollingWindow"]


@final
class RollingWindow:
    """Counts over the last `length` seconds, kept in `buckets` equal time buckets.

    Each bucket holds `fields` counters. A count added at time t lands in the bucket of
    t; buckets older than the window are dropped as time moves on, so totals cover
    between `length − length/buckets` and `length` seconds of history (the usual
    granularity trade-off of Polly and resilience4j). Not thread-safe by itself: the
    state object that owns it holds the lock. Time comes in as an argument, never from
    a clock.
    """

    __slots__ = ("_counts", "_head", "_head_ends", "_span", "buckets", "fields", "length")

    def __init__(self, *, length: float, buckets: int, fields: int) -> None:
        self.length = check_number("window", length, above=0)
        check_int("buckets", buckets, minimum=1)
        self.buckets = buckets
        self.fields = fields
        self._span = self.length / buckets
        # _counts[i] is the bucket whose index (time // span) is _head - i.
        self._counts: list[list[float]] = [[0.0] * fields for _ in range(buckets)]
        self._head: int | None = None
        #: when the newest bucket ends: until then a count needs no bucket arithmetic
        self._head_ends = -math.inf

    def __repr__(self) -> str:
        return f"<RollingWindow {self.length:g} s in {self.buckets} buckets: {self.totals_now()}>"

    def _advance(self, now: float) -> None:
        if now < self._head_ends:
            return  # the newest bucket, or a clock that stepped back: count in the newest
        index = math.floor(now / self._span)
        head = self._head
        if head is None:
            self._head = index
            self._head_ends = (index + 1) * self._span
            return
        steps = index - head
        if steps <= 0:
            return  # same bucket, or a clock that stepped back: count in the newest
        counts = self._counts
        if steps >= self.buckets:
            for bucket in counts:
                for i in range(self.fields):
                    bucket[i] = 0.0
        else:
            for _ in range(steps):
                oldest = counts.pop()
                for i in range(self.fields):
                    oldest[i] = 0.0
                counts.insert(0, oldest)
        self._head = index
        self._head_ends = (index + 1) * self._span

    def add(self, now: float, field: int, amount: float = 1.0) -> None:
        """Add `amount` to counter `field` at time `now`."""
        if now >= self._head_ends:
            self._advance(now)
        self._counts[0][field] += amount

    def totals(self, now: float) -> list[float]:
        """The sum of each counter over the window ending at `now`."""
        self._advance(now)
        return [sum(bucket[i] for bucket in self._counts) for i in range(self.fields)]

    def totals_now(self) -> list[float]:
        """The sums as they stand, without moving time (for reprs and snapshots)."""
        return [sum(bucket[i] for bucket in self._counts) for i in range(self.fields)]

    def clear(self) -> None:
        """Forget every count."""
        for bucket in self._counts:
            for i in range(self.fields):
                bucket[i] = 0.0
