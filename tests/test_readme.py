"""Every Python example in the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_examples() -> None:
    """The README shows runnable examples, so the test below checks something."""
    assert len(BLOCKS) >= 6


@pytest.mark.realtime
@pytest.mark.parametrize("source", [pytest.param(b, id=f"block-{i}") for i, b in enumerate(BLOCKS)])
def test_readme_example_runs(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The example executes without error in a fresh namespace (real time, < 1 s each)."""
    exec(compile(source, str(README), "exec"), {"__name__": "readme_example"})
