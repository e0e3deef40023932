"""`stalwart get|post|request`: one resilient request from the shell, every attempt shown."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from pathlib import Path
from typing import Final

import httpx
from rich.console import Console
from rich.text import Text

import stalwart
from stalwart.httpx import IDEMPOTENT_METHODS, hedging_pipeline, standard_pipeline

from .._clock import SYSTEM_CLOCK
from ._common import error_line, exception_text, format_seconds, number, plural

__all__ = ["EXIT_DEADLINE", "EXIT_NETWORK", "EXIT_REFUSED", "add_arguments", "run"]

#: Seconds `--hedge` lets an attempt run before starting the next one.
HEDGE_DELAY = 0.1

EXIT_OK: Final = 0
EXIT_STATUS: Final = 1
EXIT_NETWORK: Final = 3
EXIT_DEADLINE: Final = 4
EXIT_REFUSED: Final = 5
#: httpx's connect timeout in the standard clients; never above the per-attempt one.
CONNECT: Final = 5.0
#: A timeout that fired this much before the deadline was an attempt's own.
_SLACK: Final = 1e-3
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE: Final = re.compile(r"^[\x20-\x7e]*$")


def _method(text: str) -> str:
    if not _TOKEN.match(text):
        raise argparse.ArgumentTypeError(f"must be an HTTP method such as PUT, got {text!r}")
    return text.upper()


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not _TOKEN.match(name):
        raise argparse.ArgumentTypeError(f"must be 'Name: value', got {text!r}")
    value = value.strip()
    if not _VALUE.match(value):
        # httpx sends header values as ASCII; anything else would fail mid-request.
        raise argparse.ArgumentTypeError(
            f"the value must be printable ASCII (encode anything else), got {text!r}"
        )
    return (name, value)


def add_arguments(parser: argparse.ArgumentParser, *, method: str | None) -> None:
    """The options of `get`, `post` and `request` (`method` None: a METHOD argument)."""
    if method is None:
        parser.add_argument("method", type=_method, metavar="METHOD", help="GET, PUT, DELETE...")
    else:
        parser.set_defaults(method=method)
    parser.add_argument("url", metavar="URL", help="http:// or https:// (http:// if omitted)")
    if method != "GET":
        body = parser.add_mutually_exclusive_group()
        body.add_argument(
            "--data",
            "-d",
            metavar="TEXT",
            help="the request body as is; @FILE reads a file, @- reads stdin",
        )
        body.add_argument(
            "--json",
            metavar="JSON",
            help="a JSON body (checked), sent with Content-Type: application/json",
        )
    parser.add_argument(
        "--header",
        "-H",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    parser.add_argument(
        "--deadline",
        type=number(above=0),
        default=30.0,
        metavar="SECONDS",
        help="for everything: every attempt and every wait (default 30)",
    )
    parser.add_argument(
        "--attempts",
        type=number(integer=True, minimum=1),
        default=3,
        metavar="N",
        help="attempts at most (default 3; 1 turns retries off)",
    )
    parser.add_argument(
        "--timeout",
        type=number(above=0),
        default=10.0,
        metavar="SECONDS",
        help="for each attempt (default 10)",
    )
    parser.add_argument(
        "--idempotency-key",
        metavar="KEY|auto",
        help="send Idempotency-Key: KEY, which makes a POST or PATCH retryable; "
        "auto: a fresh UUID4, the same on every attempt",
    )
    parser.add_argument(
        "--hedge",
        action="store_true",
        help="for GET, HEAD and OPTIONS: start another attempt each time the latest has "
        "run 100 ms without an answer, or at once after a failure (at most --attempts in "
        "all), instead of retrying after failures",
    )
    parser.add_argument(
        "--location",
        "-L",
        action="store_true",
        help="follow redirects",
    )


class _Reporter:
    """Shows the attempts on stderr as they end, and the waits between them."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._started = 0
        self._ended = 0
        self._done = False

    @property
    def attempts(self) -> int:
        with self._lock:
            return self._started

    def start(self) -> int:
        with self._lock:
            self._started += 1
            return self._started

    def finish(self) -> int:
        """The call has returned: attempts abandoned by a hedge stay silent from now on.
        Returns how many attempts were still running."""
        with self._lock:
            self._done = True
            return self._started - self._ended

    def _show(self, text: Text) -> None:
        with self._lock:
            if not self._done:
                self._console.print(text, soft_wrap=True)

    def attempt(
        self,
        number: int,
        seconds: float,
        response: httpx.Response | None,
        error: BaseException | None,
    ) -> None:
        line = Text(f"  attempt {number}  ")
        if response is not None:
            status = response.status_code
            style = "green" if response.is_success else "yellow" if status < 500 else "red"
            line.append(f"{status} {response.reason_phrase}".strip(), style=style)
        elif isinstance(error, stalwart.Cancelled):
            line.append("cancelled (another attempt answered first)", style="dim")
        else:
            line.append(exception_text(error or RuntimeError("unknown")), style="red")
        line.append(f"  {format_seconds(seconds)}", style="dim")
        with self._lock:
            self._ended += 1
        self._show(line)

    def event(self, event: stalwart.Event) -> None:
        """A stalwart listener: the waits and decisions between attempts."""
        if isinstance(event, stalwart.RetryScheduled):
            source = "Retry-After" if event.hinted else "backoff"
            self._show(Text(f"  waiting {event.delay:.3f} s ({source})", style="dim"))
        elif isinstance(event, stalwart.RetryGaveUp):
            self._show(Text(f"  gave up: {event.reason}", style="dim"))
        elif isinstance(event, stalwart.HedgeStarted):
            self._show(Text(f"  hedging after {event.delay:.3f} s", style="dim"))


class _TimingTransport(httpx.HTTPTransport):
    """httpx's own transport, reporting each attempt: its status or error, its time to
    the response headers. `stalwart.Client` wraps it, so each call of it is one attempt."""

    def __init__(self, reporter: _Reporter) -> None:
        super().__init__()
        self._reporter = reporter

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        number = self._reporter.start()
        started = SYSTEM_CLOCK.monotonic()
        try:
            response = super().handle_request(request)
        except BaseException as error:
            self._reporter.attempt(number, SYSTEM_CLOCK.monotonic() - started, None, error)
            raise
        self._reporter.attempt(number, SYSTEM_CLOCK.monotonic() - started, response, None)
        return response


def _url(text: str, parser: argparse.ArgumentParser) -> httpx.URL:
    if "://" not in text:
        text = "http://" + text  # as curl does
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        parser.error(f"argument URL: {error}")
    if url.scheme not in ("http", "https") or not url.host:
        parser.error(f"argument URL: must be an http:// or https:// URL, got {text!r}")
    return url


def _body(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[bytes | None, str]:
    """The request body and its content type ("" for none)."""
    document = getattr(args, "json", None)
    if document is not None:
        try:
            json.loads(document)
        except ValueError as error:
            parser.error(f"argument --json: not JSON: {error}")
        return document.encode(), "application/json"
    data = getattr(args, "data", None)
    if data is None:
        return None, ""
    if data == "@-":
        return sys.stdin.buffer.read(), ""
    if data.startswith("@"):
        try:
            return Path(data[1:]).read_bytes(), ""
        except OSError as error:
            parser.error(f"argument --data: cannot read {data[1:]!r}: {error.strerror or error}")
    return data.encode(), ""


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Send the request; the exit status says how it ended (see `stalwart get --help`)."""
    method: str = args.method
    url = _url(args.url, parser)
    attempts = int(args.attempts)
    headers: list[tuple[str, str]] = list(args.header)
    content, content_type = _body(args, parser)
    names = {name.lower() for name, _ in headers}
    if content_type and "content-type" not in names:
        headers.append(("Content-Type", content_type))
    key: str | None = args.idempotency_key
    auto = key == "auto"
    if key is not None and not auto:
        if not key.strip() or not _VALUE.match(key):
            parser.error(f"argument --idempotency-key: must be printable ASCII, got {key!r}")
        headers.append(("Idempotency-Key", key.strip()))
    deadline: float = args.deadline
    # An attempt cannot outlast the deadline (the pipeline rejects a longer one).
    per_attempt = min(args.timeout, deadline)
    if args.hedge and attempts < 2:
        parser.error("argument --hedge: needs --attempts 2 or more")
    try:
        pipeline = standard_pipeline(total=deadline, per_attempt=per_attempt, max_attempts=attempts)
        read_pipeline = None
        if args.hedge:
            # One request teaches no latency percentile: hedge after a fixed delay.
            read_pipeline = hedging_pipeline(
                delay=HEDGE_DELAY,
                max_hedges=attempts - 1,
                total=deadline,
                per_attempt=per_attempt,
                share_state_with=pipeline,
            )
    except (TypeError, ValueError) as error:
        parser.error(str(error))

    console = Console(stderr=True, highlight=False)
    reporter = _Reporter(console)
    console.print(
        Text.assemble(
            (f"{method} {url}", "bold"),
            (
                f"  deadline {args.deadline:g} s · up to {plural(attempts, 'attempt')} "
                f"of {per_attempt:g} s",
                "dim",
            ),
        ),
        soft_wrap=True,
    )
    client = stalwart.Client(
        pipeline=pipeline,
        read_pipeline=read_pipeline,
        idempotency_keys=auto,
        transport=_TimingTransport(reporter),
        timeout=httpx.Timeout(per_attempt, connect=min(CONNECT, per_attempt)),
        follow_redirects=args.location,
    )
    remove = stalwart.add_listener(reporter.event)
    started = SYSTEM_CLOCK.monotonic()
    scope = stalwart.deadline(deadline)
    try:
        with client, scope:
            response = client.request(method, url, headers=headers, content=content)
    except stalwart.DeadlineExceeded as error:
        if error.deadline < scope.deadline - _SLACK:
            # The last attempt's own timeout (--timeout), not the deadline: a network
            # failure like any other, told by what httpx saw.
            cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
            return _failed(reporter, cause, EXIT_NETWORK, f"--timeout {per_attempt:g} s")
        return _failed(reporter, error, EXIT_DEADLINE, f"--deadline {deadline:g} s")
    except stalwart.Rejected as error:
        return _failed(reporter, error, EXIT_REFUSED)
    except httpx.HTTPError as error:
        return _failed(reporter, error, EXIT_NETWORK)
    finally:
        remove()
        running = reporter.finish()
    elapsed = SYSTEM_CLOCK.monotonic() - started
    if running:
        console.print(
            Text(f"  {plural(running, 'slower attempt')} abandoned (hedging)", style="dim"),
            soft_wrap=True,
        )
    status = f"{response.status_code} {response.reason_phrase}".strip()
    console.print(
        Text.assemble(
            ("stalwart: ", "bold"),
            (status, "bold green" if response.is_success else "bold red"),
            f" after {plural(reporter.attempts, 'attempt')} in {format_seconds(elapsed)}",
        ),
        soft_wrap=True,
    )
    why = _not_retried(method, response, headers, auto, reporter.attempts, attempts)
    if why:
        console.print(Text(f"  {why}", style="dim"), soft_wrap=True)
    body = response.content
    out = sys.stdout
    out.flush()
    out.buffer.write(body)
    if body and not body.endswith(b"\n") and out.isatty():
        out.buffer.write(b"\n")  # keep the prompt on its own line
    out.buffer.flush()
    return EXIT_OK if response.is_success else EXIT_STATUS


def _failed(reporter: _Reporter, error: BaseException, status: int, limit: str = "") -> int:
    reporter.finish()
    limit = f", {limit}" if limit else ""
    error_line(f"{exception_text(error)} ({plural(reporter.attempts, 'attempt')}{limit})")
    return status


def _not_retried(
    method: str,
    response: httpx.Response,
    headers: list[tuple[str, str]],
    auto: bool,
    made: int,
    allowed: int,
) -> str:
    """Why a retryable failure status was not retried, when the method is the reason."""
    keyed = auto and method in ("POST", "PATCH")
    keyed = keyed or any(name.lower() == "idempotency-key" for name, _ in headers)
    if made != 1 or allowed == 1 or keyed or method in IDEMPOTENT_METHODS:
        return ""
    if response.status_code not in stalwart.httpx.RETRYABLE_STATUSES:
        return ""
    return (
        f"not retried: {method} is not idempotent; --idempotency-key auto (or KEY) makes it "
        "safe to retry"
    )
