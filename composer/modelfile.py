"""Model files: one ``.safetensors`` file holding weights, model config, tokenizer and training metadata.

Everything but the weights lives in the safetensors header's string metadata
as JSON, so a model is a single file that loads without unpickling anything:

    format           "composer-model"
    format_version   "1"
    arch             "transformer" | "lstm"
    model_config     the architecture's dataclass config
    tokenizer        the tokenizer's format, version, config and vocabulary
    training         corpus, split, files hash, steps, bits per note, library versions
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.tokens import Tokenizer

MODEL_FORMAT = "composer-model"
MODEL_FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"
MODELS_ENV = "COMPOSER_MODELS"  # extra folders (os.pathsep-separated) searched for models by name


class ModelFileError(ComposerError):
    """A model file is missing, not a model, or from an unsupported format version."""


@dataclass
class Model:
    """A trained network with the tokenizer it was trained with."""

    network: Any  # composer.nn.LanguageModel
    tokenizer: Tokenizer
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def arch(self) -> str:
        return self.network.arch

    @property
    def name(self) -> str:
        return self.path.stem if self.path else self.arch

    def generate(self, seed: Any = None, *, bars: int = 16, **settings: Any) -> Any:
        """A new piece (a Score) continuing ``seed`` (a Score, or None to start from nothing).

        ``settings`` are those of ``composer.generate.GenerationSettings``:
        style, key, time_signature, tempo_qpm, temperature, top_k, top_p,
        allow_chromatic, random_seed.
        """
        return self.variations(seed, 1, bars=bars, **settings)[0]

    def variations(self, seed: Any = None, num_samples: int = 2, *, bars: int = 16, **settings: Any) -> list[Any]:
        """``num_samples`` pieces sampled as one batch (same arguments as ``generate``)."""
        from composer.generate import GenerationSettings, generate_batch

        return generate_batch(self, seed, GenerationSettings(bars=bars, **settings), num_samples=num_samples)

    def harmonize(self, melody: Any, **settings: Any) -> Any:
        """Keep ``melody`` (a Score) as the top voice and write the voices under it."""
        from composer.generate import GenerationSettings, generate

        return generate(self, melody, GenerationSettings(mode="harmonize", **settings))

    def __repr__(self) -> str:
        return f"<Model {self.name!r}: {self.arch}, {self.network.num_parameters():,} parameters, {len(self.tokenizer)} tokens>"


def header(model: Model) -> dict[str, str]:
    """The safetensors metadata of a model (all strings)."""
    return {
        "format": MODEL_FORMAT,
        "format_version": str(MODEL_FORMAT_VERSION),
        "arch": model.arch,
        "model_config": json.dumps(asdict(model.network.config)),
        "tokenizer": json.dumps(model.tokenizer.to_dict()),
        "training": json.dumps(model.training, sort_keys=True),
    }


def save_model(model: Model, path: str | Path, *, force: bool = False, half: bool = False) -> Path:
    """Write a model file atomically; ``half`` stores float16 weights (half the size)."""
    import torch
    from safetensors.torch import save_file

    from composer.io._atomic import atomic_path

    tensors = _dedupe_tied(model.network, torch.float16 if half else None)
    with atomic_path(path, force=force) as tmp:
        save_file(tensors, str(tmp), metadata=header(model))
    return Path(path)


def _dedupe_tied(network: Any, dtype: Any) -> dict[str, Any]:
    state = network.state_dict()
    out: dict[str, Any] = {}
    pointers: dict[tuple[int, tuple[int, ...]], str] = {}
    for name, tensor in state.items():
        ident = (tensor.data_ptr(), tuple(tensor.shape))
        if ident in pointers:  # a tied weight: load_state_dict(strict=False) restores it from its twin
            continue
        pointers[ident] = name
        t = tensor.detach()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[name] = t.contiguous().clone()
    return out


def read_header(path: str | Path) -> dict[str, str]:
    """The metadata of a model file, checked for format and version; raises ModelFileError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for non-safetensors data
        raise ModelFileError(f"{path}: not a composer model file (not safetensors: {str(exc).splitlines()[0]})") from None
    if meta.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a composer model file (safetensors without \"format\": \"{MODEL_FORMAT}\")")
    version = meta.get("format_version")
    if version != str(MODEL_FORMAT_VERSION):
        raise ModelFileError(f"{path}: model format version {version!r} is not supported; this composer reads version {MODEL_FORMAT_VERSION}")
    return meta


def load_model_file(path: str | Path) -> Model:
    """Load a model file (never through pickle)."""
    import torch
    from safetensors.torch import load_file

    from composer.nn import build_model

    path = Path(path)
    meta = read_header(path)
    try:
        config = json.loads(meta["model_config"])
        tokenizer = Tokenizer.from_dict(json.loads(meta["tokenizer"]), str(path))
        training = json.loads(meta.get("training", "{}"))
        network = build_model(meta["arch"], config)
    except (KeyError, json.JSONDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: damaged model header ({exc})") from None
    if config.get("vocab_size") != len(tokenizer):
        raise ModelFileError(f"{path}: vocabulary mismatch: the network has {config.get('vocab_size')} tokens, the tokenizer {len(tokenizer)}")
    tensors = load_file(str(path))
    expected = network.state_dict()
    missing = [k for k in expected if k not in tensors and not _is_tied(network, k, tensors)]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        raise ModelFileError(f"{path}: weights do not fit the {meta['arch']} config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelFileError(f"{path}: weight {name} has shape {tuple(tensor.shape)}, the config needs {tuple(expected[name].shape)}")
    with torch.no_grad():
        network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, strict=False)
    network.eval()
    return Model(network=network, tokenizer=tokenizer, training=training, path=path)


def _is_tied(network: Any, name: str, tensors: dict[str, Any]) -> bool:
    """True if parameter ``name`` shares storage with one that was saved."""
    state = network.state_dict()
    ptr = state[name].data_ptr()
    return any(state[other].data_ptr() == ptr for other in tensors if other in state and other != name)


def search_path() -> list[Path]:
    """Folders searched for models by name: $COMPOSER_MODELS, then the models shipped with composer."""
    import importlib.util

    folders = [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("composer_models")  # models/, installed as a package
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) for p in spec.submodule_search_locations]
    repo = Path(__file__).resolve().parent.parent / "models"  # a source checkout that was not installed
    if repo not in folders:
        folders.append(repo)
    return folders


def find_model(name_or_path: str | Path) -> Path:
    """A model's path: an existing file, or NAME(.safetensors) in the search path."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    if candidate.suffix == "" and len(candidate.parts) == 1:
        for folder in search_path():
            path = folder / f"{candidate.name}{MODEL_SUFFIX}"
            if path.is_file():
                return path
        known = sorted({p.stem for folder in search_path() if folder.is_dir() for p in folder.glob(f"*{MODEL_SUFFIX}")})
        raise ModelFileError(f"no model named {str(name_or_path)!r}; known models: {', '.join(known) or 'none'} (search path: ${MODELS_ENV}, then composer's models/)")
    raise ModelFileError(f"{candidate}: no such model file")


def load_model(name_or_path: str | Path) -> Model:
    """Load a model by path or by name (see ``search_path``)."""
    return load_model_file(find_model(name_or_path))
