"""`stalwart flaky`: the fault-injecting upstream, served until interrupted."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from stalwart.cli._flaky import counters_line
from stalwart.testing import FlakyStatistics

from .conftest import Main


def start_flaky(*args: str) -> subprocess.Popen[str]:
    """`python -m stalwart flaky ARGS` in the background, its output in pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "stalwart", "flaky", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.realtime
def test_flaky_serves_counts_and_stops_on_sigint() -> None:
    """It prints its address, serves the faults, shows counters, and Ctrl-C (SIGINT)
    stops it with exit status 0 and a last counter line."""
    process = start_flaky("--port", "0", "--seed", "1", "--status", "429", "--fail-first", "1")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.fullmatch(r"stalwart flaky: serving (http://127\.0\.0\.1:\d+)\n", first)
        assert match, first
        url = match.group(1)
        assert "fail_first=1" in process.stdout.readline()  # the faults, as Faults shows them
        with httpx.Client(base_url=url) as client:
            first_try = client.get("/orders/1", headers={"X-Request-Id": "a"})
            second_try = client.get("/orders/1", headers={"X-Request-Id": "a"})
        assert (first_try.status_code, second_try.status_code) == (429, 200)
        # The counters come about once a second, as plain lines (stdout is a pipe).
        for line in process.stdout:
            if "received 2" in line:
                assert "200: 1 · 429: 1" in line
                assert "faults: fail_first 1" in line
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    last = out.strip().splitlines()[-1]
    assert last.startswith("stalwart flaky: stopped after ")
    assert "received 2 · 200: 1 · 429: 1" in last


@pytest.mark.realtime
def test_flaky_stops_on_sigterm_too() -> None:
    """SIGTERM (a service manager, `kill`) stops it as cleanly as Ctrl-C."""
    process = start_flaky("--port", "0")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("stalwart flaky: serving http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stalwart flaky: stopped after" in out


def test_a_busy_port_is_one_error_line(stalwart_main: Main) -> None:
    """A port already taken: exit 1 with one line saying so, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = stalwart_main("flaky", "--port", str(port))
    assert result.status == 1
    assert result.err.startswith(f"stalwart: error: cannot listen on 127.0.0.1:{port}: ")
    assert "(--port 0 picks a free port)" in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "1.5"], "argument --error-rate: error_rate must be <= 1, got 1.5"),
        (["--hang", "-0.1"], "argument --hang: hang_rate must be >= 0"),
        (["--reset", "nan"], "argument --reset: reset_rate must be finite"),
        (["--latency", "-1"], "argument --latency: latency must be >= 0"),
        (["--status", "100"], "argument --status: error_status must be >= 200"),
        (["--status", "600"], "argument --status: error_status must be an HTTP status"),
        (["--status", "abc"], "argument --status: invalid int value: 'abc'"),
        (["--fail-first", "-2"], "argument --fail-first: fail_first must be >= 0"),
        (["--outage", "5,1"], "argument --outage: outage end must be >= 5"),
        (["--outage", "5"], "argument --outage: must be START,END"),
        (["--slow-tail", "2,0.5"], "argument --slow-tail: slow_tail_ratio must be <= 1"),
        (["--slow-tail", "0.1,x"], "argument --slow-tail: must be RATIO,SECONDS"),
        (["--retry-after", " 1"], "argument --retry-after: retry_after must be a valid header"),
        (["--port", "70000"], "argument --port: port must be <= 65535"),
        (["--port", "-1"], "argument --port: must be >= 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_fault_values_are_usage_errors(
    stalwart_main: Main, args: list[str], message: str
) -> None:
    """A bad value: usage error naming the option, with the message Faults gives."""
    result = stalwart_main("flaky", *args)
    assert result.status == 2
    assert message in result.err, result.err
    assert "Traceback" not in result.err


def test_counters_line() -> None:
    """Received, each status, each fault, the slow tail and connections, in one line."""
    stats = FlakyStatistics(
        received=5,
        by_status={503: 2, 200: 3},
        by_fault={"error": 2},
        slow_tail=1,
        connections=2,
        protocol_errors=0,
        body_bytes=0,
    )
    assert counters_line(stats) == (
        "received 5 · 200: 3 · 503: 2 · faults: error 2 · slow tail 1 · connections 2"
    )
