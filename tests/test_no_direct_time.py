"""Library code takes time and randomness only from the injected clock (`_clock.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stalwart

SOURCE = Path(stalwart.__file__).parent
ALLOWED = {SOURCE / "_clock.py"}

#: Calls that read the real clock, sleep in real time or draw real randomness.
FORBIDDEN_ATTRIBUTES = {
    ("time", "sleep"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
    ("asyncio", "sleep"),
    ("anyio", "sleep"),
    ("trio", "sleep"),
}
FORBIDDEN_MODULES = {"random", "secrets"}


def violations(path: Path) -> list[str]:
    """Every forbidden use of time or randomness in one source file, as readable lines."""
    found = []
    display = path.relative_to(SOURCE.parent) if path.is_relative_to(SOURCE.parent) else path.name
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        where = f"{display}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if pair in FORBIDDEN_ATTRIBUTES or node.value.id in FORBIDDEN_MODULES:
                found.append(f"{where}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Import):
            found.extend(
                f"{where}: import {alias.name}"
                for alias in node.names
                if alias.name in FORBIDDEN_MODULES
            )
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module in FORBIDDEN_MODULES:
                found.append(f"{where}: from {node.module} import ...")
            found.extend(
                f"{where}: from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) in FORBIDDEN_ATTRIBUTES
            )
    return found


def library_files() -> list[Path]:
    """Every Python file of the library except the clock module."""
    return sorted(p for p in SOURCE.rglob("*.py") if p not in ALLOWED)


def test_library_code_uses_only_the_injected_clock() -> None:
    """No module but _clock.py sleeps, reads the time or draws random numbers directly."""
    found = [line for path in library_files() for line in violations(path)]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import time\ntime.sleep(1)\n", id="time.sleep"),
        pytest.param("import time\nx = time.monotonic()\n", id="time.monotonic"),
        pytest.param("import time\nx = time.time()\n", id="time.time"),
        pytest.param("import random\nx = random.random()\n", id="random.random"),
        pytest.param("from random import uniform\n", id="from-random"),
        pytest.param("from time import sleep\n", id="from-time-sleep"),
        pytest.param("import anyio\nasync def f():\n    await anyio.sleep(1)\n", id="anyio.sleep"),
    ],
)
def test_the_check_catches_each_forbidden_use(source: str, tmp_path: Path) -> None:
    """The scanner flags each kind of direct use, so the test above cannot pass vacuously."""
    module = tmp_path / "probe.py"
    module.write_text(source)
    assert violations(module) != []


def test_the_scan_covers_the_strategies() -> None:
    """The scan walks subpackages too, so a strategy module cannot slip past it."""
    names = {path.name for path in library_files()}
    assert {"retry.py", "timeout.py", "_context.py", "testing.py"} <= names
