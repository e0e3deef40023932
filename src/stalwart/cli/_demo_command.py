"""`stalwart demo`: choose the view, run the scenarios, print the summary or the JSON."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from ._demo import Settings, View, run_demo
from ._display import LiveView, PlainView, QuietView, json_report, print_summary
from ._scenarios import SCENARIOS

__all__ = ["run_demo_command"]


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the demo as `args` say; 0 once the summary (or the JSON) is printed."""
    names = list(dict.fromkeys(args.scenario or SCENARIOS))  # repeated names run once
    settings = Settings(
        scenarios=[SCENARIOS[name] for name in names],
        duration=args.duration,
        concurrency=int(args.concurrency),
        rate=args.rate,
        seed=int(args.seed),
    )
    stdout = sys.stdout
    console = Console(file=stdout, highlight=False)
    view: View
    if args.json:
        view = QuietView()
    elif stdout.isatty():
        view = LiveView(console)
    else:
        view = PlainView(stdout)
    results = run_demo(settings, view)
    if args.json:
        json.dump(json_report(settings, results), stdout, indent=2, allow_nan=False)
        stdout.write("\n")
    else:
        print_summary(console, results)
    return 0
