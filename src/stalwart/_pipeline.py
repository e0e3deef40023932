"""Pipeline: strategies composed outermost first, with sync and async entry points."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, final, overload

from ._strategies._base import Runner, Strategy, invoke
from ._strategies.hedge import Hedge
from ._strategies.retry import Retry
from ._strategies.timeout import Timeout

__all__ = ["Pipeline"]

P = ParamSpec("P")
T = TypeVar("T")


@final
class Pipeline:
    """Strategies around a call, outermost first, as in Polly:

    ```python
    pipeline = stalwart.Pipeline(
        stalwart.Timeout(total=10.0),
        stalwart.Retry(on=ConnectionError, max_attempts=3),
        stalwart.Timeout(per_attempt=2.0),
    )
    user = pipeline.call(fetch_user, 42)              # sync
    user = await pipeline.acall(afetch_user, 42)      # async (asyncio or trio)

    @pipeline                                         # keeps signature and sync/async kind
    def fetch_user(uid: int) -> User: ...
    ```

    A pipeline is immutable, thread-safe, and validated when built:

    - at most one `Retry` or `Hedge` (retrying at several layers multiplies the load);
    - `Timeout(total=...)` outside the `Retry`/`Hedge`, `Timeout(per_attempt=...)` inside;
    - no per-attempt timeout longer than a total one, and no hedge scheduled to start
      after the total timeout (`max_hedges × delay < total`).

    The recommended order, outermost first: `Fallback`, `Bulkhead`/`RateLimiter`,
    `Timeout(total=...)`, `Retry` (with a `RetryBudget`) or `Hedge`, `CircuitBreaker`,
    `AdaptiveThrottle`, `Timeout(per_attempt=...)`, `Chaos`.

    `Pipeline()` with no strategies just calls the function.
    """

    __slots__ = ("_runner", "strategies")

    def __init__(self, *strategies: Strategy) -> None:
        for position, strategy in enumerate(strategies):
            if not isinstance(strategy, Strategy):
                raise TypeError(
                    f"Pipeline takes stalwart strategies; argument {position} is {strategy!r}"
                )
        _validate(strategies)
        runner: Runner = invoke
        for strategy in reversed(strategies):
            runner = strategy._bind(runner)
        object.__setattr__(self, "strategies", strategies)
        object.__setattr__(self, "_runner", runner)

    strategies: tuple[Strategy, ...]
    _runner: Runner

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Pipeline is immutable; build a new one instead of setting {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Pipeline is immutable; {name} cannot be deleted")

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(repr(strategy) for strategy in self.strategies)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self.strategies == other.strategies

    def __hash__(self) -> int:
        return hash(self.strategies)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` through the pipeline and return its result."""
        return self._runner.call(fn, args, kwargs)  # type: ignore[no-any-return]

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await `fn(*args, **kwargs)` through the pipeline and return its result."""
        return await self._runner.acall(fn, args, kwargs)  # type: ignore[no-any-return]

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, T]]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate `fn` so every call goes through the pipeline."""
        runner = self._runner
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await runner.acall(fn, args, kwargs)

            return run_async

        @functools.wraps(fn)
        def run_sync(*args: P.args, **kwargs: P.kwargs) -> Any:
            return runner.call(fn, args, kwargs)

        return run_sync


def _validate(strategies: tuple[Strategy, ...]) -> None:
    multipliers = [i for i, s in enumerate(strategies) if isinstance(s, Retry | Hedge)]
    if len(multipliers) > 1:
        kinds = ", ".join(f"{type(strategies[i]).__name__} at {i}" for i in multipliers)
        raise ValueError(
            "a pipeline takes at most one Retry or Hedge: retrying or hedging at several "
            f"layers multiplies the load on the callee ({kinds})"
        )
    layer_at = multipliers[0] if multipliers else None
    layer = type(strategies[layer_at]).__name__ if layer_at is not None else "Retry"
    timeouts = [(i, s) for i, s in enumerate(strategies) if isinstance(s, Timeout)]
    for position, timeout in timeouts:
        if timeout.total is not None and layer_at is not None and position > layer_at:
            raise ValueError(
                f"Timeout(total={timeout.total:g}) is inside the {layer}, where it would "
                f"bound each attempt: put it before the {layer}, or use per_attempt="
            )
        if timeout.per_attempt is not None and (layer_at is None or position < layer_at):
            raise ValueError(
                f"Timeout(per_attempt={timeout.per_attempt:g}) needs a Retry or Hedge before "
                "it (outside it); to bound the whole call use total="
            )
    totals = [t.total for _, t in timeouts if t.total is not None]
    if not totals:
        return
    total = min(totals)
    for _, timeout in timeouts:
        per_attempt = timeout.per_attempt
        if per_attempt is not None and per_attempt > total:
            raise ValueError(
                f"Timeout(per_attempt={per_attempt:g}) is longer than "
                f"Timeout(total={total:g}): an attempt can never use it all"
            )
    for strategy in strategies:
        if isinstance(strategy, Hedge) and isinstance(strategy.delay, int | float):
            spread = strategy.max_hedges * strategy.delay
            if math.isfinite(spread) and spread >= total:
                raise ValueError(
                    f"Hedge(max_hedges={strategy.max_hedges}, delay={strategy.delay:g}) "
                    f"starts its last hedge after {spread:g} s, at or beyond "
                    f"Timeout(total={total:g})"
                )
