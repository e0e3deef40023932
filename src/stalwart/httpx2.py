"""stalwart for httpx2, the maintained fork of httpx (extra `httpx2`).

The same transports, clients and pipelines as `stalwart.httpx`, built from the same
implementation, returning `httpx2` objects:

```python
import stalwart.httpx2

client = stalwart.httpx2.Client(base_url="https://api.example.com")   # an httpx2.Client
```
"""

from __future__ import annotations

from typing import final

try:
    import httpx2
except ImportError as error:  # pragma: no cover - the extra is installed for the tests
    raise ImportError("stalwart.httpx2 needs httpx2: pip install 'stalwart[httpx2]'") from error

from ._http.library import Library
from ._http.pipelines import ClientFactory
from ._http.transport import AsyncResilientTransportBase, ResilientTransportBase
from ._http.transport_docs import ASYNC_CLIENT_DOC, ASYNC_TRANSPORT_DOC, CLIENT_DOC, TRANSPORT_DOC
from .httpx import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    Propagation,
    classify,
    hedging_pipeline,
    origin,
    parse_retry_after,
    response_hint,
    standard_pipeline,
)

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

LIBRARY = Library.of(httpx2)


@final
class ResilientTransport(
    ResilientTransportBase[httpx2.Request, httpx2.Response], httpx2.BaseTransport
):
    __doc__ = TRANSPORT_DOC.format(library="httpx2")
    _library = LIBRARY


@final
class AsyncResilientTransport(
    AsyncResilientTransportBase[httpx2.Request, httpx2.Response], httpx2.AsyncBaseTransport
):
    __doc__ = ASYNC_TRANSPORT_DOC.format(library="httpx2")
    _library = LIBRARY


Client = ClientFactory(
    LIBRARY, "Client", httpx2.Client, ResilientTransport, CLIENT_DOC.format(library="httpx2")
)
AsyncClient = ClientFactory(
    LIBRARY,
    "AsyncClient",
    httpx2.AsyncClient,
    AsyncResilientTransport,
    ASYNC_CLIENT_DOC.format(library="httpx2"),
)
