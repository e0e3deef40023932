"""`Retry-After` (RFC 9110 §10.2.3): how long the server asked us to wait."""

from __future__ import annotations

import datetime
import email.utils
import logging
import math
from typing import Any

from .._clock import current_clock
from .._outcome import Outcome
from .._strategies.retry import retry_after_hint

__all__ = ["parse_retry_after", "response_hint"]

logger = logging.getLogger("stalwart")

#: delay-seconds is `1*DIGIT`; anything longer than this many digits is not a real wait.
_MAX_DIGITS = 12


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value, or None when it gives no usable wait.

    Both forms are read: delay-seconds (`"120"`) and an HTTP-date in any of RFC 9110's
    three formats (`"Fri, 31 Dec 1999 23:59:59 GMT"`, the obsolete RFC 850 and asctime
    ones), relative to `now`, seconds since the epoch.
    A date in the past gives None, so the retry falls back to its own backoff rather
    than hammering a server whose clock disagrees with ours; a malformed value gives
    None and a debug log line.
    """
    text = value.strip()
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_DIGITS:
            logger.debug("stalwart: ignoring an absurd Retry-After value %r", value)
            return None
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None:
        logger.debug("stalwart: ignoring a malformed Retry-After value %r", value)
        return None
    if when.tzinfo is None:
        # asctime dates carry no zone; RFC 9110 dates are all GMT.
        when = when.replace(tzinfo=datetime.UTC)
    delay = when.timestamp() - now
    if not math.isfinite(delay) or delay <= 0:
        return None
    return delay


def response_hint(outcome: Outcome[Any]) -> float | None:
    """The `Retry` hint of the HTTP pipelines: the failed response's `Retry-After`; for
    other exceptions, a numeric `retry_after` attribute (`stalwart.retry_after_hint`),
    for pipelines whose classifier retries such refusals."""
    response = getattr(outcome.exception, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        value = headers.get("retry-after")
        if value is not None:
            return parse_retry_after(value, current_clock().wall())
    return retry_after_hint(outcome)
