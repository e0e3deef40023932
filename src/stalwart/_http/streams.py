"""What the transports put around a request's and a response's bytes.

- `CallTimeouts`: a request's httpx timeouts, cut at every lookup to the deadline that
  applies where httpcore looks (the attempt's, in the attempt's own thread or task).
- `BodyTracker`: a request body that cannot be replayed, watched to learn whether
  sending began.
- `GuardedBody`: a response body read after the call returned, still bound by the
  deadline of the attempt that produced it.
- `RestOfBody`: an error body too large to buffer: what was read, then the rest.

httpx's transports check the type of the streams they get, so each wrapper is made a
subclass of the library's stream classes by `stream_class`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Final, TypeVar

from .. import _context
from .._clock import current_clock
from .._context import CancelToken, deadline_error
from .._outcome import forbid_retry
from .library import Library

__all__ = [
    "BodyTracker",
    "CallTimeouts",
    "GuardedBody",
    "RestOfBody",
    "check_body",
    "stream_class",
]

_INF: Final = math.inf
#: The shortest timeout handed to httpx: zero would make its sockets non-blocking.
MIN_TIMEOUT: Final = 1e-6
_PHASES: Final = frozenset({"connect", "read", "write", "pool"})
_current_context = _context.current
_dict_get = dict.get


class CallTimeouts(dict[str, Any]):
    """A request's httpx timeouts, each cut to what is left of the deadline that applies
    where it is looked up.

    httpcore looks a timeout up (`.get`) when each phase starts (pool, connect, write,
    read headers, read body), from the thread or task that runs the attempt: the
    context there holds that attempt's own deadline (its per-attempt timeout, the
    total, the caller's) and its cancellation, so concurrent hedged attempts each see
    their own. `after` is the deadline of the attempt whose response the call returned:
    it still bounds that body, read once the pipeline's own scopes are gone. A
    cancelled context gets the shortest timeout, so the next phase ends at once.
    """

    # No __init__ (dict's own builds it, at C speed) and no __slots__: `after` starts as
    # this class default and is set on the instance once the call returns.
    after: float = _INF

    def get(self, key: str, default: Any = None) -> Any:
        # httpcore asks five times per request: kept to a few attribute reads.
        if key not in _PHASES:
            return _dict_get(self, key, default)
        configured = _dict_get(self, key)
        ctx = _current_context()
        token = ctx.token
        if token is not None and token.origin is not None:
            return MIN_TIMEOUT
        deadline = ctx.deadline
        after = self.after
        if after < deadline:  # noqa: PLR1730 (min() costs a call on every lookup)
            deadline = after
        if deadline == _INF:
            return configured
        left = deadline - current_clock().monotonic()
        if left < MIN_TIMEOUT:
            return MIN_TIMEOUT
        return left if configured is None or configured > left else configured

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)  # KeyError for a phase that has no entry
        return self.get(key) if key in _PHASES else value

    def configured(self) -> dict[str, Any]:
        """The timeouts as the caller gave them."""
        return dict(self.items())


class BodyTracker:
    """Wraps a request body that cannot be replayed, to learn whether sending began."""

    __slots__ = ("_stream", "started")

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.started = False

    def __iter__(self) -> Iterator[bytes]:
        self.started = True
        yield from self._stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        async for chunk in self._stream:
            yield chunk

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


def check_body(deadline: float, token: CancelToken | None, unsafe: str | None = None) -> None:
    """Between chunks of a body: stop at the deadline or the cancellation (each chunk's
    wait is bounded by the read timeout; a slow drip is not). `unsafe` marks the
    deadline's error as not to be repeated, for an error body read inside an attempt."""
    if token is not None and token.origin is not None:
        raise _context.cancelled_error(token)
    if deadline != _INF and current_clock().monotonic() >= deadline:
        error = deadline_error(deadline)
        error.add_note("stalwart: the deadline passed while the response body was read")
        if unsafe is not None:
            forbid_retry(error, unsafe)
        raise error


class GuardedBody:
    """A response body that checks its attempt's deadline and cancellation between
    chunks (each chunk's wait is bounded by the read timeout, cut to that deadline).
    Once the deadline has passed, the next chunk asked for ends the body with
    `DeadlineExceeded` (the end of the body still ends it normally); a cancellation ends
    it before the next chunk is asked for."""

    __slots__ = ("_stream", "deadline", "token")

    def __init__(self, stream: Any, deadline: float, token: CancelToken | None) -> None:
        self._stream = stream
        self.deadline = deadline
        self.token = token

    def __iter__(self) -> Iterator[bytes]:
        # check_body's tests, inlined: this runs for every chunk of every body. The time
        # is read before each chunk is asked for, and judged once one comes: a body whose
        # end arrives after the deadline still ends normally.
        deadline = self.deadline
        token = self.token
        if token is not None and token.origin is not None:
            check_body(deadline, token)
        late = deadline != _INF and current_clock().monotonic() >= deadline
        for chunk in self._stream:
            if late:
                check_body(deadline, token)
            yield chunk
            if token is not None and token.origin is not None:
                check_body(deadline, token)
            late = deadline != _INF and current_clock().monotonic() >= deadline

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _GuardedChunks(aiter(self._stream), self.deadline, self.token)

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _GuardedChunks:
    """The async iteration of a `GuardedBody`, which costs no generator and no coroutine
    of its own while the deadline is ahead: each step hands out the wrapped iterator's
    own awaitable. The checks run before each chunk is asked for (see `GuardedBody`)."""

    __slots__ = ("_chunks", "_deadline", "_token")

    def __init__(self, chunks: AsyncIterator[bytes], deadline: float, token: CancelToken | None):
        self._chunks = chunks
        self._deadline = deadline
        self._token = token

    def __aiter__(self) -> _GuardedChunks:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        token = self._token
        deadline = self._deadline
        if (token is not None and token.origin is not None) or (
            deadline != _INF and current_clock().monotonic() >= deadline
        ):
            return self._stop()
        return self._chunks.__anext__()

    async def _stop(self) -> bytes:
        token = self._token
        if token is None or token.origin is None:
            # The deadline passed: a body that has nothing left ends normally.
            await self._chunks.__anext__()  # StopAsyncIteration passes through
        try:
            check_body(self._deadline, token)
        except BaseException:
            # Finish the wrapped generator here: trio warns about one left to the GC.
            await _aclose(self._chunks)
            raise
        raise AssertionError("check_body returned past the deadline")  # pragma: no cover


class RestOfBody:
    """An error body too large to buffer: the chunks already read, then the rest."""

    __slots__ = ("_chunks", "_response", "_rest")

    def __init__(self, chunks: list[bytes], rest: Any, response: Any) -> None:
        self._chunks = chunks
        self._rest = rest  # the partly consumed raw iterator of `response`
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        yield from self._rest

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        async for chunk in self._rest:
            yield chunk

    def close(self) -> None:
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()
        self._response.close()

    async def aclose(self) -> None:
        await _aclose(self._rest)
        await self._response.aclose()


async def _aclose(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


W = TypeVar("W")
_classes: dict[tuple[str, type], type] = {}


def stream_class(library: Library, wrapper: type[W]) -> type[W]:
    """`wrapper` as a stream class of `library` (its transports check stream types)."""
    found = _classes.get((library.name, wrapper))
    if found is None:
        bases = (wrapper, library.sync_stream, library.async_stream)
        found = _classes[(library.name, wrapper)] = type(wrapper.__name__, bases, {"__slots__": ()})
    return found
