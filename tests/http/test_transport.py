"""The transports' HTTP rules, on in-memory transports and the fake clock.

What is retried (methods, keys, statuses, phases, bodies), what comes out, which
timeouts each attempt gets, and what is closed when. End-to-end behaviour over real
sockets is in test_end_to_end.py.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import stalwart
from stalwart.testing import FakeClock

from .conftest import Flavour

Handler = Callable[[Any], Any]


class Recorder:
    """A MockTransport handler that answers from a script and records every attempt."""

    def __init__(self, flavour: Flavour, *answers: Any) -> None:
        self.flavour = flavour
        self.answers = list(answers)
        self.requests: list[Any] = []
        self.log: list[str] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        self.log.append(f"attempt {len(self.requests)}")
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        return self.flavour.http.Response(answer)

    @property
    def attempts(self) -> int:
        return len(self.requests)


def client(flavour: Flavour, recorder: Recorder, **options: Any) -> Any:
    inner = flavour.http.MockTransport(recorder)
    transport = flavour.stalwart.ResilientTransport(inner, **options)
    return flavour.http.Client(transport=transport, base_url="http://api.test")


@pytest.fixture
def fake() -> Iterator[FakeClock]:
    with FakeClock() as clock:
        yield clock


def closing_response(flavour: Flavour, recorder: Recorder, status: int) -> Handler:
    """A response whose body is a stream that logs when it is closed."""

    http = flavour.http

    class Body(http.SyncByteStream):  # type: ignore[misc, name-defined]
        def __iter__(self) -> Iterator[bytes]:
            yield b"unavailable"

        def close(self) -> None:
            recorder.log.append(f"closed {recorder.attempts}")

    def answer(request: Any) -> Any:
        return http.Response(status, stream=Body())

    return answer


# -- what is retried ---------------------------------------------------------------------


def test_get_503s_are_retried_and_the_answer_returned(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, 503, 503, 200)
    response = client(flavour, recorder).get("/orders")
    assert response.status_code == 200
    assert recorder.attempts == 3


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_for_idempotent_methods(
    flavour: Flavour, fake: FakeClock, status: int
) -> None:
    for method in ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"):
        recorder = Recorder(flavour, status, 200)
        assert client(flavour, recorder).request(method, "/x").status_code == 200
        assert recorder.attempts == 2, method


@pytest.mark.parametrize("status", [501, 505, 507])
def test_other_server_errors_are_not_retried(
    flavour: Flavour, fake: FakeClock, status: int
) -> None:
    recorder = Recorder(flavour, status, 200)
    assert client(flavour, recorder).get("/x").status_code == status
    assert recorder.attempts == 1


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_client_errors_are_answers(flavour: Flavour, fake: FakeClock, status: int) -> None:
    recorder = Recorder(flavour, status, 200)
    assert client(flavour, recorder).get("/x").status_code == status
    assert recorder.attempts == 1


def test_failed_responses_are_closed_before_the_backoff_wait(
    flavour: Flavour, fake: FakeClock, events: list[stalwart.Event]
) -> None:
    recorder = Recorder(flavour, 0)
    recorder.answers = [
        closing_response(flavour, recorder, 503),
        closing_response(flavour, recorder, 503),
        200,
    ]

    def note_waits(event: stalwart.Event) -> None:
        if isinstance(event, stalwart.RetryScheduled):
            recorder.log.append("wait")

    remove = stalwart.add_listener(note_waits)
    try:
        assert client(flavour, recorder).get("/x").status_code == 200
    finally:
        remove()
    assert recorder.log == [
        "attempt 1",
        "closed 1",
        "wait",
        "attempt 2",
        "closed 2",
        "wait",
        "attempt 3",
    ]


def test_the_last_failed_response_comes_back_readable(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, 0)
    recorder.answers = [closing_response(flavour, recorder, 503)]
    response = client(flavour, recorder).get("/x")
    assert recorder.attempts == 3
    assert response.status_code == 503
    assert response.text == "unavailable"
    assert response.elapsed.total_seconds() >= 0  # closed through the client as usual
    with pytest.raises(flavour.http.HTTPStatusError):
        response.raise_for_status()


def test_post_is_not_retried_without_a_key(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, 503, 200)
    response = client(flavour, recorder).post("/orders", json={"item": 1})
    assert response.status_code == 503
    assert recorder.attempts == 1


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_automatic_idempotency_keys_make_posts_retryable(
    flavour: Flavour, fake: FakeClock, method: str
) -> None:
    recorder = Recorder(flavour, 503, 502, 200)
    c = client(flavour, recorder, idempotency_keys=True)
    assert c.request(method, "/orders", json={"item": 1}).status_code == 200
    keys = {request.headers["idempotency-key"] for request in recorder.requests}
    assert recorder.attempts == 3
    assert len(keys) == 1
    (key,) = keys
    assert len(key) == 36  # a UUID4
    # The next request gets a key of its own.
    c.request(method, "/orders", json={"item": 2})
    assert recorder.requests[-1].headers["idempotency-key"] != key


def test_keys_are_only_added_to_post_and_patch(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, 200)
    c = client(flavour, recorder, idempotency_keys=True)
    for method in ("GET", "PUT", "DELETE"):
        c.request(method, "/x")
    assert all("idempotency-key" not in r.headers for r in recorder.requests)


def test_a_key_of_the_callers_own_is_kept_and_makes_the_post_retryable(
    flavour: Flavour, fake: FakeClock
) -> None:
    recorder = Recorder(flavour, 503, 200)
    c = client(flavour, recorder, idempotency_keys=True)
    response = c.post("/orders", headers={"Idempotency-Key": "order-7"})
    assert response.status_code == 200
    assert [r.headers["idempotency-key"] for r in recorder.requests] == ["order-7"] * 2


def test_a_keyed_409_is_retried_and_a_422_is_an_answer(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, 409, 200)
    assert client(flavour, recorder, idempotency_keys=True).post("/o").status_code == 200
    assert recorder.attempts == 2
    recorder = Recorder(flavour, 422, 200)
    assert client(flavour, recorder, idempotency_keys=True).post("/o").status_code == 422
    assert recorder.attempts == 1


def test_connect_failures_are_retried_for_any_method(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http
    for error in (http.ConnectError("refused"), http.ConnectTimeout("slow"), http.PoolTimeout("")):
        recorder = Recorder(flavour, error, 201)
        assert client(flavour, recorder).post("/orders", content=b"{}").status_code == 201
        assert recorder.attempts == 2, error


def test_read_failures_are_retried_only_for_idempotent_requests(
    flavour: Flavour, fake: FakeClock
) -> None:
    http = flavour.http
    for error in (http.ReadError("reset"), http.RemoteProtocolError("gone"), http.ReadTimeout("")):
        recorder = Recorder(flavour, error, 200)
        assert client(flavour, recorder).get("/x").status_code == 200
        assert recorder.attempts == 2

        recorder = Recorder(flavour, error, 200)
        with pytest.raises(type(error)) as caught:
            client(flavour, recorder).post("/orders", content=b"{}")
        assert caught.value is error
        assert recorder.attempts == 1
        assert any("POST is not idempotent" in note for note in caught.value.__notes__)


def test_local_errors_are_not_retried(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http
    recorder = Recorder(flavour, http.UnsupportedProtocol("ftp"), 200)
    with pytest.raises(http.UnsupportedProtocol):
        client(flavour, recorder).get("/x")
    assert recorder.attempts == 1


def test_the_last_exception_comes_out_unchanged_with_a_note(
    flavour: Flavour, fake: FakeClock
) -> None:
    error = flavour.http.ConnectError("refused")
    recorder = Recorder(flavour, error)
    with pytest.raises(flavour.http.ConnectError) as caught:
        client(flavour, recorder).get("/x")
    assert caught.value is error
    assert recorder.attempts == 3
    assert caught.value.__notes__ == [
        "stalwart: http-retry gave up after 3 attempt(s): max_attempts=3 reached"
    ]


# -- request bodies ----------------------------------------------------------------------


def test_a_consumed_streaming_body_is_never_sent_again(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http

    def read_then_fail(request: Any) -> Any:
        request.read()
        raise http.ReadError("reset while sending")

    recorder = Recorder(flavour, read_then_fail, 200)
    with pytest.raises(http.ReadError) as caught:
        client(flavour, recorder).put("/upload", content=iter([b"a", b"b"]))
    assert recorder.attempts == 1
    assert any("streaming body" in note for note in caught.value.__notes__)


def test_an_unsent_streaming_body_may_be_sent_again(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http
    bodies: list[bytes] = []

    def read(request: Any) -> Any:
        bodies.append(request.read())
        return http.Response(200)

    recorder = Recorder(flavour, http.ConnectError("refused"), read)
    response = client(flavour, recorder).put("/upload", content=iter([b"a", b"b"]))
    assert response.status_code == 200
    assert bodies == [b"ab"]


def test_an_in_memory_body_is_sent_again(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http
    bodies: list[bytes] = []

    def read(request: Any) -> Any:
        bodies.append(request.read())
        return http.Response(503 if len(bodies) == 1 else 200)

    recorder = Recorder(flavour, read)
    assert client(flavour, recorder).put("/x", json={"a": 1}).status_code == 200
    assert len(bodies) == 2
    assert bodies[0] == bodies[1] != b""


# -- Retry-After -------------------------------------------------------------------------


def retry_after(flavour: Flavour, status: int, value: str) -> Handler:
    return lambda request: flavour.http.Response(status, headers={"Retry-After": value})


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_are_honoured(flavour: Flavour, fake: FakeClock, status: int) -> None:
    recorder = Recorder(flavour, retry_after(flavour, status, "7"), 200)
    assert client(flavour, recorder).get("/x").status_code == 200
    assert fake.monotonic() == pytest.approx(7.0)


def test_retry_after_dates_are_honoured(flavour: Flavour, fake: FakeClock) -> None:
    when = email_date(fake.wall() + 12)
    recorder = Recorder(flavour, retry_after(flavour, 503, when), 200)
    assert client(flavour, recorder).get("/x").status_code == 200
    assert fake.monotonic() == pytest.approx(12.0, abs=1.0)  # dates have whole seconds


def test_a_malformed_retry_after_falls_back_to_backoff(
    flavour: Flavour, fake: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(flavour, retry_after(flavour, 503, "soon-ish"), 200)
    with caplog.at_level(logging.DEBUG, logger="stalwart"):
        assert client(flavour, recorder).get("/x").status_code == 200
    assert fake.monotonic() <= 0.2  # the first backoff: full jitter under 0.2 s
    assert "malformed Retry-After value 'soon-ish'" in caplog.text


def test_a_long_retry_after_is_capped(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, retry_after(flavour, 503, "3600"), 200)
    pipeline = flavour.stalwart.standard_pipeline(total=100.0)
    assert client(flavour, recorder, pipeline=pipeline).get("/x").status_code == 200
    assert fake.monotonic() == pytest.approx(60.0)


def test_a_hint_beyond_the_deadline_ends_with_the_servers_response(
    flavour: Flavour, fake: FakeClock
) -> None:
    recorder = Recorder(flavour, retry_after(flavour, 503, "45"), 200)
    response = client(flavour, recorder).get("/x")  # total 30 s
    assert response.status_code == 503
    assert response.headers["retry-after"] == "45"
    assert recorder.attempts == 1
    assert fake.monotonic() == 0.0


# -- deadlines -----------------------------------------------------------------------------


def test_each_attempt_gets_timeouts_cut_to_its_deadline(flavour: Flavour, fake: FakeClock) -> None:
    seen: list[dict[str, float]] = []

    def look(request: Any) -> Any:
        timeouts = request.extensions["timeout"]
        seen.append({phase: timeouts.get(phase) for phase in ("connect", "read", "write", "pool")})
        fake.advance(1.5)
        return flavour.http.Response(503 if len(seen) == 1 else 200)

    recorder = Recorder(flavour, look)
    c = client(flavour, recorder)
    with stalwart.deadline(4.0):
        assert c.get("/x", timeout=flavour.http.Timeout(3.0, connect=1.0)).status_code == 200
    first, second = seen
    assert first == {"connect": 1.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    left = 4.0 - fake.monotonic() + 1.5  # what remained when the second attempt started
    assert second["connect"] == 1.0
    assert second["read"] == pytest.approx(min(3.0, left))


def test_the_body_read_after_the_call_is_bound_by_its_attempts_deadline(
    flavour: Flavour, fake: FakeClock
) -> None:
    """httpx reads the body once the transport returned: the read timeout it looks up
    then is still cut to the deadline of the attempt that answered (10 s here)."""
    recorder = Recorder(flavour, 200)
    request = flavour.http.Request("GET", "http://api.test/x", extensions={"timeout": {"read": 9}})
    transport = flavour.stalwart.ResilientTransport(flavour.http.MockTransport(recorder))
    transport.handle_request(request)
    timeouts = request.extensions["timeout"]
    assert timeouts == {"read": 9}  # what the caller configured, unchanged
    assert timeouts.get("read") == 9
    fake.advance(9.5)
    assert timeouts.get("read") == pytest.approx(0.5)
    assert timeouts.get("connect") == pytest.approx(0.5)  # none configured: the deadline
    assert timeouts.get("other", "default") == "default"


@pytest.mark.parametrize(("chunks", "ends"), [(1, "normally"), (2, "at the deadline")])
def test_a_body_past_its_deadline_ends_at_the_next_chunk_not_at_its_end(
    flavour: Flavour, fake: FakeClock, chunks: int, ends: str
) -> None:
    """The deadline passing while the caller handles a chunk ends the body when another
    chunk comes, not when the body turns out to be complete (as in async code)."""
    http = flavour.http

    class Body(http.SyncByteStream):  # type: ignore[misc, name-defined]
        def __iter__(self) -> Iterator[bytes]:
            for _ in range(chunks):
                yield b"chunk"

    transport = flavour.stalwart.ResilientTransport(
        http.MockTransport(lambda request: http.Response(200, stream=Body())),
        pipeline=stalwart.Pipeline(stalwart.Timeout(total=1.0)),
    )
    response = transport.handle_request(http.Request("GET", "http://api.test/x"))
    received = []
    if ends == "normally":
        for chunk in response.stream:
            received.append(chunk)
            fake.advance(2.0)  # the caller is slow with it: the deadline passes
        assert received == [b"chunk"]
    else:
        with pytest.raises(stalwart.DeadlineExceeded):
            for chunk in response.stream:
                received.append(chunk)
                fake.advance(2.0)
        assert received == [b"chunk"]


def test_a_timeout_at_the_deadline_is_the_deadline(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http

    def hang(request: Any) -> Any:
        fake.advance(request.extensions["timeout"].get("read"))
        raise http.ReadTimeout("timed out")

    recorder = Recorder(flavour, hang)
    with pytest.raises(stalwart.DeadlineExceeded) as caught, stalwart.deadline(2.0):
        client(flavour, recorder).get("/x")
    assert isinstance(caught.value.__cause__, http.ReadTimeout)
    assert recorder.attempts == 1
    assert fake.monotonic() == pytest.approx(2.0)


def test_a_timeout_of_the_callers_own_stays_an_httpx_timeout(
    flavour: Flavour, fake: FakeClock
) -> None:
    error = flavour.http.ReadTimeout("timed out")
    recorder = Recorder(flavour, error)
    with pytest.raises(flavour.http.ReadTimeout):
        client(flavour, recorder).get("/x")
    assert recorder.attempts == 3


def test_a_post_cut_by_its_attempt_timeout_is_not_retried(
    flavour: Flavour, fake: FakeClock
) -> None:
    http = flavour.http

    def hang(request: Any) -> Any:
        fake.advance(request.extensions["timeout"].get("read"))
        raise http.ReadTimeout("timed out")

    recorder = Recorder(flavour, hang)
    with pytest.raises(stalwart.DeadlineExceeded) as caught:
        client(flavour, recorder).post("/orders", timeout=60.0)
    assert recorder.attempts == 1
    assert fake.monotonic() == pytest.approx(10.0)  # the per-attempt timeout
    assert any("POST is not idempotent" in note for note in caught.value.__notes__)


def test_a_get_cut_by_its_attempt_timeout_is_retried(flavour: Flavour, fake: FakeClock) -> None:
    http = flavour.http

    def hang(request: Any) -> Any:
        fake.advance(request.extensions["timeout"].get("read"))
        raise http.ReadTimeout("timed out")

    recorder = Recorder(flavour, hang, 200)
    assert client(flavour, recorder).get("/x", timeout=60.0).status_code == 200
    assert recorder.attempts == 2
    assert fake.monotonic() == pytest.approx(10.0, abs=0.2)  # one attempt timeout, a backoff


def test_no_attempt_starts_after_the_deadline(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, 200)
    c = client(flavour, recorder)
    with pytest.raises(stalwart.DeadlineExceeded), stalwart.deadline(1.0):
        fake.advance(1.0)
        c.get("/x")
    assert recorder.attempts == 0


# -- partitions ------------------------------------------------------------------------


def test_the_breaker_opens_per_origin(flavour: Flavour, fake: FakeClock) -> None:
    def by_host(request: Any) -> Any:
        return flavour.http.Response(503 if request.url.host == "down.test" else 200)

    recorder = Recorder(flavour, by_host)
    c = client(flavour, recorder)
    with pytest.raises(stalwart.CircuitOpen):  # once 20 attempts have failed
        for _ in range(20):
            assert c.get("http://down.test/x").status_code == 503
    assert recorder.attempts == 20
    for _ in range(10):
        with pytest.raises(stalwart.CircuitOpen) as caught:
            c.get("http://down.test/x")
        assert caught.value.key == "http://down.test:80"
    assert recorder.attempts == 20  # the upstream is spared
    assert c.get("http://up.test/x").status_code == 200


def test_origin_names_scheme_host_and_port(flavour: Flavour) -> None:
    request = flavour.http.Request
    assert flavour.stalwart.origin(request("GET", "https://a.test/x")) == "https://a.test:443"
    assert flavour.stalwart.origin(request("GET", "http://a.test/x")) == "http://a.test:80"
    assert flavour.stalwart.origin(request("GET", "http://a.test:81/")) == "http://a.test:81"


# -- configuration -------------------------------------------------------------------


def test_a_hedging_pipeline_is_refused_for_every_method(flavour: Flavour) -> None:
    with pytest.raises(ValueError, match="read_pipeline"):
        flavour.stalwart.ResilientTransport(pipeline=flavour.stalwart.hedging_pipeline())


def test_bad_options_are_named(flavour: Flavour) -> None:
    transport = flavour.stalwart.ResilientTransport
    with pytest.raises(TypeError, match=r"pipeline must be a stalwart\.Pipeline"):
        transport(pipeline=[stalwart.Retry(on=OSError)])
    with pytest.raises(TypeError, match="read_pipeline"):
        transport(read_pipeline="fast")
    with pytest.raises(TypeError, match="idempotency_keys"):
        transport(idempotency_keys="yes")
    with pytest.raises(TypeError, match="propagation"):
        transport(propagation=["api.internal"])
    with pytest.raises(TypeError, match="inner must be an httpx sync transport"):
        transport(object())
    with pytest.raises(TypeError, match="async transport"):
        flavour.stalwart.AsyncResilientTransport(flavour.http.HTTPTransport())


def test_repr_shows_the_inner_transport_and_options(flavour: Flavour) -> None:
    inner = flavour.http.MockTransport(lambda request: None)
    text = repr(flavour.stalwart.ResilientTransport(inner, idempotency_keys=True))
    assert text.startswith("ResilientTransport(<")
    assert "Bulkhead(max_concurrent=100" in text
    assert "idempotency_keys=True" in text


def test_the_transport_closes_its_inner_transport(flavour: Flavour) -> None:
    closed: list[bool] = []

    class Inner(flavour.http.MockTransport):  # type: ignore[misc, name-defined]
        def close(self) -> None:
            closed.append(True)

    with flavour.http.Client(
        transport=flavour.stalwart.ResilientTransport(Inner(lambda request: None))
    ):
        pass
    assert closed == [True]


def email_date(timestamp: float) -> str:
    import email.utils

    return email.utils.formatdate(timestamp, usegmt=True)


# -- what the review found -----------------------------------------------------------


def test_propagated_headers_do_not_follow_a_redirect_elsewhere(
    flavour: Flavour, fake: FakeClock
) -> None:
    http = flavour.http
    seen: dict[str, Any] = {}

    def answer(request: Any) -> Any:
        seen[request.url.host] = http.Headers(request.headers)
        if request.url.host == "orders.internal":
            return http.Response(302, headers={"Location": "https://partner.example/x"})
        return http.Response(200)

    transport = flavour.stalwart.ResilientTransport(
        http.MockTransport(answer),
        propagation=flavour.stalwart.Propagation(hosts=["orders.internal"]),
    )
    with (
        http.Client(transport=transport, follow_redirects=True) as client,
        stalwart.deadline(5.0),
        stalwart.bind(request_id="r-1", tenant="secret"),
    ):
        client.get("http://orders.internal/x", headers={"baggage": "mine=1"})
    assert seen["orders.internal"]["x-request-id"] == "r-1"
    outside = seen["partner.example"]
    assert "x-request-id" not in outside
    assert "x-request-timeout-ms" not in outside
    assert outside["baggage"] == "mine=1"  # the caller's own header, as they set it


def test_responses_a_strategy_rejects_are_closed(flavour: Flavour, fake: FakeClock) -> None:
    """A Retry that retries results (a 404 while data replicates) drops responses."""
    recorder = Recorder(flavour, 0)
    recorder.answers = [closing_response(flavour, recorder, 404)] * 2 + [200]

    def retry_404(outcome: stalwart.Outcome[Any]) -> stalwart.Verdict:
        if outcome.exception is None and outcome.result.status_code == 404:
            return stalwart.Verdict.TRANSIENT
        return flavour.stalwart.classify(outcome)

    pipeline = stalwart.Pipeline(stalwart.Retry(classify=retry_404))
    assert client(flavour, recorder, pipeline=pipeline).get("/x").status_code == 200
    assert recorder.log == ["attempt 1", "attempt 2", "attempt 3", "closed 3", "closed 3"]


def test_a_custom_classifier_may_retry_other_statuses(flavour: Flavour, fake: FakeClock) -> None:
    def also_524(outcome: stalwart.Outcome[Any]) -> stalwart.Verdict:
        response = getattr(outcome.exception, "response", None)
        if response is not None and response.status_code == 524:
            return stalwart.Verdict.TRANSIENT
        return flavour.stalwart.classify(outcome)

    recorder = Recorder(flavour, 524, 200)
    pipeline = stalwart.Pipeline(stalwart.Retry(classify=also_524))
    assert client(flavour, recorder, pipeline=pipeline).get("/x").status_code == 200
    assert recorder.attempts == 2


def test_a_streaming_body_is_never_hedged(flavour: Flavour) -> None:
    recorder = Recorder(flavour, 200)
    reads = flavour.stalwart.hedging_pipeline(delay=0.0, max_hedges=2)
    c = client(flavour, recorder, read_pipeline=reads)
    assert c.request("GET", "/x", content=iter([b"query"])).status_code == 200
    assert recorder.attempts == 1


def test_a_resilient_transport_is_not_wrapped_twice(flavour: Flavour) -> None:
    inner = flavour.stalwart.ResilientTransport(flavour.http.MockTransport(lambda r: None))
    with pytest.raises(TypeError, match="resilient transport already"):
        flavour.stalwart.ResilientTransport(inner)
    with pytest.raises(TypeError, match="resilient transport already"):
        flavour.stalwart.Client(transport=inner)


def test_a_pipeline_that_returns_no_response_is_named(flavour: Flavour, fake: FakeClock) -> None:
    recorder = Recorder(flavour, flavour.http.ConnectError("down"))
    pipeline = stalwart.Pipeline(stalwart.Fallback(value={"cached": True}, on=Exception))
    with pytest.raises(TypeError, match="must produce a Response"):
        client(flavour, recorder, pipeline=pipeline).get("/x")


def test_hedged_reads_share_the_state_of_the_pipeline(flavour: Flavour) -> None:
    with flavour.stalwart.Client(hedge=True) as c:
        writes, reads = c._transport.pipeline, c._transport.read_pipeline
    kinds = (stalwart.Bulkhead, stalwart.CircuitBreaker)
    for kind in kinds:
        (shared,) = {s for s in writes.strategies if isinstance(s, kind)}
        assert any(s is shared for s in reads.strategies)
    (retry,) = [s for s in writes.strategies if isinstance(s, stalwart.Retry)]
    (hedge,) = [s for s in reads.strategies if isinstance(s, stalwart.Hedge)]
    assert hedge.budget is retry.budget


def test_a_hedged_read_answered_with_retry_after_ends_with_that_answer(flavour: Flavour) -> None:
    recorder = Recorder(flavour, retry_after(flavour, 503, "5"), 200)
    reads = flavour.stalwart.hedging_pipeline(delay=math.inf)
    # No autojump: the sync hedge's driver would jump to the deadline before the worker
    # thread reported.
    with FakeClock(autojump=False):
        response = client(flavour, recorder, read_pipeline=reads).get("/x")
    assert response.status_code == 503
    assert recorder.attempts == 1


def test_per_origin_state_is_bounded(flavour: Flavour, fake: FakeClock) -> None:
    """Random hostnames cannot grow the breakers, budgets and bulkheads without limit."""
    recorder = Recorder(flavour, 200)
    c = client(flavour, recorder)
    for n in range(1500):
        c.get(f"http://host-{n}.test/")
    strategies = c._transport.pipeline.strategies
    (breaker,) = [s for s in strategies if isinstance(s, stalwart.CircuitBreaker)]
    origins = set(breaker.keys())
    assert len(origins) == 1024
    assert "http://host-1499.test:80" in origins
    assert "http://host-0.test:80" not in origins
