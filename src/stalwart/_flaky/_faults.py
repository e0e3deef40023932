"""What `FlakyServer` does wrong, and how one request overrides it with its query string."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, final
from urllib.parse import parse_qsl

import h11

from .._strategies._base import options_repr
from .._validation import check_int, check_number

__all__ = ["Faults", "parse_overrides"]


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Faults:
    """The faults a `FlakyServer` injects; every field defaults to "no fault".

    ```python
    Faults(error_rate=0.2, retry_after="1")        # 20 % of requests answered 503 + Retry-After
    Faults(fail_first=2, error_status=429)         # each request id fails twice, then succeeds
    Faults(slow_tail_ratio=0.05, slow_tail_latency=0.5, latency=0.01)   # a slow tail
    Faults(outage=(1.0, 3.0))                      # 503 for everything between 1 s and 3 s
    Faults(hang_rate=0.1)                          # 10 % never answered: client timeouts
    ```

    Latency, applied to every answer except outage answers and 400s:

    - `latency` (seconds, >= 0): waited before the response headers are sent.
    - `latency_jitter` (seconds, >= 0): plus a uniform random extra in [0, jitter).
    - `slow_tail_ratio` (in [0, 1]) and `slow_tail_latency` (seconds, >= 0): that share of
      answers waits `slow_tail_latency` instead of `latency` (jitter still added).
    - `slow_body` (seconds, >= 0): the headers go at once (after the latency), then the
      body is dripped in up to 8 chunks spread evenly over that time, the last one at
      `slow_body`; the response keeps its `Content-Length`.

    Failures, checked in this order; the first that applies decides the request:

    1. `outage=(start, end)`: every request received while `start <= t < end` is answered
       `error_status` at once (no latency). `t` is seconds since these faults took effect:
       since `start()` for faults given before it, since the assignment for
       `server.faults = ...` on a running server. `end` may be `math.inf` (down for good);
       `None` (default) means no outage.
    2. `fail_first` (int, >= 0): attempts 1..N of each request id are answered
       `error_status`. A request without an id is always attempt 1 of its own id, so any
       `fail_first >= 1` fails every such request.
    3. `reset_rate` (in [0, 1]): that share of requests gets its connection reset (TCP RST)
       once the request is read, with no answer; the client sees a connection error.
    4. `hang_rate` (in [0, 1]): that share of requests is never answered; the connection
       stays open, its further input ignored, until the client closes it or the server
       stops. The client sees a read timeout.
    5. `error_rate` (in [0, 1]): that share of requests is answered `error_status`.

    Answers:

    - `error_status` (default 503): the status of every injected error, 200..599 (a 1xx
      cannot end a response). `retry_after`: a `Retry-After` value sent with every injected
      error (any text a header may carry: "1", an HTTP-date, or garbage on purpose);
      `None` (default) sends none.
    - `body_size` (int >= 0): the size in bytes of a normal (200) body; the JSON document
      `{"ok": true, "attempt": N, "path": "..."}` is padded with spaces or truncated to
      it. `None` (default) sends the document as it is.

    Rates of 0 and 1 draw nothing from the server's random source; a rate strictly
    between draws one sample when its turn in the order above comes. Every field can be
    overridden for one request by a query parameter of the same name (see `FlakyServer`).
    """

    latency: float = 0.0
    latency_jitter: float = 0.0
    slow_tail_ratio: float = 0.0
    slow_tail_latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    retry_after: str | None = None
    fail_first: int = 0
    outage: tuple[float, float] | None = None
    hang_rate: float = 0.0
    reset_rate: float = 0.0
    slow_body: float = 0.0
    body_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("latency", "latency_jitter", "slow_tail_latency", "slow_body"):
            object.__setattr__(self, name, check_number(name, getattr(self, name), minimum=0))
        for name in ("slow_tail_ratio", "error_rate", "hang_rate", "reset_rate"):
            value = check_number(name, getattr(self, name), minimum=0, maximum=1)
            object.__setattr__(self, name, value)
        status = check_int("error_status", self.error_status, minimum=200)
        if status > 599:
            raise ValueError(f"error_status must be an HTTP status in 200..599, got {status!r}")
        check_int("fail_first", self.fail_first, minimum=0)
        if self.body_size is not None:
            check_int("body_size", self.body_size, minimum=0)
        if self.retry_after is not None:
            _check_header_value("retry_after", self.retry_after)
        if self.outage is not None:
            object.__setattr__(self, "outage", _check_outage(self.outage))

    __repr__ = options_repr

    def replace(self, **changes: Any) -> Faults:
        """A copy with some fields changed, validated again.

        ```python
        server.faults = server.faults.replace(error_rate=0.0)
        ```
        """
        return dataclasses.replace(self, **changes)


def _check_header_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {value!r}")
    try:
        h11.Response(status_code=200, headers=[(b"x", value.encode("latin-1"))])
    except (UnicodeEncodeError, h11.LocalProtocolError):
        raise ValueError(
            f"{name} must be a valid header value (Latin-1 text without control characters "
            f"or surrounding spaces), got {value!r}"
        ) from None
    return value


def _check_outage(outage: object) -> tuple[float, float]:
    if not isinstance(outage, tuple | list) or len(outage) != 2:
        raise TypeError(f"outage must be a (start, end) pair of seconds or None, got {outage!r}")
    start = check_number("outage start", outage[0], minimum=0)
    end = check_number("outage end", outage[1], minimum=start, allow_inf=True)
    return (start, end)


# -- per-request overrides ------------------------------------------------------------------


def _parse_float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def _parse_optional_int(name: str, text: str) -> int | None:
    return None if text.lower() in {"", "none"} else _parse_int(name, text)


def _parse_outage(name: str, text: str) -> tuple[float, float] | None:
    if text.lower() in {"", "none"}:
        return None
    start, comma, end = text.partition(",")
    if not comma:
        raise ValueError(f"{name} must be 'start,end' in seconds or 'none', got {text!r}")
    return (_parse_float(name, start), _parse_float(name, end))


def _parse_text(name: str, text: str) -> str:
    return text


def _parser_for(item: dataclasses.Field[Any]) -> Callable[[str, str], Any]:
    if item.name == "outage":
        return _parse_outage
    if item.name == "body_size":
        return _parse_optional_int
    if item.name == "retry_after":
        return _parse_text
    return _parse_int if isinstance(item.default, int) else _parse_float


#: How each query parameter named after a `Faults` field turns into that field's value.
_PARSERS: Final[dict[str, Callable[[str, str], Any]]] = {
    item.name: _parser_for(item) for item in dataclasses.fields(Faults)
}

#: Overrides already worked out, by (server faults, query): benchmarks repeat one query.
_cache: dict[tuple[Faults, bytes], Faults | str] = {}
_CACHE_SIZE: Final = 256


def parse_overrides(faults: Faults, query: bytes) -> Faults | str:
    """`faults` with the overrides in `query` (a raw query string) applied, or the error
    message for a 400 answer. Parameters not named after a field are ignored; when one is
    repeated, the last one counts."""
    key = (faults, query)
    found = _cache.get(key)
    if found is not None:
        return found
    result: Faults | str
    changes: dict[str, Any] = {}
    try:
        for name, text in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            parser = _PARSERS.get(name)
            if parser is not None:
                changes[name] = parser(name, text)
        result = dataclasses.replace(faults, **changes) if changes else faults
    except (TypeError, ValueError) as error:
        result = f"bad fault override: {error}"
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[key] = result
    return result
