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
* ``bars_left``: bars from ``b`` to the piece's last bar (the plan of ``--bars``);
* ``echo_4``, ``echo_8``: the pitch of the top part's note that started at the
  same place 4 and 8 bars earlier (the past, so always known: a pointer that
  makes a returning phrase or strain as easy to write as a new one);
* ``beats_to_phrase_end``: quarter beats to the next phrase end (a fermata in
  a chorale, a strain's end in a tune; ``--phrase-bars`` when generating).

Value 0 means "not given" (what a model sees with no conditioning at all: the
melody unknown, the piece's length or phrases open); 1 means "none" (no
further melody note, no note started there, no phrase end ahead). Training
shows each group of the future (melody, length, phrases) on a random share of
its windows, so one model scores and writes with or without them; the echoes
are always shown, and scoring computes them from the tokens like the model does.

Features were added over time at the end of the list: a model's ``ahead_sizes``
is a prefix of ``AHEAD_SIZES`` and takes that many columns.

This module is the one home of the rule: training (``features_of``) and
generation (``Ahead.at``) compute the same numbers from the same definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from composer.tokens.grammar import LENGTHENED, Grammar, Walker
from composer.tokens.vocab import K_DURATION, K_EOS, K_PITCH, ticks_to_steps

if TYPE_CHECKING:
    from composer.score import Score

__all__ = [
    "AHEAD_FEATURES", "AHEAD_SIZES", "Ahead", "ECHO_COLUMNS", "ECHO_LAGS", "LENGTH_COLUMNS", "MELODY_COLUMNS",
    "PHRASE_COLUMNS", "PITCH_COLUMNS", "Walked", "check_sizes", "echo", "features_of", "features_from", "phrase_column", "phrase_end_steps", "phrase_ends_by_bars", "walk",
]

NOT_GIVEN, END, FIRST = 0, 1, 2  # feature values: not given, none, the first real value
_SPAN = 32  # time buckets: 0..31 (longer ones take the last)
ECHO_LAGS = (4, 8)  # bars back
AHEAD_FEATURES: tuple[tuple[str, int], ...] = (
    ("next_pitch_1", FIRST + 128),
    ("next_pitch_2", FIRST + 128),
    ("next_pitch_3", FIRST + 128),
    ("steps_to_next", FIRST + _SPAN),  # quarter beats
    ("next_length_1", FIRST + _SPAN),  # quarter beats
    ("next_length_2", FIRST + _SPAN),
    ("bars_left", FIRST + _SPAN),
    ("echo_4", FIRST + 128),
    ("echo_8", FIRST + 128),
    ("beats_to_phrase_end", FIRST + _SPAN),  # quarter notes
)
AHEAD_SIZES: tuple[int, ...] = tuple(size for _, size in AHEAD_FEATURES)
MELODY_COLUMNS = (0, 1, 2, 3, 4, 5)  # the given melody's group
LENGTH_COLUMNS = (6,)  # the piece's length
ECHO_COLUMNS = (7, 8)  # the music already written: always known
PHRASE_COLUMNS = (9,)  # where phrases end
PITCH_COLUMNS = (0, 1, 2, 7, 8)  # transposing a piece moves these


def check_sizes(sizes: tuple[int, ...]) -> int:
    """The number of feature columns a model with ``ahead_sizes`` takes; ValueError unless they are a prefix of ``AHEAD_SIZES``."""
    sizes = tuple(sizes)
    if sizes != AHEAD_SIZES[: len(sizes)]:
        raise ValueError(f"features ahead of sizes {list(sizes)} are not composer's (a prefix of {list(AHEAD_SIZES)})")
    return len(sizes)


@dataclass(frozen=True)
class Ahead:
    """What is known of the future: the given melody (part 0's notes: onset and length in steps, pitch),
    the piece's last bar and its phrase ends (steps).

    ``melody`` False: the melody is not given; ``last_bar`` None: the length is open; ``phrase_ends`` None: not given.
    """

    onsets: np.ndarray  # int64, increasing
    pitches: np.ndarray
    lengths: np.ndarray
    last_bar: int | None
    steps_per_beat: int
    melody: bool = True
    phrase_ends: np.ndarray | None = field(default=None)
    # generation: the bars (0-based, a pickup counted) whose ends close phrases, where the steps are not known yet
    phrase_end_bars: tuple[int, ...] | None = None

    @classmethod
    def of(cls, notes: list[tuple[int, int, int]] | None, last_bar: int | None, steps_per_beat: int,
           phrase_ends: "list[int] | np.ndarray | None" = None, phrase_end_bars: "tuple[int, ...] | None" = None) -> "Ahead":
        """From (onset step, pitch, length steps) notes, one per onset (the first written wins)."""
        first: dict[int, tuple[int, int]] = {}
        for onset, pitch, length in notes or ():
            first.setdefault(int(onset), (int(pitch), int(length)))
        order = sorted(first)
        ends = None if phrase_ends is None else np.unique(np.asarray(phrase_ends, np.int64))
        return cls(np.asarray(order, np.int64), np.asarray([first[o][0] for o in order], np.int64),
                   np.asarray([first[o][1] for o in order], np.int64), last_bar, steps_per_beat, notes is not None, ends,
                   phrase_end_bars)

    def at(self, onset_steps: "np.ndarray | list[int]", bars: "np.ndarray | list[int]") -> np.ndarray:
        """Features ``[T, len(AHEAD_SIZES)]`` (int64) of tokens standing at these onsets and bars (the echoes: 0, see ``echo``)."""
        onset_steps = np.asarray(onset_steps, np.int64).reshape(-1)
        bars = np.asarray(bars, np.int64).reshape(-1)
        out = np.zeros((len(onset_steps), len(AHEAD_SIZES)), np.int64)
        if self.melody:
            self._melody(onset_steps, out)
        if self.last_bar is not None:
            out[:, 6] = FIRST + np.clip(self.last_bar - bars, 0, _SPAN - 1)
        if self.phrase_ends is not None:
            out[:, 9] = phrase_column(onset_steps, self.phrase_ends, self.steps_per_beat)
        return out

    def _melody(self, onset_steps: np.ndarray, out: np.ndarray) -> None:
        unit = max(self.steps_per_beat // 4, 1)  # a quarter of a beat
        n = len(self.onsets)
        if not n:
            out[:, list(MELODY_COLUMNS)] = END
            return
        k = np.searchsorted(self.onsets, onset_steps, side="right")  # the first note starting after the token
        for ahead, column in enumerate((0, 1, 2)):
            j = k + ahead
            out[:, column] = np.where(j < n, FIRST + self.pitches[np.minimum(j, n - 1)], END)
        gap = self.onsets[np.minimum(k, n - 1)] - onset_steps
        out[:, 3] = np.where(k < n, FIRST + np.clip(gap // unit, 0, _SPAN - 1), END)
        for ahead, column in enumerate((4, 5)):
            j = k + ahead
            length = self.lengths[np.minimum(j, n - 1)]
            out[:, column] = np.where(j < n, FIRST + np.clip(length // unit, 0, _SPAN - 1), END)


def phrase_column(onset_steps: np.ndarray, phrase_ends: np.ndarray, steps_per_beat: int) -> np.ndarray:
    """``beats_to_phrase_end`` of tokens at these onsets, given the steps where phrases end (sorted)."""
    onset_steps = np.asarray(onset_steps, np.int64)
    k = np.searchsorted(phrase_ends, onset_steps, side="right")
    if not len(phrase_ends):
        return np.full(len(onset_steps), END, np.int64)
    gap = phrase_ends[np.minimum(k, len(phrase_ends) - 1)] - onset_steps
    return np.where(k < len(phrase_ends), FIRST + np.clip(gap // steps_per_beat, 0, _SPAN - 1), END)


def phrase_ends_by_bars(bar: int, bar_start: int, bar_len: int, end_bars: "tuple[int, ...]") -> np.ndarray:
    """The steps where the phrases closing ``end_bars`` end, seen from ``bar`` (starting at ``bar_start``):
    the meter in force assumed to hold (generation, where later bars are not written yet)."""
    return np.asarray([bar_start + (e - bar + 1) * bar_len for e in end_bars if e >= bar], np.int64)


def phrase_end_steps(score: "Score", steps_per_beat: int) -> list[int] | None:
    """The grid steps where a score's phrases end: its phrase-end markers, where each new section starts, and
    its last note's end (the piece's final close); None for a score that marks none (``composer.score`` markers).
    Training reads them from the corpus's pieces, harmonizing from the melody it is given."""
    ticks = np.concatenate([score.phrase_end_ticks, score.section_start_ticks])
    if not len(ticks) or not len(score):
        return None
    steps = ticks_to_steps(np.append(ticks, score.end_tick).astype(np.int64), score.ticks_per_beat, steps_per_beat)
    return sorted({int(s) for s in steps.tolist() if s > 0})


def echo(bars: "np.ndarray | list[int]", positions: "np.ndarray | list[int]", starts: dict[tuple[int, int], int]) -> np.ndarray:
    """The echo columns ``[T, len(ECHO_LAGS)]``: the pitch of the top part's note that started at (bar - lag, position),
    ``END`` where none did, ``NOT_GIVEN`` where that bar does not exist. ``starts``: (bar, position) -> pitch."""
    out = np.zeros((len(bars), len(ECHO_LAGS)), np.int64)
    for i, (bar, pos) in enumerate(zip(np.asarray(bars).tolist(), np.asarray(positions).tolist())):
        for j, lag in enumerate(ECHO_LAGS):
            if bar - lag >= 0:
                pitch = starts.get((bar - lag, pos))
                out[i, j] = END if pitch is None else FIRST + pitch
    return out


@dataclass
class Walked:
    """A piece followed token by token: per token its onset (steps), bar and position after the walker read it;
    part 0's notes (onset step, pitch, length steps); where each of them started (bar, position) -> pitch;
    the last bar any note sounds in; the number of parts; and per token whether it is a Pitch or Duration
    of part 0, what a given melody supplies (harmonizing forces them; training does not score them where
    it shows the melody, so the model learns to write under it, not to read it back)."""

    onsets: np.ndarray
    bars: np.ndarray
    positions: np.ndarray
    melody: np.ndarray
    notes: list[tuple[int, int, int]]
    starts: dict[tuple[int, int], int]
    last_bar: int
    parts: int


def walk(ids: np.ndarray, grammar: Grammar) -> Walked:
    """Follow a piece (see ``Walked``). Lengthening Durations count in a note's length; a note held past the
    last barline written counts the bars it sounds in, as ``theory.bars_of``."""
    walker = Walker(grammar)
    size = len(ids)
    onsets, bars, positions = np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros(size, np.int64)
    melody = np.zeros(size, bool)
    notes: list[list[int]] = []
    starts: dict[tuple[int, int], int] = {}
    parts: set[int] = set()
    end = latest = 0  # the steps where the last sounding note, and the latest note written, stop
    for i, token in enumerate(np.asarray(ids).tolist()):
        kind = walker.feed(token)
        onsets[i], bars[i], positions[i] = walker.onset, walker.bar, walker.pos
        melody[i] = walker.part == 0 and kind in (K_PITCH, K_DURATION, LENGTHENED)
        if kind == K_DURATION:
            parts.add(walker.part)
            latest = walker.onset + walker.value
            end = max(end, latest)
            if walker.part == 0:
                notes.append([walker.onset, walker.pitch, walker.value])
                starts.setdefault((walker.bar, walker.pos), walker.pitch)
        elif kind == LENGTHENED:
            latest += walker.value
            end = max(end, latest)
            if walker.part == 0 and notes:
                notes[-1][2] += walker.value
        elif kind == K_EOS:
            onsets[i + 1:], bars[i + 1:], positions[i + 1:] = walker.onset, walker.bar, walker.pos
            break
    bar_end = walker.bar_start + walker.bar_len
    held_bars = -(-(end - bar_end) // walker.bar_len) if end > bar_end else 0
    return Walked(onsets, bars, positions, melody, [(a, b, c) for a, b, c in notes], starts, max(walker.bar, 0) + held_bars, len(parts))


def features_of(ids: np.ndarray, grammar: Grammar, steps_per_beat: int,
                phrase_ends: "list[int] | np.ndarray | None" = None) -> tuple[np.ndarray, int]:
    """Every token's features with everything given (``[T, F]``, int16), and the piece's number of parts.

    ``phrase_ends``: the steps where its phrases end (None: not given). Training hides groups of
    columns per window (``MELODY_COLUMNS``, ``LENGTH_COLUMNS``, ``PHRASE_COLUMNS``); a piece of one part
    never shows its melody (there is no other part to write under it).
    """
    walked = walk(ids, grammar)
    return features_from(walked, steps_per_beat, phrase_ends), walked.parts


def features_from(walked: Walked, steps_per_beat: int, phrase_ends: "list[int] | np.ndarray | None" = None) -> np.ndarray:
    """``features_of`` of a piece already followed by ``walk``."""
    out = Ahead.of(walked.notes, walked.last_bar, steps_per_beat, phrase_ends).at(walked.onsets, walked.bars)
    out[:, list(ECHO_COLUMNS)] = echo(walked.bars, walked.positions, walked.starts)
    return out.astype(np.int16)
