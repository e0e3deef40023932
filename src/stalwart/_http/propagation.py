"""Outbound propagation: what a request tells the next service, and to which hosts.

The remaining deadline, the bound request values and the trace context are internal
metadata: they go only to the hosts the user names, never by default to everyone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final
from urllib.parse import quote

from .._validation import check_number

__all__ = ["Propagation"]

logger = logging.getLogger("stalwart")

#: W3C Baggage limits: entries and bytes a header may carry.
_BAGGAGE_MAX_ENTRIES: Final = 180
_BAGGAGE_MAX_BYTES: Final = 8192
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _check_header(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or not set(value) <= _TOKEN_CHARS:
        raise ValueError(f"{name} must be an HTTP header name (or None), got {value!r}")


def _hosts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"hosts must be a list of host names, not one string: got {value!r}")
    if not isinstance(value, Iterable):
        raise TypeError(f"hosts must be a list of host names, got {value!r}")
    hosts = []
    for host in value:
        if not isinstance(host, str) or not host or host.strip() != host or "/" in host:
            raise ValueError(
                f"hosts takes host names ('api.internal'), wildcards ('*.svc.cluster.local') "
                f"or '*', got {host!r}"
            )
        if "*" in host and host != "*" and not (host.startswith("*.") and "*" not in host[2:]):
            raise ValueError(f"a wildcard host must look like '*.example.com', got {host!r}")
        hosts.append(host.lower())
    return tuple(hosts)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Propagation:
    """Which hosts receive the caller's deadline, request values and trace context.

    ```python
    stalwart.Client(propagation=stalwart.httpx.Propagation(hosts=["*.svc.cluster.local"]))
    ```

    - `hosts` (required, kept as a tuple): host names that may receive them: exact
      (`"orders.internal"`), a wildcard for subdomains (`"*.svc.cluster.local"`, which
      does not match `svc.cluster.local` itself), or `"*"` for every host. Ports are not
      compared.
    - `deadline_header="X-Request-Timeout-Ms"`: the remaining time of the call, in whole
      milliseconds, minus `reserve`, recomputed before every attempt; sent only when
      the call has a deadline. `None` sends none. A relative budget, never an absolute
      time, so clocks that disagree do not matter.
    - `reserve=0.05`: seconds kept back for the answer's way home (≥ 0). When less than
      that remains, the header says 0.
    - `request_id_header="X-Request-Id"`: carries the value bound as `request_id`
      (`stalwart.bind(request_id=...)`) unless the request sets it already. `None` turns
      it off.
    - `values=True`: every bound value as a W3C `baggage` entry (percent-encoded,
      within the standard's 180 entries and 8,192 bytes; entries already in the header
      win).
    - `trace_context=True`: W3C `traceparent`/`tracestate` (and OpenTelemetry's baggage)
      through OpenTelemetry's configured propagators, when `opentelemetry-api` is
      installed (extra `otel`); without it, nothing.
    """

    hosts: Sequence[str]
    deadline_header: str | None = "X-Request-Timeout-Ms"
    reserve: float = 0.05
    request_id_header: str | None = "X-Request-Id"
    values: bool = True
    trace_context: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", _hosts(self.hosts))
        _check_header("deadline_header", self.deadline_header)
        _check_header("request_id_header", self.request_id_header)
        check_number("reserve", self.reserve, minimum=0.0)
        for name in ("values", "trace_context"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def allows(self, host: str) -> bool:
        """Whether `host` may receive the propagated metadata."""
        host = host.lower()
        for allowed in self.hosts:
            if allowed in ("*", host):
                return True
            if allowed.startswith("*.") and host.endswith(allowed[1:]):
                return True
        return False

    def deadline_value(self, remaining: float) -> str | None:
        """The deadline header's value with `remaining` seconds left (None: no deadline)."""
        if math.isinf(remaining):
            return None
        return str(max(0, math.floor((remaining - self.reserve) * 1000)))

    def call_headers(
        self,
        values: Mapping[str, object],
        headers: MutableMapping[str, str],
        added: dict[str, str | None],
    ) -> None:
        """Add the headers that stay the same for every attempt of a call, keeping in
        `added` what each header it set held before (None: absent), so the transport can
        take them back before a redirect."""
        carrier: dict[str, str] = {}
        if self.trace_context:
            from . import trace_context

            trace_context.inject(carrier)
        request_id = values.get("request_id")
        name = self.request_id_header
        if name is not None and request_id is not None and name not in headers:
            carrier[name] = str(request_id)
        if self.values and values:
            baggage = _merge_baggage(carrier.get("baggage", headers.get("baggage")), values)
            if baggage:
                carrier["baggage"] = baggage
        for header, value in carrier.items():
            if header.lower() == "baggage" or header not in headers:
                added.setdefault(header, headers.get(header))
                headers[header] = value


def _merge_baggage(existing: str | None, values: Mapping[str, Any]) -> str:
    entries = [part.strip() for part in existing.split(",") if part.strip()] if existing else []
    present = {entry.split("=", 1)[0].strip() for entry in entries}
    size = len(",".join(entries))
    for key, value in values.items():
        if key in present or not key or not set(key) <= _TOKEN_CHARS:
            continue
        entry = f"{key}={quote(str(value), safe='')}"
        if len(entries) >= _BAGGAGE_MAX_ENTRIES or size + len(entry) + 1 > _BAGGAGE_MAX_BYTES:
            logger.debug("stalwart: baggage is full; value %r not propagated", key)
            break
        entries.append(entry)
        size += len(entry) + 1
    return ",".join(entries)
