"""Pitch spelling: which letter and accidental each MIDI pitch gets, from the key and the music around it.

A pure algorithm (numpy only; no music21) on the line of fifths, in the spirit
of Temperley's line-of-fifths model and Chew and Chen's spiral array: every
spelling is a position ``q`` on the line of fifths (C = 0, G = 1, D = 2, ...,
F = -1, B flat = -2, ...), and the twelve pitch classes each have several
candidate positions twelve apart (C sharp 7 or D flat -5).

1. **Key.** The key signature in force (``Score.key_signatures``) gives a
   centre on the line: two fifths above the signature's tonic side for major
   (the middle of its seven diatonic notes), three for minor (whose raised
   sixth and seventh lie on the sharp side). Diatonic notes are then the
   nearest candidates by construction.
2. **Context.** A centre of effect: the duration-weighted mean position of
   the notes spelled so far within ``WINDOW_BEATS`` either side (all parts),
   blended with the key's centre. Each note takes the candidate nearest that
   centre (a double sharp or flat the key lacks counts ``DOUBLE_PENALTY``
   fifths further); this is repeated ``PASSES`` times, so a passage that modulates
   (a run of F sharps in C major) pulls its chromatic notes along.
3. **Voice leading.** A chromatic note (outside the key's diatonic set, the
   minor's raised sixth and seventh counted in) that moves by a semitone to
   the next different pitch of its own part is spelled as a diatonic semitone
   to that note: rising notes take the sharp side (C sharp to D), falling ones
   the flat side (D flat to C) -- so the raised leading tone is G sharp in A
   minor and a lowered seventh falling to the sixth is B flat in C major.
   Always within a chromatic run (the note before came from a semitone the
   other side: E, E flat, D in A major) where that gives a natural or a black
   key's single sharp or flat (B, C, C sharp stays C); otherwise only where the key has that
   spelling or it lies about as near the notes
   sounding around it (its chord) as the context's: C rising to C sharp in an
   A minor chord stays C (not B sharp), B flat rising to B in a G minor chord
   stays B flat, but E sharp in a C sharp major chord rising to F sharp stays
   E sharp.

``spell`` works on plain sequences; ``spell_score`` on a ``Score``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from composer.score import Score

LETTERS = "FCGDAEB"  # line-of-fifths order: F = -1, C = 0, G = 1, ...
WINDOW_BEATS = 8.0  # quarter notes either side that make up a note's context
KEY_WEIGHT = 6.0  # the key's centre counts like this many quarter notes of context
PASSES = 3
MAX_ALTER = 2  # double sharps and flats at most
MAJOR_CENTRE = 2.0  # fifths above the signature's count of sharps
MINOR_CENTRE = 3.0
DIATONIC_SEMITONE = 5  # fifths between a note and the one a diatonic semitone below (B -> C: -5)
NEIGHBOUR_REACH_BEATS = 4.0
PLAIN = (-6, 10)  # G flat .. A sharp: naturals and the black keys' single sharps and flats
CHORD_BEATS = 0.5  # the notes sounding with a chromatic note: its chord, for the voice-leading rule's check
CHORD_SLACK = 1.0  # fifths a rule's spelling may lie further from the chord than the context's
DOUBLE_PENALTY = 3.0  # fifths added to a double sharp's or flat's distance, unless the key has it
CHORD_KEY_WEIGHT = 0.25  # the wider context's weight in that chord's centre (for a note alone)  # how far ahead a chromatic note's resolution may lie

Spelling = tuple[str, int]  # (step letter, alter in semitones)


def position_name(q: int) -> Spelling:
    """(step, alter) of a line-of-fifths position: 0 -> ('C', 0), 6 -> ('F', 1), -2 -> ('B', -1)."""
    return LETTERS[(q + 1) % 7], (q + 1) // 7


def name_position(step: str, alter: int) -> int:
    """The line-of-fifths position of (step, alter); inverse of ``position_name``."""
    return LETTERS.index(step.upper()) - 1 + 7 * int(alter)


def candidates(pitch_class: int) -> list[int]:
    """Line-of-fifths positions that spell ``pitch_class`` with at most ``MAX_ALTER`` accidentals."""
    base = (7 * int(pitch_class)) % 12  # 7 * 7 = 49 = 1 (mod 12): q = 7 pc
    return [q for q in (base - 24, base - 12, base, base + 12) if abs(position_name(q)[1]) <= MAX_ALTER]


def key_centre(sharps: int, minor: bool) -> float:
    """The key's centre on the line of fifths."""
    return sharps + (MINOR_CENTRE if minor else MAJOR_CENTRE)


def is_diatonic(q: int, sharps: int, minor: bool) -> bool:
    """Whether position ``q`` belongs to the key (a minor key's raised sixth and seventh included)."""
    return bool(_diatonic(np.int64(q), np.int64(sharps), np.bool_(minor)))


_CANDIDATES = np.array([candidates(pc) + [candidates(pc)[-1]] * (3 - len(candidates(pc))) for pc in range(12)], np.int64)


def _diatonic(q: np.ndarray, sharps: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """``is_diatonic`` on arrays (``sharps`` and ``minor`` broadcast against ``q``)."""
    return ((q >= sharps - 1) & (q <= sharps + 5)) | (minor & ((q == sharps + 6) | (q == sharps + 8)))


def _nearest_all(pcs: np.ndarray, centres: np.ndarray, sharps: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """For each note the candidate nearest its centre: ties to fewer accidentals, then to the sharp;
    a double sharp or flat the key lacks counts ``DOUBLE_PENALTY`` fifths further."""
    q = _CANDIDATES[np.asarray(pcs, np.int64) % 12]  # (notes, 3)
    alter = np.abs((q + 1) // 7)
    far = np.where((alter > 1) & ~_diatonic(q, np.asarray(sharps)[:, None], np.asarray(minor, bool)[:, None]), DOUBLE_PENALTY, 0.0)
    distance = np.round(np.abs(q - np.asarray(centres, np.float64)[:, None]) + far, 6)
    tied = distance <= distance.min(axis=1, keepdims=True)
    tiebreak = np.where(tied, alter * 100 - q, np.iinfo(np.int64).max)
    return q[np.arange(len(q)), tiebreak.argmin(axis=1)]


def _keys_at(onsets: np.ndarray, keys: Sequence[tuple[float, int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """(sharps, minor) in force at each onset; C major before the first key signature."""
    if not len(keys):
        return np.zeros(len(onsets), np.int64), np.zeros(len(onsets), bool)
    order = sorted(keys, key=lambda k: k[0])
    times = np.array([k[0] for k in order], np.float64)
    index = np.searchsorted(times, onsets, side="right") - 1
    sharps = np.array([k[1] for k in order], np.int64)
    minor = np.array([bool(k[2]) for k in order], bool)
    at = np.clip(index, 0, len(order) - 1)
    return np.where(index >= 0, sharps[at], 0), np.where(index >= 0, minor[at], False)


def _context(
    onsets: np.ndarray, weights: np.ndarray, centres: np.ndarray, positions: np.ndarray, window: float = WINDOW_BEATS, key_weight: float = KEY_WEIGHT
) -> np.ndarray:
    """Each note's centre: its key's centre (``key_weight``) blended with the centre of effect of the other notes within ``window`` beats."""
    order = np.argsort(onsets, kind="stable")
    sorted_onsets = onsets[order]
    weighted = np.concatenate([[0.0], np.cumsum((weights * positions)[order])])
    total = np.concatenate([[0.0], np.cumsum(weights[order])])
    low = np.searchsorted(sorted_onsets, onsets - window, side="left")
    high = np.searchsorted(sorted_onsets, onsets + window, side="right")
    mass = total[high] - total[low] - weights
    around = weighted[high] - weighted[low] - weights * positions
    return (key_weight * centres + around) / np.maximum(key_weight + mass, 1e-9)


def _voice_leading(
    pitches: np.ndarray, onsets: np.ndarray, voices: np.ndarray, positions: np.ndarray, chords: np.ndarray, sharps: np.ndarray, minor: np.ndarray
) -> np.ndarray:
    """Chromatic notes moving by a semitone spelled as a diatonic semitone to where they go."""
    out = positions.copy()
    for voice in np.unique(voices):
        members = np.flatnonzero(voices == voice)
        members = members[np.lexsort((pitches[members], onsets[members]))]
        for k, i in enumerate(members):
            if is_diatonic(int(positions[i]), int(sharps[i]), bool(minor[i])):
                continue
            target = _next_different(members[k + 1 :], pitches, onsets, i)
            if target is None:
                continue
            step = int(pitches[target]) - int(pitches[i])
            if abs(step) != 1:
                continue
            moved = int(positions[target]) + step * DIATONIC_SEMITONE
            before = _next_different(members[:k][::-1], pitches, onsets, i)
            passing = before is not None and int(pitches[i]) - int(pitches[before]) == step
            if is_diatonic(moved, int(sharps[i]), bool(minor[i])) or (passing and PLAIN[0] <= moved <= PLAIN[1]):
                out[i] = moved
            elif not passing and abs(position_name(moved)[1]) < 2 and abs(moved - chords[i]) <= abs(int(positions[i]) - chords[i]) + CHORD_SLACK:
                out[i] = moved
    return out


def _next_different(following: np.ndarray, pitches: np.ndarray, onsets: np.ndarray, i: int) -> int | None:
    """The first note of ``following`` (later notes of the part, or earlier ones nearest first) with another pitch,
    if within reach (a chord tone at the same onset is no move)."""
    for j in following:
        if onsets[j] == onsets[i]:
            continue
        if abs(onsets[j] - onsets[i]) > NEIGHBOUR_REACH_BEATS:
            return None
        if pitches[j] != pitches[i]:
            return int(j)
    return None


def spell(
    pitches: Sequence[int],
    onsets: Sequence[float],
    keys: Sequence[tuple[float, int, bool]] = (),
    *,
    durations: Sequence[float] | None = None,
    voices: Sequence[int] | None = None,
) -> list[Spelling]:
    """(step, alter) for each MIDI pitch.

    ``onsets`` and ``durations`` in quarter notes; ``keys`` as (onset, sharps,
    minor) key signatures; ``voices`` numbers each note's part (the
    voice-leading rule looks within a part; default: all one part).
    """
    pitch_array = np.asarray(pitches, np.int64).reshape(-1)
    n = len(pitch_array)
    if n == 0:
        return []
    onset_array = np.asarray(onsets, np.float64).reshape(-1)
    weights = np.ones(n) if durations is None else np.clip(np.asarray(durations, np.float64).reshape(-1), 0.125, 4.0)
    voice_array = np.zeros(n, np.int64) if voices is None else np.asarray(voices, np.int64).reshape(-1)
    if not len(onset_array) == len(weights) == len(voice_array) == n:
        raise ValueError("spell: pitches, onsets, durations and voices must have the same length")
    sharps, minor = _keys_at(onset_array, keys)
    centres = sharps + np.where(minor, MINOR_CENTRE, MAJOR_CENTRE)
    pcs = pitch_array % 12
    context = centres.astype(np.float64)
    positions = _nearest_all(pcs, context, sharps, minor)
    for _ in range(PASSES):
        context = _context(onset_array, weights, centres, positions)
        positions = _nearest_all(pcs, context, sharps, minor)
    chords = _context(onset_array, weights, context, positions, window=CHORD_BEATS, key_weight=CHORD_KEY_WEIGHT)
    positions = _voice_leading(pitch_array, onset_array, voice_array, positions, chords, sharps, minor)
    return [position_name(int(q)) for q in positions]


def spell_score(score: Score) -> list[Spelling]:
    """(step, alter) for each of ``score.notes``, in their order (drum notes get their plain pitch-number spelling)."""
    notes = score.notes
    tpb = score.ticks_per_beat
    keys = [(tick / tpb, int(sharps), bool(minor)) for tick, sharps, minor in score.key_signatures.tolist()]
    drum_parts = [i for i, part in enumerate(score.parts) if part.is_drum]
    pitched = ~np.isin(notes["part"], drum_parts)
    n = len(notes)
    plain = _nearest_all(notes["pitch"] % 12, np.full(n, MAJOR_CENTRE), np.zeros(n, np.int64), np.zeros(n, bool))
    out: list[Spelling] = [position_name(q) for q in plain.tolist()]
    index = np.flatnonzero(pitched)
    spelled = spell(
        notes["pitch"][index],
        notes["start_tick"][index] / tpb,
        keys,
        durations=notes["duration_ticks"][index] / tpb,
        voices=notes["part"][index],
    )
    for i, name in zip(index.tolist(), spelled):
        out[i] = name
    return out


def octave_of(pitch: int, alter: int) -> int:
    """The written octave of a MIDI pitch spelled with ``alter`` (B sharp 3 sounds as C4; C flat 4 as B3)."""
    return (int(pitch) - int(alter)) // 12 - 1
