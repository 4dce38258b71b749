"""Fine-tuning: a trained model as the start of a run on a user's own pieces.

``composer train MY_FOLDER --from chorale -o mine.safetensors`` (``composer.train(...,
init="chorale")``) is a training run like any other (``composer.training``: the same
loop, checkpoints and ``--resume``) that differs in what it starts from and in its
defaults. This module holds what differs:

* **Vocabulary and architecture are the base model's.** The folder's pieces get one
  style: ``--style NAME``, else, for a plain folder, a new style named after the folder
  (``~/My Hymns`` -> ``my_hymns``); a collection with a manifest keeps its own style.
  A style the base vocabulary lacks is added after every other token
  (``Tokenizer.with_style``), so every id of the base vocabulary keeps its meaning,
  and the embedding and output rows grow by one. The row of a style the base never
  trained on (a new one, or one its vocabulary had unused) starts as the mean of the
  rows of the styles it did train on (``FineTuneConfig.style_init`` names one
  instead): the fine-tuned model starts out writing as the base writes.
* **Settings for 10-200 pieces on a CPU**: ``training.FINETUNE_PRESET`` (a few hundred
  steps at a low learning rate, frequent evaluations, short patience) and
  ``FineTuneConfig`` below.
* **Early stopping on the user's own pieces**: the project's split rule
  (``composer.corpus.split_of``); when it leaves the valid split empty, as it often
  does for a dozen files, a ``valid_fraction`` of the training pieces (at least one,
  those whose names have the lowest sha1) is held out instead.
* **A guard against forgetting: replay.** Each batch takes a ``replay_share`` of its
  windows from the train split of the base model's corpus (``midi_corpus/chorales``
  for ``chorale``), found beside the current folder or composer's checkout, when it
  is there; the base's styles keep seeing their own music. LoRA was the other
  candidate; replay needs no change to the networks or the model files, and measured
  well (README, "Make it yours").
* **A second guard: the anchor** (``anchor``, off by default). The base model's own
  next-token distributions, computed beside every training step, pin the run's: a
  loss on the divergence from them over every scored token, so that what the folder
  (or a refinement's loss) does not teach moves as little as it can. It costs one more
  forward pass a step; ``composer refine --select`` uses it (``composer.refinement``).
* **Provenance**: the model file's training metadata gains ``fine_tuning``: the base
  (name, file, sha256, corpus, its own ``fine_tuning`` if it was fine-tuned too), the
  data (folder, the cache fingerprint of its files, the sha1 of their contents per
  split, the pieces held out), the style and how its row started, the replay corpus,
  and these settings. ``provenance(model)`` reads it back.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from composer.cache import fingerprint
from composer.corpus import COLLECTIONS, discover, has_manifests
from composer.errors import ComposerError
from composer.settings import check_ranges, setting

if TYPE_CHECKING:
    from composer.dataset import TokenData, TokenSplit
    from composer.modelfile import Model
    from composer.tokens import Tokenizer

PROVENANCE_KEY = "fine_tuning"  # in a model file's training metadata
# Architecture settings a base model fixes; a run from it may repeat them, not change them.
ARCHITECTURE_FIELDS = ("n_layers", "d_model", "n_heads", "d_embed", "d_hidden", "dropout", "d_ff", "context_len", "tie_embeddings", "rope_base")


class FineTuneError(ComposerError):
    """A fine-tuning run cannot start: its base model, its folder or its settings are at fault."""


@dataclass
class FineTuneConfig:
    """What a run from a trained model needs beyond a ``TrainConfig``; saved in checkpoints and model files.

    Each field's default and range are written here once; ``composer train --from``
    builds its options from them. Bad values raise ``FineTuneError``.
    """

    replay_share: float = setting(0.5, min=0, max=0.75)  # of each batch's windows, from the base's corpus; 0: no replay
    replay_corpus: str | None = None  # a folder of the base's music to replay; None: the base's own corpus, where it is found
    valid_fraction: float = setting(0.1, min=0, max=0.5, min_open=True)  # held out when the split rule leaves no valid piece
    style_init: str | None = None  # a base style whose rows start a new style; None: the mean of the styles the base trained on
    # a transformer's top N blocks and its final norm trained, everything below (embedding, and the output tied to it) kept
    # as the base has it: less to forget; None: every weight
    top_layers: int | None = setting(None, min=1, max=64, integer=True)
    # Weight of the divergence KL(base || model) of the next-token distributions, on every scored token of every window:
    # what the run does not teach stays as the base has it (training.anchor_loss); 0: none. A resumed run needs its base.
    anchor: float = setting(0.0, min=0, max=100)
    anchor_model: str | None = None  # a model file (with the run's vocabulary) whose predictions the anchor holds to; None: the base

    def __post_init__(self) -> None:
        check_ranges(self, FineTuneError)


# -- the base model ------------------------------------------------------------
def base_record(base: Model) -> dict[str, Any]:
    """What the fine-tuned model says of its base: enough to find it and to know it is the same file."""
    if base.path is None:
        raise FineTuneError("init: give a model name, a model file, or a Model loaded from one (this Model has no file)")
    record = {
        "name": base.path.stem,
        "file": base.path.name,
        "sha256": base.sha256,
        "arch": base.arch,
        "corpus": base.training.get("corpus"),
        "train_files_sha1": base.training.get("train_files_sha1"),
        "test_bits_per_note": base.training.get("test_bits_per_note"),
    }
    if base.training.get(PROVENANCE_KEY):
        record[PROVENANCE_KEY] = base.training[PROVENANCE_KEY]  # the chain: what the base was fine-tuned from
    return record


def check_architecture(base: Model, options: dict[str, Any] | None, arch: str | None) -> None:
    """Raise FineTuneError when ``arch`` or an architecture option differs from the base's."""
    name = base.path.stem if base.path else "the base model"
    if arch is not None and arch != base.arch:
        raise FineTuneError(f"--from {name}: it is a {base.arch}; arch {arch!r} contradicts it (fine-tuning keeps the base's architecture)")
    config = asdict(base.config)
    for key, value in (options or {}).items():
        if key == "vocab_size" or value is None:
            continue
        if key not in config:
            raise FineTuneError(f"--from {name}: a {base.arch} has no setting {key!r}")
        if config[key] != value:
            raise FineTuneError(f"--from {name}: its {key} is {config[key]!r}; {value!r} contradicts it (fine-tuning keeps the base's architecture)")


def trained_styles(base: Model) -> list[str]:
    """The styles the base model was trained on (its style profiles), else every style of its vocabulary."""
    known = [s for s in (base.training.get("styles") or {}) if f"Style_{s}" in base.tokenizer.ids]
    return known or list(base.tokenizer.config.all_styles)


# -- the folder's style --------------------------------------------------------------
def style_from_folder(folder: str | Path) -> str:
    """A style name made from a folder's name: lower case, runs of other characters as '_' ('My Hymns' -> 'my_hymns')."""
    name = re.sub(r"[^0-9a-z]+", "_", Path(folder).resolve().name.lower()).strip("_")
    if not name or name[0].isdigit():
        name = f"style_{name}".rstrip("_")
    return name


def folder_styles(folder: str | Path, style: str | None) -> tuple[str | None, list[str]]:
    """(the style to give every piece, or None to keep a manifest's; the styles the pieces will have).

    Raises the corpus's one-line errors for a missing or empty folder.
    """
    if style is None and not has_manifests(folder):
        style = style_from_folder(folder)
    if style is not None and not (style.isidentifier() and style.isascii()):
        raise FineTuneError(f"style {style!r}: a style name must be a Python identifier (letters, digits, '_')")
    pieces = discover(folder, style=style)
    return style, sorted({p.style for p in pieces})


def data_fingerprint(folder: str | Path, style: str | None) -> str:
    """``composer.cache.fingerprint`` of the folder's pieces (name, split, style; size and modification time)."""
    pieces = discover(folder, style=style)
    return fingerprint({"style": style}, ((f"{p.name}\t{p.split}\t{p.style}", p.path) for p in pieces))


# -- vocabulary and weights ------------------------------------------------------------
@dataclass
class StartingPoint:
    """The base's vocabulary and weights, made ready for the folder's styles."""

    tokenizer: Tokenizer
    model_config: dict[str, Any]
    state: dict[str, Any]  # torch tensors by state_dict name (a tied head once)
    styles: dict[str, str]  # each of the folder's styles -> how its rows started


def starting_point(base: Model, styles: list[str], style_init: str | None) -> StartingPoint:
    """The base's tokenizer with ``styles`` added where it lacks them, and its weights grown to match.

    Rows of the styles the base never trained on start as the mean of the rows
    of ``style_init`` (one base style) or of the styles it trained on. Every
    other row is the base's, id for id.
    """
    trained = trained_styles(base)
    if style_init is not None and style_init not in trained:
        raise FineTuneError(f"style_init {style_init!r}: the base model was trained on {', '.join(trained)}, not on it")
    sources = [style_init] if style_init is not None else trained
    tokenizer = base.tokenizer
    for style in styles:
        tokenizer = tokenizer.with_style(style)
    config = asdict(base.config) | {"vocab_size": len(tokenizer)}
    rows = _vocabulary_rows(base.arch, config)
    source_ids = [base.tokenizer.ids[f"Style_{s}"] for s in sources]
    fresh = [tokenizer.ids[f"Style_{s}"] for s in styles if s not in trained]
    state = {}
    for name, tensor in base.network.state_tensors().items():
        if name in rows:  # one row per token: the embedding, the output weight and bias
            grown = tensor.new_zeros((len(tokenizer), *tensor.shape[1:]))
            grown[: len(tensor)] = tensor
            grown[fresh] = tensor[source_ids].mean(dim=0)
            tensor = grown
        state[name] = tensor
    origin = {s: "trained by the base model" if s in trained else f"new: the mean of the base's {', '.join(sources)} rows" for s in styles}
    return StartingPoint(tokenizer, config, state, origin)


def _vocabulary_rows(arch: str, config: dict[str, Any]) -> set[str]:
    """The weights with one row per token: those whose shape changes with the vocabulary size."""
    from composer.nn.configs import CONFIGS, config_from_dict
    from composer.nn.runtime import expected_shapes

    def shapes(vocab_size: int) -> dict[str, tuple[int, ...]]:
        return expected_shapes(arch, config_from_dict(CONFIGS[arch], arch, config | {"vocab_size": vocab_size}))

    now, more = shapes(config["vocab_size"]), shapes(config["vocab_size"] + 1)
    return {name for name in now if now[name] != more[name]}


# -- held-out pieces -------------------------------------------------------------------
def _subset(split: TokenSplit, chosen: list[int]) -> TokenSplit:
    from composer.dataset import TokenSplit

    pieces = [np.asarray(split.piece(i), np.int16) for i in chosen]
    offsets = np.zeros(len(pieces) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pieces])
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    return TokenSplit(tokens, offsets, np.asarray(split.notes)[chosen], [split.names[i] for i in chosen], [split.phrase_ends(i) for i in chosen])


def hold_out(data: TokenData, fraction: float, folder: str | Path) -> list[str]:
    """Make sure ``data`` has validation pieces; the names moved from train to valid (none if the split rule gave some).

    Changes ``data.splits`` in place. Raises FineTuneError when fewer than two
    training pieces leave nothing to hold out.
    """
    train, valid = data.splits["train"], data.splits["valid"]
    if len(valid):
        if not len(train):
            raise FineTuneError(f"{folder}: no piece falls in the train split (the sha1 of the file name decides); add pieces")
        return []
    if len(train) < 2:
        raise FineTuneError(f"{folder}: {len(train)} training piece{'s' if len(train) != 1 else ''}; fine-tuning needs at least 2 (one is held out to stop early)")
    count = min(len(train) - 1, max(1, round(fraction * len(train))))
    order = sorted(range(len(train)), key=lambda i: hashlib.sha1(train.names[i].encode("utf-8")).hexdigest())
    moved, kept = sorted(order[:count]), sorted(order[count:])
    data.splits["valid"] = _subset(train, moved)
    data.splits["train"] = _subset(train, kept)
    return [train.names[i] for i in moved]


def check_all_read(data: TokenData, folder: str | Path) -> None:
    """Fine-tuning uses every piece of a user's folder or none: one that the vocabulary cannot hold is an error."""
    if data.failures:
        total = len(data.failures) + sum(len(s) for s in data.splits.values())
        raise FineTuneError(f"{folder}: {len(data.failures)} of {total} files cannot be used with the base vocabulary (fix or remove them); first: {data.failures[0]}")


# -- replay ---------------------------------------------------------------------------
def replay_folder(base: Model, settings: FineTuneConfig) -> Path | None:
    """The folder of the base's own music to replay: ``settings.replay_corpus``, else the base's corpus where it is found."""
    if settings.replay_share == 0:
        return None
    if settings.replay_corpus is not None:
        folder = Path(settings.replay_corpus)
        if not folder.is_dir():
            raise FineTuneError(f"{folder}: no such folder (replay_corpus: the base model's training music)")
        return folder.resolve()
    earlier = (base.training.get(PROVENANCE_KEY) or {}).get("replay") or {}
    name = earlier.get("corpus") or base.training.get("corpus")
    if not isinstance(name, str) or name not in COLLECTIONS:
        return None
    checkout = Path(__file__).resolve().parent.parent / "midi_corpus"
    for root in (Path("midi_corpus"), checkout):
        if (root / name).is_dir() and has_manifests(root / name):
            return (root / name).resolve()
    return None


def replay_record(folder: Path, data: TokenData, base_train_sha1: str | None) -> dict[str, Any]:
    return {
        "corpus": folder.name,
        "train_pieces": len(data.splits["train"]),
        "train_files_sha1": data.files_sha1.get("train"),
        "same_as_base_training": base_train_sha1 is not None and data.files_sha1.get("train") == base_train_sha1,
    }


# -- provenance ---------------------------------------------------------------------
def provenance(model: Model | dict[str, Any]) -> dict[str, Any] | None:
    """The fine-tuning record of a model (or of its training metadata), None for a model trained from nothing."""
    training = model if isinstance(model, dict) else model.training
    record = training.get(PROVENANCE_KEY)
    return record if isinstance(record, dict) else None


def lineage(model: Model | dict[str, Any]) -> list[str]:
    """The base models a model was fine-tuned from, nearest first (``[]`` for one trained from nothing)."""
    names, record = [], provenance(model)
    while record is not None:
        base = record.get("base") or {}
        names.append(str(base.get("name", "?")))
        record = base.get(PROVENANCE_KEY) if isinstance(base.get(PROVENANCE_KEY), dict) else None
    return names
