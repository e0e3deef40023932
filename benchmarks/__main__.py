"""`python -m benchmarks [--quick] [--only NAME ...] [--json PATH] [--update-docs]`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from . import _faults, _growth, _http_overhead, _machinery
from ._core import Budget, Result, Size
from ._report import (
    environment,
    load_average,
    markdown,
    render,
    speed_reference,
    update_docs,
    write_json,
)

Scenario = Callable[[Size, Callable[[str], None], frozenset[str]], Result]

#: Every scenario, in the order they run; `--only` takes these names, and a fault
#: scenario's parts as `faults.PART`.
SCENARIOS: dict[str, tuple[Scenario, tuple[str, ...]]] = {
    "machinery": (lambda size, progress, _: _machinery.run(size, progress), ()),
    "http": (lambda size, progress, _: _http_overhead.run(size, progress), ()),
    "faults": (_faults.run, _faults.PARTS),
    "growth": (lambda size, progress, _: _growth.run(size, progress), ()),
}

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks.md"


def _names() -> list[str]:
    names = []
    for name, (_, parts) in SCENARIOS.items():
        names.append(name)
        names.extend(f"{name}.{part}" for part in parts)
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="stalwart side by side with tenacity, stamina, backoff and httpx-retries.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every scenario at a small size, in well under a minute (for CI; numbers are rough)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=_names(),
        help=f"run only these scenarios: {', '.join(_names())}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write every number (default: benchmarks/results.json for a full "
        "run, benchmarks/results-quick.json with --quick, benchmarks/results-partial.json "
        "with --only: neither overwrites the full run's)",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"also rewrite the results block of {DOCS.relative_to(HERE.parent)}",
    )
    return parser


def _selection(only: Sequence[str] | None) -> dict[str, frozenset[str]]:
    """Scenario name → the parts to run (empty: all of them)."""
    if not only:
        return {name: frozenset() for name in SCENARIOS}
    chosen: dict[str, set[str]] = {}
    for item in only:
        name, _, part = item.partition(".")
        parts = chosen.setdefault(name, set())
        if not part:
            parts.add("*")
        else:
            parts.add(part)
    return {
        name: frozenset() if "*" in chosen[name] else frozenset(chosen[name])
        for name in SCENARIOS
        if name in chosen
    }


def _default_results(*, quick: bool, partial: bool) -> str:
    if quick:
        return "results-quick.json"
    return "results-partial.json" if partial else "results.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.update_docs and (arguments.quick or arguments.only):
        parser.error("--update-docs takes a full run: drop --quick and --only")
    # stalwart, stamina and httpx-retries log retries and give-ups; a handler that drops
    # the records keeps the output readable while every library still pays for its logging.
    logging.getLogger().addHandler(logging.NullHandler())
    size = Size(quick=arguments.quick)
    selection = _selection(arguments.only)
    env = environment()
    started = time.perf_counter()
    print(
        f"stalwart benchmarks ({'quick' if size.quick else 'full'} run): "
        f"{', '.join(selection)}; Python {env['python']}, {env['cores']} cores, "
        f"load {env['load_average_at_start']}",
        file=sys.stderr,
    )
    results: list[Result] = []
    crashed: list[str] = []
    for name, parts in selection.items():
        scenario, _ = SCENARIOS[name]

        def progress(message: str, name: str = name) -> None:
            elapsed = time.perf_counter() - started
            print(f"  [{elapsed:6.1f} s] {name}: {message}", file=sys.stderr, flush=True)

        began = time.perf_counter()
        try:
            result = scenario(size, progress, parts)
        except Exception:
            traceback.print_exc()
            crashed.append(name)
            continue
        result.seconds = time.perf_counter() - began
        results.append(result)

    budgets: list[Budget] = [budget for result in results for budget in result.budgets]
    env["seconds"] = round(time.perf_counter() - started, 1)
    env["load_average_at_end"] = load_average()
    env["speed_reference_us_at_end"] = speed_reference()
    print(render(env, results, budgets))
    print(f"\n{env['seconds']} s in all", file=sys.stderr)

    path = arguments.json or HERE / _default_results(quick=size.quick, partial=bool(arguments.only))
    options = {"quick": size.quick, "only": arguments.only, "crashed": crashed}
    write_json(path, env, options, results, budgets)
    print(f"wrote {path}", file=sys.stderr)
    if arguments.update_docs:
        update_docs(DOCS, markdown(env, results, budgets))
        print(f"updated {DOCS}", file=sys.stderr)
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
