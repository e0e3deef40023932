"""What every strategy has in common: how it is bound into a pipeline."""

from __future__ import annotations

import dataclasses
import inspect
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Hashable, Mapping
from typing import Any, Protocol, TypeAlias, TypeVar

from .._state.partitions import Partitions
from .._state.store import Spec, StateStore
from .._validation import check_int

__all__ = [
    "KeyFunction",
    "Runner",
    "Strategy",
    "WrongKind",
    "check_key",
    "check_name",
    "invoke",
    "options_repr",
    "partition_key",
    "partitions_of",
]


class Runner(Protocol):
    """One layer of a built pipeline: runs `fn(*args, **kwargs)` through what is inside it."""

    def call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any: ...

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any: ...


class Strategy(ABC):
    """A resilience strategy: an immutable options object that a `Pipeline` binds.

    Binding happens once, when the pipeline is built: the strategy returns a runner that
    wraps the runner inside it. Runners hold the sync and async drivers; the decisions
    they act on live in I/O-free code beside them.
    """

    __slots__ = ()

    @abstractmethod
    def _bind(self, inner: Runner) -> Runner:
        """Return this strategy's runner wrapped around `inner`."""


#: Picks a strategy's partition from the call's own arguments: it is called with the same
#: `*args, **kwargs` as the protected function (e.g. `key=lambda request: request.url.host`).
KeyFunction: TypeAlias = Callable[..., Hashable]


def partition_key(
    key: KeyFunction | None, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Hashable:
    """The partition of one call: `None` (the only partition) when there is no key function."""
    return None if key is None else key(*args, **kwargs)


S = TypeVar("S")


def partitions_of(options: Any, kind: str, new_state: Callable[[Hashable], S]) -> Partitions[S]:
    """Check the options every partitioned strategy shares (`key`, `max_partitions`,
    `store`, `name`) and make its partitions in its store, each holding `new_state(key)`."""
    check_key(options.key)
    check_int("max_partitions", options.max_partitions, minimum=1)
    if not isinstance(options.store, StateStore):
        raise TypeError(f"store must be a stalwart state store, got {options.store!r}")
    check_name(options.name)
    spec = Spec(kind, options.name, new_state, options)
    return options.store.partitions(spec, max_size=options.max_partitions)


def check_key(key: object) -> None:
    if key is not None and not callable(key):
        raise TypeError(f"key must be a function of the call's arguments, got {key!r}")


def check_name(name: object) -> None:
    """Strategy names appear in events and notes: they must be non-empty strings."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")


def options_repr(options: object) -> str:
    """`Name(field=value, ...)` listing only the fields that differ from their defaults."""
    parts = []
    for item in dataclasses.fields(options):  # type: ignore[arg-type]
        if not item.init or not item.repr:
            continue
        current = getattr(options, item.name)
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = dataclasses.MISSING
        if current is default or (default is not dataclasses.MISSING and current == default):
            continue
        parts.append(f"{item.name}={_show(current)}")
    return f"{type(options).__name__}({', '.join(parts)})"


def _show(value: object) -> str:
    if isinstance(value, type):
        return value.__qualname__
    if isinstance(value, tuple) and value and all(isinstance(v, type) for v in value):
        return f"({', '.join(v.__qualname__ for v in value)}{',' if len(value) == 1 else ''})"
    if callable(value) and hasattr(value, "__qualname__"):
        return str(value.__qualname__)
    return repr(value)


_COROUTINE = types.CoroutineType


class WrongKind(TypeError):
    """A sync function given to `acall`, or an async one to `call`: a bug, never retried."""


class _Invoke:
    """The innermost runner: calls the user's function, checking its sync or async kind."""

    __slots__ = ()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        result = fn(*args, **kwargs)
        if type(result) is _COROUTINE:
            result.close()
            raise WrongKind(f"{fn!r} is async: run it with `await pipeline.acall(...)`")
        return result

    def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        # A plain function: the function's own coroutine is what the caller awaits (every
        # caller awaits at once), one coroutine frame less on every call.
        awaitable = fn(*args, **kwargs)
        if type(awaitable) is _COROUTINE:
            return awaitable
        return _await_other(fn, awaitable)


async def _await_other(fn: Callable[..., Any], awaitable: object) -> Any:
    """Await what an async callable that is not a coroutine function returned (a
    partial's, a callable object's), after checking it can be awaited."""
    if not inspect.isawaitable(awaitable):
        raise WrongKind(f"{fn!r} is not async: run it with `pipeline.call(...)`")
    return await awaitable


invoke: Runner = _Invoke()
