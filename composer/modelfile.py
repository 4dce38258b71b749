"""Model files: one ``.safetensors`` file holding weights, model config, tokenizer and training metadata.

Everything but the weights lives in the safetensors header's string metadata
as JSON, so a model is a single file that loads without unpickling anything:

    format           "composer-model"
    format_version   "1"
    arch             "transformer" | "lstm"
    model_config     the architecture's dataclass config
    tokenizer        the tokenizer's format, version, config and vocabulary
    training         corpus, split, files hash, steps, bits per note, library versions;
                     a fine-tuned model's base, data and settings under "fine_tuning"
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from composer.errors import ComposerError
from composer.tokens import Tokenizer
from composer.tokens.ahead import check_sizes

if TYPE_CHECKING:
    from composer.score import Score

MODEL_FORMAT = "composer-model"
MODEL_FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"
MODELS_ENV = "COMPOSER_MODELS"  # extra folders (os.pathsep-separated) searched for models by name


class ModelFileError(ComposerError):
    """A model file is missing, not a model, or from an unsupported format version."""


class Model:
    """A trained network with the tokenizer it was trained with.

    Made from a torch network (``Model(network, tokenizer, ...)``, as training
    does) or from a model file's weights (``load_model``). Generation runs on
    ``runtime``, the numpy implementation, so loading and generating never
    import torch; ``network``, the torch module for training and scoring, is
    built from the weights on first use.
    """

    def __init__(self, network: Any, tokenizer: Tokenizer, training: dict[str, Any] | None = None, path: Path | None = None,
                 *, weights: dict[str, Any] | None = None, arch: str | None = None, config: Any = None) -> None:
        """From a torch ``network``, or (``network=None``) from numpy ``weights`` with their ``arch`` and ``config``."""
        self._network = network
        self._weights = weights
        self._runtime: Any = None
        self.arch: str = network.arch if network is not None else arch
        self.config: Any = network.config if network is not None else config
        self.tokenizer = tokenizer
        self.training: dict[str, Any] = dict(training or {})
        self.path = path
        self._sha256: str | None = None

    @classmethod
    def from_weights(cls, arch: str, config: Any, weights: dict[str, Any], tokenizer: Tokenizer,
                     training: dict[str, Any] | None = None, path: Path | None = None) -> "Model":
        """A model from numpy weights named as in the torch ``state_dict`` (a tied head once)."""
        return cls(None, tokenizer, training, path, weights=weights, arch=arch, config=config)

    @property
    def name(self) -> str:
        return self.path.stem if self.path else self.arch

    @property
    def sha256(self) -> str | None:
        """The sha256 (hex) of the file the model was loaded from, read once; None for a model made in memory.

        Generated pieces record it (``model_sha256`` in their metadata), so ``composer refine``
        can tell which model made them.
        """
        if self._sha256 is None and self.path is not None and self.path.is_file():
            from composer.cache import file_sha256

            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def network(self) -> Any:
        """The torch module (``composer.nn.LanguageModel``), built from the weights on first use."""
        if self._network is None:
            from composer.nn import require_torch

            torch = require_torch("Model.network (the torch module, for training and scoring)")
            from composer.nn import build_model
            from composer.nn.runtime import expected_shapes

            network = build_model(self.arch, self.config)
            state = {k: torch.from_numpy(v.astype("float32", copy=False)) for k, v in self._weights.items()}
            missing, unexpected = network.load_state_dict(state, strict=False)
            # Only a tied head may be missing: expected_shapes leaves it out, as model files do.
            if unexpected or set(missing) & set(expected_shapes(self.arch, self.config)):
                raise ModelFileError(f"{self.path}: weights do not fit the {self.arch} network (missing {missing[:3]}, unexpected {unexpected[:3]})")
            self._network = network.eval()
            self._weights = self._runtime = None  # from now on the network is the one copy of the weights
        return self._network

    @property
    def runtime(self) -> Any:
        """The numpy implementation used for generation (``composer.nn.runtime``).

        Built from the torch network's current weights when there is one (views,
        no copy), so it never goes stale while the network trains.
        """
        from composer.nn.runtime import build_runtime

        if self._network is not None:
            state = {k: v.detach().float().cpu().numpy() for k, v in self._network.state_dict().items()}
            return build_runtime(self.arch, self.config, state)
        if self._runtime is None:
            self._runtime = build_runtime(self.arch, self.config, self._weights)
        return self._runtime

    def num_parameters(self) -> int:
        """Number of weights; a tied weight counts once."""
        if self._network is not None:
            return self._network.num_parameters()
        return sum(int(v.size) for v in self._weights.values())

    def generate(self, seed: Score | None = None, **settings: Any) -> Score:
        """A new piece (a Score) continuing ``seed`` (a Score, or None to start from nothing).

        ``settings`` are the fields of ``composer.generate.GenerationSettings``, with its
        defaults and checks: bars, style, key, time_signature, tempo_qpm, temperature,
        top_k, top_p, allow_chromatic, allow_parallels, random_seed; form ("AABB", "A A' B A"),
        section_bars, phrase_bars and repeats ("written" or "signs") shape it (``composer.form``);
        without a form, the piece draws one of its style's learned forms unless learned_form=False.
        """
        return self.variations(seed, 1, **settings)[0]

    def variations(self, seed: Score | None = None, num_samples: int = 2, **settings: Any) -> list[Score]:
        """``num_samples`` pieces sampled as one batch, those with a form one after another (same arguments as ``generate``)."""
        from composer.generate import GenerationSettings, generate_batch

        return generate_batch(self, seed, GenerationSettings(**settings), num_samples=num_samples)

    def harmonize(self, melody: Score, **settings: Any) -> Score:
        """Keep ``melody`` (a Score) as the top voice and write the voices under it, as many bars as it has."""
        from composer.generate import GenerationSettings, generate

        return generate(self, melody, GenerationSettings(mode="harmonize", **settings))

    def accompany(self, score: Score, parts: Sequence[str | int], **settings: Any) -> Score:
        """Keep ``parts`` of ``score`` (names or 1-based numbers: a melody and a bass line, soprano and bass, ...)
        note for note for the whole piece and write the style's other parts around them, as many bars as it has."""
        from composer.generate import GenerationSettings, generate

        return generate(self, score, GenerationSettings(mode="accompany", keep_parts=tuple(str(p) for p in parts), **settings))

    def infill(self, score: Score, bars: tuple[int, int], parts: Sequence[str | int] | None = None, **settings: Any) -> Score:
        """Rewrite bars ``first..last`` (1-based, inclusive; 0 names a pickup) of ``parts`` (default: all) and
        keep every other note of ``score`` note for note; the notes after the region are forced, so the new
        music joins them."""
        from composer.generate import GenerationSettings, generate

        chosen = None if parts is None else tuple(str(p) for p in parts)
        return generate(self, score, GenerationSettings(mode="infill", infill_bars=tuple(bars), infill_parts=chosen, **settings))

    def __repr__(self) -> str:
        return f"<Model {self.name!r}: {self.arch}, {self.num_parameters():,} parameters, {len(self.tokenizer)} tokens>"


def header(model: Model) -> dict[str, str]:
    """The safetensors metadata of a model (all strings)."""
    return {
        "format": MODEL_FORMAT,
        "format_version": str(MODEL_FORMAT_VERSION),
        "arch": model.arch,
        "model_config": json.dumps(asdict(model.config)),
        "tokenizer": json.dumps(model.tokenizer.to_dict()),
        "training": json.dumps(model.training, sort_keys=True),
    }


def save_model(model: Model, path: str | Path, *, force: bool = False, half: bool = False) -> Path:
    """Write a model file atomically; ``half`` stores float16 weights (half the size)."""
    import torch
    from safetensors.torch import save

    from composer.io.atomic import atomic_path, save_bytes

    tensors = model.network.state_tensors(torch.float16 if half else None)
    # Bytes written by composer: safetensors' own save_file leaves a hidden .tmpXXXXXX when killed.
    data = save(tensors, metadata=header(model))
    with atomic_path(path, force=force) as tmp:
        save_bytes(tmp, data, "the model")
    return Path(path)


def update_training_metadata(path: str | Path, updates: dict[str, Any]) -> Path:
    """Rewrite a model file with ``updates`` merged into its training metadata; the weights stay byte for byte."""
    from safetensors.numpy import load_file, save

    from composer.io.atomic import atomic_path, save_bytes

    path = Path(path)
    meta = dict(read_header(path))
    training = json.loads(meta.get("training", "{}"))
    training.update(updates)
    meta["training"] = json.dumps(training, sort_keys=True)
    tensors = load_file(str(path))
    data = save(tensors, metadata=meta)
    with atomic_path(path, force=True) as tmp:
        save_bytes(tmp, data, "the model")
    return path


def read_header(path: str | Path) -> dict[str, str]:
    """The metadata of a model file, checked for format and version; raises ModelFileError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="numpy") as f:
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
    """Load a model file (never through pickle, and without torch)."""
    from safetensors.numpy import load_file

    from composer.nn.configs import CONFIGS, config_from_dict
    from composer.nn.runtime import expected_shapes

    path = Path(path)
    meta = read_header(path)
    try:
        arch = meta["arch"]
        if arch not in CONFIGS:
            raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(CONFIGS))}")
        config = config_from_dict(CONFIGS[arch], arch, json.loads(meta["model_config"]))
        tokenizer = Tokenizer.from_dict(json.loads(meta["tokenizer"]), str(path))
    except (KeyError, TypeError, json.JSONDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: damaged model header ({exc})") from None
    training = training_metadata(meta, path)
    if getattr(config, "ahead_sizes", ()):
        try:
            check_sizes(config.ahead_sizes)
        except ValueError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
    if config.vocab_size != len(tokenizer):
        raise ModelFileError(f"{path}: vocabulary mismatch: the network has {config.vocab_size} tokens, the tokenizer {len(tokenizer)}")
    # The config's sizes are bounded (composer.nn.configs.LIMITS), so the expected shapes are
    # cheap to list; they are compared with the shapes in the header before any weight is read.
    expected = expected_shapes(arch, config)
    present = tensor_shapes(path)
    missing = [k for k in expected if k not in present]
    unexpected = [k for k in present if k not in expected]
    if missing or unexpected:
        raise ModelFileError(f"{path}: weights do not fit the {arch} config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for name, shape in present.items():
        if shape != expected[name]:
            raise ModelFileError(f"{path}: weight {name} has shape {shape}, the config needs {expected[name]}")
    import numpy as np

    weights = {k: v.astype("float32", copy=False) for k, v in load_file(str(path)).items()}
    for name, array in weights.items():
        if not np.isfinite(array).all():
            raise ModelFileError(f"{path}: weight {name} holds NaN or infinite values; the model file is damaged")
    return Model.from_weights(arch, config, weights, tokenizer, training, path)


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each weight's shape as the file's header states it (no weight is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except Exception as exc:  # safetensors' own error types
        raise ModelFileError(f"{path}: damaged model file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


# The training metadata composer reads back, with the JSON types it must have.
_TRAINING_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "styles": ((dict, list), "an object or a list"),
    "data_sources": ((list,), "a list"),
    "sampling": ((dict,), "an object"),
    "train_config": ((dict,), "an object"),
    "test_bits_per_note": ((int, float), "a number"),
    "fine_tuning": ((dict,), "an object"),
}


def training_metadata(meta: dict[str, str], path: Path) -> dict[str, Any]:
    """The header's training metadata, checked for the JSON types composer relies on; raises ModelFileError."""
    try:
        training = json.loads(meta.get("training", "{}"))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: damaged model header ({exc})") from None
    if not isinstance(training, dict):
        raise ModelFileError(f"{path}: damaged model header (training metadata is {type(training).__name__}, expected an object)")
    for key, (types, wanted) in _TRAINING_TYPES.items():
        value = training.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise ModelFileError(f"{path}: damaged model header (training metadata {key!r} is {type(value).__name__}, expected {wanted})")
    return training


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


@dataclass(frozen=True)
class ModelInfo:
    """What ``composer models`` shows of a model file, read from its header alone (no weights loaded)."""

    name: str
    path: Path
    arch: str
    size_bytes: int
    styles: tuple[str, ...] = ()
    test_bits_per_note: float | None = None
    sampling: dict[str, Any] = field(default_factory=dict)  # the recommended sampling settings, {} for plain
    base: str | None = None  # the model it was fine-tuned from (composer.finetune), None for one trained from nothing


def model_info(path: str | Path) -> ModelInfo:
    """A model file's ``ModelInfo``; raises ModelFileError for a file that is not a readable model."""
    path = Path(path)
    meta = read_header(path)
    training = training_metadata(meta, path)
    return ModelInfo(
        name=path.stem,
        path=path,
        arch=meta.get("arch", "?"),
        size_bytes=path.stat().st_size,
        styles=tuple(sorted(training.get("styles") or {})),
        test_bits_per_note=training.get("test_bits_per_note"),
        sampling=dict(training.get("sampling") or {}),
        base=_base_name(training.get("fine_tuning")),
    )


def _base_name(record: dict[str, Any] | None) -> str | None:
    """'chorale (1a2b3c4d)' from a fine-tuning record (``composer.finetune``): the base's name and the start of its sha256."""
    base = (record or {}).get("base")
    if not isinstance(base, dict):
        return None
    digest = str(base.get("sha256") or "")[:8]
    return f"{base.get('name', '?')}" + (f" ({digest})" if digest else "")


def list_models(problems: list[str] | None = None) -> list[ModelInfo]:
    """The models findable by name, in search-path order (see ``search_path``).

    For each name, the first file along the path that reads as a composer
    model; other files (not safetensors, another format, damaged) are skipped,
    and their one-line errors appended to ``problems`` when it is given.
    """
    found: dict[str, ModelInfo] = {}
    for folder in search_path():
        for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")) if folder.is_dir() else []:
            if path.stem in found:
                continue
            try:
                found[path.stem] = model_info(path)
            except ModelFileError as exc:
                if problems is not None:
                    problems.append(str(exc))
    return list(found.values())


def load_model(name_or_path: str | Path) -> Model:
    """Load a model by path or by name (see ``search_path``)."""
    return load_model_file(find_model(name_or_path))
