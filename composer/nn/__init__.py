"""Neural sequence models over event tokens (torch only).

``ARCHITECTURES`` maps an architecture name to its (config class, model
class); ``build_model(arch, config_dict)`` builds one from a plain dict such
as ``dataclasses.asdict(model.config)`` read back from JSON.
"""

from __future__ import annotations

from composer.nn.base import LanguageModel, config_from_dict
from composer.nn.lstm import LSTMLM, LSTMCache, LSTMConfig
from composer.nn.transformer import KVCache, TransformerConfig, TransformerLM

__all__ = [
    "ARCHITECTURES",
    "KVCache",
    "LSTMCache",
    "LSTMConfig",
    "LSTMLM",
    "LanguageModel",
    "TransformerConfig",
    "TransformerLM",
    "build_model",
]

ARCHITECTURES: dict[str, tuple[type, type[LanguageModel]]] = {
    TransformerLM.arch: (TransformerConfig, TransformerLM),
    LSTMLM.arch: (LSTMConfig, LSTMLM),
}


def build_model(arch: str, config: dict) -> LanguageModel:
    """Build the ``arch`` model from a config dict (an instance of its config class also works).

    Raises ValueError for an unknown architecture (naming the known ones),
    unknown or missing config keys, and invalid values.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        )
    config_cls, model_cls = ARCHITECTURES[arch]
    if not isinstance(config, config_cls):
        config = config_from_dict(config_cls, arch, config)
    return model_cls(config)
