"""Numpy runtimes of the networks, for generation.

A runtime has the torch model's generation interface (``new_cache``,
``prefill``, ``step``; ids and logits as numpy arrays) and computes the same
function from the same weights in float32, so a model file generates without
importing torch.  Why: at batch size 1 a step is a few dozen small matrix-vector
products, where torch's per-operation dispatch costs more than the arithmetic
(``benchmarks/sample_speed.py`` measures both), and ``import torch`` alone
takes 1.5-2 s of a 3 s command.

The maths mirrors ``composer.nn.transformer`` and ``composer.nn.lstm`` line
for line, including the transformer's sliding-window cache; the tests check
the logits against the torch models' at every position.

``RUNTIMES`` maps an architecture name to its runtime class;
``expected_shapes(arch, config)`` names the weights a model file must hold
(a tied weight once), which is how a file is checked on load.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import numpy as np

from composer.nn.configs import CONFIGS, HarmonizerConfig, LSTMConfig, TransformerConfig, check_batch, check_cache

__all__ = ["LSTMRuntime", "RUNTIMES", "TransformerRuntime", "build_runtime", "expected_shapes", "harmonizer_log_probs", "harmonizer_shapes"]

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which the torch models use


def expected_shapes(arch: str, config: Any) -> dict[str, tuple[int, ...]]:
    """Weight name -> shape for ``arch`` with ``config``, as the torch model's ``state_dict`` names them.

    A tied output head is left out: model files store it once, as the embedding.
    """
    if arch == "transformer":
        c: TransformerConfig = config
        d, f = c.d_model, c.ff_dim
        shapes: dict[str, tuple[int, ...]] = {"tok_emb.weight": (c.vocab_size, d)}
        for i in range(c.n_layers):
            p = f"blocks.{i}."
            shapes.update({
                p + "ln1.weight": (d,), p + "ln1.bias": (d,), p + "qkv.weight": (3 * d, d),
                p + "proj.weight": (d, d), p + "ln2.weight": (d,), p + "ln2.bias": (d,),
                p + "fc.weight": (f, d), p + "fc_out.weight": (d, f),
            })
        shapes.update({"ln_f.weight": (d,), "ln_f.bias": (d,)})
        if c.ahead_sizes:
            shapes["ahead_emb.table.weight"] = (sum(c.ahead_sizes), d)
        if not c.tie_embeddings:
            shapes["head.weight"] = (c.vocab_size, d)
        return shapes
    if arch == "lstm":
        lc: LSTMConfig = config
        h = lc.d_hidden
        shapes = {"embed.weight": (lc.vocab_size, lc.d_embed)}
        if lc.ahead_sizes:
            shapes["ahead_emb.table.weight"] = (sum(lc.ahead_sizes), lc.d_embed)
        for k in range(lc.n_layers):
            shapes.update({
                f"lstm.weight_ih_l{k}": (4 * h, lc.d_embed if k == 0 else h),
                f"lstm.weight_hh_l{k}": (4 * h, h),
                f"lstm.bias_ih_l{k}": (4 * h,), f"lstm.bias_hh_l{k}": (4 * h,),
            })
        if not lc.tie_embeddings:
            shapes["head.weight"] = (lc.vocab_size, h)
        shapes["head.bias"] = (lc.vocab_size,)
        return shapes
    raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(CONFIGS))}")


def _f32(weights: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return np.ascontiguousarray(weights[name], dtype=np.float32)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # ufunc reductions rather than ndarray.mean, whose Python wrapper costs more than the sums at this size.
    inv_d = 1.0 / x.shape[-1]
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_d
    var = np.add.reduce(centred * centred, axis=-1, keepdims=True) * inv_d
    return centred * (1.0 / np.sqrt(var + LAYER_NORM_EPS)) * weight + bias


# Abramowitz and Stegun 7.1.26: |error| < 1.5e-7, below float32's resolution
# near 1, so GELU matches torch's exact (erf) GELU; numpy has no erf of its own.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * a)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t
    return np.copysign(1.0 - poly * np.exp(-a * a), x)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))


def _softmax_last(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _check_ids(ids: Any, ndim: int, where: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != ndim or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        shape = "[B]" if ndim == 1 else "[B, T]"
        raise ValueError(f"{where}: ids must be a non-empty integer array of shape {shape}, got {ids.dtype} {ids.shape}")
    return ids.astype(np.int64, copy=False)


class _Ahead:
    """The features-ahead table (``composer.nn.base.AheadEmbedding`` in numpy): what a step adds to the token embedding."""

    def __init__(self, sizes: tuple[int, ...], weights: Mapping[str, np.ndarray]) -> None:
        self.sizes = np.asarray(sizes, np.int64)
        self.table = _f32(weights, "ahead_emb.table.weight")
        self.offsets = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64)
        self.none = self.table[self.offsets].sum(0)

    def check(self, ahead: Any, ids: np.ndarray, where: str) -> np.ndarray:
        """``ahead`` as an array of ``ids``' shape plus one axis of in-range features, or ValueError."""
        ahead = np.asarray(ahead)
        if ahead.shape != (*ids.shape, len(self.sizes)) or not np.issubdtype(ahead.dtype, np.integer):
            raise ValueError(f"{where}: features ahead must be integers of shape {(*ids.shape, len(self.sizes))}, got {ahead.dtype} {ahead.shape}")
        if (ahead < 0).any() or (ahead >= self.sizes).any():
            raise ValueError(f"{where}: features ahead must lie in 0..size-1 per feature (sizes {self.sizes.tolist()})")
        return ahead


def _checked_ahead(table: "_Ahead | None", ahead: Any, ids: np.ndarray, where: str) -> np.ndarray | None:
    """``ahead`` checked against the model (None stays None), or ValueError."""
    if ahead is None:
        return None
    if table is None:
        raise ValueError(f"{where}: this model takes no features ahead")
    return table.check(ahead, ids, where)


def _embed(emb: np.ndarray, table: "_Ahead | None", ids: np.ndarray, ahead: np.ndarray | None) -> np.ndarray:
    """Token embeddings plus, for a model that takes them, the (checked) features ahead."""
    x = emb[ids]
    if table is None:
        return x
    return x + (table.none if ahead is None else table.table[ahead + table.offsets].sum(-2))


def _check_rows(indices: Any, batch_size: int) -> np.ndarray:
    rows = np.asarray(indices)
    if rows.shape != (batch_size,) or not np.issubdtype(rows.dtype, np.integer) or (rows < 0).any() or (rows >= batch_size).any():
        raise ValueError(f"select: indices must be {batch_size} integers in 0..{batch_size - 1}, got {rows.dtype} {rows.shape}")
    return rows.astype(np.int64, copy=False)


class _Layer:
    """One transformer block's weights, transposed for ``x @ w`` (views, no copies)."""

    def __init__(self, weights: Mapping[str, np.ndarray], prefix: str) -> None:
        self.ln1_w, self.ln1_b = _f32(weights, prefix + "ln1.weight"), _f32(weights, prefix + "ln1.bias")
        self.ln2_w, self.ln2_b = _f32(weights, prefix + "ln2.weight"), _f32(weights, prefix + "ln2.bias")
        self.qkv = _f32(weights, prefix + "qkv.weight").T
        self.proj = _f32(weights, prefix + "proj.weight").T
        self.fc = _f32(weights, prefix + "fc.weight").T
        self.fc_out = _f32(weights, prefix + "fc_out.weight").T


class TransformerCache:
    """Keys and values ``[n_layers, B, 2, n_heads, 2 * context_len, head_dim]``, as ``KVCache``.

    ``length`` entries are live and ``pos`` is the absolute position of the
    next token; a full buffer keeps its last ``context_len - 1`` entries.
    """

    def __init__(self, config: TransformerConfig, batch_size: int) -> None:
        self.batch_size = batch_size
        self.window = config.context_len
        self.capacity = 2 * config.context_len
        self.kv = np.zeros((config.n_layers, batch_size, 2, config.n_heads, self.capacity, config.head_dim), np.float32)
        self.length = 0
        self.pos = 0

    def slide(self) -> None:
        keep = self.window - 1
        if keep:
            self.kv[..., :keep, :] = self.kv[..., self.length - keep:self.length, :]
        self.length = keep

    def select(self, indices: Any) -> None:
        """Make sequence ``b`` a copy of sequence ``indices[b]`` (a batch's reordering, repeats allowed)."""
        self.kv[:, :, :, :, : self.length] = self.kv[:, _check_rows(indices, self.batch_size), :, :, : self.length]


class TransformerRuntime:
    """``TransformerLM``'s generation in numpy (see the module docstring)."""

    arch: ClassVar[str] = "transformer"
    ROPE_CHUNK = 1024  # rotary tables are computed for this many positions at a time

    def __init__(self, config: TransformerConfig, weights: Mapping[str, np.ndarray]) -> None:
        self.config = config
        self.emb = _f32(weights, "tok_emb.weight")
        self.ahead = _Ahead(config.ahead_sizes, weights) if config.ahead_sizes else None
        self.head = (self.emb if config.tie_embeddings else _f32(weights, "head.weight")).T
        self.layers = [_Layer(weights, f"blocks.{i}.") for i in range(config.n_layers)]
        self.lnf_w, self.lnf_b = _f32(weights, "ln_f.weight"), _f32(weights, "ln_f.bias")
        hd = config.head_dim
        inv = 1.0 / (config.rope_base ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        self._inv_freq = np.concatenate((inv, inv))
        self._scale = np.float32(1.0 / math.sqrt(hd))
        self._rope_start = 0
        self._rope_cos, self._rope_sin = self._rope_table(0, self.ROPE_CHUNK)

    def _rope_table(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """cos and sign-folded sin ``[T, hd]`` for positions ``start ..``; angles in float64 as in torch."""
        ang = np.arange(start, start + length, dtype=np.float64)[:, None] * self._inv_freq[None, :]
        sin = np.sin(ang)
        sin[:, : self._inv_freq.shape[0] // 2] *= -1
        return np.cos(ang).astype(np.float32), sin.astype(np.float32)

    def _rope(self, pos: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        i = pos - self._rope_start
        if i < 0 or i + length > self._rope_cos.shape[0]:
            self._rope_start = pos
            self._rope_cos, self._rope_sin = self._rope_table(pos, max(length, self.ROPE_CHUNK))
            i = 0
        return self._rope_cos[i:i + length], self._rope_sin[i:i + length]

    @staticmethod
    def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        half = x.shape[-1] // 2
        return x * cos + np.concatenate((x[..., half:], x[..., :half]), axis=-1) * sin

    def new_cache(self, batch_size: int) -> TransformerCache:
        return TransformerCache(self.config, check_batch(batch_size))

    def step(self, ids: Any, cache: TransformerCache, ahead: Any = None) -> np.ndarray:
        """Consume ``ids[B]`` (``ahead[B, F]``); return next-token logits ``[B, V]`` (float32)."""
        ids = _check_ids(ids, 1, "step")
        check_cache(cache, TransformerCache, ids.shape[0], "step")
        if cache.length == cache.capacity:
            cache.slide()
        n = cache.length
        lo = max(0, n + 1 - self.config.context_len)
        cos, sin = self._rope(cache.pos, 1)
        B, H, hd = ids.shape[0], self.config.n_heads, self.config.head_dim
        x = _embed(self.emb, self.ahead, ids, _checked_ahead(self.ahead, ahead, ids, "step"))
        for layer, kv in zip(self.layers, cache.kv):
            h = _layer_norm(x, layer.ln1_w, layer.ln1_b)
            qkv = (h @ layer.qkv).reshape(B, 3, H, hd)
            qk = self._rotate(qkv[:, :2], cos, sin)
            kv[:, 0, :, n] = qk[:, 1]
            kv[:, 1, :, n] = qkv[:, 2]
            keys, values = kv[:, 0, :, lo:n + 1], kv[:, 1, :, lo:n + 1]  # [B, H, L, hd]
            att = _softmax_last((keys @ qk[:, 0, :, :, None])[..., 0] * self._scale)  # [B, H, L]
            y = (att[:, :, None, :] @ values)[:, :, 0]
            x = x + y.reshape(B, H * hd) @ layer.proj
            h = _layer_norm(x, layer.ln2_w, layer.ln2_b)
            x = x + _gelu(h @ layer.fc) @ layer.fc_out
        cache.length = n + 1
        cache.pos += 1
        return _layer_norm(x, self.lnf_w, self.lnf_b) @ self.head

    def prefill(self, ids: Any, cache: TransformerCache, ahead: Any = None) -> np.ndarray:
        """Feed a prompt ``ids[B, T]`` (``ahead[B, T, F]``); return the last position's logits ``[B, V]``.

        As the torch model: into a fresh cache the first ``context_len`` tokens
        go through one causal pass, the rest are stepped.
        """
        ids = _check_ids(ids, 2, "prefill")
        B, T = ids.shape
        check_cache(cache, TransformerCache, B, "prefill")
        ahead = _checked_ahead(self.ahead, ahead, ids, "prefill")
        if cache.length or cache.pos:
            return self._step_through(ids, cache, ahead)
        T0 = min(T, self.config.context_len)
        H, hd = self.config.n_heads, self.config.head_dim
        cos, sin = self._rope(0, T0)
        cos, sin = cos[:, None, None, :], sin[:, None, None, :]  # over [B, T, 2, H, hd]
        future = np.triu(np.ones((T0, T0), bool), 1)
        x = _embed(self.emb, self.ahead, ids[:, :T0], None if ahead is None else ahead[:, :T0])
        for layer, kv in zip(self.layers, cache.kv):
            h = _layer_norm(x, layer.ln1_w, layer.ln1_b)
            qkv = (h @ layer.qkv).reshape(B, T0, 3, H, hd)
            qk = self._rotate(qkv[:, :, :2], cos, sin)
            q, k, v = (a.transpose(0, 2, 1, 3) for a in (qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]))  # [B, H, T, hd]
            kv[:, 0, :, :T0] = k
            kv[:, 1, :, :T0] = v
            scores = (q @ k.transpose(0, 1, 3, 2)) * self._scale
            scores[..., future] = -np.inf
            y = _softmax_last(scores) @ v
            x = x + y.transpose(0, 2, 1, 3).reshape(B, T0, H * hd) @ layer.proj
            h = _layer_norm(x, layer.ln2_w, layer.ln2_b)
            x = x + _gelu(h @ layer.fc) @ layer.fc_out
        cache.length = cache.pos = T0
        logits = _layer_norm(x[:, -1], self.lnf_w, self.lnf_b) @ self.head
        return self._step_through(ids[:, T0:], cache, None if ahead is None else ahead[:, T0:]) if T > T0 else logits

    def _step_through(self, ids: np.ndarray, cache: TransformerCache, ahead: Any = None) -> np.ndarray:
        for t in range(ids.shape[1]):
            logits = self.step(ids[:, t], cache, None if ahead is None else ahead[:, t])
        return logits


class LSTMCache:
    """Hidden and cell state, each ``[n_layers, B, d_hidden]``."""

    def __init__(self, config: LSTMConfig, batch_size: int) -> None:
        self.h = np.zeros((config.n_layers, batch_size, config.d_hidden), np.float32)
        self.c = np.zeros_like(self.h)

    @property
    def batch_size(self) -> int:
        return self.h.shape[1]

    def select(self, indices: Any) -> None:
        """Make sequence ``b`` a copy of sequence ``indices[b]`` (a batch's reordering, repeats allowed)."""
        rows = _check_rows(indices, self.batch_size)
        self.h = self.h[:, rows]
        self.c = self.c[:, rows]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large negative x, unlike 1 / (1 + exp(-x))


class LSTMRuntime:
    """``LSTMLM``'s generation in numpy (gate order i, f, g, o, as torch)."""

    arch: ClassVar[str] = "lstm"

    def __init__(self, config: LSTMConfig, weights: Mapping[str, np.ndarray]) -> None:
        self.config = config
        self.emb = _f32(weights, "embed.weight")
        self.ahead = _Ahead(config.ahead_sizes, weights) if config.ahead_sizes else None
        self.w_ih = [_f32(weights, f"lstm.weight_ih_l{k}").T for k in range(config.n_layers)]
        self.w_hh = [_f32(weights, f"lstm.weight_hh_l{k}").T for k in range(config.n_layers)]
        self.bias = [_f32(weights, f"lstm.bias_ih_l{k}") + _f32(weights, f"lstm.bias_hh_l{k}") for k in range(config.n_layers)]
        self.head = (self.emb if config.tie_embeddings else _f32(weights, "head.weight")).T
        self.head_bias = _f32(weights, "head.bias")

    def new_cache(self, batch_size: int) -> LSTMCache:
        return LSTMCache(self.config, check_batch(batch_size))

    def step(self, ids: Any, cache: LSTMCache, ahead: Any = None) -> np.ndarray:
        """Consume ``ids[B]`` (``ahead[B, F]``); return next-token logits ``[B, V]`` (float32)."""
        ids = _check_ids(ids, 1, "step")
        check_cache(cache, LSTMCache, ids.shape[0], "step")
        x = _embed(self.emb, self.ahead, ids, _checked_ahead(self.ahead, ahead, ids, "step"))
        hidden = self.config.d_hidden
        for k in range(self.config.n_layers):
            gates = x @ self.w_ih[k] + cache.h[k] @ self.w_hh[k] + self.bias[k]
            i, f, o = (_sigmoid(gates[:, j * hidden:(j + 1) * hidden]) for j in (0, 1, 3))
            g = np.tanh(gates[:, 2 * hidden:3 * hidden])
            cache.c[k] = f * cache.c[k] + i * g
            cache.h[k] = x = o * np.tanh(cache.c[k])
        return x @ self.head + self.head_bias

    def prefill(self, ids: Any, cache: LSTMCache, ahead: Any = None) -> np.ndarray:
        """Feed ``ids[B, T]`` (``ahead[B, T, F]``) token by token; return the last position's logits ``[B, V]``."""
        ids = _check_ids(ids, 2, "prefill")
        check_cache(cache, LSTMCache, ids.shape[0], "prefill")
        ahead = _checked_ahead(self.ahead, ahead, ids, "prefill")
        for t in range(ids.shape[1]):
            logits = self.step(ids[:, t], cache, None if ahead is None else ahead[:, t])
        return logits


RUNTIMES: dict[str, type] = {TransformerRuntime.arch: TransformerRuntime, LSTMRuntime.arch: LSTMRuntime}


def build_runtime(arch: str, config: Any, weights: Mapping[str, np.ndarray]) -> TransformerRuntime | LSTMRuntime:
    """The numpy runtime of ``arch`` from its config and weights (named as in the torch ``state_dict``)."""
    if arch not in RUNTIMES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(RUNTIMES))}")
    return RUNTIMES[arch](config, weights)


# --- the harmonizer (composer.nn.harmonizer): a bidirectional GRU over whole sequences ----------


def harmonizer_shapes(config: HarmonizerConfig) -> dict[str, tuple[int, ...]]:
    """Weight name -> shape of the harmonizer with ``config``, as its torch ``state_dict`` names them."""
    h = config.hidden
    shapes: dict[str, tuple[int, ...]] = {"inp.weight": (h, config.features), "inp.bias": (h,)}
    for k in range(config.layers):
        for suffix in ("", "_reverse"):
            shapes.update({
                f"gru.weight_ih_l{k}{suffix}": (3 * h, h if k == 0 else 2 * h),
                f"gru.weight_hh_l{k}{suffix}": (3 * h, h),
                f"gru.bias_ih_l{k}{suffix}": (3 * h,), f"gru.bias_hh_l{k}{suffix}": (3 * h,),
            })
    shapes.update({"out.weight": (config.voices * config.classes, 2 * h), "out.bias": (config.voices * config.classes,)})
    return shapes


def _gru_direction(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray, reverse: bool) -> np.ndarray:
    """torch.nn.GRU's recurrence (gates r, z, n) over x[T, in], one direction: float32[T, hidden]."""
    h_size = w_hh.shape[1]
    gates_x = x @ w_ih.T + b_ih  # every input's share at once; the recurrence is what must loop
    out = np.empty((len(x), h_size), np.float32)
    h = np.zeros(h_size, np.float32)
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        gx, gh = gates_x[t], w_hh @ h + b_hh
        r = _sigmoid(gx[:h_size] + gh[:h_size])
        z = _sigmoid(gx[h_size : 2 * h_size] + gh[h_size : 2 * h_size])
        n = np.tanh(gx[2 * h_size :] + r * gh[2 * h_size :])
        h = (1 - z) * n + z * h
        out[t] = h
    return out


def harmonizer_log_probs(config: HarmonizerConfig, weights: Mapping[str, np.ndarray], frames: np.ndarray) -> np.ndarray:
    """float32[T, voices, classes]: the harmonizer's log-probabilities at each of ``frames`` (float32[T, features]),
    the same function as ``composer.nn.harmonizer.HarmonizerNet`` in evaluation mode."""
    if frames.ndim != 2 or frames.shape[1] != config.features:
        raise ValueError(f"harmonizer frames must have shape (T, {config.features}), got {frames.shape}")
    w = {name: _f32(weights, name) for name in harmonizer_shapes(config)}
    x = _gelu(frames.astype(np.float32) @ w["inp.weight"].T + w["inp.bias"])
    for k in range(config.layers):
        x = np.concatenate([_gru_direction(x, w[f"gru.weight_ih_l{k}{s}"], w[f"gru.weight_hh_l{k}{s}"], w[f"gru.bias_ih_l{k}{s}"],
                                           w[f"gru.bias_hh_l{k}{s}"], reverse=bool(s)) for s in ("", "_reverse")], axis=1)
    logits = (x @ w["out.weight"].T + w["out.bias"]).reshape(len(x), config.voices, config.classes)
    top = logits.max(axis=-1, keepdims=True)
    return (logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))).astype(np.float32)
