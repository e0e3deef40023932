"""The standard HTTP pipelines, and the clients built around them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar, final

from .._backoff import Backoff
from .._pipeline import Pipeline
from .._strategies.bulkhead import Bulkhead
from .._strategies.circuit_breaker import CircuitBreaker
from .._strategies.hedge import Hedge, LatencyPercentile
from .._strategies.retry import Retry
from .._strategies.retry_budget import RetryBudget
from .._strategies.timeout import Timeout
from .._validation import check_number
from .classify import classify
from .library import Library
from .propagation import Propagation
from .retry_after import response_hint

__all__ = ["ClientFactory", "hedging_pipeline", "origin", "standard_limits", "standard_pipeline"]

#: Calls to one origin at once in the standard pipelines (Go's `MaxConnsPerHost`).
PER_ORIGIN: Final = 100
#: Callers that may wait for a slot once an origin has `PER_ORIGIN` calls running.
PER_ORIGIN_QUEUE: Final = 1000
TOTAL: Final = 30.0
PER_ATTEMPT: Final = 10.0
CONNECT: Final = 5.0


def origin(request: Any) -> str:
    """The partition of a request in the standard pipelines: `scheme://host:port`."""
    # Three strategies ask for every request: work it out once.
    found: str | None = getattr(request, "_stalwart_origin", None)
    if found is not None:
        return found
    url = request.url
    port = url.port
    if port is None:
        port = 443 if url.scheme == "https" else 80
    found = f"{url.scheme}://{url.host}:{port}"
    request._stalwart_origin = found
    return found


def standard_limits(library: Library) -> Any:
    """The connection pool of the standard transports: keep up to 100 idle connections
    for 30 s, with no cap on the total. The per-origin bulkhead caps the calls in flight
    to each origin instead (100), which bounds the connections each one uses while
    requests run, as Go's `MaxConnsPerHost` does, so one slow upstream cannot take the
    connections of the others. (A streamed response the caller has not closed yet, or a
    hedge's loser still finishing, holds its connection outside that count.)"""
    return library.module.Limits(
        max_connections=None, max_keepalive_connections=100, keepalive_expiry=30.0
    )


def standard_timeout(library: Library) -> Any:
    """The httpx timeouts of the standard clients: 5 s to connect, 10 s for the rest."""
    return library.module.Timeout(PER_ATTEMPT, connect=CONNECT)


def standard_pipeline(
    *,
    total: float = TOTAL,
    per_attempt: float = PER_ATTEMPT,
    max_attempts: int = 3,
    per_origin: int = PER_ORIGIN,
    backoff: Backoff | None = None,
) -> Pipeline:
    """The pipeline of `stalwart.Client`, outermost first:

    1. `Bulkhead(max_concurrent=100, max_queue=1000)` per origin (`scheme://host:port`):
       the per-host cap httpx lacks; a caller beyond it waits within its deadline;
    2. `Timeout(total=30)`: every attempt and wait of one request;
    3. `Retry(max_attempts=3)` with HTTP's classification (`classify`), `Retry-After`
       as the hint (capped at 60 s, and ending the retries if it would outlast the
       deadline), exponential backoff from 0.1 s with full jitter, and a per-origin
       `RetryBudget` (retries ≤ 10% of requests + 1 per second);
    4. `CircuitBreaker` per origin (opens at 50% failures over at least 20 calls in
       30 s; failures are 5xx, 408, 429, connection errors and timeouts);
    5. `Timeout(per_attempt=10)`.

    Every new pipeline has state of its own (breakers, budgets, bulkheads): share one
    pipeline between clients to share it.
    """
    check_number("total", total, above=0.0)
    check_number("per_attempt", per_attempt, above=0.0)
    return Pipeline(
        _bulkhead(per_origin),
        Timeout(total=total, name="http-total"),
        Retry(
            classify=classify,
            max_attempts=max_attempts,
            backoff=Backoff.exponential() if backoff is None else backoff,
            hint=response_hint,
            budget=_budget(),
            name="http-retry",
        ),
        _breaker(),
        Timeout(per_attempt=per_attempt, name="http-attempt"),
    )


# The per-origin strategies of both pipelines, made in one place.
def _bulkhead(per_origin: int) -> Bulkhead:
    return Bulkhead(
        max_concurrent=per_origin, max_queue=PER_ORIGIN_QUEUE, key=origin, name="http-bulkhead"
    )


def _budget() -> RetryBudget:
    return RetryBudget(key=origin, name="http-budget")


def _breaker() -> CircuitBreaker:
    return CircuitBreaker(classify=classify, key=origin, name="http-breaker")


def hedging_pipeline(
    *,
    delay: float | LatencyPercentile | None = None,
    max_hedges: int = 1,
    total: float = TOTAL,
    per_attempt: float = PER_ATTEMPT,
    per_origin: int = PER_ORIGIN,
    share_state_with: Pipeline | None = None,
) -> Pipeline:
    """The pipeline of hedged reads (`stalwart.Client(hedge=True)` uses it for GET, HEAD
    and OPTIONS), outermost first: the per-origin bulkhead, `Timeout(total=30)`, a
    `Hedge` that starts a second attempt once the first has taken longer than the
    observed p95 latency (no hedges until 20 latencies are known: a guess would hedge
    every call to a slow upstream and drain the budget), the per-origin breaker and
    `Timeout(per_attempt=10)`.

    Hedges are paid from the per-origin retry budget, so they stay a small share of
    requests. A failure starts the next attempt at once, except a response carrying
    `Retry-After`: the server asked to wait, so the read ends with that answer.

    `share_state_with`: a pipeline whose `Bulkhead`, `CircuitBreaker` and the `Retry`'s
    `RetryBudget` the hedged reads use too, so reads and writes to one origin share one
    cap, one breaker and one budget (`Client(hedge=True)` passes its `pipeline`).
    """
    check_number("total", total, above=0.0)
    check_number("per_attempt", per_attempt, above=0.0)
    if delay is None:
        delay = Hedge.percentile(95)
    bulkhead: Bulkhead | None = None
    breaker: CircuitBreaker | None = None
    budget: RetryBudget | None = None
    if share_state_with is not None:
        if not isinstance(share_state_with, Pipeline):
            raise TypeError(f"share_state_with must be a Pipeline, got {share_state_with!r}")
        for strategy in share_state_with.strategies:
            if isinstance(strategy, Bulkhead):
                bulkhead = strategy
            elif isinstance(strategy, CircuitBreaker):
                breaker = strategy
            elif isinstance(strategy, Retry):
                budget = strategy.budget
    return Pipeline(
        bulkhead or _bulkhead(per_origin),
        Timeout(total=total, name="http-total"),
        Hedge(
            delay=delay,
            max_hedges=max_hedges,
            classify=classify,
            budget=budget or _budget(),
            name="http-hedge",
        ),
        breaker or _breaker(),
        Timeout(per_attempt=per_attempt, name="http-attempt"),
    )


ClientT = TypeVar("ClientT")

#: httpx.Client options that configure the transport the client would otherwise build.
_TRANSPORT_OPTIONS: Final = ("verify", "cert", "trust_env", "http1", "http2", "limits", "proxy")


@final
class ClientFactory(Generic[ClientT]):
    """`stalwart.Client` and friends: a real httpx client with a resilient transport."""

    __slots__ = ("__dict__", "_client", "_library", "_name", "_transport")

    def __init__(
        self,
        library: Library,
        name: str,
        client: type[ClientT],
        transport: Callable[..., Any],
        doc: str,
    ) -> None:
        self._library = library
        self._name = name
        self._client = client
        self._transport = transport
        self.__doc__ = doc

    def __repr__(self) -> str:
        return f"<stalwart {self._library.name} client factory {self._name}>"

    def __call__(
        self,
        *,
        pipeline: Pipeline | None = None,
        hedge: bool = False,
        read_pipeline: Pipeline | None = None,
        idempotency_keys: bool = False,
        propagation: Propagation | None = None,
        **options: Any,
    ) -> ClientT:
        if not isinstance(hedge, bool):
            raise TypeError(f"hedge must be True or False, got {hedge!r}")
        if hedge and read_pipeline is not None:
            raise TypeError("give hedge=True or read_pipeline=, not both")
        if pipeline is None:
            pipeline = standard_pipeline()
        if hedge:
            read_pipeline = hedging_pipeline(share_state_with=pipeline)
        settings = {
            "pipeline": pipeline,
            "read_pipeline": read_pipeline,
            "idempotency_keys": idempotency_keys,
            "propagation": propagation,
        }
        library = self._library
        transport_options = {k: options.pop(k) for k in _TRANSPORT_OPTIONS if k in options}
        inner = options.pop("transport", None)
        if inner is not None and transport_options:
            names = ", ".join(sorted(transport_options))
            raise TypeError(f"{names} configure the transport: pass them to it, not with one")
        if inner is None:
            transport_options.setdefault("limits", standard_limits(library))
            asynchronous = "Async" in self._name
            kind = (
                library.module.AsyncHTTPTransport if asynchronous else library.module.HTTPTransport
            )
            inner = kind(**transport_options)
        options["transport"] = self._transport(inner, **settings)
        mounts = options.get("mounts")
        if mounts:
            options["mounts"] = {
                pattern: None if mounted is None else self._transport(mounted, **settings)
                for pattern, mounted in mounts.items()
            }
        options.setdefault("timeout", standard_timeout(library))
        return self._client(**options)
