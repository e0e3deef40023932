"""stalwart's exception hierarchy, and exceptions that survive pickling."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

import stalwart
from stalwart import Cancelled, DeadlineExceeded, Rejected, StalwartError


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        pytest.param(StalwartError, Exception, id="stalwart-error-is-exception"),
        pytest.param(DeadlineExceeded, StalwartError, id="deadline-is-stalwart-error"),
        pytest.param(DeadlineExceeded, TimeoutError, id="deadline-is-builtin-timeout-error"),
        pytest.param(DeadlineExceeded, Exception, id="deadline-is-exception"),
        pytest.param(Cancelled, StalwartError, id="cancelled-is-stalwart-error"),
        pytest.param(Cancelled, Exception, id="cancelled-is-exception"),
        pytest.param(Rejected, StalwartError, id="rejected-is-stalwart-error"),
        pytest.param(Rejected, Exception, id="rejected-is-exception"),
    ],
)
def test_hierarchy(child: type[BaseException], parent: type[BaseException]) -> None:
    """Each stalwart exception sits where the documented hierarchy puts it."""
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("child", "other"),
    [
        pytest.param(Cancelled, TimeoutError, id="cancelled-is-not-a-timeout"),
        pytest.param(Rejected, TimeoutError, id="rejected-is-not-a-timeout"),
        pytest.param(Cancelled, DeadlineExceeded, id="cancelled-is-not-a-deadline"),
        pytest.param(Rejected, Cancelled, id="rejected-is-not-a-cancellation"),
    ],
)
def test_siblings_are_distinct(child: type[BaseException], other: type[BaseException]) -> None:
    """The three refusals are separate branches, so `except` clauses can tell them apart."""
    assert not issubclass(child, other)


def test_deadline_exceeded_is_caught_by_except_timeout_error() -> None:
    """A generic `except TimeoutError:` handler catches DeadlineExceeded."""
    with pytest.raises(TimeoutError):
        raise DeadlineExceeded


def test_deadline_exceeded_defaults() -> None:
    """A bare DeadlineExceeded says "deadline exceeded", with deadline inf and no timeout."""
    error = DeadlineExceeded()
    assert str(error) == "deadline exceeded"
    assert error.deadline == math.inf
    assert error.timeout is None


def test_deadline_exceeded_keeps_its_fields() -> None:
    """DeadlineExceeded keeps the message, absolute deadline and relative timeout it was given."""
    error = DeadlineExceeded("ran out after 2 s", deadline=123.5, timeout=2.0)
    assert str(error) == "ran out after 2 s"
    assert error.deadline == 123.5
    assert error.timeout == 2.0


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(DeadlineExceeded(), id="defaults"),
        pytest.param(DeadlineExceeded("too slow", deadline=42.25, timeout=1.5), id="all-fields"),
        pytest.param(DeadlineExceeded("no timeout", deadline=7.0), id="deadline-only"),
        pytest.param(DeadlineExceeded("unknown deadline", timeout=0.5), id="timeout-only"),
    ],
)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_deadline_exceeded_pickles(error: DeadlineExceeded, protocol: int) -> None:
    """DeadlineExceeded survives pickling with its message, `deadline` and `timeout`."""
    copy = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(copy) is DeadlineExceeded
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert copy.deadline == error.deadline
    assert copy.timeout == error.timeout


def test_deadline_exceeded_pickles_its_notes() -> None:
    """A note added to a DeadlineExceeded (why stalwart stopped) survives pickling."""
    error = DeadlineExceeded("too slow", deadline=1.0, timeout=0.5)
    error.add_note("gave up after 2 attempts")
    copy = pickle.loads(pickle.dumps(error))
    assert getattr(copy, "__notes__", None) == ["gave up after 2 attempts"]
    assert copy.deadline == 1.0


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(Cancelled(), id="cancelled-bare"),
        pytest.param(Cancelled("scope cancelled"), id="cancelled-message"),
        pytest.param(Rejected("circuit open"), id="rejected"),
        pytest.param(StalwartError("root"), id="stalwart-error"),
    ],
)
def test_other_exceptions_pickle(error: StalwartError) -> None:
    """Cancelled, Rejected and StalwartError survive pickling with their type and message."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.args == error.args
    assert str(copy) == str(error)


def test_a_raised_cancelled_pickles_and_deep_copies() -> None:
    """A Cancelled caught from a scope crosses process boundaries, its notes included."""

    with pytest.raises(stalwart.Cancelled) as caught, stalwart.cancel_scope() as scope:
        scope.cancel()
        stalwart.check()
    caught.value.add_note("while polling")
    restored = pickle.loads(pickle.dumps(caught.value))
    assert str(restored) == str(caught.value)
    assert restored.__notes__ == ["while polling"]
    assert copy.deepcopy(caught.value).__notes__ == ["while polling"]
