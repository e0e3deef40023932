"""Typed telemetry events and the listeners that receive them.

Every strategy reports what it does as a frozen event. Listeners are plain callables
taking one event; the default one, `log_event`, writes each event to the `stalwart`
logger with structured `extra=` fields (`stalwart_event`, `stalwart_strategy`, and one
`stalwart_<field>` per event field). Listeners run synchronously in the calling thread;
one that raises is logged and skipped, never allowed to fail the call.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeAlias, final

from ._outcome import Verdict

__all__ = [
    "Event",
    "Listener",
    "RetryGaveUp",
    "RetryScheduled",
    "TimeoutExpired",
    "add_listener",
    "emit",
    "log_event",
    "remove_listener",
]

logger = logging.getLogger("stalwart")
# A library must not print through logging's last-resort handler when the application
# has configured no logging at all.
logger.addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """The base of every stalwart event. `strategy` is the strategy's name."""

    name: ClassVar[str] = "event"
    level: ClassVar[int] = logging.DEBUG
    strategy: str

    def message(self) -> str:
        """One human sentence for logs."""
        return self.name


def _describe(exception: BaseException | None) -> str:
    return "a result" if exception is None else f"{type(exception).__qualname__}: {exception}"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(Event):
    """Attempt `attempt` failed with `verdict`; the next starts after `delay` seconds.

    `hinted` is True when the delay came from the callee (a `Retry-After`).
    """

    name: ClassVar[str] = "retry_scheduled"
    level: ClassVar[int] = logging.INFO
    attempt: int
    delay: float
    verdict: Verdict
    exception: BaseException | None
    hinted: bool = False

    def message(self) -> str:
        source = "the callee's hint" if self.hinted else "backoff"
        return (
            f"{self.strategy}: attempt {self.attempt} failed ({self.verdict.value}: "
            f"{_describe(self.exception)}); retrying in {self.delay:.3f} s ({source})"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryGaveUp(Event):
    """The retry stopped after `attempts` attempts without success, for `reason`."""

    name: ClassVar[str] = "retry_gave_up"
    level: ClassVar[int] = logging.WARNING
    attempts: int
    reason: str
    verdict: Verdict
    exception: BaseException | None

    def message(self) -> str:
        return (
            f"{self.strategy}: gave up after {self.attempts} attempt(s): {self.reason} "
            f"(last: {_describe(self.exception)})"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutExpired(Event):
    """A `Timeout` strategy's time ran out after `timeout` seconds (`kind`: per_attempt|total)."""

    name: ClassVar[str] = "timeout_expired"
    level: ClassVar[int] = logging.INFO
    timeout: float
    kind: str

    def message(self) -> str:
        return f"{self.strategy}: the {self.kind} timeout of {self.timeout:g} s expired"


Listener: TypeAlias = Callable[[Event], object]


def log_event(event: Event) -> None:
    """The default listener: log `event` on the `stalwart` logger with structured fields."""
    if not logger.isEnabledFor(event.level):
        return
    extra: dict[str, object] = {"stalwart_event": event.name}
    for item in dataclasses.fields(event):
        extra[f"stalwart_{item.name}"] = getattr(event, item.name)
    logger.log(event.level, event.message(), extra=extra)


_lock = threading.Lock()
# Copy-on-write: emitters read the tuple without a lock.
_listeners: tuple[Listener, ...] = (log_event,)


def add_listener(listener: Listener) -> Callable[[], None]:
    """Send every event to `listener` from now on; return a function that removes it."""
    global _listeners
    if not callable(listener):
        raise TypeError(f"listener must be callable, got {listener!r}")
    with _lock:
        _listeners = (*_listeners, listener)
    return lambda: remove_listener(listener)


def remove_listener(listener: Listener) -> None:
    """Stop sending events to `listener` (`stalwart.log_event` too); unknown ones are ignored."""
    global _listeners
    with _lock:
        remaining = list(_listeners)
        if listener in remaining:
            remaining.remove(listener)
        _listeners = tuple(remaining)


def emit(event: Event) -> None:
    for listener in _listeners:
        try:
            listener(event)
        except Exception:
            logger.exception("stalwart listener %r failed on %s", listener, event.name)
