"""Quality metrics of a score: pure functions of one ``Score``, to compare generated music with a corpus.

The scalar metrics in ``METRICS`` follow MusPy's definitions (Dong et al.,
"MusPy: A toolkit for symbolic music generation", ISMIR 2020), except
``average_pitch_interval``, which is Yang and Lerch's "PI" (2020). A metric
that is undefined for a score (no notes, fewer than two bars, ...) is NaN,
as in MusPy; ``overlap_area`` leaves NaNs out.

``note_length_histogram`` is Yang and Lerch's note length histogram, and
``voice_leading`` counts the classic faults of four-part writing;
``structure_metrics`` measures form (repeated bars and 2-bar units, cadences
at phrase ends and elsewhere, the last note against the tonic) and
``self_similarity`` gives the bar-by-bar matrix behind a picture of it.
``overlap_area`` is the overlapping area of two kernel density estimates
(Yang and Lerch, "On the evaluation of generative models in music", Neural
Computing and Applications 32, 2020).

Only numpy is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable, Sequence

import numpy as np

from composer.errors import ComposerError
from composer.score import Score, bar_ticks
from composer.theory import MAJOR_SCALE, NATURAL_MINOR_SCALE, OCTAVE, PERFECT_FIFTH, estimate_key, key_tonic_pitch_class, pickup_bars

PITCH_CLASSES = 12
# Onsets are compared on this grid (steps a quarter note) for groove consistency: MusPy's default
# resolution, which holds 16ths, 32nds and triplets exactly, and makes the figure independent of a
# file's own tick resolution.
GROOVE_STEPS_PER_BEAT = 24

# Note length classes of Yang and Lerch's histogram, in quarter notes; a note falls in the nearest.
NOTE_LENGTH_BIN_NAMES = (
    "whole", "half", "quarter", "eighth", "16th",
    "dotted half", "dotted quarter", "dotted eighth", "dotted 16th",
    "half triplet", "quarter triplet", "eighth triplet",
)  # fmt: skip
NOTE_LENGTH_BINS_BEATS = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)

# Overlap area: points of the grid the two densities are integrated on (more, up to the maximum,
# when one density is much narrower than the range of the values).
OVERLAP_GRID_POINTS = 2001
OVERLAP_GRID_POINTS_MAX = 20001
# The grid reaches this many bandwidths beyond the smallest and largest value (each tail beyond holds < 1e-8).
OVERLAP_GRID_MARGIN_BANDWIDTHS = 6.0
OVERLAP_NO_SPREAD = 1e-9  # a sample whose range is below this share of the pooled spread has no spread of its own
OVERLAP_NARROWEST_KERNEL_STEPS = 16  # the narrowest kernel, in steps of the finest grid over the values' range

# Voice ranges of four-part writing, (lowest, highest) MIDI pitch, both inclusive: the usual textbook
# ranges (soprano C4-G5, alto G3-D5, tenor C3-G4, bass E2-C4). Part 0 is the soprano.
SATB_VOICES = ("Soprano", "Alto", "Tenor", "Bass")
SATB_RANGES = ((60, 79), (55, 74), (48, 67), (40, 60))


class MetricsError(ComposerError):
    """A metric cannot be computed for this score (e.g. voice leading of a score that is not in four parts)."""


def _pitched(score: Score) -> np.ndarray:
    """The notes outside drum parts (drums have no pitch in this sense)."""
    drums = [i for i, part in enumerate(score.parts) if part.is_drum]
    notes = score.notes
    return notes[~np.isin(notes["part"], drums)] if drums else notes


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def pitch_class_entropy(score: Score) -> float:
    """Shannon entropy (bits) of the pitch-class histogram of the notes: 0 for one pitch class, log2(12) = 3.585 for all twelve equally."""
    notes = _pitched(score)
    return _entropy_bits(np.bincount(notes["pitch"] % PITCH_CLASSES, minlength=PITCH_CLASSES).astype(float))


def _scale_masks() -> np.ndarray:
    """24 x 12 booleans: the major scales on C..B, then the natural minor scales on C..B."""
    masks = np.zeros((2 * PITCH_CLASSES, PITCH_CLASSES), bool)
    for mode, steps in enumerate((MAJOR_SCALE, NATURAL_MINOR_SCALE)):  # as MusPy's scale consistency has them
        for root in range(PITCH_CLASSES):
            masks[mode * PITCH_CLASSES + root, [(root + s) % PITCH_CLASSES for s in steps]] = True
    return masks


_SCALES = _scale_masks()


def scale_consistency(score: Score) -> float:
    """Largest share of notes that lie in one major or natural minor scale (0..1)."""
    notes = _pitched(score)
    if len(notes) == 0:
        return math.nan
    counts = np.bincount(notes["pitch"] % PITCH_CLASSES, minlength=PITCH_CLASSES)
    return float((_SCALES @ counts).max() / len(notes))


def pitch_range(score: Score) -> float:
    """Highest minus lowest pitch, in semitones (0 for a score without notes, as in MusPy)."""
    notes = _pitched(score)
    if len(notes) == 0:
        return 0.0
    return float(int(notes["pitch"].max()) - int(notes["pitch"].min()))


def n_pitches_used(score: Score) -> float:
    """Number of distinct MIDI pitches used."""
    return float(len(np.unique(_pitched(score)["pitch"])))


def polyphony(score: Score) -> float:
    """Mean number of distinct pitches sounding, over the time during which at least one sounds."""
    notes = _pitched(score)
    notes = notes[notes["duration_ticks"] > 0]
    if len(notes) == 0:
        return math.nan
    start = notes["start_tick"]
    end = start + notes["duration_ticks"]
    # The time between consecutive note boundaries is a segment during which nothing changes.
    bounds = np.unique(np.concatenate([start, end]))
    first = np.searchsorted(bounds, start)
    stop = np.searchsorted(bounds, end)
    pitches, pitch_index = np.unique(notes["pitch"], return_inverse=True)
    active = np.zeros((len(pitches), len(bounds)), np.int32)  # +1 where a note starts, -1 where it stops
    np.add.at(active, (pitch_index, first), 1)
    np.add.at(active, (pitch_index, stop), -1)
    distinct = (np.cumsum(active, axis=1)[:, :-1] > 0).sum(axis=0)  # MusPy's piano roll counts a unison once
    lengths = np.diff(bounds)
    sounding = lengths[distinct > 0].sum()
    return float((distinct * lengths).sum() / sounding)


def empty_beat_rate(score: Score) -> float:
    """Share of the beats (quarter notes, up to the last note's end) in which no note sounds.

    MusPy's definition. Unlike MusPy's code, a note that ends exactly on a beat does not fill the
    beat after it.
    """
    notes = score.notes[score.notes["duration_ticks"] > 0]
    if len(notes) == 0:
        return math.nan
    tpb = score.ticks_per_beat
    end = notes["start_tick"] + notes["duration_ticks"]
    n_beats = int(-(-int(end.max()) // tpb))
    cover = np.zeros(n_beats + 1, np.int32)
    np.add.at(cover, notes["start_tick"] // tpb, 1)
    np.add.at(cover, (end - 1) // tpb + 1, -1)
    filled = np.cumsum(cover)[:-1] > 0
    return float(1.0 - filled.sum() / n_beats)


def groove_consistency(score: Score) -> float:
    """1 minus the mean Hamming distance between the onset patterns of neighbouring bars, per grid step (0..1).

    MusPy's definition on a grid of 24 steps a quarter note. Bars follow the score's meter (a pickup
    is a bar of its own), and a pair of bars of different lengths is normalised by the longer one.
    Unlike MusPy's code, a piece that ends on a barline gets no empty bar after it. NaN for fewer
    than two bars.
    """
    notes = score.notes
    if len(notes) == 0:
        return math.nan
    tpb = score.ticks_per_beat
    bars = score.bar_starts()
    if len(bars) < 2:
        return math.nan

    def to_steps(ticks: np.ndarray) -> np.ndarray:
        return np.floor(np.asarray(ticks, np.float64) * GROOVE_STEPS_PER_BEAT / tpb + 0.5).astype(np.int64)

    bar_steps = to_steps(bars)
    bar_ends = np.append(bar_steps[1:], to_steps([_next_bar_tick(score, bars)])[0])
    lengths = np.maximum(bar_ends - bar_steps, 1)
    onsets = to_steps(notes["start_tick"])
    bar_of = np.searchsorted(bar_steps, onsets, side="right") - 1
    position = np.minimum(onsets - bar_steps[bar_of], lengths[bar_of] - 1)
    patterns = np.zeros((len(bars), int(lengths.max())), bool)
    patterns[bar_of, position] = True
    distances = (patterns[:-1] != patterns[1:]).sum(axis=1)
    return float(1.0 - np.mean(distances / np.maximum(lengths[:-1], lengths[1:])))


def _next_bar_tick(score: Score, bars: np.ndarray) -> int:
    """The tick where the bar after the last of ``bars`` would begin: one bar of the meter in force there."""
    ts = score.time_signatures
    row = ts[np.searchsorted(ts["tick"], bars[-1], side="right") - 1]
    return int(bars[-1]) + max(1, round(bar_ticks(int(row["numerator"]), int(row["denominator"]), score.ticks_per_beat)))


def average_pitch_interval(score: Score) -> float:
    """Mean absolute interval, in semitones, between successive notes of each part (Yang and Lerch's PI, part by part)."""
    notes = _pitched(score)
    steps = []
    for part in np.unique(notes["part"]):
        pitches = notes["pitch"][notes["part"] == part].astype(np.int64)  # canonical order: by onset, high to low
        steps.append(np.abs(np.diff(pitches)))
    intervals = np.concatenate(steps) if steps else np.zeros(0)
    return float(intervals.mean()) if len(intervals) else math.nan


METRICS: dict[str, Callable[[Score], float]] = {
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "pitch_range": pitch_range,
    "n_pitches_used": n_pitches_used,
    "polyphony": polyphony,
    "empty_beat_rate": empty_beat_rate,
    "groove_consistency": groove_consistency,
    "average_pitch_interval": average_pitch_interval,
}


def describe(name: str) -> str:
    """The first line of a metric's docstring."""
    return (METRICS[name].__doc__ or "").strip().splitlines()[0]


def compute_metrics(score: Score) -> dict[str, float]:
    """Every metric of ``METRICS`` for one score."""
    return {name: function(score) for name, function in METRICS.items()}


def note_length_histogram(score: Score) -> np.ndarray:
    """Share of the notes in each class of ``NOTE_LENGTH_BIN_NAMES`` (nearest length in quarter notes); all zeros without notes."""
    notes = _pitched(score)
    histogram = np.zeros(len(NOTE_LENGTH_BINS_BEATS))
    if len(notes) == 0:
        return histogram
    beats = notes["duration_ticks"] / score.ticks_per_beat
    nearest = np.abs(beats[:, None] - np.asarray(NOTE_LENGTH_BINS_BEATS)[None, :]).argmin(axis=1)
    histogram += np.bincount(nearest, minlength=len(NOTE_LENGTH_BINS_BEATS))
    return histogram / len(notes)


# -- comparing two samples -----------------------------------------------------
def _gaussian_kde(values: np.ndarray, bandwidth: float, grid: np.ndarray) -> np.ndarray:
    z = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * z * z).sum(axis=1) / (len(values) * bandwidth * math.sqrt(2 * math.pi))


def _scott_bandwidth(values: np.ndarray, pooled_std: float) -> float:
    """Scott's rule, as scipy's gaussian_kde: n^(-1/5) times the standard deviation.

    A sample without spread of its own (one value, or all equal) is given the spread of both
    samples together, so that its density stays a smooth bump instead of a spike.
    """
    # Tested on the range, not the std (the std of equal values may round to a tiny non-zero), and with a
    # tolerance, since values equal but for rounding may or may not stay distinct once standardized.
    if values.max() - values.min() <= OVERLAP_NO_SPREAD * pooled_std:
        return len(values) ** -0.2 * pooled_std
    return len(values) ** -0.2 * float(values.std(ddof=1))


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, np.float64).ravel()
    return x[np.isfinite(x)]


def _standard_densities(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float] | None:
    """Both kernel density estimates in units of the pooled spread: (grid, fa, fb, center, spread); None without spread."""
    x, y = _finite(a), _finite(b)
    both = np.concatenate([x, y])
    if len(x) == 0 or len(y) == 0 or both.min() == both.max():
        return None
    # Standard units make the result independent of the values' scale; the values are brought near
    # 1 first, so that squaring them neither underflows nor overflows.
    magnitude = float(np.abs(both).max())
    center = float((both / magnitude).mean()) * magnitude
    deviation = float(np.abs(both - center).max())
    relative = float(((both - center) / deviation).std(ddof=1))
    if not relative > 0:
        return None
    x, y, both = ((v - center) / deviation / relative for v in (x, y, both))
    # A kernel narrower than the grid can resolve (a sample whose spread is rounding noise) is widened
    # to a few grid steps, so that it still integrates to one wherever the grid happens to fall.
    narrowest = OVERLAP_NARROWEST_KERNEL_STEPS * float(both.max() - both.min()) / OVERLAP_GRID_POINTS_MAX
    hx, hy = (max(_scott_bandwidth(v, 1.0), narrowest) for v in (x, y))
    margin = OVERLAP_GRID_MARGIN_BANDWIDTHS * max(hx, hy)
    low, high = both.min() - margin, both.max() + margin
    # Fine enough for the narrower kernel: a few grid steps to its bandwidth.
    points = int(min(max(OVERLAP_GRID_POINTS, math.ceil(4 * (high - low) / min(hx, hy))), OVERLAP_GRID_POINTS_MAX))
    grid = np.linspace(low, high, points)
    return grid, _gaussian_kde(x, hx, grid), _gaussian_kde(y, hy, grid), center, relative * deviation


def kernel_densities(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, density of a, density of b) in the values' own units: the two estimates ``overlap_area`` compares.

    Gaussian kernels with Scott's bandwidth for each sample (a sample without spread of its own
    takes that of both together). Empty arrays when either sample has no finite value or all
    values are one.
    """
    densities = _standard_densities(a, b)
    if densities is None:
        empty = np.zeros(0)
        return empty, empty, empty
    grid, fa, fb, center, spread = densities
    return grid * spread + center, fa / spread, fb / spread


def overlap_area(a: Sequence[float], b: Sequence[float]) -> float:
    """Overlapping area (0..1) of the Gaussian kernel density estimates of two samples; NaN if either is empty.

    Values that are NaN or infinite are left out. 1 means the same distribution, 0 none in common;
    the integral is numerical (trapezoid rule on a fine grid), good to about 1e-5.
    Two samples that are one and the same constant overlap fully (1.0).
    """
    if len(_finite(a)) == 0 or len(_finite(b)) == 0:
        return math.nan
    densities = _standard_densities(a, b)
    if densities is None:  # one value throughout
        return 1.0
    grid, fa, fb, _, _ = densities
    lower = np.minimum(fa, fb)
    step = grid[1] - grid[0]
    area = step * (lower.sum() - 0.5 * (lower[0] + lower[-1]))  # trapezoid rule
    return float(min(max(area, 0.0), 1.0))


def pairwise_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and those of ``b``; without ``b``, between distinct rows of ``a``.

    Yang and Lerch's intra-set (one set) and inter-set (two sets) distances of a feature.
    """
    a = np.atleast_2d(np.asarray(a, np.float64))
    other = a if b is None else np.atleast_2d(np.asarray(b, np.float64))
    d = np.sqrt(((a[:, None, :] - other[None, :, :]) ** 2).sum(axis=2))
    if b is None:
        return d[np.triu_indices(len(a), k=1)]
    return d.ravel()


# -- voice leading -----------------------------------------------------------------
@dataclass(frozen=True)
class VoiceLeading:
    """Counts of voice-leading faults in four-part writing, and the notes they are counted among."""

    notes: int
    parallel_fifths: int  # two voices a fifth (or compound fifth) apart at two successive onsets, both moving the same way (not by octaves)
    parallel_octaves: int  # the same with unisons, octaves and compound octaves
    voice_crossings: int  # (onset, pair of neighbouring voices) with the lower voice sounding above the upper one
    range_violations: int  # notes outside their voice's range (SATB_RANGES)

    def per_100_notes(self) -> dict[str, float]:
        """Each count per 100 notes (NaN without notes)."""
        return {f.name: (100.0 * getattr(self, f.name) / self.notes if self.notes else math.nan) for f in fields(self) if f.name != "notes"}

    def __add__(self, other: "VoiceLeading") -> "VoiceLeading":
        if not isinstance(other, VoiceLeading):
            return NotImplemented
        return VoiceLeading(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


NO_VOICE_LEADING = VoiceLeading(0, 0, 0, 0, 0)


def _sounding(notes: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each time, the highest pitch sounding among ``notes`` then (-1 when none)."""
    out = np.full(len(times), -1, np.int64)
    starts = np.searchsorted(times, notes["start_tick"], side="left")
    stops = np.searchsorted(times, notes["start_tick"] + notes["duration_ticks"], side="left")
    for first, stop, pitch in zip(starts.tolist(), stops.tolist(), notes["pitch"].tolist()):
        if first < stop:
            out[first:stop] = np.maximum(out[first:stop], pitch)
    return out


def _parallels(upper: np.ndarray, lower: np.ndarray, interval_class: int) -> int:
    """Successive onsets (of either voice) where both voices move the same way to new notes and keep ``interval_class``."""
    times = np.unique(np.concatenate([upper["start_tick"], lower["start_tick"]]))
    a, b = _sounding(upper, times), _sounding(lower, times)
    both = (a >= 0) & (b >= 0)
    ok = both[:-1] & both[1:]
    da, db = np.diff(a), np.diff(b)
    # A leap of whole octaves keeps the same note name and harmony: it is not a move to a new note.
    moves = (da % PITCH_CLASSES != 0) & (db % PITCH_CLASSES != 0)
    same_way = moves & (np.sign(da) == np.sign(db))
    kind = np.abs(a - b) % PITCH_CLASSES == interval_class
    return int((ok & same_way & kind[:-1] & kind[1:]).sum())


def parallels(score: Score) -> tuple[int, int]:
    """(parallel fifths, parallel octaves and unisons) between every pair of a score's parts, any number of them;
    a part's pitch at a time is the highest note it sounds then."""
    return _voice_parallels(_voices(score, score.num_parts))


def _voices(score: Score, parts: int) -> list[np.ndarray]:
    """The sounding notes of parts 0..parts-1, one array each."""
    notes = score.notes[score.notes["duration_ticks"] > 0]
    return [notes[notes["part"] == i] for i in range(parts)]


def _voice_parallels(voices: list[np.ndarray]) -> tuple[int, int]:
    fifths = octaves = 0
    for i in range(len(voices)):
        for j in range(i + 1, len(voices)):
            fifths += _parallels(voices[i], voices[j], PERFECT_FIFTH)
            octaves += _parallels(voices[i], voices[j], OCTAVE)
    return fifths, octaves


def voice_leading(score: Score) -> VoiceLeading:
    """Parallel fifths and octaves (per pair of voices), voice crossings and range violations of a four-part score.

    Part 0 is the soprano, part 3 the bass. A voice's pitch at a time is the highest note it sounds then.
    """
    if score.num_parts != len(SATB_VOICES):
        raise MetricsError(f"voice leading needs a four-part (SATB) score, got {score.num_parts} part{'s' if score.num_parts != 1 else ''}")
    voices = _voices(score, len(SATB_VOICES))
    fifths, octaves = _voice_parallels(voices)
    times = np.unique(np.concatenate([v["start_tick"] for v in voices]))
    pitches = [_sounding(v, times) for v in voices]
    crossings = sum(int(((hi >= 0) & (lo >= 0) & (lo > hi)).sum()) for hi, lo in zip(pitches, pitches[1:]))
    outside = sum(int(((v["pitch"] < low) | (v["pitch"] > high)).sum()) for v, (low, high) in zip(voices, SATB_RANGES))
    return VoiceLeading(len(score.notes), fifths, octaves, crossings, outside)



# -- form: repeats, cadences, endings -----------------------------------------------
# Measured on the top part (part 0) over a piece's first bars, a pickup left out. The top part is
# read as a melody: of notes that start together, the highest.
STRUCTURE_BARS = 16  # bars looked at (fewer when the piece is shorter)
PHRASE_BARS = 4  # a phrase boundary falls after every PHRASE_BARS bars: bars 4, 8, 12, 16
UNIT_BARS = 2  # bars of the units compared by ``unit_repeats``
CADENCE_BEATS = 1  # a bar's last note at least this many quarter notes long, and its longest, makes a cadence


@dataclass(frozen=True)
class Structure:
    """Form figures of one piece's top part (see ``structure_metrics``); shares are 0..1, NaN when undefined."""

    bars: int  # bars looked at
    bar_repeats: float  # share of the bars whose notes repeat an earlier bar's exactly
    bar_repeats_transposed: float  # ... or transposed: same rhythm, same intervals
    unit_repeats: float  # share of 2-bar units (bars 1-2, 3-4, ...) repeating an earlier unit, transposition allowed
    cadences_at_phrase_ends: float  # share of bars 4, 8, 12, 16 that close with a cadence
    cadences_elsewhere: float  # share of the other bars that do
    ends_on_tonic: float  # 1.0 when the last note is the tonic of the key, else 0.0 (NaN without notes)

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


STRUCTURE_LABELS = {
    "bar_repeats": "bars repeating an earlier bar",
    "bar_repeats_transposed": "... transposition allowed",
    "unit_repeats": "2-bar units repeating an earlier one (transposed too)",
    "cadences_at_phrase_ends": "cadence at bars 4, 8, 12, 16",
    "cadences_elsewhere": "cadence at other bars",
    "ends_on_tonic": "last note on the tonic",
}


def _melody(score: Score) -> np.ndarray:
    """The top part's notes, only the highest of those that start together (notes are in canonical order)."""
    notes = score.notes[(score.notes["part"] == 0) & (score.notes["duration_ticks"] > 0)]
    if len(notes) < 2:
        return notes
    first = np.ones(len(notes), bool)
    first[1:] = notes["start_tick"][1:] != notes["start_tick"][:-1]
    return notes[first]


def bar_bounds(score: Score, bars: int = STRUCTURE_BARS) -> np.ndarray:
    """Ticks where the first ``bars`` bars begin, and where the last of them ends (``bars + 1`` values at most); a pickup left out."""
    ts = score.time_signatures[-1]
    last_bar = max(1, round(bar_ticks(int(ts["numerator"]), int(ts["denominator"]), score.ticks_per_beat)))
    starts = score.bar_starts(score.end_tick + last_bar)
    return starts[pickup_bars(score) :][: bars + 1]


def _bar_contents(melody: np.ndarray, bounds: np.ndarray) -> list[tuple[tuple[int, int, int], ...]]:
    """Each bar's notes as (onset from the barline, duration cut at the next barline, pitch), in ticks."""
    contents = []
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        mine = melody[(melody["start_tick"] >= start) & (melody["start_tick"] < end)]
        onsets = mine["start_tick"] - start
        lengths = np.minimum(mine["duration_ticks"], end - mine["start_tick"])
        contents.append(tuple(zip(onsets.tolist(), lengths.tolist(), mine["pitch"].tolist())))
    return contents


def _transposable(content: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """``content`` with pitches counted from its first note: equal for transposed copies."""
    if not content:
        return content
    first = content[0][2]
    return tuple((onset, length, pitch - first) for onset, length, pitch in content)


def _repeat_share(keys: Sequence[tuple]) -> float:
    """Share of ``keys`` that are not empty and equal an earlier one."""
    if not keys:
        return math.nan
    seen: set[tuple] = set()
    repeats = 0
    for key in keys:
        repeats += bool(key) and key in seen
        seen.add(key)
    return repeats / len(keys)


def _shifted(content: tuple[tuple[int, int, int], ...], offset: int) -> tuple[tuple[int, int, int], ...]:
    return tuple((onset + offset, length, pitch) for onset, length, pitch in content)


def cadences(score: Score, bars: int = STRUCTURE_BARS) -> np.ndarray:
    """bool per bar: does the bar close with a cadence?

    A bar closes with a cadence when the top part is silent at the bar's end
    (the last note sounding in the bar ends before the barline: a rest closes
    it), or when the last note starting in the bar lasts at least
    ``CADENCE_BEATS`` quarter notes (counted whole, also past the barline) and
    longer than every other note starting in the bar (a bar of even quarter
    notes does not close; ``c4 d e2`` and ``g1`` do). A bar in which no note
    starts closes only when it ends in silence.
    """
    melody = _melody(score)
    bounds = bar_bounds(score, bars)
    ends = melody["start_tick"] + melody["duration_ticks"]
    out = np.zeros(len(bounds) - 1, bool)
    for i, (start, end) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
        sounding = (melody["start_tick"] < end) & (ends >= end)
        if not sounding.any():
            out[i] = True
            continue
        mine = melody[(melody["start_tick"] >= start) & (melody["start_tick"] < end)]
        if len(mine):
            last, others = int(mine["duration_ticks"][-1]), mine["duration_ticks"][:-1]
            out[i] = last >= CADENCE_BEATS * score.ticks_per_beat and bool((others < last).all())
    return out


def ends_on_tonic(score: Score, bars: int = STRUCTURE_BARS) -> float:
    """1.0 when the top part's last note starting in the first ``bars`` bars is the tonic, else 0.0; NaN without notes.

    The key is the key signature in force at that note, else the key found from the notes (``theory.estimate_key``).
    """
    melody = _melody(score)
    bounds = bar_bounds(score, bars)
    melody = melody[melody["start_tick"] < bounds[-1]] if len(bounds) > 1 else melody
    if len(melody) == 0:
        return math.nan
    last = melody[-1]
    keys = score.key_signatures[score.key_signatures["tick"] <= last["start_tick"]]
    key = (int(keys["sharps"][-1]), bool(keys["minor"][-1])) if len(keys) else estimate_key(score)
    return float(int(last["pitch"]) % 12 == key_tonic_pitch_class(*key))


def structure_metrics(score: Score, bars: int = STRUCTURE_BARS) -> Structure:
    """Repeats, cadences and the ending of the top part over the first ``bars`` bars (a pickup left out).

    * ``bar_repeats``: share of the bars (all of them, bar 1 included) whose
      notes, as (onset in the bar, duration cut at the barline, pitch), equal
      those of an earlier bar; a bar in which no note starts never repeats.
    * ``bar_repeats_transposed``: the same with pitches counted from the bar's
      first note (same rhythm and interval sequence, any transposition).
    * ``unit_repeats``: the same, transposition allowed, for 2-bar units
      (bars 1-2, 3-4, ...; onsets counted from the unit's start).
    * ``cadences_at_phrase_ends`` / ``cadences_elsewhere``: share of bars
      4, 8, 12, 16 (every ``PHRASE_BARS``-th) / of the other bars that close
      with a cadence (``cadences``).
    * ``ends_on_tonic``: ``ends_on_tonic``.
    """
    bounds = bar_bounds(score, bars)
    contents = _bar_contents(_melody(score), bounds)
    count = len(contents)
    units = []
    for i in range(0, count - UNIT_BARS + 1, UNIT_BARS):
        unit = sum((_shifted(contents[i + k], int(bounds[i + k] - bounds[i])) for k in range(UNIT_BARS)), ())
        units.append(_transposable(unit))
    closes = cadences(score, bars)
    at_ends = (np.arange(count) + 1) % PHRASE_BARS == 0
    return Structure(
        bars=count,
        bar_repeats=_repeat_share(contents),
        bar_repeats_transposed=_repeat_share([_transposable(c) for c in contents]),
        unit_repeats=_repeat_share(units),
        cadences_at_phrase_ends=float(closes[at_ends].mean()) if at_ends.any() else math.nan,
        cadences_elsewhere=float(closes[~at_ends].mean()) if (~at_ends).any() else math.nan,
        ends_on_tonic=ends_on_tonic(score, bars),
    )


def form_heard(score: Score, section_bars: int, bars: int = STRUCTURE_BARS) -> str:
    """The form of the top part's first ``bars`` bars (a pickup left out) in sections of ``section_bars``, as
    ``composer.form`` spells it (``"A A' B C"``); "" when not even one whole section is there.

    A section whose notes (``_bar_contents``: onset, duration cut at the barline,
    pitch; no transposition) equal an earlier section's takes its name; one
    that opens with its first bar and shares at least half its bars with the
    first section of a letter is that letter primed (``A'``, then ``A''``: a
    varied return, such as a second ending); any other is a new letter. At
    most 26 sections are named.
    """
    if not isinstance(section_bars, int) or section_bars < 1:
        raise ComposerError(f"section_bars must be a positive int, got {section_bars!r}")
    contents = _bar_contents(_melody(score), bar_bounds(score, bars))
    sections = [tuple(contents[i : i + section_bars]) for i in range(0, len(contents) - section_bars + 1, section_bars)]
    sections = sections[:26]  # a letter each at most
    names: list[str] = []
    firsts: dict[str, tuple] = {}  # letter -> its first section's bars
    for section in sections:
        names.append(_section_name(section, sections[: len(names)], names, firsts))
    return " ".join(names)


def _section_name(section: tuple, earlier: list[tuple], names: list[str], firsts: dict[str, tuple]) -> str:
    """The name of ``section`` after the ``earlier`` sections named ``names``; a new letter is added to ``firsts``."""
    for before, name in zip(earlier, names):
        if before == section:
            return name
    for letter, first in firsts.items():
        shared = sum(a == b for a, b in zip(first, section))
        if section[0] == first[0] and 2 * shared >= len(section) and len(section) > 1:
            return letter + "'" * (1 + max(n.count("'") for n in names if n[0] == letter))
    letter = chr(ord("A") + len(firsts))
    firsts[letter] = section
    return letter


def _similarity(a: tuple[tuple[int, int, int], ...], b: tuple[tuple[int, int, int], ...]) -> float:
    """Jaccard similarity of two bars' (onset, duration, pitch) sets, at the transposition of ``b`` that matches best."""
    if not a or not b:
        return float(not a and not b)
    best = 0.0
    set_a = set(a)
    for shift in {pa - pb for _, _, pa in a for _, _, pb in b}:
        shifted = {(onset, length, pitch + shift) for onset, length, pitch in b}
        best = max(best, len(set_a & shifted) / len(set_a | shifted))
    return best


def self_similarity(score: Score, bars: int = STRUCTURE_BARS) -> np.ndarray:
    """bars x bars matrix: how alike bar i and bar j of the top part are, 0..1 (1: a repeat, transposition allowed).

    The similarity is the Jaccard index of the bars' (onset, duration, pitch)
    sets, at the transposition that matches best; two empty bars count as alike.
    """
    contents = _bar_contents(_melody(score), bar_bounds(score, bars))
    n = len(contents)
    matrix = np.eye(n)
    for i in range(n):
        for j in range(i):
            matrix[i, j] = matrix[j, i] = _similarity(contents[i], contents[j])
    return matrix
