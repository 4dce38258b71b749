"""What a model may know ahead of the token it reads: the given melody's next notes and the bars left.

A causal model writing the lower voices at a beat has seen the melody only up
to that beat; it cannot prepare a cadence it cannot see. These features carry
the future it is allowed to know beside every token, as small integers the
network embeds and adds to the token's embedding (``composer.nn``'s
``ahead_sizes``). The tokens themselves do not change, so every round trip stays
lossless, and the numpy runtime and its KV cache take one more vector a step.

Per token, after the walker has followed it to its onset ``t`` (steps) in bar ``b``:

* ``next_pitch_1..3``: the pitches of the given melody's (part 0's) next three
  notes starting after ``t``;
* ``steps_to_next``: how far ahead the first of them starts;
* ``next_length_1..2``: how long the next two are (a long note is where a phrase closes);
* ``bars_left``: bars from ``b`` to the piece's last bar (the plan of ``--bars``).

Value 0 means "not given" (what a model sees with no conditioning at all: the
melody unknown, or the piece's length open); 1 means "the melody has no further
note". Training shows each group to the model on a random half of its windows
(``drop``), so one model scores and writes with or without them.

This module is the one home of the rule: training (``features_of``) and
generation (``Ahead.at``) compute the same numbers from the same definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from composer.tokens.grammar import LENGTHENED, Grammar, Walker
from composer.tokens.vocab import K_DURATION, K_EOS

__all__ = ["AHEAD_FEATURES", "AHEAD_SIZES", "Ahead", "MELODY_COLUMNS", "PITCH_COLUMNS", "LENGTH_COLUMNS", "features_of", "walk"]

NOT_GIVEN, END, FIRST = 0, 1, 2  # feature values: not given, no further melody note, the first real value
_SPAN = 32  # time buckets: quarter beats 0..31 (longer ones take the last)
AHEAD_FEATURES: tuple[tuple[str, int], ...] = (
    ("next_pitch_1", FIRST + 128),
    ("next_pitch_2", FIRST + 128),
    ("next_pitch_3", FIRST + 128),
    ("steps_to_next", FIRST + _SPAN),
    ("next_length_1", FIRST + _SPAN),
    ("next_length_2", FIRST + _SPAN),
    ("bars_left", FIRST + _SPAN),
)
AHEAD_SIZES: tuple[int, ...] = tuple(size for _, size in AHEAD_FEATURES)
PITCH_COLUMNS = (0, 1, 2)  # transposing a piece moves these
MELODY_COLUMNS = (0, 1, 2, 3, 4, 5)  # the given melody's group
LENGTH_COLUMNS = (6,)  # the piece's length


@dataclass(frozen=True)
class Ahead:
    """The given melody (part 0's notes: onset and length in steps, pitch) and the piece's last bar.

    ``melody`` None: the melody is not given; ``last_bar`` None: the length is open.
    """

    onsets: np.ndarray  # int64, increasing
    pitches: np.ndarray
    lengths: np.ndarray
    last_bar: int | None
    steps_per_beat: int
    melody: bool = True

    @classmethod
    def of(cls, notes: list[tuple[int, int, int]] | None, last_bar: int | None, steps_per_beat: int) -> "Ahead":
        """From (onset step, pitch, length steps) notes, one per onset (the first written wins)."""
        first: dict[int, tuple[int, int]] = {}
        for onset, pitch, length in notes or ():
            first.setdefault(int(onset), (int(pitch), int(length)))
        order = sorted(first)
        return cls(np.asarray(order, np.int64), np.asarray([first[o][0] for o in order], np.int64),
                   np.asarray([first[o][1] for o in order], np.int64), last_bar, steps_per_beat, notes is not None)

    def at(self, onset_steps: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """Features ``[T, len(AHEAD_SIZES)]`` (int64) of tokens standing at these onsets and bars."""
        onset_steps = np.asarray(onset_steps, np.int64).reshape(-1)
        bars = np.asarray(bars, np.int64).reshape(-1)
        out = np.zeros((len(onset_steps), len(AHEAD_SIZES)), np.int64)
        if self.melody:
            self._melody(onset_steps, out)
        if self.last_bar is not None:
            out[:, 6] = FIRST + np.clip(self.last_bar - bars, 0, _SPAN - 1)
        return out

    def _melody(self, onset_steps: np.ndarray, out: np.ndarray) -> None:
        unit = max(self.steps_per_beat // 4, 1)  # a quarter of a beat
        n = len(self.onsets)
        k = np.searchsorted(self.onsets, onset_steps, side="right")  # the first note starting after the token
        for ahead, column in enumerate(PITCH_COLUMNS):
            j = k + ahead
            has = j < n
            out[:, column] = np.where(has, FIRST + self.pitches[np.minimum(j, n - 1)] if n else END, END)
        has = k < n
        if n:
            gap = self.onsets[np.minimum(k, n - 1)] - onset_steps
            out[:, 3] = np.where(has, FIRST + np.clip(gap // unit, 0, _SPAN - 1), END)
            for ahead, column in enumerate((4, 5)):
                j = k + ahead
                length = self.lengths[np.minimum(j, n - 1)]
                out[:, column] = np.where(j < n, FIRST + np.clip(length // unit, 0, _SPAN - 1), END)
        else:
            out[:, 3:6] = END


def walk(ids: np.ndarray, grammar: Grammar) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]], int, int]:
    """Per token its onset (steps) and bar after the walker followed it; part 0's notes; the last bar; the parts.

    Notes are (onset step, pitch, length steps), lengthening Durations added. The last bar is the last
    one any note sounds in (a note held past the last barline written counts its bars, as ``theory.bars_of``).
    """
    walker = Walker(grammar)
    onsets = np.zeros(len(ids), np.int64)
    bars = np.zeros(len(ids), np.int64)
    notes: list[list[int]] = []
    parts: set[int] = set()
    end = latest = 0  # the steps where the last sounding note, and the latest note written, stop
    for i, token in enumerate(np.asarray(ids).tolist()):
        kind = walker.feed(token)
        onsets[i], bars[i] = walker.onset, walker.bar
        if kind == K_DURATION:
            parts.add(walker.part)
            latest = walker.onset + walker.value
            end = max(end, latest)
            if walker.part == 0:
                notes.append([walker.onset, walker.pitch, walker.value])
        elif kind == LENGTHENED:
            latest += walker.value
            end = max(end, latest)
            if walker.part == 0 and notes:
                notes[-1][2] += walker.value
        elif kind == K_EOS:
            onsets[i + 1:], bars[i + 1:] = walker.onset, walker.bar
            break
    bar_end = walker.bar_start + walker.bar_len
    held_bars = -(-(end - bar_end) // walker.bar_len) if end > bar_end else 0
    return onsets, bars, [tuple(n) for n in notes], max(walker.bar, 0) + held_bars, len(parts)


def features_of(ids: np.ndarray, grammar: Grammar, steps_per_beat: int) -> tuple[np.ndarray, int]:
    """Every token's features with everything given (``[T, F]``, int16), and the piece's number of parts.

    Training hides groups of columns per window (``MELODY_COLUMNS``, ``LENGTH_COLUMNS``);
    a piece of one part never shows its melody (there is no other part to write under it).
    """
    onsets, bars, notes, last_bar, parts = walk(ids, grammar)
    ahead = Ahead.of(notes, last_bar, steps_per_beat)
    return ahead.at(onsets, bars).astype(np.int16), parts
