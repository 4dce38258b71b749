"""Decoder-only transformer language model with rotary position embeddings.

Pre-norm blocks (LayerNorm -> causal self-attention -> residual, LayerNorm ->
GELU MLP -> residual), a final LayerNorm and an LM head whose weight can be
tied to the token embedding.  Attention goes through
``torch.nn.functional.scaled_dot_product_attention``.

Generation past ``context_len``
-------------------------------
``step`` keeps a sliding window: at every layer the new token attends to
itself and the previous ``context_len - 1`` tokens.  Keys are rotated (RoPE)
with their absolute position before they are cached; since RoPE attention
depends only on position differences, and differences inside the window stay
below ``context_len``, the attention never sees a relative distance that
training did not.

With one layer this equals ``forward`` over the last ``context_len`` tokens.
With more layers it does not: a cached key at layer 2 was computed from layer-1
attention over *its own* window, so deep layers see further back than
``context_len`` (the receptive field grows by ``context_len - 1`` per layer, as
in sliding-window attention models).  ``forward_windowed`` computes exactly
those semantics over a whole sequence and is the reference ``step`` is tested
against.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from composer.nn.base import AheadEmbedding, LanguageModel, check_ahead, check_ids
from composer.nn.configs import TransformerConfig, check_batch, check_cache

__all__ = ["TransformerConfig", "TransformerLM", "KVCache"]


class KVCache:
    """Preallocated keys/values for :meth:`TransformerLM.step`.

    ``kv`` has shape ``[n_layers, B, 2, n_heads, 2 * context_len, head_dim]``
    (keys at ``[:, :, 0]``, values at ``[:, :, 1]``, so one step writes both
    with one copy); ``length`` entries along the time axis are live and
    ``pos`` is the absolute position of the next token.  When the buffer is
    full, the last ``context_len - 1`` entries are moved to the front once, so
    sliding the window costs amortised O(1) per token instead of a copy every
    step.
    """

    # Rotary tables are computed for this many positions at a time and sliced per step.
    ROPE_CHUNK = 1024

    def __init__(self, config: TransformerConfig, batch_size: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.batch_size = batch_size
        self.window = config.context_len
        self.capacity = 2 * config.context_len
        self.kv = torch.zeros(
            config.n_layers, batch_size, 2, config.n_heads, self.capacity, config.head_dim,
            device=device, dtype=dtype,
        )
        # Per-layer views made once, so a step doesn't pay for indexing.
        self.layers = list(self.kv.unbind(0))
        self.length = 0
        self.pos = 0
        self._inv_freq = _inv_freq(config)
        self._rope_start = 0
        self._rope_cos, self._rope_sin = _rope_table(
            self._inv_freq, 0, self.ROPE_CHUNK, device, dtype
        )
        hd = config.head_dim
        eye = torch.eye(hd, device=device, dtype=dtype)
        self._eye = eye
        # x @ roll_matrix == x.roll(hd // 2, -1)
        self._roll = eye.roll(hd // 2, dims=1)

    def rope(self, pos: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin tables for positions ``pos .. pos+length-1``, shaped ``[T, 1, 1, hd]``."""
        i = pos - self._rope_start
        if i < 0 or i + length > self._rope_cos.shape[0]:
            self._rope_start = pos
            self._rope_cos, self._rope_sin = _rope_table(
                self._inv_freq, pos, max(length, self.ROPE_CHUNK),
                self.kv.device, self.kv.dtype,
            )
            i = 0
        return self._rope_cos[i:i + length], self._rope_sin[i:i + length]

    def rotation(self, pos: int) -> torch.Tensor:
        """RoPE at ``pos`` as matrices for one ``bmm`` over a step's q, k and v.

        Returns ``[B * 3, hd, hd]``: the rotation for q and k and the identity
        for v, repeated per sequence, to right-multiply ``qkv.view(B * 3, H, hd)``.
        One bmm per layer replaces the elementwise RoPE's several kernels.
        """
        cos, sin = self.rope(pos, 1)
        hd = cos.shape[-1]
        rot = torch.addcmul(torch.diag(cos.view(hd)), self._roll, sin.view(hd))
        rot = torch.stack((rot, rot, self._eye))
        return rot.repeat(self.batch_size, 1, 1) if self.batch_size > 1 else rot

    def slide(self) -> None:
        """Keep the last ``window - 1`` entries, moved to the front of the buffer."""
        keep = self.window - 1
        if keep:
            # Source and destination don't overlap (length == capacity == 2 * window).
            self.kv[..., :keep, :] = self.kv[..., self.length - keep:self.length, :]
        self.length = keep


def _inv_freq(config: TransformerConfig) -> torch.Tensor:
    """Rotary frequencies, duplicated to full head width, in float64 on the CPU.

    float64 because absolute positions keep growing during long generation
    and ``pos * freq`` in float32 loses the angle's low bits.
    """
    hd = config.head_dim
    inv = 1.0 / (config.rope_base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    return torch.cat((inv, inv))


def _rope_table(inv_freq: torch.Tensor, start: int, length: int,
                device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sign-folded sin, shaped ``[T, 1, 1, head_dim]`` to broadcast over ``[B, T, 2, H, hd]``."""
    pos = torch.arange(start, start + length, dtype=torch.float64)
    ang = pos[:, None] * inv_freq[None, :]
    half = inv_freq.shape[0] // 2
    sin = ang.sin()
    sin[:, :half].neg_()  # fold the sign of rotate-half into the table
    shape = (length, 1, 1, inv_freq.shape[0])
    return (ang.cos().to(device, dtype).view(shape), sin.to(device, dtype).view(shape))


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE: ``[x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]``.

    ``roll`` by half the width gives ``[x2, x1]`` and ``sin`` carries the sign,
    so this is three kernels.
    """
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, -1), sin)


class Block(nn.Module):
    """Pre-norm transformer block, written with functional ops to keep per-step overhead low."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.dropout = config.dropout
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, config.ff_dim, bias=False)
        self.fc_out = nn.Linear(config.ff_dim, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                dropout: bool = False) -> torch.Tensor:
        """Run the block on a whole sequence ``x[B, T, d]``.

        With ``kv`` (one layer of an empty :class:`KVCache`) the keys and values
        are also written at ``[0, T)``.
        """
        B, T, D = x.shape
        p = self.dropout if dropout else 0.0
        h = F.layer_norm(x, (D,), self.ln1.weight, self.ln1.bias, self.ln1.eps)
        qkv = F.linear(h, self.qkv.weight).view(B, T, 3, self.n_heads, self.head_dim)
        qk = _rope(qkv[:, :, :2], cos, sin)
        q = qk[:, :, 0].transpose(1, 2)
        k = qk[:, :, 1].transpose(1, 2)
        v = qkv[:, :, 2].transpose(1, 2)
        if kv is not None:
            kv[:, 0, :, :T] = k
            kv[:, 1, :, :T] = v
        # No dropout inside attention: on CPU it sends SDPA to a kernel several times slower.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None)
        y = F.linear(y.transpose(1, 2).reshape(B, T, D), self.proj.weight)
        if p:
            y = F.dropout(y, p, True)
        x = x + y
        h = F.layer_norm(x, (D,), self.ln2.weight, self.ln2.bias, self.ln2.eps)
        y = F.linear(F.gelu(F.linear(h, self.fc.weight)), self.fc_out.weight)
        if p:
            y = F.dropout(y, p, True)
        return x + y

    def step(self, x: torch.Tensor, rot: torch.Tensor, kv: torch.Tensor,
             n: int, lo: int) -> torch.Tensor:
        """One token per sequence, ``x[B, d]``: cache k/v at ``n``, attend to ``[lo, n]``.

        Same maths as ``forward`` in fewer kernels (per-step dispatch overhead
        dominates at these sizes): RoPE as one bmm, residual adds fused into
        the output projections, k and v cached with one copy.
        """
        B, D = x.shape
        H, hd = self.n_heads, self.head_dim
        h = F.layer_norm(x, (D,), self.ln1.weight, self.ln1.bias, self.ln1.eps)
        qkv = torch.bmm(F.linear(h, self.qkv.weight).view(B * 3, H, hd), rot)
        qkv = qkv.view(B, 3, H, 1, hd)
        kv[:, :, :, n] = qkv[:, 1:, :, 0]
        window = kv[:, :, :, lo:n + 1]
        # One query attending to every key in the window: no mask needed.
        y = F.scaled_dot_product_attention(qkv[:, 0], window[:, 0], window[:, 1])
        x = F.linear(y.reshape(B, D), self.proj.weight, x)
        h = F.layer_norm(x, (D,), self.ln2.weight, self.ln2.bias, self.ln2.eps)
        return F.linear(F.gelu(F.linear(h, self.fc.weight)), self.fc_out.weight, x)


class TransformerLM(LanguageModel):
    """Decoder-only transformer LM with RoPE; see the module docstring for generation semantics."""

    arch: ClassVar[str] = "transformer"

    def __init__(self, config: TransformerConfig) -> None:
        if not isinstance(config, TransformerConfig):
            raise ValueError(f"TransformerLM needs a TransformerConfig, got {type(config).__name__}")
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.ahead_emb = AheadEmbedding(config.ahead_sizes, config.d_model) if config.ahead_sizes else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self._inv_freq = _inv_freq(config)
        self._init_weights()
        if config.tie_embeddings:
            self.head.weight = self.tok_emb.weight

    def _init_weights(self) -> None:
        # GPT-2 style: N(0, 0.02), residual output projections scaled by depth.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for block in self.blocks:
            nn.init.normal_(block.proj.weight, std=resid_std)
            nn.init.normal_(block.fc_out.weight, std=resid_std)

    def _embed(self, ids: torch.Tensor, ahead: torch.Tensor | None) -> torch.Tensor:
        x = F.embedding(ids, self.tok_emb.weight)
        return x if self.ahead_emb is None else x + self.ahead_emb(ahead)

    def _run(self, ids: torch.Tensor, ahead: torch.Tensor | None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        w = self.tok_emb.weight
        cos, sin = _rope_table(self._inv_freq, 0, ids.shape[1], w.device, w.dtype)
        x = self._embed(ids, ahead)
        drop = self.training and self.config.dropout > 0
        if drop:
            x = F.dropout(x, self.config.dropout, True)
        for block in self.blocks:
            x = block(x, cos, sin, attn_mask=attn_mask, dropout=drop)
        return self.head(self.ln_f(x))

    def forward(self, ids: torch.Tensor, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, V]`` for ``ids[B, T]`` with T <= context_len (``ahead[B, T, F]``: see ``AheadEmbedding``)."""
        check_ids(ids, 2, "forward")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "forward")
        T, C = ids.shape[1], self.config.context_len
        if T > C:
            raise ValueError(
                f"sequence length {T} exceeds context_len={C}; split it into windows "
                "or use forward_windowed() for sliding-window scoring"
            )
        return self._run(ids, ahead)

    def forward_windowed(self, ids: torch.Tensor, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, V]`` for any T under the sliding-window attention ``step`` uses.

        Each position attends, at every layer, to itself and the previous
        ``context_len - 1`` positions.  Equals ``forward`` when T <= context_len.
        Builds a ``[T, T]`` mask, so memory is O(T^2): meant for scoring and
        testing, not for very long sequences.
        """
        check_ids(ids, 2, "forward_windowed")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "forward_windowed")
        T, C = ids.shape[1], self.config.context_len
        if T <= C:
            return self._run(ids, ahead)
        i = torch.arange(T, device=ids.device)
        dist = i[:, None] - i[None, :]
        mask = (dist >= 0) & (dist < C)
        return self._run(ids, ahead, attn_mask=mask)

    @torch.inference_mode()
    def new_cache(self, batch_size: int) -> KVCache:
        """An empty :class:`KVCache` for ``batch_size`` sequences, on the model's device and dtype."""
        w = self.tok_emb.weight
        return KVCache(self.config, check_batch(batch_size), w.device, w.dtype)

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, cache: KVCache, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Consume ``ids[B]`` (one token per sequence, ``ahead[B, F]``); return next-token logits ``[B, V]``."""
        check_ids(ids, 1, "step")
        check_cache(cache, KVCache, ids.shape[0], "step")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "step")
        if cache.length == cache.capacity:
            cache.slide()
        n = cache.length
        lo = max(0, n + 1 - self.config.context_len)
        rot = cache.rotation(cache.pos)
        x = self._embed(ids, ahead)
        for block, kv in zip(self.blocks, cache.layers):
            x = block.step(x, rot, kv, n, lo)
        cache.length = n + 1
        cache.pos += 1
        ln = self.ln_f
        x = F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        return F.linear(x, self.head.weight)

    @torch.inference_mode()
    def prefill(self, ids: torch.Tensor, cache: KVCache, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """Feed a prompt ``ids[B, T]`` (``ahead[B, T, F]``); return the last position's logits ``[B, V]``.

        Into a fresh cache the first ``context_len`` tokens go through one
        batched causal pass; tokens beyond that (or any prompt into a cache
        already in use) are stepped one at a time, which keeps the
        sliding-window semantics exact.
        """
        check_ids(ids, 2, "prefill")
        B, T = ids.shape
        check_cache(cache, KVCache, B, "prefill")
        ahead = check_ahead(ahead, ids, self.config.ahead_sizes, "prefill")
        if cache.length or cache.pos:
            return super().prefill(ids, cache, ahead)
        T0 = min(T, self.config.context_len)
        cos, sin = cache.rope(0, T0)
        x = self._embed(ids[:, :T0], None if ahead is None else ahead[:, :T0])
        for block, kv in zip(self.blocks, cache.layers):
            x = block.forward(x, cos, sin, kv)
        cache.length = cache.pos = T0
        logits = F.linear(self.ln_f(x[:, -1]), self.head.weight)
        for t in range(T0, T):
            logits = self.step(ids[:, t], cache, None if ahead is None else ahead[:, t])
        return logits
