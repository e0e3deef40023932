"""W3C trace context through OpenTelemetry's propagators, when opentelemetry-api is there.

The only module of the HTTP integration that imports OpenTelemetry (extra `otel`).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

__all__ = ["inject"]

_inject: Callable[[MutableMapping[str, str]], None] | None = None
_looked_up = False


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current span's context into `headers`; nothing without OpenTelemetry."""
    global _inject, _looked_up
    if not _looked_up:
        try:
            from opentelemetry.propagate import inject as otel_inject
        except ImportError:  # the `otel` extra is not installed
            _inject = None
        else:
            _inject = otel_inject
        _looked_up = True
    if _inject is not None:
        _inject(headers)
