"""Next-token sampling: logits filters and the sampler (torch only).

``FILTERS`` is the single table of filter names (a CLI builds its choices from
its keys).  Each filter is a pure function ``(logits[B, V], value) -> logits``
that returns new logits with ``-inf`` where tokens are masked out.

:class:`SamplingSettings` has one field per filter, named as in ``FILTERS``,
and applies them in the table's order: **temperature, then top_k, then
top_p**.  So top_p's nucleus is measured on the temperature-scaled
distribution that survives top_k.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions: the command line builds its options
# from FILTERS, and `composer --help` should not wait for torch to load.

__all__ = [
    "FILTERS",
    "SamplingSettings",
    "sample",
    "temperature",
    "top_k",
    "top_p",
]


def _check_logits(logits: torch.Tensor, where: str) -> None:
    import torch

    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{where}: logits must be a tensor of shape [B, V], got {shape}")


def _check_temperature(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return float(value)


def _check_top_k(value: int) -> int:
    try:
        k = operator.index(value)  # ints and numpy integers, not floats
    except TypeError:
        k = None
    if isinstance(value, bool) or k is None or k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {value!r}")
    return k


def _check_top_p(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):
        raise ValueError(f"top_p must be a number with 0 < top_p <= 1, got {value!r}")
    return float(value)


def temperature(logits: torch.Tensor, value: float) -> torch.Tensor:
    """Divide the logits by this (> 0): below 1 sharpens, above 1 flattens."""
    _check_logits(logits, "temperature")
    return logits / _check_temperature(value)


def top_k(logits: torch.Tensor, value: int) -> torch.Tensor:
    """Sample only from the k most likely tokens (k >= 1).

    Keeps the ``value`` highest logits per row, -inf elsewhere.
    Ties with the k-th value are all kept (so a row may keep more than k),
    which makes the result independent of sort order.
    """
    _check_logits(logits, "top_k")
    k = _check_top_k(value)
    if k >= logits.shape[-1]:
        return logits.clone()
    import torch

    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p(logits: torch.Tensor, value: float) -> torch.Tensor:
    """Sample only from the most likely tokens whose probabilities add up to p (0 < p <= 1).

    Nucleus filter: keep the smallest set of most likely tokens whose probability mass >= ``value``.
    A token is dropped when the tokens ranked strictly above it already reach
    ``value``; the most likely token is always kept.  Equal logits are ranked
    by the (stable) sort, i.e. lower token id first.
    """
    _check_logits(logits, "top_p")
    p = _check_top_p(value)
    if p == 1.0:
        return logits.clone()
    import torch

    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    mass_above = probs.cumsum(dim=-1) - probs
    drop_sorted = mass_above >= p
    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


FILTERS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "temperature": temperature,
    "top_k": top_k,
    "top_p": top_p,
}

_CHECKS = {"temperature": _check_temperature, "top_k": _check_top_k, "top_p": _check_top_p}
# The value type of each filter, for command-line options built from FILTERS.
VALUE_TYPES: dict[str, type] = {"temperature": float, "top_k": int, "top_p": float}
# Values at which a filter changes nothing; skipped so the common case costs no kernels.
_IDENTITY = {"temperature": 1.0, "top_k": None, "top_p": 1.0}


@dataclass(frozen=True)
class SamplingSettings:
    """Filter values; ``None`` (or temperature 1, top_p 1) means "off".

    Field names are the keys of ``FILTERS``; ``apply`` runs the filters in
    that table's order: temperature, top_k, top_p.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check(value))

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Return ``logits[B, V]`` with every active filter applied, in ``FILTERS`` order."""
        for name, fn in FILTERS.items():
            value = getattr(self, name)
            if value is not None and value != _IDENTITY[name]:
                logits = fn(logits, value)
        return logits


if {f.name for f in dataclasses.fields(SamplingSettings)} != set(FILTERS):  # pragma: no cover
    raise ImportError("SamplingSettings fields must match FILTERS keys")

_DEFAULT = SamplingSettings()


def sample(logits: torch.Tensor, generator: torch.Generator,
           settings: SamplingSettings | None = None,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Draw one token per row of ``logits[B, V]``; returns ``LongTensor[B]``.

    ``mask[B, V]`` (bool, True = allowed) is applied first, then the filters.
    Deterministic for a given ``generator`` state: probabilities are float32
    and drawn with ``torch.multinomial(..., generator=generator)``.
    Raises ValueError if a row of ``mask`` allows no token.
    """
    import torch

    with torch.inference_mode():
        return _sample(torch, logits, generator, settings, mask)


def _sample(torch, logits, generator, settings, mask):  # type: ignore[no-untyped-def]
    _check_logits(logits, "sample")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"sample: generator must be a torch.Generator, got {type(generator).__name__}")
    if settings is None:
        settings = _DEFAULT
    elif not isinstance(settings, SamplingSettings):
        raise ValueError(f"sample: settings must be SamplingSettings, got {type(settings).__name__}")
    logits = logits.float()
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != logits.shape:
            got = (f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor)
                   else type(mask).__name__)
            raise ValueError(f"sample: mask must be a bool tensor of shape {tuple(logits.shape)}, got {got}")
        empty = ~mask.any(dim=-1)
        if empty.any():
            rows = empty.nonzero().flatten().tolist()
            raise ValueError(f"sample: mask allows no token in row(s) {rows}")
        logits = logits.masked_fill(~mask, float("-inf"))
    logits = settings.apply(logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).view(-1)
