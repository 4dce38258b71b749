"""Training and evaluation of the sequence models.

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
from typing import Any, Protocol

import numpy as np

from composer.dataset import TokenData, TokenSplit, load_tokens, style_profiles
from composer.errors import ComposerError
from composer.modelfile import Model, load_model, save_model
from composer.settings import check_ranges, setting
from composer.tokens import Tokenizer, TokenizerConfig

CHECKPOINT_SUFFIX = ".ckpt"
CHECKPOINT_FORMAT = "composer-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
DEVICES = ("auto", "cpu", "cuda", "mps")


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

    def __post_init__(self) -> None:
        from composer.nn.configs import CONFIGS

        if self.arch not in CONFIGS:
            raise TrainingError(f"unknown architecture {self.arch!r}; expected one of {', '.join(CONFIGS)}")
        check_ranges(self, TrainingError)


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


def _init_distributed(device: str) -> tuple[_Dist, Any]:
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    dist = _Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device not in DEVICES:
        raise TrainingError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda: no CUDA device is available")
    if device == "mps" and not torch.backends.mps.is_available():
        raise TrainingError("--device mps: Apple MPS is not available")
    torch_device = torch.device(f"cuda:{dist.local_rank}" if device == "cuda" else device)
    if world > 1:
        import torch.distributed as td

        if not td.is_initialized():
            td.init_process_group(backend="nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            torch.cuda.set_device(torch_device)
    if torch_device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # the user's thread count wins
        cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // world))
    return dist, torch_device


# -- batches ---------------------------------------------------------------
class Batches:
    """Random training windows; batch ``k`` depends only on (seed, k, rank)."""

    def __init__(self, split: TokenSplit, tokenizer: Tokenizer, config: TrainConfig, rank: int = 0) -> None:
        if len(split) == 0:
            raise TrainingError("the training split is empty")
        self.split, self.tokenizer, self.config, self.rank = split, tokenizer, config, rank
        lengths = np.diff(split.offsets)
        self.weights = np.maximum(lengths - 1, 1) / np.maximum(lengths - 1, 1).sum()
        span = tokenizer.pitch_span(np.asarray(split.tokens))
        self.low, self.high = span if span else (0, 127)
        drum = tokenizer.ids["Program_Drums"]
        self.has_drums = np.array([drum in split.piece(i)[:64] for i in range(len(split))])
        self.tables = {k: tokenizer.transpose_table(k) for k in range(-config.max_transpose, config.max_transpose + 1)}

    def batch(self, step: int) -> np.ndarray:
        """Windows [batch_size, seq_len + 1] of int64 ids, PAD-filled at the end of short pieces."""
        c = self.config
        rng = np.random.default_rng([c.random_seed, step, self.rank])
        out = np.full((c.batch_size, c.seq_len + 1), self.tokenizer.pad_id, np.int64)
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
            out[row, : len(window)] = window
        return out


# -- evaluation ------------------------------------------------------------
def score_split(network: Any, split: TokenSplit, pad_id: int, device: Any = "cpu") -> dict[str, float]:
    """Bits per note, tokens per note and next-token accuracy over whole pieces.

    Bits per note is the total negative log2-likelihood of the pieces (every
    token after BOS) divided by their number of notes, so it compares across
    tokenizations. Pieces longer than a transformer's context are scored in
    overlapping windows, each token with at least half a context before it.
    """
    import torch
    import torch.nn.functional as F

    context = getattr(network.config, "context_len", None)
    bits = 0.0
    predicted = correct = 0
    was_training = network.training
    network.eval()
    with torch.inference_mode():
        for i in range(len(split)):
            ids = torch.as_tensor(np.asarray(split.piece(i), np.int64), device=device)
            n = len(ids) - 1
            if n <= 0:
                continue
            windows = [(0, n, 0)] if context is None or n <= context else _windows(n, context)
            for begin, end, keep_from in windows:
                logits = network(ids[begin:end].unsqueeze(0))[0, keep_from:]
                target = ids[begin + 1 + keep_from : end + 1]
                nll = F.cross_entropy(logits.float(), target, reduction="sum")
                bits += nll.item() / math.log(2)
                correct += int((logits.argmax(-1) == target).sum())
                predicted += len(target)
    network.train(was_training)
    notes = max(split.num_notes, 1)
    return {
        "bits_per_note": bits / notes,
        "tokens_per_note": predicted / notes,
        "token_accuracy": correct / max(predicted, 1),
        "pieces": float(len(split)),
        "notes": float(split.num_notes),
    }


def _windows(n: int, context: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored offset) windows covering positions 0..n-1 once each."""
    stride = max(context // 2, 1)
    out = [(0, context, 0)]
    scored = context
    while scored < n:
        end = min(scored + stride, n)
        begin = end - context
        out.append((begin, end, scored - begin))
        scored = end
    return out


# -- checkpoints -------------------------------------------------------------
def _save_checkpoint(path: Path, network: Any, optimizer: Any, tokenizer: Tokenizer, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    from composer.io._atomic import atomic_path
    from composer.modelfile import _dedupe_tied

    tensors = {f"model.{k}": v for k, v in _dedupe_tied(network, None).items()}
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
        "state": json.dumps(state),
    }
    with atomic_path(path, force=True) as tmp:
        save_file({k: v.cpu() for k, v in tensors.items()}, str(tmp), metadata=meta)


def _load_checkpoint(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
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


def _optimizer(network: Any, config: TrainConfig) -> Any:
    import torch

    decay = [p for n, p in network.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in network.named_parameters() if p.dim() < 2]
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
) -> TrainResult:
    """Train a model on a folder of scores and write the best one (by validation bits per note) to ``output``.

    With ``resume`` every setting comes from the checkpoint, except that
    ``max_steps`` may extend the run.
    """
    import torch

    from composer.nn import build_model

    reporter = reporter or SilentReporter()
    output = Path(output)
    ckpt = checkpoint_path(output)
    dist, torch_device = _init_distributed(device)

    state: dict[str, Any] = {"step": 0, "best": None, "bad_evals": 0, "losses": [], "evals": []}
    ckpt_meta = ckpt_tensors = None
    if resume:
        if not ckpt.is_file():
            raise TrainingError(f"{ckpt}: no checkpoint to resume from (train without --resume first)")
        ckpt_meta, ckpt_tensors = _load_checkpoint(ckpt)
        state = json.loads(ckpt_meta["state"])
        if max_steps is not None:
            state["train_config"]["max_steps"] = max_steps
        config = TrainConfig(**state["train_config"])
        tokenizer = Tokenizer.from_dict(json.loads(ckpt_meta["tokenizer"]), str(ckpt))
        model_config = json.loads(ckpt_meta["model_config"])
    else:
        config = config or TrainConfig()
        if dist.main:
            for path in (output, ckpt):
                if path.exists() and not force:
                    raise TrainingError(f"{path}: exists (use --resume to continue its run, or --force to start over)")
            if not output.parent.is_dir():
                raise TrainingError(f"{output}: folder {output.parent} does not exist")
            if force and ckpt.exists():
                ckpt.unlink()  # starting over: a later --resume must not find the old run
        tokenizer = Tokenizer(tokenizer_config or TokenizerConfig())
        model_config = {"vocab_size": len(tokenizer), **(model_options or {})}
        if config.arch == "transformer":
            model_config.setdefault("context_len", config.seq_len)
        state["train_config"] = dataclasses.asdict(config)
    if config.arch == "transformer" and model_config.get("context_len", config.seq_len) < config.seq_len:
        raise TrainingError(f"seq_len {config.seq_len} is longer than the transformer's context_len {model_config['context_len']}")

    if dist.main:
        reporter.message(f"tokenizing {corpus} (cached after the first run)")
    data = _load_data(corpus, tokenizer, config, dist, reporter)
    train_split, valid_split, test_split = data.splits["train"], data.splits["valid"], data.splits["test"]
    if len(valid_split) == 0:
        raise TrainingError(f"{corpus}: the validation split is empty; early stopping needs validation pieces")

    torch.manual_seed(config.random_seed)
    try:
        network = build_model(config.arch, model_config)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    network.to(torch_device)
    optimizer = _optimizer(network, config)
    if ckpt_tensors is not None:
        _restore(network, optimizer, ckpt_meta, ckpt_tensors, torch_device)
    trained = network
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(network, device_ids=[torch_device.index] if torch_device.type == "cuda" else None)

    batches = Batches(train_split, tokenizer, config, dist.rank)
    meta_base = {
        "corpus": str(Path(corpus).resolve().name),
        "split_rule": "sha1(file name) mod 10: 0 test, 1 valid, else train",
        "train_files_sha1": data.files_sha1.get("train"),
        "train_pieces": len(train_split),
        "valid_pieces": len(valid_split),
        "test_pieces": len(test_split),
        "train_tokens": train_split.num_tokens,
        "train_config": dataclasses.asdict(config),
        "parameters": network.num_parameters(),
        "styles": style_profiles(train_split, tokenizer),
        "library_versions": library_versions(),
        "device": torch_device.type,
        "processes": dist.world,
    }
    start_step = int(state["step"])
    if dist.main:
        reporter.start(config.max_steps, start_step, {"parameters": network.num_parameters(), "train_pieces": len(train_split), "failures": data.failures})
    began = time.perf_counter()
    stopped_early = False
    step = start_step

    saved_at = [-1]

    def checkpoint() -> None:
        if dist.main and saved_at[0] != step:
            state["step"] = step
            _save_checkpoint(ckpt, network, optimizer, tokenizer, state)
            saved_at[0] = step

    network.train()
    try:
        while step < config.max_steps:
            ids = torch.as_tensor(batches.batch(step), device=torch_device)
            for group in optimizer.param_groups:
                group["lr"] = _lr(config, step)
            torch.manual_seed(config.random_seed * 1_000_003 + step * 1_009 + dist.rank)  # dropout masks of this step
            logits = trained(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1), ignore_index=tokenizer.pad_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            value = float(loss.item())
            state["losses"].append(round(value, 6))
            if dist.main:
                reporter.step(step, value)
            last = step >= config.max_steps
            if step % config.eval_every == 0 or last:
                stop = _evaluate_and_keep(network, valid_split, tokenizer, torch_device, config, state, step, output, meta_base, dist, reporter)
                if stop:
                    stopped_early = not last
                    break
            if step % config.checkpoint_every == 0:
                checkpoint()
    except KeyboardInterrupt:
        checkpoint()
        raise
    checkpoint()

    test_bpn = None
    if dist.main:
        if not output.exists():  # e.g. resumed after the last evaluation; keep what we have
            _save_best(network, tokenizer, output, meta_base, state, step)
        if len(test_split):
            best = load_model(output)
            test_bpn = score_split(best.network.to(torch_device), test_split, tokenizer.pad_id, torch_device)["bits_per_note"]
            best.training["test_bits_per_note"] = round(test_bpn, 4)
            save_model(best, output, force=True)
        reporter.close()
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()
    return TrainResult(
        model_path=output,
        checkpoint_path=ckpt,
        steps=step,
        best_valid_bits_per_note=float(state["best"]) if state["best"] is not None else float("nan"),
        test_bits_per_note=test_bpn,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - began,
        losses=list(state["losses"]),
    )


def _load_data(corpus: str | Path, tokenizer: Tokenizer, config: TrainConfig, dist: _Dist, reporter: Reporter) -> TokenData:
    def progress(done: int, total: int) -> None:
        if dist.main and (done == total or done % 100 == 0):
            reporter.message(f"tokenized {done}/{total} files")

    if dist.world > 1:
        import torch.distributed as td

        # Rank 0 fills the cache; the others then read it instead of tokenizing too.
        if dist.main:
            data = load_tokens(corpus, tokenizer, style=config.style, progress=progress)
        td.barrier()
        if not dist.main:
            data = load_tokens(corpus, tokenizer, style=config.style)
        return data
    return load_tokens(corpus, tokenizer, style=config.style, progress=progress)


def _restore(network: Any, optimizer: Any, meta: dict[str, str], tensors: dict[str, Any], device: Any) -> None:
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    network.load_state_dict(model_state, strict=False)
    groups = json.loads(meta["optimizer_groups"])
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})


def _save_best(network: Any, tokenizer: Tokenizer, output: Path, meta_base: dict[str, Any], state: dict[str, Any], step: int) -> None:
    import copy

    training = dict(meta_base, steps=step, valid_bits_per_note=None if state["best"] is None else round(float(state["best"]), 4))
    snapshot = copy.deepcopy(network).cpu().eval()
    save_model(Model(snapshot, tokenizer, training), output, force=True)


def _evaluate_and_keep(network: Any, valid: TokenSplit, tokenizer: Tokenizer, device: Any, config: TrainConfig, state: dict[str, Any], step: int, output: Path, meta_base: dict[str, Any], dist: _Dist, reporter: Reporter) -> bool:
    """Validate on rank 0, save the model if it improved, and agree across ranks whether to stop."""
    import torch

    stop = torch.zeros(1, device=device)  # NCCL broadcasts only device tensors
    if dist.main:
        metrics = score_split(network, valid, tokenizer.pad_id, device)
        bpn = metrics["bits_per_note"]
        improved = state["best"] is None or bpn < state["best"] - 1e-4
        state["evals"].append([step, round(bpn, 5)])
        if improved:
            state["best"] = bpn
            state["bad_evals"] = 0
            _save_best(network, tokenizer, output, meta_base, state, step)
        else:
            state["bad_evals"] += 1
        reporter.evaluated(step, metrics, improved)
        if state["bad_evals"] >= config.patience:
            reporter.message(f"validation has not improved for {config.patience} evaluations: stopping at step {step}")
            stop[0] = 1
    if dist.world > 1:
        import torch.distributed as td

        td.broadcast(stop, src=0)
    return bool(stop[0] > 0)


def evaluate(model: Model | str | Path, corpus: str | Path, split: str = "test", *, device: str = "cpu") -> dict[str, float]:
    """Bits per note, tokens per note and token accuracy of a model on one split of a folder."""
    import torch

    from composer.dataset import SPLITS

    if split not in SPLITS:
        raise TrainingError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if not isinstance(model, Model):
        model = load_model(model)
    data = load_tokens(corpus, model.tokenizer, style=(model.training.get("train_config") or {}).get("style"))
    part = data.splits[split]
    if len(part) == 0:
        raise TrainingError(f"{corpus}: the {split} split has no pieces")
    return score_split(model.network.to(torch.device(device)), part, model.tokenizer.pad_id, device)
