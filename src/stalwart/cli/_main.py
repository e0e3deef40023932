"""The `stalwart` command line: the parser of every command, and the dispatch."""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Sequence

import stalwart

from ._common import HelpFormatter, error_line, exception_text, number
from ._scenarios import DEADLINE, SCENARIOS

__all__ = ["build_parser", "run"]

DESCRIPTION = """\
Call external services without letting them take your service down.
`stalwart COMMAND --help` tells more about each command.
"""

EPILOG = """\
examples:
  stalwart demo                                   # the live tour, about 40 s
  stalwart demo --scenario outage --duration 5
  stalwart flaky --error-rate 0.2 --retry-after 1
  stalwart get http://127.0.0.1:8080/orders/42 --deadline 5
"""

DEMO_DESCRIPTION = f"""\
Run a NAIVE client and a STALWART client side by side, scenario by scenario, against
the same faults: two local fault-injecting upstreams with the same faults and seed, one
per client, so each upstream's request count is exactly its client's load.

- naive: one httpx.Client(timeout=5.0) shared by its workers; 3 attempts, retrying any
  httpx error, 5xx or 429 after a fixed 0.1 s then 0.2 s (no jitter, no budget, no
  breaker, Retry-After ignored). What people write by hand.
- stalwart: one stalwart.Client() with its standard pipeline (retries with jittered
  backoff and a retry budget, a circuit breaker per origin, Retry-After honoured), every
  call under stalwart.deadline({DEADLINE:g}); hedged reads in the slow-tail scenario.

Both clients get the same arrivals: RATE calls per second, taken by CONCURRENCY worker
threads each. An arrival that waits over 1 s for a free worker is dropped (a failed
call), as in a service with a bounded pool: a client that ties its workers up serves
fewer calls. On a terminal the numbers update live; otherwise a line per second.
"""

DEMO_EPILOG = "scenarios (all by default, in this order; default duration):\n" + "".join(
    textwrap.fill(
        scenario.describe(scenario.duration, 25.0),
        width=88,
        initial_indent=f"  {scenario.name:<10} {scenario.duration:>2g} s  ",
        subsequent_indent=" " * 19,
    )
    + "\n"
    for scenario in SCENARIOS.values()
)
DEMO_EPILOG += """
output:
  served    successful calls ÷ arrivals
  upstream  requests the upstream received ÷ calls made (amplification)
  p50..p99  call latency; wall: until the client's last call ended

examples:
  stalwart demo
  stalwart demo --scenario outage --scenario hang --duration 8
  stalwart demo --concurrency 8 --rate 50 --seed 7
  stalwart demo --json | jq '.scenarios.outage.clients.stalwart.amplification'
"""

FLAKY_DESCRIPTION = """\
Serve a fault-injecting HTTP/1.1 upstream on 127.0.0.1 (stalwart.testing.FlakyServer)
until interrupted, printing its address and its counters about once a second.

Every method and path is answered: normally 200 with {"ok": true, "attempt": N, ...};
an injected error is the error --status with a short JSON body. Faults apply in this
order, the first that matches deciding: --outage, --fail-first, --reset, --hang,
--error-rate; latency applies to every answer but outage ones. Any fault can be
overridden for one request by a query parameter named after the Faults field, e.g.
GET /x?error_rate=1&retry_after=2 or ?hang_rate=1 or ?latency=0.5.
"""

FLAKY_EPILOG = """\
examples:
  stalwart flaky                                     # no faults, on port 8080
  stalwart flaky --port 0 --error-rate 0.2           # 20% 503s, on a free port
  stalwart flaky --status 429 --error-rate 0.5 --retry-after 1
  stalwart flaky --outage 10,40                      # 503 for everything from 10 s to 40 s
  stalwart flaky --fail-first 2                      # each X-Request-Id fails twice
  stalwart flaky --latency 0.01 --slow-tail 0.05,0.5 --hang 0.01

Ctrl-C stops it (exit status 0) after a last line of counters.
"""

REQUEST_EPILOG = """\
Every attempt is shown on stderr (status or error, and its duration), with each wait
before the next; the final body goes to stdout.

What is retried: connection failures before anything was sent, for any method; 408,
429, 5xx and read failures only for idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT,
DELETE) or requests carrying an Idempotency-Key (--idempotency-key). Retry-After is
honoured within the deadline.

exit status:
  0    the final response is 2xx
  1    any other final response: 4xx, 5xx, or a redirect without -L (body still printed)
  2    usage error
  3    network error after all attempts (connection refused, reset, timeout...)
  4    the deadline passed (--deadline)
  5    stalwart refused the call (CircuitOpen, BulkheadFull, ...)
  130  interrupted (Ctrl-C)
"""

GET_EPILOG = (
    REQUEST_EPILOG
    + """
examples:
  stalwart get http://127.0.0.1:8080/orders/42
  stalwart get localhost:8080/orders --deadline 2 --attempts 5 --timeout 0.5
  stalwart get https://api.example.com/items -H 'Accept: application/json' --hedge
"""
)

POST_EPILOG = (
    REQUEST_EPILOG
    + """
examples:
  stalwart post http://127.0.0.1:8080/orders --json '{"item": 1}'
  stalwart post http://127.0.0.1:8080/orders --json '{"item": 1}' --idempotency-key auto
  stalwart post http://127.0.0.1:8080/upload --data @payload.bin -H 'Content-Type: image/png'
  echo hello | stalwart post http://127.0.0.1:8080/notes --data @-
"""
)

ANY_EPILOG = (
    REQUEST_EPILOG
    + """
examples:
  stalwart request DELETE http://127.0.0.1:8080/orders/42
  stalwart request PUT http://127.0.0.1:8080/orders/42 --json '{"item": 2}'
  stalwart request PATCH http://127.0.0.1:8080/orders/42 --data 'qty=3' --idempotency-key k-1
"""
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the `stalwart` command and its subcommands."""
    from . import _flaky, _request

    parser = argparse.ArgumentParser(
        prog="stalwart",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stalwart {stalwart.__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", required=True
    )

    demo = commands.add_parser(
        "demo",
        help="a naive and a stalwart client, side by side, against the same faults",
        description=DEMO_DESCRIPTION,
        epilog=DEMO_EPILOG,
        formatter_class=HelpFormatter,
    )
    demo.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help="run this scenario (repeatable): " + ", ".join(SCENARIOS),
    )
    demo.add_argument(
        "--duration",
        type=number(above=0),
        metavar="SECONDS",
        help="seconds per scenario (default: each scenario's own, 6 s or 10 s)",
    )
    demo.add_argument(
        "--concurrency",
        type=number(integer=True, minimum=1),
        default=4,
        metavar="N",
        help="worker threads per client (default 4)",
    )
    demo.add_argument(
        "--rate",
        type=number(above=0),
        default=25.0,
        metavar="CALLS",
        help="calls per second asked of each client (default 25)",
    )
    demo.add_argument(
        "--seed",
        type=number(integer=True, minimum=0),
        default=2,
        metavar="N",
        help="seed of the upstreams' random faults (default 2)",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout instead of the tables",
    )
    demo.set_defaults(handler=_run_demo, command_parser=demo)

    flaky = commands.add_parser(
        "flaky",
        help="serve a fault-injecting HTTP upstream on 127.0.0.1",
        description=FLAKY_DESCRIPTION,
        epilog=FLAKY_EPILOG,
        formatter_class=HelpFormatter,
    )
    _flaky.add_arguments(flaky)
    flaky.set_defaults(handler=_flaky.run, command_parser=flaky)

    for name, help_text, epilog in (
        ("get", "a resilient GET, showing every attempt", GET_EPILOG),
        ("post", "a resilient POST (retried only with an idempotency key)", POST_EPILOG),
        ("request", "a resilient request with any method", ANY_EPILOG),
    ):
        command = commands.add_parser(
            name,
            help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}, through stalwart.Client.",
            epilog=epilog,
            formatter_class=HelpFormatter,
        )
        _request.add_arguments(command, method=name.upper() if name != "request" else None)
        command.set_defaults(handler=_request.run, command_parser=command)
    return parser


def _run_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ._demo_command import run_demo_command

    return run_demo_command(args)


def run(argv: Sequence[str]) -> int:
    """Parse `argv` and run the command; usage errors return 2 (after argparse's message)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit:
        # --help, --version and usage errors: argparse has printed what it had to say.
        return exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 2
    try:
        status: int = args.handler(args, args.command_parser)
    except SystemExit as exit:
        # A usage error found after parsing (`parser.error`): its message is printed.
        return exit.code if isinstance(exit.code, int) else 2
    except BrokenPipeError:
        raise  # `main` ends quietly on it
    except Exception as error:
        # A bug or a case not foreseen: one line, not a traceback, unless asked for one.
        if os.environ.get("STALWART_DEBUG"):
            raise
        error_line(f"{exception_text(error)} (unexpected; STALWART_DEBUG=1 shows the traceback)")
        return 1
    return status
