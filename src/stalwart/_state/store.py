"""The state store interface, and the in-memory store that is the default.

Strategies never read-modify-write shared counters through a store: each strategy
defines its state as an object with *atomic operations* ("may this call pass?",
"record this outcome", "spend one retry"), and a store decides where such objects live.
The memory store keeps them in this process, guarded by their own locks; a shared store
(Redis, later) implements the same operations as server-side scripts, so the interface
never promises an atomicity that a remote store could not keep.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, final, runtime_checkable

from .partitions import DEFAULT_MAX_PARTITIONS, Partitions

__all__ = ["MEMORY", "MemoryStore", "Spec", "StateSpec", "StateStore"]

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)


class StateSpec(Protocol[S_co]):
    """What a strategy tells a store about the state it keeps.

    `kind` names the state machine ("circuit_breaker", "retry_budget", ...), so a shared
    store can pick its implementation; `name` is the strategy's name, the namespace of
    its partitions.
    """

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    def new_local(self, key: Hashable) -> S_co:
        """A fresh in-process state object for partition `key`."""
        ...


@final
@dataclass(frozen=True, slots=True)
class Spec(Generic[S]):
    """A `StateSpec` made of its parts: the kind of state, the strategy's name, a factory
    for one partition's local state, and the options a shared store would need to build
    the same state remotely."""

    kind: str
    name: str
    factory: Callable[[Hashable], S] = field(repr=False)
    options: object = field(default=None, repr=False)

    def new_local(self, key: Hashable) -> S:
        return self.factory(key)


@runtime_checkable
class StateStore(Protocol):
    """Where the state objects of strategies live."""

    def partitions(self, spec: StateSpec[S], *, max_size: int) -> Partitions[S]:
        """The partitions of one strategy's state, created on first use per key."""
        ...


@final
class MemoryStore:
    """The default store: state in this process, per strategy instance, LRU-bounded."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MemoryStore()"

    def partitions(
        self, spec: StateSpec[S], *, max_size: int = DEFAULT_MAX_PARTITIONS
    ) -> Partitions[S]:
        return Partitions(spec.new_local, max_size=max_size)


MEMORY = MemoryStore()
