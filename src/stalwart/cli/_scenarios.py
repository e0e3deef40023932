"""The demo's scenarios: what the upstream does, what to watch, and what it showed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .._flaky import Faults
from ._common import format_seconds
from ._metrics import ClientResult, Metrics, StalwartEvents

__all__ = ["DEADLINE", "NAIVE_TIMEOUT", "SCENARIOS", "Outcome", "Scenario"]

#: The deadline of every stalwart call in the demo.
DEADLINE: Final = 2.0
#: The naive client's httpx timeout (what people write: a round number, no deadline).
NAIVE_TIMEOUT: Final = 5.0
#: The naive client's fixed pauses between its 3 attempts.
NAIVE_PAUSES: Final = (0.1, 0.2)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A finished scenario, as the verdicts read it."""

    duration: float
    naive: ClientResult
    stalwart: ClientResult
    events: StalwartEvents


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One demo scenario: the faults (a function of its duration, for the outage
    window), a sentence on what the upstream does, what to watch, and a verdict computed
    from the numbers."""

    name: str
    duration: float
    faults: Callable[[float], Faults]
    #: What the upstream does, given the duration and the offered rate (calls/s).
    describe: Callable[[float, float], str]
    watch: str
    verdict: Callable[[Outcome], str]
    hedge: bool = False
    #: The window in which the upstream is down, for the live display; None: never.
    down: Callable[[float], tuple[float, float]] | None = None
    #: A rate limit, as a share of the offered rate: requests beyond it get the faults'
    #: error status (the demo sets `error_rate` to the excess share as the load changes).
    quota: float | None = None

    def limit(self, rate: float) -> float | None:
        """The upstream's rate limit in requests per second, for an offered `rate`."""
        return None if self.quota is None else self.quota * rate


# -- wording helpers ----------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def _served(stalwart: Metrics, naive: Metrics) -> str:
    return f"served {_rate(stalwart.success_rate)} of calls against {_rate(naive.success_rate)}"


def _load(stalwart: float | None, naive: float | None) -> str:
    return f"sent {_times(stalwart)} its calls upstream against {_times(naive)}"


# -- the verdicts: one sentence each, from the numbers -------------------------------------------


def _transient_verdict(outcome: Outcome) -> str:
    naive, stalwart = outcome.naive.metrics, outcome.stalwart.metrics
    refused = outcome.events.budget_refusals
    if refused:
        budget = (
            f"stalwart's retry budget (10% of calls + 1/s) refused {refused} of its retries, so it"
        )
    else:
        budget = "stalwart's retry budget (10% of calls + 1/s) allowed every retry; it"
    return (
        f"transient: both clients retried the 503s; {budget} "
        f"{_load(stalwart.amplification, naive.amplification)} and "
        f"{_served(stalwart, naive)}."
    )


def _outage_window(duration: float) -> tuple[float, float]:
    return (round(duration * 0.25, 2), round(duration * 0.75, 2))


def _outage_verdict(outcome: Outcome) -> str:
    start, end = _outage_window(outcome.duration)
    naive, stalwart = outcome.naive.metrics, outcome.stalwart.metrics
    amplification = []
    for result in (outcome.stalwart, outcome.naive):
        calls = len(result.calls_between(start, end))
        amplification.append(result.upstream_between(start, end) / calls if calls else None)
    events = outcome.events
    opened = events.first("open", start)
    if opened is not None and opened < end:
        how = f"its retry budget and its breaker (open {opened - start:.1f} s into the outage)"
    else:
        how = "its retry budget"
    sentence = (
        f"outage: while the upstream was down, {how} held stalwart to "
        f"{_times(amplification[0])} its calls upstream against {_times(amplification[1])}, "
        f"and its failed calls took {format_seconds(stalwart.failure_p50)} (median) against "
        f"{format_seconds(naive.failure_p50)}"
    )
    closed = events.first("closed", end)
    if opened is not None and closed is not None:
        sentence += (
            f"; a probe closed the breaker {closed - end:.1f} s after the recovery "
            "(the price of its 5 s break)"
        )
    elif opened is not None:
        sentence += "; the breaker was still in its 5 s break when the run ended"
    return f"{sentence}; it {_served(stalwart, naive)}."


def _slow_tail_verdict(outcome: Outcome) -> str:
    naive, stalwart = outcome.naive.metrics, outcome.stalwart.metrics
    extra = None if stalwart.amplification is None else stalwart.amplification - 1.0
    ratio = ""
    if naive.p99 and stalwart.p99 and naive.p99 / stalwart.p99 >= 1.1:
        ratio = f", {naive.p99 / stalwart.p99:.1f}× lower,"
    return (
        f"slow-tail: with hedged reads ({outcome.events.hedges} hedges) stalwart's p99 was "
        f"{format_seconds(stalwart.p99)} against {format_seconds(naive.p99)}{ratio} for "
        f"{'-' if extra is None else f'{extra:.0%}'} extra upstream requests."
    )


def _hang_verdict(outcome: Outcome) -> str:
    naive, stalwart = outcome.naive.metrics, outcome.stalwart.metrics
    return (
        f"hang: the {DEADLINE:g} s deadline freed stalwart's workers from hung calls that "
        f"held the naive client's for its {NAIVE_TIMEOUT:g} s timeout: p99 "
        f"{format_seconds(stalwart.p99)} against {format_seconds(naive.p99)}, "
        f"{stalwart.dropped} calls dropped for want of a free worker against {naive.dropped}; "
        f"it {_served(stalwart, naive)}."
    )


def _throttle_verdict(outcome: Outcome) -> str:
    naive, stalwart = outcome.naive.metrics, outcome.stalwart.metrics
    naive_429 = outcome.naive.by_status.get(429, 0)
    stalwart_429 = outcome.stalwart.by_status.get(429, 0)
    events = outcome.events
    refused = (
        f"; its budget refused {events.budget_refusals} more" if events.budget_refusals else ""
    )
    return (
        f"throttle: stalwart waited the 1 s the upstream asked for "
        f"({events.hinted_retries} times{refused}) where the naive client "
        f"retried after {NAIVE_PAUSES[0]:g} s and {NAIVE_PAUSES[1]:g} s: it drew "
        f"{stalwart_429} 429s against {naive_429}, "
        f"{_load(stalwart.amplification, naive.amplification)}, and "
        f"{_served(stalwart, naive)}."
    )


SCENARIOS: Final[dict[str, Scenario]] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            name="transient",
            duration=6.0,
            faults=lambda duration: Faults(error_rate=0.2),
            describe=lambda duration, rate: "20% of requests get 503 Service Unavailable.",
            watch="both clients retry: the upstream column shows what their retries cost",
            verdict=_transient_verdict,
        ),
        Scenario(
            name="outage",
            duration=10.0,
            faults=lambda duration: Faults(outage=_outage_window(duration)),
            describe=lambda duration, rate: (
                "Every request gets 503 from {:g} s to {:g} s; then the upstream recovers.".format(
                    *_outage_window(duration)
                )
            ),
            watch="the upstream load while it is down, and stalwart's breaker",
            verdict=_outage_verdict,
            down=_outage_window,
        ),
        Scenario(
            name="slow-tail",
            duration=6.0,
            faults=lambda duration: Faults(
                latency=0.005, slow_tail_ratio=0.05, slow_tail_latency=0.25
            ),
            describe=lambda duration, rate: (
                "Answers take 5 ms, but 5% of them take 50 times as long: 250 ms."
            ),
            watch="p99: stalwart hedges reads, starting a second attempt past the observed p95",
            verdict=_slow_tail_verdict,
            hedge=True,
        ),
        Scenario(
            name="hang",
            duration=6.0,
            faults=lambda duration: Faults(hang_rate=0.1),
            describe=lambda duration, rate: "10% of requests are never answered.",
            watch=(
                f"p99 and dropped calls: a hung call holds its worker for the naive client's "
                f"{NAIVE_TIMEOUT:g} s timeout, or until stalwart's {DEADLINE:g} s deadline"
            ),
            verdict=_hang_verdict,
        ),
        Scenario(
            name="throttle",
            duration=6.0,
            faults=lambda duration: Faults(error_status=429, retry_after="1"),
            describe=lambda duration, rate: (
                f"The upstream takes {0.8 * rate:g} requests/s from each client and answers "
                "the share above that with 429 Too Many Requests and Retry-After: 1."
            ),
            watch="how many 429s each client draws, and its upstream load",
            verdict=_throttle_verdict,
            quota=0.8,
        ),
    )
}
