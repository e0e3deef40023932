"""Deadlines of asyncio tasks, enforced by one loop timer per task.

`asyncio.timeout_at` arms a loop timer on entry and cancels it on exit: a `TimerHandle`,
a heap push and a cancellation for every scope, which an HTTP client with a total and a
per-attempt timeout pays twice per request. A task's `Watchdog` keeps one timer that
fires no later than the earliest deadline of the scopes open in the task, and is left
armed when they close: the next request's scopes, whose deadlines lie later, find it
armed early enough and arm nothing. When it fires it cancels the task for each scope
that ran out (as `asyncio.timeout` does, counted with `Task.cancel()`/`uncancel()` so
other cancellations are told apart) and re-arms for the earliest scope still open, if
any. A timer that fires with no scope open stops: a task that goes idle costs one early
wake-up.

A task's end cancels its timer, so a server that runs each request in a task of its own
leaves no timers behind. Like asyncio.timeout's, the timer holds its task: a task that
nothing else references still gets its timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from typing import Final, final

__all__ = ["DeadlineScope", "watchdog"]


@final
class DeadlineScope:
    """One open scope: its deadline in loop time, and whether the watchdog expired it."""

    __slots__ = ("cancelling", "deadline", "expired")

    def __init__(self, deadline: float, cancelling: int) -> None:
        self.deadline = deadline
        #: the task's pending cancellations when the scope opened (see `Task.uncancel`)
        self.cancelling = cancelling
        self.expired = False

    def __repr__(self) -> str:
        return f"<DeadlineScope at {self.deadline:.3f}{' expired' if self.expired else ''}>"


@final
class Watchdog:
    """The timer of one task and the deadline scopes open in it, outermost first."""

    __slots__ = ("_handle", "_loop", "_task", "_when", "scopes")

    def __init__(self, task: asyncio.Task[object], loop: asyncio.AbstractEventLoop) -> None:
        self._task = task
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._when = math.inf
        self.scopes: list[DeadlineScope] = []
        task.add_done_callback(self._task_done)

    def __repr__(self) -> str:
        return f"<Watchdog of {self._task!r}: {len(self.scopes)} scope(s), fires at {self._when}>"

    def open(self, seconds: float) -> DeadlineScope:
        """Open a scope that ends `seconds` from now (the caller closes it with `close`)."""
        deadline = self._loop.time() + seconds
        scope = DeadlineScope(deadline, self._task.cancelling())
        self.scopes.append(scope)
        if deadline < self._when:
            self._arm(deadline)
        return scope

    def close(self, scope: DeadlineScope) -> bool:
        """Close `scope`; True if it ran out and the cancellation it caused is what is
        ending it (asyncio.timeout's rule: the task has no other cancellation pending)."""
        scopes = self.scopes
        if scopes and scopes[-1] is scope:
            scopes.pop()
        else:  # closed out of order (a generator's scope, say): still take it away
            scopes.remove(scope)
        return scope.expired and self._task.uncancel() <= scope.cancelling

    def _arm(self, when: float) -> None:
        handle = self._handle
        if handle is not None:
            handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._fire)

    def _task_done(self, task: object) -> None:
        handle = self._handle
        if handle is not None:
            handle.cancel()
            self._handle = None
        self._when = math.inf
        self.scopes.clear()

    def _fire(self) -> None:
        self._handle = None
        self._when = math.inf
        task = self._task
        if task.done():
            self.scopes.clear()
            return
        now = self._loop.time()
        earliest = math.inf
        for scope in self.scopes:
            if scope.expired:
                continue
            if scope.deadline <= now:
                scope.expired = True
                task.cancel()
            elif scope.deadline < earliest:
                earliest = scope.deadline
        if earliest != math.inf:
            self._arm(earliest)


_watchdog: Final[contextvars.ContextVar[Watchdog | None]] = contextvars.ContextVar(
    "stalwart.watchdog", default=None
)


def watchdog(task: asyncio.Task[object]) -> Watchdog:
    """The watchdog of `task`, the current task (made on first use).

    It is kept in a context variable: a task runs in a context of its own, and a child
    task, which starts with a copy of its parent's, is told apart by its task.
    """
    dog = _watchdog.get()
    if dog is None or dog._task is not task:
        dog = Watchdog(task, task.get_loop())
        _watchdog.set(dog)
    return dog
