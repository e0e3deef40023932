"""`FlakyServer`: every fault kind over real sockets on 127.0.0.1, with httpx clients."""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest

from stalwart._clock import SYSTEM_CLOCK
from stalwart._flaky import Faults, FlakyServer, FlakyStatistics, RecordedRequest, _server
from stalwart.testing import FakeClock


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    with FlakyServer(seed=1) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, verify=False) as opened:  # no TLS: skip loading CA certs
        yield opened


def raw_exchange(server: FlakyServer, data: bytes) -> bytes:
    """Send `data` on a fresh connection, half-close, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# -- answers ----------------------------------------------------------------------------------


def test_a_normal_answer(server: FlakyServer, client: httpx.Client) -> None:
    response = client.get(server.url + "/orders/1")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "attempt": 1, "path": "/orders/1"}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["x-flaky-attempt"] == "1"
    assert "x-flaky-fault" not in response.headers
    assert "retry-after" not in response.headers


def test_url_is_loopback_with_the_bound_port(server: FlakyServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert server.running


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FOO"])
def test_every_method_is_answered_and_its_body_read(
    server: FlakyServer, client: httpx.Client, method: str
) -> None:
    response = client.request(method, server.url + "/x", content=b"a" * 300)
    assert response.status_code == 200
    (record,) = server.requests
    assert (record.method, record.path, record.body_size) == (method, "/x", 300)


def test_head_gets_the_headers_of_a_get_without_a_body(
    server: FlakyServer, client: httpx.Client
) -> None:
    response = client.head(server.url + "/x")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0
    assert client.get(server.url + "/x").status_code == 200  # the connection is still sane


def test_large_and_chunked_request_bodies_are_read_in_full(
    server: FlakyServer, client: httpx.Client
) -> None:
    client.post(server.url + "/big", content=b"x" * 1_000_000)
    client.post(server.url + "/chunked", content=iter([b"abc", b"defg"]))
    assert [record.body_size for record in server.requests] == [1_000_000, 7]
    assert server.statistics().body_bytes == 1_000_007


def test_body_size_pads_or_truncates_the_normal_body(
    server: FlakyServer, client: httpx.Client
) -> None:
    padded = client.get(server.url + "/x?body_size=1000")
    assert len(padded.content) == 1000
    assert padded.json()["path"] == "/x"  # trailing spaces keep it valid JSON
    assert client.get(server.url + "/x?body_size=5").content == b'{"ok"'
    assert client.get(server.url + "/x?body_size=0").content == b""


def test_requests_record_what_was_received(server: FlakyServer, client: httpx.Client) -> None:
    client.post(
        server.url + "/orders?page=2",
        content=b"{}",
        headers={"X-Request-ID": "req-1", "X-Custom": "Value"},
    )
    (record,) = server.requests
    assert isinstance(record, RecordedRequest)
    assert (record.method, record.path, record.query) == ("POST", "/orders", "page=2")
    assert (record.request_id, record.attempt, record.body_size) == ("req-1", 1, 2)
    assert (record.fault, record.status, record.delay, record.slow_tail) == (None, 200, 0, False)
    assert ("x-custom", "Value") in record.headers
    assert record.header("X-CUSTOM") == "Value"
    assert record.header("x-absent") is None
    assert record.connection == 1


def test_recorded_requests_are_bounded() -> None:
    with FlakyServer(record=3) as server, httpx.Client(verify=False) as client:
        for number in range(5):
            client.get(f"{server.url}/{number}")
        assert [record.path for record in server.requests] == ["/2", "/3", "/4"]
    with FlakyServer(record=0) as server, httpx.Client(verify=False) as client:
        client.get(server.url)
        assert server.requests == ()
        assert server.statistics().received == 1


# -- connections ------------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(
    server: FlakyServer, client: httpx.Client
) -> None:
    for number in range(20):
        assert client.get(f"{server.url}/{number}").status_code == 200
    assert {record.connection for record in server.requests} == {1}
    assert server.statistics().connections == 1


def test_connection_close_is_honoured(server: FlakyServer, client: httpx.Client) -> None:
    first = client.get(server.url, headers={"Connection": "close"})
    assert first.headers["connection"] == "close"
    client.get(server.url)
    assert [record.connection for record in server.requests] == [1, 2]


def test_pipelined_requests_are_answered_in_order(server: FlakyServer) -> None:
    requests = (
        b"".join(b"GET /%d HTTP/1.1\r\nhost: x\r\n\r\n" % number for number in range(3))
        + b"GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    answer = raw_exchange(server, requests)
    assert answer.count(b"HTTP/1.1 200 OK") == 4
    assert re.findall(rb'"path": "([^"]*)"', answer) == [b"/0", b"/1", b"/2", b"/last"]


def test_http_1_0_gets_one_answer_then_a_close(server: FlakyServer) -> None:
    answer = raw_exchange(server, b"GET /old HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" in answer


def test_expect_100_continue_is_honoured(server: FlakyServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as sock:
        sock.sendall(
            b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nexpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK")
    assert server.requests[0].body_size == 3


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", id="request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nbad header\r\n\r\n", id="header"),
        pytest.param(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", id="chunk"),
    ],
)
def test_garbage_gets_a_400_and_a_close_and_the_server_lives_on(
    server: FlakyServer, client: httpx.Client, garbage: bytes
) -> None:
    answer = raw_exchange(server, garbage)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in answer
    assert server.statistics().protocol_errors == 1
    assert server.statistics().by_status == {400: 1}
    assert client.get(server.url).status_code == 200


def test_oversized_headers_get_a_431(server: FlakyServer) -> None:
    answer = raw_exchange(server, b"GET / HTTP/1.1\r\nhost: x\r\nx: " + b"a" * 70_000)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_clients_vanishing_mid_request_do_not_hurt(
    server: FlakyServer, client: httpx.Client
) -> None:
    for partial in (b"GET /x HTTP/1.1\r\nhost:", b"POST / HTTP/1.1\r\ncontent-length: 9\r\n\r\nab"):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(partial)
    with socket.create_connection(("127.0.0.1", server.port)):
        pass
    assert client.get(server.url).status_code == 200
    assert server.statistics().received == 1


# -- errors -----------------------------------------------------------------------------------


def test_error_rate_zero_and_one(client: httpx.Client) -> None:
    with FlakyServer(Faults(error_rate=0.0)) as server:
        assert {client.get(server.url).status_code for _ in range(10)} == {200}
    with FlakyServer(Faults(error_rate=1.0, error_status=502)) as server:
        response = client.get(server.url)
        assert response.status_code == 502
        assert response.headers["x-flaky-fault"] == "error"
        assert response.json() == {"ok": False, "status": 502, "fault": "error", "attempt": 1}
        assert "retry-after" not in response.headers


def test_error_rate_one_half_is_roughly_half_and_repeats_with_a_seed(
    client: httpx.Client,
) -> None:
    runs = []
    for _ in range(2):
        with FlakyServer(Faults(error_rate=0.5), seed=7) as server:
            runs.append([client.get(server.url).status_code for _ in range(100)])
    assert runs[0] == runs[1]
    assert 30 <= runs[0].count(503) <= 70
    assert set(runs[0]) == {200, 503}


def test_errors_carry_retry_after(client: httpx.Client) -> None:
    with FlakyServer(Faults(error_rate=1.0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")) as server:
        response = client.get(server.url)
        assert response.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
        assert client.get(server.url + "?error_rate=0").headers.get("retry-after") is None


def test_a_bodiless_error_status_has_no_body(server: FlakyServer, client: httpx.Client) -> None:
    response = client.get(server.url + "?error_rate=1&error_status=204")
    assert (response.status_code, response.content) == (204, b"")
    assert "content-length" not in response.headers
    assert client.get(server.url).status_code == 200


def test_fail_first_counts_attempts_per_request_id(client: httpx.Client) -> None:
    with FlakyServer(Faults(fail_first=2, error_status=429, retry_after="1")) as server:

        def statuses(request_id: str) -> list[int]:
            headers = {"x-request-id": request_id}
            return [client.get(server.url, headers=headers).status_code for _ in range(3)]

        assert statuses("a") == [429, 429, 200]
        assert statuses("b") == [429, 429, 200]
        assert (server.attempts("a"), server.attempts("b"), server.attempts("c")) == (3, 3, 0)
        response = client.get(server.url, headers={"x-request-id": "a"})
        assert response.headers["x-flaky-attempt"] == "4"
        assert [record.attempt for record in server.requests][:3] == [1, 2, 3]
        assert server.statistics().by_fault == {"fail_first": 4}


def test_fail_first_fails_every_request_without_an_id(client: httpx.Client) -> None:
    with FlakyServer(Faults(fail_first=1)) as server:
        assert {client.get(server.url).status_code for _ in range(3)} == {503}
        assert {record.attempt for record in server.requests} == {1}


def test_a_custom_id_header(client: httpx.Client) -> None:
    with FlakyServer(Faults(fail_first=1), id_header="Idempotency-Key") as server:
        assert client.get(server.url, headers={"idempotency-key": "k"}).status_code == 503
        assert client.get(server.url, headers={"Idempotency-Key": "k"}).status_code == 200
        assert server.attempts("k") == 2


def test_attempts_keep_a_bounded_number_of_ids(
    monkeypatch: pytest.MonkeyPatch, server: FlakyServer, client: httpx.Client
) -> None:
    monkeypatch.setattr(_server, "_MAX_IDS", 2)
    for request_id in ("a", "b", "a", "c"):
        client.get(server.url, headers={"x-request-id": request_id})
    assert (server.attempts("a"), server.attempts("b"), server.attempts("c")) == (0, 1, 1)


def test_outage_answers_at_once_and_before_anything_else(client: httpx.Client) -> None:
    faults = Faults(outage=(0, math.inf), latency=30.0, fail_first=5, retry_after="2")
    with FlakyServer(faults) as server:
        response = client.get(server.url, timeout=5.0)
        assert (response.status_code, response.headers["retry-after"]) == (503, "2")
        assert response.headers["x-flaky-fault"] == "outage"
        assert server.requests[0].delay == 0.0


def test_outage_in_the_future_lets_requests_through(client: httpx.Client) -> None:
    with FlakyServer(Faults(outage=(3600, 7200))) as server:
        assert client.get(server.url).status_code == 200


@pytest.mark.realtime
def test_outage_window_counts_from_when_the_faults_were_set(
    server: FlakyServer, client: httpx.Client
) -> None:
    assert client.get(server.url).status_code == 200
    server.faults = Faults(outage=(0, 0.3))
    assert client.get(server.url).status_code == 503
    SYSTEM_CLOCK.sleep(0.3, threading.Event())
    assert client.get(server.url).status_code == 200


# -- resets, hangs, slowness -----------------------------------------------------------------


def test_reset_drops_the_connection_without_an_answer(
    server: FlakyServer, client: httpx.Client
) -> None:
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(server.url + "?reset_rate=1")
    assert client.get(server.url).status_code == 200  # a new connection
    stats = server.statistics()
    assert (stats.resets, stats.received, stats.by_status) == (1, 2, {200: 1})
    assert server.requests[0].status is None


def test_reset_sends_a_tcp_rst(server: FlakyServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as sock:
        sock.sendall(b"GET /?reset_rate=1 HTTP/1.1\r\nhost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)


@pytest.mark.realtime
def test_hang_never_answers_so_the_client_times_out(
    server: FlakyServer, client: httpx.Client
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.get(server.url + "?hang_rate=1", timeout=0.2)
    assert client.get(server.url).status_code == 200
    stats = server.statistics()
    assert (stats.hangs, stats.by_fault) == (1, {"hang": 1})


def test_stop_closes_hung_connections_promptly() -> None:
    server = FlakyServer(Faults(hang_rate=1.0))
    server.start()
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        while server.statistics().hangs < 3:
            SYSTEM_CLOCK.sleep(0.01, threading.Event())
        started = SYSTEM_CLOCK.monotonic()
        server.stop()
        assert SYSTEM_CLOCK.monotonic() - started < 5.0
        for sock in socks:
            sock.settimeout(5.0)
            with contextlib.suppress(ConnectionResetError):  # a RST is as good as a FIN
                assert sock.recv(100) == b""
    finally:
        for sock in socks:
            sock.close()
    assert not server.running


@pytest.mark.realtime
def test_stop_does_not_wait_for_slow_answers(client: httpx.Client) -> None:
    server = FlakyServer(Faults(latency=30.0))
    server.start()
    failure: list[BaseException] = []

    def call() -> None:
        try:
            client.get(server.url)
        except httpx.TransportError as error:
            failure.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while server.statistics().received < 1:
        SYSTEM_CLOCK.sleep(0.01, threading.Event())
    started = SYSTEM_CLOCK.monotonic()
    server.stop()
    caller.join(5.0)
    assert SYSTEM_CLOCK.monotonic() - started < 5.0
    assert len(failure) == 1


@pytest.mark.realtime
def test_latency_delays_the_answer(server: FlakyServer, client: httpx.Client) -> None:
    started = SYSTEM_CLOCK.monotonic()
    response = client.get(server.url + "?latency=0.2")
    assert SYSTEM_CLOCK.monotonic() - started >= 0.2
    assert response.status_code == 200
    assert server.requests[0].delay == 0.2


def test_jitter_adds_a_seeded_extra(client: httpx.Client) -> None:
    delays = []
    for _ in range(2):
        with FlakyServer(Faults(latency=0.001, latency_jitter=0.002), seed=3) as server:
            for _ in range(5):
                client.get(server.url)
            delays.append([record.delay for record in server.requests])
    assert delays[0] == delays[1]
    assert all(0.001 <= delay < 0.003 for delay in delays[0])
    assert len(set(delays[0])) == 5


def test_slow_tail_replaces_the_latency_for_its_share(client: httpx.Client) -> None:
    with FlakyServer(Faults(latency=0.0, slow_tail_ratio=1.0, slow_tail_latency=0.05)) as server:
        client.get(server.url)
        client.get(server.url + "?slow_tail_ratio=0")
        assert [(r.slow_tail, r.delay) for r in server.requests] == [(True, 0.05), (False, 0.0)]
        assert server.statistics().slow_tail == 1


def test_latency_also_delays_injected_errors(server: FlakyServer, client: httpx.Client) -> None:
    client.get(server.url + "?error_rate=1&latency=0.01")
    assert (server.requests[0].fault, server.requests[0].delay) == ("error", 0.01)


@pytest.mark.realtime
def test_slow_body_drips_the_body_after_the_headers(
    server: FlakyServer, client: httpx.Client
) -> None:
    started = SYSTEM_CLOCK.monotonic()
    with client.stream("GET", server.url + "/drip?slow_body=0.3&body_size=800") as response:
        assert response.headers["content-length"] == "800"
        headers_at = SYSTEM_CLOCK.monotonic() - started
        chunks = list(response.iter_raw())
    finished_at = SYSTEM_CLOCK.monotonic() - started
    assert finished_at >= 0.3
    assert headers_at < finished_at
    assert len(chunks) >= 2
    assert sum(map(len, chunks)) == 800
    assert client.get(server.url).status_code == 200  # keep-alive survives a drip


@pytest.mark.realtime
def test_a_client_leaving_mid_drip_does_not_hurt(server: FlakyServer) -> None:
    # Leaving the stream early closes the connection while the server drips.
    with (
        httpx.Client(verify=False) as client,
        client.stream("GET", server.url + "?slow_body=0.2") as response,
    ):
        assert response.status_code == 200
    with httpx.Client(verify=False) as client:
        assert client.get(server.url).status_code == 200


# -- overrides, switching, statistics ---------------------------------------------------------


def test_query_overrides_apply_to_one_request(server: FlakyServer, client: httpx.Client) -> None:
    url = server.url + "/x?fail_first=2&error_status=429&retry_after=1"
    headers = {"x-request-id": "r"}
    first = client.get(url, headers=headers)
    assert (first.status_code, first.headers["retry-after"]) == (429, "1")
    assert client.get(url, headers=headers).status_code == 429
    assert client.get(url, headers=headers).status_code == 200
    assert client.get(server.url + "/x?error_rate=1").status_code == 503
    assert client.get(server.url + "/x").status_code == 200
    assert server.faults == Faults()


@pytest.mark.parametrize(
    ("query", "name"),
    [("latency=abc", "latency"), ("error_status=99", "error_status"), ("outage=1", "outage")],
)
def test_a_bad_override_gets_a_400_naming_it(
    server: FlakyServer, client: httpx.Client, query: str, name: str
) -> None:
    response = client.get(f"{server.url}/x?{query}")
    assert response.status_code == 400
    assert name in response.json()["error"]
    assert response.headers["x-flaky-fault"] == "bad_override"
    assert client.get(server.url).status_code == 200
    assert server.statistics().by_fault == {"bad_override": 1}


def test_faults_switch_at_run_time(server: FlakyServer, client: httpx.Client) -> None:
    assert server.faults == Faults()
    server.faults = Faults(error_rate=1.0)
    assert server.faults == Faults(error_rate=1.0)
    assert client.get(server.url).status_code == 503
    server.faults = Faults()
    assert client.get(server.url).status_code == 200
    with pytest.raises(TypeError, match="faults"):
        server.faults = {"error_rate": 1}  # type: ignore[assignment]


def test_statistics_and_reset_counters(server: FlakyServer, client: httpx.Client) -> None:
    client.get(server.url, headers={"x-request-id": "a"})
    client.post(server.url + "?error_rate=1", content=b"1234")
    client.get(server.url + "?latency=x")
    stats = server.statistics()
    assert stats == FlakyStatistics(
        received=3,
        by_status={200: 1, 503: 1, 400: 1},
        by_fault={"error": 1, "bad_override": 1},
        slow_tail=0,
        connections=1,
        protocol_errors=0,
        body_bytes=4,
    )
    assert (stats.resets, stats.hangs) == (0, 0)
    server.reset_counters()
    assert server.statistics().received == 0
    assert server.statistics().by_status == {}
    assert server.requests == ()
    assert server.attempts("a") == 0


# -- lifecycle ------------------------------------------------------------------------------


def test_start_stop_restart_keeps_the_port(client: httpx.Client) -> None:
    server = FlakyServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.url
    server.start()
    url = server.url
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    assert client.get(url).status_code == 200
    server.stop()
    server.stop()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        client.get(url)
    server.start()
    try:
        assert server.url == url
        assert client.get(url).status_code == 200
    finally:
        server.stop()


def test_start_raises_when_the_port_is_taken(server: FlakyServer) -> None:
    other = FlakyServer(port=server.port)
    with pytest.raises(OSError):
        other.start()
    assert not other.running
    other.stop()


def test_repr_shows_url_faults_and_state() -> None:
    server = FlakyServer(Faults(error_rate=0.2), seed=5)
    assert repr(server) == "<FlakyServer stopped faults=Faults(error_rate=0.2) seed=5>"
    with server:
        assert repr(server) == (
            f"<FlakyServer url='{server.url}' faults=Faults(error_rate=0.2) seed=5>"
        )
    assert FlakyServer().seed >= 0


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"faults": 0.5}, TypeError, "faults"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": "1"}, TypeError, "seed"),
        ({"port": -1}, ValueError, "port"),
        ({"port": 70000}, ValueError, "port"),
        ({"id_header": ""}, ValueError, "id_header"),
        ({"id_header": b"x"}, TypeError, "id_header"),
        ({"record": -1}, ValueError, "record"),
    ],
)
def test_constructor_validation(
    kwargs: dict[str, object], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        FlakyServer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_async_with_on_asyncio_and_trio() -> None:
    async with FlakyServer(Faults(fail_first=1)) as server:
        async with httpx.AsyncClient(verify=False) as client:
            headers = {"x-request-id": "a"}
            assert (await client.get(server.url, headers=headers)).status_code == 503
            assert (await client.get(server.url, headers=headers)).status_code == 200
        assert server.attempts("a") == 2
    assert not server.running


@pytest.mark.anyio
async def test_async_with_does_not_block_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """start() and stop() each wait for a task of the caller's loop: they would deadlock
    (and fail after 5 s) if `async with` ran them on the loop's own thread."""
    loop_ran = threading.Event()

    def waiting_for_the_loop(method: Callable[[FlakyServer], None]) -> Callable[..., None]:
        def wrapper(self: FlakyServer) -> None:
            assert loop_ran.wait(5.0), "the caller's event loop was blocked"
            loop_ran.clear()
            method(self)

        return wrapper

    monkeypatch.setattr(FlakyServer, "start", waiting_for_the_loop(FlakyServer.start))
    monkeypatch.setattr(FlakyServer, "stop", waiting_for_the_loop(FlakyServer.stop))

    async def release() -> None:
        loop_ran.set()

    async with anyio.create_task_group() as group:
        group.start_soon(release)
        async with FlakyServer() as server:
            assert server.running
            group.start_soon(release)
    assert not server.running


@pytest.mark.anyio
async def test_concurrent_async_clients(server: FlakyServer) -> None:
    async with httpx.AsyncClient(verify=False) as client:
        results: list[int] = []

        async def call(number: int) -> None:
            response = await client.get(f"{server.url}/{number}?latency=0.01")
            results.append(response.status_code)

        async with anyio.create_task_group() as group:
            for number in range(32):
                group.start_soon(call, number)
    assert results == [200] * 32
    assert server.statistics().received == 32


@pytest.mark.realtime
@pytest.mark.anyio
async def test_the_server_keeps_real_time_under_a_fake_clock(clock: FakeClock) -> None:
    """A FakeClock installed for the client (and carried into worker threads) does not
    reach the server: its latency is real, and the fake time does not move."""
    async with (
        FlakyServer(Faults(latency=0.05)) as server,
        httpx.AsyncClient(verify=False) as client,
    ):
        started = SYSTEM_CLOCK.monotonic()
        response = await client.get(server.url)
        elapsed = SYSTEM_CLOCK.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.05
    assert clock.monotonic() == 0.0
