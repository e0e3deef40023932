"""Hypothesis drives the breaker's state machine and a plain reference model side by side.

The model keeps every counted call in a list and recomputes the window from it; it knows
nothing of buckets, ring buffers, epochs or the lock-free closed path. Rules start and
finish calls (success, failure, cancellation; slowness follows from the virtual time they
took), move time, isolate and reset; after every step the two must agree on the state,
the counts, the openings, the probes and `retry_after`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from stalwart._strategies.circuit_breaker._state import (
    BreakerConfig,
    BreakerState,
    Permit,
)


@dataclass
class Model:
    """The breaker as its documentation describes it, written as plainly as possible."""

    config: BreakerConfig
    state: str = "closed"
    log: list[tuple[float, bool, bool]] = field(default_factory=list)  # (time, failed, slow)
    generation: int = 0  # bumps when the log is emptied
    round: int = 0  # bumps on every change of state
    openings: int = 0
    break_for: float = 0.0
    blocked_until: float = -math.inf
    opened_at: float | None = None
    probes: dict[int, float] = field(default_factory=dict)  # probe token -> admitted at
    successes: int = 0
    tokens: int = 0
    moves: list[tuple[str, str]] = field(default_factory=list)

    # -- the window, recomputed from the log ---------------------------------------------

    def window(self, now: float) -> list[tuple[float, bool, bool]]:
        config = self.config
        if config.window_calls is not None:
            return self.log[-config.window_calls :]
        span = config.window / config.buckets
        newest = math.floor(now / span)
        return [
            entry for entry in self.log if math.floor(entry[0] / span) > newest - config.buckets
        ]

    def counts(self, now: float) -> tuple[int, int, int]:
        window = self.window(now)
        return len(window), sum(e[1] for e in window), sum(e[2] for e in window)

    # -- moves ---------------------------------------------------------------------------

    def move(self, target: str) -> None:
        self.moves.append((self.state, target))
        self.state = target
        self.round += 1
        self.probes = {}
        self.successes = 0

    def open(self, now: float) -> None:
        self.openings += 1
        if self.openings == 1:
            self.break_for = self.config.break_for
        else:
            self.break_for = min(
                self.break_for * self.config.break_multiplier, self.config.max_break_for
            )
        self.blocked_until = now + self.break_for
        self.opened_at = now
        self.move("open")

    def close(self) -> None:
        self.move("closed")
        self.openings = 0
        self.break_for = 0.0
        self.blocked_until = -math.inf
        self.opened_at = None
        self.log = []
        self.generation += 1

    def expire(self, now: float) -> None:
        probes = self.probes
        overdue = bool(probes) and now >= min(probes.values()) + self.config.probe_timeout
        if self.state == "half_open" and overdue:
            self.open(now)

    # -- operations ------------------------------------------------------------------------

    def acquire(self, now: float) -> tuple[tuple[Any, ...] | None, str | None, float | None]:
        """(permit, refusing state, retry_after); a permit is (kind, round, generation, token)."""
        if self.state == "closed":
            return ("call", self.round, self.generation, 0), None, None
        if self.state == "open" and now >= self.blocked_until:
            self.move("half_open")
        self.expire(now)
        if self.state == "open":
            return self.refuse("open", self.blocked_until - now)
        if self.state == "isolated":
            return self.refuse("isolated", None)
        if len(self.probes) + self.successes < self.config.probes:
            self.tokens += 1
            self.probes[self.tokens] = now
            return ("probe", self.round, self.generation, self.tokens), None, None
        deadline = min(self.probes.values()) + self.config.probe_timeout
        return self.refuse("half_open", deadline - now)

    def refuse(
        self, state: str, retry_after: float | None
    ) -> tuple[tuple[Any, ...] | None, str, float | None]:
        permit = ("shadow", self.round, self.generation, 0) if self.config.metrics_only else None
        return permit, state, retry_after

    def record(self, permit: tuple[Any, ...], now: float, failed: bool, duration: float) -> None:
        kind, round_, generation, token = permit
        limit = self.config.slow_call_duration
        slow = limit is not None and duration > limit
        self.expire(now)
        if kind == "probe":
            if round_ == self.round and token in self.probes:
                del self.probes[token]
                if failed or slow:
                    self.open(now)
                else:
                    self.successes += 1
                    if self.successes == self.config.probes:
                        self.close()
            return
        if generation != self.generation:
            return
        self.log.append((now, failed, slow))
        if (failed or slow) and self.state == "closed":
            calls, failures, slows = self.counts(now)
            if calls >= self.config.effective_min_calls and (
                failures / calls >= self.config.failure_ratio
                or slows / calls >= self.config.slow_call_ratio
            ):
                self.open(now)

    def release(self, permit: tuple[Any, ...], now: float) -> None:
        self.expire(now)
        kind, round_, _, token = permit
        if kind == "probe" and round_ == self.round:
            self.probes.pop(token, None)

    def isolate(self, now: float) -> None:
        if self.state != "isolated":
            if self.state == "closed":
                self.opened_at = now
            self.move("isolated")

    def reset(self) -> None:
        if self.state == "closed":
            self.log = []
            self.generation += 1
        else:
            self.close()

    def retry_after(self, now: float) -> float | None:
        if self.state == "closed":
            return 0.0
        if self.state == "open":
            return max(self.blocked_until - now, 0.0)
        if self.state == "isolated":
            return None
        if len(self.probes) + self.successes < self.config.probes:
            return 0.0
        return min(self.probes.values()) + self.config.probe_timeout - now


@dataclass
class Running:
    """A call in flight: the real permit, the model's, and when it started."""

    permit: Permit
    model: tuple[Any, ...]
    started: float


class BreakerMachine(RuleBasedStateMachine):
    """Drive `BreakerState` and `Model` with the same operations; they must agree throughout."""

    config: ClassVar[BreakerConfig]

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.real = BreakerState(self.config, key="k")
        self.model = Model(self.config)
        self.running: list[Running] = []

    def check_moves(self, transitions: tuple[Any, ...]) -> None:
        real = [(t.source.value, t.target.value) for t in transitions]
        assert real == self.model.moves
        self.model.moves = []

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 7.0, 40.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def start_call(self) -> None:
        grant = self.real.acquire(self.now)
        permit, refused_by, retry_after = self.model.acquire(self.now)
        self.check_moves(grant.transitions)
        assert (grant.refused_by.value if grant.refused_by else None) == refused_by
        if retry_after is None:
            assert grant.retry_after is None
        else:
            assert grant.retry_after == pytest.approx(max(retry_after, 0.0), abs=1e-9)
        assert (grant.permit is None) == (permit is None)
        if grant.permit is not None and permit is not None:
            assert grant.permit.kind == permit[0]
            self.running.append(Running(grant.permit, permit, self.now))

    @precondition(lambda self: self.running)
    @rule(data=st.data(), outcome=st.sampled_from(["success", "failure", "cancelled"]))
    def finish_call(self, data: st.DataObject, outcome: str) -> None:
        index = data.draw(st.integers(0, len(self.running) - 1), label="which call")
        call = self.running.pop(index)
        duration = self.now - call.started
        if outcome == "cancelled":
            transitions = self.real.release(call.permit, self.now)
            self.model.release(call.model, self.now)
        else:
            failed = outcome == "failure"
            transitions = self.real.record(call.permit, self.now, failed, duration)
            self.model.record(call.model, self.now, failed, duration)
        self.check_moves(transitions)

    @rule(outcomes=st.lists(st.booleans(), min_size=1, max_size=5))
    def burst(self, outcomes: list[bool]) -> None:
        """Several instant calls in a row (True = failed), so runs reach every state quickly."""
        for failed in outcomes:
            grant = self.real.acquire(self.now)
            permit, _, _ = self.model.acquire(self.now)
            self.check_moves(grant.transitions)
            assert (grant.permit is None) == (permit is None)
            if grant.permit is not None and permit is not None:
                transitions = self.real.record(grant.permit, self.now, failed, 0.0)
                self.model.record(permit, self.now, failed, 0.0)
                self.check_moves(transitions)

    @rule(action=st.sampled_from(["isolate", "reset"]))
    def manual(self, action: str) -> None:
        """isolate() or reset(), by hand (one rule, so they come no more often than calls)."""
        if action == "isolate":
            transitions = self.real.isolate(self.now)
            self.model.isolate(self.now)
        else:
            transitions = self.real.reset(self.now)
            self.model.reset()
        self.check_moves(transitions)

    @invariant()
    def agree(self) -> None:
        statistics, transitions = self.real.snapshot(self.now)
        self.model.expire(self.now)
        self.check_moves(transitions)
        model = self.model
        assert statistics.state.value == model.state
        assert (statistics.calls, statistics.failures, statistics.slow_calls) == model.counts(
            self.now
        )
        assert statistics.consecutive_openings == model.openings
        assert statistics.break_for == (model.break_for if model.openings else None)
        assert statistics.opened_at == model.opened_at
        assert statistics.probes_in_flight == len(model.probes)
        expected = model.retry_after(self.now)
        if expected is None:
            assert statistics.retry_after is None
        else:
            assert statistics.retry_after == pytest.approx(expected, abs=1e-9)

    @invariant()
    def bounded(self) -> None:
        statistics, _ = self.real.snapshot(self.now)
        assert statistics.probes_in_flight <= self.config.probes
        if statistics.break_for is not None:
            assert self.config.break_for <= statistics.break_for <= self.config.max_break_for


#: Small numbers, so a few dozen steps reach every state; slow detection on.
_SMALL = BreakerConfig(
    failure_ratio=0.5,
    slow_call_duration=1.0,
    slow_call_ratio=0.75,
    break_for=5.0,
    break_multiplier=2.0,
    max_break_for=20.0,
    probes=2,
    probe_timeout=7.0,
)
_RUN = settings(max_examples=60, stateful_step_count=50, deadline=None)


class CountWindowMachine(BreakerMachine):
    config = replace(_SMALL, min_calls=4, window_calls=6)


class TimeWindowMachine(BreakerMachine):
    config = replace(_SMALL, min_calls=3, window=10.0, buckets=5, probes=1, probe_timeout=3.0)


class MetricsOnlyMachine(BreakerMachine):
    config = replace(_SMALL, min_calls=3, window=10.0, buckets=5, metrics_only=True)


TestCountWindow = CountWindowMachine.TestCase
TestCountWindow.__doc__ = "The state machine agrees with the model over a count-based window."
TestCountWindow.settings = _RUN
TestTimeWindow = TimeWindowMachine.TestCase
TestTimeWindow.__doc__ = "With a time window and a single probe, the machine agrees with the model."
TestTimeWindow.settings = _RUN
TestMetricsOnly = MetricsOnlyMachine.TestCase
TestMetricsOnly.__doc__ = (
    "In metrics-only mode the machine transitions like the model, never refusing."
)
TestMetricsOnly.settings = _RUN
