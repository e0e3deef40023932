"""Timeout: bound one attempt (`per_attempt`) or the whole call (`total`).

A timeout is a deadline scope around what is inside it: async code is cancelled at
expiry; sync code is bounded cooperatively (every stalwart operation inside clips
itself to the deadline and checks it before starting).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, final

from .. import _context
from .._clock import SystemClock, current_clock
from .._context import Context, Scope, deadline_error
from .._events import TimeoutExpired, emit
from .._exceptions import DeadlineExceeded
from ._asyncio_deadlines import watchdog
from ._base import Runner, Strategy, check_name, options_repr

__all__ = ["Timeout", "is_attempt_timeout"]

# Module-level names: one lookup less each, on every call's path.
_current = _context.current
_set_current = _context.set_current
_reset_current = _context.reset_current


def is_attempt_timeout(exception: BaseException, outer_deadline: float) -> bool:
    """Whether `exception` is the expiry of a `Timeout` strategy nested inside a retry or
    hedge whose own deadline is `outer_deadline` (so the attempt, not the call, ran out)."""
    return (
        isinstance(exception, DeadlineExceeded)
        and getattr(exception, "_stalwart_timeout", None) is not None
        and exception.deadline < outer_deadline
    )


def _positive_seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value <= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Timeout(Strategy):
    """Bound the time of what runs inside it; give exactly one of the two:

    ```python
    stalwart.Pipeline(
        stalwart.Timeout(total=10.0),        # outside the Retry: every attempt and wait
        stalwart.Retry(on=ConnectionError),
        stalwart.Timeout(per_attempt=2.0),   # inside the Retry: each attempt on its own
    )
    ```

    - `total`: seconds for the whole call, retries and backoff included. Place it before
      (outside) the `Retry`.
    - `per_attempt`: seconds for each attempt. Place it after (inside) the `Retry`; an
      attempt that runs out raises `DeadlineExceeded`, which the Retry always retries
      while the total allows.

    Both must be finite and > 0; there is no default. A timeout never extends an
    enclosing deadline, only shortens it. At expiry the call raises `DeadlineExceeded`
    (a builtin `TimeoutError`): at once in async code, and at the next stalwart check in
    sync code, where a call that finishes late without passing one keeps its result.
    """

    per_attempt: float | None = None
    total: float | None = None
    name: str = "timeout"

    def __post_init__(self) -> None:
        per_attempt = _positive_seconds("per_attempt", self.per_attempt)
        total = _positive_seconds("total", self.total)
        if (per_attempt is None) == (total is None):
            raise TypeError("Timeout needs exactly one of per_attempt= or total=")
        object.__setattr__(self, "per_attempt", per_attempt)
        object.__setattr__(self, "total", total)
        check_name(self.name)

    @property
    def kind(self) -> Literal["per_attempt", "total"]:
        """`"per_attempt"` or `"total"`."""
        return "total" if self.total is not None else "per_attempt"

    @property
    def seconds(self) -> float:
        """The timeout, whichever kind it is."""
        seconds = self.total if self.total is not None else self.per_attempt
        assert seconds is not None
        return seconds

    def replace(self, **changes: Any) -> Timeout:
        """A copy with some options changed, validated again."""
        return dataclasses.replace(self, **changes)

    __repr__ = options_repr

    def _bind(self, inner: Runner) -> Runner:
        return _TimeoutRunner(self, inner)


@final
class _TimeoutRunner:
    __slots__ = ("_inner", "_seconds", "_timeout")

    def __init__(self, timeout: Timeout, inner: Runner) -> None:
        self._timeout = timeout
        self._seconds = timeout.seconds
        self._inner = inner

    def _expired(self, error: DeadlineExceeded, own_deadline: float) -> None:
        # Ours only if our deadline really passed: the function may raise a
        # DeadlineExceeded of its own (with no deadline, or an earlier one) at any time.
        if error.deadline >= own_deadline and current_clock().monotonic() >= own_deadline:
            error._stalwart_timeout = self._timeout  # type: ignore[attr-defined]
            emit(
                TimeoutExpired(
                    strategy=self._timeout.name, timeout=self._seconds, kind=self._timeout.kind
                )
            )
            if error.timeout is None:
                error.timeout = self._seconds

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        parent = _current()
        now = current_clock().monotonic()
        token = parent.token
        if token is not None and token.origin is not None:
            raise _context.cancelled_error(token)
        deadline = parent.deadline
        if now >= deadline:
            raise deadline_error(deadline)
        own_deadline = now + self._seconds
        if own_deadline >= deadline:
            # The enclosing deadline is tighter; this timeout adds nothing to enforce.
            return self._inner.call(fn, args, kwargs)
        reset = _set_current(Context(own_deadline, token, parent.values))
        try:
            return self._inner.call(fn, args, kwargs)
        except DeadlineExceeded as error:
            self._expired(error, own_deadline)
            raise
        finally:
            _reset_current(reset)

    def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        # A plain function handing over the coroutine that does the work: one coroutine
        # frame less on every call (every caller awaits at once).
        clock = current_clock()
        if type(clock) is SystemClock:
            return self._acall_on_loop_time(fn, args, kwargs, clock)
        return self._acall_in_scope(fn, args, kwargs)

    async def _acall_in_scope(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        """On a fake clock: a stalwart deadline scope, which follows the clock."""
        scope = Scope(self._seconds, quiet=False)
        try:
            async with scope:
                return await self._inner.acall(fn, args, kwargs)
        except DeadlineExceeded as error:
            self._expired(error, scope._own_deadline)
            raise

    async def _acall_on_loop_time(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        clock: SystemClock,
    ) -> Any:
        """In real time, the event loop's own machinery bounds the call (the task's
        watchdog timer on asyncio, a cancel scope on trio): the same semantics as a
        `stalwart.deadline` scope at a fraction of an anyio cancel scope's cost, which an
        HTTP client pays twice per request. Cancellation from outside reaches the call
        through the enclosing scopes, which are real cancel scopes."""
        parent = _context.current()
        token = parent.token
        if token is not None and token.origin is not None:
            raise _context.cancelled_error(token)
        now = clock.monotonic()
        if now >= parent.deadline:
            raise deadline_error(parent.deadline)
        own_deadline = now + self._seconds
        if own_deadline >= parent.deadline:
            # The enclosing scope's deadline is tighter, and that scope enforces it.
            return await self._inner.acall(fn, args, kwargs)
        reset = _context.set_current(Context(own_deadline, token, parent.values))
        try:
            loop = asyncio._get_running_loop()
            task: Any = None if loop is None else asyncio.current_task(loop)
            if task is not None:
                dog = watchdog(task)
                opened = dog.open(self._seconds)
                try:
                    result = await self._inner.acall(fn, args, kwargs)
                except asyncio.CancelledError as cancelled:
                    if not dog.close(opened):
                        raise
                    error = deadline_error(own_deadline, self._seconds)
                    # The attempt saw the cancellation: any mark it left there (see
                    # `retry_forbidden`) must stay with the error that replaces it.
                    error.__context__ = cancelled
                    error.__suppress_context__ = True
                except BaseException:
                    dog.close(opened)
                    raise
                else:
                    # Ran out just as the call finished: the result stands, as with
                    # asyncio.timeout.
                    dog.close(opened)
                    return result
            elif _context._running_trio():
                trio: Any = sys.modules["trio"]
                scope = trio.CancelScope(deadline=trio.current_time() + self._seconds)
                result = None
                with scope:
                    result = await self._inner.acall(fn, args, kwargs)
                if not scope.cancelled_caught:
                    return result
                error = deadline_error(own_deadline, self._seconds)
            else:
                raise RuntimeError(
                    "Timeout.acall must run in an asyncio task or under trio, not in a "
                    "coroutine driven by hand"
                )
        except DeadlineExceeded as inner_error:
            self._expired(inner_error, own_deadline)
            raise
        finally:
            _context.reset_current(reset)
        self._expired(error, own_deadline)
        raise error
