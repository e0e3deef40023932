"""The parts of httpx (or its fork httpx2) that the integration uses, looked up once."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, final

__all__ = ["Library"]


@final
@dataclass(frozen=True, slots=True)
class Library:
    """httpx or httpx2, as the transports see it: the same API under two import names."""

    name: str
    module: types.ModuleType
    #: what was sent before failing: nothing for these, so any method may be retried
    not_sent: tuple[type[BaseException], ...]
    #: failures of the network or the peer that may pass
    transient: tuple[type[BaseException], ...]
    timeout: type[BaseException]
    status_error: type[Any]
    byte_stream: type[Any]
    sync_stream: type[Any]
    async_stream: type[Any]
    response: type[Any]

    @classmethod
    def of(cls, module: types.ModuleType) -> Library:
        """Look up what the integration needs in `module` (httpx or httpx2)."""
        m: Any = module
        return cls(
            name=module.__name__,
            module=module,
            not_sent=(m.ConnectError, m.ConnectTimeout, m.PoolTimeout),
            transient=(m.TimeoutException, m.NetworkError, m.RemoteProtocolError, m.ProxyError),
            timeout=m.TimeoutException,
            status_error=m.HTTPStatusError,
            byte_stream=m.ByteStream,
            sync_stream=m.SyncByteStream,
            async_stream=m.AsyncByteStream,
            response=m.Response,
        )

    def __repr__(self) -> str:
        return f"Library({self.name})"
