"""A setting's default and range, written once on its dataclass field.

``setting(16, min=1, max=512)`` is a dataclass field whose metadata holds a
:class:`Range`; the dataclass checks every such field once, in
``__post_init__`` (``check_ranges``), and the command line builds its
option's type and default from the same field (``range_of``, ``default_of``),
so neither is written twice. Imports nothing but the errors.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from typing import Any

from composer.errors import ComposerError

_RANGE = "composer.range"


@dataclass(frozen=True)
class Range:
    """The values a number setting may take; an open end excludes its bound."""

    min: float | None = None
    max: float | None = None
    integer: bool = False
    min_open: bool = False
    max_open: bool = False

    def describe(self) -> str:
        """'>= 1', '1..512', '> 0', '0..1'."""
        if self.min is not None and self.max is not None and not (self.min_open or self.max_open):
            return f"{self.min}..{self.max}"
        bounds = []
        if self.min is not None:
            bounds.append(f"{'>' if self.min_open else '>='} {self.min}")
        if self.max is not None:
            bounds.append(f"{'<' if self.max_open else '<='} {self.max}")
        return " and ".join(bounds) or "any value"

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.integer:
            try:
                value = operator.index(value)  # ints and numpy integers, not floats
            except TypeError:
                return False
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        low_ok = self.min is None or (value > self.min if self.min_open else value >= self.min)
        high_ok = self.max is None or (value < self.max if self.max_open else value <= self.max)
        return low_ok and high_ok

    def check(self, name: str, value: Any, error: type[ComposerError]) -> None:
        """Raise ``error`` saying what was expected unless ``value`` (None always passes) is in range."""
        if value is not None and not self.contains(value):
            kind = "a whole number" if self.integer else "a number"
            raise error(f"{name} must be {kind} {self.describe()}, got {value!r}")


def setting(default: Any, *, min: float | None = None, max: float | None = None, integer: bool = False, min_open: bool = False, max_open: bool = False) -> Any:
    """A dataclass field with ``default`` and the range its values must lie in (None is always allowed)."""
    limits = Range(min, max, integer, min_open, max_open)
    return dataclasses.field(default=default, metadata={_RANGE: limits})


def check_ranges(instance: Any, error: type[ComposerError]) -> None:
    """Check every field of a dataclass instance that has a range; raise ``error`` on the first outside it."""
    for f in dataclasses.fields(instance):
        limits = f.metadata.get(_RANGE)
        if limits is not None:
            limits.check(f.name, getattr(instance, f.name), error)


def _field(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def range_of(cls: type, name: str) -> Range | None:
    """The range of a dataclass field made with ``setting``, else None."""
    return _field(cls, name).metadata.get(_RANGE)


def default_of(cls: type, name: str) -> Any:
    """The default of a dataclass field (one with a plain default)."""
    default = _field(cls, name).default
    if default is dataclasses.MISSING:
        raise KeyError(f"{cls.__name__}.{name} has no plain default")
    return default
