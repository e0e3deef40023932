"""What every command shares: argument types, the help format, and one-line errors."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TextIO

__all__ = [
    "HelpFormatter",
    "error_line",
    "exception_text",
    "format_seconds",
    "number",
    "plural",
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-wrapped descriptions and examples as written, with a wider
    option column so the option names stay on the line of their help."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def number(
    *,
    integer: bool = False,
    minimum: float | None = None,
    above: float | None = None,
    allow_inf: bool = False,
) -> Callable[[str], float]:
    """An argparse `type=` for a number in range; a bad value becomes argparse's usage
    error for that option ("argument --duration: must be > 0, got '0'")."""

    def parse(text: str) -> float:
        try:
            value: float = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g}, got {text!r}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be > {above:g}, got {text!r}")
        return value

    return parse


def exception_text(exception: BaseException) -> str:
    """`Type: message` on one line (httpx and OS messages may span several)."""
    message = " ".join(str(exception).split())
    name = type(exception).__name__
    return f"{name}: {message}" if message else name


def error_line(message: str, stream: TextIO | None = None) -> None:
    """Print `stalwart: error: message` as one line on stderr (never wrapped)."""
    print(f"stalwart: error: {message}", file=sys.stderr if stream is None else stream)


def format_seconds(seconds: float | None) -> str:
    """A duration for people: `850 µs`, `12 ms`, `1.25 s`; `-` when unknown."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def plural(count: int, word: str) -> str:
    """`1 attempt`, `3 attempts`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
