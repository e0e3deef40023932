"""The resilient transports: every request through a pipeline, with HTTP's own rules.

One engine serves sync and async, httpx and httpx2. The decisions (may this request be
repeated? what does this failure mean? which timeouts does this attempt get?) live in
`_Call` and `Engine`; the sync and async drivers only send, read and close.
"""

from __future__ import annotations

import functools
import math
import ssl
import threading
import uuid
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

import anyio

from .. import _context
from .._clock import current_clock
from .._context import CancelToken, deadline_error
from .._outcome import Verdict, forbid_retry, is_cancellation
from .._pipeline import Pipeline
from .._strategies.hedge import Hedge
from .classify import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT_METHODS,
    is_failure_status,
    status_verdict,
    tag,
)
from .library import Library
from .propagation import Propagation
from .streams import (
    BodyTracker,
    CallTimeouts,
    GuardedBody,
    RestOfBody,
    check_body,
    stream_class,
)

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
#: The most of a failed attempt's body read into memory to free its connection.
ERROR_BODY_LIMIT: Final = 1024 * 1024
#: A timeout that fired this close to the deadline was the deadline's.
_DEADLINE_SLACK: Final = 1e-3
#: Never mutated (a read-only proxy would cost every `**kwargs` unpacking a slow path).
_NO_KWARGS: Final[dict[str, Any]] = {}


class SyncTransport(Protocol[RequestT_contra, ResponseT_co]):
    """What `ResilientTransport` wraps: any httpx (or httpx2) sync transport."""

    def handle_request(self, request: RequestT_contra) -> ResponseT_co: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol[RequestT_contra, ResponseT_co]):
    """What `AsyncResilientTransport` wraps: any httpx (or httpx2) async transport."""

    async def handle_async_request(self, request: RequestT_contra) -> ResponseT_co: ...

    async def aclose(self) -> None: ...


class _Call:
    """One request on its way through the pipeline: what its attempts share."""

    __slots__ = (
        "added",
        "body",
        "finished",
        "hedged",
        "idempotent",
        "kept",
        "lock",
        "method",
        "propagate",
        "sent",
        "timeouts",
        "token",
        "traced",
    )

    def __init__(self, engine: Engine, request: Any) -> None:
        library = engine.library
        self.method: str = request.method
        self.idempotent = self.method in IDEMPOTENT_METHODS or IDEMPOTENCY_KEY in request.headers
        stream = request.stream
        if isinstance(stream, library.byte_stream):
            self.body: BodyTracker | None = None  # in memory: replayed as often as needed
        else:
            self.body = request.stream = stream_class(library, BodyTracker)(stream)
        extensions = request.extensions
        timeouts = extensions.get("timeout")
        if isinstance(timeouts, CallTimeouts):  # a redirect reuses the extensions it came with
            timeouts = timeouts.configured()
        self.timeouts = extensions["timeout"] = CallTimeouts(timeouts or {})
        propagation = engine.propagation
        self.propagate = propagation is not None and propagation.allows(request.url.host)
        #: headers this call set, with what they held before (None: absent): they must
        #: not follow a redirect to another host
        self.added: dict[str, str | None] = {}
        #: (response, deadline) of every attempt that returned one; all but one get closed
        self.kept: list[tuple[Any, float]] = []
        self.finished = False
        self.hedged = False
        self.lock: threading.Lock | None = None
        #: whether httpcore reports this request's phases (`sent`: its headers went out)
        self.traced = False
        self.sent = False
        #: the caller's cancellation, which still bounds the body once the call returned
        self.token = _context.current().token

    def unsafe(self, sent: bool) -> str | None:
        """Why this request must not be sent again after a failed attempt, or None.

        `sent` is the caller's guess from the failure; when httpcore reports the
        request's phases, what it reported decides instead.
        """
        if self.traced:
            sent = self.sent
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

    def keep(self, response: Any, deadline: float) -> bool:
        """Register an attempt's response; False once the call has returned (the attempt
        then closes it: nobody else will)."""
        lock = self.lock
        if lock is None:
            self.kept.append((response, deadline))
            return True
        with lock:
            if self.finished:
                return False
            self.kept.append((response, deadline))
            return True

    def finish(self, winner: Any) -> tuple[float, list[Any]]:
        """The call returns `winner` (None: no response): the deadline of the attempt that
        produced it, and every other response, to close (a hedge's losers, a result a
        strategy rejected)."""
        lock = self.lock
        kept = self.kept
        if lock is None and len(kept) == 1 and kept[0][0] is winner:
            self.finished = True  # the common case: one attempt, and it won
            deadline = kept[0][1]
            kept.clear()
            return deadline, []
        if lock is not None:
            lock.acquire()
        try:
            self.finished = True
            deadline = _INF
            losers = []
            for response, attempt_deadline in self.kept:
                if response is winner:
                    deadline = attempt_deadline
                else:
                    losers.append(response)
            self.kept.clear()
        finally:
            if lock is not None:
                lock.release()
        return deadline, losers


def _is_tls_failure(exception: BaseException) -> bool:
    """Whether a connect failure was TLS refusing the peer (a bad certificate, a protocol
    mismatch): no retry will fix it."""
    seen = 0
    cause: BaseException | None = exception
    while cause is not None and seen < 4:
        if isinstance(cause, ssl.SSLError) and not isinstance(
            cause, ssl.SSLEOFError | ssl.SSLZeroReturnError
        ):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False


class Engine:
    """The transport logic shared by sync and async transports of either library."""

    __slots__ = (
        "_guarded",
        "idempotency_keys",
        "library",
        "pipeline",
        "propagation",
        "read_hedges",
        "read_pipeline",
        "traceable",
    )

    def __init__(
        self,
        library: Library,
        *,
        pipeline: Pipeline,
        read_pipeline: Pipeline | None,
        idempotency_keys: bool,
        propagation: Propagation | None,
        inner: object,
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
        if isinstance(inner, _Wrapper):
            raise TypeError(
                "inner is a resilient transport already: wrapping it again would multiply "
                "the attempts (give your pipeline to one transport instead)"
            )
        self.library = library
        self.pipeline = pipeline
        self.read_pipeline = read_pipeline
        self.read_hedges = _hedges(read_pipeline)
        self.idempotency_keys = idempotency_keys
        self.propagation = propagation
        # httpx's own transports run on httpcore, which reports each request's phases.
        module: Any = library.module
        self.traceable = isinstance(inner, module.HTTPTransport | module.AsyncHTTPTransport)
        self._guarded = stream_class(library, GuardedBody)

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

    def begin(self, request: Any, *, asynchronous: bool) -> tuple[Pipeline, _Call]:
        """Choose the pipeline and prepare the request for its attempts."""
        method = request.method
        call = _Call(self, request)
        if self.idempotency_keys and method in KEYED_METHODS:
            headers = request.headers
            if IDEMPOTENCY_KEY not in headers:
                # One key for every attempt: that is what makes repeating it safe.
                headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
                call.idempotent = True
        pipeline = self.pipeline
        read_pipeline = self.read_pipeline
        # A body that cannot be replayed cannot be raced either.
        if read_pipeline is not None and method in READ_METHODS and call.body is None:
            pipeline = read_pipeline
            if self.read_hedges:
                call.hedged = True
                call.lock = threading.Lock()
        if self.traceable and not (call.idempotent and call.body is None):
            # Whether such a request may be repeated depends on whether it went out.
            self._trace(call, request, asynchronous)
        if call.propagate:
            assert self.propagation is not None
            self.propagation.call_headers(_context.values(), request.headers, call.added)
        return pipeline, call

    def _trace(self, call: _Call, request: Any, asynchronous: bool) -> None:
        """Follow httpcore's report of the request's phases (keeping the caller's hook)."""
        call.traced = True
        extensions = request.extensions
        theirs = extensions.get("trace")
        theirs = getattr(theirs, "_stalwart_theirs", theirs)

        def note(name: str) -> None:
            if name.endswith("send_request_headers.started"):
                call.sent = True

        if asynchronous:

            async def atrace(name: str, info: dict[str, Any]) -> None:
                note(name)
                if theirs is not None:
                    await theirs(name, info)

            hook: Any = atrace
        else:

            def trace(name: str, info: dict[str, Any]) -> None:
                note(name)
                if theirs is not None:
                    theirs(name, info)

            hook = trace
        hook._stalwart_theirs = theirs
        extensions["trace"] = hook

    # -- each attempt ---------------------------------------------------------------------

    def prepare(self, call: _Call, request: Any) -> tuple[float, CancelToken | None]:
        """Before an attempt: check the context; tell the next service the deadline."""
        ctx = _context.current()
        token = ctx.token
        if token is not None and token.origin is not None:
            raise _context.cancelled_error(token)
        call.sent = False
        deadline = ctx.deadline
        if deadline == _INF:
            return deadline, token
        left = deadline - current_clock().monotonic()
        if left <= 0:
            raise deadline_error(deadline)
        if call.propagate:
            propagation = self.propagation
            assert propagation is not None
            header = propagation.deadline_header
            if header is not None:
                headers = request.headers
                call.added.setdefault(header, headers.get(header))
                headers[header] = propagation.deadline_value(left)
        return deadline, token

    def failed(
        self, call: _Call, exception: Exception, deadline: float, token: CancelToken | None
    ) -> Exception:
        """Judge an attempt's exception: tag its verdict, forbid repeating what may have
        taken effect, and turn a timeout that was really the deadline (or a
        cancellation) into `DeadlineExceeded` (or `Cancelled`), returned with the
        original as its `__cause__`."""
        library = self.library
        if isinstance(exception, library.not_sent):
            if _is_tls_failure(exception):
                tag(exception, Verdict.FATAL)
                return exception
            sent = False
        elif isinstance(exception, library.transient):
            sent = True
        else:
            if isinstance(exception, library.module.HTTPError):
                tag(exception, Verdict.FATAL)
            return exception
        reason = call.unsafe(sent)
        error: Exception
        if isinstance(exception, library.timeout) and token is not None and token.origin:
            error = _context.cancelled_error(token)
        elif (
            isinstance(exception, library.timeout)
            and deadline != _INF
            and current_clock().monotonic() >= deadline - _DEADLINE_SLACK
        ):
            error = deadline_error(deadline)
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

    def guard(self, call: _Call, response: Any, deadline: float) -> None:
        """Bind the body of a response to its attempt's deadline and the caller's
        cancellation (not the attempt's own: a hedge cancels its winner's scope too)."""
        token = call.token
        if deadline != _INF or token is not None:
            stream = response.stream
            if not isinstance(stream, self.library.byte_stream):  # not in memory
                response.stream = self._guarded(stream, deadline, token)

    def status_failure(
        self, call: _Call, request: Any, response: Any, raw: bytes | None, rest: Any = None
    ) -> BaseException:
        """The exception that carries a failure status through the pipeline.

        `raw` is the body already read off the network (its connection is back in the
        pool): the carried response replays it, so the caller can still read it as
        httpx would give it. None when the response already held its body in memory.
        `rest` is given when the body was too large to buffer: the carried response
        streams what was read and then the rest, and the call is not repeated.
        """
        library = self.library
        if rest is not None:
            response = library.response(
                response.status_code,
                headers=response.headers,
                stream=rest,
                extensions=response.extensions,
            )
        elif raw is not None:
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
        error: BaseException = library.status_error(message, request=request, response=response)
        error._stalwart_carrier = True  # type: ignore[attr-defined]
        keyed = status == 409 and IDEMPOTENCY_KEY in request.headers
        tag(error, status_verdict(status, keyed=keyed))
        reason = call.unsafe(sent=True)
        if reason is None and rest is not None:
            reason = f"its error body is larger than {ERROR_BODY_LIMIT // 1024} KiB"
        if reason is None and call.hedged and "retry-after" in response.headers:
            reason = "the server asked to wait (Retry-After), which a hedged read does not"
        if reason is not None:
            forbid_retry(error, reason)
        return error

    def end(self, call: _Call, request: Any, winner: Any) -> list[Any]:
        """After the call: take back what must not follow a redirect elsewhere, bind the
        returned body to its attempt's deadline, and list the responses to close."""
        headers = request.headers
        for name, previous in call.added.items():
            if previous is not None:
                headers[name] = previous
            elif name in headers:
                del headers[name]
        if call.traced:
            extensions = request.extensions
            theirs = getattr(extensions.get("trace"), "_stalwart_theirs", None)
            if theirs is None:
                extensions.pop("trace", None)
            else:
                extensions["trace"] = theirs
        deadline, losers = call.finish(winner)
        call.timeouts.after = deadline
        return losers

    def result(self, winner: Any) -> Any:
        """The response to return: what the pipeline gave, checked."""
        if not isinstance(winner, self.library.response):
            raise TypeError(
                f"the pipeline returned {winner!r}, not an {self.library.name} Response: a "
                "Fallback or Chaos in an HTTP pipeline must produce a Response"
            )
        return winner

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


class _Wrapper:
    """What the sync and async transports share: their engine, options and repr."""

    _library: ClassVar[Library]
    #: the inner transport's sending method, and the library's transport to default to
    _sends: ClassVar[str]
    _default: ClassVar[str]

    def _wrap(
        self,
        inner: Any,
        pipeline: Pipeline | None,
        read_pipeline: Pipeline | None,
        idempotency_keys: bool,
        propagation: Propagation | None,
    ) -> None:
        from .pipelines import standard_limits, standard_pipeline

        library = _check_library(type(self))
        if inner is None:
            inner = getattr(library.module, self._default)(limits=standard_limits(library))
        elif not callable(getattr(inner, self._sends, None)):
            kind = "async" if self._sends.endswith("async_request") else "sync"
            raise TypeError(f"inner must be an httpx {kind} transport, got {inner!r}")
        self._engine = Engine(
            library,
            pipeline=standard_pipeline() if pipeline is None else pipeline,
            read_pipeline=read_pipeline,
            idempotency_keys=idempotency_keys,
            propagation=propagation,
            inner=inner,
        )
        self._inner = inner

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


class ResilientTransportBase(_Wrapper, Generic[RequestT, ResponseT]):
    """The sync transport, for either library (see `stalwart.httpx.ResilientTransport`)."""

    _sends = "handle_request"
    _default = "HTTPTransport"

    def __init__(
        self,
        inner: SyncTransport[RequestT, ResponseT] | None = None,
        *,
        pipeline: Pipeline | None = None,
        read_pipeline: Pipeline | None = None,
        idempotency_keys: bool = False,
        propagation: Propagation | None = None,
    ) -> None:
        self._wrap(inner, pipeline, read_pipeline, idempotency_keys, propagation)

    @property
    def inner(self) -> SyncTransport[RequestT, ResponseT]:
        """The wrapped transport."""
        return self._inner  # type: ignore[no-any-return]

    def handle_request(self, request: RequestT) -> ResponseT:
        engine = self._engine
        pipeline, call = engine.begin(request, asynchronous=False)
        winner: Any = None
        try:
            try:
                # The pipeline's runner, not Pipeline.call: one layer less on every request.
                attempt = functools.partial(self._attempt, call)
                winner = pipeline._runner.call(attempt, (request,), _NO_KWARGS)
            except Exception as exc:
                winner = engine.carried(exc)
                if winner is None:
                    raise
            return engine.result(winner)  # type: ignore[no-any-return]
        finally:
            for loser in engine.end(call, request, winner):
                loser.close()

    def _attempt(self, call: _Call, request: Any) -> Any:  # Any: either library's
        engine = self._engine
        deadline, token = engine.prepare(call, request)
        try:
            response: Any = self._inner.handle_request(request)
        except Exception as exc:
            error = engine.failed(call, exc, deadline, token)
            if error is exc:
                raise
            raise error from exc
        except BaseException as exc:
            engine.interrupted(call, exc)
            raise
        if response.status_code >= 400 and engine.is_failure(request, response):
            raise self._failure(call, request, response, deadline, token)
        engine.guard(call, response, deadline)
        if not call.keep(response, deadline):
            response.close()
        return response

    def _failure(
        self, call: _Call, request: Any, response: Any, deadline: float, token: CancelToken | None
    ) -> BaseException:
        """Read a failed attempt's body so its connection goes back to the pool before
        any wait; the exception that carries it (or the read's own failure)."""
        engine = self._engine
        if engine.in_memory(response):
            return engine.status_failure(call, request, response, None)
        chunks: list[bytes] = []
        size = 0
        raw = response.iter_raw()
        try:
            for chunk in raw:
                chunks.append(chunk)
                size += len(chunk)
                if size > ERROR_BODY_LIMIT:
                    rest = stream_class(engine.library, RestOfBody)(chunks, raw, response)
                    return engine.status_failure(call, request, response, None, rest)
                check_body(deadline, token, call.unsafe(sent=True))
        except Exception as exc:
            raw.close()
            response.close()
            return _with_cause(engine.failed(call, exc, deadline, token), exc)
        return engine.status_failure(call, request, response, b"".join(chunks))

    def close(self) -> None:
        self._inner.close()


class AsyncResilientTransportBase(_Wrapper, Generic[RequestT, ResponseT]):
    """The async transport, for either library (see
    `stalwart.httpx.AsyncResilientTransport`)."""

    _sends = "handle_async_request"
    _default = "AsyncHTTPTransport"

    def __init__(
        self,
        inner: AsyncTransport[RequestT, ResponseT] | None = None,
        *,
        pipeline: Pipeline | None = None,
        read_pipeline: Pipeline | None = None,
        idempotency_keys: bool = False,
        propagation: Propagation | None = None,
    ) -> None:
        self._wrap(inner, pipeline, read_pipeline, idempotency_keys, propagation)

    @property
    def inner(self) -> AsyncTransport[RequestT, ResponseT]:
        """The wrapped transport."""
        return self._inner  # type: ignore[no-any-return]

    async def handle_async_request(self, request: RequestT) -> ResponseT:
        engine = self._engine
        pipeline, call = engine.begin(request, asynchronous=True)
        winner: Any = None
        try:
            try:
                attempt = functools.partial(self._attempt, call)
                winner = await pipeline._runner.acall(attempt, (request,), _NO_KWARGS)
            except Exception as exc:
                winner = engine.carried(exc)
                if winner is None:
                    raise
            return engine.result(winner)  # type: ignore[no-any-return]
        finally:
            losers = engine.end(call, request, winner)
            if losers:
                with anyio.CancelScope(shield=True):
                    for loser in losers:
                        await loser.aclose()

    async def _attempt(self, call: _Call, request: Any) -> Any:
        engine = self._engine
        deadline, token = engine.prepare(call, request)
        try:
            response: Any = await self._inner.handle_async_request(request)
        except Exception as exc:
            error = engine.failed(call, exc, deadline, token)
            if error is exc:
                raise
            raise error from exc
        except BaseException as exc:
            engine.interrupted(call, exc)
            raise
        if response.status_code >= 400 and engine.is_failure(request, response):
            raise await self._failure(call, request, response, deadline, token)
        engine.guard(call, response, deadline)
        if not call.keep(response, deadline):
            with anyio.CancelScope(shield=True):
                await response.aclose()
        return response

    async def _failure(
        self, call: _Call, request: Any, response: Any, deadline: float, token: CancelToken | None
    ) -> BaseException:
        """Read a failed attempt's body so its connection goes back to the pool before
        any wait; the exception that carries it (or the read's own failure)."""
        engine = self._engine
        if engine.in_memory(response):
            return engine.status_failure(call, request, response, None)
        chunks: list[bytes] = []
        size = 0
        raw = response.aiter_raw()
        try:
            async for chunk in raw:
                chunks.append(chunk)
                size += len(chunk)
                if size > ERROR_BODY_LIMIT:
                    rest = stream_class(engine.library, RestOfBody)(chunks, raw, response)
                    return engine.status_failure(call, request, response, None, rest)
                check_body(deadline, token, call.unsafe(sent=True))
        except Exception as exc:
            with anyio.CancelScope(shield=True):
                await raw.aclose()
                await response.aclose()
            return _with_cause(engine.failed(call, exc, deadline, token), exc)
        except BaseException as exc:
            engine.interrupted(call, exc)
            with anyio.CancelScope(shield=True):
                await raw.aclose()
                await response.aclose()
            raise
        return engine.status_failure(call, request, response, b"".join(chunks))

    async def aclose(self) -> None:
        await self._inner.aclose()


def _with_cause(error: BaseException, cause: BaseException) -> BaseException:
    if error is not cause:
        error.__cause__ = cause
    return error
