"""Events: the listener registry, the default logging listener, and the event payloads."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import pytest

import stalwart
from stalwart import RetryGaveUp, RetryScheduled, TimeoutExpired, Verdict, _events
from stalwart._events import emit

if TYPE_CHECKING:
    from collections.abc import Iterator

    from stalwart import Event

LOGGER = "stalwart"


def scheduled(**changes: object) -> RetryScheduled:
    fields: dict[str, object] = {
        "strategy": "retry",
        "attempt": 2,
        "delay": 0.25,
        "verdict": Verdict.TRANSIENT,
        "exception": ConnectionResetError("peer reset"),
    }
    fields.update(changes)
    return RetryScheduled(**fields)  # type: ignore[arg-type]


def gave_up(**changes: object) -> RetryGaveUp:
    fields: dict[str, object] = {
        "strategy": "retry",
        "attempts": 3,
        "reason": "max_attempts reached",
        "verdict": Verdict.TIMEOUT,
        "exception": TimeoutError("slow upstream"),
    }
    fields.update(changes)
    return RetryGaveUp(**fields)  # type: ignore[arg-type]


def expired(**changes: object) -> TimeoutExpired:
    fields: dict[str, object] = {"strategy": "timeout", "timeout": 2.5, "kind": "per_attempt"}
    fields.update(changes)
    return TimeoutExpired(**fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def restore_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the listener registry back exactly as it was, even if a test fails midway."""
    monkeypatch.setattr(_events, "_listeners", _events._listeners)


@pytest.fixture
def received() -> Iterator[list[Event]]:
    """Events emitted during the test, collected by a listener removed afterwards."""
    events: list[Event] = []
    remove = stalwart.add_listener(events.append)
    try:
        yield events
    finally:
        remove()


@pytest.fixture
def stalwart_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog capturing every level on the "stalwart" logger."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def stalwart_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER]


# --- the registry ---------------------------------------------------------------------------


def test_added_listener_receives_emitted_events() -> None:
    """A listener added with `add_listener` is called with each emitted event object."""
    events: list[Event] = []
    remove = stalwart.add_listener(events.append)
    try:
        event = scheduled()
        emit(event)
        assert events == [event]
        assert events[0] is event
    finally:
        remove()


def test_add_listener_returns_a_remover() -> None:
    """Calling the function `add_listener` returns stops delivery to that listener."""
    events: list[Event] = []
    remove = stalwart.add_listener(events.append)
    try:
        emit(scheduled(attempt=1))
    finally:
        remove()
    emit(scheduled(attempt=2))
    assert [event.attempt for event in events] == [1]  # type: ignore[attr-defined]


def test_remover_is_idempotent() -> None:
    """Calling a remover twice does not raise and does not remove other listeners."""
    first: list[Event] = []
    second: list[Event] = []
    remove_first = stalwart.add_listener(first.append)
    remove_second = stalwart.add_listener(second.append)
    try:
        remove_first()
        remove_first()
        emit(expired())
        assert first == []
        assert len(second) == 1
    finally:
        remove_first()
        remove_second()


def test_remove_listener_stops_delivery() -> None:
    """`remove_listener` stops delivery to a listener added before."""
    events: list[Event] = []
    remove = stalwart.add_listener(events.append)
    try:
        stalwart.remove_listener(events.append)
        emit(expired())
        assert events == []
    finally:
        remove()


def test_remove_unknown_listener_is_a_no_op(received: list[Event]) -> None:
    """Removing a listener that was never added neither raises nor disturbs the others."""
    stalwart.remove_listener(lambda event: None)
    event = expired()
    emit(event)
    assert received == [event]


def test_listeners_run_in_the_order_they_were_added() -> None:
    """Listeners are called one after another in registration order."""
    calls: list[str] = []
    remove_a = stalwart.add_listener(lambda event: calls.append("a"))
    remove_b = stalwart.add_listener(lambda event: calls.append("b"))
    try:
        emit(expired())
    finally:
        remove_a()
        remove_b()
    assert calls == ["a", "b"]


def test_add_listener_rejects_non_callables() -> None:
    """`add_listener` with something that is not callable raises TypeError naming it."""
    with pytest.raises(TypeError, match="listener"):
        stalwart.add_listener(42)  # type: ignore[arg-type]


def test_raising_listener_does_not_break_emit_or_other_listeners(
    received: list[Event], stalwart_logs: pytest.LogCaptureFixture
) -> None:
    """A listener that raises is logged on "stalwart" and skipped; later listeners still run."""

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    after: list[Event] = []
    remove_broken = stalwart.add_listener(broken)
    remove_after = stalwart.add_listener(after.append)
    try:
        event = gave_up()
        emit(event)  # must not raise
    finally:
        remove_broken()
        remove_after()
    assert received == [event]
    assert after == [event]
    failures = [r for r in stalwart_records(stalwart_logs) if r.exc_info is not None]
    assert len(failures) == 1
    failure = failures[0]
    assert failure.levelno == logging.ERROR
    assert "retry_gave_up" in failure.getMessage()
    assert failure.exc_info is not None
    assert isinstance(failure.exc_info[1], RuntimeError)


# --- the default listener -------------------------------------------------------------------


def test_log_event_is_installed_at_import() -> None:
    """`log_event` is among the listeners from import, so events are logged by default."""
    assert stalwart.log_event in _events._listeners


def test_stalwart_logger_has_a_null_handler() -> None:
    """The "stalwart" logger carries a NullHandler so an unconfigured app prints nothing."""
    handlers = logging.getLogger(LOGGER).handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


def test_emit_logs_through_the_default_listener(stalwart_logs: pytest.LogCaptureFixture) -> None:
    """An emitted event reaches the "stalwart" logger through the default listener."""
    emit(scheduled())
    records = stalwart_records(stalwart_logs)
    assert [record.stalwart_event for record in records] == ["retry_scheduled"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("event", "level"),
    [
        pytest.param(scheduled(), logging.INFO, id="retry-scheduled-info"),
        pytest.param(gave_up(), logging.WARNING, id="retry-gave-up-warning"),
        pytest.param(expired(), logging.INFO, id="timeout-expired-info"),
    ],
)
def test_log_event_logs_at_the_event_level(
    event: Event, level: int, stalwart_logs: pytest.LogCaptureFixture
) -> None:
    """`log_event` logs on "stalwart" at the event's level with the event's message."""
    stalwart.log_event(event)
    records = stalwart_records(stalwart_logs)
    assert len(records) == 1
    record = records[0]
    assert record.name == LOGGER
    assert record.levelno == level == event.level
    assert record.getMessage() == event.message()


def test_log_event_sets_structured_fields_for_retry_scheduled(
    stalwart_logs: pytest.LogCaptureFixture,
) -> None:
    """A RetryScheduled record carries every field as a `stalwart_<field>` attribute."""
    error = ConnectionResetError("peer reset")
    stalwart.log_event(scheduled(exception=error, hinted=True))
    (record,) = stalwart_records(stalwart_logs)
    assert record.stalwart_event == "retry_scheduled"  # type: ignore[attr-defined]
    assert record.stalwart_strategy == "retry"  # type: ignore[attr-defined]
    assert record.stalwart_attempt == 2  # type: ignore[attr-defined]
    assert record.stalwart_delay == 0.25  # type: ignore[attr-defined]
    assert record.stalwart_verdict is Verdict.TRANSIENT  # type: ignore[attr-defined]
    assert record.stalwart_exception is error  # type: ignore[attr-defined]
    assert record.stalwart_hinted is True  # type: ignore[attr-defined]


def test_log_event_sets_structured_fields_for_retry_gave_up(
    stalwart_logs: pytest.LogCaptureFixture,
) -> None:
    """A RetryGaveUp record carries attempts, reason and verdict as structured fields."""
    stalwart.log_event(gave_up())
    (record,) = stalwart_records(stalwart_logs)
    assert record.stalwart_event == "retry_gave_up"  # type: ignore[attr-defined]
    assert record.stalwart_strategy == "retry"  # type: ignore[attr-defined]
    assert record.stalwart_attempts == 3  # type: ignore[attr-defined]
    assert record.stalwart_reason == "max_attempts reached"  # type: ignore[attr-defined]
    assert record.stalwart_verdict is Verdict.TIMEOUT  # type: ignore[attr-defined]


def test_log_event_sets_structured_fields_for_timeout_expired(
    stalwart_logs: pytest.LogCaptureFixture,
) -> None:
    """A TimeoutExpired record carries timeout and kind as structured fields."""
    stalwart.log_event(expired())
    (record,) = stalwart_records(stalwart_logs)
    assert record.stalwart_event == "timeout_expired"  # type: ignore[attr-defined]
    assert record.stalwart_strategy == "timeout"  # type: ignore[attr-defined]
    assert record.stalwart_timeout == 2.5  # type: ignore[attr-defined]
    assert record.stalwart_kind == "per_attempt"  # type: ignore[attr-defined]


def test_log_event_respects_the_logger_level(caplog: pytest.LogCaptureFixture) -> None:
    """Below the "stalwart" logger's level, `log_event` logs nothing."""
    caplog.set_level(logging.ERROR, logger=LOGGER)
    stalwart.log_event(gave_up())
    stalwart.log_event(scheduled())
    assert stalwart_records(caplog) == []


def test_default_listener_can_be_removed_and_restored(
    stalwart_logs: pytest.LogCaptureFixture,
) -> None:
    """Removing `log_event` silences event logging until it is added back."""
    stalwart.remove_listener(stalwart.log_event)
    try:
        emit(scheduled())
        assert stalwart_records(stalwart_logs) == []
    finally:
        stalwart.add_listener(stalwart.log_event)
    emit(scheduled())
    assert len(stalwart_records(stalwart_logs)) == 1


# --- the events -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        pytest.param(scheduled(), "attempt", id="retry-scheduled-attempt"),
        pytest.param(scheduled(), "delay", id="retry-scheduled-delay"),
        pytest.param(scheduled(), "strategy", id="retry-scheduled-strategy"),
        pytest.param(gave_up(), "reason", id="retry-gave-up-reason"),
        pytest.param(expired(), "timeout", id="timeout-expired-timeout"),
    ],
)
def test_events_are_frozen(event: Event, field: str) -> None:
    """Assigning to an event's field raises FrozenInstanceError."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, 1)


def test_events_are_keyword_only() -> None:
    """Events are built from keyword arguments only."""
    with pytest.raises(TypeError):
        TimeoutExpired("timeout", 2.5, "total")  # type: ignore[misc]


def test_events_compare_by_value() -> None:
    """Two events with the same fields are equal."""
    error = OSError("x")
    assert scheduled(exception=error) == scheduled(exception=error)
    assert scheduled(exception=error) != scheduled(exception=error, attempt=3)


@pytest.mark.parametrize(
    ("event", "name"),
    [
        pytest.param(scheduled(), "retry_scheduled", id="retry-scheduled"),
        pytest.param(gave_up(), "retry_gave_up", id="retry-gave-up"),
        pytest.param(expired(), "timeout_expired", id="timeout-expired"),
    ],
)
def test_event_names(event: Event, name: str) -> None:
    """Each event class has a stable snake_case name."""
    assert event.name == name


def test_retry_scheduled_message_mentions_attempt_delay_and_cause() -> None:
    """RetryScheduled's message names the strategy, attempt, verdict, exception and delay."""
    message = scheduled().message()
    assert message.startswith("retry: ")
    assert "attempt 2" in message
    assert "transient" in message
    assert "ConnectionResetError: peer reset" in message
    assert "0.250 s" in message
    assert "backoff" in message


def test_retry_scheduled_message_mentions_the_hint() -> None:
    """A hinted RetryScheduled says the delay came from the callee."""
    message = scheduled(hinted=True, delay=1.5).message()
    assert "1.500 s" in message
    assert "hint" in message


def test_retry_scheduled_message_for_a_failed_result() -> None:
    """A RetryScheduled for a bad result (no exception) still gives a readable message."""
    message = scheduled(exception=None, verdict=Verdict.THROTTLED).message()
    assert "throttled" in message
    assert "a result" in message


def test_retry_gave_up_message_mentions_attempts_and_reason() -> None:
    """RetryGaveUp's message names the number of attempts, the reason and the last failure."""
    message = gave_up().message()
    assert "3 attempt" in message
    assert "max_attempts reached" in message
    assert "TimeoutError: slow upstream" in message


def test_timeout_expired_message_mentions_timeout_and_kind() -> None:
    """TimeoutExpired's message names the kind of timeout and its length."""
    message = expired().message()
    assert "per_attempt" in message
    assert "2.5 s" in message


def test_base_event_message_is_its_name() -> None:
    """A bare Event's message is its name."""
    assert stalwart.Event(strategy="x").message() == "event"
