"""The machine a run happened on, and the run's tables as text, Markdown and JSON."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ._core import Budget, Result, Table

__all__ = [
    "PACKAGES",
    "budget_table",
    "environment",
    "load_average",
    "markdown",
    "render",
    "speed_reference",
    "update_docs",
    "write_json",
]

#: The packages whose versions every run records.
PACKAGES = (
    "stalwart",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "tenacity",
    "stamina",
    "backoff",
    "httpx-retries",
)

#: The block of docs/benchmarks.md that `--update-docs` rewrites.
DOCS_START = "<!-- benchmark results: start (written by python -m benchmarks --update-docs) -->"
DOCS_END = "<!-- benchmark results: end -->"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.machine()


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def speed_reference() -> float:
    """Microseconds `sum(range(1000))` takes here now (the median of 31 runs): how fast
    this machine was during a run, to read absolute numbers against (the FlakyServer
    docs quote 23 µs for the 2-core VM the budgets were written on)."""
    runs = []
    for _ in range(31):
        start = time.perf_counter()
        for _ in range(100):
            sum(range(1000))
        runs.append((time.perf_counter() - start) / 100 * 1e6)
    return round(statistics.median(runs), 2)


def environment() -> dict[str, Any]:
    """Where and when: date, Python, CPU, cores, load and package versions."""
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average_at_start": load_average(),
        "speed_reference_us_at_start": speed_reference(),
        "packages": _versions(),
    }


# -- text --------------------------------------------------------------------------------------


def _widths(table: Table) -> list[int]:
    widths = [len(column) for column in table.columns]
    for row in table.rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    return widths


def _line(cells: Sequence[str], widths: Sequence[int], align: str) -> str:
    parts = [
        cell.ljust(width) if how == "l" else cell.rjust(width)
        for cell, width, how in zip(cells, widths, align, strict=True)
    ]
    return "  ".join(parts).rstrip()


def render_table(table: Table) -> str:
    widths = _widths(table)
    align = table.alignment()
    lines = [table.title, _line(table.columns, widths, align)]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(_line(row, widths, align) for row in table.rows)
    lines.extend(f"  {note}" for note in table.notes)
    return "\n".join(lines)


def budget_table(budgets: Sequence[Budget], *, markdown: bool = False) -> Table:
    table = Table(
        "Budgets (DESIGN.md, 'Performance budgets')", ["budget", "target", "measured", "verdict"]
    )
    table.align = "llrl"
    for budget in budgets:
        verdict = budget.verdict
        if markdown and budget.met is False:
            verdict = f"**{verdict}**"
        table.add(budget.name, budget.target, budget.measured, verdict)
    return table


def render(env: dict[str, Any], results: Sequence[Result], budgets: Sequence[Budget]) -> str:
    """Every table of the run, as aligned plain text."""
    out = [
        f"stalwart benchmarks — {env['date']} — Python {env['python']} — "
        f"{env['cpu']}, {env['cores']} cores — load {env['load_average_at_start']} — "
        f"sum(range(1000)) in {env['speed_reference_us_at_start']} µs at the start, "
        f"{env.get('speed_reference_us_at_end', '?')} µs at the end"
    ]
    for result in results:
        out.append("")
        out.append(f"== {result.title} ({result.seconds:.1f} s) ==")
        for table in result.tables:
            out.append("")
            out.append(render_table(table))
    if budgets:
        out.append("")
        out.append(render_table(budget_table(budgets)))
    return "\n".join(out)


# -- Markdown ----------------------------------------------------------------------------------


def _md_table(table: Table) -> str:
    align = table.alignment()
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---:" if how == "r" else "---" for how in align) + "|")
    lines.extend(
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows
    )
    if table.notes:
        lines.append("")
        lines.extend(f"_{note}_  " for note in table.notes)
    return "\n".join(lines)


def markdown(env: dict[str, Any], results: Sequence[Result], budgets: Sequence[Budget]) -> str:
    """The run as Markdown: the machine, the budgets, then every scenario's tables."""
    packages = ", ".join(
        f"{name} {version}" for name, version in env["packages"].items() if version
    )
    out = [
        f"Run of {env['date']}: Python {env['python']} on {env['cpu']} "
        f"({env['cores']} cores, load average {env['load_average_at_start']} at the start; "
        f"`sum(range(1000))` took {env['speed_reference_us_at_start']} µs at the start and "
        f"{env.get('speed_reference_us_at_end', '?')} µs at the end); {packages}.",
    ]
    if budgets:
        out += ["", _md_table(budget_table(budgets, markdown=True))]
    for result in results:
        out += ["", f"### {result.title}"]
        for table in result.tables:
            out += ["", _md_table(table)]
    return "\n".join(out)


def update_docs(path: Path, text: str) -> None:
    """Replace the results block of `path` (between its markers) with `text`."""
    document = path.read_text()
    start = document.find(DOCS_START)
    end = document.find(DOCS_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path} has no results block ({DOCS_START!r} … {DOCS_END!r})")
    head = document[: start + len(DOCS_START)]
    path.write_text(f"{head}\n\n{text}\n\n{document[end:]}")


# -- JSON --------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def write_json(
    path: Path,
    env: dict[str, Any],
    arguments: dict[str, Any],
    results: Sequence[Result],
    budgets: Sequence[Budget],
) -> None:
    document = {
        "environment": env,
        "arguments": arguments,
        "budgets": [budget.as_dict() for budget in budgets],
        "scenarios": {
            result.name: {
                "title": result.title,
                "seconds": result.seconds,
                "tables": [table.as_dict() for table in result.tables],
                "budgets": [budget.as_dict() for budget in result.budgets],
                "data": result.data,
            }
            for result in results
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(document), indent=1, ensure_ascii=False) + "\n")
