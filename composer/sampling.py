"""Next-token sampling: logits filters and the sampler (numpy).

``FILTERS`` is the single table of filter names (a CLI builds its choices from
its keys).  Each filter is a pure function ``(logits[B, V], value) -> logits``
that returns new logits with ``-inf`` where tokens are masked out.

:class:`SamplingSettings` has one field per filter, named as in ``FILTERS``,
and applies them in the table's order: **temperature, then top_k, then
top_p**.  So top_p's nucleus is measured on the temperature-scaled
distribution that survives top_k.

Numpy rather than torch: generation runs on the numpy runtimes
(``composer.nn.runtime``) and must not wait for torch to import.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from composer.errors import ComposerError

__all__ = [
    "FILTERS",
    "SamplingError",
    "SamplingSettings",
    "sample",
    "temperature",
    "top_k",
    "top_p",
]


class SamplingError(ComposerError, ValueError):
    """A sampling filter's value is out of its range (a ValueError too, as before there was this class)."""


def _check_logits(logits: np.ndarray, where: str) -> None:
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or not np.issubdtype(logits.dtype, np.floating):
        shape = f"{logits.dtype} {logits.shape}" if isinstance(logits, np.ndarray) else type(logits).__name__
        raise ValueError(f"{where}: logits must be a float array of shape [B, V], got {shape}")


def _check_temperature(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise SamplingError(f"temperature must be a finite number > 0, got {value!r}")
    return float(value)


def _check_top_k(value: int) -> int:
    try:
        k = operator.index(value)  # ints and numpy integers, not floats
    except TypeError:
        k = None
    if isinstance(value, bool) or k is None or k < 1:
        raise SamplingError(f"top_k must be an integer >= 1, got {value!r}")
    return k


def _check_top_p(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):
        raise SamplingError(f"top_p must be a number with 0 < top_p <= 1, got {value!r}")
    return float(value)


def temperature(logits: np.ndarray, value: float) -> np.ndarray:
    """Divide the logits by this (> 0): below 1 sharpens, above 1 flattens."""
    _check_logits(logits, "temperature")
    return logits / _check_temperature(value)


def top_k(logits: np.ndarray, value: int) -> np.ndarray:
    """Sample only from the k most likely tokens (k >= 1).

    Keeps the ``value`` highest logits per row, -inf elsewhere.
    Ties with the k-th value are all kept (so a row may keep more than k),
    which makes the result independent of sort order.
    """
    _check_logits(logits, "top_k")
    k = _check_top_k(value)
    if k >= logits.shape[-1]:
        return logits.copy()
    kth = np.partition(logits, -k, axis=-1)[:, -k:-k + 1 or None]  # the k-th largest per row
    return np.where(logits < kth, -np.inf, logits).astype(logits.dtype, copy=False)


def top_p(logits: np.ndarray, value: float) -> np.ndarray:
    """Sample only from the most likely tokens whose probabilities add up to p (0 < p <= 1).

    Nucleus filter: keep the smallest set of most likely tokens whose probability mass >= ``value``.
    A token is dropped when the tokens ranked strictly above it already reach
    ``value``; the most likely token is always kept.  Equal logits are ranked
    by the (stable) sort, i.e. lower token id first.
    """
    _check_logits(logits, "top_p")
    p = _check_top_p(value)
    if p == 1.0:
        return logits.copy()
    order = np.argsort(-logits, axis=-1, kind="stable")  # descending; ties keep the lower id first
    probs = _softmax(np.take_along_axis(logits, order, axis=-1))
    mass_above = np.cumsum(probs, axis=-1) - probs
    drop = np.empty(logits.shape, bool)
    np.put_along_axis(drop, order, mass_above >= p, axis=-1)
    return np.where(drop, -np.inf, logits).astype(logits.dtype, copy=False)


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (rows of all -inf are not expected: masks are checked first)."""
    x = logits.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


FILTERS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "temperature": temperature,
    "top_k": top_k,
    "top_p": top_p,
}

# Each filter value's check: returns the value, or raises SamplingError saying what was expected.
CHECKS: dict[str, Callable[[object], float]] = {"temperature": _check_temperature, "top_k": _check_top_k, "top_p": _check_top_p}
# The value type of each filter, for command-line options built from FILTERS.
VALUE_TYPES: dict[str, type] = {"temperature": float, "top_k": int, "top_p": float}
# Values at which a filter changes nothing; skipped so the common case costs no kernels.
_IDENTITY = {"temperature": 1.0, "top_k": None, "top_p": 1.0}


@dataclass(frozen=True)
class SamplingSettings:
    """Filter values; ``None`` (or temperature 1, top_p 1) means "off".

    Each value is checked here, once, by its filter's entry in ``CHECKS``
    (``SamplingError`` when out of range); ``composer generate`` and
    ``composer evaluate`` build their options from the same table.

    Field names are the keys of ``FILTERS``; ``apply`` runs the filters in
    that table's order: temperature, top_k, top_p.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        for name, check in CHECKS.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check(value))

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Return ``logits[B, V]`` with every active filter applied, in ``FILTERS`` order."""
        for name, fn in FILTERS.items():
            value = getattr(self, name)
            if value is not None and value != _IDENTITY[name]:
                logits = fn(logits, value)
        return logits


if {f.name for f in dataclasses.fields(SamplingSettings)} != set(FILTERS):  # pragma: no cover
    raise ImportError("SamplingSettings fields must match FILTERS keys")

_DEFAULT = SamplingSettings()


def sample(logits: np.ndarray, rng: np.random.Generator,
           settings: SamplingSettings | None = None,
           mask: np.ndarray | None = None) -> np.ndarray:
    """Draw one token per row of ``logits[B, V]``; returns ``int64[B]``.

    ``mask[B, V]`` (bool, True = allowed) is applied first, then the filters.
    One uniform number per row from ``rng`` picks the token by inverting the
    cumulative distribution (float64), so the same generator state gives the
    same tokens.  Raises ValueError if a row of ``mask`` allows no token.
    """
    _check_logits(logits, "sample")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"sample: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if settings is None:
        settings = _DEFAULT
    elif not isinstance(settings, SamplingSettings):
        raise ValueError(f"sample: settings must be SamplingSettings, got {type(settings).__name__}")
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.shape != logits.shape:
            got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise ValueError(f"sample: mask must be a bool array of shape {logits.shape}, got {got}")
        empty = ~mask.any(axis=-1)
        if empty.any():
            raise ValueError(f"sample: mask allows no token in row(s) {np.flatnonzero(empty).tolist()}")
        logits = np.where(mask, logits, -np.inf)
    cumulative = np.cumsum(_softmax(settings.apply(logits)), axis=-1)
    u = rng.random(logits.shape[0]) * cumulative[:, -1]
    # side="right": a token of probability 0 adds nothing to the cumulative sum and can never be drawn.
    chosen = [np.searchsorted(row, x, side="right") for row, x in zip(cumulative, u)]
    return np.minimum(np.asarray(chosen, np.int64), logits.shape[-1] - 1)
