"""`FlakyServer`: a real HTTP/1.1 server on 127.0.0.1 that fails on purpose.

It runs an asyncio loop of its own in a daemon thread, whatever the caller runs on
(sync code, asyncio or trio): one `asyncio.Protocol` per connection feeds h11 and answers
as soon as a request is read, with no task or sleep on the fast path. A task is started
only for an answer that has to wait (latency, a dripped body). Time always comes from
the system clock, never the caller's current clock: tests install a `FakeClock` for the
client, while the server must fail in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import threading
from collections import deque
from http import HTTPStatus
from types import TracebackType
from typing import Final, Self, TypeAlias, final

import anyio.to_thread
import h11

from .._clock import SYSTEM_CLOCK, seeded_random
from .._validation import check_int
from ._faults import Faults, parse_overrides
from ._records import FaultKind, FlakyStatistics, RecordedRequest

__all__ = ["FlakyServer"]

_HOST: Final = "127.0.0.1"
#: Request ids whose attempts are remembered; the oldest first seen is forgotten first.
_MAX_IDS: Final = 100_000
#: Chunks a dripped body is split into (fewer for a shorter body).
_DRIP_CHUNKS: Final = 8
#: SO_LINGER on, timeout 0: close() then sends a RST instead of a FIN.
_LINGER_RESET: Final = struct.pack("ii", 1, 0)
#: How long stop() waits for the server thread; it takes milliseconds unless wedged.
_STOP_TIMEOUT: Final = 10.0
_STATUS_LINES: Final = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("ascii"))
    for status in HTTPStatus
}


@final
class FlakyServer:
    """A real HTTP/1.1 server on 127.0.0.1 that injects `Faults`: errors, outages,
    latency, slow bodies, hangs and connection resets. For end-to-end tests of retries,
    timeouts and hedging, and for benchmarks.

    ```python
    with FlakyServer(Faults(error_rate=0.2, retry_after="1"), seed=1) as server:
        httpx.get(server.url + "/orders/1")            # 503 one time in five
        httpx.get(server.url + "/x?fail_first=2", headers={"x-request-id": "a"})   # 503
        assert server.attempts("a") == 1
        server.faults = Faults(outage=(0, 5))          # everything 503 for 5 s from now
        stats = server.statistics()                    # received, by_status, by_fault, ...

    async with FlakyServer() as server: ...            # asyncio or trio, never blocks the loop
    server = FlakyServer(); server.start(); ...; server.stop()     # scripts
    ```

    It answers every method and path: a normal answer is 200 with the JSON document
    `{"ok": true, "attempt": N, "path": "/orders/1"}`; an injected error is
    `Faults.error_status` with a short JSON body (and `Retry-After` when the faults give
    one). Every answer carries `Content-Length`, `X-Flaky-Attempt: N` and, for a fault,
    `X-Flaky-Fault: <kind>`. Keep-alive connections, pipelining and `Connection: close`
    work; request bodies are read in full (their size is recorded); input that is not
    HTTP/1.1 gets a 400 (431 for oversized headers) and the connection is closed.

    - `faults`: what to inject (default `Faults()`: nothing). `server.faults = ...`
      switches them at run time from any thread; requests already read keep the old ones.
      See `Faults` for the order in which faults apply.
    - `seed`: seeds the server's random source, so a sequence of requests meets the same
      faults run after run; `None` (default) draws a seed, readable as `server.seed`.
    - `port`: the port to listen on; 0 (default) picks a free one. A restarted server
      listens on the port it had, so `url` stays the same.
    - `id_header`: the request header naming a logical request across its retries
      (default "x-request-id"); attempts are counted per id, for the last 100,000 ids.
    - `record`: how many recent requests `requests` keeps (default 1000; 0 keeps none).

    Per-request overrides: a query parameter named after a `Faults` field overrides it
    for that request, e.g. `GET /x?fail_first=2&error_status=429&retry_after=1`,
    `?hang_rate=1`, `?latency=0.2`, `?outage=0,inf`, `?body_size=none`. A bad value gets a
    400 naming the parameter. Other parameters are ignored.

    `start()` returns once the socket listens; `stop()` closes the listener and every
    connection (hung ones included) and joins the thread, in milliseconds. `stop()` on a
    stopped server does nothing, and a stopped server can be started again; `with` and
    `async with` (which runs both in a worker thread) call them.

    Speed, measured on a 2-core Intel Xeon VM with Python 3.11 (a slow machine:
    `sum(range(1000))` takes 23 µs there): the server spends about 60 µs of CPU per
    request, most of it in h11's parser. A keep-alive raw-socket client in another
    process gets about 8,000 sequential requests/s (11,000 pipelined). In one process
    with the server (sharing the GIL), a keep-alive `httpx.Client` doing sequential GETs
    gets 1,100 to 1,600 requests/s, and an `httpx.AsyncClient` with 32 concurrent
    requests about 300/s: httpx is the bottleneck, as the same clients get 1,400 to
    2,400 and about 400 requests/s from a do-nothing asyncio server.
    """

    __slots__ = (
        "_active",
        "_attempts",
        "_body_bytes",
        "_by_fault",
        "_by_status",
        "_closing",
        "_connections",
        "_connections_seen",
        "_drained",
        "_id_header",
        "_lifecycle",
        "_lock",
        "_loop",
        "_port",
        "_protocol_errors",
        "_random",
        "_received",
        "_record",
        "_records",
        "_serials",
        "_slow_tail",
        "_stopping",
        "_thread",
        "seed",
    )

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        seed: int | None = None,
        port: int = 0,
        id_header: str = "x-request-id",
        record: int = 1000,
    ) -> None:
        if faults is None:
            faults = Faults()
        elif not isinstance(faults, Faults):
            raise TypeError(f"faults must be a Faults, got {faults!r}")
        if seed is None:
            seed = int(SYSTEM_CLOCK.random() * 2**53)
        #: the seed of the server's random source (drawn when none was given)
        self.seed: Final = check_int("seed", seed, minimum=0)
        self._random = seeded_random(seed)
        self._port = check_int("port", port, minimum=0)
        if self._port > 65535:
            raise ValueError(f"port must be <= 65535, got {port!r}")
        if not isinstance(id_header, str):
            raise TypeError(f"id_header must be a str, got {id_header!r}")
        if not id_header:
            raise ValueError("id_header must not be empty")
        # h11 hands header names over in lower case.
        self._id_header = id_header.lower().encode("ascii")
        self._record = check_int("record", record, minimum=0)
        # The faults with the monotonic time they took effect, swapped as one object so the
        # server thread never sees a new Faults with an old epoch.
        self._active: tuple[Faults, float] = (faults, SYSTEM_CLOCK.monotonic())
        self._lock = threading.Lock()  # counters and records, shared with callers
        self._lifecycle = threading.Lock()  # start() and stop()
        self._attempts: dict[str, int] = {}
        self._records: deque[_Record] = deque(maxlen=self._record)
        self._serials = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._connections: set[_Connection] = set()
        self._closing = False
        self._zero_counters()

    def _zero_counters(self) -> None:
        self._received = 0
        self._by_status: dict[int, int] = {}
        self._by_fault: dict[FaultKind, int] = {}
        self._slow_tail = 0
        self._connections_seen = 0
        self._protocol_errors = 0
        self._body_bytes = 0

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self.running else "stopped"
        return f"<FlakyServer {state} faults={self.faults!r} seed={self.seed}>"

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is listening (between `start()` and `stop()`)."""
        return self._thread is not None

    @property
    def port(self) -> int:
        """The port listened on; before the first `start()`, the port asked for (0: any)."""
        return self._port

    @property
    def url(self) -> str:
        """`"http://127.0.0.1:PORT"`, without a trailing slash: append the path.

        Raises RuntimeError before the first `start()` when the port is still to be picked.
        """
        if self._port == 0:
            raise RuntimeError("FlakyServer has no port yet: call start() or use `with` first")
        return f"http://{_HOST}:{self._port}"

    def start(self) -> None:
        """Start listening in a daemon thread; return once connections are accepted.

        Raises RuntimeError if already running, and OSError if the port cannot be bound.
        The current faults take effect now (their `outage` window counts from here).
        """
        with self._lifecycle:
            if self._thread is not None:
                raise RuntimeError("FlakyServer is already running")
            ready = threading.Event()
            failure: list[BaseException] = []
            self._closing = False
            thread = threading.Thread(
                target=self._run,
                args=(ready, failure),
                name="stalwart-FlakyServer",
                daemon=True,
            )
            thread.start()
            ready.wait()
            if failure:
                thread.join()
                raise failure[0]
            self._thread = thread

    def stop(self) -> None:
        """Stop: close the listener and every connection, hung ones included, without
        waiting for pending answers, and join the thread. Does nothing when not running.

        Raises RuntimeError if the thread does not end within 10 s (a bug).
        """
        with self._lifecycle:
            thread, loop, stopping = self._thread, self._loop, self._stopping
            if thread is None:
                return
            if loop is not None and stopping is not None:
                # A RuntimeError means the loop already ended: the thread is ending too.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, stopping)
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                raise RuntimeError(f"FlakyServer thread did not stop within {_STOP_TIMEOUT} s")
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as error:
            if ready.is_set():
                raise
            failure.append(error)
            ready.set()
        finally:
            self._loop = self._stopping = self._drained = None

    async def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            self._new_connection, _HOST, self._port, backlog=1024, reuse_address=True
        )
        self._port = listener.sockets[0].getsockname()[1]
        self._loop = loop
        self._stopping = stopping = loop.create_future()
        self._active = (self._active[0], SYSTEM_CLOCK.monotonic())
        ready.set()
        try:
            await stopping
        finally:
            self._closing = True
            listener.close()
            # Connections accepted just before the close get their protocol on the next
            # turns of the loop; once made, they see _closing and abort themselves.
            await _next_turn(loop)
            await _next_turn(loop)
            for connection in list(self._connections):
                connection.abort()
            if self._connections:
                self._drained = loop.create_future()
                # Every abort ends in connection_lost on the next turn; the bound only
                # keeps a broken transport from wedging stop() (asyncio.run then tidies).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained, _STOP_TIMEOUT / 2)
            await listener.wait_closed()

    def _new_connection(self) -> _Connection:
        connection = _Connection(self, next(self._serials))
        self._connections.add(connection)
        with self._lock:
            self._connections_seen += 1
        return connection

    def _connection_lost(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        drained = self._drained
        if not self._connections and drained is not None and not drained.done():
            drained.set_result(None)

    # -- faults and observations -------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The faults in force; assign a new `Faults` to switch them, from any thread.

        An assignment restarts the clock of `outage` windows; requests already read keep
        the faults they were read under.
        """
        return self._active[0]

    @faults.setter
    def faults(self, faults: Faults) -> None:
        if not isinstance(faults, Faults):
            raise TypeError(f"faults must be a Faults, got {faults!r}")
        self._active = (faults, SYSTEM_CLOCK.monotonic())

    def attempts(self, request_id: str) -> int:
        """How many requests carrying `request_id` in the id header were read; 0 for an id
        never seen (or forgotten: only the last 100,000 ids are kept)."""
        return self._attempts.get(request_id, 0)

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """The most recent requests read in full, oldest first (at most `record` of them)."""
        with self._lock:
            records = tuple(self._records)
        return tuple(_recorded(*record) for record in records)

    def statistics(self) -> FlakyStatistics:
        """A snapshot of the counters since the server was made or `reset_counters()`."""
        with self._lock:
            return FlakyStatistics(
                received=self._received,
                by_status=dict(self._by_status),
                by_fault=dict(self._by_fault),
                slow_tail=self._slow_tail,
                connections=self._connections_seen,
                protocol_errors=self._protocol_errors,
                body_bytes=self._body_bytes,
            )

    def reset_counters(self) -> None:
        """Zero the statistics, forget the recorded requests and the attempts per request
        id (so `fail_first` starts over for every id). Faults and connections are kept."""
        with self._lock:
            self._zero_counters()
            self._records.clear()
            self._attempts.clear()

    # -- deciding one request (on the server thread) -----------------------------------------

    def _roll(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        return rate >= 1.0 or self._random() < rate

    def _decide(self, request: _Request, connection: int) -> _Plan:
        """Count the attempt, pick the fault and the delay, and record it all."""
        faults, since = self._active
        overridden = parse_overrides(faults, request.query) if request.query else faults
        request_id = request.request_id
        with self._lock:
            if request_id is None:
                attempt = 1
            else:
                attempts = self._attempts
                attempt = attempts.get(request_id, 0) + 1
                attempts[request_id] = attempt
                if len(attempts) > _MAX_IDS:
                    del attempts[next(iter(attempts))]
            fault: FaultKind | None = None
            delay = 0.0
            slow_tail = False
            status: int | None = 200
            if isinstance(overridden, str):
                fault, status = "bad_override", 400
            else:
                faults = overridden
                outage = faults.outage
                if outage is not None and (
                    outage[0] <= SYSTEM_CLOCK.monotonic() - since < outage[1]
                ):
                    fault, status = "outage", faults.error_status
                elif attempt <= faults.fail_first:
                    fault, status = "fail_first", faults.error_status
                elif self._roll(faults.reset_rate):
                    fault, status = "reset", None
                elif self._roll(faults.hang_rate):
                    fault, status = "hang", None
                elif self._roll(faults.error_rate):
                    fault, status = "error", faults.error_status
                if status is not None and fault != "outage":
                    slow_tail = self._roll(faults.slow_tail_ratio)
                    delay = faults.slow_tail_latency if slow_tail else faults.latency
                    if faults.latency_jitter:
                        delay += faults.latency_jitter * self._random()
            self._received += 1
            self._body_bytes += request.body_size
            if status is not None:
                self._by_status[status] = self._by_status.get(status, 0) + 1
            if fault is not None:
                self._by_fault[fault] = self._by_fault.get(fault, 0) + 1
            if slow_tail:
                self._slow_tail += 1
            if self._record:
                # Kept raw: a RecordedRequest is built only if someone reads `requests`.
                self._records.append(
                    (request, attempt, fault, status, delay, slow_tail, connection)
                )
        if isinstance(overridden, str):
            body = _error_document(400, None, attempt, overridden)
            return _Plan(fault, 400, attempt, None, body, 0.0, 0.0)
        if status is None:
            return _Plan(fault, None, attempt, None, b"", 0.0, 0.0)
        if fault is None:
            body = b'{"ok": true, "attempt": %d, "path": %s}' % (
                attempt,
                json.dumps(request.path.decode("latin-1")).encode("ascii"),
            )
            if faults.body_size is not None:
                body = body[: faults.body_size].ljust(faults.body_size)
        else:
            body = _error_document(status, fault, attempt, None)
        retry_after = faults.retry_after if fault is not None else None
        slow_body = faults.slow_body if fault != "outage" else 0.0
        return _Plan(fault, status, attempt, retry_after, body, delay, slow_body)

    def _protocol_error(self, status: int) -> None:
        with self._lock:
            self._protocol_errors += 1
            self._by_status[status] = self._by_status.get(status, 0) + 1


#: What `requests` is built from: a request with attempt, fault, status, delay, slow tail
#: and connection serial.
_Record: TypeAlias = "tuple[_Request, int, FaultKind | None, int | None, float, bool, int]"


def _recorded(
    request: _Request,
    attempt: int,
    fault: FaultKind | None,
    status: int | None,
    delay: float,
    slow_tail: bool,
    connection: int,
) -> RecordedRequest:
    return RecordedRequest(
        method=request.method.decode("latin-1"),
        path=request.path.decode("latin-1"),
        query=request.query.decode("latin-1"),
        headers=tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers
        ),
        body_size=request.body_size,
        request_id=request.request_id,
        attempt=attempt,
        fault=fault,
        status=status,
        delay=delay,
        slow_tail=slow_tail,
        connection=connection,
    )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _next_turn(loop: asyncio.AbstractEventLoop) -> None:
    """Let the loop run the callbacks already scheduled (a sleep(0) by other means)."""
    turn = loop.create_future()
    loop.call_soon(_resolve, turn)
    await turn


def _error_document(status: int, fault: FaultKind | None, attempt: int, error: str | None) -> bytes:
    document: dict[str, object] = {"ok": False, "status": status}
    if fault is not None:
        document["fault"] = fault
    document["attempt"] = attempt
    if error is not None:
        document["error"] = error
    return json.dumps(document).encode("ascii")


@final
class _Request:
    """One request being read: what its head said, and its body size so far."""

    __slots__ = ("body_size", "headers", "keep_alive", "method", "path", "query", "request_id")

    def __init__(self, event: h11.Request, id_header: bytes) -> None:
        self.method = event.method
        self.path, _, self.query = event.target.partition(b"?")
        # raw_items() is h11's public (and fastest) view; it keeps the names' case.
        self.headers = headers = [
            (name.lower(), value) for name, value in event.headers.raw_items()
        ]
        self.body_size = 0
        self.request_id: str | None = None
        # h11's rule: HTTP/1.0 clients get one answer per connection. CONNECT would turn
        # the connection into a tunnel: close it after the answer instead.
        keep_alive = event.http_version >= b"1.1" and event.method != b"CONNECT"
        for name, value in headers:
            if name == id_header:
                if self.request_id is None:
                    self.request_id = value.decode("latin-1")
            elif name == b"connection" and b"close" in _tokens(value):
                keep_alive = False
        self.keep_alive = keep_alive


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip() for token in value.lower().split(b",")]


@final
class _Plan:
    """What to answer one request: decided under the server's lock, sent without it."""

    __slots__ = ("attempt", "body", "delay", "fault", "retry_after", "slow_body", "status")

    def __init__(
        self,
        fault: FaultKind | None,
        status: int | None,
        attempt: int,
        retry_after: str | None,
        body: bytes,
        delay: float,
        slow_body: float,
    ) -> None:
        self.fault = fault
        self.status = status
        self.attempt = attempt
        self.retry_after = retry_after
        self.body = body
        self.delay = delay
        self.slow_body = slow_body


@final
class _Connection(asyncio.Protocol):
    """One client connection: h11 parses, the server decides, this writes the answer.

    Answers are written by hand, not through h11: its writer cost more than everything
    else per request. Every answer is simple (our own status, headers we validated, a
    `Content-Length` body), and each request gets a fresh h11 parser fed with whatever
    followed the previous one, so h11 never waits for an answer it did not see.
    """

    __slots__ = (
        "conn",
        "eof",
        "ignoring",
        "pending",
        "request",
        "serial",
        "server",
        "task",
        "transport",
    )

    def __init__(self, server: FlakyServer, serial: int) -> None:
        self.server = server
        self.serial = serial
        self.conn = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.request: _Request | None = None
        #: an answer is being waited for or dripped: parse no further until it is done
        self.pending = False
        #: the peer half-closed while an answer was pending: close once it is sent
        self.eof = False
        #: hung, reset or closing: input is read and dropped
        self.ignoring = False
        self.task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.server._closing:
            self.ignoring = True
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ignoring = True
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.server._connection_lost(self)

    def data_received(self, data: bytes) -> None:
        if self.ignoring:
            return
        self.conn.receive_data(data)
        if not self.pending:
            self.process()

    def eof_received(self) -> bool:
        if self.pending and not self.ignoring:
            # Keep the write side open: the answer is still to come, then close.
            self.eof = True
            return True
        return False  # asyncio closes the transport

    def abort(self) -> None:
        """Drop the connection at once (server stopping)."""
        self.ignoring = True
        if self.transport is not None:
            self.transport.abort()

    # -- HTTP ------------------------------------------------------------------------------

    def process(self) -> None:
        """Handle every complete event h11 has buffered, until it needs more data or an
        answer has to wait."""
        while True:
            conn = self.conn
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as error:
                self.bad_input(error)
                return
            kind = type(event)
            if kind is h11.Data:
                assert self.request is not None
                self.request.body_size += len(event.data)  # type: ignore[union-attr]
            elif kind is h11.Request:
                self.request = _Request(event, self.server._id_header)  # type: ignore[arg-type]
                if conn.they_are_waiting_for_100_continue:
                    self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif kind is h11.EndOfMessage:
                if not self.answer():
                    return
            else:
                # NEED_DATA, or ConnectionClosed (data after a close): wait for more or the
                # end. PAUSED cannot happen: each request gets a fresh parser.
                return

    def answer(self) -> bool:
        """Decide and act on the request just read. True when it was answered at once and
        the connection can go on with the next request."""
        request = self.request
        assert request is not None
        self.request = None
        rest, _ = self.conn.trailing_data
        self.conn = h11.Connection(h11.SERVER)
        if rest:
            self.conn.receive_data(rest)
        plan = self.server._decide(request, self.serial)
        if plan.status is None:
            self.ignoring = True
            if plan.fault == "reset":
                self.reset()
            return False
        if plan.delay <= 0.0 and plan.slow_body <= 0.0:
            head, body = self.encode(plan, request)
            self.write(head + body)
            if request.keep_alive:
                return bool(rest)  # nothing buffered: no need to ask h11 for more
            self.close()
            return False
        self.pending = True
        self.task = asyncio.get_running_loop().create_task(self.answer_later(plan, request))
        return False

    async def answer_later(self, plan: _Plan, request: _Request) -> None:
        if plan.delay > 0.0:
            await SYSTEM_CLOCK.asleep(plan.delay)
        head, body = self.encode(plan, request)
        if plan.slow_body > 0.0 and body:
            self.write(head)
            size = -(-len(body) // min(len(body), _DRIP_CHUNKS))
            pieces = [body[start : start + size] for start in range(0, len(body), size)]
            interval = plan.slow_body / len(pieces)
            for piece in pieces:
                await SYSTEM_CLOCK.asleep(interval)
                self.write(piece)
        else:
            self.write(head + body)
        self.task = None
        self.pending = False
        if self.eof or not request.keep_alive:
            self.close()
        else:
            self.process()

    @staticmethod
    def encode(plan: _Plan, request: _Request) -> tuple[bytes, bytes]:
        """The answer's head and the body to send (empty when the answer has none)."""
        status = plan.status
        assert status is not None
        body = plan.body
        head = _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status
        method = request.method
        if status in {204, 304} or (method == b"CONNECT" and 200 <= status < 300):
            body = b""  # these answers have no body, nor any Content-Length
        else:
            head += b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
            if method == b"HEAD":
                body = b""  # the headers of a GET, without its body
        head += b"x-flaky-attempt: %d\r\n" % plan.attempt
        if plan.fault is not None:
            head += b"x-flaky-fault: %s\r\n" % plan.fault.encode("ascii")
        if plan.retry_after is not None:
            head += b"retry-after: %s\r\n" % plan.retry_after.encode("latin-1")
        if not request.keep_alive:
            head += b"connection: close\r\n"
        return head + b"\r\n", body

    def bad_input(self, error: h11.RemoteProtocolError) -> None:
        status = error.error_status_hint
        self.server._protocol_error(status)
        body = _error_document(status, None, 0, f"malformed request: {error}")
        self.write(
            b"%scontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s"
            % (_STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status, len(body), body)
        )
        self.close()

    def reset(self) -> None:
        transport = self.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # An OSError means the peer is already gone: the plain close below will do.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()

    def write(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(data)

    def close(self) -> None:
        self.ignoring = True
        transport = self.transport
        assert transport is not None
        transport.close()
