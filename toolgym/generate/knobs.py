"""Knob helpers shared by the builders' config dataclasses: documented fields and checks that raise
:class:`~toolgym.error.InvalidKnob` with the valid range and a did-you-mean suggestion."""

from __future__ import annotations

import numbers
from dataclasses import field
from typing import Any

import numpy as np

from toolgym.error import InvalidKnob, did_you_mean

__all__ = ["check_int", "check_names", "check_rate", "check_rng", "knob"]


def knob(help_text: str, default: Any) -> Any:
    """A config field with its help text (``metadata["help"]``, which the CLI shows)."""
    return field(default=default, metadata={"help": help_text})


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int from ``low`` to ``high``.

    Example:
        >>> check_int("writes", 3, 2, 4)
        3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidKnob(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    if not low <= value <= high:
        raise InvalidKnob(f"{name} must be from {low} to {high}, got {value}.")
    return int(value)


def check_rate(name: str, value: Any, high: int) -> float:
    """``value`` as a float from 0 to ``high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= high:
        raise InvalidKnob(f"{name} must be a number from 0 to {high}, got {value!r}.")
    return float(value)


def check_names(name: str, value: Any, valid: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` (one name or several) as a tuple of names from ``valid``, each once, in order.

    Example:
        >>> check_names("shapes", "single_hop", ("single_hop", "multi_hop"))
        ('single_hop',)
    """
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items:
        raise InvalidKnob(f"{name} must name at least one of: {', '.join(valid)}.")
    for item in items:
        if item not in valid:
            raise InvalidKnob(f"Unknown {name[:-1]} {item!r} in {name}; valid {name}: "
                              f"{', '.join(valid)}.{did_you_mean(item, valid)}")
    return tuple(dict.fromkeys(items))


def check_rng(rng: Any) -> np.random.Generator:
    """``rng`` when it is the numpy ``Generator`` a builder draws from, else a clear error."""
    if not isinstance(rng, np.random.Generator):
        raise InvalidKnob(f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
                          "use numpy.random.default_rng(seed).")
    return rng
