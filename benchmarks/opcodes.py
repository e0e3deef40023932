"""`python -m benchmarks.opcodes [--requests N] [--top K]`: where stalwart's overhead on a
loopback GET goes, function by function, in Python bytecodes executed.

`benchmarks.instructions` says how much a GET costs; this says where. It traces every
bytecode (`sys.settrace` with opcode events) of `N` GETs through each contender of the
HTTP scenario (bare httpx, tenacity, stamina, httpx-retries, stalwart) against its
do-nothing server, and prints each one's bytecodes per GET, then those of every function
whose count differs between bare httpx and stalwart: stalwart's own functions, and those
of httpx, httpcore or asyncio that run more (or less) often under stalwart.

Counts are exact and repeat from run to run (no valgrind, a few seconds). On an
interpreter without a compiled core of its own, a bytecode is the unit of cost: on the
2-core VM of docs/benchmarks.md one costs about 60 instructions, so a function's share of
the bytecodes is close to its share of the instructions. C functions (a lock, a context
variable) cost no bytecodes here but are not free: the instruction count includes them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from . import _upstream
from ._contenders import KINDS, async_contender, sync_contender
from ._core import Table
from ._report import render_table

__all__ = ["by_function", "main"]

MODES = ("sync", "async")
WARM_UP = 50
_STDLIB = Path(asyncio.__file__).resolve().parent.parent


def _where(path: str) -> str:
    """A code object's file, as short as it can be told apart."""
    resolved = Path(path)
    parts = resolved.parts
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(anchor) :])
    try:
        return f"stdlib/{resolved.relative_to(_STDLIB).as_posix()}"
    except ValueError:
        return path


def by_function(kind: str, mode: str, requests: int, url: str) -> Counter[str]:
    """Bytecodes executed by each function (`file:qualname`) over `requests` GETs through
    the contender `kind` (see `_contenders`), after `WARM_UP` untraced ones."""
    counts: Counter[tuple[str, str]] = Counter()

    def enter(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return step

    def step(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            code = frame.f_code
            counts[code.co_filename, code.co_qualname] += 1
        return step

    if mode == "sync":
        contender = sync_contender(kind, url)
        try:
            for _ in range(WARM_UP):
                contender.get("/", {})
            sys.settrace(enter)
            try:
                for _ in range(requests):
                    contender.get("/", {})
            finally:
                sys.settrace(None)
        finally:
            contender.close()
    else:

        async def run() -> None:
            contender = async_contender(kind, url)
            try:
                for _ in range(WARM_UP):
                    await contender.get("/", {})
                sys.settrace(enter)
                try:
                    for _ in range(requests):
                        await contender.get("/", {})
                finally:
                    sys.settrace(None)
            finally:
                await contender.aclose()

        asyncio.run(run())
    named: Counter[str] = Counter()
    for (path, name), count in counts.items():
        named[f"{_where(path)}:{name}"] += count
    return named


def compare(mode: str, requests: int, top: int, url: str) -> list[Table]:
    """The tables of one mode: every contender's total, then the functions that make
    stalwart's difference from bare httpx."""
    counted = {kind: by_function(kind, mode, requests, url) for kind in KINDS}
    bare = counted["httpx"]
    bare_total = sum(bare.values()) / requests
    totals = Table(
        f"Bytecodes per GET ({mode}), each contender",
        ["contender", "bytecodes per GET", "more than httpx", "× httpx"],
    )
    for kind, counts in counted.items():
        total = sum(counts.values()) / requests
        more = "—" if kind == "httpx" else f"{total - bare_total:+,.0f}"
        totals.add(kind, f"{total:,.0f}", more, f"{total / bare_total:.3f}×")
    totals.notes.append(
        f"{requests} traced GETs after {WARM_UP} untraced, one keep-alive connection"
    )
    ours = counted["stalwart"]
    extra = (sum(ours.values()) - sum(bare.values())) / requests
    difference = {
        name: (ours[name] - bare[name]) / requests
        for name in bare.keys() | ours.keys()
        if ours[name] != bare[name]
    }
    table = Table(
        f"Where stalwart's {extra:+,.0f} bytecodes per GET ({mode}) go",
        ["function", "bytecodes per GET", "share"],
    )
    ranked = sorted(difference.items(), key=lambda item: (-abs(item[1]), item[0]))
    for name, count in ranked[:top]:
        table.add(name, f"{count:+,.1f}", f"{count / extra:.1%}" if extra else "—")
    if len(ranked) > top:
        rest = sum(count for _, count in ranked[top:])
        table.add(f"({len(ranked) - top} more functions)", f"{rest:+,.1f}", "")
    table.notes.append("C functions (locks, context variables, the clock) cost no bytecodes")
    return [totals, table]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.opcodes", description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=100, help="traced GETs per client (default 100)"
    )
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--mode", choices=MODES, action="append", help="sync, async (both)")
    arguments = parser.parse_args(argv)
    if arguments.requests < 1:
        parser.error("--requests must be at least 1")
    if arguments.top < 1:
        parser.error("--top must be at least 1")
    with _upstream.serve("raw") as url:
        for mode in arguments.mode or MODES:
            for table in compare(mode, arguments.requests, arguments.top, url):
                print(render_table(table))
                print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
