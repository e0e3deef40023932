"""Reading `Retry-After`: both forms, past dates, and garbage."""

from __future__ import annotations

import email.utils
import logging

import pytest

from stalwart.httpx import parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("1", 1.0), (" 120 ", 120.0)])
def test_delay_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_http_dates_are_relative_to_now() -> None:
    value = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(value, NOW) == pytest.approx(30.0)
    assert parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT", 946684799.0 - 5) == 5.0


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime, no zone: GMT
    ],
)
def test_all_three_date_formats(value: str) -> None:
    assert parse_retry_after(value, 784111777.0 - 10) == pytest.approx(10.0)


def test_a_date_in_the_past_gives_no_hint() -> None:
    """The retry falls back to its own backoff (clocks disagree; don't hammer)."""
    assert parse_retry_after(email.utils.formatdate(NOW - 30, usegmt=True), NOW) is None


@pytest.mark.parametrize(
    "value",
    ["", "soon", "-1", "1.5", "1e3", "٣", "Fri, 31 Dec 1999", "99999999999999999"],
)
def test_malformed_values_give_no_hint_and_a_debug_line(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="stalwart"):
        assert parse_retry_after(value, NOW) is None
    assert "Retry-After" in caplog.text
