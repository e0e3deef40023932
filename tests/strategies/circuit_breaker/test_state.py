"""The I/O-free state machine of one partition, driven with explicit times: every transition."""

from __future__ import annotations

from typing import Any

import pytest

from stalwart._strategies.circuit_breaker._state import (
    BreakerConfig,
    BreakerState,
    CircuitState,
    Permit,
    Transition,
)

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN
ISOLATED = CircuitState.ISOLATED


def machine(**options: Any) -> BreakerState:
    """A breaker state with small numbers: 4 calls in a count window of 10 unless told."""
    settings: dict[str, Any] = {"min_calls": 4, "window_calls": 10}
    settings.update(options)
    return BreakerState(BreakerConfig(**settings))


def admit(state: BreakerState, now: float) -> Permit:
    """Acquire a permit that must be granted."""
    grant = state.acquire(now)
    assert grant.permit is not None, grant
    assert grant.refused_by is None, grant
    return grant.permit


def calls(state: BreakerState, now: float, *outcomes: bool) -> list[Transition]:
    """Run one call per outcome (True = failed) at `now`; return every transition."""
    found: list[Transition] = []
    for failed in outcomes:
        grant = state.acquire(now)
        found.extend(grant.transitions)
        assert grant.permit is not None
        found.extend(state.record(grant.permit, now, failed, 0.0))
    return found


def open_at(state: BreakerState, now: float) -> None:
    """Trip a fresh (closed) machine at `now` with failures."""
    transitions = calls(state, now, *[True] * state.config.effective_min_calls)
    assert [t.target for t in transitions] == [OPEN]


def states(transitions: list[Transition] | tuple[Transition, ...]) -> list[tuple[str, str]]:
    return [(t.source.value, t.target.value) for t in transitions]


# -- closed -----------------------------------------------------------------------------


def test_closed_admits_calls() -> None:
    """A new circuit is closed and admits every call as an ordinary call."""
    state = machine()
    assert state.state is CLOSED
    assert admit(state, 0.0).kind == "call"


def test_below_min_calls_never_trips() -> None:
    """With fewer than min_calls in the window, even 100% failures keep it closed."""
    state = machine(min_calls=4)
    assert calls(state, 0.0, True, True, True) == []
    assert state.state is CLOSED


def test_trips_at_min_calls_when_the_ratio_is_reached() -> None:
    """The call that brings the window to min_calls with ratio ≥ failure_ratio opens it."""
    state = machine(min_calls=4, failure_ratio=0.5)
    assert calls(state, 0.0, False, False, True) == []
    [transition] = calls(state, 0.0, True)  # 2 of 4 = 0.5 ≥ 0.5
    assert (transition.source, transition.target) == (CLOSED, OPEN)
    assert transition.break_for == 5.0
    assert transition.openings == 1
    assert transition.by_outcome
    assert "failure ratio 0.50" in transition.reason


def test_just_below_the_ratio_stays_closed() -> None:
    """1 failure in 4 calls (0.25) does not reach a 0.5 ratio."""
    state = machine(min_calls=4)
    assert calls(state, 0.0, False, False, False, True) == []
    assert state.state is CLOSED


def test_failure_ratio_one_needs_every_call_to_fail() -> None:
    """With failure_ratio=1.0 only a window of nothing but failures opens the circuit."""
    state = machine(min_calls=3, window_calls=3, failure_ratio=1.0)
    assert calls(state, 0.0, True, True, False, True, True) == []
    assert states(calls(state, 0.0, True)) == [("closed", "open")]  # last 3: all failed


def test_successes_never_trip() -> None:
    """A success is never the call that opens the circuit, even above min_calls."""
    state = machine(min_calls=1, failure_ratio=1.0)
    assert calls(state, 0.0, False, False) == []


def test_min_calls_is_capped_at_window_calls() -> None:
    """A count window smaller than min_calls trips on a full window (resilience4j's clamp)."""
    state = machine(min_calls=20, window_calls=5)
    assert calls(state, 0.0, True, True, True, True) == []
    assert states(calls(state, 0.0, True)) == [("closed", "open")]


def test_time_window_forgets_old_failures() -> None:
    """Failures older than the time window no longer count towards the trip."""
    state = machine(window_calls=None, window=10.0, buckets=10, min_calls=4)
    calls(state, 0.0, True, True, True)
    assert calls(state, 10.0, True) == []  # the three at t=0 dropped out
    assert state.snapshot(10.0)[0].calls == 1


def test_slow_calls_trip_on_the_slow_ratio() -> None:
    """Successful calls slower than slow_call_duration trip the circuit at slow_call_ratio."""
    state = machine(min_calls=2, slow_call_duration=1.0, slow_call_ratio=1.0)
    permit = admit(state, 0.0)
    assert state.record(permit, 2.0, False, 2.0) == ()
    permit = admit(state, 2.0)
    [transition] = state.record(permit, 3.5, False, 1.5)
    assert transition.target is OPEN
    assert "slow-call ratio 1.00" in transition.reason
    statistics = state.snapshot(3.5)[0]
    assert (statistics.calls, statistics.failures, statistics.slow_calls) == (2, 0, 2)


def test_a_call_exactly_at_the_slow_threshold_is_not_slow() -> None:
    """A call lasting exactly slow_call_duration is not counted as slow (slower than it is)."""
    state = machine(min_calls=1, slow_call_duration=1.0)
    assert state.record(admit(state, 0.0), 1.0, False, 1.0) == ()
    assert state.snapshot(1.0)[0].slow_calls == 0


def test_slow_detection_is_off_by_default() -> None:
    """Without slow_call_duration, no call is ever slow however long it takes."""
    state = machine(min_calls=1)
    assert state.record(admit(state, 0.0), 1e6, False, 1e6) == ()
    assert state.snapshot(1e6)[0].slow_calls == 0


# -- open -------------------------------------------------------------------------------


def test_open_refuses_with_the_time_left() -> None:
    """While open, calls are refused with retry_after = the time left in the break."""
    state = machine()
    open_at(state, 100.0)
    grant = state.acquire(101.5)
    assert grant.permit is None
    assert grant.refused_by is OPEN
    assert grant.retry_after == pytest.approx(3.5)
    assert grant.transitions == ()


def test_open_to_half_open_is_lazy() -> None:
    """The break elapsing changes nothing until a call arrives; that call becomes the probe."""
    state = machine()
    open_at(state, 0.0)
    statistics = state.snapshot(60.0)[0]
    assert statistics.state is OPEN
    assert statistics.retry_after == 0.0
    grant = state.acquire(60.0)
    assert states(grant.transitions) == [("open", "half_open")]
    assert grant.permit is not None
    assert grant.permit.kind == "probe"


def test_the_break_ends_exactly_at_break_for() -> None:
    """A call just before break_for is refused; one at exactly break_for is the probe."""
    state = machine(break_for=2.0)
    open_at(state, 0.0)
    assert state.acquire(1.999).refused_by is OPEN
    assert state.acquire(2.0).permit is not None


def test_break_grows_with_consecutive_openings_up_to_the_cap() -> None:
    """Each failed probe re-opens for break × multiplier, capped at max_break_for."""
    state = machine(break_for=5.0, break_multiplier=2.0, max_break_for=30.0)
    open_at(state, 0.0)
    now, breaks = 0.0, []
    for _ in range(5):
        now += 1000.0
        probe = admit(state, now)
        [transition] = state.record(probe, now, True, 0.0)
        assert "a probe failed" in transition.reason
        breaks.append(transition.break_for)
    assert breaks == [10.0, 20.0, 30.0, 30.0, 30.0]
    assert state.snapshot(now)[0].consecutive_openings == 6


def test_multiplier_one_keeps_the_break_constant() -> None:
    """break_multiplier=1 re-opens for the same break every time."""
    state = machine(break_for=3.0, break_multiplier=1.0)
    open_at(state, 0.0)
    probe = admit(state, 3.0)
    [transition] = state.record(probe, 3.0, True, 0.0)
    assert transition.break_for == 3.0


def test_growth_resets_after_a_successful_close() -> None:
    """After probes close the circuit, the next opening starts again at break_for."""
    state = machine(break_for=5.0)
    open_at(state, 0.0)
    state.record(admit(state, 5.0), 5.0, True, 0.0)  # re-open for 10 s
    assert states(state.record(admit(state, 15.0), 15.0, False, 0.0)) == [("half_open", "closed")]
    transitions = calls(state, 20.0, True, True, True, True)
    assert [t.break_for for t in transitions] == [5.0]
    assert transitions[0].openings == 1


def test_late_results_while_open_only_update_counts() -> None:
    """A call admitted while closed that fails after the circuit opened is counted, nothing more."""
    state = machine(min_calls=4, window_calls=10)
    late = admit(state, 0.0)
    open_at(state, 0.0)
    assert state.record(late, 1.0, True, 1.0) == ()
    statistics = state.snapshot(1.0)[0]
    assert statistics.state is OPEN
    assert statistics.failures == 5
    assert statistics.consecutive_openings == 1
    assert statistics.retry_after == pytest.approx(4.0)  # the break was not extended


# -- half-open --------------------------------------------------------------------------


def test_half_open_admits_exactly_probes_calls() -> None:
    """With probes=3, the first three calls after the break are probes; the fourth is refused."""
    state = machine(probes=3, probe_timeout=10.0)
    open_at(state, 0.0)
    probes = [admit(state, 5.0 + i) for i in range(3)]
    assert [p.kind for p in probes] == ["probe"] * 3
    refused = state.acquire(8.0)
    assert refused.permit is None
    assert refused.refused_by is HALF_OPEN
    assert refused.retry_after == pytest.approx(7.0)  # until the oldest probe times out


def test_all_probes_succeeding_closes_with_a_clean_window() -> None:
    """The circuit closes only when every probe succeeded, and the window starts empty."""
    state = machine(probes=2)
    open_at(state, 0.0)
    first, second = admit(state, 5.0), admit(state, 5.0)
    assert state.record(first, 5.5, False, 0.5) == ()
    assert state.state is HALF_OPEN
    [transition] = state.record(second, 6.0, False, 1.0)
    assert (transition.source, transition.target) == (HALF_OPEN, CLOSED)
    assert "2 probe(s) succeeded" in transition.reason
    statistics = state.snapshot(6.0)[0]
    assert (statistics.calls, statistics.failures, statistics.consecutive_openings) == (0, 0, 0)
    assert statistics.opened_at is None
    assert statistics.break_for is None


def test_a_succeeded_probe_keeps_its_slot() -> None:
    """A probe that succeeded still counts against `probes`: no extra probe is admitted."""
    state = machine(probes=2)
    open_at(state, 0.0)
    first, _second = admit(state, 5.0), admit(state, 5.0)
    state.record(first, 5.0, False, 0.0)
    assert state.acquire(5.0).refused_by is HALF_OPEN


def test_one_probe_failure_reopens() -> None:
    """A single failed probe re-opens the circuit, whatever the other probes did."""
    state = machine(probes=3)
    open_at(state, 0.0)
    first, second, third = (admit(state, 5.0) for _ in range(3))
    state.record(first, 5.0, False, 0.0)
    [transition] = state.record(second, 5.0, True, 0.0)
    assert (transition.source, transition.target) == (HALF_OPEN, OPEN)
    # the third probe's late success changes nothing
    assert state.record(third, 5.0, False, 0.0) == ()
    assert state.state is OPEN


def test_a_slow_probe_reopens_when_slow_detection_is_on() -> None:
    """A successful but slow probe counts as a failed probe."""
    state = machine(slow_call_duration=1.0, slow_call_ratio=1.0)
    open_at(state, 0.0)
    probe = admit(state, 5.0)
    [transition] = state.record(probe, 7.0, False, 2.0)
    assert transition.target is OPEN
    assert "slow" in transition.reason


def test_a_cancelled_probe_frees_its_slot() -> None:
    """Releasing a probe neither closes nor opens the circuit; the next call is a new probe."""
    state = machine(probes=1)
    open_at(state, 0.0)
    probe = admit(state, 5.0)
    assert state.release(probe, 5.5) == ()
    assert state.state is HALF_OPEN
    assert state.snapshot(5.5)[0].probes_in_flight == 0
    assert admit(state, 5.5).kind == "probe"


def test_a_probe_that_never_reports_reopens_at_probe_timeout() -> None:
    """A probe silent for probe_timeout counts as failed; its late report is ignored."""
    state = machine(probe_timeout=10.0)
    open_at(state, 0.0)
    stuck = admit(state, 5.0)
    assert state.acquire(14.999).refused_by is HALF_OPEN
    grant = state.acquire(15.0)
    [transition] = grant.transitions
    assert (transition.source, transition.target) == (HALF_OPEN, OPEN)
    assert "probe_timeout=10" in transition.reason
    assert not transition.by_outcome
    assert transition.break_for == 10.0
    assert grant.refused_by is OPEN
    assert grant.retry_after == pytest.approx(10.0)
    assert state.record(stuck, 30.0, False, 25.0) == ()  # too late: stale
    assert state.state is OPEN


def test_the_probe_timeout_applies_on_any_operation() -> None:
    """A snapshot or another call's report also notices an overdue probe."""
    state = machine(probe_timeout=1.0)
    open_at(state, 0.0)
    admit(state, 5.0)
    statistics, transitions = state.snapshot(6.0)
    assert states(transitions) == [("half_open", "open")]
    assert statistics.state is OPEN


def test_ordinary_calls_finishing_while_half_open_do_not_decide() -> None:
    """A closed-era call that finishes during half-open is counted but closes nothing."""
    state = machine()
    late = admit(state, 0.0)
    open_at(state, 0.0)
    admit(state, 5.0)  # the probe
    assert state.record(late, 5.0, False, 5.0) == ()
    assert state.state is HALF_OPEN


def test_a_report_counts_once() -> None:
    """Reporting the same probe twice has no further effect."""
    state = machine(probes=2)
    open_at(state, 0.0)
    probe = admit(state, 5.0)
    state.record(probe, 5.0, False, 0.0)
    assert state.record(probe, 5.0, False, 0.0) == ()
    assert state.state is HALF_OPEN


# -- manual control and metrics-only ---------------------------------------------------


def test_isolate_holds_open_until_reset() -> None:
    """An isolated circuit refuses every call (retry_after None) until reset(), at any time."""
    state = machine()
    assert states(state.isolate(0.0)) == [("closed", "isolated")]
    assert state.isolate(1.0) == ()  # already isolated
    grant = state.acquire(1e9)
    assert (grant.permit, grant.refused_by, grant.retry_after) == (None, ISOLATED, None)
    assert state.snapshot(1e9)[0].retry_after is None
    assert states(state.reset(1e9)) == [("isolated", "closed")]
    assert admit(state, 1e9).kind == "call"


@pytest.mark.parametrize("source", [OPEN, HALF_OPEN])
def test_isolate_from_open_and_half_open(source: CircuitState) -> None:
    """isolate() works from open and half-open too, and drops probes in flight."""
    state = machine()
    open_at(state, 0.0)
    probe = None
    if source is HALF_OPEN:
        probe = admit(state, 5.0)
    assert states(state.isolate(6.0)) == [(source.value, "isolated")]
    assert state.snapshot(6.0)[0].opened_at == 0.0
    if probe is not None:
        assert state.record(probe, 6.0, False, 1.0) == ()
    assert state.state is ISOLATED


def test_reset_clears_counts_and_openings() -> None:
    """reset() closes the circuit, empties the window and zeroes consecutive openings."""
    state = machine()
    calls(state, 0.0, True, False)
    assert state.reset(0.0) == ()  # closed already: no transition, but counts cleared
    assert state.snapshot(0.0)[0].calls == 0
    open_at(state, 1.0)
    assert states(state.reset(2.0)) == [("open", "closed")]
    statistics = state.snapshot(2.0)[0]
    assert (statistics.calls, statistics.consecutive_openings) == (0, 0)


def test_results_admitted_before_a_reset_are_ignored() -> None:
    """A call admitted before reset() that finishes after it is not counted in the new window."""
    state = machine()
    old = admit(state, 0.0)
    state.reset(0.0)
    state.record(old, 1.0, True, 1.0)
    assert state.snapshot(1.0)[0].calls == 0


def test_metrics_only_lets_refused_calls_through_as_shadows() -> None:
    """In metrics-only mode a refusal still says why, but hands out a shadow permit."""
    state = machine(metrics_only=True)
    open_at(state, 0.0)
    grant = state.acquire(1.0)
    assert grant.refused_by is OPEN
    assert grant.permit is not None
    assert grant.permit.kind == "shadow"
    assert state.record(grant.permit, 1.0, True, 0.0) == ()
    assert state.snapshot(1.0)[0].failures == 5  # shadows are counted
    state.isolate(2.0)
    assert state.acquire(3.0).permit is not None


def test_snapshot_of_a_fresh_state() -> None:
    """A fresh state reports closed, empty, with no openings and retry_after 0."""
    statistics, transitions = machine().snapshot(0.0)
    assert transitions == ()
    assert statistics.state is CLOSED
    assert (statistics.calls, statistics.failures, statistics.slow_calls) == (0, 0, 0)
    assert (statistics.failure_ratio, statistics.slow_call_ratio) == (0.0, 0.0)
    assert statistics.retry_after == 0.0
    assert statistics.probes_in_flight == 0


def test_permit_and_grant_reprs() -> None:
    """Permits and grants describe themselves for debugging."""
    state = machine(probes=1)
    assert repr(state.acquire(0.0)) == "<Grant <Permit call window=0 probe=0>>"
    open_at(state, 0.0)
    assert repr(state.acquire(1.0)) == "<Grant None refused by open>"
    assert repr(state.acquire(5.0).permit) == "<Permit probe window=0 probe=1>"
