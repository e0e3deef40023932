"""The public surface: one sorted `__all__`, public module paths, final classes, typed."""

from __future__ import annotations

import enum
import inspect
from pathlib import Path

import stalwart
import stalwart.testing

#: Classes meant for extension or subclassing by stalwart itself.
OPEN_CLASSES = {"Clock", "Event", "StateStore", "Strategy", "StalwartError", "Rejected"}


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and names every public attribute the package defines."""
    assert stalwart.__all__ == sorted(stalwart.__all__)
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


def test_testing_module_surface() -> None:
    """stalwart.testing exports exactly its documented helpers."""
    assert sorted(stalwart.testing.__all__) == ["FakeClock", "instant_retries"]


def test_package_ships_py_typed() -> None:
    """The package is marked as typed for type checkers (PEP 561)."""
    assert (Path(stalwart.__file__).parent / "py.typed").is_file()


def test_public_callables_are_documented() -> None:
    """Every public class and function has a docstring."""
    for name in stalwart.__all__:
        value = getattr(stalwart, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
