"""Backoff: delay bounds for every jitter kind, the cap before jitter, validation, repr."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stalwart import Backoff

# database=None: property tests leave no example database behind in the working tree.
PROPERTY = settings(max_examples=200, deadline=None, database=None)

NAMED_JITTERS = ("full", "equal", "none")

# Realistic ranges for the bounds properties (the overflow test below covers extreme ones).
bases = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e3))
multipliers = st.floats(min_value=1.0, max_value=10.0)
steps = st.floats(min_value=0.0, max_value=1e3)
ratios = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
samples = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
retries = st.integers(min_value=1, max_value=200)
jitters = st.one_of(st.sampled_from(NAMED_JITTERS), ratios)


@st.composite
def backoffs(draw: st.DrawFn, jitter: st.SearchStrategy[object] = jitters) -> Backoff:
    """Any backoff a user can build with a named constructor (decorrelated excluded)."""
    kind = draw(st.sampled_from(["exponential", "linear", "constant"]))
    base = draw(bases)
    chosen = draw(jitter)
    if kind == "constant":
        return Backoff.constant(base, jitter=chosen)  # type: ignore[arg-type]
    cap = draw(st.floats(min_value=base, max_value=1e6))
    if kind == "linear":
        return Backoff.linear(base=base, step=draw(steps), cap=cap, jitter=chosen)  # type: ignore[arg-type]
    return Backoff.exponential(
        base=base,
        cap=cap,
        multiplier=draw(multipliers),
        jitter=chosen,  # type: ignore[arg-type]
    )


def expected_ceiling(backoff: Backoff, retry: int) -> float:
    """The documented un-jittered delay t, computed independently of `Backoff.ceiling`."""
    if backoff.kind == "constant":
        return backoff.base
    if backoff.kind == "linear":
        return min(backoff.cap, backoff.base + backoff.step * (retry - 1))
    try:
        grown = backoff.base * backoff.multiplier ** (retry - 1)
    except OverflowError:
        grown = math.inf
    return min(backoff.cap, grown)


# --- the un-jittered delay ---------------------------------------------------------------


@PROPERTY
@given(backoff=backoffs(), retry=retries)
def test_ceiling_follows_the_documented_formula(backoff: Backoff, retry: int) -> None:
    """`ceiling(n)` is min(cap, base·m^(n−1)), min(cap, base + step·(n−1)) or base, by kind."""
    assert math.isclose(backoff.ceiling(retry), expected_ceiling(backoff, retry), rel_tol=1e-12)


@PROPERTY
@given(backoff=backoffs(), retry=retries)
def test_ceiling_never_exceeds_the_cap(backoff: Backoff, retry: int) -> None:
    """The un-jittered delay is never above the cap, whatever the retry number."""
    assert 0 <= backoff.ceiling(retry) <= backoff.cap


@PROPERTY
@given(backoff=backoffs(), retry=st.integers(min_value=1, max_value=10_000))
def test_ceilings_are_non_decreasing_in_the_retry_number(backoff: Backoff, retry: int) -> None:
    """A later retry never has a smaller un-jittered delay than an earlier one."""
    assert backoff.ceiling(retry) <= backoff.ceiling(retry + 1)


# --- jittered delays within their bounds -----------------------------------------------------


@PROPERTY
@given(backoff=backoffs(jitter=st.just("full")), retry=retries, sample=samples)
def test_full_jitter_is_between_zero_and_the_ceiling(
    backoff: Backoff, retry: int, sample: float
) -> None:
    """Full jitter gives a delay in [0, t]."""
    ceiling = backoff.ceiling(retry)
    assert 0 <= backoff.delay(retry, backoff.base, sample) <= ceiling


@PROPERTY
@given(backoff=backoffs(jitter=st.just("equal")), retry=retries, sample=samples)
def test_equal_jitter_is_between_half_the_ceiling_and_the_ceiling(
    backoff: Backoff, retry: int, sample: float
) -> None:
    """Equal jitter gives a delay in [t/2, t]."""
    ceiling = backoff.ceiling(retry)
    assert ceiling / 2 <= backoff.delay(retry, backoff.base, sample) <= ceiling


@PROPERTY
@given(backoff=backoffs(jitter=st.just("none")), retry=retries, sample=samples)
def test_no_jitter_is_exactly_the_ceiling(backoff: Backoff, retry: int, sample: float) -> None:
    """Without jitter the delay is exactly t, whatever the sample."""
    assert backoff.delay(retry, backoff.base, sample) == backoff.ceiling(retry)


@PROPERTY
@given(backoff=backoffs(jitter=ratios), retry=retries, sample=samples)
def test_ratio_jitter_is_within_plus_or_minus_the_ratio(
    backoff: Backoff, retry: int, sample: float
) -> None:
    """A jitter ratio r gives a delay in [t(1−r), t(1+r)]."""
    ceiling = backoff.ceiling(retry)
    ratio = backoff.jitter
    assert isinstance(ratio, float)
    delay = backoff.delay(retry, backoff.base, sample)
    assert ceiling * (1 - ratio) <= delay <= ceiling * (1 + ratio)


@PROPERTY
@given(backoff=backoffs(), retry=retries, sample=samples)
def test_full_and_equal_and_no_jitter_never_exceed_the_cap(
    backoff: Backoff, retry: int, sample: float
) -> None:
    """With a named jitter other than decorrelated, no delay is ever above the cap."""
    bound = backoff.cap if isinstance(backoff.jitter, str) else backoff.cap * (1 + backoff.jitter)
    assert 0 <= backoff.delay(retry, backoff.base, sample) <= bound


@pytest.mark.parametrize(
    ("jitter", "sample", "expected"),
    [
        pytest.param("full", 0.5, 5.0, id="full-spreads-over-0-to-cap"),
        pytest.param("full", 0.0, 0.0, id="full-can-be-zero-past-the-cap"),
        pytest.param("equal", 0.0, 5.0, id="equal-starts-at-half-the-cap"),
        pytest.param("equal", 0.5, 7.5, id="equal-spreads-over-half-cap-to-cap"),
        pytest.param("none", 0.5, 10.0, id="none-is-the-cap"),
        pytest.param(0.5, 0.0, 5.0, id="ratio-low-end-is-cap-times-1-minus-r"),
        pytest.param(0.5, 0.75, 12.5, id="ratio-can-exceed-the-cap"),
    ],
)
def test_cap_is_applied_before_jitter(jitter: object, sample: float, expected: float) -> None:
    """Past the cap, jitter spreads around the cap itself (min first, then jitter)."""
    backoff = Backoff.exponential(base=1.0, cap=10.0, jitter=jitter)  # type: ignore[arg-type]
    assert backoff.delay(50, 1.0, sample) == pytest.approx(expected)


@PROPERTY
@given(
    base=st.floats(min_value=1e-3, max_value=10.0),
    ratio=st.floats(min_value=0.01, max_value=1.0),
    sample=st.floats(min_value=0.999, max_value=1.0, exclude_max=True),
)
def test_ratio_jitter_bound_is_cap_times_one_plus_r(
    base: float, ratio: float, sample: float
) -> None:
    """Ratio jitter past the cap goes above the cap, up to cap·(1+r)."""
    backoff = Backoff.exponential(base=base, cap=base * 4, jitter=ratio)
    delay = backoff.delay(100, base, sample)
    assert backoff.cap < delay <= backoff.cap * (1 + ratio)


# --- decorrelated jitter ----------------------------------------------------------------------


@PROPERTY
@given(
    kind=st.sampled_from(["exponential", "linear", "constant"]),
    base=st.floats(min_value=1e-6, max_value=1e3),
    spread=st.floats(min_value=1.0, max_value=1e4),
    draws=st.lists(samples, min_size=1, max_size=30),
)
def test_decorrelated_jitter_stays_within_base_and_three_times_previous(
    kind: str, base: float, spread: float, draws: list[float]
) -> None:
    """Decorrelated delays, chained from previous = base, lie in [base, min(cap, 3·previous)]."""
    if kind == "constant":
        backoff = Backoff.constant(base, jitter="decorrelated")
    else:
        backoff = Backoff(kind=kind, base=base, cap=base * spread, jitter="decorrelated")  # type: ignore[arg-type]
    previous = base
    for retry, sample in enumerate(draws, start=1):
        delay = backoff.delay(retry, previous, sample)
        assert base <= delay <= min(backoff.cap, 3 * previous)
        previous = delay


def test_decorrelated_jitter_grows_from_base() -> None:
    """The first decorrelated delay spans [base, 3·base), and sample 0 gives base."""
    backoff = Backoff.exponential(base=1.0, cap=100.0, jitter="decorrelated")
    assert backoff.delay(1, 1.0, 0.0) == 1.0
    assert backoff.delay(1, 1.0, 0.5) == pytest.approx(2.0)
    assert backoff.delay(2, 2.0, 0.5) == pytest.approx(3.5)
    assert backoff.delay(9, 90.0, 0.99) == 100.0


# --- huge retry numbers -----------------------------------------------------------------------


positive_seconds = st.floats(min_value=5e-324, max_value=1e308)


@PROPERTY
@given(
    ends=st.tuples(positive_seconds, positive_seconds).map(sorted),
    multiplier=st.floats(min_value=1.5, max_value=1e6),
    retry=st.integers(min_value=10_000, max_value=10**18),
    jitter=st.sampled_from(NAMED_JITTERS),
)
@example(ends=[1e-10, 1e300], multiplier=2.0, retry=10_000, jitter="none")
@example(ends=[1e-310, 10.0], multiplier=2.0, retry=10_000, jitter="none")
@example(ends=[5e-324, 1.0], multiplier=2.0, retry=10_000, jitter="full")
def test_huge_retry_numbers_give_the_cap_without_overflow(
    ends: list[float], multiplier: float, retry: int, jitter: str
) -> None:
    """An exponential backoff at retry 10_000 or later never overflows and gives the cap."""
    base, cap = ends
    backoff = Backoff.exponential(base=base, cap=cap, multiplier=multiplier, jitter=jitter)  # type: ignore[arg-type]
    assert backoff.ceiling(retry) == cap
    assert 0 <= backoff.delay(retry, base, 0.5) <= cap


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        pytest.param(Backoff.exponential(jitter="none"), 10.0, id="exponential-default"),
        pytest.param(
            Backoff.exponential(base=1.0, cap=60.0, multiplier=1.5, jitter="none"),
            60.0,
            id="exponential-x1.5",
        ),
        pytest.param(Backoff.linear(jitter="none"), 10.0, id="linear-default"),
        pytest.param(
            Backoff.linear(base=1.0, step=0.001, cap=5.0, jitter="none"), 5.0, id="linear-tiny-step"
        ),
        pytest.param(Backoff.constant(2.0), 2.0, id="constant"),
    ],
)
@pytest.mark.parametrize("retry", [10_000, 10**9, 10**18])
def test_huge_retry_numbers_give_the_cap(backoff: Backoff, expected: float, retry: int) -> None:
    """Every kind gives its cap (constant: its delay) for enormous retry numbers."""
    assert backoff.ceiling(retry) == expected
    assert backoff.delay(retry, backoff.base, 0.5) == expected


# --- named constructors -----------------------------------------------------------------------


def test_exponential_defaults() -> None:
    """`Backoff.exponential()` is base 0.1 s, cap 10 s, ×2, full jitter."""
    backoff = Backoff.exponential()
    assert (backoff.kind, backoff.base, backoff.cap, backoff.multiplier, backoff.jitter) == (
        "exponential",
        0.1,
        10.0,
        2.0,
        "full",
    )
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert backoff.ceiling(100) == 10.0


def test_bare_backoff_is_the_exponential_default() -> None:
    """`Backoff()` with no arguments equals `Backoff.exponential()`."""
    assert Backoff() == Backoff.exponential()


def test_linear_defaults() -> None:
    """`Backoff.linear()` is base 0.1 s, step = base, cap 10 s, full jitter."""
    backoff = Backoff.linear()
    assert (backoff.kind, backoff.base, backoff.step, backoff.cap, backoff.jitter) == (
        "linear",
        0.1,
        0.1,
        10.0,
        "full",
    )


def test_linear_step_defaults_to_base() -> None:
    """`Backoff.linear(base=1.0)` waits 1, 2, 3 ... s before jitter."""
    backoff = Backoff.linear(base=1.0)
    assert backoff.step == 1.0
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 4.0]


def test_linear_explicit_step_is_kept() -> None:
    """An explicit `step`, including 0, is used instead of the base."""
    assert Backoff.linear(base=1.0, step=0.0).ceiling(5) == 1.0
    assert Backoff.linear(base=1.0, step=0.5).ceiling(3) == 2.0


def test_constant_defaults_to_no_jitter() -> None:
    """`Backoff.constant(d)` waits exactly d every time: 0.1 s by default, no jitter."""
    assert Backoff.constant().base == 0.1
    backoff = Backoff.constant(2.0)
    assert backoff.jitter == "none"
    assert {backoff.delay(n, 2.0, s) for n in (1, 5, 100) for s in (0.0, 0.3, 0.99)} == {2.0}


# --- validation -------------------------------------------------------------------------------

NAN = math.nan
INF = math.inf


@pytest.mark.parametrize(
    ("build", "error", "parameter"),
    [
        pytest.param(
            lambda: Backoff.exponential(base=-1.0), ValueError, "base", id="base-negative"
        ),
        pytest.param(lambda: Backoff.exponential(base=NAN), ValueError, "base", id="base-nan"),
        pytest.param(lambda: Backoff.exponential(base=INF), ValueError, "base", id="base-inf"),
        pytest.param(lambda: Backoff.exponential(base=True), TypeError, "base", id="base-bool"),
        pytest.param(lambda: Backoff.exponential(base="1"), TypeError, "base", id="base-str"),
        pytest.param(
            lambda: Backoff.exponential(base=10**400, cap=10**401),
            ValueError,
            "base",
            id="base-int-too-large-for-float",
        ),
        pytest.param(lambda: Backoff.exponential(cap=-1.0), ValueError, "cap", id="cap-negative"),
        pytest.param(lambda: Backoff.exponential(cap=NAN), ValueError, "cap", id="cap-nan"),
        pytest.param(lambda: Backoff.exponential(cap=INF), ValueError, "cap", id="cap-inf"),
        pytest.param(lambda: Backoff.exponential(cap=False), TypeError, "cap", id="cap-bool"),
        pytest.param(
            lambda: Backoff.exponential(base=2.0, cap=1.0), ValueError, "cap", id="cap-below-base"
        ),
        pytest.param(
            lambda: Backoff.linear(base=2.0, cap=1.0), ValueError, "cap", id="linear-cap-below-base"
        ),
        pytest.param(
            lambda: Backoff.exponential(multiplier=0.5),
            ValueError,
            "multiplier",
            id="multiplier-below-1",
        ),
        pytest.param(
            lambda: Backoff.exponential(multiplier=NAN),
            ValueError,
            "multiplier",
            id="multiplier-nan",
        ),
        pytest.param(
            lambda: Backoff.exponential(multiplier=INF),
            ValueError,
            "multiplier",
            id="multiplier-inf",
        ),
        pytest.param(
            lambda: Backoff.exponential(multiplier=True),
            TypeError,
            "multiplier",
            id="multiplier-bool",
        ),
        pytest.param(lambda: Backoff.linear(step=-1.0), ValueError, "step", id="step-negative"),
        pytest.param(lambda: Backoff.linear(step=True), TypeError, "step", id="step-bool"),
        pytest.param(lambda: Backoff.exponential(jitter=0), ValueError, "jitter", id="ratio-0"),
        pytest.param(lambda: Backoff.exponential(jitter=0.0), ValueError, "jitter", id="ratio-0.0"),
        pytest.param(
            lambda: Backoff.exponential(jitter=1.5), ValueError, "jitter", id="ratio-above-1"
        ),
        pytest.param(
            lambda: Backoff.exponential(jitter=-0.1), ValueError, "jitter", id="ratio-negative"
        ),
        pytest.param(lambda: Backoff.exponential(jitter=NAN), ValueError, "jitter", id="ratio-nan"),
        pytest.param(
            lambda: Backoff.exponential(jitter="fulll"), ValueError, "jitter", id="jitter-unknown"
        ),
        pytest.param(
            lambda: Backoff.exponential(jitter=True), TypeError, "jitter", id="jitter-bool"
        ),
        pytest.param(
            lambda: Backoff.exponential(jitter=None), TypeError, "jitter", id="jitter-none-object"
        ),
        pytest.param(
            lambda: Backoff.exponential(base=0.0, jitter="decorrelated"),
            ValueError,
            "base",
            id="decorrelated-base-0",
        ),
        pytest.param(lambda: Backoff.constant(-1.0), ValueError, "delay", id="constant-negative"),
        pytest.param(lambda: Backoff.constant(True), TypeError, "delay", id="constant-bool"),
        pytest.param(lambda: Backoff(kind="fibonacci"), ValueError, "kind", id="kind-unknown"),
    ],
)
def test_bad_input_is_rejected_naming_the_parameter(
    build: object, error: type[Exception], parameter: str
) -> None:
    """Invalid options raise ValueError or TypeError whose message names the parameter."""
    assert callable(build)
    with pytest.raises(error, match=parameter):
        build()


def test_jitter_ratio_of_one_is_accepted() -> None:
    """The ratio range is (0, 1]: exactly 1 is valid and spans [0, 2t]."""
    backoff = Backoff.exponential(base=1.0, cap=1.0, jitter=1.0)
    assert backoff.delay(1, 1.0, 0.0) == 0.0
    assert backoff.delay(1, 1.0, 0.75) == 1.5


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        pytest.param({"cap": -1.0}, "cap", id="cap-negative"),
        pytest.param({"base": 100.0}, "cap", id="base-above-cap"),
        pytest.param({"multiplier": 0.9}, "multiplier", id="multiplier-below-1"),
        pytest.param({"jitter": "sometimes"}, "jitter", id="jitter-unknown"),
        pytest.param({"jitter": 2.0}, "jitter", id="ratio-above-1"),
        pytest.param({"base": 0.0, "jitter": "decorrelated"}, "base", id="decorrelated-base-0"),
    ],
)
def test_replace_validates_again(changes: dict[str, object], parameter: str) -> None:
    """`replace()` rejects a change that the constructor would have rejected."""
    with pytest.raises(ValueError, match=parameter):
        Backoff.exponential().replace(**changes)


def test_replace_returns_a_changed_copy() -> None:
    """`replace()` returns a new backoff with the change and leaves the original alone."""
    original = Backoff.exponential()
    changed = original.replace(cap=30.0)
    assert changed.cap == 30.0
    assert original.cap == 10.0
    assert changed == Backoff.exponential(cap=30.0)


def test_constant_replace_keeps_base_within_cap() -> None:
    """A constant backoff's delay cannot be raised above its cap through `replace()`."""
    with pytest.raises(ValueError, match="cap"):
        Backoff.constant(1.0).replace(base=2.0)


# --- repr ---------------------------------------------------------------------------------


def round_trip(backoff: Backoff) -> Backoff:
    result = eval(repr(backoff), {"Backoff": Backoff})
    assert isinstance(result, Backoff)
    return result


@pytest.mark.parametrize(
    "backoff",
    [
        pytest.param(Backoff.exponential(), id="exponential-default"),
        pytest.param(Backoff(), id="bare"),
        pytest.param(
            Backoff.exponential(base=0.5, cap=30.0, jitter=0.2), id="exponential-grpc-like"
        ),
        pytest.param(
            Backoff.exponential(base=0.25, cap=7.0, multiplier=1.6, jitter="equal"),
            id="exponential-multiplier",
        ),
        pytest.param(
            Backoff.exponential(base=1.0, cap=60.0, jitter="decorrelated"), id="decorrelated"
        ),
        pytest.param(Backoff.linear(), id="linear-default"),
        pytest.param(Backoff.linear(base=1.0, step=0.5, cap=4.0, jitter="none"), id="linear"),
        pytest.param(Backoff.constant(), id="constant-default"),
        pytest.param(Backoff.constant(2.0, jitter="full"), id="constant-full"),
        pytest.param(Backoff.constant(0.3, jitter=0.1), id="constant-ratio"),
    ],
)
def test_repr_round_trips(backoff: Backoff) -> None:
    """`eval(repr(b))` rebuilds an equal backoff, and the repr names a constructor."""
    assert repr(backoff).startswith(f"Backoff.{backoff.kind}(")
    assert round_trip(backoff) == backoff


@PROPERTY
@given(backoff=backoffs())
def test_repr_round_trips_for_any_named_backoff(backoff: Backoff) -> None:
    """Every backoff built by a named constructor survives `eval(repr(b))`."""
    assert round_trip(backoff) == backoff


@pytest.mark.parametrize(
    "backoff",
    [
        pytest.param(
            Backoff.constant(1.0, jitter="decorrelated").replace(cap=5.0),
            id="constant-decorrelated-with-a-higher-cap",
        ),
        pytest.param(Backoff.linear(base=1.0).replace(multiplier=3.0), id="linear-multiplier"),
        pytest.param(Backoff.exponential().replace(step=1.0), id="exponential-step"),
    ],
)
def test_repr_round_trips_after_replace(backoff: Backoff) -> None:
    """A backoff changed through `replace()` still survives `eval(repr(b))`."""
    assert round_trip(backoff) == backoff
