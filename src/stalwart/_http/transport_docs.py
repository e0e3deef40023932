"""The docstrings of the public HTTP classes, written once for httpx and httpx2."""

from __future__ import annotations

__all__ = ["ASYNC_CLIENT_DOC", "ASYNC_TRANSPORT_DOC", "CLIENT_DOC", "TRANSPORT_DOC"]

_RULES = """
    What happens to each request:

    - It runs through `pipeline` (default: `standard_pipeline()`: per-origin bulkhead,
      30 s total, 3 attempts with a per-origin retry budget, per-origin circuit breaker,
      10 s per attempt). Given a `read_pipeline` (a hedging one, say), GET, HEAD and
      OPTIONS requests run through that instead. `pipeline` itself may not hedge: it
      serves POSTs too.
    - Before every attempt the request's {library} timeouts (connect, read, write, pool)
      are cut to what is left of the deadline (the pipeline's timeouts and any
      `stalwart.deadline(...)` around the call), so an attempt never outlives it; a
      timeout that fires at the deadline comes out as `DeadlineExceeded` (a
      `TimeoutError`) with {library}'s exception as its cause. The deadline covers the
      response body too, as Go's `Client.Timeout` does. Sync code cannot be pre-empted:
      there the deadline is enforced through those timeouts and checked between steps.
    - Failure statuses (every 5xx, 408, 429, and 409 to a request with an
      `Idempotency-Key`) are failed attempts: the response is read and its connection
      returned to the pool before any backoff wait. If the retries end on one, that
      response is returned as {library} would return it (`raise_for_status()` works).
      Other statuses are answers, returned at once.
    - What is repeated: a failure before anything was sent (connect errors and
      timeouts, pool timeouts), for any method; 408, 429, 500, 502, 503, 504, read and
      write errors, resets and read timeouts only for idempotent methods (GET, HEAD,
      OPTIONS, TRACE, PUT, DELETE) or requests carrying an `Idempotency-Key`; never a
      request whose streaming body was consumed by an attempt. `Retry-After` (seconds
      or an HTTP-date) replaces the backoff, capped at 60 s; a hint that would outlast
      the deadline ends the retries with the server's response.
    - When the retries end on an exception, {library}'s own exception comes out,
      unchanged, with a note saying why stalwart stopped. stalwart's refusals
      (`CircuitOpen`, `BulkheadFull`, `DeadlineExceeded`, `Cancelled`) are not
      {library} exceptions.
    - `idempotency_keys=True` gives every POST and PATCH without one an
      `Idempotency-Key` (a UUID4, the same on every attempt), which makes them
      retryable; a keyed 409 means "still in progress, retry later", a 422 is an answer.
    - `propagation=Propagation(hosts=[...])` sends the deadline, the request values
      bound with `stalwart.bind` and the trace context to those hosts only.
"""

TRANSPORT_DOC = (
    """A {library} transport that runs every request through a stalwart pipeline.

    ```python
    transport = stalwart.{library}.ResilientTransport()            # the standard pipeline
    transport = stalwart.{library}.ResilientTransport({library}.HTTPTransport(http2=True),
                                                  pipeline=my_pipeline)
    client = {library}.Client(transport=transport)
    ```

    `inner` is the transport that sends (default: `{library}.HTTPTransport` keeping up to
    100 idle connections for 30 s, with no total cap: the per-origin bulkhead caps each
    host, like Go's `MaxConnsPerHost`).
"""
    + _RULES
)

ASYNC_TRANSPORT_DOC = (
    """The async {library} transport (asyncio or trio) that runs every request through a
    stalwart pipeline.

    ```python
    client = {library}.AsyncClient(transport=stalwart.{library}.AsyncResilientTransport())
    ```

    `inner` is the transport that sends (default: `{library}.AsyncHTTPTransport` keeping
    up to 100 idle connections for 30 s). Deadlines are real cancel scopes here: an
    attempt is cancelled at its deadline wherever it is waiting.
"""
    + _RULES
)

_CLIENT_OPTIONS = """
    Options of stalwart's own (everything else goes to `{library}.{kind}` unchanged:
    `base_url`, `auth`, `headers`, `event_hooks`, `follow_redirects`, ...):

    - `pipeline=None`: the pipeline of every request (default `standard_pipeline()`);
    - `hedge=False`: True hedges reads (GET, HEAD, OPTIONS) with `hedging_pipeline()`;
    - `read_pipeline=None`: your own pipeline for reads instead;
    - `idempotency_keys=False`, `propagation=None`: see the transport.

    The default timeout is 5 s to connect and 10 s for the rest (give `timeout=` to
    change it). `verify`, `cert`, `http1`, `http2`, `limits`, `proxy` and `trust_env`
    configure the default transport; with `transport=` (yours, which stalwart wraps),
    configure it yourself. Each of `mounts`' transports is wrapped too. Proxies from
    the environment are not read: pass `proxy=`.
"""

CLIENT_DOC = """A real `{library}.Client` whose requests run through stalwart's standard pipeline.

    ```python
    with stalwart.Client(base_url="https://api.example.com") as client:
        with stalwart.deadline(2.0):            # every attempt and wait fits in 2 s
            order = client.get("/orders/42").raise_for_status().json()
    ```
""" + _CLIENT_OPTIONS.replace("{kind}", "Client")

ASYNC_CLIENT_DOC = """A real `{library}.AsyncClient` (asyncio or trio) whose requests run through
    stalwart's standard pipeline.

    ```python
    async with stalwart.AsyncClient(base_url="https://api.example.com") as client:
        async with stalwart.deadline(2.0):
            order = (await client.get("/orders/42")).raise_for_status().json()
    ```
""" + _CLIENT_OPTIONS.replace("{kind}", "AsyncClient")
