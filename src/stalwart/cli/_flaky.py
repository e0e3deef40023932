"""`stalwart flaky`: serve the fault-injecting upstream until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, Final

from rich.console import Console
from rich.live import Live
from rich.text import Text

from .._clock import SYSTEM_CLOCK
from .._flaky import Faults, FlakyServer, FlakyStatistics
from ._common import error_line, number

__all__ = ["DEFAULT_PORT", "add_arguments", "counters_line", "run"]

DEFAULT_PORT: Final = 8080
#: How often the counters are shown.
REFRESH: Final = 1.0


def _pair(first: str, second: str) -> Any:
    """An argparse `type=` for `A,B` (two numbers; the second may be `inf`)."""

    def parse(text: str) -> tuple[float, float]:
        a, comma, b = text.partition(",")
        try:
            if not comma:
                raise ValueError
            return (float(a), float(b))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {first},{second} (two numbers), got {text!r}"
            ) from None

    return parse


#: Each fault option: (flags, dest, type, metavar, help, the Faults fields it sets).
_FAULT_OPTIONS: Final[list[tuple[str, str, Any, str, str, tuple[str, ...]]]] = [
    (
        "--latency",
        "latency",
        float,
        "SECONDS",
        "wait before every answer (default 0)",
        ("latency",),
    ),
    (
        "--latency-jitter",
        "latency_jitter",
        float,
        "SECONDS",
        "plus a uniform random extra in [0, SECONDS)",
        ("latency_jitter",),
    ),
    (
        "--slow-tail",
        "slow_tail",
        _pair("RATIO", "SECONDS"),
        "RATIO,SECONDS",
        "that share of answers waits SECONDS instead of --latency, e.g. 0.05,0.5",
        ("slow_tail_ratio", "slow_tail_latency"),
    ),
    (
        "--slow-body",
        "slow_body",
        float,
        "SECONDS",
        "drip each body over SECONDS after the headers",
        ("slow_body",),
    ),
    (
        "--error-rate",
        "error_rate",
        float,
        "RATE",
        "share of requests answered --status, in [0, 1]",
        ("error_rate",),
    ),
    (
        "--status",
        "error_status",
        int,
        "CODE",
        "status of every injected error, 200..599 (default 503)",
        ("error_status",),
    ),
    (
        "--retry-after",
        "retry_after",
        str,
        "VALUE",
        "send Retry-After: VALUE with every injected error (seconds or an HTTP-date)",
        ("retry_after",),
    ),
    (
        "--fail-first",
        "fail_first",
        int,
        "N",
        "the first N attempts of each request id (X-Request-Id) fail; "
        "a request without an id always fails",
        ("fail_first",),
    ),
    (
        "--outage",
        "outage",
        _pair("START", "END"),
        "START,END",
        "answer --status to everything from START to END seconds after the start (END may be inf)",
        ("outage",),
    ),
    (
        "--hang",
        "hang_rate",
        float,
        "RATE",
        "share of requests never answered (the client times out)",
        ("hang_rate",),
    ),
    (
        "--reset",
        "reset_rate",
        float,
        "RATE",
        "share of requests whose connection is reset (TCP RST)",
        ("reset_rate",),
    ),
    (
        "--body-size",
        "body_size",
        int,
        "BYTES",
        "pad or cut every 200 body to BYTES",
        ("body_size",),
    ),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `stalwart flaky`."""
    parser.add_argument(
        "--port",
        type=number(integer=True, minimum=0),
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--seed",
        type=number(integer=True, minimum=0),
        metavar="N",
        help="seed of the random faults, for repeatable runs (default: drawn, and printed)",
    )
    faults = parser.add_argument_group("faults (none by default: every request gets 200)")
    for flag, dest, kind, metavar, help_text, _ in _FAULT_OPTIONS:
        faults.add_argument(flag, dest=dest, type=kind, metavar=metavar, help=help_text)


def faults_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Faults:
    """The `Faults` the options describe; a bad value is a usage error naming its option,
    with the message `Faults` gives."""
    values: dict[str, Any] = {}
    for flag, dest, _, _, _, fields in _FAULT_OPTIONS:
        given = getattr(args, dest)
        if given is None:
            continue
        mine = dict(zip(fields, given, strict=True)) if len(fields) > 1 else {fields[0]: given}
        try:
            Faults(**mine)  # checked one option at a time, so the error names its option
        except (TypeError, ValueError) as error:
            parser.error(f"argument {flag}: {error}")
        values.update(mine)
    return Faults(**values)


def counters_line(stats: FlakyStatistics) -> str:
    """`received 12 · 200: 10 · 503: 2 · faults: error 2 · connections 3`."""
    parts = [f"received {stats.received}"]
    parts.extend(f"{status}: {count}" for status, count in sorted(stats.by_status.items()))
    if stats.by_fault:
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(stats.by_fault.items()))
        parts.append(f"faults: {faults}")
    if stats.slow_tail:
        parts.append(f"slow tail {stats.slow_tail}")
    parts.append(f"connections {stats.connections}")
    return " · ".join(parts)


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM stops the server as cleanly as Ctrl-C does (the main thread only can
    install a handler; elsewhere, as in tests calling `main()` in a thread, skip it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 then, 1 if the port cannot be bound."""
    faults = faults_from(args, parser)
    try:
        server = FlakyServer(faults, seed=args.seed, port=int(args.port), record=0)
    except (TypeError, ValueError) as error:
        parser.error(f"argument --port: {error}")
    stop = threading.Event()
    # The handler goes in before the address is printed: whoever reads the address may
    # send SIGTERM at once.
    with _stop_on_sigterm(stop):
        try:
            server.start()
        except OSError as error:
            error_line(
                f"cannot listen on 127.0.0.1:{args.port}: {error.strerror or error} "
                "(--port 0 picks a free port)"
            )
            return 1
        started = SYSTEM_CLOCK.monotonic()
        try:
            _serve(server, faults, stop)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how this command is meant to end
        finally:
            server.stop()
    elapsed = SYSTEM_CLOCK.monotonic() - started
    print(
        f"stalwart flaky: stopped after {elapsed:.1f} s · {counters_line(server.statistics())}",
        flush=True,
    )
    return 0


def _serve(server: FlakyServer, faults: Faults, stop: threading.Event) -> None:
    stdout = sys.stdout
    described = "none: every request gets 200" if faults == Faults() else repr(faults)
    print(f"stalwart flaky: serving {server.url}", file=stdout, flush=True)
    print(f"  faults: {described}", file=stdout)
    print(f"  seed {server.seed} · Ctrl-C to stop", file=stdout, flush=True)
    if stdout.isatty():
        _serve_live(server, stop, Console(file=stdout, highlight=False))
    else:
        _serve_plain(server, stop)


def _serve_live(server: FlakyServer, stop: threading.Event, console: Console) -> None:
    with Live(console=console, auto_refresh=False, transient=True) as live:
        while not stop.is_set():
            live.update(Text(counters_line(server.statistics())), refresh=True)
            SYSTEM_CLOCK.sleep(REFRESH, stop)


def _serve_plain(server: FlakyServer, stop: threading.Event) -> None:
    # A line only when something changed: an idle server does not fill a log.
    shown = None
    while not stop.is_set():
        SYSTEM_CLOCK.sleep(REFRESH, stop)
        line = counters_line(server.statistics())
        if line != shown:
            print(f"  {line}", flush=True)
            shown = line
