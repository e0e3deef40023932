"""`stalwart get|post|request`: resilient requests from the shell, every attempt shown."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

import stalwart
from stalwart.cli import _request
from stalwart.testing import Faults, FlakyServer

from .conftest import Main, run_stalwart

pytestmark = pytest.mark.realtime  # real servers, real (short) backoff waits


@pytest.fixture
def upstream() -> Iterator[FlakyServer]:
    """A FlakyServer without faults; tests switch them with `upstream.faults = ...`."""
    with FlakyServer(seed=1) as server:
        yield server


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_get_retries_then_prints_the_body(upstream: FlakyServer) -> None:
    """Two 503s, then 200: exit 0, the body on stdout, each attempt and wait on stderr."""
    upstream.faults = Faults(fail_first=2)
    result = run_stalwart(["get", f"{upstream.url}/orders/42", "-H", "X-Request-Id: r-1"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True, "attempt": 3, "path": "/orders/42"}
    err = result.stderr
    assert "attempt 1  503 Service Unavailable" in err
    assert "attempt 2  503 Service Unavailable" in err
    assert "attempt 3  200 OK" in err
    assert err.count("(backoff)") == 2  # the wait before each retry
    assert "200 OK after 3 attempts" in err
    assert "Traceback" not in err
    assert upstream.attempts("r-1") == 3


def test_get_against_a_dead_port_exits_3_with_one_line(stalwart_main: Main) -> None:
    """Connection refused on every attempt: exit 3, one error line naming the attempts."""
    result = stalwart_main("get", f"http://127.0.0.1:{free_port()}/x", "--deadline", "2")
    assert result.status == 3
    errors = [line for line in result.err.splitlines() if line.startswith("stalwart: error:")]
    assert errors == [errors[0]]
    assert errors[0].startswith("stalwart: error: ConnectError: ")
    assert errors[0].endswith("(3 attempts)")
    assert result.out == ""


def test_post_is_not_retried_without_a_key(upstream: FlakyServer, stalwart_main: Main) -> None:
    """A POST that got a 503 may have taken effect: one attempt, exit 1, body printed."""
    upstream.faults = Faults(error_rate=1.0)
    result = stalwart_main("post", f"{upstream.url}/orders", "--json", '{"item": 1}')
    assert result.status == 1
    assert upstream.statistics().received == 1
    assert json.loads(result.out)["status"] == 503
    assert "not retried: POST is not idempotent" in result.err
    assert "--idempotency-key auto" in result.err


def test_post_with_an_automatic_key_is_retried(upstream: FlakyServer, stalwart_main: Main) -> None:
    """`--idempotency-key auto` sends one key on every attempt, so the POST is retried."""
    upstream.faults = Faults(fail_first=1)
    result = stalwart_main(
        "post",
        f"{upstream.url}/orders",
        "--json",
        '{"item": 1}',
        "--idempotency-key",
        "auto",
        "-H",
        "X-Request-Id: p-1",
    )
    assert result.status == 0, result.err
    assert upstream.attempts("p-1") == 2
    keys = {r.header("idempotency-key") for r in upstream.requests}
    assert len(keys) == 1  # the same key on both attempts
    assert None not in keys
    assert {r.header("content-type") for r in upstream.requests} == {"application/json"}
    assert json.loads(result.out)["attempt"] == 2


def test_post_with_a_given_key_sends_it(upstream: FlakyServer, stalwart_main: Main) -> None:
    """`--idempotency-key KEY` is sent as it is, and makes the POST retryable too."""
    upstream.faults = Faults(fail_first=1)
    result = stalwart_main(
        "post", upstream.url, "--data", "x=1", "--idempotency-key", "k-7", "-H", "X-Request-Id: 7"
    )
    assert result.status == 0, result.err
    assert [r.header("idempotency-key") for r in upstream.requests] == ["k-7", "k-7"]


def test_request_sends_any_method_and_a_body_from_stdin(upstream: FlakyServer) -> None:
    """`request PUT URL --data @-` reads the body from stdin; PUT is retried."""
    upstream.faults = Faults(fail_first=1)
    result = run_stalwart(
        ["request", "put", f"{upstream.url}/x", "--data", "@-", "-H", "X-Request-Id: u-1"],
        stdin="hello",
    )
    assert result.returncode == 0, result.stderr
    assert [(r.method, r.body_size) for r in upstream.requests] == [("PUT", 5), ("PUT", 5)]


def test_a_hang_ends_at_the_deadline_with_exit_4(
    upstream: FlakyServer, stalwart_main: Main
) -> None:
    """A server that never answers: the deadline ends the call, exit 4."""
    upstream.faults = Faults(hang_rate=1.0)
    result = stalwart_main("get", f"{upstream.url}/slow", "--deadline", "0.3")
    assert result.status == 4
    assert "stalwart: error: DeadlineExceeded" in result.err
    assert "--deadline 0.3 s" in result.err


def test_attempt_timeouts_are_network_errors(upstream: FlakyServer, stalwart_main: Main) -> None:
    """Each attempt cut by --timeout, well before the deadline: exit 3 (a read timeout)."""
    upstream.faults = Faults(hang_rate=1.0)
    result = stalwart_main("get", upstream.url, "--timeout", "0.1", "--attempts", "2")
    assert result.status == 3
    assert "stalwart: error: ReadTimeout" in result.err
    assert "(2 attempts, --timeout 0.1 s)" in result.err


def test_a_refusal_exits_5(
    upstream: FlakyServer, stalwart_main: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stalwart refusal (here an open circuit) is exit status 5."""

    def refuse(self: object, request: object) -> object:
        raise stalwart.CircuitOpen("circuit open for http://127.0.0.1", retry_after=3.0)

    monkeypatch.setattr(_request._TimingTransport, "handle_request", refuse)
    result = stalwart_main("get", upstream.url)
    assert result.status == 5
    assert "stalwart: error: CircuitOpen: circuit open" in result.err


def test_hedged_get(upstream: FlakyServer, stalwart_main: Main) -> None:
    """`--hedge` starts more attempts while the first is slow, and says so."""
    upstream.faults = Faults(slow_tail_ratio=1.0, slow_tail_latency=0.2)
    result = stalwart_main("get", upstream.url, "--hedge", "--attempts", "2")
    assert result.status == 0, result.err
    assert "hedging after" in result.err
    assert upstream.statistics().received == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "ftp://example.com/x"], "argument URL: must be an http:// or https:// URL"),
        (["get", "http://x", "-H", "no colon"], "argument --header/-H: must be 'Name: value'"),
        (["get", "http://x", "-H", "X-Name: é"], "the value must be printable ASCII"),
        (["post", "http://x", "--idempotency-key", " "], "--idempotency-key: must be printable"),
        (["get", "http://x", "--attempts", "0"], "argument --attempts: must be >= 1"),
        (["get", "http://x", "--deadline", "-1"], "argument --deadline: must be > 0"),
        (["get", "http://x", "--timeout", "soon"], "argument --timeout: must be a number"),
        (["get", "http://x", "--hedge", "--attempts", "1"], "--hedge: needs --attempts 2"),
        (["get", "http://x", "--data", "x"], "unrecognized arguments: --data x"),
        (["post", "http://x", "--json", "{nope"], "argument --json: not JSON"),
        (["post", "http://x", "--json", "1", "--data", "2"], "not allowed with argument"),
        (["post", "http://x", "--data", "@/no/such/file"], "argument --data: cannot read"),
        (["request", "BAD METHOD", "http://x"], "argument METHOD: must be an HTTP method"),
        (["request", "GET"], "the following arguments are required: URL"),
    ],
)
def test_usage_errors(stalwart_main: Main, args: list[str], message: str) -> None:
    """Bad options: argparse's usage message and exit 2, no traceback, nothing sent."""
    result = stalwart_main(*args)
    assert result.status == 2
    assert message in result.err
    assert result.err.startswith("usage: stalwart")
    assert "Traceback" not in result.err


def test_a_url_without_a_scheme_is_http(upstream: FlakyServer, stalwart_main: Main) -> None:
    """`stalwart get 127.0.0.1:PORT/x` means http://, as with curl."""
    result = stalwart_main("get", f"127.0.0.1:{upstream.port}/x")
    assert result.status == 0, result.err
    assert upstream.requests[-1].path == "/x"
