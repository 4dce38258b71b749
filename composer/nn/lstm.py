"""LSTM language model: embedding -> nn.LSTM (batch_first) -> dropout -> head."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from composer.nn.base import AheadEmbedding, LanguageModel, check_ahead, check_ids
from composer.nn.configs import LSTMConfig, check_batch, check_cache

__all__ = ["LSTMConfig", "LSTMLM", "LSTMCache"]


class LSTMCache:
    """Hidden and cell state, each ``[n_layers, B, d_hidden]``; replaced on every step."""

    def __init__(self, h: torch.Tensor, c: torch.Tensor) -> None:
        self.h = h
        self.c = c

    @property
    def batch_size(self) -> int:
        return self.h.shape[1]


class LSTMLM(LanguageModel):
    """Multi-layer LSTM language model."""

    arch: ClassVar[str] = "lstm"

    def __init__(self, config: LSTMConfig) -> None:
        if not isinstance(config, LSTMConfig):
            raise ValueError(f"LSTMLM needs an LSTMConfig, got {type(config).__name__}")
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_embed)
        self.ahead_emb = AheadEmbedding(config.ahead_sizes, config.d_embed) if config.ahead_sizes else None
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.d_embed, config.d_hidden, config.n_layers, batch_first=True,
            dropout=config.dropout if config.n_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.d_hidden, config.vocab_size)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

    def _embed(self, ids: torch.Tensor, ahead: torch.Tensor | None) -> torch.Tensor:
        x = F.embedding(ids, self.embed.weight)
        return x if self.ahead_emb is None else x + self.ahead_emb(ahead)

    def forward(self, ids: torch.Tensor, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, V]`` for ``ids[B, T]`` (any T; ``ahead[B, T, F]``)."""
        check_ids(ids, 2, "forward")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "forward")
        y, _ = self.lstm(self.drop(self._embed(ids, ahead)))
        return self.head(self.drop(y))

    @torch.inference_mode()
    def new_cache(self, batch_size: int) -> LSTMCache:
        """Zero (h, c) for ``batch_size`` sequences, on the model's device and dtype."""
        w = self.head.weight
        shape = (self.config.n_layers, check_batch(batch_size), self.config.d_hidden)
        return LSTMCache(torch.zeros(shape, device=w.device, dtype=w.dtype),
                         torch.zeros(shape, device=w.device, dtype=w.dtype))

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, cache: LSTMCache, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Consume ``ids[B]``; return next-token logits ``[B, V]``.

        Runs with oneDNN (mkldnn) off: on torch 2.13 CPU a one-token LSTM call
        is several times slower through oneDNN than through the native kernel
        (see ``benchmarks/sample_speed.py``).  The switch is process-wide, so
        it is restored right after the call.
        """
        check_ids(ids, 1, "step")
        check_cache(cache, LSTMCache, ids.shape[0], "step")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "step")
        x = self._embed(ids[:, None], None if ahead is None else ahead[:, None])
        mkldnn = torch.backends.mkldnn
        was_enabled = mkldnn.enabled
        mkldnn.enabled = False
        try:
            y, (cache.h, cache.c) = self.lstm(x, (cache.h, cache.c))
        finally:
            mkldnn.enabled = was_enabled
        return F.linear(y[:, 0], self.head.weight, self.head.bias)

    @torch.inference_mode()
    def prefill(self, ids: torch.Tensor, cache: LSTMCache, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Feed ``ids[B, T]`` in one LSTM call; return the last position's logits ``[B, V]``.

        Leaves oneDNN as configured: for whole sequences it is the faster path.
        Works on a fresh or a used cache.
        """
        check_ids(ids, 2, "prefill")
        check_cache(cache, LSTMCache, ids.shape[0], "prefill")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "prefill")
        y, (cache.h, cache.c) = self.lstm(self._embed(ids, ahead), (cache.h, cache.c))
        return F.linear(y[:, -1], self.head.weight, self.head.bias)
