"""The stalwart context: Go's `context.Context`, done the Python way.

One `ContextVar` holds an immutable `Context`: an absolute monotonic deadline, the
innermost cancellation token, and the request values bound above. It flows through
`await`, `asyncio.create_task`, `asyncio.to_thread` and anyio task groups by itself;
`carry_context` and `start_thread` carry it into plain threads and executors.

Async scopes are real anyio cancel scopes, so every await inside them is interrupted at
expiry. Sync code cannot be pre-empted, so sync enforcement is cooperative, as in Go:
every stalwart operation clips itself to the remaining time and checks the deadline and
cancellation before it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Final, ParamSpec, TypeVar, final

import anyio

from ._clock import current_clock
from ._exceptions import Cancelled, DeadlineExceeded

__all__ = [
    "Scope",
    "asleep",
    "bind",
    "cancel_scope",
    "carry_context",
    "check",
    "current_deadline",
    "deadline",
    "move_on_after",
    "remaining",
    "sleep",
    "start_thread",
    "value",
    "values",
]

P = ParamSpec("P")
T = TypeVar("T")

_EMPTY_VALUES: Final[Mapping[str, object]] = MappingProxyType({})


@final
class CancelToken:
    """Cancellation state shared by a scope and everything that runs inside it.

    A token is cancelled by its own scope's `cancel()` or by any enclosing scope's, so a
    child token registers with its parent. Sync waits block on `event`; async scopes
    subscribe with `on_cancel` to cancel their anyio scope.
    """

    __slots__ = ("__weakref__", "_callbacks", "_children", "_lock", "event", "origin")

    def __init__(self, parent: CancelToken | None) -> None:
        self.event = threading.Event()
        #: the token whose `cancel()` was called, once this one is cancelled
        self.origin: CancelToken | None = None
        # Re-entrant: a signal handler may call cancel() while this thread holds the lock.
        self._lock = threading.RLock()
        self._callbacks: list[Callable[[], None]] = []
        # Weak: a child lives as long as the work holding it (a carried thread, a task),
        # which keeps hearing this token's cancellation even after its own scope ended.
        self._children: weakref.WeakSet[CancelToken] = weakref.WeakSet()
        if parent is not None:
            with parent._lock:
                if parent.origin is None:
                    parent._children.add(self)
                    return
            self._mark(parent.origin)

    @property
    def cancelled(self) -> bool:
        return self.origin is not None

    def cancel(self) -> None:
        self._mark(self)

    def _mark(self, origin: CancelToken | None) -> None:
        with self._lock:
            if self.origin is not None:
                return
            self.origin = origin
            children = list(self._children)
            self._children.clear()
            callbacks = list(self._callbacks)
            self._callbacks.clear()
        self.event.set()
        for child in children:
            child._mark(origin)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` once this token is cancelled, by its own scope or an enclosing
        one (at once if it already is); return a function that unsubscribes it."""
        with self._lock:
            if self.origin is None:
                self._callbacks.append(callback)
                return lambda: self._discard_callback(callback)
        callback()
        return _do_nothing

    def _discard_callback(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


def _do_nothing() -> None:
    return None


@final
class Context:
    """What the ContextVar holds; a new one is made for every scope, never changed."""

    __slots__ = ("deadline", "token", "values")

    def __init__(
        self,
        deadline: float = math.inf,
        token: CancelToken | None = None,
        values: Mapping[str, object] = _EMPTY_VALUES,
    ) -> None:
        self.deadline = deadline
        self.token = token
        self.values = values

    def __repr__(self) -> str:
        return f"Context(deadline={self.deadline!r}, token={self.token!r}, values={self.values!r})"


ROOT: Final = Context()
_current: Final[contextvars.ContextVar[Context]] = contextvars.ContextVar(
    "stalwart.context", default=ROOT
)
current: Final = _current.get
set_current: Final = _current.set
reset_current: Final = _current.reset


def _check_seconds(name: str, seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {seconds!r}")
    if math.isnan(seconds):
        raise ValueError(f"{name} must be a number of seconds, got NaN")
    if seconds < 0:
        raise ValueError(f"{name} must be >= 0, got {seconds!r}")
    return float(seconds)


def cancelled_error(token: CancelToken) -> Cancelled:
    error = Cancelled("the call was cancelled by stalwart.cancel_scope().cancel()")
    error._stalwart_origin = weakref.ref(token.origin) if token.origin else None  # type: ignore[attr-defined]
    return error


def deadline_error(deadline: float, timeout: float | None = None) -> DeadlineExceeded:
    if timeout is None:
        message = "the deadline passed before the work finished"
    else:
        message = f"the deadline of {timeout:g} s passed before the work finished"
    return DeadlineExceeded(message, deadline=deadline, timeout=timeout)


def check() -> None:
    """Raise `Cancelled` or `DeadlineExceeded` if the current context is done.

    Call it in long sync loops between units of work, as Go code polls `ctx.Err()`.
    Outside any scope it never raises.
    """
    ctx = _current.get()
    token = ctx.token
    if token is not None and token.origin is not None:
        raise cancelled_error(token)
    if ctx.deadline != math.inf and current_clock().monotonic() >= ctx.deadline:
        raise deadline_error(ctx.deadline)


def remaining() -> float:
    """Seconds left before the current deadline: `inf` outside any deadline, never below 0."""
    limit = _current.get().deadline
    if limit == math.inf:
        return math.inf
    return max(0.0, limit - current_clock().monotonic())


def current_deadline() -> float:
    """The current absolute deadline on the stalwart clock's monotonic time (`inf` if none)."""
    return _current.get().deadline


@final
class Scope:
    """A region of code with its own deadline and cancellation, like trio's CancelScope.

    Make one with `deadline()`, `move_on_after()` or `cancel_scope()`, and enter it with
    `with` in sync code or `async with` in async code. A scope can be entered once.

    - `cancel()` may be called from any thread or a signal handler; every stalwart wait
      inside wakes at once, and in async code every await inside is cancelled.
    - Nested scopes only ever shorten the deadline, never extend it.
    - When the scope ends because of its own deadline or cancellation, `deadline()` and
      `cancel_scope()` raise `DeadlineExceeded` or `Cancelled` out of the block, while
      `move_on_after()` swallows them and sets `cancelled_caught`.
    """

    __slots__ = (
        "_active",
        "_anyio_scope",
        "_cancel_requested",
        "_disarm",
        "_expired",
        "_own_deadline",
        "_quiet",
        "_reset",
        "_timeout",
        "_token",
        "cancelled_caught",
        "deadline",
    )

    def __init__(self, timeout: float | None, *, quiet: bool) -> None:
        self._timeout = timeout
        self._quiet = quiet
        self._token: CancelToken | None = None
        self._reset: contextvars.Token[Context] | None = None
        self._anyio_scope: anyio.CancelScope | None = None
        self._disarm: list[Callable[[], None]] = []
        self._own_deadline = math.inf
        self._expired = False
        self._active = False
        self._cancel_requested = False
        #: the absolute deadline in force inside the scope (`inf` if none); set on entry
        self.deadline = math.inf
        #: True once the scope swallowed its own deadline or cancellation (quiet form only)
        self.cancelled_caught = False

    def __repr__(self) -> str:
        kind = "move_on_after" if self._quiet else "deadline"
        if self._timeout is None:
            kind = "cancel_scope"
        state = "cancelled" if self.cancel_called else ("active" if self._active else "idle")
        timeout = "" if self._timeout is None else f"{self._timeout:g}"
        return f"<stalwart.{kind}({timeout}) {state} remaining={self.remaining():g}>"

    @property
    def cancel_called(self) -> bool:
        """Whether `cancel()` was called on this scope or an enclosing one."""
        return self._cancel_requested or (self._token is not None and self._token.cancelled)

    def remaining(self) -> float:
        """Seconds left before this scope's deadline (`inf` if none, never below 0)."""
        if self.deadline == math.inf:
            return math.inf
        return max(0.0, self.deadline - current_clock().monotonic())

    def cancel(self) -> None:
        """Cancel everything inside the scope; safe from any thread and signal handlers.

        Calling it before the scope is entered cancels the block as soon as it starts;
        calling it again, or after the scope ended, does nothing.
        """
        # Flag first, token second; _enter does the reverse, so a cancel() racing with
        # entry from another thread is never lost.
        self._cancel_requested = True
        token = self._token
        if token is not None:
            token.cancel()

    # -- entering and leaving -------------------------------------------------------

    def _enter(self) -> Context:
        if self._reset is not None or self._active:
            raise RuntimeError("a stalwart scope can be entered only once")
        parent = _current.get()
        if self._timeout is not None:
            self._own_deadline = current_clock().monotonic() + self._timeout
        self.deadline = min(parent.deadline, self._own_deadline)
        token = self._token = CancelToken(parent.token)
        if self._cancel_requested:  # cancel() was called before (or during) entry
            token.cancel()
        ctx = Context(self.deadline, token, parent.values)
        self._reset = _current.set(ctx)
        self._active = True
        return ctx

    def _leave(self) -> None:
        self._active = False
        for disarm in self._disarm:
            disarm()
        self._disarm.clear()
        if self._reset is not None:
            _current.reset(self._reset)

    def _owns(self, exc: BaseException | None) -> bool:
        """Whether `exc` is this scope's own deadline or cancellation, to swallow or keep."""
        if isinstance(exc, DeadlineExceeded):
            # Ours only if our own deadline really passed: user code may raise its own
            # DeadlineExceeded (with no deadline attached) long before.
            return (
                exc.deadline >= self._own_deadline
                and current_clock().monotonic() >= self._own_deadline
            )
        if isinstance(exc, Cancelled):
            origin = getattr(exc, "_stalwart_origin", None)
            return origin is not None and origin() is self._token
        return False

    def __enter__(self) -> Scope:
        ctx = self._enter()
        if _in_async_task():
            # `with` (not `async with`) inside a coroutine, as trio users write
            # `with trio.move_on_after(...)`: still a real cancel scope.
            self._arm_async(ctx)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._anyio_scope is not None:
            return self._exit_async(exc_type, exc, tb)
        self._leave()
        if self._quiet and self._owns(exc):
            self.cancelled_caught = True
            return True
        return False

    async def __aenter__(self) -> Scope:
        self._arm_async(self._enter())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return self._exit_async(exc_type, exc, tb)

    def _arm_async(self, ctx: Context) -> None:
        """Put a real anyio cancel scope under this scope, fired by cancel() and expiry."""
        clock = current_clock()
        try:
            call_in_loop = _loop_caller()
            self._anyio_scope = anyio.CancelScope()
            self._anyio_scope.__enter__()
            assert self._token is not None
            self._disarm.append(self._token.on_cancel(lambda: call_in_loop(self._cancel_loop)))
            if ctx.deadline != math.inf:
                # A virtual clock fires the expiry itself; real time uses the loop's timer.
                timer = clock.call_at(ctx.deadline, lambda: call_in_loop(self._expire))
                if timer is None:
                    left = ctx.deadline - clock.monotonic()
                    self._anyio_scope.deadline = anyio.current_time() + left
                else:
                    self._disarm.append(timer.cancel)
        except BaseException:
            if self._anyio_scope is not None:
                self._anyio_scope.__exit__(None, None, None)
            self._leave()
            raise

    def _expire(self) -> None:
        self._expired = True
        self._cancel_loop()

    def _cancel_loop(self) -> None:
        if self._active and self._anyio_scope is not None:
            self._anyio_scope.cancel()

    def _exit_async(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._anyio_scope is not None
        self._active = False
        # Only `cancelled_caught` says the scope stopped its own cancellation: trio's
        # __exit__ also returns True on a plain, exception-free exit.
        self._anyio_scope.__exit__(exc_type, exc, tb)
        self._leave()
        if self._anyio_scope.cancelled_caught:
            token = self._token
            if token is not None and token.origin is not None:
                error: BaseException = cancelled_error(token)
            else:
                error = deadline_error(self.deadline, self._timeout)
            if self._quiet and self._owns(error):
                self.cancelled_caught = True
                return True
            raise error from None
        if self._quiet and self._owns(exc):
            self.cancelled_caught = True
            return True
        return False


def _in_async_task() -> bool:
    """Whether this code runs inside an asyncio or trio task (where anyio scopes work)."""
    if _running_trio():
        return True
    loop = asyncio._get_running_loop()
    return loop is not None and asyncio.current_task(loop) is not None


def _running_trio() -> bool:
    """Whether the current thread runs a trio event loop (trio is imported only if used)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def _loop_caller() -> Callable[[Callable[[], None]], None]:
    """A function that runs a callback in the current event loop's thread, from anywhere.

    Within the loop's thread it calls directly; from other threads and signal handlers it
    hands the callback to the loop's own thread-safe scheduler, which never blocks.
    """
    loop_thread = threading.get_ident()
    schedule: Callable[[Callable[[], None]], object]
    if _running_trio():
        schedule = sys.modules["trio"].lowlevel.current_trio_token().run_sync_soon
    else:
        schedule = asyncio.get_running_loop().call_soon_threadsafe

    def call_in_loop(callback: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop has nothing to cancel
            if threading.get_ident() == loop_thread:
                callback()
                # From a signal handler the loop may sit in select(): the thread-safe
                # scheduler wakes it, so the cancellation is delivered at once.
                schedule(_do_nothing)
            else:
                schedule(callback)

    return call_in_loop


def deadline(seconds: float) -> Scope:
    """A scope that must finish within `seconds`, or raises `DeadlineExceeded`.

    ```python
    with stalwart.deadline(2.0):          # or: async with stalwart.deadline(2.0):
        client.get("https://api.example.com/orders/42")
    ```

    `seconds` may be 0 (already expired: the first stalwart check inside raises) or
    `math.inf` (no deadline, but a cancel scope all the same). Negative and NaN values
    raise `ValueError`. The deadline is fixed when the block is entered. In async code
    every await inside is cancelled at expiry; in sync code stalwart operations clip
    themselves to it and check it before they start, and work that completes late
    without passing a stalwart check is not thrown away.
    """
    return Scope(_check_seconds("seconds", seconds), quiet=False)


def move_on_after(seconds: float) -> Scope:
    """Like `deadline`, but gives up quietly: the block just ends at expiry.

    Afterwards `scope.cancelled_caught` says whether the block was cut short, as with
    trio's `move_on_after`. `scope.cancel()` also ends the block quietly.
    """
    return Scope(_check_seconds("seconds", seconds), quiet=True)


def cancel_scope() -> Scope:
    """A scope without a deadline of its own that `scope.cancel()` can stop from anywhere.

    ```python
    with stalwart.cancel_scope() as scope:
        threading.Timer(5, scope.cancel).start()
        pipeline.call(poll_forever)       # ends with stalwart.Cancelled
    ```
    """
    return Scope(None, quiet=False)


def sleep(seconds: float) -> None:
    """Sleep in sync code, the stalwart way: on the stalwart clock, cancellable.

    Wakes at once with `Cancelled` when an enclosing scope is cancelled. When the deadline
    comes first, sleeps until it and raises `DeadlineExceeded`. Ctrl-C interrupts it.
    """
    seconds = _check_seconds("seconds", seconds)
    ctx = _current.get()
    token = ctx.token
    clock = current_clock()
    if token is not None and token.origin is not None:
        raise cancelled_error(token)
    now = clock.monotonic()
    left = ctx.deadline - now
    if left <= 0:
        raise deadline_error(ctx.deadline)
    event = token.event if token is not None else threading.Event()
    clock.sleep(min(seconds, left), event)
    if token is not None and token.origin is not None:
        raise cancelled_error(token)
    if seconds >= left:
        raise deadline_error(ctx.deadline)


async def asleep(seconds: float) -> None:
    """Sleep in async code on the stalwart clock, with the same rules as `sleep`.

    Enclosing async scopes cancel it like any await; it also honours the deadline and
    cancellation of a sync scope that encloses the event loop (a loop run in a thread
    started inside the scope).
    """
    seconds = _check_seconds("seconds", seconds)
    ctx = _current.get()
    token = ctx.token
    if token is not None and token.origin is not None:
        raise cancelled_error(token)
    left = ctx.deadline - current_clock().monotonic()
    if left <= 0:
        raise deadline_error(ctx.deadline)
    await cancellable_asleep(ctx, min(seconds, left))
    if seconds >= left:
        raise deadline_error(ctx.deadline)


async def cancellable_asleep(ctx: Context, seconds: float) -> None:
    """Sleep `seconds` on the clock; end with `Cancelled` as soon as `ctx` is cancelled."""
    token = ctx.token
    if token is not None and token.origin is not None:
        raise cancelled_error(token)
    clock = current_clock()
    if token is None:
        await clock.asleep(seconds)
        return
    call_in_loop = _loop_caller()
    with anyio.CancelScope() as scope:
        unsubscribe = token.on_cancel(lambda: call_in_loop(scope.cancel))
        try:
            await clock.asleep(seconds)
        finally:
            unsubscribe()
    if token.origin is not None:
        raise cancelled_error(token)


# -- request values -------------------------------------------------------------------


@final
class _Binding:
    __slots__ = ("_added", "_reset")

    def __init__(self, added: Mapping[str, object]) -> None:
        self._added = added
        self._reset: contextvars.Token[Context] | None = None

    def __repr__(self) -> str:
        return f"stalwart.bind({', '.join(f'{k}={v!r}' for k, v in self._added.items())})"

    def __enter__(self) -> Mapping[str, object]:
        if self._reset is not None:
            raise RuntimeError("a stalwart.bind() block can be entered only once")
        parent = _current.get()
        merged = MappingProxyType({**parent.values, **self._added})
        self._reset = _current.set(Context(parent.deadline, parent.token, merged))
        return merged

    def __exit__(self, *exc_info: object) -> None:
        assert self._reset is not None
        _current.reset(self._reset)

    async def __aenter__(self) -> Mapping[str, object]:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()


def bind(**values: object) -> _Binding:
    """Bind request values (a request id, a tenant, ...) for the code inside the block.

    ```python
    with stalwart.bind(request_id="r-42", tenant="acme"):
        stalwart.value("tenant")          # "acme", here and in everything called from here
    ```

    Inner bindings override outer ones for the same key and are undone on exit. Values
    never leave the process unless an integration is told which hosts may receive them.
    """
    return _Binding(MappingProxyType(values))


_MISSING: Final = object()


def value(key: str, default: Any = _MISSING) -> Any:
    """The request value bound under `key`; `default` if given, else `KeyError`."""
    found = _current.get().values.get(key, _MISSING)
    if found is _MISSING:
        if default is _MISSING:
            raise KeyError(f"no stalwart value is bound under {key!r}")
        return default
    return found


def values() -> Mapping[str, object]:
    """All request values bound in the current context, as a read-only mapping."""
    return _current.get().values


# -- threads ----------------------------------------------------------------------------


def carry_context(fn: Callable[P, T]) -> Callable[P, T]:
    """Wrap `fn` so it runs in a copy of the caller's context, in whatever thread runs it.

    Threads and executors do not copy contextvars; use this to take the deadline,
    cancellation and request values along:

    ```python
    executor.submit(stalwart.carry_context(fetch), order_id)
    ```
    """
    snapshot = contextvars.copy_context()

    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> T:
        return snapshot.copy().run(fn, *args, **kwargs)

    run_in_context.__wrapped__ = fn  # type: ignore[attr-defined]
    return run_in_context


def start_thread(
    fn: Callable[..., object], /, *args: object, name: str | None = None, daemon: bool = False
) -> threading.Thread:
    """Start a thread running `fn(*args)` inside the caller's stalwart context."""
    thread = threading.Thread(target=carry_context(fn), args=args, name=name, daemon=daemon)
    thread.start()
    return thread
