"""What every scenario shares: sizes, results, tables, budgets, statistics and rounds."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Budget",
    "Result",
    "Size",
    "Table",
    "calibrate",
    "interleaved",
    "median",
    "paired_ratio",
    "percentile",
    "ratio_text",
    "us",
]


@dataclass(frozen=True, slots=True)
class Size:
    """How big a run is: `--quick` (CI: every scenario, small) or full."""

    quick: bool

    def pick(self, quick: Any, full: Any) -> Any:
        """`quick` in a quick run, `full` otherwise."""
        return quick if self.quick else full


@dataclass(slots=True)
class Table:
    """A table as printed: a title, column headers, rows of text, and notes under it.

    `align` has one letter per column, "l" or "r" (default: the first column left, the
    others right).
    """

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    align: str | None = None

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.columns) - 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class Budget:
    """One performance budget of DESIGN.md, checked against a measurement.

    `met` is None when the run could not judge it (e.g. a contender crashed).
    """

    name: str
    target: str
    measured: str
    met: bool | None
    value: float | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "n/a"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "measured": self.measured,
            "value": self.value,
            "verdict": self.verdict,
        }


@dataclass(slots=True)
class Result:
    """What one scenario hands back: its tables, budgets and raw numbers (for the JSON)."""

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


# -- statistics ------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    found = [value for value in values if not math.isnan(value)]
    return statistics.median(found) if found else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) with linear interpolation (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def paired_ratio(samples: Sequence[float], baseline: Sequence[float]) -> float:
    """The median over rounds of `sample / baseline` measured in the same round: rounds
    are interleaved, so a slow moment of the machine cancels out of each pair."""
    return median(a / b for a, b in zip(samples, baseline, strict=True) if b > 0)


def us(seconds: float, digits: int = 2) -> str:
    """Seconds as microseconds, for tables."""
    return "—" if math.isnan(seconds) else f"{seconds * 1e6:,.{digits}f}"


def ratio_text(value: float, digits: int = 2) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}×"


# -- interleaved rounds ----------------------------------------------------------------------

#: A contender under timing: runs its workload `n` times and returns the seconds it took.
Timed = Callable[[int], float]


def calibrate(run: Timed, *, target: float, low: int, high: int) -> int:
    """Iterations of `run` that take about `target` seconds, clamped to [low, high]."""
    n = max(low // 10, 100)
    while True:
        elapsed = run(n)
        if elapsed >= target / 5 or n >= high:
            break
        n *= 4
    per_call = elapsed / n
    wanted = int(target / per_call) if per_call > 0 else high
    return max(low, min(high, wanted))


def interleaved(
    contenders: dict[str, Timed],
    *,
    rounds: int,
    iterations: dict[str, int],
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per iteration of every contender, one sample per round.

    Each round runs every contender once, in an order rotated by one each round so none
    is always first; the garbage collector is run (not disabled) before each sample, so
    every contender starts from a clean heap and pays for its own garbage. (With a large
    live heap, `gc.freeze()` it first, or each collection takes longer than a sample.)
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            n = iterations[name]
            samples[name].append(contenders[name](n) / n)
        if progress is not None:
            progress(f"round {number + 1}/{rounds}")
    return samples


def clock() -> float:
    """The benchmarks' clock (`time.perf_counter`)."""
    return time.perf_counter()
