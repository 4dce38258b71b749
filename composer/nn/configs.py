"""The architectures' configs: one frozen dataclass each, saved with the weights (no torch needed).

``CONFIGS`` maps an architecture name to its config class; the torch models
(``composer.nn.ARCHITECTURES``) and the numpy runtimes
(``composer.nn.runtime.RUNTIMES``) are both built from these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from composer.errors import ComposerError
from composer.settings import check_ranges, setting

__all__ = ["CONFIGS", "HarmonizerConfig", "HarmonizerError", "HarmonizerTraining", "LIMITS", "LSTMConfig", "TransformerConfig", "config_from_dict"]

# The largest value of each size field: a model file's header is input, and these sizes
# drive allocations (expected shapes per layer, the KV cache per position) before any
# weight is read. Far above any model composer trains, far below what exhausts memory.
LIMITS: dict[str, int] = {
    "vocab_size": 1 << 20,
    "n_layers": 256,
    "d_model": 16384,
    "n_heads": 256,
    "d_ff": 65536,
    "context_len": 65536,
    "d_embed": 16384,
    "d_hidden": 16384,
    "ahead_features": 64,
    "ahead_size": 4096,
    "features": 1024,
    "voices": 16,
    "classes": 128,
    "hidden": 4096,
    "layers": 8,
}


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of :class:`TransformerLM` (JSON-serialisable via ``asdict``).

    ``d_ff=None`` means ``4 * d_model`` (kept as ``None`` so that
    ``dataclasses.replace(cfg, d_model=...)`` keeps meaning "4x").
    """

    vocab_size: int
    n_layers: int = 6
    d_model: int = 256
    n_heads: int = 8
    d_ff: int | None = None
    dropout: float = 0.1
    context_len: int = 1024
    rope_base: float = 10000.0
    tie_embeddings: bool = True
    # Sizes of the features known ahead of each token (composer.tokens.ahead): one embedding table
    # each, added to the token's embedding. () for a model that sees tokens alone.
    ahead_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layers", "d_model", "n_heads", "context_len"):
            check_int(self, name)
        check_sizes(self, "ahead_sizes")
        if self.d_ff is not None:
            check_int(self, "d_ff")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads must divide d_model: got d_model={self.d_model}, n_heads={self.n_heads}"
            )
        if self.head_dim % 2:
            raise ValueError(
                "rotary embeddings need an even head size d_model / n_heads: got "
                f"d_model={self.d_model}, n_heads={self.n_heads}, head size {self.head_dim}"
            )
        check_float(self, "dropout", 0.0, 1.0)
        check_float(self, "rope_base", 1.0, low_inclusive=False)
        check_bool(self, "tie_embeddings")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ff_dim(self) -> int:
        """The MLP hidden size actually used (``d_ff`` or ``4 * d_model``)."""
        return 4 * self.d_model if self.d_ff is None else self.d_ff


@dataclass(frozen=True)
class LSTMConfig:
    """Hyper-parameters of :class:`LSTMLM` (JSON-serialisable via ``asdict``).

    ``dropout`` applies to the embeddings, between LSTM layers and before the
    head.  ``tie_embeddings`` needs ``d_embed == d_hidden``.
    """

    vocab_size: int
    n_layers: int = 3
    d_embed: int = 256
    d_hidden: int = 512
    dropout: float = 0.2
    tie_embeddings: bool = False
    ahead_sizes: tuple[int, ...] = ()  # as TransformerConfig's

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layers", "d_embed", "d_hidden"):
            check_int(self, name)
        check_sizes(self, "ahead_sizes")
        check_float(self, "dropout", 0.0, 1.0)
        check_bool(self, "tie_embeddings")
        if self.tie_embeddings and self.d_embed != self.d_hidden:
            raise ValueError(
                "tie_embeddings needs d_embed == d_hidden: got "
                f"d_embed={self.d_embed}, d_hidden={self.d_hidden}"
            )


CONFIGS: dict[str, type] = {"transformer": TransformerConfig, "lstm": LSTMConfig}


class HarmonizerError(ComposerError):
    """A harmonizer's settings, weights or input are not what it needs."""


@dataclass(frozen=True)
class HarmonizerConfig:
    """Shape of the harmonizer (``composer.nn.harmonizer``): a bidirectional GRU that reads a
    whole sequence of ``features``-wide frames and gives, at every frame, a distribution over
    ``classes`` for each of ``voices`` outputs. Saved with its weights (``composer.harmony``)."""

    features: int
    voices: int
    classes: int = 12
    hidden: int = 128
    layers: int = 2

    def __post_init__(self) -> None:
        for name in ("features", "voices", "classes", "hidden", "layers"):
            check_int(self, name)


# --- validation helpers shared by the configs and models -------------------


def check_batch(batch_size: int) -> int:
    """Raise ValueError unless ``batch_size`` is a positive int."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def check_cache(cache: Any, cache_type: type, batch: int, where: str) -> None:
    """Raise ValueError unless ``cache`` is a ``cache_type`` made for ``batch`` sequences."""
    if not isinstance(cache, cache_type):
        raise ValueError(f"{where}: cache must come from new_cache(), got {type(cache).__name__}")
    if cache.batch_size != batch:
        raise ValueError(f"{where}: ids have batch size {batch} but the cache was made for {cache.batch_size}")


def check_int(cfg: Any, name: str, minimum: int = 1) -> None:
    """Raise ValueError unless field ``name`` of ``cfg`` is an int >= ``minimum``."""
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > LIMITS.get(name, value):
        raise ValueError(f"{name} must be <= {LIMITS[name]}, got {value}")


def check_sizes(cfg: Any, name: str) -> None:
    """Raise ValueError unless field ``name`` is a short list of positive ints; stored as a tuple."""
    value = getattr(cfg, name)
    if not isinstance(value, (list, tuple)) or len(value) > LIMITS["ahead_features"]:
        raise ValueError(f"{name} must be a list of at most {LIMITS['ahead_features']} sizes, got {value!r}")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= LIMITS["ahead_size"]:
            raise ValueError(f"{name} must hold ints in 1..{LIMITS['ahead_size']}, got {size!r}")
    object.__setattr__(cfg, name, tuple(value))


def check_float(cfg: Any, name: str, low: float, high: float | None = None,
                low_inclusive: bool = True) -> None:
    """Raise ValueError unless field ``name`` is a real number in the given range.

    Ints are accepted (JSON writes ``10000.0`` back as ``10000`` in some
    tools) and stored as float so ``asdict`` round-trips.
    """
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    too_low = value < low if low_inclusive else value <= low
    if value != value or too_low or (high is not None and value >= high):
        lo = f"{'>=' if low_inclusive else '>'} {low}"
        rng = lo if high is None else f"{lo} and < {high}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    object.__setattr__(cfg, name, value)


def check_bool(cfg: Any, name: str) -> None:
    """Raise ValueError unless field ``name`` is a bool."""
    value = getattr(cfg, name)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def config_from_dict(config_cls: type, arch: str, config: dict) -> Any:
    """Build ``config_cls`` from a dict, naming unknown and missing keys in a ValueError."""
    if not isinstance(config, dict):
        raise ValueError(f"config for {arch!r} must be a dict, got {type(config).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown config key(s) for {arch!r}: {', '.join(map(str, unknown))}; "
            f"known keys: {', '.join(fields)}"
        )
    missing = [
        name for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        and name not in config
    ]
    if missing:
        raise ValueError(f"missing required config key(s) for {arch!r}: {', '.join(missing)}")
    return config_cls(**config)


@dataclass(frozen=True)
class HarmonizerTraining:
    """How ``composer.nn.harmonizer.fit`` trains a harmonizer (defaults: the chorales' valid split,
    ``python benchmarks/harmonize_bach.py``)."""

    epochs: int = setting(15, min=1, max=200, integer=True)
    learning_rate: float = setting(2e-3, min=0, max=1, min_open=True)
    dropout: float = setting(0.3, min=0, max=0.9)
    batch_pieces: int = setting(8, min=1, max=256, integer=True)
    random_seed: int = setting(0, min=0, integer=True)
    # Share of the pieces with phrase ends (a chorale's fermatas) shown a second time without them, as a
    # plain MIDI melody comes: the harmonizer then learns to find the phrase ends from the melody itself
    # (1: every such piece twice, so an epoch is twice as long).
    unmarked_share: float = setting(1.0, min=0, max=1)

    def __post_init__(self) -> None:
        check_ranges(self, HarmonizerError)
