"""Music theory that more than one module needs: keys, scales and the pickup rule.

Keys are ``(sharps, minor)`` pairs as a key signature holds them (``sharps``
negative for flats). A **pickup** is a short first bar written with its own
time signature: it does not count as a bar wherever bars are counted
(``--bars``, ``--seed-bars``, the openings that sample evaluation compares).
"""

from __future__ import annotations

import numpy as np

from composer.errors import ScoreError
from composer.score import Score, bar_ticks, slice_bars

Key = tuple[int, bool]  # (sharps, minor)

# -- scales --------------------------------------------------------------------
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)  # semitones above the tonic
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# What generation allows in a minor key: natural minor plus the raised sixth and seventh (melodic and harmonic).
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)

# -- keys ----------------------------------------------------------------------
_MAJOR_TONICS = ["C", "G", "D", "A", "E", "B", "F#", "C#", "Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F"]
_MINOR_TONICS = ["a", "e", "b", "f#", "c#", "g#", "d#", "a#", "ab", "eb", "bb", "f", "c", "g", "d"]
# Temperley's (Kostka-Payne) key profiles (major, minor), from C. Krumhansl-Kessler's weigh the
# tonic triad so evenly that a C major tune dwelling on E and D (the Ode to Joy) reads as E minor.
KEY_PROFILE_MAJOR = (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400)
KEY_PROFILE_MINOR = (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330)
LAST_NOTE_BONUS = 0.05  # added to a key's correlation when the last note is its tonic (tunes end at home)
FIRST_NOTE_BONUS = 0.02  # ... and when the first note is


def key_name(sharps: int, minor: bool) -> str:
    """'D' for two sharps major, 'b' for two sharps minor (lower case = minor)."""
    return (_MINOR_TONICS if minor else _MAJOR_TONICS)[sharps % 15 if sharps >= 0 else 15 + sharps]


def key_tonic_pitch_class(sharps: int, minor: bool) -> int:
    """Pitch class (0 = C) of the tonic of a key signature."""
    return (7 * sharps + (9 if minor else 0)) % 12


def parse_key(text: str) -> Key:
    """(sharps, minor) from 'G', 'e', 'F# minor', 'Bb major', 'c#m' (a lower-case tonic alone means minor)."""
    raw = str(text).strip()
    words = raw.replace("-", " ").split()
    if not words:
        raise ScoreError(f"key: expected e.g. 'G', 'e', 'F# minor' or 'Bb major', got {text!r}")
    tonic, mode = words[0], " ".join(words[1:]).lower()
    if len(words) == 1 and len(tonic) > 1 and tonic.endswith("m") and tonic[:-1].lower() in {t.lower() for t in _MINOR_TONICS}:
        tonic, mode = tonic[:-1], "minor"
    if mode not in ("", "major", "minor", "maj", "min"):
        raise ScoreError(f"key: mode must be 'major' or 'minor', got {mode!r} in {text!r}")
    minor = mode.startswith("min") or (mode == "" and tonic[:1].islower())
    table = _MINOR_TONICS if minor else _MAJOR_TONICS
    names = {name.lower(): i for i, name in enumerate(table)}
    index = names.get(tonic.lower())
    if index is None:
        raise ScoreError(f"key: unknown tonic {tonic!r} in {text!r}; expected a letter A-G with # or b")
    return (index if index <= 7 else index - 15), minor


def estimate_key(score: Score) -> Key:
    """(sharps, minor) of the key found from the notes: a Krumhansl-Schmuckler profile correlation.

    The duration-weighted pitch-class histogram of the pitched notes is
    correlated with Temperley's major and minor profiles in all twelve
    transpositions; a key whose tonic is the last note (the first note) gets
    ``LAST_NOTE_BONUS`` (``FIRST_NOTE_BONUS``) on top, which settles near ties.
    """
    drum_parts = [i for i, p in enumerate(score.parts) if p.is_drum]
    notes = score.notes[~np.isin(score.notes["part"], drum_parts)]
    if len(notes) == 0:
        raise ScoreError("cannot estimate the key of a score without pitched notes")
    histogram = np.bincount(notes["pitch"] % 12, weights=notes["duration_ticks"].astype(float), minlength=12)
    starts = notes["start_tick"]
    first = int(notes["pitch"][starts == starts.min()].min()) % 12  # the lowest of the first onset
    last = int(notes["pitch"][starts == starts.max()].min()) % 12
    best = (-np.inf, 0, False)
    for minor, profile in ((False, KEY_PROFILE_MAJOR), (True, KEY_PROFILE_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1] if histogram.std() > 0 else 0.0
            r += LAST_NOTE_BONUS * (tonic == last) + FIRST_NOTE_BONUS * (tonic == first)
            if r > best[0] + 1e-12:
                best = (r, tonic, minor)
    _, tonic, minor = best
    # The signature with that tonic, spelled with at most six sharps or five flats.
    sharps = next(k for k in range(-5, 7) if key_tonic_pitch_class(k, minor) == tonic)
    return sharps, minor


def seed_key(score: Score) -> Key:
    """The key a seed is in: its first key signature where it has one, else the key found from its notes."""
    found = opening_key(score)
    return found if found is not None else estimate_key(score)


def tonic_triad(key: Key) -> tuple[int, int, int]:
    """Pitch classes (0 = C) of the tonic triad of ``key``: root, third (minor in a minor key), fifth."""
    tonic = key_tonic_pitch_class(*key)
    return tonic, (tonic + (3 if key[1] else 4)) % 12, (tonic + 7) % 12


def opening_key(score: Score) -> Key | None:
    """The score's first key signature, or None without one."""
    keys = score.key_signatures
    if len(keys) == 0:
        return None
    return int(keys["sharps"][0]), bool(keys["minor"][0])


def transposition(source: Key, target: Key) -> int:
    """Semitones (-5..6) that move music in ``source`` to ``target``'s tonic the shorter way."""
    shift = (key_tonic_pitch_class(*target) - key_tonic_pitch_class(*source)) % 12
    return shift - 12 if shift > 6 else shift


def scale_of(key: Key) -> np.ndarray:
    """bool[12] over pitch classes (0 = C): the notes of ``key``'s scale (``MINOR_SCALE`` for minor keys)."""
    tonic = key_tonic_pitch_class(*key)
    return np.isin((np.arange(12) - tonic) % 12, MINOR_SCALE if key[1] else MAJOR_SCALE)


# -- the pickup rule ---------------------------------------------------------------
def partial_first_bar(score: Score) -> tuple[int, tuple[int, int]] | None:
    """(pickup length in ticks, real meter) when the first bar is a pickup with its own time signature.

    That is: a second time signature starts exactly one (short) first bar
    after tick 0, and the first bar is shorter than the bars that follow.
    """
    ts = score.time_signatures
    if len(ts) < 2:
        return None
    first = bar_ticks(int(ts["numerator"][0]), int(ts["denominator"][0]), score.ticks_per_beat)
    second = bar_ticks(int(ts["numerator"][1]), int(ts["denominator"][1]), score.ticks_per_beat)
    if int(ts["tick"][1]) == first and first < second:
        return int(ts["tick"][1]), (int(ts["numerator"][1]), int(ts["denominator"][1]))
    return None


def pickup_bars(score: Score) -> int:
    """1 when the score opens with a pickup (``partial_first_bar``), else 0: what bar counts leave out."""
    return 0 if partial_first_bar(score) is None else 1


def bars_of(score: Score) -> int:
    """The score's bars as ``--bars`` counts them: a pickup is not a bar."""
    return score.num_bars - pickup_bars(score)


def bar_end_tick(score: Score, bars: int) -> int | None:
    """The tick where the first ``bars`` bars end (a pickup comes on top); None when the score is not longer."""
    starts = score.bar_starts()
    stop = bars + pickup_bars(score)
    return int(starts[stop]) if stop < len(starts) else None


def opening(score: Score, bars: int) -> Score:
    """The first ``bars`` bars of ``score`` (a pickup comes on top); the whole score when it is not longer."""
    stop = bars + pickup_bars(score)
    return score if stop >= score.num_bars else slice_bars(score, 0, stop)


# -- voice leading: parallel fifths and octaves ----------------------------------------
PERFECT_FIFTH = 7  # semitones, as an interval class (compound fifths count too)
OCTAVE = 0  # interval class of unisons, octaves and compound octaves
PERFECT_INTERVALS = (OCTAVE, PERFECT_FIFTH)  # never in parallel
_PITCHES = np.arange(128)


def meter_beat(numerator: int, denominator: int, units_per_quarter: int) -> tuple[int, bool]:
    """One beat of an n/d meter in units (``units_per_quarter`` to a quarter note), and whether the meter is compound
    (6/8, 9/8, 12/8, 3/8: a dotted beat of three)."""
    unit = 4 * units_per_quarter // denominator
    compound = denominator >= 8 and numerator % 3 == 0
    return (3 * unit if compound else unit), compound


def ticks_since_barline(score: Score, ticks: np.ndarray) -> np.ndarray:
    """int64 per tick: how far it lies after the barline of its bar in ``score``."""
    ticks = np.asarray(ticks, np.int64)
    bars = score.bar_starts(int(ticks.max()) + 1 if len(ticks) else 0)
    return ticks - bars[np.maximum(np.searchsorted(bars, ticks, side="right") - 1, 0)]


def between_beats(score: Score, ticks: np.ndarray) -> np.ndarray:
    """bool per tick: it falls off the beats of the meter in force there (``meter_beat``), counted from its barline."""
    ticks = np.asarray(ticks, np.int64)
    since_bar = ticks_since_barline(score, ticks)
    signatures = score.time_signatures
    which = np.maximum(np.searchsorted(signatures["tick"], ticks, side="right") - 1, 0)
    beats = np.array([meter_beat(int(n), int(d), score.ticks_per_beat)[0] for n, d in zip(signatures["numerator"], signatures["denominator"])], np.int64)
    return since_bar % np.maximum(beats[which], 1) != 0


def parallel_pitches(before: int, was: int, now: int, *, other_above: bool = True) -> np.ndarray:
    """The pitches (bool over 0..127) a part sounding ``before`` may not move to while another part moves
    ``was`` -> ``now``: those keeping a perfect fifth or octave (or unison) between them in similar motion.

    ``other_above``: the other part is the higher one (the interval is read from the lower part up).
    All False when either part has no note to move from, the other part holds, or their interval is not perfect.
    """
    if before < 0 or was < 0 or now < 0 or now == was:
        return np.zeros(128, bool)
    interval = (was - before) % 12 if other_above else (before - was) % 12
    if interval not in PERFECT_INTERVALS:
        return np.zeros(128, bool)
    c = _PITCHES
    kept = (now - c) % 12 == interval if other_above else (c - now) % 12 == interval
    return kept & (c != before) & (np.sign(c - before) == np.sign(now - was))


class VoiceMotion:
    """Each part's pitch before the current position and at it, as a piece's tokens go (top part first):
    what the parallel rule reads. The generation engine keeps one per sample; training follows pieces with one."""

    def __init__(self, num_parts: int) -> None:
        self.sounding = [-1] * num_parts  # per part: its latest pitch before this position (-1 none)
        self.current = [-1] * num_parts  # per part: its pitch at this position (-1 none yet)

    def position(self) -> None:
        """A new position: what the parts wrote at the last one is what now sounds before it."""
        for part, pitch in enumerate(self.current):
            if pitch >= 0:
                self.sounding[part], self.current[part] = pitch, -1

    def note(self, part: int, pitch: int) -> None:
        """``part`` writes ``pitch`` here (in a chord, written high to low, the lowest counts)."""
        if 0 <= part < len(self.current):
            self.current[part] = pitch

    def parallels(self, part: int) -> np.ndarray | None:
        """The pitches ``part`` may not take here for parallels with the parts above that moved here (None: none)."""
        if not 0 <= part < len(self.sounding) or self.sounding[part] < 0:
            return None
        forbidden = None
        for upper in range(part):
            bad = parallel_pitches(self.sounding[part], self.sounding[upper], self.current[upper])
            forbidden = bad if forbidden is None else forbidden | bad
        return forbidden if forbidden is not None and forbidden.any() else None
