"""`stalwart demo`: a naive client and a stalwart client against the same faults."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from rich.console import Console

from stalwart.cli._demo import PATIENCE, Progress, Settings, _Arrivals, _excess, run_demo
from stalwart.cli._display import LiveView, _rates, live_table, sparkline
from stalwart.cli._metrics import CallRecord, Tally, percentile
from stalwart.cli._scenarios import SCENARIOS

from .conftest import Main, run_stalwart

CLIENT_FIELDS = {
    "calls",
    "successes",
    "success_rate",
    "upstream_attempts",
    "amplification",
    "p50",
    "p95",
    "p99",
}


@pytest.mark.realtime
def test_outage_json_shows_the_stalwart_client_sparing_the_upstream() -> None:
    """Under an outage the breaker and the retry budget keep the stalwart client's
    upstream load well below the naive client's, and the JSON says so in its fields."""
    result = run_stalwart(["demo", "--scenario", "outage", "--duration", "3", "--json"])
    assert result.returncode == 0, result.stderr
    assert "ResourceWarning" not in result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert list(report["scenarios"]) == ["outage"]
    outage = report["scenarios"]["outage"]
    parameters = outage["parameters"]
    assert parameters["duration"] == 3.0
    assert parameters["faults"]["outage"] == [0.75, 2.25]
    assert report["settings"] == {
        "concurrency": 4,
        "rate": 25.0,
        "seed": 2,
        "deadline": 2.0,
        "naive_timeout": 5.0,
        "patience": PATIENCE,
    }
    naive, smart = outage["clients"]["naive"], outage["clients"]["stalwart"]
    for client in (naive, smart):
        assert set(client) >= CLIENT_FIELDS
        assert client["calls"] > 0
        assert client["amplification"] == pytest.approx(
            client["upstream_attempts"] / client["calls"]
        )
        assert client["success_rate"] == pytest.approx(
            client["successes"] / (client["calls"] + client["dropped"])
        )
        assert 0 < client["p50"] <= client["p95"] <= client["p99"] < 10
    # Three attempts per failed call against a budgeted retry and an open breaker.
    assert naive["amplification"] > 1.3
    assert smart["amplification"] < 0.75 * naive["amplification"]
    assert any(step["state"] == "open" for step in outage["stalwart_events"]["breaker"])
    assert outage["verdict"].startswith("outage: ")


@pytest.mark.realtime
def test_plain_output_when_not_a_terminal() -> None:
    """Piped, the demo prints a progress line per second and the summary: no animation."""
    result = run_stalwart(["demo", "--scenario", "transient", "--duration", "2"])
    assert result.returncode == 0, result.stderr
    assert "ResourceWarning" not in result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # no terminal control sequences
    lines = out.splitlines()
    assert any(line.startswith("== transient: 2 s") for line in lines)
    progress = [line for line in lines if line.startswith("   [ 1.0/2 s] naive ")]
    assert len(progress) == 1
    assert "| stalwart " in progress[0]
    assert "breaker closed" in progress[0]
    assert any(line.startswith("   [end] naive ") for line in lines)
    assert "Summary" in out
    summary = out[out.index("Summary") :].splitlines()
    naive_row, stalwart_row = summary[3].split(), summary[4].split()
    assert naive_row[:2] == ["transient", "naive"]
    assert naive_row[2].endswith("%")
    assert stalwart_row[0] == "stalwart"
    assert stalwart_row[-1] == "s"  # the wall time, "2.0 s"
    assert any(line.startswith("• transient: ") for line in lines)


@pytest.mark.realtime
def test_ctrl_c_stops_the_demo_with_130() -> None:
    """SIGINT in the middle of a scenario: workers and servers stopped, exit 130, quiet."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stalwart", "demo", "--scenario", "hang", "--duration", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("   [ 1.0/30 s]"):
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "argument --duration: must be > 0, got '0'"),
        (["--duration", "inf"], "argument --duration: must be a finite number"),
        (["--concurrency", "0"], "argument --concurrency: must be >= 1, got '0'"),
        (["--concurrency", "2.5"], "argument --concurrency: must be an integer"),
        (["--rate", "-3"], "argument --rate: must be > 0"),
        (["--seed", "-1"], "argument --seed: must be >= 0"),
        (
            ["--scenario", "storm"],
            "argument --scenario: invalid choice: 'storm' (choose from 'transient', "
            "'outage', 'slow-tail', 'hang', 'throttle')",
        ),
    ],
)
def test_bad_options_are_usage_errors(stalwart_main: Main, args: list[str], message: str) -> None:
    """Each bad option: argparse's usage error (exit 2) naming it, and no run at all."""
    result = stalwart_main("demo", *args)
    assert result.status == 2
    assert message in result.err, result.err
    assert result.out == ""


def test_scenarios_in_order() -> None:
    """The five scenarios, in the order the demo runs them."""
    assert list(SCENARIOS) == ["transient", "outage", "slow-tail", "hang", "throttle"]
    assert SCENARIOS["slow-tail"].hedge
    assert SCENARIOS["outage"].faults(8.0).outage == (2.0, 6.0)


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5, p99 is 10; no values, no percentile."""
    values = [float(n) for n in range(1, 11)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 95) == 10.0
    assert percentile([], 50) is None


def test_tally_counts_unfinished_calls_as_failed() -> None:
    """A call still running when the scenario is cut is a failure, timed so far."""
    tally = Tally()
    tally.begin(1, 0.0)
    tally.end(1, CallRecord(0.0, 0.5, None))
    tally.begin(2, 1.0)
    tally.drop()
    tally.close(4.0)
    tally.end(2, CallRecord(1.0, 9.0, None))  # too late: not counted
    metrics = tally.metrics(upstream_attempts=3, waiting=1)
    assert (metrics.calls, metrics.successes, metrics.dropped) == (2, 1, 2)
    assert metrics.success_rate == 0.25
    assert metrics.amplification == 1.5
    assert metrics.failures == {"unfinished": 1}
    assert metrics.p99 == 3.0


def test_arrivals_not_taken_in_time_are_dropped() -> None:
    """Arrivals overdue by more than PATIENCE count as dropped; at the end, all untaken."""
    arrivals = _Arrivals(start=0.0, end=2.0, rate=10.0)
    assert arrivals.claim() == 0.0
    assert arrivals.waiting(0.5) == 0
    assert arrivals.waiting(PATIENCE + 0.55) == 5  # due at 0.1..0.5, none taken
    assert arrivals.waiting(2.0) == 19  # every arrival but the one taken
    taken = [arrivals.claim() for _ in range(25)]
    assert taken.count(None) == 6
    assert arrivals.waiting(2.0) == 0


def test_a_rate_limited_upstream_refuses_the_excess() -> None:
    """Requests beyond the limit over the last second are the share answered 429."""
    samples = [(0.0, 0), (0.5, 10), (1.0, 20), (1.5, 40)]
    assert _excess(samples, limit=30.0) == 0.0  # 30/s over the last second
    assert _excess(samples, limit=15.0) == 0.5
    assert _excess([(0.0, 0)], limit=1.0) == 0.0


def test_load_sparkline() -> None:
    """Upstream requests per second, slice by slice, scaled to a shared top."""
    samples = [(0.0, 0), (1.0, 10), (2.0, 40)]
    rates = _rates(samples, duration=16.0, until=2.0)
    assert rates == [10.0, 30.0]
    assert sparkline(rates, top=30.0) == "▃█"
    assert sparkline([0.0, 0.0], top=0.0) == "▁▁"


@pytest.mark.realtime
def test_live_view_on_a_terminal() -> None:
    """On a terminal the scenario is a live table (in this process, so any unclosed
    socket or stray thread would fail the test), then its verdict."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100, color_system=None)
    settings = Settings(
        scenarios=[SCENARIOS["outage"]], duration=1.0, concurrency=2, rate=20.0, seed=2
    )
    before = set(threading.enumerate())
    [(_, outcome)] = run_demo(settings, LiveView(console))
    out = stream.getvalue()
    assert "outage" in out
    assert "busy" in out
    assert "load" in out  # 100 columns leave room for the sparkline
    assert "breaker" in out
    assert "upstream DOWN" in out
    assert outcome.naive.metrics.calls > 0
    assert "outage: while the upstream was down" in out
    leftover = [t for t in set(threading.enumerate()) - before if t.name.startswith("stalwart-")]
    assert [t for t in leftover if not t.name.startswith("stalwart-hedge")] == []


def test_live_table_fits_80_columns() -> None:
    """At 80 columns the sparkline makes way for the numbers."""
    metrics = Tally().metrics(upstream_attempts=0)
    progress = Progress(
        scenario=SCENARIOS["transient"],
        duration=6.0,
        elapsed=1.0,
        final=False,
        workers=4,
        naive=metrics,
        stalwart=metrics,
        origin="http://127.0.0.1:1",
        breaker="closed",
        budget="10",
        load={"naive": [(0.0, 0), (1.0, 25)], "stalwart": [(0.0, 0), (1.0, 26)]},
    )
    for width, sparkline_shown in ((80, False), (100, True)):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(live_table(progress, width))
        out = console.file.getvalue()  # type: ignore[attr-defined]
        assert ("load" in out) is sparkline_shown
        assert "…" not in out
        assert max(len(line) for line in out.splitlines()) <= width
