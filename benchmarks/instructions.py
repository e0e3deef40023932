"""`python -m benchmarks.instructions [--requests N]`: what a loopback GET costs in CPU
instructions, bare httpx against stalwart's clients, counted by valgrind.

Wall-clock ratios on a shared 2-core machine move by a few percent from run to run,
as much as the HTTP budget itself (3%). Instruction counts move far less (see
docs/benchmarks.md for the spread measured), which makes them the measure to work
against when shaving the overhead.
Each client sends `N` GETs (after 200 to warm up) over one keep-alive connection to
the do-nothing server of the HTTP scenario (in its own process, not counted); a second
run with no measured requests is subtracted, which leaves the instructions per request.
A count is a proxy for time, not a substitute: code that misses the CPU caches costs
more per instruction, so the benchmark's ratios stay the verdict.

It needs `valgrind` on PATH and takes two to four minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence

from . import _upstream
from ._core import Table
from ._report import render_table

__all__ = ["main"]

CLIENTS = ("httpx", "stalwart")
WARM_UP = 200
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _client_run(client: str, mode: str, requests: int, url: str) -> None:
    """The measured program: `requests` GETs, the warm-up included."""
    import httpx

    import stalwart

    total = requests
    if mode == "sync":
        sync = httpx.Client if client == "httpx" else stalwart.Client
        with sync(base_url=url) as session:
            for _ in range(total):
                session.get("/")
        return

    async def main() -> None:
        factory = httpx.AsyncClient if client == "httpx" else stalwart.AsyncClient
        async with factory(base_url=url) as session:
            for _ in range(total):
                await session.get("/")

    asyncio.run(main())


def _count(valgrind: str, client: str, mode: str, requests: int, url: str) -> int:
    """Instructions of a whole run of `requests` GETs, start-up included."""
    command = [
        valgrind,
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--client-run",
        client,
        mode,
        str(requests),
        url,
    ]
    # One hash seed for every run: string hashes decide dict and set layouts, and with
    # them how much work each lookup does.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind failed for {client} {mode}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(
    valgrind: str, client: str, mode: str, requests: int, url: str, warm_up: int = WARM_UP
) -> float:
    """Instructions per GET: a run of `warm_up + requests` GETs minus a run of `warm_up`,
    divided by `requests`."""
    idle = _count(valgrind, client, mode, warm_up, url)
    busy = _count(valgrind, client, mode, warm_up + requests, url)
    return (busy - idle) / requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=300, help="measured GETs per client (default 300)"
    )
    parser.add_argument(
        "--warm-up", type=int, default=WARM_UP, help=f"GETs before counting (default {WARM_UP})"
    )
    parser.add_argument("--client-run", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.client_run:
        client, mode, requests, url = arguments.client_run
        _client_run(client, mode, int(requests), url)
        return 0
    if arguments.requests < 1:
        parser.error("--requests must be at least 1")
    if arguments.warm_up < 0:
        parser.error("--warm-up must be at least 0")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not on PATH: install it (apt-get install valgrind)", file=sys.stderr)
        return 2
    table = Table(
        "Instructions per loopback GET (do-nothing server in another process)",
        ["client", "mode", "instructions", "overhead", "× httpx"],
    )
    with _upstream.serve("raw") as url:
        for mode in ("sync", "async"):
            counts = {}
            for client in CLIENTS:
                print(f"  counting {client} ({mode})…", file=sys.stderr, flush=True)
                counts[client] = per_request(
                    valgrind, client, mode, arguments.requests, url, arguments.warm_up
                )
            base = counts["httpx"]
            for client, count in counts.items():
                table.add(
                    client,
                    mode,
                    f"{count:,.0f}",
                    "—" if client == "httpx" else f"{count - base:+,.0f}",
                    f"{count / base:.3f}×",
                )
    table.notes.append(
        f"{arguments.requests} measured GETs after {arguments.warm_up} to warm up; "
        "valgrind callgrind"
    )
    print(render_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
