"""Backoff: pure delay functions, with no clock, no I/O and no hidden randomness.

`Backoff.delay(retry, previous, sample)` is a plain function of its arguments: the retry
number (1 for the wait before the second attempt), the previous delay (used by
decorrelated jitter) and a uniform sample in [0, 1) that the caller draws from the
clock's random source. That makes every formula testable with Hypothesis.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal, TypeAlias, final

__all__ = ["Backoff", "Jitter"]

#: `"full"`, `"equal"`, `"decorrelated"`, `"none"`, or a ratio r in (0, 1] for ±r·delay.
Jitter: TypeAlias = Literal["full", "equal", "decorrelated", "none"] | float

_JITTER_NAMES = ("full", "equal", "decorrelated", "none")
_Kind = Literal["constant", "linear", "exponential"]


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _seconds(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not _finite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Backoff:
    """How long to wait before each retry. Build one with a named constructor:

    ```python
    Backoff.exponential()                      # base 0.1 s, ×2, cap 10 s, full jitter
    Backoff.exponential(base=0.5, cap=30, jitter=0.2)   # ±20%, like gRPC
    Backoff.linear(base=1.0)                   # 1, 2, 3 ... s, full jitter
    Backoff.constant(2.0, jitter="none")       # 2 s every time
    ```

    For retry number n (1-based), the un-jittered delay t is
    `min(cap, base · multiplier^(n−1))` (exponential), `min(cap, base + step · (n−1))`
    (linear) or `base` (constant): the cap is applied *before* jitter. Then:

    | jitter | delay | bounds |
    |---|---|---|
    | `"full"` | `U(0, t)` | [0, t] |
    | `"equal"` | `t/2 + U(0, t/2)` | [t/2, t] |
    | `"none"` | `t` | t |
    | r (0 < r ≤ 1) | `t · (1 + r · U(−1, 1))` | [t(1−r), t(1+r)] |
    | `"decorrelated"` | `min(cap, U(base, 3·previous))` | [base, min(cap, 3·previous)] |

    (`previous` is the delay before; it starts at `base`.)

    Decorrelated jitter ignores the kind's growth formula: it grows by itself, as in
    Brooker's "Exponential Backoff and Jitter". Full jitter is the default because it
    does the least work under contention.
    """

    kind: _Kind = "exponential"
    base: float = 0.1
    cap: float = 10.0
    multiplier: float = 2.0
    step: float = 0.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "linear", "exponential"):
            raise ValueError(f"kind must be constant, linear or exponential, got {self.kind!r}")
        base = _seconds("base", self.base)
        cap = _seconds("cap", self.cap)
        if cap < base:
            raise ValueError(f"cap must be >= base, got cap={cap!r} < base={base!r}")
        _seconds("step", self.step)
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, int | float):
            raise TypeError(f"multiplier must be a number, got {self.multiplier!r}")
        if not (_finite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        jitter = self.jitter
        if isinstance(jitter, str):
            if jitter not in _JITTER_NAMES:
                raise ValueError(
                    f"jitter must be one of {', '.join(_JITTER_NAMES)} or a ratio, got {jitter!r}"
                )
        elif isinstance(jitter, bool) or not isinstance(jitter, int | float):
            raise TypeError(f"jitter must be a name or a ratio, got {jitter!r}")
        elif not 0 < jitter <= 1:
            raise ValueError(f"jitter ratio must be in (0, 1], got {jitter!r}")
        if self.jitter == "decorrelated" and base == 0:
            raise ValueError("decorrelated jitter needs base > 0: it grows from base")

    def __repr__(self) -> str:
        named = self._named_repr()
        if named is not None:
            return named
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("kind", "base", "cap", "multiplier", "step", "jitter")
        )
        return f"Backoff({fields})"

    def _named_repr(self) -> str | None:
        """The named-constructor spelling, when it rebuilds exactly this backoff."""
        if self.kind == "constant":
            if self.cap != self.base or self.multiplier != 2.0 or self.step != 0.0:
                return None
            extra = "" if self.jitter == "none" else f", jitter={self.jitter!r}"
            return f"Backoff.constant({self.base!r}{extra})"
        if (self.kind == "linear" and self.multiplier != 2.0) or (
            self.kind == "exponential" and self.step != 0.0
        ):
            return None
        args = [f"base={self.base!r}"]
        if self.kind == "linear":
            args.append(f"step={self.step!r}")
        args.append(f"cap={self.cap!r}")
        if self.kind == "exponential" and self.multiplier != 2.0:
            args.append(f"multiplier={self.multiplier!r}")
        args.append(f"jitter={self.jitter!r}")
        return f"Backoff.{self.kind}({', '.join(args)})"

    @classmethod
    def exponential(
        cls,
        *,
        base: float = 0.1,
        cap: float = 10.0,
        multiplier: float = 2.0,
        jitter: Jitter = "full",
    ) -> Backoff:
        """`min(cap, base · multiplier^(n−1))`, then jitter; defaults 0.1 s, 10 s, ×2, full."""
        return cls(kind="exponential", base=base, cap=cap, multiplier=multiplier, jitter=jitter)

    @classmethod
    def linear(
        cls,
        *,
        base: float = 0.1,
        step: float | None = None,
        cap: float = 10.0,
        jitter: Jitter = "full",
    ) -> Backoff:
        """`min(cap, base + step · (n−1))`, then jitter; `step` defaults to `base`."""
        return cls(
            kind="linear",
            base=base,
            step=base if step is None else step,
            cap=cap,
            jitter=jitter,
        )

    @classmethod
    def constant(cls, delay: float = 0.1, *, jitter: Jitter = "none") -> Backoff:
        """The same `delay` before every retry (no jitter unless asked for)."""
        _seconds("delay", delay)
        return cls(kind="constant", base=delay, cap=delay, jitter=jitter)

    def replace(self, **changes: object) -> Backoff:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def ceiling(self, retry: int) -> float:
        """The un-jittered delay t for retry number `retry` (1-based), cap applied."""
        if self.kind == "constant":
            return self.base
        if self.kind == "linear":
            return min(self.cap, self.base + self.step * (retry - 1))
        if self.base == 0 or self.multiplier == 1:
            return min(self.cap, self.base)
        exponent = retry - 1
        # Compared in logarithms: cap / base itself can overflow for tiny bases.
        steps_to_cap = (math.log(self.cap) - math.log(self.base)) / math.log(self.multiplier)
        if self.multiplier > 1 and exponent > steps_to_cap:
            return self.cap  # also keeps multiplier ** exponent from overflowing
        return min(self.cap, self.base * self.multiplier**exponent)

    def delay(self, retry: int, previous: float, sample: float) -> float:
        """The delay before retry number `retry`.

        `previous` is the delay returned for the retry before (use `base` for the first);
        `sample` is a uniform draw in [0, 1).
        """
        jitter = self.jitter
        if jitter == "decorrelated":
            high = max(self.base, 3 * previous)
            return min(self.cap, self.base + sample * (high - self.base))
        ceiling = self.ceiling(retry)
        if jitter == "full":
            return ceiling * sample
        if jitter == "equal":
            return ceiling / 2 + ceiling / 2 * sample
        if jitter == "none":
            return ceiling
        assert isinstance(jitter, float | int)
        return max(0.0, ceiling * (1 + jitter * (2 * sample - 1)))
