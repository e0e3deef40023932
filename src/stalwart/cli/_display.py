"""How `stalwart demo` shows itself: a live table on a terminal, plain lines otherwise,
a summary table with one sentence per scenario, or JSON."""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import textwrap
import threading
from collections.abc import Sequence
from typing import Any, Final, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

import stalwart

from ._common import format_seconds
from ._demo import GRACE, PATIENCE, Progress, Settings
from ._metrics import ClientResult, Metrics
from ._scenarios import DEADLINE, NAIVE_TIMEOUT, Outcome, Scenario

__all__ = ["LiveView", "PlainView", "QuietView", "json_report", "print_summary"]

_BARS: Final = "▁▂▃▄▅▆▇█"
#: Characters of the upstream load sparkline: one per slice of the scenario.
_SPARK: Final = 16
#: Below this many characters the sparkline is left out.
_MIN_SPARK: Final = 6
#: Columns the numbers of the live table take (at most), borders included.
_NUMBERS_WIDTH: Final = 78
_CLIENT_STYLE: Final = {"naive": "yellow", "stalwart": "cyan"}


def _served(metrics: Metrics) -> str:
    rate = metrics.success_rate
    return "-" if rate is None else f"{rate:.0%}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def _short(seconds: float | None) -> str:
    """A latency in a narrow cell: `695µs`, `12ms`, `2.00s`."""
    return format_seconds(seconds).replace(" ", "")


def _settings_line(duration: float, settings: Settings) -> str:
    return (
        f"{duration:g} s · {settings.rate:g} calls/s to each client over "
        f"{settings.concurrency} workers · stalwart deadline {DEADLINE:g} s · "
        f"seed {settings.seed}"
    )


def _count_at(samples: Sequence[tuple[float, int]], moment: float) -> float:
    """The upstream request count at `moment`, interpolated between samples."""
    before = (0.0, 0)
    for sample in samples:
        if sample[0] >= moment:
            when, count = sample
            if when <= before[0]:
                return float(count)
            share = (moment - before[0]) / (when - before[0])
            return before[1] + share * (count - before[1])
        before = sample
    return float(before[1])


def _rates(
    samples: Sequence[tuple[float, int]], duration: float, until: float, slices: int = _SPARK
) -> list[float]:
    """Upstream requests per second in each of `slices` equal slices of the scenario, up
    to `until` (the slices not reached yet are left out)."""
    width = duration / slices
    edges = [width * index for index in range(slices + 1) if width * index <= until + 1e-6]
    counts = [_count_at(samples, edge) for edge in edges]
    return [(b - a) / width for a, b in itertools.pairwise(counts)]


def sparkline(rates: Sequence[float], top: float) -> str:
    """One character per value, from ▁ to █ relative to `top`."""
    if top <= 0:
        return _BARS[0] * len(rates)
    last = len(_BARS) - 1
    return "".join(_BARS[min(last, round(rate / top * last))] for rate in rates)


# -- the live view (a terminal) -----------------------------------------------------------------


class LiveView:
    """A rich Live table per scenario, refreshed a few times per second, left on the
    screen when the scenario ends, followed by its verdict."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._lock = threading.Lock()

    def begin(self, scenario: Scenario, duration: float, settings: Settings) -> None:
        console = self._console
        console.print()
        console.rule(f"[bold]{scenario.name}[/]  [dim]{_settings_line(duration, settings)}[/]")
        console.print(scenario.describe(duration, settings.rate), highlight=False)
        console.print(f"[dim]Watch:[/] {scenario.watch}.", highlight=False)
        self._progress = None
        self._live = Live(
            get_renderable=self._render,
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        self._live.start()

    def update(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress

    def end(self, scenario: Scenario, outcome: Outcome) -> None:
        self.close()
        self._console.print(Text(scenario.verdict(outcome), style="bold"))

    def close(self) -> None:
        """Stop the animation (the last frame stays); also on Ctrl-C."""
        live, self._live = self._live, None
        if live is not None:
            live.refresh()
            live.stop()

    def _render(self) -> RenderableType:
        with self._lock:
            progress = self._progress
        if progress is None:
            return Text("starting…", style="dim")
        return live_table(progress, self._console.width)


def live_table(progress: Progress, width: int = 120) -> RenderableType:
    """The scenario's state: elapsed time and upstream state, then one row per client
    (with a load sparkline as wide as `width` columns leave room for)."""
    scenario = progress.scenario
    bar = 30
    done = round(bar * progress.elapsed / progress.duration) if progress.duration else bar
    status = Text.assemble(
        ("━" * done, "green"),
        ("━" * (bar - done), "grey37"),
        f" {progress.elapsed:4.1f} / {progress.duration:g} s",
    )
    if scenario.down is not None:
        start, end = scenario.down(progress.duration)
        down = start <= progress.elapsed < end
        status.append("   upstream ")
        status.append("DOWN" if down else "up", style="bold red" if down else "green")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("client", no_wrap=True)
    for name in ("busy", "calls", "drop", "served", "upstream", "×calls", "p50", "p95", "p99"):
        table.add_column(name, justify="right", no_wrap=True)
    # The numbers take about _NUMBERS_WIDTH columns; the sparkline gets what is left.
    slices = min(_SPARK, width - _NUMBERS_WIDTH)
    spark = slices >= _MIN_SPARK
    if spark:
        table.add_column("load", no_wrap=True, min_width=slices)
    rates = {
        label: _rates(samples, progress.duration, progress.elapsed, max(slices, 1))
        for label, samples in progress.load.items()
    }
    top = max((max(r, default=0.0) for r in rates.values()), default=0.0)
    for label, metrics in (("naive", progress.naive), ("stalwart", progress.stalwart)):
        cells: list[RenderableType] = [
            Text(label, style=_CLIENT_STYLE[label]),
            f"{metrics.running}/{progress.workers}",
            str(metrics.calls),
            str(metrics.dropped),
            _served(metrics),
            str(metrics.upstream_attempts),
            _times(metrics.amplification),
            _short(metrics.p50),
            _short(metrics.p95),
            _short(metrics.p99),
        ]
        if spark:
            cells.append(Text(sparkline(rates[label], top), style=_CLIENT_STYLE[label]))
        table.add_row(*cells)
    breaker_style = "green" if progress.breaker == "closed" else "bold red"
    state = Text.assemble(
        ("stalwart", _CLIENT_STYLE["stalwart"]),
        f" → {progress.origin}: breaker ",
        (progress.breaker, breaker_style),
        f" · retry budget {progress.budget} left",
    )
    return Group(status, table, state)


# -- plain lines (not a terminal) -----------------------------------------------------------------


class PlainView:
    """A progress line about once per second, no animation: for logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._next = 1.0

    def _print(self, line: str) -> None:
        print(line, file=self._stream, flush=True)

    def begin(self, scenario: Scenario, duration: float, settings: Settings) -> None:
        self._next = 1.0
        self._print(f"\n== {scenario.name}: {_settings_line(duration, settings)}")
        self._print(f"   {scenario.describe(duration, settings.rate)}")
        self._print(f"   Watch: {scenario.watch}.")

    def update(self, progress: Progress) -> None:
        if progress.final:
            self._print(plain_line(progress))
        elif self._next <= progress.elapsed + 1e-6 < progress.duration:
            self._next = math.floor(progress.elapsed + 1e-6) + 1.0
            self._print(plain_line(progress))

    def end(self, scenario: Scenario, outcome: Outcome) -> None:
        self._print(f"   {scenario.verdict(outcome)}")

    def close(self) -> None:
        """Nothing to stop."""


def plain_line(progress: Progress) -> str:
    """One progress line: each client's calls, service and load so far."""

    def client(label: str, metrics: Metrics) -> str:
        busy = "" if progress.final else f" ({metrics.running}/{progress.workers} busy)"
        return (
            f"{label}{busy} {metrics.calls} calls, {_served(metrics)} served, "
            f"{_times(metrics.amplification)} upstream, p99 {format_seconds(metrics.p99)}"
        )

    down = ""
    if progress.scenario.down is not None:
        start, end = progress.scenario.down(progress.duration)
        down = " upstream DOWN" if start <= progress.elapsed < end else " upstream up"
    when = "end" if progress.final else f"{progress.elapsed:4.1f}/{progress.duration:g} s"
    return (
        f"   [{when}{down}] "
        f"{client('naive', progress.naive)} | {client('stalwart', progress.stalwart)}, "
        f"breaker {progress.breaker}, budget {progress.budget}"
    )


class QuietView:
    """Nothing on stdout (it carries the JSON); one line per scenario on stderr when
    that is a terminal, so a long run does not look stuck."""

    def __init__(self) -> None:
        self._stream = sys.stderr

    def begin(self, scenario: Scenario, duration: float, settings: Settings) -> None:
        if self._stream.isatty():
            print(f"stalwart demo: {scenario.name} ({duration:g} s)…", file=self._stream)

    def update(self, progress: Progress) -> None:
        """Nothing: the JSON comes at the end."""

    def end(self, scenario: Scenario, outcome: Outcome) -> None:
        """Nothing: the JSON comes at the end."""

    def close(self) -> None:
        """Nothing to stop."""


# -- the end ------------------------------------------------------------------------------------


def summary_table(results: Sequence[tuple[Scenario, Outcome]]) -> Table:
    """One row per scenario and client: served, load, latency percentiles, wall time."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title="Summary")
    table.add_column("scenario")
    table.add_column("client")
    for name in ("served", "upstream", "p50", "p95", "p99", "wall"):
        table.add_column(name, justify="right")
    for index, (scenario, outcome) in enumerate(results):
        for result in (outcome.naive, outcome.stalwart):
            metrics = result.metrics
            table.add_row(
                scenario.name if result is outcome.naive else "",
                Text(result.label, style=_CLIENT_STYLE[result.label]),
                _served(metrics),
                _times(metrics.amplification),
                format_seconds(metrics.p50),
                format_seconds(metrics.p95),
                format_seconds(metrics.p99),
                f"{result.wall_time:.1f} s",
                end_section=index < len(results) - 1 and result is outcome.stalwart,
            )
    return table


def _print(console: Console, renderable: RenderableType) -> None:
    """Print; on a pipe or file, without the trailing spaces rich pads lines with."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    console.file.write("\n".join(lines) + "\n")


def _paragraph(console: Console, text: str, bullet: str = "") -> None:
    indent = " " * len(bullet)
    wrapped = textwrap.fill(
        text, width=max(40, console.width - 1), initial_indent=bullet, subsequent_indent=indent
    )
    console.print(wrapped, soft_wrap=True, highlight=False, markup=False)


def print_summary(console: Console, results: Sequence[tuple[Scenario, Outcome]]) -> None:
    """The summary table, a legend, and one sentence per scenario."""
    console.print()
    _print(console, summary_table(results))
    _paragraph(
        console,
        "served: successful calls ÷ arrivals (both clients get the same arrivals); "
        "upstream: requests the upstream received ÷ calls made; p50/p95/p99: call latency; "
        f"wall: until the client's last call ended (calls still running {GRACE:g} s after "
        "the end are cut).",
    )
    console.print()
    for scenario, outcome in results:
        _paragraph(console, scenario.verdict(outcome), bullet="• ")


def _metrics_json(result: ClientResult) -> dict[str, Any]:
    metrics = result.metrics
    return {
        "calls": metrics.calls,
        "arrivals": metrics.arrivals,
        "dropped": metrics.dropped,
        "successes": metrics.successes,
        "success_rate": metrics.success_rate,
        "upstream_attempts": metrics.upstream_attempts,
        "amplification": metrics.amplification,
        "p50": metrics.p50,
        "p95": metrics.p95,
        "p99": metrics.p99,
        "wall_time": result.wall_time,
        "failures": metrics.failures,
        "upstream_statuses": {str(status): n for status, n in sorted(result.by_status.items())},
    }


def json_report(settings: Settings, results: Sequence[tuple[Scenario, Outcome]]) -> dict[str, Any]:
    """The machine-readable results: per scenario its parameters and each client's
    metrics (latencies in seconds; rates and ratios as fractions, null when undefined)."""
    scenarios: dict[str, Any] = {}
    for scenario, outcome in results:
        faults = scenario.faults(outcome.duration)
        events = outcome.events
        scenarios[scenario.name] = {
            "parameters": {
                "duration": outcome.duration,
                "description": scenario.describe(outcome.duration, settings.rate),
                "faults": {
                    field.name: getattr(faults, field.name) for field in dataclasses.fields(faults)
                },
                "rate_limit": scenario.limit(settings.rate),
                "hedge": scenario.hedge,
            },
            "clients": {
                "naive": _metrics_json(outcome.naive),
                "stalwart": _metrics_json(outcome.stalwart),
            },
            "stalwart_events": {
                "retries": events.retries,
                "retry_after_waits": events.hinted_retries,
                "budget_refusals": events.budget_refusals,
                "hedges": events.hedges,
                "breaker": [{"at": when, "state": state} for when, state in events.transitions()],
            },
            "verdict": scenario.verdict(outcome),
        }
    return {
        "stalwart_version": stalwart.__version__,
        "settings": {
            "concurrency": settings.concurrency,
            "rate": settings.rate,
            "seed": settings.seed,
            "deadline": DEADLINE,
            "naive_timeout": NAIVE_TIMEOUT,
            "patience": PATIENCE,
        },
        "scenarios": scenarios,
    }
