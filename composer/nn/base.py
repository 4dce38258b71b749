"""The interface every sequence model in ``composer.nn`` implements.

A :class:`LanguageModel` maps token ids to next-token logits in two ways:

* ``forward(ids[B, T]) -> logits[B, T, V]`` scores whole sequences (training,
  evaluation);
* ``new_cache`` / ``prefill`` / ``step`` generate incrementally: ``prefill``
  feeds a prompt into a fresh cache in one batched pass and ``step`` consumes
  one token per sequence, each costing one step rather than a re-run of the
  prefix.  Both update the cache in place and return the logits for the next
  token, ``[B, V]``.

``new_cache``, ``prefill`` and ``step`` run under ``torch.inference_mode()``:
they are for generation only, never build an autograd graph and never apply
dropout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["AheadEmbedding", "LanguageModel"]


class LanguageModel(nn.Module, ABC):
    """Abstract base class of the token-level language models."""

    arch: ClassVar[str]
    config: Any

    @abstractmethod
    def forward(self, ids: torch.Tensor, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, V]`` for token ids ``[B, T]`` (position t predicts t+1).

        ``ahead[B, T, F]``: the features known ahead of each token, for a model whose
        config has ``ahead_sizes`` (None: nothing given).
        """

    @abstractmethod
    def new_cache(self, batch_size: int) -> Any:
        """An empty generation cache for ``batch_size`` sequences."""

    @abstractmethod
    def step(self, ids: torch.Tensor, cache: Any, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Consume one token per sequence (``ids[B]``, ``ahead[B, F]``); return next-token logits ``[B, V]``."""

    @torch.inference_mode()
    def prefill(self, ids: torch.Tensor, cache: Any, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Feed a prompt ``ids[B, T]`` into ``cache``; return the last position's logits ``[B, V]``.

        This generic version steps token by token; subclasses override it with
        one batched pass.
        """
        ids = check_ids(ids, 2, "prefill")
        logits = None
        for t in range(ids.shape[1]):
            logits = self.step(ids[:, t], cache, None if ahead is None else ahead[:, t])
        return logits

    def num_parameters(self) -> int:
        """Number of parameter elements; a tied weight counts once."""
        return sum(p.numel() for p in self.parameters())

    def state_tensors(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """The ``state_dict`` with a tied weight once (under its first name), as detached contiguous copies.

        ``dtype`` converts the floating-point tensors (e.g. ``torch.float16``
        for half-size model files). ``load_state_dict(strict=False)`` restores
        a left-out tied weight from its twin.
        """
        out: dict[str, torch.Tensor] = {}
        seen: set[tuple[int, tuple[int, ...]]] = set()
        for name, tensor in self.state_dict().items():
            ident = (tensor.data_ptr(), tuple(tensor.shape))
            if ident in seen:
                continue
            seen.add(ident)
            t = tensor.detach()
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            out[name] = t.contiguous().clone()
        return out

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, params={self.num_parameters():,}"


# --- validation helpers shared by the configs and models -------------------


def check_ids(ids: torch.Tensor, ndim: int, where: str) -> torch.Tensor:
    """Raise ValueError unless ``ids`` is an integer tensor of ``ndim`` dims with tokens."""
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{where}: ids must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{where}: ids must be int64 (or int32), got {ids.dtype}")
    if ids.dim() != ndim:
        shape = "[B]" if ndim == 1 else "[B, T]"
        raise ValueError(f"{where}: ids must have shape {shape}, got {tuple(ids.shape)}")
    if ids.numel() == 0:
        raise ValueError(f"{where}: ids is empty (shape {tuple(ids.shape)})")
    return ids


class AheadEmbedding(nn.Module):
    """The features known ahead of each token (``composer.tokens.ahead``), embedded and summed.

    One table holds every feature's rows back to back (feature ``f``'s value ``v``
    is row ``offsets[f] + v``). ``ahead=None`` means nothing is given: every
    feature at value 0.
    """

    def __init__(self, sizes: tuple[int, ...], dim: int) -> None:
        super().__init__()
        self.sizes = tuple(sizes)
        self.table = nn.Embedding(sum(self.sizes), dim)
        starts = [0]
        for size in self.sizes[:-1]:
            starts.append(starts[-1] + size)
        self.register_buffer("offsets", torch.tensor(starts, dtype=torch.int64), persistent=False)

    def forward(self, ahead: torch.Tensor | None) -> torch.Tensor:
        """``[..., d]`` to add to the token embeddings of ``ahead[..., F]`` (``[d]`` for None)."""
        if ahead is None:
            return self.table.weight[self.offsets].sum(0)
        return torch.nn.functional.embedding(ahead + self.offsets, self.table.weight).sum(-2)


def check_ahead(ahead: torch.Tensor | None, ids: torch.Tensor, sizes: tuple[int, ...], where: str) -> torch.Tensor | None:
    """Raise ValueError unless ``ahead`` is None or ``ids``' shape plus one axis of in-range features."""
    if ahead is None:
        return None
    if not sizes:
        raise ValueError(f"{where}: this model takes no features ahead, got an array of shape {tuple(ahead.shape)}")
    if not isinstance(ahead, torch.Tensor) or tuple(ahead.shape) != (*ids.shape, len(sizes)):
        shape = tuple(ahead.shape) if isinstance(ahead, torch.Tensor) else type(ahead).__name__
        raise ValueError(f"{where}: features ahead must have shape {(*ids.shape, len(sizes))}, got {shape}")
    ahead = ahead.to(torch.int64)
    limits = torch.tensor(sizes, dtype=torch.int64, device=ahead.device)
    if bool(((ahead < 0) | (ahead >= limits)).any()):
        raise ValueError(f"{where}: features ahead must lie in 0..size-1 per feature (sizes {list(sizes)})")
    return ahead
