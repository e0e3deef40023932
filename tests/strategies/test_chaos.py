"""`Chaos`: faults, latency and results injected at a rate, switchable, repeatable."""

from __future__ import annotations

import copy
import math
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import stalwart
from stalwart import (
    Backoff,
    Cancelled,
    DeadlineExceeded,
    Pipeline,
    Retry,
    RetryScheduled,
    Timeout,
    TimeoutExpired,
)
from stalwart._clock import seeded_random
from stalwart._strategies.chaos import Chaos, ChaosInjected
from stalwart._strategies.fallback import Fallback
from stalwart.testing import FakeClock

# -- helpers --------------------------------------------------------------------------


def injected(events: list[stalwart.Event]) -> list[ChaosInjected]:
    return [event for event in events if isinstance(event, ChaosInjected)]


class Counter:
    """A callee that counts its calls and answers "real"."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object) -> str:
        self.calls += 1
        return "real"


async def areal() -> object:
    await anyio.lowlevel.checkpoint()
    return "real"


def switched_on(chaos: Chaos) -> bool:
    """The switch as it stands (read through a call, so type checkers do not narrow it)."""
    return chaos.enabled


def pattern(chaos: Chaos, calls: int) -> list[bool]:
    """Which of `calls` calls through `chaos` were injected (True) under the current clock."""
    pipeline = Pipeline(chaos)
    marks = []
    for _ in range(calls):
        try:
            pipeline.call(Counter())
        except ConnectionError:
            marks.append(True)
        else:
            marks.append(False)
    return marks


# -- options --------------------------------------------------------------------------


def test_rate_is_required() -> None:
    """There is no default rate: `Chaos(exception=...)` alone is a TypeError."""
    with pytest.raises(TypeError, match="rate"):
        Chaos(exception=ConnectionError)  # type: ignore[call-arg]


def test_defaults_are_as_documented() -> None:
    """Off by default, no seed, named "chaos"; the repr shows what was given."""
    chaos = Chaos(rate=0.25, exception=ConnectionError)
    assert chaos.enabled is False
    assert chaos.seed is None
    assert chaos.latency is None
    assert chaos.name == "chaos"
    assert repr(chaos) == "Chaos(rate=0.25, exception=ConnectionError)"
    assert repr(Chaos(rate=1, latency=2, result=None, seed=3)) == (
        "Chaos(rate=1, latency=2.0, result=None, seed=3)"
    )


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"rate": -0.1, "latency": 1}, ValueError, r"\brate\b", id="rate-negative"),
        pytest.param({"rate": 1.5, "latency": 1}, ValueError, r"\brate\b", id="rate-above-1"),
        pytest.param({"rate": math.nan, "latency": 1}, ValueError, r"\brate\b", id="rate-nan"),
        pytest.param({"rate": "0.5", "latency": 1}, TypeError, r"\brate\b", id="rate-str"),
        pytest.param({"rate": True, "latency": 1}, TypeError, r"\brate\b", id="rate-bool"),
        pytest.param({"rate": 0.5, "latency": 0}, ValueError, r"\blatency\b", id="latency-0"),
        pytest.param({"rate": 0.5, "latency": -1}, ValueError, r"\blatency\b", id="latency-neg"),
        pytest.param(
            {"rate": 0.5, "latency": math.inf}, ValueError, r"\blatency\b", id="latency-inf"
        ),
        pytest.param({"rate": 0.5, "exception": 3}, TypeError, r"\bexception\b", id="exc-int"),
        pytest.param({"rate": 0.5, "exception": int}, TypeError, r"\bexception\b", id="exc-type"),
        pytest.param({"rate": 0.5}, TypeError, "exception=, latency= or result=", id="nothing"),
        pytest.param(
            {"rate": 0.5, "exception": OSError, "result": 1}, TypeError, "not both", id="exc+res"
        ),
        pytest.param(
            {"rate": 0.5, "latency": 1, "enabled": "yes"}, TypeError, r"\benabled\b", id="enabled"
        ),
        pytest.param({"rate": 0.5, "latency": 1, "seed": -1}, ValueError, r"\bseed\b", id="seed"),
        pytest.param({"rate": 0.5, "latency": 1, "seed": 1.5}, TypeError, r"\bseed\b", id="seed-f"),
        pytest.param({"rate": 0.5, "latency": 1, "name": ""}, ValueError, r"\bname\b", id="name"),
    ],
)
def test_bad_options_say_what_is_wrong(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Each invalid option raises TypeError or ValueError naming the parameter."""
    with pytest.raises(error, match=match):
        Chaos(**options)


def test_an_uncopyable_exception_instance_is_refused() -> None:
    """An exception instance that cannot be copied per injection is refused at construction."""

    class Stubborn(Exception):
        def __reduce_ex__(self, protocol: Any) -> Any:
            raise TypeError("no copies")

    with pytest.raises(TypeError, match="cannot be copied"):
        Chaos(rate=1, exception=Stubborn())


# -- the switch -----------------------------------------------------------------------


def test_off_by_default_nothing_is_injected(events: list[stalwart.Event]) -> None:
    """A Chaos built without `enabled=True` lets every call through, even at rate 1."""
    fn = Counter()
    pipeline = Pipeline(Chaos(rate=1.0, exception=ConnectionError))
    assert [pipeline.call(fn) for _ in range(5)] == ["real"] * 5
    assert fn.calls == 5
    assert injected(events) == []


def test_enable_and_disable_at_run_time() -> None:
    """`enable()` starts injecting in a built pipeline and `disable()` stops it again."""
    chaos = Chaos(rate=1.0, result="fake")
    pipeline = Pipeline(chaos)
    assert pipeline.call(Counter()) == "real"
    chaos.enable()
    assert switched_on(chaos)
    assert pipeline.call(Counter()) == "fake"
    chaos.disable()
    assert not switched_on(chaos)
    assert pipeline.call(Counter()) == "real"
    assert Pipeline(Chaos(rate=1.0, result="fake", enabled=True)).call(Counter()) == "fake"


def test_the_switch_works_from_another_thread() -> None:
    """A switch flipped in another thread is seen by the next call in this one."""
    chaos = Chaos(rate=1.0, result="fake")
    thread = threading.Thread(target=chaos.enable)
    thread.start()
    thread.join()
    assert Pipeline(chaos).call(Counter()) == "fake"


def test_the_switch_takes_no_part_in_equality() -> None:
    """Switching does not change equality or hash; the repr and `replace` show the state."""
    chaos = Chaos(rate=0.5, exception=ConnectionError)
    twin = Chaos(rate=0.5, exception=ConnectionError)
    before = hash(chaos)
    chaos.enable()
    assert chaos == twin
    assert hash(chaos) == before == hash(twin)
    assert repr(chaos) == "Chaos(rate=0.5, exception=ConnectionError, enabled=True)"
    assert chaos.replace(rate=0.1).enabled is True


def test_the_switch_cannot_be_assigned() -> None:
    """`enabled` changes only through enable()/disable(): assigning it raises."""
    chaos = Chaos(rate=0.5, latency=1.0)
    with pytest.raises(AttributeError):
        chaos.enabled = True  # type: ignore[misc]


# -- rate and randomness ----------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.01, 0.3, 0.5, 0.9])
def test_the_injection_rate_over_10000_calls(rate: float) -> None:
    """Over 10,000 calls the share injected is within 0.02 of `rate`, and exactly the
    number of seeded samples below it."""
    with FakeClock(seed=42):
        marks = pattern(Chaos(rate=rate, exception=ConnectionError, enabled=True), 10_000)
    draw = seeded_random(42)
    assert sum(marks) == sum(draw() < rate for _ in range(10_000))
    assert abs(sum(marks) / 10_000 - rate) < 0.02


def test_the_same_clock_seed_gives_the_same_sequence() -> None:
    """Two runs under FakeClock(seed=5) inject on exactly the same calls; seed 6 differs."""
    runs = []
    for seed in (5, 5, 6):
        with FakeClock(seed=seed):
            runs.append(pattern(Chaos(rate=0.5, exception=ConnectionError, enabled=True), 200))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_a_seed_gives_its_own_sequence_whatever_the_clock() -> None:
    """With `seed=`, the sequence is the seed's, under any clock, and the clock draws nothing."""
    runs = []
    for clock_seed in (1, 2):
        with FakeClock(seed=clock_seed) as clock:
            chaos = Chaos(rate=0.5, exception=ConnectionError, enabled=True, seed=9)
            runs.append(pattern(chaos, 200))
            assert clock.random() == seeded_random(clock_seed)()
    assert runs[0] == runs[1]
    draw = seeded_random(9)
    assert runs[0] == [draw() < 0.5 for _ in range(200)]


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_rates_0_and_1_draw_nothing(clock: FakeClock, rate: float) -> None:
    """Rate 0 never injects and rate 1 always does, without drawing a sample."""
    marks = pattern(Chaos(rate=rate, exception=ConnectionError, enabled=True), 50)
    assert marks == [rate == 1.0] * 50
    assert clock.random() == seeded_random(0)()


def test_a_disabled_chaos_draws_nothing(clock: FakeClock) -> None:
    """While switched off, no sample is drawn, so other users of the clock are unaffected."""
    pattern(Chaos(rate=0.5, exception=ConnectionError), 50)
    assert clock.random() == seeded_random(0)()


def test_injects_is_a_pure_decision() -> None:
    """`injects(sample)` is True exactly for samples below the rate."""
    chaos = Chaos(rate=0.25, latency=1.0)
    assert chaos.injects(0.0)
    assert chaos.injects(0.2499)
    assert not chaos.injects(0.25)
    assert not chaos.injects(0.99)


# -- exceptions -------------------------------------------------------------------------


def test_an_exception_instance_is_copied_for_each_injection(events: list[stalwart.Event]) -> None:
    """Each injection raises a fresh copy carrying a note; the template never changes."""
    template = ConnectionError("injected outage")
    fn = Counter()
    pipeline = Pipeline(Chaos(rate=1.0, exception=template, enabled=True, name="outage"))
    raised = []
    for _ in range(3):
        with pytest.raises(ConnectionError, match="injected outage") as info:
            pipeline.call(fn)
        raised.append(info.value)
    assert fn.calls == 0
    assert len({id(error) for error in raised}) == 3
    assert all(error.__notes__ == ["stalwart: injected by outage"] for error in raised)
    assert template.__traceback__ is None
    assert not hasattr(template, "__notes__")
    assert [event.exception for event in injected(events)] == raised
    assert {event.kind for event in injected(events)} == {"exception"}


def test_existing_notes_on_the_template_are_kept_but_not_shared() -> None:
    """A template's own notes appear on each copy, and the copies' notes stay separate."""
    template = ConnectionError("down")
    template.add_note("from the template")
    pipeline = Pipeline(Chaos(rate=1.0, exception=template, enabled=True))
    for _ in range(2):
        with pytest.raises(ConnectionError) as info:
            pipeline.call(Counter())
        assert info.value.__notes__ == ["from the template", "stalwart: injected by chaos"]
    assert template.__notes__ == ["from the template"]


def test_an_exception_type_or_factory_is_called_each_time() -> None:
    """An exception type is instantiated, and a factory called, once per injection."""
    with pytest.raises(TimeoutError):
        Pipeline(Chaos(rate=1.0, exception=TimeoutError, enabled=True)).call(Counter())
    made: list[KeyError] = []

    def factory() -> KeyError:
        made.append(KeyError("k"))
        return made[-1]

    pipeline = Pipeline(Chaos(rate=1.0, exception=factory, enabled=True))
    for _ in range(2):
        with pytest.raises(KeyError) as info:
            pipeline.call(Counter())
        assert info.value is made[-1]
    assert len(made) == 2


def test_a_factory_returning_no_exception_is_reported() -> None:
    """A factory that returns something else raises a TypeError naming the problem."""
    pipeline = Pipeline(Chaos(rate=1.0, exception=lambda: "oops", enabled=True))  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="returned 'oops', not an exception"):
        pipeline.call(Counter())


# -- results ------------------------------------------------------------------------------


def test_a_result_replaces_the_call(events: list[stalwart.Event]) -> None:
    """With `result=`, an injected call returns it without calling (None included)."""
    fn = Counter()
    assert Pipeline(Chaos(rate=1.0, result=None, enabled=True)).call(fn) is None
    assert fn.calls == 0
    [event] = injected(events)
    assert (event.kind, event.latency, event.exception) == ("result", 0.0, None)
    assert event.message() == "chaos: injected a result"


@pytest.mark.anyio
async def test_async_result_and_exception(clock: FakeClock) -> None:
    """`acall` returns an injected result and raises an injected exception too."""
    assert await Pipeline(Chaos(rate=1.0, result=[], enabled=True)).acall(areal) == []
    with pytest.raises(ConnectionError):
        await Pipeline(Chaos(rate=1.0, exception=ConnectionError, enabled=True)).acall(areal)
    assert await Pipeline(Chaos(rate=0.0, result=[], enabled=True)).acall(areal) == "real"


# -- latency ------------------------------------------------------------------------------


def test_latency_advances_the_clock_then_calls(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Injected latency waits its seconds on the clock, then the call runs as usual."""
    fn = Counter()
    assert Pipeline(Chaos(rate=1.0, latency=2.5, enabled=True)).call(fn) == "real"
    assert fn.calls == 1
    assert clock.monotonic() == 2.5
    [event] = injected(events)
    assert (event.kind, event.latency) == ("latency", 2.5)
    assert event.message() == "chaos: injected 2.5 s of latency"


def test_latency_then_exception(clock: FakeClock, events: list[stalwart.Event]) -> None:
    """With latency and an exception, the call fails slowly: the wait, then the raise."""
    fn = Counter()
    with pytest.raises(ConnectionError):
        Pipeline(Chaos(rate=1.0, latency=3.0, exception=ConnectionError, enabled=True)).call(fn)
    assert fn.calls == 0
    assert clock.monotonic() == 3.0
    assert injected(events)[0].message() == (
        "chaos: injected 3 s of latency then ConnectionError: "
    )


@pytest.mark.anyio
async def test_async_latency_advances_the_clock(clock: FakeClock) -> None:
    """In async code injected latency advances the FakeClock and the call still runs."""
    assert await Pipeline(Chaos(rate=1.0, latency=4.0, enabled=True)).acall(areal) == "real"
    assert clock.monotonic() == 4.0


def test_latency_is_bounded_by_the_deadline(clock: FakeClock) -> None:
    """Under a 1 s deadline a 5 s injected latency ends at 1 s with DeadlineExceeded."""
    fn = Counter()
    with pytest.raises(DeadlineExceeded), stalwart.deadline(1.0):
        Pipeline(Chaos(rate=1.0, latency=5.0, enabled=True)).call(fn)
    assert fn.calls == 0
    assert clock.monotonic() == 1.0


@pytest.mark.anyio
async def test_async_latency_is_bounded_by_the_deadline(clock: FakeClock) -> None:
    """In async code too, the deadline cuts an injected latency short."""
    with pytest.raises(DeadlineExceeded):
        async with stalwart.deadline(1.0):
            await Pipeline(Chaos(rate=1.0, latency=5.0, enabled=True)).acall(areal)
    assert clock.monotonic() == 1.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_latency_honours_a_sync_deadline_around_the_event_loop(
    clock: FakeClock, backend: str
) -> None:
    """An event loop run inside a sync deadline cuts injected async latency at that deadline."""
    pipeline = Pipeline(Chaos(rate=1.0, latency=5.0, enabled=True))
    with pytest.raises(DeadlineExceeded), stalwart.deadline(1.0):
        anyio.run(pipeline.acall, areal, backend=backend)
    assert clock.monotonic() == 1.0


def test_latency_is_cancelled_at_once_from_another_thread() -> None:
    """`scope.cancel()` from another thread ends an injected sync latency with Cancelled."""
    fn = Counter()
    with FakeClock(autojump=False) as clock, stalwart.cancel_scope() as scope:

        def cancel_when_sleeping() -> None:
            clock.wait_for_sleepers(1)
            scope.cancel()

        thread = threading.Thread(target=cancel_when_sleeping)
        thread.start()
        with pytest.raises(Cancelled):
            Pipeline(Chaos(rate=1.0, latency=60.0, enabled=True)).call(fn)
        thread.join()
    assert fn.calls == 0
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_async_latency_is_cancelled_at_once() -> None:
    """Cancelling a stalwart scope during an async injected latency raises Cancelled at once."""
    with FakeClock(autojump=False) as clock:
        with pytest.raises(Cancelled):
            async with stalwart.cancel_scope() as scope, anyio.create_task_group() as group:

                async def cancel_when_sleeping() -> None:
                    while clock.sleepers == 0:
                        await anyio.lowlevel.checkpoint()
                    scope.cancel()

                group.start_soon(cancel_when_sleeping)
                await Pipeline(Chaos(rate=1.0, latency=60.0, enabled=True)).acall(areal)
        assert clock.monotonic() == 0.0


# -- in a pipeline --------------------------------------------------------------------------


def test_innermost_a_per_attempt_timeout_cuts_injected_latency(
    clock: FakeClock, events: list[stalwart.Event]
) -> None:
    """Retry, per-attempt Timeout, then Chaos latency: each attempt times out and is retried."""
    pipeline = Pipeline(
        Retry(on=ConnectionError, max_attempts=3, backoff=Backoff.constant(0.5)),
        Timeout(per_attempt=1.0),
        Chaos(rate=1.0, latency=10.0, enabled=True),
    )
    with pytest.raises(DeadlineExceeded):
        pipeline.call(Counter())
    assert clock.monotonic() == 4.0  # 3 attempts of 1 s and 2 waits of 0.5 s
    assert len([event for event in events if isinstance(event, TimeoutExpired)]) == 3
    assert len([event for event in events if isinstance(event, RetryScheduled)]) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_innermost_a_retry_absorbs_injected_faults(seed: int) -> None:
    """With faults at rate 0.5 and 3 attempts, a call fails only after 3 injections in a row;
    the Fallback outside answers exactly those."""
    # Its own seed: the Retry draws jitter samples from the clock between attempts.
    chaos = Chaos(rate=0.5, exception=ConnectionError("injected"), enabled=True, seed=seed)
    pipeline = Pipeline(
        Fallback(on=ConnectionError, value="fallback"),
        Retry(on=ConnectionError, max_attempts=3, backoff=Backoff.constant(0.0)),
        chaos,
    )
    with FakeClock():
        answers = [pipeline.call(Counter()) for _ in range(300)]
    draws = iter(seeded_random(seed), None)
    expected = []
    for _ in range(300):
        for _attempt in range(3):
            if next(draws) >= 0.5:
                expected.append("real")
                break
        else:
            expected.append("fallback")
    assert answers == expected
    assert 0 < answers.count("fallback") < 75


def test_copy_of_a_chaos_is_independent_of_the_original_switch() -> None:
    """`copy.copy` and `replace` produce objects with their own switch."""
    chaos = Chaos(rate=1.0, result="fake")
    twin = copy.copy(chaos)
    chaos.enable()
    assert twin.enabled is False
