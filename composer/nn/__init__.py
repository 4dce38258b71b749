"""Neural sequence models over event tokens.

Two implementations of each architecture, built from the same config and the
same weights:

* the torch modules (``TransformerLM``, ``LSTMLM``) for training and scoring;
* the numpy runtimes (``composer.nn.runtime``) for generation, which needs
  neither torch's 1.5-2 s import nor its per-operation dispatch at batch size 1.

``ARCHITECTURES`` maps an architecture name to its (config class, model
class); ``build_model(arch, config_dict)`` builds one from a plain dict such
as ``dataclasses.asdict(model.config)`` read back from JSON.  Names are
imported lazily, so the configs and the runtimes load without torch.
"""

from __future__ import annotations

from composer.lazy import lazy_exports

_API = {
    "ARCHITECTURES": "composer.nn.models",
    "build_model": "composer.nn.models",
    "LanguageModel": "composer.nn.base",
    "KVCache": "composer.nn.transformer",
    "TransformerLM": "composer.nn.transformer",
    "LSTMCache": "composer.nn.lstm",
    "LSTMLM": "composer.nn.lstm",
    "TransformerConfig": "composer.nn.configs",
    "LSTMConfig": "composer.nn.configs",
    "CONFIGS": "composer.nn.configs",
    "config_from_dict": "composer.nn.configs",
}

__all__ = list(_API)

__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
