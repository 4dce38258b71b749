"""Training of the sequence models (their bits-per-note evaluation is in ``composer.evaluation``).

``train`` is what ``composer train`` calls: token cache, batches of random
windows with on-the-fly transposition, AdamW with warm-up and cosine decay,
validation bits per note with early stopping, the best model kept, atomic
checkpoints (every N steps, at the end, and on Ctrl-C) that ``resume``
continues exactly, and data-parallel training under ``torchrun``.

Determinism: the batch and the dropout masks of step ``k`` are drawn from
generators seeded by (random seed, k, rank), so a run resumed from a
checkpoint replays the same steps as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from composer.corpus import data_sources
from composer.dataset import TokenData, TokenSplit, load_tokens, style_profiles
from composer.nn.configs import HarmonizerTraining
from composer.errors import ComposerError
from composer.finetune import (
    PROVENANCE_KEY,
    FineTuneConfig,
    base_record,
    check_all_read,
    check_architecture,
    data_fingerprint,
    folder_styles,
    hold_out,
    replay_folder,
    replay_record,
    starting_point,
)
from composer.modelfile import Model, load_model, save_model
from composer.settings import check_ranges, setting
from composer.tokens import K_PITCH, Tokenizer, TokenizerConfig
from composer.tokens.ahead import AHEAD_SIZES, FIRST, LENGTH_COLUMNS, MELODY_COLUMNS, NOT_GIVEN, PHRASE_COLUMNS, PITCH_COLUMNS, features_from, walk
from composer.tokens.motion import parallel_hazards, transposed

if TYPE_CHECKING:
    import torch

    from composer.nn.base import LanguageModel

CHECKPOINT_SUFFIX = ".ckpt"
CHECKPOINT_FORMAT = "composer-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
DEVICES = ("auto", "cpu", "cuda", "mps")
# The defaults of a run from a trained model (``train(init=...)``, ``composer train --from``), for
# 10-200 pieces on a CPU: 150 short steps (about 3 minutes here) at half the from-nothing learning
# rate, evaluated often and stopped soon. benchmarks/finetune.py measured the choice (README, "Make it
# yours"): 2e-4 for 300 steps did a little better on held-out pieces in twice the time, and forgot more.
FINETUNE_PRESET: dict[str, Any] = {
    "max_steps": 150,
    "batch_size": 8,
    "seq_len": 256,
    "learning_rate": 5e-4,
    "warmup_steps": 10,
    "eval_every": 20,
    "checkpoint_every": 20,
    "patience": 3,
}


class TrainingError(ComposerError):
    """Training cannot start or go on (bad option, no checkpoint to resume, ...)."""


@dataclass
class TrainConfig:
    """Optimisation settings of a run; saved in checkpoints and model files.

    Each field's default and range are written here once; ``composer train``
    builds its options from them. Bad values raise ``TrainingError``.
    """

    arch: str = "transformer"
    max_steps: int = setting(2000, min=1, integer=True)
    batch_size: int = setting(16, min=1, integer=True)
    seq_len: int = setting(512, min=8, integer=True)  # tokens per training window
    learning_rate: float = setting(1e-3, min=0, min_open=True)
    min_lr_ratio: float = setting(0.1, min=0, max=1)  # cosine decay ends at learning_rate * min_lr_ratio
    warmup_steps: int = setting(100, min=0, integer=True)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = setting(200, min=1, integer=True)
    checkpoint_every: int = setting(200, min=1, integer=True)
    patience: int = setting(5, min=1, integer=True)  # evaluations without a better validation score before stopping
    augment: bool = True  # random transposition of each window
    max_transpose: int = setting(6, min=0, max=12, integer=True)  # semitones, inclusive, either way
    random_seed: int = setting(0, min=0, integer=True)  # numpy's seed sequences (the batches of each step) take no negative seeds
    style: str | None = None  # style token for folders without a manifest
    # The share of training windows that see each group of features ahead (composer.tokens.ahead: the given
    # melody's next notes, the bars left), drawn per window and group; 0 makes a model without them.
    ahead_share: float = setting(0.5, min=0, max=1)
    # Weight of a loss on the probability the model puts on pitches that would make parallel fifths or octaves
    # with a part above (composer.tokens.motion): the rule the generation masks enforce, taught to the model; 0: none.
    avoid_parallels: float = setting(0.0, min=0, max=1000)
    # Epochs of the harmonizer each style of several parts learns from the train split (composer.harmony:
    # the lower voices' pitch classes from the whole melody, which harmonizing leans on); 0: none.
    harmonizer_epochs: int = setting(HarmonizerTraining().epochs, min=0, max=200, integer=True)

    def __post_init__(self) -> None:
        from composer.nn.configs import CONFIGS

        if self.arch not in CONFIGS:
            raise TrainingError(f"unknown architecture {self.arch!r}; expected one of {', '.join(CONFIGS)}")
        check_ranges(self, TrainingError)


def finetune_config(base: Model | str | Path, **settings: Any) -> TrainConfig:
    """The ``TrainConfig`` of a run from ``base`` (a Model, a model name or file): ``FINETUNE_PRESET`` with ``settings`` on top.

    Unless given, the architecture is the base's and the window fits its context.
    """
    base = base if isinstance(base, Model) else load_model(base)
    preset = dict(FINETUNE_PRESET, arch=base.arch)
    context = getattr(base.config, "context_len", None)
    if context is not None:
        preset["seq_len"] = min(preset["seq_len"], context)
    return TrainConfig(**(preset | settings))


@dataclass
class TrainResult:
    model_path: Path
    checkpoint_path: Path
    steps: int
    best_valid_bits_per_note: float
    test_bits_per_note: float | None
    stopped_early: bool
    seconds: float
    losses: list[float] = field(default_factory=list)


class Reporter(Protocol):
    """What training tells the outside world; the CLI draws a progress bar from it."""

    def start(self, total_steps: int, first_step: int, info: dict[str, Any]) -> None: ...
    def step(self, step: int, loss: float) -> None: ...
    def evaluated(self, step: int, metrics: dict[str, float], improved: bool) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class SilentReporter:
    def start(self, total_steps: int, first_step: int, info: dict[str, Any]) -> None:
        pass

    def step(self, step: int, loss: float) -> None:
        pass

    def evaluated(self, step: int, metrics: dict[str, float], improved: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class BarReporter:
    """Progress as a tqdm bar with loss and validation bits per note: ``train``'s default, and the CLI's.

    ``tqdm.auto`` draws a widget in a notebook (with ipywidgets) and a text bar
    elsewhere; ``file`` is where text goes (default stderr).
    """

    def __init__(self, file: Any = None) -> None:
        self.file = file
        self.bar: Any = None
        self.postfix: dict[str, str] = {}

    def _text(self, text: str) -> None:
        import sys

        if self.bar is not None:
            self.bar.write(text, file=self.file or sys.stderr)
        else:
            print(text, file=self.file or sys.stderr, flush=True)

    def start(self, total_steps: int, first_step: int, info: dict[str, Any]) -> None:
        import warnings

        with warnings.catch_warnings():  # without ipywidgets tqdm.auto warns, then draws a text bar: fine
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

        self._text(f"{info['parameters']:,} parameters, {info['train_pieces']} training pieces")
        if info.get("failures"):
            self._text(f"{len(info['failures'])} files could not be read, e.g. {info['failures'][0]}")
        self.bar = tqdm(total=total_steps, initial=first_step, unit="step", file=self.file, dynamic_ncols=True)

    def step(self, step: int, loss: float) -> None:
        self.postfix["loss"] = f"{loss:.3f}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(1)

    def evaluated(self, step: int, metrics: dict[str, float], improved: bool) -> None:
        self.postfix["valid bits/note"] = f"{metrics['bits_per_note']:.3f}" + (" *" if improved else "")
        self.bar.set_postfix(self.postfix)

    def message(self, text: str) -> None:
        self._text(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def checkpoint_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + CHECKPOINT_SUFFIX)


# -- devices and processes -------------------------------------------------
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _dist_from_env() -> _Dist:
    """This process's rank among ``torchrun``'s (one process alone when not under it); no torch needed."""
    return _Dist(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0")))


def _init_device(device: str, dist: _Dist) -> torch.device:
    """The torch device of this process (and the process group under ``torchrun``)."""
    from composer.nn import require_torch

    torch = require_torch("training")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda: no CUDA device is available")
    if device == "mps" and not torch.backends.mps.is_available():
        raise TrainingError("--device mps: Apple MPS is not available")
    torch_device = torch.device(f"cuda:{dist.local_rank}" if device == "cuda" else device)
    if dist.world > 1:
        import torch.distributed as td

        if not td.is_initialized():
            td.init_process_group(backend="nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            torch.cuda.set_device(torch_device)
    if torch_device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # the user's thread count wins
        cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // dist.world))
    return torch_device


# -- batches ---------------------------------------------------------------
@dataclass
class Batch:
    """One step's windows: ids [B, L + 1], their features ahead [B, L + 1, F] (or None), the tokens the loss skips
    [B, L + 1], and per token the pitches that would make parallels there ([B, L + 1, 128], or None: not taught)."""

    ids: np.ndarray
    ahead: np.ndarray | None
    skip: np.ndarray
    avoid: np.ndarray | None = None

    def targets(self, pad_id: int) -> np.ndarray:
        """What positions 0..L-1 are scored against: the next ids, PAD (ignored by the loss) where skipped."""
        out = self.ids[:, 1:].copy()
        out[self.skip[:, 1:]] = pad_id
        return out


class Batches:
    """Random training windows; batch ``k`` depends only on (seed, k, rank)."""

    def __init__(self, split: TokenSplit, tokenizer: Tokenizer, config: TrainConfig, rank: int = 0, stream: int = 0,
                 ahead: int = 0) -> None:
        """``stream`` > 0 draws from generators of their own (seeded by (seed, k, rank, stream)), for a second source of windows.

        ``ahead``: the windows come with that many columns of features ahead (a network's ``len(ahead_sizes)``).
        """
        if len(split) == 0:
            raise TrainingError("the training split is empty")
        self.split, self.tokenizer, self.config, self.rank = split, tokenizer, config, rank
        self.seeds = [rank, stream] if stream else [rank]
        lengths = np.diff(split.offsets)
        self.weights = np.maximum(lengths - 1, 1) / np.maximum(lengths - 1, 1).sum()
        span = tokenizer.pitch_span(np.asarray(split.tokens))
        self.low, self.high = span if span else (0, 127)
        drum = tokenizer.ids["Program_Drums"]
        self.has_drums = np.array([drum in split.piece(i)[:64] for i in range(len(split))])
        self.tables = {k: tokenizer.transpose_table(k) for k in range(-config.max_transpose, config.max_transpose + 1)}
        self.ahead = _piece_features(split, tokenizer, ahead) if ahead else None
        self.hazards = _piece_hazards(split, tokenizer) if config.avoid_parallels > 0 else None

    def batch(self, step: int) -> Batch:
        """Windows [batch_size, seq_len + 1] of int64 ids, PAD-filled at the end of short pieces, their
        features ahead ([batch_size, seq_len + 1, F], or None for a network without them), and the tokens the
        loss skips: where a window shows its melody, the melody's own Pitch and Duration tokens
        (``composer.tokens.ahead.Walked.melody``; harmonizing forces them, so the model learns to write under
        the melody, not to read it back from its features)."""
        c = self.config
        rng = np.random.default_rng([c.random_seed, step, *self.seeds])
        out = np.full((c.batch_size, c.seq_len + 1), self.tokenizer.pad_id, np.int64)
        features = None if self.ahead is None else np.zeros((c.batch_size, c.seq_len + 1, self.ahead[0].shape[1]), np.int64)
        skip = np.zeros((c.batch_size, c.seq_len + 1), bool)
        avoid = None if self.hazards is None else np.zeros((c.batch_size, c.seq_len + 1, 128), bool)
        shown = None if self.ahead is None else np.random.default_rng([c.random_seed, step, *self.seeds, AHEAD_STREAM]).random((c.batch_size, 3)) < c.ahead_share
        pieces = rng.choice(len(self.split), size=c.batch_size, p=self.weights)
        for row, i in enumerate(pieces.tolist()):
            piece = self.split.piece(i)
            start = int(rng.integers(0, max(len(piece) - c.seq_len - 1, 0) + 1))
            window = np.asarray(piece[start : start + c.seq_len + 1], np.int64)
            shift = int(rng.integers(-c.max_transpose, c.max_transpose + 1)) if c.augment else 0
            if shift and not self.has_drums[i]:
                span = self.tokenizer.pitch_span(window)
                if span:
                    shift = int(np.clip(shift, self.low - span[0], self.high - span[1]))
                window = self.tables[shift][window] if shift in self.tables else window
            else:
                shift = 0
            out[row, : len(window)] = window
            if avoid is not None:
                avoid[row, : len(window)] = self._window_hazards(i, start, len(window), shift)
            if features is not None:
                melody = bool(shown[row, 0]) and self.ahead[1][i] > 1  # a melody is given only to write other parts under it
                features[row, : len(window)] = self._window_features(i, start, len(window), shift, (melody, *shown[row, 1:]))
                if melody:
                    lo = int(self.split.offsets[i]) + start
                    skip[row, : len(window)] = self.ahead[2][lo : lo + len(window)]
        return Batch(out, features, skip, avoid)

    def _window_hazards(self, piece: int, start: int, length: int, shift: int) -> np.ndarray:
        """One window's pitches that would make parallels ([length, 128]; all False where there are none), transposed with its notes."""
        assert self.hazards is not None
        rows, table = self.hazards
        lo = int(self.split.offsets[piece]) + start
        return transposed(table[rows[lo : lo + length]], shift)

    def _window_features(self, piece: int, start: int, length: int, shift: int, shown: tuple[bool, bool, bool]) -> np.ndarray:
        """One window's features ahead, transposed with its notes, the groups not ``shown`` (melody, length, phrases) hidden (0)."""
        assert self.ahead is not None
        table = self.ahead[0]
        lo = int(self.split.offsets[piece]) + start
        window = np.asarray(table[lo : lo + length], np.int64)
        columns = window.shape[1]
        if shift:
            moved = [c for c in PITCH_COLUMNS if c < columns]
            pitches = window[:, moved]
            window[:, moved] = np.where(pitches >= FIRST, np.clip(pitches + shift, FIRST, FIRST + 127), pitches)
        for group, given in zip((MELODY_COLUMNS, LENGTH_COLUMNS, PHRASE_COLUMNS), shown):
            if not given:
                window[:, [c for c in group if c < columns]] = NOT_GIVEN
        return window


AHEAD_STREAM = 1_000_003  # the generators of the windows' features-ahead draws, apart from the windows'


def _piece_features(split: TokenSplit, tokenizer: Tokenizer, columns: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Every token's first ``columns`` features ahead, everything given (``composer.tokens.ahead``), each piece's
    parts, and which tokens are the melody's own notes (``Walked.melody``)."""
    table = np.zeros((split.num_tokens, columns), np.int16)
    melody = np.zeros(split.num_tokens, bool)
    parts = []
    for i in range(len(split)):
        lo, hi = int(split.offsets[i]), int(split.offsets[i + 1])
        walked = walk(split.piece(i), tokenizer.grammar)
        table[lo:hi] = features_from(walked, tokenizer.config.steps_per_beat, split.phrase_ends(i))[:, :columns]
        melody[lo:hi] = walked.melody
        parts.append(walked.parts)
    return table, parts, melody


def _piece_hazards(split: TokenSplit, tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Per token of the split, a row of the table of the pitches that would make parallels there (row 0: none),
    and the table ([rows, 128] bool): ``composer.tokens.motion.parallel_hazards`` of every piece."""
    rows = np.zeros(split.num_tokens, np.int32)
    tables = [np.zeros((1, 128), bool)]
    parts = len(tokenizer.ids_of_kind("Part"))
    used = 1
    for i in range(len(split)):
        at, forbidden = parallel_hazards(split.piece(i), tokenizer.grammar, parts)
        rows[int(split.offsets[i]) + at] = np.arange(used, used + len(at))
        tables.append(forbidden)
        used += len(at)
    return rows, np.concatenate(tables)


def avoid_loss(logits: Any, avoid: Any, pitch_base: int, scored: int) -> Any:
    """The unlikelihood of parallels (a torch scalar): -log(1 - p) summed over the tokens with ``avoid``'s pitches,
    p the probability the model puts on them there, divided by ``scored`` (the tokens the cross-entropy averages
    over, so that a weight of 1 makes each such token count as much as a token's cross-entropy).
    ``logits`` [B, L, V]; ``avoid`` [B, L, 128] bool."""
    import torch

    rows = avoid.any(-1)
    if not bool(rows.any()):
        return logits.new_zeros(())
    pitches = logits[rows].float().log_softmax(-1)[:, pitch_base : pitch_base + 128].exp()
    mass = (pitches * avoid[rows]).sum(-1).clamp(max=1 - 1e-6)
    return -torch.log1p(-mass).sum() / max(scored, 1)


def anchor_loss(logits: Any, base_logits: Any, scored: Any) -> Any:
    """KL(base || model) of the next-token distributions (a torch scalar), the mean over the ``scored`` positions
    ([B, L] bool) of sum_v p_base(v) (log p_base(v) - log p_model(v))."""
    if not bool(scored.any()):
        return logits.new_zeros(())
    model = logits[scored].float().log_softmax(-1)
    base = base_logits[scored].float().log_softmax(-1)
    return (base.exp() * (base - model)).sum(-1).mean()


class MixedBatches:
    """Each batch: ``own``'s windows, then ``other``'s (fine-tuning's replay of the base's corpus)."""

    def __init__(self, own: Batches, other: Batches) -> None:
        self.own, self.other = own, other

    def batch(self, step: int) -> Batch:
        own, other = self.own.batch(step), self.other.batch(step)
        ahead = None if own.ahead is None or other.ahead is None else np.concatenate([own.ahead, other.ahead])
        avoid = None if own.avoid is None or other.avoid is None else np.concatenate([own.avoid, other.avoid])
        return Batch(np.concatenate([own.ids, other.ids]), ahead, np.concatenate([own.skip, other.skip]), avoid)


def replay_rows(batch_size: int, share: float) -> int:
    """Windows of a batch taken from the replayed corpus: ``share`` of them, at least one, never all."""
    return 0 if share <= 0 or batch_size < 2 else min(batch_size - 1, max(1, round(batch_size * share)))


# -- the state of a run ------------------------------------------------------
@dataclass
class RunState:
    """What a checkpoint carries besides weights and optimizer: enough to resume a run exactly."""

    train_config: dict[str, Any]  # dataclasses.asdict(TrainConfig)
    step: int = 0  # optimiser steps taken
    best: float | None = None  # best validation bits per note so far
    bad_evals: int = 0  # evaluations since the last improvement
    losses: list[float] = field(default_factory=list)  # each step's training loss, rounded to 1e-6
    evals: list[list[float]] = field(default_factory=list)  # [step, validation bits per note] of each evaluation
    finetune: dict[str, Any] | None = None  # a run from a trained model: its settings, base, styles and replay (see _finetune_start)

    def to_json(self) -> str:
        data = {"step": self.step, "best": self.best, "bad_evals": self.bad_evals, "losses": self.losses, "evals": self.evals, "train_config": self.train_config}
        if self.finetune is not None:
            data["finetune"] = self.finetune
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str, where: Path) -> "RunState":
        try:
            data = json.loads(text)
            state = cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})
        except (json.JSONDecodeError, TypeError) as exc:
            raise TrainingError(f"{where}: damaged checkpoint state ({exc})") from None
        if not isinstance(state.train_config, dict):
            raise TrainingError(f"{where}: damaged checkpoint state (no train_config object)")
        if state.finetune is not None and not isinstance(state.finetune, dict):
            raise TrainingError(f"{where}: damaged checkpoint state (finetune is not an object)")
        return state


@dataclass
class _Start:
    """The settings a run starts from: new ones, or those of the checkpoint it resumes."""

    config: TrainConfig
    tokenizer: Tokenizer
    model_config: dict[str, Any]
    state: RunState
    saved: tuple[dict[str, str], dict[str, torch.Tensor]] | None = None  # the checkpoint's metadata and tensors
    initial: dict[str, torch.Tensor] | None = None  # a fine-tuning run's first weights: its base model's
    anchor: dict[str, torch.Tensor] | None = None  # the weights whose predictions FineTuneConfig.anchor holds the run to


@dataclass
class _Run:
    """Everything the training loop works on."""

    config: TrainConfig
    tokenizer: Tokenizer
    network: LanguageModel
    trained: torch.nn.Module  # the network, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    device: torch.device
    dist: _Dist
    output: Path
    checkpoint: Path
    valid: TokenSplit
    metadata: dict[str, Any]  # the model file's training metadata, less steps and validation score
    reporter: Reporter
    state: RunState
    saved_at: int = -1  # the step whose checkpoint is on disk
    anchor: LanguageModel | None = None  # a fine-tuning run's base network, frozen (FineTuneConfig.anchor)
    anchor_weight: float = 0.0

    def save_checkpoint(self) -> None:
        """Write the checkpoint (rank 0) unless it already holds this step."""
        if self.dist.main and self.saved_at != self.state.step:
            _save_checkpoint(self.checkpoint, self.network, self.optimizer, self.tokenizer, self.state)
            self.saved_at = self.state.step


# -- checkpoints -------------------------------------------------------------
def _save_checkpoint(path: Path, network: LanguageModel, optimizer: torch.optim.Optimizer, tokenizer: Tokenizer, state: RunState) -> None:
    from safetensors.torch import save

    from composer.io.atomic import atomic_path, save_bytes

    tensors = {f"model.{k}": v for k, v in network.state_tensors().items()}
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{index}.{name}"] = value.detach().reshape(value.shape).contiguous().clone().cpu()
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": str(CHECKPOINT_FORMAT_VERSION),
        "arch": network.arch,
        "model_config": json.dumps(dataclasses.asdict(network.config)),
        "tokenizer": json.dumps(tokenizer.to_dict()),
        "optimizer_groups": json.dumps(groups),
        "state": state.to_json(),
    }
    data = save({k: v.cpu() for k, v in tensors.items()}, metadata=meta)  # (issue 15) not save_file: no hidden .tmpXXXXXX
    with atomic_path(path, force=True) as tmp:
        save_bytes(tmp, data, "the checkpoint")


def _load_checkpoint(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:
        raise TrainingError(f"{path}: not a readable checkpoint ({str(exc).splitlines()[0]})") from None
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("format_version") != str(CHECKPOINT_FORMAT_VERSION):
        raise TrainingError(f"{path}: not a composer checkpoint of format version {CHECKPOINT_FORMAT_VERSION}")
    return meta, tensors


def _restore(network: LanguageModel, optimizer: torch.optim.Optimizer, meta: dict[str, str], tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    network.load_state_dict(model_state, strict=False)
    groups = json.loads(meta["optimizer_groups"])
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})


def _freeze_below(network: LanguageModel, arch: str, top_layers: int | None) -> None:
    """Fine-tuning a transformer's top ``top_layers`` blocks and final norm only: the other weights stop learning."""
    if top_layers is None:
        return
    blocks = getattr(network, "blocks", None)
    if arch != "transformer" or blocks is None:
        raise TrainingError(f"top_layers applies to a transformer's blocks; this model is a {arch}")
    if top_layers > len(blocks):
        raise TrainingError(f"top_layers {top_layers}: the model has {len(blocks)} blocks")
    trained = {f"blocks.{i}." for i in range(len(blocks) - top_layers, len(blocks))} | {"ln_f."}
    for name, parameter in network.named_parameters():
        parameter.requires_grad_(any(name.startswith(prefix) for prefix in trained))


def build_optimizer(network: LanguageModel, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, weight decay on the matrices only; weights that do not learn (``_freeze_below``) left out."""
    import torch

    decay = [p for n, p in network.named_parameters() if p.dim() >= 2 and p.requires_grad]
    no_decay = [p for n, p in network.named_parameters() if p.dim() < 2 and p.requires_grad]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
        betas=(0.9, 0.95),
    )


def _lr(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.learning_rate * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def library_versions() -> dict[str, str]:
    import torch

    import composer

    versions = {"composer": composer.__version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        import symusic

        versions["symusic"] = getattr(symusic, "__version__", "?")
    except ImportError:
        pass
    return versions


# -- the training loop -------------------------------------------------------
def train(
    corpus: str | Path,
    output: str | Path,
    *,
    config: TrainConfig | None = None,
    model_options: dict[str, Any] | None = None,
    tokenizer_config: TokenizerConfig | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    force: bool = False,
    device: str = "auto",
    reporter: Reporter | None = None,
    init: str | Path | Model | None = None,
    finetune: FineTuneConfig | None = None,
) -> TrainResult:
    """Train a model on a folder of scores and write the best one (by validation bits per note) to ``output``.

    With ``init`` (a model name, a model file, or a ``Model`` loaded from one)
    the run starts from that model: its architecture, vocabulary and weights,
    with ``finetune``'s settings and, unless ``config`` is given,
    ``finetune_config``'s (see ``composer.finetune``). With ``resume`` every
    setting comes from the checkpoint, except that ``max_steps`` may extend
    the run; ``init`` then must be the model the checkpoint's run started from.
    Progress goes to ``reporter``: by default a progress bar (``BarReporter``,
    a widget in a notebook); ``SilentReporter()`` says nothing.
    """
    reporter = BarReporter() if reporter is None else reporter
    output = Path(output)
    ckpt = checkpoint_path(output)
    dist = _dist_from_env()
    # Every check that needs no torch comes first: a wrong path is answered before torch's seconds-long import.
    if device not in DEVICES:
        raise TrainingError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    if finetune is not None and init is None:
        raise TrainingError("fine-tuning settings need init: the model to start from")
    if resume and not ckpt.is_file():
        raise TrainingError(f"{ckpt}: no checkpoint to resume from (train without --resume first)")
    if not resume:
        _check_outputs(output, ckpt, force, dist)
    base = _base_model(init, corpus, config, model_options, tokenizer_config, resume)
    torch_device = _init_device(device, dist)
    if resume:
        start = _resume_settings(ckpt, max_steps)
        if base is not None:
            _check_same_base(start.state, base, ckpt)
        start.anchor = _resumed_anchor(start, base, corpus, ckpt)
    elif base is not None:
        start = _finetune_start(base, corpus, config, finetune or FineTuneConfig(), output, ckpt, force, dist)
    else:
        start = _new_settings(output, ckpt, config or TrainConfig(), model_options, tokenizer_config, force, dist)
    config = start.config
    if config.arch == "transformer" and start.model_config.get("context_len", config.seq_len) < config.seq_len:
        raise TrainingError(f"seq_len {config.seq_len} is longer than the transformer's context_len {start.model_config['context_len']}")

    data = _load_data(corpus, start.tokenizer, config, dist, reporter, strict=start.state.finetune is not None)
    replay = _prepare_finetune(start.state, data, corpus, start.tokenizer, config, dist, reporter) if start.state.finetune else None
    if len(data.splits["valid"]) == 0:
        raise TrainingError(f"{corpus}: the validation split is empty; early stopping needs validation pieces")
    run = _build_run(start, data, corpus, output, ckpt, torch_device, dist, reporter)
    if dist.main:
        info = {"parameters": run.network.num_parameters(), "train_pieces": len(data.splits["train"]), "failures": data.failures}
        reporter.start(config.max_steps, run.state.step, info)
    began = time.perf_counter()
    ahead = len(getattr(run.network.config, "ahead_sizes", ()))
    stopped_early = _loop(run, _batches(data.splits["train"], replay, run.tokenizer, config, dist.rank, start.state.finetune, ahead))
    test_bpn = _finish(run, data.splits["test"])
    return TrainResult(
        model_path=output,
        checkpoint_path=ckpt,
        steps=run.state.step,
        best_valid_bits_per_note=float(run.state.best) if run.state.best is not None else float("nan"),
        test_bits_per_note=test_bpn,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - began,
        losses=list(run.state.losses),
    )


def _batches(train: TokenSplit, replay: TokenSplit | None, tokenizer: Tokenizer, config: TrainConfig, rank: int,
             finetune: dict[str, Any] | None, ahead: int = 0) -> Batches | MixedBatches:
    """The run's batches: the folder's windows, and in a fine-tuning run with replay, the base corpus's after them."""
    rows = replay_rows(config.batch_size, FineTuneConfig(**finetune["settings"]).replay_share) if finetune and replay is not None else 0
    if not rows:
        return Batches(train, tokenizer, config, rank, ahead=ahead)
    own = Batches(train, tokenizer, dataclasses.replace(config, batch_size=config.batch_size - rows), rank, ahead=ahead)
    return MixedBatches(own, Batches(replay, tokenizer, dataclasses.replace(config, batch_size=rows), rank, stream=1, ahead=ahead))


# -- fine-tuning: a run from a trained model (composer.finetune) ----------------------
def _base_model(init: str | Path | Model | None, corpus: str | Path, config: TrainConfig | None, model_options: dict[str, Any] | None,
                tokenizer_config: TokenizerConfig | None, resume: bool) -> Model | None:
    """The model a fine-tuning run starts from, checked against the other arguments (no torch needed)."""
    if init is None:
        return None
    base = init if isinstance(init, Model) else load_model(init)
    if not resume:
        check_architecture(base, model_options, config.arch if config is not None else None)
        if tokenizer_config is not None and tokenizer_config != base.tokenizer.config:
            raise TrainingError(f"--from {base.name}: fine-tuning keeps the base model's vocabulary; give no tokenizer settings")
        folder_styles(corpus, config.style if config is not None else None)  # a missing or empty folder: one line, now
    return base


def _finetune_start(base: Model, corpus: str | Path, config: TrainConfig | None, settings: FineTuneConfig,
                    output: Path, ckpt: Path, force: bool, dist: _Dist) -> _Start:
    """The settings, vocabulary and first weights of a run from ``base``."""
    if dist.main and force and ckpt.exists():
        ckpt.unlink()  # starting over: a later --resume must not find the old run
    config = config or finetune_config(base)
    style, styles = folder_styles(corpus, config.style)
    config = dataclasses.replace(config, style=style)
    point = starting_point(base, styles, settings.style_init)
    finetune = {
        "settings": dataclasses.asdict(settings),
        "base": base_record(base),
        "styles": point.styles,
        "inherited": {"styles": base.training.get("styles") or {}, "sampling": base.training.get("sampling") or {}},
        "replay_path": None,
    }
    replay = replay_folder(base, settings)
    if replay is not None:
        finetune["replay_path"] = str(replay)
    state = RunState(train_config=dataclasses.asdict(config), finetune=finetune)
    return _Start(config, point.tokenizer, point.model_config, state, initial=point.state, anchor=_anchor_weights(settings, point.state, point.tokenizer, config.arch, point.model_config))


def _anchor_weights(settings: FineTuneConfig, initial: dict[str, torch.Tensor] | None, tokenizer: Tokenizer, arch: str,
                    model_config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The weights the anchor holds a run to: ``initial`` (the base's), or ``anchor_model``'s, which must have the run's
    vocabulary and architecture."""
    if settings.anchor <= 0:
        return None
    if settings.anchor_model is None:
        return initial
    model = load_model(settings.anchor_model)
    if model.tokenizer.tokens != tokenizer.tokens:
        raise TrainingError(f"anchor model {settings.anchor_model}: its vocabulary ({len(model.tokenizer)} tokens) is not the run's ({len(tokenizer)})")
    theirs = dataclasses.asdict(model.config)
    differ = [k for k, v in model_config.items() if k in theirs and _plain(theirs[k]) != _plain(v)]
    if model.arch != arch or differ:
        what = ", ".join(f"{k} {theirs[k]!r} against {model_config[k]!r}" for k in differ) or f"a {model.arch}, the run a {arch}"
        raise TrainingError(f"anchor model {settings.anchor_model}: its architecture is not the run's ({what})")
    return model.network.state_dict()


def _plain(value: Any) -> Any:
    """A config value as JSON keeps it (tuples as lists), to compare a model file's with a run's."""
    return list(value) if isinstance(value, tuple) else value


def _resumed_anchor(start: _Start, base: Model | None, corpus: str | Path, ckpt: Path) -> dict[str, torch.Tensor] | None:
    """A resumed anchored run's anchor weights: ``anchor_model``'s, or its first weights made again from its base,
    ``base`` or else the model of the base's recorded name where it is that very file (None: no anchor)."""
    if start.state.finetune is None:
        return None
    settings = FineTuneConfig(**start.state.finetune["settings"])
    if settings.anchor <= 0 or settings.anchor_model is not None:
        return _anchor_weights(settings, None, start.tokenizer, start.config.arch, start.model_config)
    if base is None:
        began = start.state.finetune["base"]
        try:
            base = load_model(str(began.get("name")))
        except ComposerError:
            base = None
        if base is None or base.sha256 != began.get("sha256"):
            raise TrainingError(f"{ckpt}: an anchored run resumes beside its base, {began.get('file')}, which was not found as it was; give it with --from")
    _, styles = folder_styles(corpus, start.config.style)
    return starting_point(base, styles, settings.style_init).state


def _check_same_base(state: RunState, base: Model, ckpt: Path) -> None:
    """``--resume --from BASE``: the checkpoint's run must have started from that very file."""
    if state.finetune is None:
        raise TrainingError(f"{ckpt}: its run started from nothing, not from {base.name} (resume without --from)")
    record = base_record(base)
    began = state.finetune["base"]
    if began.get("sha256") != record["sha256"]:
        raise TrainingError(f"{ckpt}: its run started from {began.get('file')} (sha256 {str(began.get('sha256'))[:12]}), not from {base.path} (sha256 {record['sha256'][:12]})")


def _prepare_finetune(state: RunState, data: TokenData, corpus: str | Path, tokenizer: Tokenizer, config: TrainConfig,
                      dist: _Dist, reporter: Reporter) -> TokenSplit | None:
    """Check and split the folder's pieces, load the replayed corpus; record both in the run's fine-tuning state."""
    finetune = state.finetune
    settings = FineTuneConfig(**finetune["settings"])
    check_all_read(data, corpus)
    held_out = hold_out(data, settings.valid_fraction, corpus)
    finetune["data"] = {
        "folder": Path(corpus).resolve().name,
        "fingerprint": data_fingerprint(corpus, config.style),
        "files_sha1": data.files_sha1,
        "pieces": {split: len(part) for split, part in data.splits.items()},
        "held_out": held_out,
        "valid_from": "a fraction of the train split" if held_out else "the split rule",
    }
    replay = None
    finetune["replay"] = None
    if finetune.get("replay_path"):
        folder = Path(finetune["replay_path"])
        plain = Tokenizer(dataclasses.replace(tokenizer.config, added_styles=()))  # the base corpus's tokens, cached as its training cached them
        def progress(done: int, total: int) -> None:
            if dist.main and done == 1:
                reporter.message(f"tokenizing {total} files of {folder} to replay (cached after the first run)")

        replay_data = load_tokens(folder, plain, progress=progress)
        replay = replay_data.splits["train"]
        finetune["replay"] = replay_record(folder, replay_data, finetune["base"].get("train_files_sha1"))
    if dist.main:
        base, share = finetune["base"]["name"], settings.replay_share
        styles = "; ".join(f"style {s}: {how}" for s, how in finetune["styles"].items())
        guard = f"replaying {replay_rows(config.batch_size, share)} of {config.batch_size} windows a batch from {finetune['replay']['corpus']} ({len(replay)} pieces)" if replay is not None \
            else ("no replay (replay share 0)" if share == 0 else f"no replay: {base}'s corpus was not found (see --replay-corpus)")
        held = f"{len(held_out)} held out of the train split" if held_out else f"{len(data.splits['valid'])} valid by the split rule"
        reporter.message(f"fine-tuning {base} on {len(data.splits['train'])} pieces of {corpus} ({held}); {styles}; {guard}")
    return replay


def _finetune_metadata(finetune: dict[str, Any], styles: dict[str, dict]) -> dict[str, Any]:
    """The model file's metadata a fine-tuning run adds or replaces: styles (``styles``, the run's train split's, on
    the base's; a style's harmonizer stays the base's where it has one, learned from its whole corpus), sampling,
    and the provenance record."""
    record = {k: v for k, v in finetune.items() if k not in ("inherited", "replay_path")}
    inherited = finetune["inherited"]["styles"]
    for style, harmonizer in _inherited_harmonizers(finetune).items():
        if style in styles:
            styles[style]["harmonizer"] = harmonizer
    out: dict[str, Any] = {
        "styles": dict(inherited) | styles,
        PROVENANCE_KEY: record,
    }
    if finetune["inherited"]["sampling"]:
        out["sampling"] = finetune["inherited"]["sampling"]  # the base's recommendation, until tuned anew
    return out


def _inherited_harmonizers(finetune: dict[str, Any] | None) -> dict[str, Any]:
    """Style -> the harmonizer a fine-tuning run's base has for it (none for a run from scratch)."""
    styles = finetune["inherited"]["styles"] if finetune is not None else {}
    return {style: p["harmonizer"] for style, p in styles.items() if isinstance(p, dict) and "harmonizer" in p}


def _styles(train_split: TokenSplit, tokenizer: Tokenizer, config: TrainConfig, reporter: Reporter, kept: dict[str, Any]) -> dict[str, dict]:
    """The train split's style profiles, each style of several parts with its harmonizer (``harmonizer_epochs``),
    except the styles in ``kept`` (a fine-tuning base's harmonizers, which the run keeps)."""
    def progress(style: str, epoch: int, epochs: int, loss: float) -> None:
        if epoch == epochs or epoch % 5 == 0:
            reporter.message(f"harmonizer of style {style}: epoch {epoch}/{epochs}, loss {loss:.3f}")

    training = HarmonizerTraining(epochs=config.harmonizer_epochs, random_seed=config.random_seed) if config.harmonizer_epochs else None
    return style_profiles(train_split, tokenizer, training, progress, skip_harmonizer=frozenset(kept))


def _resume_settings(ckpt: Path, max_steps: int | None) -> _Start:
    """The settings of the run saved in ``ckpt``; ``max_steps`` may extend it."""
    if not ckpt.is_file():
        raise TrainingError(f"{ckpt}: no checkpoint to resume from (train without --resume first)")
    meta, tensors = _load_checkpoint(ckpt)
    state = RunState.from_json(meta.get("state", "null"), ckpt)
    if max_steps is not None:
        state.train_config["max_steps"] = max_steps
    config = TrainConfig(**state.train_config)
    tokenizer = Tokenizer.from_dict(json.loads(meta["tokenizer"]), str(ckpt))
    return _Start(config, tokenizer, json.loads(meta["model_config"]), state, (meta, tensors))


def _check_outputs(output: Path, ckpt: Path, force: bool, dist: _Dist) -> None:
    """On rank 0: a new run's files may be written (``force`` replaces them)."""
    if dist.main:
        for path in (output, ckpt):
            if path.exists() and not force:
                raise TrainingError(f"{path}: exists (use --resume to continue its run, or --force to start over)")
        if not output.parent.is_dir():
            raise TrainingError(f"{output}: folder {output.parent} does not exist")


def _new_settings(output: Path, ckpt: Path, config: TrainConfig, model_options: dict[str, Any] | None,
                  tokenizer_config: TokenizerConfig | None, force: bool, dist: _Dist) -> _Start:
    """Settings for a new run (its files checked by ``_check_outputs``)."""
    if dist.main and force and ckpt.exists():
        ckpt.unlink()  # starting over: a later --resume must not find the old run
    tokenizer = Tokenizer(tokenizer_config or TokenizerConfig())
    model_config = {"vocab_size": len(tokenizer), **(model_options or {})}
    if config.ahead_share > 0:
        model_config.setdefault("ahead_sizes", list(AHEAD_SIZES))
    if config.arch == "transformer":
        model_config.setdefault("context_len", config.seq_len)
    return _Start(config, tokenizer, model_config, RunState(train_config=dataclasses.asdict(config)))


def _build_run(start: _Start, data: TokenData, corpus: str | Path, output: Path, ckpt: Path,
               device: torch.device, dist: _Dist, reporter: Reporter) -> _Run:
    """The network (seeded, or restored from the checkpoint), its optimizer and the model file's metadata."""
    import torch

    from composer.nn import build_model

    config = start.config
    torch.manual_seed(config.random_seed)
    try:
        network = build_model(config.arch, start.model_config)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    if start.initial is not None:
        network.load_state_dict(start.initial, strict=False)  # a tied head comes with its embedding
    network.to(device)
    if start.state.finetune is not None:
        _freeze_below(network, config.arch, FineTuneConfig(**start.state.finetune["settings"]).top_layers)
    optimizer = build_optimizer(network, config)
    if start.saved is not None:
        _restore(network, optimizer, *start.saved, device)
    trained: torch.nn.Module = network
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    train_split, valid_split, test_split = data.splits["train"], data.splits["valid"], data.splits["test"]
    metadata = {
        "corpus": str(Path(corpus).resolve().name),
        "split_rule": "sha1(file name) mod 10: 0 test, 1 valid, else train",
        "train_files_sha1": data.files_sha1.get("train"),
        "data_sources": data_sources(corpus, train_split.names),
        "train_pieces": len(train_split),
        "valid_pieces": len(valid_split),
        "test_pieces": len(test_split),
        "train_tokens": train_split.num_tokens,
        "train_config": dataclasses.asdict(config),
        "parameters": network.num_parameters(),
        "styles": _styles(train_split, start.tokenizer, config, reporter, _inherited_harmonizers(start.state.finetune)),
        "library_versions": library_versions(),
        "device": device.type,
        "processes": dist.world,
    }
    if start.state.finetune is not None:
        metadata.update(_finetune_metadata(start.state.finetune, metadata["styles"]))
    run = _Run(config, start.tokenizer, network, trained, optimizer, device, dist, output, ckpt, valid_split, metadata, reporter, start.state)
    run.anchor = _anchor_network(start, device)
    if run.anchor is not None:
        run.anchor_weight = FineTuneConfig(**start.state.finetune["settings"]).anchor
    return run


def _anchor_network(start: _Start, device: torch.device) -> LanguageModel | None:
    """The frozen copy of the run's first weights (its base's) that ``FineTuneConfig.anchor`` keeps it near; None without an anchor."""
    from composer.nn import build_model

    if start.state.finetune is None or FineTuneConfig(**start.state.finetune["settings"]).anchor <= 0:
        return None
    anchor = build_model(start.config.arch, start.model_config)
    assert start.anchor is not None  # _anchor_weights, or _resumed_anchor on resume
    anchor.load_state_dict(start.anchor, strict=False)  # checked by _anchor_weights; a tied head comes with its embedding
    anchor.to(device).eval()
    for parameter in anchor.parameters():
        parameter.requires_grad_(False)
    return anchor


def _loop(run: _Run, batches: Batches) -> bool:
    """Steps until ``max_steps`` or early stopping (True), with evaluations and checkpoints; Ctrl-C saves one first."""
    config, state = run.config, run.state
    run.network.train()
    try:
        while state.step < config.max_steps:
            loss = _train_step(run, batches)
            state.step += 1
            state.losses.append(round(loss, 6))
            if run.dist.main:
                run.reporter.step(state.step, loss)
            last = state.step >= config.max_steps
            if (state.step % config.eval_every == 0 or last) and _evaluate_and_keep(run):
                return not last
            if state.step % config.checkpoint_every == 0:
                run.save_checkpoint()
    except KeyboardInterrupt:
        run.save_checkpoint()
        raise
    return False


def _train_step(run: _Run, batches: Batches) -> float:
    """One optimiser step on batch ``state.step``; the training loss."""
    import torch

    config, step = run.config, run.state.step
    batch = batches.batch(step)
    ids = torch.as_tensor(batch.ids[:, :-1], device=run.device)
    targets = torch.as_tensor(batch.targets(run.tokenizer.pad_id), device=run.device)
    ahead = None if batch.ahead is None else torch.as_tensor(batch.ahead[:, :-1], device=run.device)
    for group in run.optimizer.param_groups:
        group["lr"] = _lr(config, step)
    torch.manual_seed(config.random_seed * 1_000_003 + step * 1_009 + run.dist.rank)  # dropout masks of this step
    logits = run.trained(ids, ahead)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=run.tokenizer.pad_id)
    scored = targets != run.tokenizer.pad_id
    if batch.avoid is not None:
        avoid = torch.as_tensor(batch.avoid[:, 1:], device=run.device)  # the pitches to avoid at the token each position predicts
        loss = loss + config.avoid_parallels * avoid_loss(logits, avoid, run.tokenizer.base[K_PITCH], int(scored.sum()))
    if run.anchor is not None:
        with torch.no_grad():
            kept = run.anchor(ids, ahead)
        loss = loss + run.anchor_weight * anchor_loss(logits, kept, scored)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.network.parameters(), config.grad_clip)
    run.optimizer.step()
    return float(loss.item())


def _finish(run: _Run, test: TokenSplit) -> float | None:
    """The last checkpoint; on rank 0 the best model scored on the test split (its bits per note, or None)."""
    from composer.evaluation import score_split

    run.save_checkpoint()
    test_bpn = None
    if run.dist.main:
        if not run.output.exists():  # e.g. resumed after the last evaluation; keep what we have
            _save_best(run)
        if len(test):
            run.reporter.message(f"scoring the best model on the test split ({len(test)} pieces, {test.num_notes} notes)")
            best = load_model(run.output)
            test_bpn = score_split(best.network.to(run.device), test, run.tokenizer.pad_id, run.device, run.tokenizer)["bits_per_note"]
            best.training["test_bits_per_note"] = round(test_bpn, 4)
            save_model(best, run.output, force=True)
        run.reporter.close()
    if run.dist.world > 1:
        import torch.distributed as td

        td.barrier()
    return test_bpn


def _load_data(corpus: str | Path, tokenizer: Tokenizer, config: TrainConfig, dist: _Dist, reporter: Reporter, strict: bool = False) -> TokenData:
    def progress(done: int, total: int) -> None:
        # Said once the folder is found and tokenizing has begun, so a bad folder fails with one line;
        # a run that reads its tokens from the cache says so instead (below).
        if dist.main and done == 1:
            reporter.message(f"tokenizing {total} files of {corpus} (cached after the first run)")
        if dist.main and (done == total or done % 100 == 0):
            reporter.message(f"tokenized {done}/{total} files")

    if dist.world > 1:
        import torch.distributed as td

        # Rank 0 fills the cache; the others then read it instead of tokenizing too.
        if dist.main:
            data = load_tokens(corpus, tokenizer, style=config.style, progress=progress, strict=strict)
        td.barrier()
        if not dist.main:
            data = load_tokens(corpus, tokenizer, style=config.style, strict=strict)
    else:
        data = load_tokens(corpus, tokenizer, style=config.style, progress=progress, strict=strict)
    if dist.main and data.from_cache:
        pieces = sum(len(split) for split in data.splits.values())
        reporter.message(f"loading cached tokens of {corpus} ({pieces} pieces, tokenized on an earlier run, from {data.cache_dir})")
    return data


def _save_best(run: _Run) -> None:
    """Write a snapshot of the network as the model file, with the run's metadata at this step."""
    import copy

    best = None if run.state.best is None else round(float(run.state.best), 4)
    training = dict(run.metadata, steps=run.state.step, valid_bits_per_note=best)
    snapshot = copy.deepcopy(run.network).cpu().eval()
    save_model(Model(snapshot, run.tokenizer, training), run.output, force=True)


def _evaluate_and_keep(run: _Run) -> bool:
    """Validate on rank 0, save the model if it improved, and agree across ranks whether to stop."""
    import torch

    from composer.evaluation import score_split

    state, step = run.state, run.state.step
    stop = torch.zeros(1, device=run.device)  # NCCL broadcasts only device tensors
    if run.dist.main:
        if step >= run.config.max_steps:  # the bar is full: say what the wait is for
            run.reporter.message(f"step {step}: scoring the validation split ({len(run.valid)} pieces, {run.valid.num_notes} notes)")
        metrics = score_split(run.network, run.valid, run.tokenizer.pad_id, run.device, run.tokenizer)
        bpn = metrics["bits_per_note"]
        improved = state.best is None or bpn < state.best - 1e-4
        state.evals.append([step, round(bpn, 5)])
        if improved:
            state.best = bpn
            state.bad_evals = 0
            _save_best(run)
        else:
            state.bad_evals += 1
        run.reporter.evaluated(step, metrics, improved)
        if state.bad_evals >= run.config.patience:
            run.reporter.message(f"validation has not improved for {run.config.patience} evaluations: stopping at step {step}")
            stop[0] = 1
    if run.dist.world > 1:
        import torch.distributed as td

        td.broadcast(stop, src=0)
    return bool(stop[0] > 0)

