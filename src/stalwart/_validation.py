"""Argument checks shared by every options object: messages always name the parameter."""

from __future__ import annotations

import math

__all__ = ["check_int", "check_number"]


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    allow_inf: bool = False,
) -> float:
    """`value` as a float, or a TypeError/ValueError naming `name`.

    Rejects bools, non-numbers, NaN, infinities (unless `allow_inf`), ints too large for
    a float, and values below `minimum`, not above `above`, or above `maximum`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got {value!r}") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    if above is not None and number <= above:
        raise ValueError(f"{name} must be > {above:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value!r}")
    return number


def check_int(name: str, value: object, *, minimum: int) -> int:
    """`value` as an int >= `minimum`, or a TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value
