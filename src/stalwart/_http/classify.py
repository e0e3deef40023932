"""What HTTP outcomes mean: which failures may pass, and which requests may be repeated.

The transport knows each request (its method, its body, whether it carries an
`Idempotency-Key`), so it judges every failed attempt as it happens and tags the
exception with its verdict; `classify` then only reads the tag. Requests that must not
be repeated are marked with `forbid_retry`, which every `Retry` and `Hedge` obeys.
"""

from __future__ import annotations

from typing import Any, Final

from .._exceptions import DeadlineExceeded
from .._outcome import Outcome, Verdict, is_cancellation

__all__ = [
    "IDEMPOTENCY_KEY",
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUSES",
    "classify",
    "is_failure_status",
    "status_verdict",
    "tag",
]

#: Methods whose repetition has the effect of one request (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Statuses worth another attempt of a request that may be repeated.
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENCY_KEY: Final = "Idempotency-Key"

_TAG: Final = "_stalwart_http_verdict"


def is_failure_status(status: int, keyed: bool) -> bool:
    """Statuses that count as a failed attempt (for the breaker too): every 5xx, 408, 429,
    and a 409 to a keyed request (the IETF draft's "a request with this key is still in
    progress"). Other statuses are answers, returned as they are."""
    return status >= 500 or status in (408, 429) or (keyed and status == 409)


def status_verdict(status: int, *, keyed: bool = False) -> Verdict:
    """The verdict on a failure status: `THROTTLED` for 429; `TRANSIENT` for 408, 500,
    502, 503, 504 and a keyed 409; `FATAL` for the other failure statuses (501, 505,
    507, ...), which another attempt will not change (write your own classifier to
    retry, say, a CDN's 52x)."""
    if status == 429:
        return Verdict.THROTTLED
    if status in RETRYABLE_STATUSES or (keyed and status == 409):
        return Verdict.TRANSIENT
    return Verdict.FATAL


def tag(exception: BaseException, verdict: Verdict) -> None:
    """Record the transport's verdict on the exception an attempt ended with."""
    setattr(exception, _TAG, verdict)


def classify(outcome: Outcome[Any]) -> Verdict:
    """The classifier of the HTTP pipelines (give it to your own `Retry`, `Hedge` or
    `CircuitBreaker` as `classify=`).

    - a response is `SUCCESS` (failure statuses reach the pipeline as
      `HTTPStatusError`s carrying the response; the transport returns that response
      when the retries end);
    - an exception the transport judged has its verdict: 429 `THROTTLED`; 408, 500,
      502, 503, 504 (and 409 to a keyed request), connection failures and resets
      `TRANSIENT`; httpx timeouts `TIMEOUT`; other statuses, TLS refusals and local
      errors `FATAL` (so the breaker does not count them either);
    - `DeadlineExceeded` is `TIMEOUT`, the caller's cancellation `CANCELLED`, and any
      other exception `FATAL`.

    Whether a failure may be *repeated* (the method, the `Idempotency-Key`, a consumed
    streaming body) is not a verdict: the transport marks such exceptions, and `Retry`
    and `Hedge` never repeat them.
    """
    exception = outcome.exception
    if exception is None:
        return Verdict.SUCCESS
    verdict = getattr(exception, _TAG, None)
    if isinstance(verdict, Verdict):
        return verdict
    if is_cancellation(exception):
        return Verdict.CANCELLED
    if isinstance(exception, DeadlineExceeded):
        return Verdict.TIMEOUT
    return Verdict.FATAL


#: Results are always SUCCESS here: strategies skip classifying them (see judges_results).
classify.exceptions_only = True  # type: ignore[attr-defined]
