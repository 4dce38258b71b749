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

__all__ = ["LanguageModel"]


class LanguageModel(nn.Module, ABC):
    """Abstract base class of the token-level language models."""

    arch: ClassVar[str]
    config: Any

    @abstractmethod
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, V]`` for token ids ``[B, T]`` (position t predicts t+1)."""

    @abstractmethod
    def new_cache(self, batch_size: int) -> Any:
        """An empty generation cache for ``batch_size`` sequences."""

    @abstractmethod
    def step(self, ids: torch.Tensor, cache: Any) -> torch.Tensor:
        """Consume one token per sequence (``ids[B]``); return next-token logits ``[B, V]``."""

    @torch.inference_mode()
    def prefill(self, ids: torch.Tensor, cache: Any) -> torch.Tensor:
        """Feed a prompt ``ids[B, T]`` into ``cache``; return the last position's logits ``[B, V]``.

        This generic version steps token by token; subclasses override it with
        one batched pass.
        """
        ids = check_ids(ids, 2, "prefill")
        logits = None
        for t in range(ids.shape[1]):
            logits = self.step(ids[:, t], cache)
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
