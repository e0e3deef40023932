"""Helpers for driving the `stalwart` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest

from stalwart.cli import main


def run_stalwart(
    args: Sequence[str], *, timeout: float = 30.0, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m stalwart ARGS` in a child process, its output captured (not a TTY)."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "stalwart", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        input=stdin,
        check=False,
    )


class Result:
    """What `main()` returned and printed."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result(status={self.status}, out={self.out!r}, err={self.err!r})"


#: `stalwart_main("get", url, ...)`: the command's exit status and output.
Main = Callable[..., Result]


@pytest.fixture
def stalwart_main(capsys: pytest.CaptureFixture[str]) -> Main:
    """Call `main([...])` in this process and collect its exit status and output."""

    def call(*args: str) -> Result:
        status = main(list(args))
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return call
