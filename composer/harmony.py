"""What harmonizing adds to the model's scores: which pitch class each lower voice takes under a melody.

Tokens run position by position with the top part first, so when a model
writes the alto, tenor and bass under a melody note it has seen the melody
only up to that note (and a few features ahead). It cannot prepare what
comes later. Two estimates of the lower voices' pitch classes, both learned
from a style's train split on an eighth-note grid, with degrees relative to
the key's tonic, fill that gap:

* the **harmonizer** (``fit_harmonizer``, ``Harmonizer``; the network is
  ``composer.nn.harmonizer``): a bidirectional GRU that reads the whole
  melody, both ways (its degrees, onsets, phrase ends, the meter's place,
  the distance to the end), and gives each lower voice's pitch class at
  every grid point;
* the **prior** (``fit``, ``HarmonyPrior``): counts of the pitch class each
  lower voice sounds under a melody note, given the key's mode, the note's
  degree and the degrees of the melody's previous and next different notes,
  a table that sees one note ahead (model files trained before the
  harmonizer have only this).

Harmonizing, generation adds ``weight * log P(pitch class | melody)`` to the
model's scores of a lower voice's pitches (``HarmonyBias``;
``GenerationSettings.harmony_weight``): the harmonizer's where the style
has one, else the prior's.

Both travel in the model file with the style profiles, zlib-compressed in
base64 (the prior's counts as little-endian ``uint16``, the harmonizer's
weights as ``float16`` with its config), checked for shape and size before use.
"""

from __future__ import annotations

import base64
import binascii
import zlib
import math
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import numpy as np

from composer.errors import ComposerError
from composer.nn.configs import HarmonizerConfig, HarmonizerTraining, config_from_dict
from composer.nn.runtime import harmonizer_log_probs, harmonizer_shapes
from composer.score import Score
from composer.theory import Key, key_tonic_pitch_class, seed_key, ticks_since_barline

NONE = 12  # the degree slot for "no previous/next different melody note"
MAX_VOICES = 7  # lower voices counted (parts below the melody)
GRID_DIVISION = 2  # grid points per quarter note (eighths)
BACKOFF = 4.0  # pseudo-counts given to the coarser context's distribution
COUNT_MAX = np.iinfo(np.uint16).max
MAX_HARMONIZER_BYTES = 64 << 20  # float16 weights a style's harmonizer may hold


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


def _inflate(text: str, size: int, what: str) -> bytes:
    """Exactly ``size`` bytes from base64 zlib ``text`` (never more inflated than that); HarmonyPriorError otherwise."""
    try:
        raw = base64.b64decode(text, validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, size + 1)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise HarmonyPriorError(f"{what} are not base64 zlib data ({exc})") from None
    if len(data) != size or inflater.unconsumed_tail:
        raise HarmonyPriorError(f"{what}: expected {size} bytes, got {len(data)}{'+' if inflater.unconsumed_tail else ''}")
    return data


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


def grid_step_ticks(ticks_per_beat: int) -> int:
    """The grid's step in ticks (an eighth note), at least one tick."""
    return max(ticks_per_beat // GRID_DIVISION, 1)


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


def melody_contexts(top: np.ndarray, tonic: int) -> np.ndarray:
    """int[T, 3]: per grid point of a melody (pitches, -1 silent), the degree slots of the note sounding there and of
    the melody's previous and next different notes (a held pitch across grid points is one note; a rest breaks it)."""
    out = np.full((len(top), 3), NONE, np.int64)
    changes = np.flatnonzero(top >= 0)
    if not len(changes):
        return out
    starts = [t for t in changes if t == 0 or top[t - 1] != top[t]]
    pitches = [int(top[t]) for t in starts]
    previous, following = melody_context(pitches)
    index = np.searchsorted(starts, np.arange(len(top)), side="right") - 1
    for t in changes:
        m = int(index[t])
        out[t] = degree(pitches[m], tonic), degree(previous[m], tonic), degree(following[m], tonic)
    return out


def add_piece(counts: np.ndarray, score: Score, key: Key | None = None) -> None:
    """Count one piece's lower voices under its top part (in place)."""
    voices = min(counts.shape[4], score.num_parts - 1)
    if voices < 1 or not len(score.notes):
        return
    key = key or seed_key(score)
    tonic, mode = key_tonic_pitch_class(*key), int(key[1])
    grid = _voice_grid(score, voices + 1, grid_step_ticks(score.ticks_per_beat))
    contexts = melody_contexts(grid[0], tonic)
    for t in np.flatnonzero(grid[0] >= 0):
        d, dp, dn = contexts[t]
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
    data = _inflate(entry["counts"], template.nbytes, "harmony prior: counts")
    return HarmonyPrior(np.frombuffer(data, "<u2").reshape(template.shape).copy())


# -- the harmonizer: the whole melody read both ways (composer.nn.harmonizer) ---------------------
# A frame per grid point: the melody's degree there (12 slots, a 13th for a rest), whether a
# melody note starts there, whether a phrase ends there (a fermata), the key's mode, the
# eighths since the barline, the eighths left to the melody's end and since its start.
BAR_POSITIONS, TO_END, FROM_START = 12, 17, 9
FEATURES = 13 + 2 + 1 + BAR_POSITIONS + TO_END + FROM_START
_ONSET, _PHRASE_END, _MODE = 13, 14, 15
_BAR, _END, _START = 16, 16 + BAR_POSITIONS, 16 + BAR_POSITIONS + TO_END
UNMARKED_STREAM = 0x554E4D4B  # the random stream choosing the pieces also shown without phrase ends
MAX_FRAMES = 1 << 16  # eighths a melody may span for the harmonizer (over two hours at 60 beats a minute)


def melody_grid(score: Score) -> np.ndarray:
    """int[T]: the top part's pitch at each grid point up to its last note's end (-1 silent)."""
    step = grid_step_ticks(score.ticks_per_beat)
    top = score.notes[score.notes["part"] == 0]
    end = int((top["start_tick"] + top["duration_ticks"]).max()) if len(top) else 0
    if -(-end // step) > MAX_FRAMES:
        raise HarmonyPriorError(f"melody of {-(-end // step)} eighths: the harmonizer reads at most {MAX_FRAMES}")
    return _voice_grid(score.replace(notes=top) if len(top) != len(score.notes) else score, 1, step)[0][: -(-end // step)]


def frames(score: Score, key: Key, phrase_end_ticks: np.ndarray | list[int] | None = None) -> np.ndarray:
    """float32[T, FEATURES]: the harmonizer's input for the melody (top part) of ``score`` in ``key``; the phrase ends
    are the score's own markers unless given."""
    step = grid_step_ticks(score.ticks_per_beat)
    top = melody_grid(score)
    n = len(top)
    out = np.zeros((n, FEATURES), np.float32)
    if not n:
        return out
    tonic = key_tonic_pitch_class(*key)
    rows = np.arange(n)
    out[rows, np.where(top >= 0, (top - tonic) % 12, 12)] = 1
    melody = score.notes[score.notes["part"] == 0]
    starts = melody["start_tick"][melody["start_tick"] % step == 0] // step
    out[starts[starts < n], _ONSET] = 1
    ends = score.phrase_end_ticks if phrase_end_ticks is None else np.asarray(phrase_end_ticks, np.int64)
    if len(ends):
        out[np.clip(-(-np.asarray(ends, np.int64) // step) - 1, 0, n - 1), _PHRASE_END] = 1
    out[:, _MODE] = float(key[1])
    since_bar = ticks_since_barline(score, rows * step) // step
    out[rows, _BAR + np.clip(since_bar, 0, BAR_POSITIONS - 1)] = 1
    out[rows, _END + np.minimum(n - 1 - rows, TO_END - 1)] = 1
    out[rows, _START + np.minimum(rows, FROM_START - 1)] = 1
    return out


def targets(score: Score, key: Key, voices: int) -> np.ndarray:
    """int[T, voices]: each lower voice's pitch class above the tonic at the melody's grid points (-1: silent)."""
    t = len(melody_grid(score))
    grid = _voice_grid(score, voices + 1, grid_step_ticks(score.ticks_per_beat))[1:, :t]
    if grid.shape[1] < t:
        grid = np.pad(grid, ((0, 0), (0, t - grid.shape[1])), constant_values=-1)
    tonic = key_tonic_pitch_class(*key)
    return np.where(grid >= 0, (grid - tonic) % 12, -1).T.copy()


@dataclass(frozen=True)
class Harmonizer:
    """A trained harmonizer (``composer.nn.harmonizer``): its shape and its weights."""

    config: HarmonizerConfig
    weights: dict[str, np.ndarray]

    @property
    def voices(self) -> int:
        return self.config.voices

    def log_probs(self, melody: Score, key: Key) -> np.ndarray:
        """float32[T, voices, 12]: log P(pitch class above the tonic | the whole melody) per grid point and lower voice."""
        return harmonizer_log_probs(self.config, self.weights, frames(melody, key))


def without_phrase_ends(frames: np.ndarray) -> np.ndarray:
    """A copy of a melody's ``frames`` with no phrase end marked (as a plain MIDI melody has none)."""
    out = frames.copy()
    out[:, _PHRASE_END] = 0
    return out


def fit_harmonizer(pieces: Iterable[tuple[Score, np.ndarray | None]], voices: int, training: HarmonizerTraining = HarmonizerTraining(),
                   progress: Callable[[int, int, float], None] | None = None) -> Harmonizer:
    """Train a harmonizer on (score, phrase-end ticks or None for the score's own markers) pairs with ``voices`` lower
    voices (needs torch: ``composer.nn.harmonizer``); progress(epoch, epochs, loss) after each epoch."""
    from composer.nn import require_torch

    require_torch("learning a harmonizer")
    from composer.nn.harmonizer import fit

    voices = min(max(voices, 1), MAX_VOICES)
    unmarked = np.random.default_rng([training.random_seed, UNMARKED_STREAM])
    data = []
    for score, ends in pieces:
        if score.num_parts < 2 or not len(score.notes):
            continue
        key = seed_key(score)
        x, y = frames(score, key, ends), targets(score, key, voices)
        data.append((x, y))
        if x[:, _PHRASE_END].any() and unmarked.random() < training.unmarked_share:
            data.append((without_phrase_ends(x), y))
    config = HarmonizerConfig(features=FEATURES, voices=voices)
    return Harmonizer(config, fit(data, config, training, progress))


def encode_harmonizer(harmonizer: Harmonizer) -> dict[str, object]:
    """A JSON-ready form for a model file's style profile: the config and the weights as zlib-compressed float16."""
    names = harmonizer_shapes(harmonizer.config)
    data = b"".join(harmonizer.weights[name].astype("<f2").tobytes() for name in names)
    return {"config": asdict(harmonizer.config), "weights": base64.b64encode(zlib.compress(data, 9)).decode("ascii")}


def decode_harmonizer(entry: object) -> Harmonizer:
    """The harmonizer from ``encode_harmonizer``'s form; a wrong config, size or encoding raises HarmonyPriorError."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict) or not isinstance(entry.get("weights"), str):
        raise HarmonyPriorError(f"harmonizer: expected {{'config': object, 'weights': str}}, got {type(entry).__name__}")
    try:
        config = config_from_dict(HarmonizerConfig, "harmonizer", entry["config"])
    except (TypeError, ValueError) as exc:
        raise HarmonyPriorError(f"harmonizer: {exc}") from None
    if config.features != FEATURES or config.classes != 12 or config.voices > MAX_VOICES:
        raise HarmonyPriorError(f"harmonizer: expected {FEATURES} features, 12 classes and at most {MAX_VOICES} voices, "
                                f"got {config.features}, {config.classes} and {config.voices}")
    shapes = harmonizer_shapes(config)
    size = 2 * sum(math.prod(shape) for shape in shapes.values())
    if size > MAX_HARMONIZER_BYTES:
        raise HarmonyPriorError(f"harmonizer: {size} bytes of weights, more than the {MAX_HARMONIZER_BYTES} allowed")
    data = _inflate(entry["weights"], size, "harmonizer: weights")
    flat = np.frombuffer(data, "<f2").astype(np.float32)
    if not np.isfinite(flat).all():
        raise HarmonyPriorError("harmonizer: weights hold NaN or infinite values")
    weights, at = {}, 0
    for name, shape in shapes.items():
        count = math.prod(shape)
        weights[name] = flat[at : at + count].reshape(shape)
        at += count
    return Harmonizer(config, weights)


# -- what harmonizing adds to the model's scores --------------------------------------------------
class HarmonyBias:
    """Weighted log-probabilities of a lower voice's pitch class at each grid point of one melody, as scores per MIDI pitch."""

    def __init__(self, log_probs: np.ndarray, weight: float, key: Key, steps_per_grid: int) -> None:
        """``log_probs``: float32[T, voices, 12] over pitch classes above the key's tonic; ``steps_per_grid``: the
        generation steps in one grid point."""
        tonic = key_tonic_pitch_class(*key)
        self.table = log_probs[:, :, (np.arange(128) - tonic) % 12] * np.float32(weight)  # [T, voices, 128]
        self.steps_per_grid = max(int(steps_per_grid), 1)

    @property
    def voices(self) -> int:
        return int(self.table.shape[1])

    def scores(self, step: int, voice: int) -> np.ndarray | None:
        """float32[128]: the bias for ``voice`` (0 = the part below the melody) at generation step ``step``; None if none applies."""
        t = step // self.steps_per_grid
        if not 0 <= t < len(self.table) or not 0 <= voice < self.voices:
            return None
        return self.table[t, voice]


def prior_log_probs(prior: HarmonyPrior, melody: Score, key: Key) -> np.ndarray:
    """float32[T, voices, 12]: the counted prior's log-probabilities at each grid point of ``melody``'s top part."""
    tonic = key_tonic_pitch_class(*key)
    contexts = melody_contexts(melody_grid(melody), tonic)
    sounding = contexts[:, 0] != NONE  # where the melody rests, nothing is known: flat
    out = np.full((len(contexts), prior.voices, 12), -np.log(12), np.float32)
    out[sounding] = prior.log_probs()[int(key[1]), contexts[sounding, 0], contexts[sounding, 1], contexts[sounding, 2]]
    return out
