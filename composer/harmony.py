"""The melody-ahead harmony prior: which pitch class each lower voice takes under a melody note.

Tokens run position by position with the top part first, so when a model
writes the alto, tenor and bass under a melody note it has seen the melody
only up to that note. It cannot prepare what comes next. This prior counts,
in a style's train split, the pitch class each lower voice sounds under a
melody note, given the key's mode, the melody note's scale degree, and the
degrees of the melody's previous and next different notes (an eighth-note
grid; degrees relative to the key's tonic). Harmonizing, generation adds
``weight * log P(pitch class | context)`` to the model's scores of a lower
voice's pitches (``GenerationSettings.harmony_weight``): a product of the
model and a table that sees one melody note ahead.

The counts travel in the model file, with the style profiles, as
zlib-compressed little-endian ``uint16`` in base64 (``encode``/``decode``),
checked for shape and size before use.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from composer.errors import ComposerError
from composer.score import Score
from composer.theory import Key, key_tonic_pitch_class, seed_key

NONE = 12  # the degree slot for "no previous/next different melody note"
MAX_VOICES = 7  # lower voices counted (parts below the melody)
GRID_DIVISION = 2  # grid points per quarter note (eighths)
BACKOFF = 4.0  # pseudo-counts given to the coarser context's distribution
COUNT_MAX = np.iinfo(np.uint16).max


class HarmonyPriorError(ComposerError):
    """A harmony prior that cannot be read (a damaged or foreign model file)."""


@dataclass(frozen=True)
class HarmonyPrior:
    """Counts[mode, degree, previous degree, next degree, voice, pitch class] (mode 0 major, 1 minor)."""

    counts: np.ndarray

    @property
    def voices(self) -> int:
        return int(self.counts.shape[4])

    def log_probs(self) -> np.ndarray:
        """log P(pitch class | mode, degree, previous, next, voice), backed off to (mode, degree, voice), then (mode, voice)."""
        c = self.counts.astype(np.float64)
        by_voice = c.sum(axis=(1, 2, 3), keepdims=True)  # (2, 1, 1, 1, V, 12)
        p_voice = (by_voice + 0.5) / (by_voice.sum(-1, keepdims=True) + 6.0)
        by_degree = c.sum(axis=(2, 3), keepdims=True)
        p_degree = (by_degree + BACKOFF * p_voice) / (by_degree.sum(-1, keepdims=True) + BACKOFF)
        p = (c + BACKOFF * p_degree) / (c.sum(-1, keepdims=True) + BACKOFF)
        return np.log(p).astype(np.float32)


def empty_counts(voices: int) -> np.ndarray:
    return np.zeros((2, 12, 13, 13, voices, 12), np.uint16)


def melody_context(pitches: list[int]) -> tuple[list[int], list[int]]:
    """Per melody note: the previous and the next pitch that differs from it (-1: none)."""
    previous, following = [-1] * len(pitches), [-1] * len(pitches)
    last = -1
    for i, pitch in enumerate(pitches):
        if i and pitches[i - 1] != pitch:
            last = pitches[i - 1]
        previous[i] = last
    last = -1
    for i in range(len(pitches) - 1, -1, -1):
        if i + 1 < len(pitches) and pitches[i + 1] != pitches[i]:
            last = pitches[i + 1]
        following[i] = last
    return previous, following


def degree(pitch: int, tonic: int) -> int:
    """A pitch's degree slot: semitones above the tonic, or NONE for a missing pitch (-1)."""
    return NONE if pitch < 0 else (pitch - tonic) % 12


def _voice_grid(score: Score, parts: int, step_ticks: int) -> np.ndarray:
    """Pitch sounding in each part at each grid point (-1 none; in a chord, the lowest), up to the last note's end."""
    notes = score.notes
    end = int((notes["start_tick"] + notes["duration_ticks"]).max()) if len(notes) else 0
    grid = np.full((parts, max(end // step_ticks, 0)), -1, np.int64)
    for n in notes[np.argsort(-notes["pitch"], kind="stable")]:  # lowest written last: it wins
        part = int(n["part"])
        if part < parts:
            lo = -(-int(n["start_tick"]) // step_ticks)
            hi = -(-(int(n["start_tick"]) + int(n["duration_ticks"])) // step_ticks)
            grid[part, lo:hi] = int(n["pitch"])
    return grid


def add_piece(counts: np.ndarray, score: Score, key: Key | None = None) -> None:
    """Count one piece's lower voices under its top part (in place)."""
    voices = min(counts.shape[4], score.num_parts - 1)
    if voices < 1 or not len(score.notes):
        return
    key = key or seed_key(score)
    tonic, mode = key_tonic_pitch_class(*key), int(key[1])
    grid = _voice_grid(score, voices + 1, max(score.ticks_per_beat // GRID_DIVISION, 1))
    top = grid[0]
    changes = np.flatnonzero(top >= 0)
    if not len(changes):
        return
    # the melody as a list of notes (a held pitch across grid points is one note; a rest breaks it)
    starts = [t for t in changes if t == 0 or top[t - 1] != top[t]]
    pitches = [int(top[t]) for t in starts]
    previous, following = melody_context(pitches)
    index = np.searchsorted(starts, np.arange(grid.shape[1]), side="right") - 1
    for t in changes:
        m = int(index[t])
        d, dp, dn = degree(pitches[m], tonic), degree(previous[m], tonic), degree(following[m], tonic)
        for v in range(voices):
            pitch = int(grid[v + 1, t])
            if pitch >= 0 and counts[mode, d, dp, dn, v, (pitch - tonic) % 12] < COUNT_MAX:
                counts[mode, d, dp, dn, v, (pitch - tonic) % 12] += 1


def fit(scores: Iterable[Score], voices: int) -> HarmonyPrior:
    """The prior of pieces with ``voices`` lower voices (pieces with fewer count the voices they have)."""
    counts = empty_counts(min(max(voices, 1), MAX_VOICES))
    for score in scores:
        add_piece(counts, score)
    return HarmonyPrior(counts)


def encode(prior: HarmonyPrior) -> dict[str, object]:
    """A JSON-ready form for a model file's style profile."""
    data = zlib.compress(prior.counts.astype("<u2").tobytes(), 9)
    return {"voices": prior.voices, "counts": base64.b64encode(data).decode("ascii")}


def decode(entry: object) -> HarmonyPrior:
    """The prior from ``encode``'s form; a wrong shape, size or encoding raises HarmonyPriorError."""
    if not isinstance(entry, dict) or not isinstance(entry.get("voices"), int) or not isinstance(entry.get("counts"), str):
        raise HarmonyPriorError(f"harmony prior: expected {{'voices': int, 'counts': str}}, got {type(entry).__name__}")
    voices = entry["voices"]
    if not 1 <= voices <= MAX_VOICES:
        raise HarmonyPriorError(f"harmony prior: voices must be 1..{MAX_VOICES}, got {voices}")
    template = empty_counts(voices)
    size = template.nbytes
    try:
        raw = base64.b64decode(entry["counts"], validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, size + 1)  # never more than the shape needs
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise HarmonyPriorError(f"harmony prior: counts are not base64 zlib data ({exc})") from None
    if len(data) != size or inflater.unconsumed_tail:
        raise HarmonyPriorError(f"harmony prior: expected {size} bytes of counts for {voices} voices, got {len(data)}{'+' if inflater.unconsumed_tail else ''}")
    return HarmonyPrior(np.frombuffer(data, "<u2").reshape(template.shape).copy())


class HarmonyBias:
    """Weighted log-probabilities of the prior for one melody: per lower voice, a score for each MIDI pitch."""

    def __init__(self, prior: HarmonyPrior, weight: float, melody: list[int]) -> None:
        self.table = prior.log_probs() * np.float32(weight)
        self.melody = list(melody)
        self.previous, self.following = melody_context(self.melody)
        self._pitches = np.arange(128)

    @property
    def voices(self) -> int:
        return int(self.table.shape[4])

    def scores(self, note: int, key: Key, voice: int) -> np.ndarray | None:
        """float32[128]: the bias for ``voice`` (0 = the part below the melody) under melody note ``note``; None if none applies."""
        if not 0 <= note < len(self.melody) or not 0 <= voice < self.voices or self.melody[note] < 0:
            return None
        tonic = key_tonic_pitch_class(*key)
        d = degree(self.melody[note], tonic)
        row = self.table[int(key[1]), d, degree(self.previous[note], tonic), degree(self.following[note], tonic), voice]
        return row[(self._pitches - tonic) % 12]
