"""composer: a symbolic music composition toolkit.

The public API is imported lazily, so ``import composer`` stays light: numpy,
torch and music21 load only when something that needs them is used.
"""

from __future__ import annotations

from composer.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "Score": "composer.score",
    "Part": "composer.score",
    "transpose": "composer.score",
    "quantize": "composer.score",
    "slice_bars": "composer.score",
    "merge_parts": "composer.score",
    "split_parts": "composer.score",
    "select_parts": "composer.score",
    "read": "composer.formats",
    "write": "composer.formats",
    "parse_tinynotation": "composer.io.notation",
    "Tokenizer": "composer.tokens",
    "load_model": "composer.modelfile",
    "Model": "composer.modelfile",
    "GenerationSettings": "composer.generate",
    "train": "composer.training",
    "TrainConfig": "composer.training",
    "finetune_config": "composer.training",
    "FineTuneConfig": "composer.finetune",
    "refine": "composer.refinement",
    "SelectConfig": "composer.refinement",
    "evaluate": "composer.evaluation",
    "evaluate_samples": "composer.evaluation",
    "check_originality": "composer.originality",
    "voice_leading": "composer.metrics",
    "TokenizerConfig": "composer.tokens",
    "ComposerError": "composer.errors",
}

__all__ = ["__version__", *_API]


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
