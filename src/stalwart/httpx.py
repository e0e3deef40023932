"""stalwart for httpx: resilient transports and clients.

```python
import stalwart

client = stalwart.Client(base_url="https://api.example.com")     # an httpx.Client
with stalwart.deadline(2.0):
    orders = client.get("/orders").raise_for_status().json()

transport = stalwart.httpx.ResilientTransport(pipeline=my_pipeline)   # into your own client
client = httpx.Client(transport=transport)
```

`stalwart.httpx2` is the same for httpx's fork httpx2 (extra `httpx2`).
"""

from __future__ import annotations

from typing import final

import httpx

from ._http.classify import IDEMPOTENT_METHODS, RETRYABLE_STATUSES, classify
from ._http.library import Library
from ._http.pipelines import ClientFactory, hedging_pipeline, origin, standard_pipeline
from ._http.propagation import Propagation
from ._http.retry_after import parse_retry_after, response_hint
from ._http.transport import AsyncResilientTransportBase, ResilientTransportBase
from ._http.transport_docs import ASYNC_CLIENT_DOC, ASYNC_TRANSPORT_DOC, CLIENT_DOC, TRANSPORT_DOC

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUSES",
    "AsyncClient",
    "AsyncResilientTransport",
    "Client",
    "Propagation",
    "ResilientTransport",
    "classify",
    "hedging_pipeline",
    "origin",
    "parse_retry_after",
    "response_hint",
    "standard_pipeline",
]

LIBRARY = Library.of(httpx)


@final
class ResilientTransport(
    ResilientTransportBase[httpx.Request, httpx.Response], httpx.BaseTransport
):
    __doc__ = TRANSPORT_DOC.format(library="httpx")
    _library = LIBRARY


@final
class AsyncResilientTransport(
    AsyncResilientTransportBase[httpx.Request, httpx.Response], httpx.AsyncBaseTransport
):
    __doc__ = ASYNC_TRANSPORT_DOC.format(library="httpx")
    _library = LIBRARY


Client = ClientFactory(
    LIBRARY, "Client", httpx.Client, ResilientTransport, CLIENT_DOC.format(library="httpx")
)
AsyncClient = ClientFactory(
    LIBRARY,
    "AsyncClient",
    httpx.AsyncClient,
    AsyncResilientTransport,
    ASYNC_CLIENT_DOC.format(library="httpx"),
)
