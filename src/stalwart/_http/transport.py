"""The resilient transports: every request through a pipeline, with HTTP's own rules.

One engine serves sync and async, httpx and httpx2. The decisions (may this request be
repeated? what does this failure mean? which timeouts does this attempt get?) live in
`_Call` and `Engine`; the sync and async drivers only send, read and close.
"""

from __future__ import annotations

import functools
import math
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

import anyio

from .. import _context
from .._clock import Clock, current_clock
from .._context import deadline_error
from .._outcome import Verdict, forbid_retry, is_cancellation
from .._pipeline import Pipeline
from .._strategies.hedge import Hedge
from .classify import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    is_failure_status,
    status_verdict,
    tag,
)
from .library import Library
from .propagation import Propagation

__all__ = [
    "AsyncResilientTransportBase",
    "AsyncTransport",
    "Engine",
    "ResilientTransportBase",
    "SyncTransport",
]

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")
RequestT_contra = TypeVar("RequestT_contra", contravariant=True)
ResponseT_co = TypeVar("ResponseT_co", covariant=True)

_INF: Final = math.inf
#: Methods a hedging `read_pipeline` serves: reads with no effect on the server.
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: Methods an automatic `Idempotency-Key` makes retryable (the IETF draft's).
KEYED_METHODS: Final = frozenset({"POST", "PATCH"})
#: The shortest timeout handed to httpx: zero would make its sockets non-blocking.
_MIN_TIMEOUT: Final = 1e-6
#: A timeout that fired this close to the deadline was the deadline's.
_DEADLINE_SLACK: Final = 1e-3


class SyncTransport(Protocol[RequestT_contra, ResponseT_co]):
    """What `ResilientTransport` wraps: any httpx (or httpx2) sync transport."""

    def handle_request(self, request: RequestT_contra) -> ResponseT_co: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol[RequestT_contra, ResponseT_co]):
    """What `AsyncResilientTransport` wraps: any httpx (or httpx2) async transport."""

    async def handle_async_request(self, request: RequestT_contra) -> ResponseT_co: ...

    async def aclose(self) -> None: ...


class _DeadlineTimeouts(dict[str, Any]):
    """A request's httpx timeouts, each cut to the time left before the attempt's deadline.

    httpcore looks a timeout up (`.get`) when each phase starts (pool, connect, write,
    read), so every phase gets what is left at that moment, not at the attempt's start.
    """

    __slots__ = ("_clock", "_deadline")

    def __init__(self, configured: dict[str, Any], deadline: float, clock: Clock) -> None:
        super().__init__(configured)
        self._deadline = deadline
        self._clock = clock

    def get(self, key: str, default: Any = None) -> Any:
        configured = super().get(key, default)
        left = max(self._deadline - self._clock.monotonic(), _MIN_TIMEOUT)
        return left if configured is None else min(configured, left)


class _BodyTracker:
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


_trackers: dict[str, type[_BodyTracker]] = {}


def _tracker_class(library: Library) -> type[_BodyTracker]:
    """`_BodyTracker` as a stream of `library` (its transports check the stream's type)."""
    tracker = _trackers.get(library.name)
    if tracker is None:
        bases = (_BodyTracker, library.sync_stream, library.async_stream)
        tracker = _trackers[library.name] = type("BodyTracker", bases, {"__slots__": ()})
    return tracker


class _Call:
    """One request on its way through the pipeline: what its attempts share."""

    __slots__ = (
        "body",
        "engine",
        "finished",
        "idempotent",
        "lock",
        "method",
        "propagate",
        "responses",
        "timeouts",
    )

    def __init__(self, engine: Engine, request: Any, *, hedged: bool) -> None:
        self.engine = engine
        self.method: str = request.method
        self.idempotent = self.method in IDEMPOTENT_METHODS or IDEMPOTENCY_KEY in request.headers
        stream = request.stream
        if isinstance(stream, engine.library.byte_stream):
            self.body: _BodyTracker | None = None  # in memory: replayed as often as needed
        else:
            self.body = request.stream = _tracker_class(engine.library)(stream)
        self.timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        propagation = engine.propagation
        self.propagate = propagation is not None and propagation.allows(request.url.host)
        # Hedged attempts may each return a response: all but the winner get closed.
        self.responses: list[Any] = []
        self.finished = False
        self.lock = threading.Lock() if hedged else None

    def unsafe(self, sent: bool) -> str | None:
        """Why this request must not be sent again after a failed attempt, or None."""
        if not sent:
            return None
        body = self.body
        if body is not None and body.started:
            return "its streaming body was consumed and cannot be sent again"
        if not self.idempotent:
            return (
                f"{self.method} is not idempotent and carries no {IDEMPOTENCY_KEY}: "
                "the server may have acted on it"
            )
        return None

    def keep(self, response: Any) -> bool:
        """Register a hedged attempt's response; False once the call has returned (the
        caller then closes it: nobody else will)."""
        if self.lock is None:
            return True
        with self.lock:
            if self.finished:
                return False
            self.responses.append(response)
            return True

    def finish(self, winner: Any) -> list[Any]:
        """The call returns `winner` (None: no response): the other responses, to close."""
        if self.lock is None:
            return []
        with self.lock:
            self.finished = True
            losers = [response for response in self.responses if response is not winner]
            self.responses.clear()
        return losers


class Engine:
    """The transport logic shared by sync and async transports of either library."""

    __slots__ = ("idempotency_keys", "library", "pipeline", "propagation", "read_pipeline")

    def __init__(
        self,
        library: Library,
        *,
        pipeline: Pipeline,
        read_pipeline: Pipeline | None,
        idempotency_keys: bool,
        propagation: Propagation | None,
    ) -> None:
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"pipeline must be a stalwart.Pipeline, got {pipeline!r}")
        if _hedges(pipeline):
            raise ValueError(
                "pipeline= serves every method, and a Hedge would send POSTs twice: give "
                "the hedging pipeline as read_pipeline= (used for GET, HEAD and OPTIONS)"
            )
        if read_pipeline is not None and not isinstance(read_pipeline, Pipeline):
            raise TypeError(f"read_pipeline must be a stalwart.Pipeline, got {read_pipeline!r}")
        if not isinstance(idempotency_keys, bool):
            raise TypeError(f"idempotency_keys must be True or False, got {idempotency_keys!r}")
        if propagation is not None and not isinstance(propagation, Propagation):
            raise TypeError(f"propagation must be a Propagation, got {propagation!r}")
        self.library = library
        self.pipeline = pipeline
        self.read_pipeline = read_pipeline
        self.idempotency_keys = idempotency_keys
        self.propagation = propagation

    def options_repr(self) -> str:
        parts = [f"pipeline={self.pipeline!r}"]
        if self.read_pipeline is not None:
            parts.append(f"read_pipeline={self.read_pipeline!r}")
        if self.idempotency_keys:
            parts.append("idempotency_keys=True")
        if self.propagation is not None:
            parts.append(f"propagation={self.propagation!r}")
        return ", ".join(parts)

    # -- before the pipeline ------------------------------------------------------------

    def begin(self, request: Any) -> tuple[Pipeline, _Call]:
        """Choose the pipeline and prepare the request for its attempts."""
        method = request.method
        if self.idempotency_keys and method in KEYED_METHODS:
            headers = request.headers
            if IDEMPOTENCY_KEY not in headers:
                # One key for every attempt: that is what makes repeating it safe.
                headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
        pipeline = self.pipeline
        read_pipeline = self.read_pipeline
        if read_pipeline is not None and method in READ_METHODS:
            pipeline = read_pipeline
        call = _Call(self, request, hedged=pipeline is read_pipeline and _hedges(pipeline))
        if call.propagate:
            assert self.propagation is not None
            self.propagation.call_headers(_context.values(), request.headers)
        return pipeline, call

    # -- each attempt ---------------------------------------------------------------------

    def prepare(self, call: _Call, request: Any) -> float:
        """Before an attempt: check the context, and fit the request to its deadline."""
        ctx = _context.current()
        token = ctx.token
        if token is not None and token.origin is not None:
            raise _context.cancelled_error(token)
        deadline = ctx.deadline
        if deadline == _INF:
            request.extensions["timeout"] = call.timeouts
            return deadline
        clock = current_clock()
        left = deadline - clock.monotonic()
        if left <= 0:
            raise deadline_error(deadline)
        request.extensions["timeout"] = _DeadlineTimeouts(call.timeouts, deadline, clock)
        if call.propagate:
            propagation = self.propagation
            assert propagation is not None
            header = propagation.deadline_header
            if header is not None:
                request.headers[header] = propagation.deadline_value(left)
        return deadline

    def failed(self, call: _Call, exception: Exception, deadline: float) -> Exception:
        """Judge an attempt's exception: tag its verdict, forbid repeating what may have
        taken effect, and turn a timeout that was really the deadline into
        `DeadlineExceeded` (returned; the original is its `__cause__`)."""
        library = self.library
        if isinstance(exception, library.not_sent):
            sent = False
        elif isinstance(exception, library.transient):
            sent = True
        else:
            if isinstance(exception, library.module.HTTPError):
                tag(exception, Verdict.FATAL)
            return exception
        reason = call.unsafe(sent)
        if (
            isinstance(exception, library.timeout)
            and deadline != _INF
            and current_clock().monotonic() >= deadline - _DEADLINE_SLACK
        ):
            error: Exception = deadline_error(deadline)
        else:
            error = exception
            timeout = isinstance(exception, library.timeout)
            tag(error, Verdict.TIMEOUT if timeout else Verdict.TRANSIENT)
        if reason is not None:
            forbid_retry(error, reason)
        return error

    def interrupted(self, call: _Call, exception: BaseException) -> None:
        """An attempt was cancelled mid-flight (its per-attempt timeout, say): whether it
        may be repeated depends on what it may already have sent."""
        if is_cancellation(exception):
            reason = call.unsafe(sent=True)
            if reason is not None:
                forbid_retry(exception, reason)

    def is_failure(self, request: Any, response: Any) -> bool:
        status: int = response.status_code
        if status < 400:  # the common case, decided without looking at headers
            return False
        return is_failure_status(status, status == 409 and IDEMPOTENCY_KEY in request.headers)

    def in_memory(self, response: Any) -> bool:
        """Whether the response's body is already in memory (it holds no connection)."""
        return isinstance(response.stream, self.library.byte_stream)

    def status_failure(self, call: _Call, request: Any, response: Any, raw: bytes | None) -> Any:
        """The exception that carries a failure status through the pipeline.

        `raw` is the body already read off the network (its connection is back in the
        pool): the carried response replays it, so the caller can still read it as
        httpx would give it. None when the response already held its body in memory.
        """
        library = self.library
        if raw is not None:
            response = library.response(
                response.status_code,
                headers=response.headers,
                stream=library.byte_stream(raw),
                extensions=response.extensions,
            )
        response.request = request
        status = response.status_code
        kind = "Server error" if status >= 500 else "Client error"
        message = f"{kind} '{status} {response.reason_phrase}' for url '{request.url}'"
        error: Any = library.status_error(message, request=request, response=response)
        error._stalwart_carrier = True
        tag(error, status_verdict(status))
        if status not in RETRYABLE_STATUSES and status != 409:
            forbid_retry(error, f"status {status} is not worth another attempt")
        else:
            reason = call.unsafe(sent=True)
            if reason is not None:
                forbid_retry(error, reason)
        return error

    def end(self, call: _Call, request: Any) -> None:
        """After the call: the request keeps the timeouts it came with."""
        request.extensions["timeout"] = call.timeouts

    def carried(self, exception: BaseException) -> Any:
        """The response a pipeline's final failure carries, or None."""
        if getattr(exception, "_stalwart_carrier", False):
            return getattr(exception, "response", None)
        return None


def _hedges(pipeline: Pipeline | None) -> bool:
    return pipeline is not None and any(isinstance(s, Hedge) for s in pipeline.strategies)


# -- the drivers ---------------------------------------------------------------------------


def _check_library(cls: type) -> Library:
    library = getattr(cls, "_library", None)
    if not isinstance(library, Library):
        raise TypeError(f"{cls.__name__} is not bound to httpx or httpx2")
    return library


class ResilientTransportBase(Generic[RequestT, ResponseT]):
    """The sync transport, for either library (see `stalwart.httpx.ResilientTransport`)."""

    _library: ClassVar[Library]

    def __init__(
        self,
        inner: SyncTransport[RequestT, ResponseT] | None = None,
        *,
        pipeline: Pipeline | None = None,
        read_pipeline: Pipeline | None = None,
        idempotency_keys: bool = False,
        propagation: Propagation | None = None,
    ) -> None:
        from .pipelines import standard_limits, standard_pipeline

        library = _check_library(type(self))
        self._engine = Engine(
            library,
            pipeline=standard_pipeline() if pipeline is None else pipeline,
            read_pipeline=read_pipeline,
            idempotency_keys=idempotency_keys,
            propagation=propagation,
        )
        if inner is None:
            inner = library.module.HTTPTransport(limits=standard_limits(library))
        elif not callable(getattr(inner, "handle_request", None)):
            raise TypeError(f"inner must be an httpx sync transport, got {inner!r}")
        self._inner = inner

    @property
    def inner(self) -> SyncTransport[RequestT, ResponseT]:
        """The wrapped transport."""
        return self._inner

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline every request goes through (but reads, given a `read_pipeline`)."""
        return self._engine.pipeline

    @property
    def read_pipeline(self) -> Pipeline | None:
        """The pipeline of GET, HEAD and OPTIONS requests, if any."""
        return self._engine.read_pipeline

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inner!r}, {self._engine.options_repr()})"

    def handle_request(self, request: RequestT) -> ResponseT:
        engine = self._engine
        pipeline, call = engine.begin(request)
        winner: Any = None
        try:
            try:
                winner = pipeline.call(functools.partial(self._attempt, call), request)
            except Exception as exc:
                winner = engine.carried(exc)
                if winner is None:
                    raise
            return winner  # type: ignore[no-any-return]
        finally:
            engine.end(call, request)
            for loser in call.finish(winner):
                loser.close()

    def _attempt(self, call: _Call, request: Any) -> Any:  # Any: either library's
        engine = self._engine
        deadline = engine.prepare(call, request)
        try:
            response: Any = self._inner.handle_request(request)
        except Exception as exc:
            error = engine.failed(call, exc, deadline)
            if error is exc:
                raise
            raise error from exc
        except BaseException as exc:
            engine.interrupted(call, exc)
            raise
        if engine.is_failure(request, response):
            raw = None
            if not engine.in_memory(response):
                try:
                    raw = b"".join(response.iter_raw())
                except Exception as exc:
                    error = engine.failed(call, exc, deadline)
                    if error is exc:
                        raise
                    raise error from exc
                finally:
                    response.close()
            raise engine.status_failure(call, request, response, raw)
        if not call.keep(response):
            response.close()
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncResilientTransportBase(Generic[RequestT, ResponseT]):
    """The async transport, for either library (see
    `stalwart.httpx.AsyncResilientTransport`)."""

    _library: ClassVar[Library]

    def __init__(
        self,
        inner: AsyncTransport[RequestT, ResponseT] | None = None,
        *,
        pipeline: Pipeline | None = None,
        read_pipeline: Pipeline | None = None,
        idempotency_keys: bool = False,
        propagation: Propagation | None = None,
    ) -> None:
        from .pipelines import standard_limits, standard_pipeline

        library = _check_library(type(self))
        self._engine = Engine(
            library,
            pipeline=standard_pipeline() if pipeline is None else pipeline,
            read_pipeline=read_pipeline,
            idempotency_keys=idempotency_keys,
            propagation=propagation,
        )
        if inner is None:
            inner = library.module.AsyncHTTPTransport(limits=standard_limits(library))
        elif not callable(getattr(inner, "handle_async_request", None)):
            raise TypeError(f"inner must be an httpx async transport, got {inner!r}")
        self._inner = inner

    @property
    def inner(self) -> AsyncTransport[RequestT, ResponseT]:
        """The wrapped transport."""
        return self._inner

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline every request goes through (but reads, given a `read_pipeline`)."""
        return self._engine.pipeline

    @property
    def read_pipeline(self) -> Pipeline | None:
        """The pipeline of GET, HEAD and OPTIONS requests, if any."""
        return self._engine.read_pipeline

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inner!r}, {self._engine.options_repr()})"

    async def handle_async_request(self, request: RequestT) -> ResponseT:
        engine = self._engine
        pipeline, call = engine.begin(request)
        winner: Any = None
        try:
            try:
                winner = await pipeline.acall(functools.partial(self._attempt, call), request)
            except Exception as exc:
                winner = engine.carried(exc)
                if winner is None:
                    raise
            return winner  # type: ignore[no-any-return]
        finally:
            engine.end(call, request)
            losers = call.finish(winner)
            if losers:
                with anyio.CancelScope(shield=True):
                    for loser in losers:
                        await loser.aclose()

    async def _attempt(self, call: _Call, request: Any) -> Any:
        engine = self._engine
        deadline = engine.prepare(call, request)
        try:
            response: Any = await self._inner.handle_async_request(request)
        except Exception as exc:
            error = engine.failed(call, exc, deadline)
            if error is exc:
                raise
            raise error from exc
        except BaseException as exc:
            engine.interrupted(call, exc)
            raise
        if engine.is_failure(request, response):
            raw = None
            if not engine.in_memory(response):
                try:
                    raw = b"".join([chunk async for chunk in response.aiter_raw()])
                except Exception as exc:
                    error = engine.failed(call, exc, deadline)
                    if error is exc:
                        raise
                    raise error from exc
                except BaseException as exc:
                    engine.interrupted(call, exc)
                    raise
                finally:
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
            raise engine.status_failure(call, request, response, raw)
        if not call.keep(response):
            with anyio.CancelScope(shield=True):
                await response.aclose()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
