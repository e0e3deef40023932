"""Chaos: inject faults, latency or results at a rate, to test that the rest holds up.

Polly's Simmy, in one strategy: each call, while the strategy is enabled, draws one
sample and injects with probability `rate`. The decision (`Chaos.injects`) is pure;
the drivers only sleep through the clock, raise, return or call.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, final

from .. import _context
from .._clock import current_clock, seeded_random
from .._events import Event, emit
from .._validation import check_int, check_number
from ._base import Runner, Strategy, check_name, options_repr

__all__ = ["Chaos", "ChaosInjected"]


@final
class _Unset:
    """The default of `result`: no result is injected (None is a valid result)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ChaosInjected(Event):
    """Chaos injected a fault into one call, before acting on it.

    `kind` says what replaced the call: `"exception"` (raised: `exception`), `"result"`
    (returned instead of calling), or `"latency"` (the call still ran, late). `latency`
    is the delay injected first, in seconds (0.0 for none).
    """

    name: ClassVar[str] = "chaos_injected"
    level: ClassVar[int] = logging.INFO
    kind: Literal["exception", "result", "latency"]
    latency: float
    exception: BaseException | None

    def message(self) -> str:
        parts = [f"{self.latency:g} s of latency"] if self.latency else []
        if self.exception is not None:
            parts.append(f"{type(self.exception).__qualname__}: {self.exception}")
        elif self.kind == "result":
            parts.append("a result")
        return f"{self.strategy}: injected {' then '.join(parts)}"


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Chaos(Strategy):
    """Inject faults, latency or results into a share of calls, switchable at run time.

    ```python
    chaos = stalwart.Chaos(rate=0.1, exception=ConnectionError)   # built switched off
    pipeline = stalwart.Pipeline(stalwart.Retry(on=ConnectionError), chaos)
    chaos.enable()               # from a test, a feature flag or an admin endpoint
    stalwart.Chaos(rate=0.05, latency=2.0, enabled=True)          # slow calls
    stalwart.Chaos(rate=1.0, result=[], enabled=True)             # an empty answer
    ```

    - `rate` (required): the probability, in [0, 1], that a call is injected; 0 never,
      1 every call.
    - `exception`: what to raise instead of calling: an exception instance (a fresh
      copy is raised each time, so tracebacks and notes never pile up), an exception
      type, or a function returning an exception (called each time). Every injected
      exception carries a note naming this strategy.
    - `latency`: seconds (finite, > 0) to wait before the rest, on the stalwart clock:
      cancellation ends the wait at once, and the deadline bounds it (`DeadlineExceeded`
      when it comes first, so a `Timeout` sees a slow call). With neither `exception`
      nor `result`, the call then runs as usual.
    - `result`: a value returned instead of calling (the same object each time; None is
      a valid result).

    At least one of the three; `latency` may come with `exception` or `result` (a slow
    failure or a slow answer), which exclude each other.

    - `enabled=False`: chaos is **off until switched on**, so one left in a production
      pipeline does nothing. `enable()` and `disable()` flip it at run time, from any
      thread; `enabled` is the current state. It is the one option that changes after
      construction, so it takes no part in equality or hashing; `replace` keeps it.
    - `seed=None`: randomness comes from the current clock (`clock.random()`), so a
      seeded `FakeClock` makes the injections repeatable; with a `seed` (an int) this
      strategy draws from its own generator instead, repeatable whatever the clock.
      One sample is drawn per call while enabled with 0 < rate < 1, none otherwise.
    - `name="chaos"`: how events and notes name this strategy.

    Place it last (innermost), after a per-attempt `Timeout`, so every strategy outside
    it faces the injected faults as it would a real callee's.
    """

    rate: float
    exception: BaseException | Callable[[], BaseException] | None = None
    latency: float | None = None
    result: Any = field(default=_UNSET, hash=False)
    enabled: bool = field(default=False, compare=False)
    seed: int | None = None
    name: str = "chaos"
    _random: Callable[[], float] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_number("rate", self.rate, minimum=0, maximum=1)
        source = self.exception
        if isinstance(source, BaseException):
            try:
                copy.copy(source)
            except Exception as error:
                raise TypeError(
                    f"exception {source!r} cannot be copied for each injection; "
                    "give its type or a function returning a fresh one"
                ) from error
        elif isinstance(source, type):
            if not issubclass(source, BaseException):
                raise TypeError(f"exception must be an exception type, got {source!r}")
        elif source is not None and not callable(source):
            raise TypeError(
                "exception must be an exception, an exception type or a function "
                f"returning one, got {source!r}"
            )
        if self.latency is not None:
            object.__setattr__(self, "latency", check_number("latency", self.latency, above=0))
        has_result = self.result is not _UNSET
        if source is None and self.latency is None and not has_result:
            raise TypeError("Chaos needs something to inject: exception=, latency= or result=")
        if source is not None and has_result:
            raise TypeError("give Chaos either `exception=` or `result=`, not both")
        if not isinstance(self.enabled, bool):
            raise TypeError(f"enabled must be True or False, got {self.enabled!r}")
        random = None
        if self.seed is not None:
            random = seeded_random(check_int("seed", self.seed, minimum=0))
        object.__setattr__(self, "_random", random)
        check_name(self.name)

    __repr__ = options_repr

    # -- the run-time switch --------------------------------------------------------------

    def enable(self) -> None:
        """Start injecting (from any thread); calls already past the decision are unaffected."""
        object.__setattr__(self, "enabled", True)

    def disable(self) -> None:
        """Stop injecting (from any thread); an injected wait already started runs on."""
        object.__setattr__(self, "enabled", False)

    # -- decisions -----------------------------------------------------------------------

    def replace(self, **changes: Any) -> Chaos:
        """A copy with some options changed (the current switch state kept), validated
        again; a seeded copy restarts its sequence."""
        return dataclasses.replace(self, **changes)

    def injects(self, sample: float) -> bool:
        """Whether a call with uniform `sample` in [0, 1) is injected, if enabled; no I/O."""
        return sample < self.rate

    @property
    def kind(self) -> Literal["exception", "result", "latency"]:
        """What replaces an injected call: `"exception"`, `"result"` or `"latency"`."""
        if self.exception is not None:
            return "exception"
        if self.result is not _UNSET:
            return "result"
        return "latency"

    def _roll(self) -> bool:
        """Decide one call: switched on, and the draw falls under the rate."""
        if not self.enabled:
            return False
        rate = self.rate
        if rate >= 1.0 or rate <= 0.0:
            return rate >= 1.0
        draw = self._random if self._random is not None else current_clock().random
        return self.injects(draw())

    def _inject(self) -> BaseException | None:
        """Make the exception to raise (None if none) and report the injection."""
        source = self.exception
        error: BaseException | None = None
        if source is not None:
            if isinstance(source, BaseException):
                error = copy.copy(source)
            else:
                error = source()
                if not isinstance(error, BaseException):
                    raise TypeError(
                        f"{self.name}: exception= function {source!r} returned {error!r}, "
                        "not an exception"
                    )
            # A fresh list: a copy shares its template's notes list.
            notes = [*getattr(error, "__notes__", ()), f"stalwart: injected by {self.name}"]
            error.__notes__ = notes
        emit(
            ChaosInjected(
                strategy=self.name, kind=self.kind, latency=self.latency or 0.0, exception=error
            )
        )
        return error

    def _bind(self, inner: Runner) -> Runner:
        return _ChaosRunner(self, inner)


@final
class _ChaosRunner:
    __slots__ = ("_chaos", "_inner")

    def __init__(self, chaos: Chaos, inner: Runner) -> None:
        self._chaos = chaos
        self._inner = inner

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        chaos = self._chaos
        if not chaos._roll():
            return self._inner.call(fn, args, kwargs)
        error = chaos._inject()
        if chaos.latency is not None:
            _context.sleep(chaos.latency)
        if error is not None:
            raise error
        if chaos.result is not _UNSET:
            return chaos.result
        return self._inner.call(fn, args, kwargs)

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        chaos = self._chaos
        if not chaos._roll():
            return await self._inner.acall(fn, args, kwargs)
        error = chaos._inject()
        if chaos.latency is not None:
            await _context.asleep(chaos.latency)
        if error is not None:
            raise error
        if chaos.result is not _UNSET:
            return chaos.result
        return await self._inner.acall(fn, args, kwargs)
