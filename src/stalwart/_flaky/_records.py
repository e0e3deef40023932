"""What `FlakyServer` saw and did: one record per request, and counters over all of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, final

__all__ = ["FaultKind", "FlakyStatistics", "RecordedRequest"]

#: What decided a request's fate, when it was not a normal answer.
FaultKind: TypeAlias = Literal["outage", "fail_first", "reset", "hang", "error", "bad_override"]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request a `FlakyServer` read in full, and what it decided to do with it.

    ```python
    last = server.requests[-1]
    assert (last.method, last.path, last.attempt, last.status) == ("POST", "/orders", 2, 200)
    assert last.header("content-type") == "application/json"
    ```

    - `method`, `path` and `query` as received (`query` without its `?`, "" for none;
      `path` still percent-encoded).
    - `headers`: every header in order, names in lower case, values as received.
    - `body_size`: bytes of request body read.
    - `request_id`: the value of the server's id header, or None when absent.
    - `attempt`: how many requests with this id the server has seen, this one included
      (always 1 without an id).
    - `fault`: what decided the request when it was not a normal answer: "outage",
      "fail_first", "reset", "hang", "error" (`error_rate`) or "bad_override" (a bad query
      override, answered 400); None for a normal answer.
    - `status`: the status answered, or None for a reset or a hang (no answer).
    - `delay`: seconds waited before answering (latency, jitter or slow tail; 0.0 for none).
    - `slow_tail`: whether this answer drew the slow tail.
    - `connection`: the serial number of the connection it came on (from 1, per server),
      so requests sharing a keep-alive connection share it.
    """

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body_size: int
    request_id: str | None
    attempt: int
    fault: FaultKind | None
    status: int | None
    delay: float
    slow_tail: bool
    connection: int

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None when it was not sent."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FlakyStatistics:
    """A snapshot of a `FlakyServer`'s counters since it was made or `reset_counters()`.

    ```python
    stats = server.statistics()
    assert stats.received == 10 and stats.by_status == {200: 8, 503: 2}
    assert stats.by_fault == {"error": 2}
    ```

    - `received`: requests read in full (whatever was done with them).
    - `by_status`: answers by status code, the 400s for malformed input included; resets
      and hangs are not answers.
    - `by_fault`: requests by the fault that decided them (see `RecordedRequest.fault`);
      normal answers are not counted here. `resets` and `hangs` read two of its entries.
    - `slow_tail`: answers that drew the slow tail.
    - `connections`: connections accepted.
    - `protocol_errors`: connections closed after input that was not HTTP/1.1 (answered
      400, or 431 for oversized headers).
    - `body_bytes`: request body bytes read, over all requests.
    """

    received: int
    by_status: Mapping[int, int]
    by_fault: Mapping[FaultKind, int]
    slow_tail: int
    connections: int
    protocol_errors: int
    body_bytes: int

    @property
    def resets(self) -> int:
        """Connections reset instead of answering (`reset_rate`)."""
        return self.by_fault.get("reset", 0)

    @property
    def hangs(self) -> int:
        """Requests never answered (`hang_rate`)."""
        return self.by_fault.get("hang", 0)
