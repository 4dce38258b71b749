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

torch is an extra (``pip install 'composer[train]'``): ``require_torch`` is the
one check every torch entry point (training, bits per note, ``Model.network``,
the torch models here) makes first, so a light install answers in one line
which extra it lacks instead of a traceback.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from composer.lazy import lazy_exports
from composer.errors import ComposerError

TORCH_EXTRA = "pip install 'composer[train]'"
# The names below that live in modules importing torch at the top.
_TORCH_MODULES = ("composer.nn.models", "composer.nn.base", "composer.nn.transformer", "composer.nn.lstm", "composer.nn.harmonizer")


class MissingTorchError(ComposerError, ImportError):
    """torch is needed (training, bits per note, the torch models) and not installed."""


def require_torch(what: str = "this") -> ModuleType:
    """The ``torch`` module; if it cannot be imported, a one-line MissingTorchError naming the extra to install.

    Before torch's first import, OpenMP is told not to spin-wait (unless the
    environment says otherwise): spinning threads crawl on a core that anything
    else uses, from Python as from the command line.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        raise MissingTorchError(f"{what} needs torch, which is not installed: {TORCH_EXTRA}") from None
    return torch

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

__all__ = [*_API, "require_torch", "MissingTorchError", "TORCH_EXTRA"]

_lazy_getattr, __dir__ = lazy_exports(__name__, _API, globals())


def __getattr__(name: str) -> object:
    if _API.get(name) in _TORCH_MODULES:
        require_torch(f"composer.nn.{name}")
    return _lazy_getattr(name)
