"""The public surface: one sorted `__all__`, public module paths, final classes, typed."""

from __future__ import annotations

import enum
import inspect
import subprocess
import sys
import types
from pathlib import Path

import pytest

import stalwart
import stalwart.httpx
import stalwart.httpx2
import stalwart.testing

#: Classes meant for extension or subclassing by stalwart itself.
OPEN_CLASSES = {"Clock", "Event", "StateStore", "Strategy", "StalwartError", "Rejected"}


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and names every public attribute the package defines."""
    assert stalwart.__all__ == sorted(stalwart.__all__)
    for name in stalwart.__all__:
        getattr(stalwart, name)  # some are imported on first use (the httpx clients)
    public = {
        name
        for name, value in vars(stalwart).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(stalwart.__all__)


def test_public_objects_show_the_public_module() -> None:
    """Reprs, docs and tracebacks show `stalwart.X`, never a private module path."""
    for name in stalwart.__all__:
        value = getattr(stalwart, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "stalwart", name


def test_concrete_public_classes_are_final() -> None:
    """Concrete public classes are @final: users extend through protocols, not subclasses."""
    for name in stalwart.__all__:
        value = getattr(stalwart, name)
        if not inspect.isclass(value) or name in OPEN_CLASSES:
            continue
        if issubclass(value, BaseException | stalwart.Event | enum.Enum):
            continue
        assert getattr(value, "__final__", False), f"{name} is not @final"


@pytest.mark.parametrize("module", [stalwart.httpx, stalwart.httpx2])
def test_http_modules_surface(module: types.ModuleType) -> None:
    """stalwart.httpx and stalwart.httpx2 export the same names, documented, with
    final transports; the clients are the top-level `stalwart.Client`/`AsyncClient`."""
    assert len(set(module.__all__)) == len(module.__all__)  # ruff's RUF022 keeps it sorted
    assert module.__all__ == stalwart.httpx.__all__
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value) or callable(value):
            assert (value.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"
    assert module.ResilientTransport.__final__
    assert module.AsyncResilientTransport.__final__
    assert stalwart.Client is stalwart.httpx.Client
    assert stalwart.AsyncClient is stalwart.httpx.AsyncClient


def test_importing_stalwart_does_not_import_httpx() -> None:
    """The HTTP integration loads on first use: `import stalwart` stays light."""
    code = "import sys, stalwart; assert 'httpx' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_testing_module_surface() -> None:
    """stalwart.testing exports exactly its documented helpers."""
    assert sorted(stalwart.testing.__all__) == [
        "FakeClock",
        "FaultKind",
        "Faults",
        "FlakyServer",
        "FlakyStatistics",
        "RecordedRequest",
        "instant_retries",
    ]


def test_package_ships_py_typed() -> None:
    """The package is marked as typed for type checkers (PEP 561)."""
    assert (Path(stalwart.__file__).parent / "py.typed").is_file()


def test_public_callables_are_documented() -> None:
    """Every public class and function has a docstring."""
    for name in stalwart.__all__:
        value = getattr(stalwart, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
