"""Outbound propagation: only to allowed hosts, with the deadline, values and trace."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import stalwart
from stalwart.httpx import Propagation
from stalwart.testing import FakeClock

from .conftest import Flavour


def sent_headers(flavour: Flavour, url: str, propagation: Propagation | None, **kw: Any) -> Any:
    seen: list[Any] = []

    def record(request: Any) -> Any:
        seen.append(flavour.http.Headers(request.headers))  # as sent: the call cleans up
        return flavour.http.Response(200)

    inner = flavour.http.MockTransport(record)
    transport = flavour.stalwart.ResilientTransport(inner, propagation=propagation)
    with flavour.http.Client(transport=transport) as client:
        client.get(url, **kw)
    return seen[-1]


def test_nothing_is_propagated_by_default(flavour: Flavour) -> None:
    with FakeClock(), stalwart.deadline(5.0), stalwart.bind(request_id="r-1", tenant="acme"):
        headers = sent_headers(flavour, "http://orders.internal/x", None)
    assert "x-request-timeout-ms" not in headers
    assert "x-request-id" not in headers
    assert "baggage" not in headers


def test_allowed_hosts_receive_deadline_request_id_and_values(flavour: Flavour) -> None:
    propagation = Propagation(hosts=["orders.internal"])
    with FakeClock(), stalwart.deadline(5.0), stalwart.bind(request_id="r-1", tenant="a c"):
        headers = sent_headers(flavour, "http://orders.internal/x", propagation)
    assert headers["x-request-timeout-ms"] == "4950"  # 5 s minus the 50 ms reserve
    assert headers["x-request-id"] == "r-1"
    assert headers["baggage"] == "request_id=r-1,tenant=a%20c"


def test_other_hosts_receive_nothing(flavour: Flavour) -> None:
    propagation = Propagation(hosts=["*.internal"])
    with FakeClock(), stalwart.deadline(5.0), stalwart.bind(request_id="r-1"):
        headers = sent_headers(flavour, "https://api.partner.example/x", propagation)
        inside = sent_headers(flavour, "http://orders.internal/x", propagation)
    assert "x-request-timeout-ms" not in headers
    assert "x-request-id" not in headers
    assert "baggage" not in headers
    assert "x-request-timeout-ms" in inside


def test_the_total_timeout_bounds_the_propagated_deadline(flavour: Flavour) -> None:
    """With no deadline of the caller's, the pipeline's 30 s total is what remains."""
    with FakeClock():
        headers = sent_headers(flavour, "http://a.internal/", Propagation(hosts=["*"]))
    assert headers["x-request-timeout-ms"] == "9950"  # the 10 s attempt timeout is tighter


def test_the_callers_own_headers_win(flavour: Flavour) -> None:
    propagation = Propagation(hosts=["*"])
    with FakeClock(), stalwart.bind(request_id="mine", tenant="acme"):
        headers = sent_headers(
            flavour,
            "http://a.internal/",
            propagation,
            headers={"X-Request-Id": "theirs", "baggage": "tenant=other"},
        )
    assert headers["x-request-id"] == "theirs"
    assert headers["baggage"] == "tenant=other,request_id=mine"


def test_w3c_trace_context_goes_to_allowed_hosts(flavour: Flavour) -> None:
    tracer = TracerProvider().get_tracer("test")
    propagation = Propagation(hosts=["a.internal"])
    with tracer.start_as_current_span("call") as span:
        headers = sent_headers(flavour, "http://a.internal/", propagation)
        outside = sent_headers(flavour, "http://b.example/", propagation)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert headers["traceparent"].split("-")[1] == trace_id
    assert "traceparent" not in outside
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_options_can_be_turned_off(flavour: Flavour) -> None:
    propagation = Propagation(
        hosts=["*"], deadline_header=None, request_id_header=None, values=False
    )
    with FakeClock(), stalwart.deadline(5.0), stalwart.bind(request_id="r-1"):
        headers = sent_headers(flavour, "http://a.internal/", propagation)
    assert not {"x-request-timeout-ms", "x-request-id", "baggage"} & set(headers.keys())


def test_host_patterns() -> None:
    propagation = Propagation(hosts=["API.internal", "*.svc.local"])
    assert propagation.hosts == ("api.internal", "*.svc.local")
    assert propagation.allows("api.internal")
    assert propagation.allows("API.INTERNAL")
    assert propagation.allows("orders.svc.local")
    assert not propagation.allows("svc.local")
    assert not propagation.allows("evil-svc.local")
    assert not propagation.allows("api.internal.evil.com")
    assert Propagation(hosts=["*"]).allows("anything.example")


def test_the_deadline_value_never_goes_negative() -> None:
    propagation = Propagation(hosts=["*"], reserve=0.5)
    assert propagation.deadline_value(0.2) == "0"
    assert propagation.deadline_value(float("inf")) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hosts": "api.internal"}, "not one string"),
        ({"hosts": 3}, "list of host names"),
        ({"hosts": ["http://api.internal"]}, "host names"),
        ({"hosts": ["api.*.internal"]}, "wildcard"),
        ({"hosts": ["*"], "reserve": -1}, "reserve"),
        ({"hosts": ["*"], "deadline_header": "bad header"}, "deadline_header"),
        ({"hosts": ["*"], "values": "yes"}, "values"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        Propagation(**options)
