"""The harmonizer's torch network and its training: a bidirectional GRU over a whole melody.

The language models write a piece token by token and see only what came
before (plus a few features ahead).  Under a melody they harmonize, the chord
at a beat depends on where the melody goes next: the cadence two beats on,
the phrase's end.  The harmonizer reads the whole sequence of frames (one per
grid point; what a frame holds is ``composer.harmony``'s business, not this
module's) forwards and backwards, and gives at every frame a distribution
over ``classes`` for each of ``voices`` outputs.  Generation runs the same
function in numpy (``composer.nn.runtime.harmonizer_log_probs``).

Why a GRU over frames rather than another transformer: a chorale melody is
100-400 eighths, the corpus a few hundred of them; a two-layer GRU of 128
units learns them in a minute or two on two CPU cores, and its numpy forward
pass over a whole melody takes milliseconds.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from composer.nn.configs import HarmonizerConfig, HarmonizerError, HarmonizerTraining
from composer.nn.runtime import harmonizer_shapes

__all__ = ["HarmonizerNet", "fit"]

IGNORE = -100  # a target class to skip (a voice silent at that frame)
WEIGHT_DECAY = 0.05
CLIP_NORM = 1.0


class HarmonizerNet(nn.Module):
    """Frames [B, T, features] -> logits [B, T, voices, classes]."""

    def __init__(self, config: HarmonizerConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.inp = nn.Linear(config.features, h)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(h, h, num_layers=config.layers, batch_first=True, bidirectional=True, dropout=dropout if config.layers > 1 else 0.0)
        self.out = nn.Linear(2 * h, config.voices * config.classes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.drop(nn.functional.gelu(self.inp(frames)))
        x, _ = self.gru(x)
        logits = self.out(self.drop(x))
        return logits.view(*frames.shape[:2], self.config.voices, self.config.classes)


def _batch(pieces: Sequence[tuple[np.ndarray, np.ndarray]], features: int, voices: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pieces padded to the longest: frames (zeros) and targets (IGNORE) past each piece's end."""
    length = max(len(x) for x, _ in pieces)
    frames = torch.zeros(len(pieces), length, features)
    targets = torch.full((len(pieces), length, voices), IGNORE, dtype=torch.long)
    for row, (x, y) in enumerate(pieces):
        frames[row, : len(x)] = torch.from_numpy(np.asarray(x, np.float32))
        targets[row, : len(y)] = torch.from_numpy(np.where(np.asarray(y) >= 0, y, IGNORE).astype(np.int64))
    return frames, targets


def _check_pieces(pieces: Sequence[tuple[np.ndarray, np.ndarray]], config: HarmonizerConfig) -> None:
    if not pieces:
        raise HarmonizerError("harmonizer: nothing to learn from (no pieces)")
    for i, (x, y) in enumerate(pieces):
        if x.ndim != 2 or x.shape[1] != config.features or y.shape != (len(x), config.voices):
            raise HarmonizerError(f"harmonizer: piece {i} has frames {x.shape} and targets {y.shape}; expected (T, {config.features}) and (T, {config.voices})")
        if len(y) and ((y >= config.classes) | ((y < 0) & (y != -1))).any():
            raise HarmonizerError(f"harmonizer: piece {i} has targets outside 0..{config.classes - 1} (or -1 for none)")


def fit(pieces: Sequence[tuple[np.ndarray, np.ndarray]], config: HarmonizerConfig, training: HarmonizerTraining = HarmonizerTraining(),
        progress: Callable[[int, int, float], None] | None = None) -> dict[str, np.ndarray]:
    """Train a harmonizer on (frames float32[T, features], targets int[T, voices] with -1 for none) pairs; its weights.

    ``progress(epoch, epochs, mean loss)`` after each epoch. The same pieces, config and
    training settings give the same weights; the caller's torch random state is left as it was.
    """
    _check_pieces(pieces, config)
    pieces = [p for p in pieces if len(p[0])]
    if not pieces:
        raise HarmonizerError("harmonizer: nothing to learn from (every piece is empty)")
    order = np.random.default_rng(training.random_seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(training.random_seed)
        net = HarmonizerNet(config, training.dropout)
        optimizer = torch.optim.AdamW(net.parameters(), lr=training.learning_rate, weight_decay=WEIGHT_DECAY)
        net.train()
        for epoch in range(training.epochs):
            total, count = 0.0, 0
            shuffled = order.permutation(len(pieces))
            for start in range(0, len(shuffled), training.batch_pieces):
                frames, targets = _batch([pieces[i] for i in shuffled[start : start + training.batch_pieces]], config.features, config.voices)
                if not (targets != IGNORE).any():
                    continue
                logits = net(frames)
                loss = nn.functional.cross_entropy(logits.reshape(-1, config.classes), targets.reshape(-1), ignore_index=IGNORE)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), CLIP_NORM)
                optimizer.step()
                total, count = total + loss.item() * len(frames), count + len(frames)
            if progress is not None:
                progress(epoch + 1, training.epochs, total / max(count, 1))
    state = {k: v.detach().float().numpy().copy() for k, v in net.state_dict().items()}
    return {name: state[name] for name in harmonizer_shapes(config)}
