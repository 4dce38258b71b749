"""The torch models by architecture name, and ``build_model``."""

from __future__ import annotations

from composer.nn.base import LanguageModel
from composer.nn.configs import CONFIGS, config_from_dict
from composer.nn.lstm import LSTMLM
from composer.nn.transformer import TransformerLM

__all__ = ["ARCHITECTURES", "build_model"]

ARCHITECTURES: dict[str, tuple[type, type[LanguageModel]]] = {
    TransformerLM.arch: (CONFIGS[TransformerLM.arch], TransformerLM),
    LSTMLM.arch: (CONFIGS[LSTMLM.arch], LSTMLM),
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
