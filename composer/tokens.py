"""Event tokens: a REMI-like vocabulary, encoding ``Score -> ids`` and decoding ``ids -> Score``.

A piece reads::

    BOS Style_chorale Program_52 Program_52 Program_52 Program_52
    Bar TimeSig_4/4 Position_0 Key_G Tempo_100 Part_0 Pitch_67 Duration_1 Part_1 Pitch_62 Duration_1 ...
    Position_1 Part_0 Pitch_69 Duration_1/2 ...
    Bar Position_0 ...
    EOS

* ``Bar`` starts a bar; a ``TimeSig`` follows it in the first bar and where the meter changes.
* ``Position_x`` is the onset in quarter notes from the barline (a fraction of the grid).
* At one position notes go by part, top part first, and within a part from high
  to low; ``Part_i`` is written only when the part differs from the previous
  note's, so a melody costs three tokens a note and a chord of four parts
  three and a quarter.
* ``Duration_x`` follows each ``Pitch``; a duration no single token holds is a
  run of ``Duration`` tokens that add up.

Decoding never fails. Its rule for malformed input (what a sampled model may
emit) is: a token that does not fit where it stands is skipped. Precisely,
ids outside the vocabulary, ``PAD`` and ``BOS`` are skipped; ``EOS`` ends the
piece; ``Style`` and ``Program`` count only before the first ``Bar``;
``TimeSig`` counts only right after a ``Bar``; a ``Position`` counts only if it
lies inside the current bar and not before the current position; a ``Pitch``
makes a note only when a ``Duration`` follows it directly; a ``Duration``
after a finished note lengthens it; anything before the first ``Bar`` that
needs one opens bar 1.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from composer.errors import TokenizerError
from composer.limits import check_score
from composer.score import (
    DEFAULT_TICKS_PER_BEAT,
    DEFAULT_VELOCITY,
    KEY_SIGNATURE_DTYPE,
    NOTE_DTYPE,
    SHARPS_MAX,
    SHARPS_MIN,
    TEMPO_DTYPE,
    TIME_SIGNATURE_DTYPE,
    Part,
    Score,
    fit_parts,
    key_name,
)

TOKENIZER_FORMAT = "composer-tokenizer"
TOKENIZER_FORMAT_VERSION = 1

PAD, BOS, EOS = "PAD", "BOS", "EOS"
DRUMS = "Drums"
TIME_SIGNATURE_DENOMINATORS = (1, 2, 4, 8, 16, 32)
MAX_TIME_SIGNATURE_NUMERATOR = 32  # inclusive
# The classic metronome (Maelzel) marks; a tempo takes the nearest on a log scale.
DEFAULT_TEMPOS_QPM = (40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 63, 66, 69, 72, 76, 80, 84, 88, 92, 96, 100, 104, 108,
                      112, 116, 120, 126, 132, 138, 144, 152, 160, 168, 176, 184, 192, 200, 208)
DEFAULT_STYLES = ("unknown", "chorale", "folk")
DEFAULT_STYLE_PART_NAMES = (("chorale", ("Soprano", "Alto", "Tenor", "Bass")), ("folk", ("Melody",)))

# Token kinds, one small integer per family, for the decoder's table lookups.
(K_PAD, K_BOS, K_EOS, K_STYLE, K_PROGRAM, K_BAR, K_TIMESIG, K_KEY, K_TEMPO, K_POSITION, K_PART, K_PITCH, K_DURATION) = range(13)
KIND_NAMES = ("PAD", "BOS", "EOS", "Style", "Program", "Bar", "TimeSig", "Key", "Tempo", "Position", "Part", "Pitch", "Duration")

# The fast encoder works in plain int64 / Python int arithmetic that cannot overflow below these
# bounds; a score beyond them (or whose general-path sort keys would overflow) takes the general path.
_FAST_TICK_LIMIT = 2**40
_FAST_KEY_LIMIT = 2**62
_CACHE_LIMIT = 4096  # entries in each per-tokenizer memo (meter maps, single tempos, duration runs)


@dataclass(frozen=True)
class TokenizerConfig:
    """Settings that fix the vocabulary. Saved with every token file and model."""

    steps_per_beat: int = 24  # grid a quarter note: 16ths = 6 steps, 32nds = 3, 8th triplets = 8, 16th triplets = 4
    max_bar_beats: int = 16  # longest bar in quarter notes, inclusive
    max_parts: int = 16  # Part_0 .. Part_{max_parts-1}
    fine_duration_beats: int = 4  # every grid duration up to this many quarters (inclusive) is one token
    max_duration_beats: int = 16  # whole-quarter durations up to this (inclusive) are one token; longer ones add up
    tempos_qpm: tuple[int, ...] = DEFAULT_TEMPOS_QPM
    styles: tuple[str, ...] = DEFAULT_STYLES
    style_part_names: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_STYLE_PART_NAMES

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise TokenizerError(f"tokenizer config: {message}")

        need(isinstance(self.steps_per_beat, int) and 1 <= self.steps_per_beat <= 96, f"steps_per_beat must be 1..96, got {self.steps_per_beat!r}")
        need(isinstance(self.max_bar_beats, int) and 1 <= self.max_bar_beats <= 32, f"max_bar_beats must be 1..32, got {self.max_bar_beats!r}")
        need(isinstance(self.max_parts, int) and 1 <= self.max_parts <= 64, f"max_parts must be 1..64, got {self.max_parts!r}")
        need(1 <= self.fine_duration_beats <= self.max_duration_beats, f"need 1 <= fine_duration_beats <= max_duration_beats, got {self.fine_duration_beats} and {self.max_duration_beats}")
        need(len(self.tempos_qpm) >= 1 and all(t > 0 for t in self.tempos_qpm) and list(self.tempos_qpm) == sorted(set(self.tempos_qpm)), "tempos_qpm must be positive and increasing")
        need(len(self.styles) >= 1 and len(set(self.styles)) == len(self.styles), f"styles must be distinct names, got {self.styles!r}")
        need(all(s and s.isidentifier() for s in self.styles), f"style names must be identifiers, got {self.styles!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenizerConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TokenizerError(f"tokenizer config: unknown settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        for name in ("tempos_qpm", "styles"):
            if name in data:
                data[name] = tuple(data[name])
        if "style_part_names" in data:
            data["style_part_names"] = tuple((str(s), tuple(names)) for s, names in data["style_part_names"])
        try:
            return cls(**data)
        except TypeError as exc:
            raise TokenizerError(f"tokenizer config: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _frac(steps: int, steps_per_beat: int) -> str:
    return str(Fraction(steps, steps_per_beat))


@dataclass
class Tokenizer:
    """Vocabulary plus encoder and decoder for one ``TokenizerConfig``."""

    config: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        c = self.config
        names: list[str] = []
        kinds: list[int] = []
        values: list[int] = []

        def add(kind: int, name: str, value: int = 0) -> None:
            names.append(name)
            kinds.append(kind)
            values.append(value)

        add(K_PAD, PAD)
        add(K_BOS, BOS)
        add(K_EOS, EOS)
        for i, style in enumerate(c.styles):
            add(K_STYLE, f"Style_{style}", i)
        for program in range(128):
            add(K_PROGRAM, f"Program_{program}", program)
        add(K_PROGRAM, f"Program_{DRUMS}", 128)
        add(K_BAR, "Bar")
        self.max_bar_steps = c.max_bar_beats * c.steps_per_beat
        self._ts_values: list[tuple[int, int]] = []
        for den in TIME_SIGNATURE_DENOMINATORS:
            for num in range(1, MAX_TIME_SIGNATURE_NUMERATOR + 1):
                length = Fraction(4 * num * c.steps_per_beat, den)
                if length.denominator == 1 and length <= self.max_bar_steps:
                    add(K_TIMESIG, f"TimeSig_{num}/{den}", len(self._ts_values))
                    self._ts_values.append((num, den))
        for sharps in range(SHARPS_MIN, SHARPS_MAX + 1):
            for minor in (False, True):
                add(K_KEY, f"Key_{key_name(sharps, minor)}", (sharps - SHARPS_MIN) * 2 + minor)
        for i, qpm in enumerate(c.tempos_qpm):
            add(K_TEMPO, f"Tempo_{qpm}", i)
        for step in range(self.max_bar_steps):
            add(K_POSITION, f"Position_{_frac(step, c.steps_per_beat)}", step)
        for part in range(c.max_parts):
            add(K_PART, f"Part_{part}", part)
        for pitch in range(128):
            add(K_PITCH, f"Pitch_{pitch}", pitch)
        fine_max = c.fine_duration_beats * c.steps_per_beat
        self.durations_steps = list(range(1, fine_max + 1)) + [b * c.steps_per_beat for b in range(c.fine_duration_beats + 1, c.max_duration_beats + 1)]
        for steps in self.durations_steps:
            add(K_DURATION, f"Duration_{_frac(steps, c.steps_per_beat)}", steps)

        self.tokens: list[str] = names
        self.ids: dict[str, int] = {name: i for i, name in enumerate(names)}
        self.kinds = np.array(kinds, np.int8)
        self.values = np.array(values, np.int64)
        self.pad_id, self.bos_id, self.eos_id = self.ids[PAD], self.ids[BOS], self.ids[EOS]
        self.bar_id = self.ids["Bar"]
        self.base = {kind: int(np.flatnonzero(self.kinds == kind)[0]) for kind in range(len(KIND_NAMES))}
        self._fine_max = fine_max
        # Bar length in steps -> a time signature token of that length, preferring common denominators.
        self._length_to_ts: dict[int, int] = {}
        for den in (4, 8, 2, 16, 1, 32):
            for i, (num, d) in enumerate(self._ts_values):
                if d == den:
                    self._length_to_ts.setdefault(self._ts_length(i), self.base[K_TIMESIG] + i)
        self._ts_exact = {value: self.base[K_TIMESIG] + i for i, value in enumerate(self._ts_values)}
        self._part_names = dict(c.style_part_names)
        # Constants and memos of the fast encoder (see ``_encode_fast``).
        self._ts_steps_by_id = {self.base[K_TIMESIG] + i: self._ts_length(i) for i in range(len(self._ts_values))}
        self._meter_memo: dict[tuple, tuple | None] = {}
        self._tempo_memo: dict[float, list[int]] = {}
        self._run_memo: dict[int, list[int]] = {}
        self._bar_ids = np.full(256, self.bar_id, np.int32)
        self._bar_ids.flags.writeable = False
        self._tempo_log_bins = np.log(np.asarray(c.tempos_qpm, np.float64))

    # -- vocabulary -------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def kind_of(self, token_id: int) -> str:
        return KIND_NAMES[int(self.kinds[token_id])]

    def ids_of_kind(self, kind: str) -> np.ndarray:
        """All ids of one token family, e.g. ``ids_of_kind("Pitch")``."""
        if kind not in KIND_NAMES:
            raise TokenizerError(f"unknown token kind {kind!r}; expected one of {', '.join(KIND_NAMES)}")
        return np.flatnonzero(self.kinds == KIND_NAMES.index(kind))

    def _ts_length(self, index: int) -> int:
        num, den = self._ts_values[index]
        return 4 * num * self.config.steps_per_beat // den

    def bar_steps(self, timesig_id: int) -> int:
        """Length in grid steps of a bar under a ``TimeSig`` token."""
        return self._ts_length(timesig_id - self.base[K_TIMESIG])

    def duration_ids(self, steps: int) -> list[int]:
        """The ``Duration`` tokens of a note ``steps`` long (one, or a run that adds up)."""
        return self._duration_run(steps)

    def to_names(self, ids: Sequence[int]) -> list[str]:
        return [self.tokens[i] if 0 <= i < len(self.tokens) else f"<invalid {i}>" for i in np.asarray(ids).tolist()]

    def to_ids(self, names: Sequence[str]) -> np.ndarray:
        try:
            return np.array([self.ids[n] for n in names], np.int32)
        except KeyError as exc:
            raise TokenizerError(f"unknown token {exc.args[0]!r}") from None

    def style_id(self, style: str) -> int:
        token = f"Style_{style}"
        if token not in self.ids:
            raise TokenizerError(f"unknown style {style!r}; this tokenizer knows {', '.join(self.config.styles)}")
        return self.ids[token]

    # -- encoding ---------------------------------------------------------
    def _meter(self, score: Score, last_step: int) -> tuple[np.ndarray, np.ndarray]:
        """Bar start steps and each bar's TimeSig id, on the meter map the vocabulary can express.

        A meter the vocabulary lacks takes a token of the same bar length, else
        4/4. A change that falls mid-bar closes a short bar when some token has
        that length; otherwise it waits for the next barline. Notes never move.
        """
        spb, tpb = self.config.steps_per_beat, score.ticks_per_beat
        ts = score.time_signatures
        ts_steps = (ts["tick"] * spb * 2 + tpb) // (2 * tpb)
        starts: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        n = len(ts)
        cursor = 0
        for i in range(n):
            num, den = int(ts["numerator"][i]), int(ts["denominator"][i])
            ts_id = self._ts_exact.get((num, den))
            if ts_id is None:
                length = Fraction(4 * num * spb, den)
                ts_id = self._length_to_ts.get(int(length)) if length.denominator == 1 else None
                if ts_id is None:
                    ts_id = self._ts_exact[(4, 4)]
            length = self._ts_length(ts_id - self.base[K_TIMESIG])
            begin = max(int(ts_steps[i]), cursor)
            stop = int(ts_steps[i + 1]) if i + 1 < n else last_step + 1
            if stop <= begin:
                continue
            count = -(-(stop - begin) // length)
            bar_begins = begin + length * np.arange(count, dtype=np.int64)
            bar_ids = np.full(count, ts_id, np.int64)
            short = stop - int(bar_begins[-1])
            if i + 1 < n and short < length:
                short_id = self._length_to_ts.get(short)
                if short_id is not None:
                    bar_ids[-1] = short_id
                    cursor = stop
                else:
                    cursor = int(bar_begins[-1]) + length
            else:
                cursor = int(bar_begins[-1]) + length
            starts.append(bar_begins)
            ids.append(bar_ids)
        bar_start = np.concatenate(starts)
        bar_ts = np.concatenate(ids)
        keep = bar_start <= last_step
        keep[0] = True
        return bar_start[keep], bar_ts[keep]

    def _to_steps(self, ticks: np.ndarray, tpb: int) -> np.ndarray:
        spb = self.config.steps_per_beat
        return (ticks * spb * 2 + tpb) // (2 * tpb)

    def encode(self, score: Score, style: str = "unknown", *, eos: bool = True) -> np.ndarray:
        """Token ids of a score (int32), quantized to the grid; see the module docstring for the layout."""
        c = self.config
        check_score(score, "score", TokenizerError)  # (issue 15) a Score built in Python: no absurd bar counts
        if score.num_parts > c.max_parts:
            score = fit_parts(score, c.max_parts)  # (issue 15) merge tracks sharing an instrument
        if score.num_parts > c.max_parts:
            raise TokenizerError(f"score has {score.num_parts} parts; this tokenizer holds at most {c.max_parts}")
        ids = self._encode_fast(score, style, eos)
        if ids is None:
            ids = self._encode_general(score, style, eos)
        return ids

    def _encode_general(self, score: Score, style: str, eos: bool) -> np.ndarray:
        """The reference encoder: every token gets a sort key, one stable sort orders them.

        ``_encode_fast`` must give exactly this output; tests/test_tokens_fast.py compares the two.
        """
        c = self.config
        tpb = score.ticks_per_beat
        notes = score.notes
        start = self._to_steps(notes["start_tick"], tpb)
        end = self._to_steps(notes["start_tick"] + notes["duration_ticks"], tpb)
        dur = np.maximum(end - start, 1)
        part = notes["part"].astype(np.int64)
        pitch = notes["pitch"].astype(np.int64)
        order = np.lexsort((-pitch, part, start))
        start, dur, part, pitch = start[order], dur[order], part[order], pitch[order]
        n = len(start)
        last_step = int(start[-1]) if n else 0

        bar_start, bar_ts = self._meter(score, last_step)
        n_bars = len(bar_start)
        ts_change = np.ones(n_bars, bool)
        ts_change[1:] = bar_ts[1:] != bar_ts[:-1]

        # Key and tempo events in force, emitted where they change, up to the last onset.
        keys = score.key_signatures
        key_steps = self._to_steps(keys["tick"], tpb)
        key_ids = self.base[K_KEY] + (keys["sharps"].astype(np.int64) - SHARPS_MIN) * 2 + keys["minor"]
        tempo_steps = self._to_steps(score.tempos["tick"], tpb)
        bins = np.log(np.asarray(c.tempos_qpm, np.float64))
        tempo_bin = np.abs(np.log(score.tempos["qpm"])[:, None] - bins[None, :]).argmin(axis=1)
        tempo_ids = self.base[K_TEMPO] + tempo_bin
        key_steps, key_ids = _changes(key_steps, key_ids, last_step)
        tempo_steps, tempo_ids = _changes(tempo_steps, tempo_ids, last_step)

        # Durations: one token when the vocabulary has it, else a greedy run of tokens that add up.
        single = np.zeros(n, np.int64)
        fine = dur <= self._fine_max
        single[fine] = self.base[K_DURATION] + dur[fine] - 1
        coarse_idx = np.flatnonzero(~fine)
        extra_ids: list[int] = []
        extra_note: list[int] = []
        extra_slot: list[int] = []
        for i in coarse_idx.tolist():
            run = self._duration_run(int(dur[i]))
            single[i] = run[0]
            for j, token in enumerate(run[1:]):
                extra_ids.append(token)
                extra_note.append(i)
                extra_slot.append(3 + j)

        part_change = np.ones(n, bool)
        part_change[1:] = part[1:] != part[:-1]

        # Every token gets one int64 sort key: (step, group, note index, slot within the note).
        slots = 8 + (max(extra_slot) if extra_slot else 0)
        per_group = (n + 1) * slots
        per_step = 6 * per_group

        def key(steps: np.ndarray, group: int, note: np.ndarray | int = 0, slot: np.ndarray | int = 0) -> np.ndarray:
            return steps * per_step + group * per_group + np.asarray(note) * slots + slot

        event_steps = np.unique(np.concatenate([start, key_steps, tempo_steps]))
        event_bar = np.searchsorted(bar_start, event_steps, side="right") - 1
        note_index = np.arange(n)
        part_rows = np.flatnonzero(part_change)
        key_parts = [
            key(bar_start, 0),
            key(bar_start[ts_change], 1),
            key(event_steps, 2),
            key(key_steps, 3),
            key(tempo_steps, 4),
            key(start[part_rows], 5, part_rows, 0),
            key(start, 5, note_index, 1),
            key(start, 5, note_index, 2),
        ]
        id_parts = [
            np.full(n_bars, self.bar_id, np.int64),
            bar_ts[ts_change],
            self.base[K_POSITION] + event_steps - bar_start[event_bar],
            key_ids,
            tempo_ids,
            self.base[K_PART] + part[part_rows],
            self.base[K_PITCH] + pitch,
            single,
        ]
        if extra_ids:
            extra_note_arr = np.asarray(extra_note)
            key_parts.append(key(start[extra_note_arr], 5, extra_note_arr, np.asarray(extra_slot)))
            id_parts.append(np.asarray(extra_ids, np.int64))
        keys_all = np.concatenate(key_parts)
        body = np.concatenate(id_parts)[np.argsort(keys_all, kind="stable")]

        header = [self.bos_id, self.style_id(style)]
        header += [self.base[K_PROGRAM] + (128 if p.is_drum else p.program) for p in score.parts]
        tail = [self.eos_id] if eos else []
        return np.concatenate([np.asarray(header, np.int64), body, np.asarray(tail, np.int64)]).astype(np.int32)

    def _encode_fast(self, score: Score, style: str, eos: bool) -> np.ndarray | None:
        """``_encode_general``'s output with far fewer numpy calls, or None to leave the score to it.

        Why it is cheaper: the notes come in canonical order, so once rounded
        to steps they need no sort unless several ticks fell on one step (a
        count tells); the meter, key and tempo maps hold a row or two and are
        handled in plain Python, with memos per tokenizer; the notes' tokens
        come from one (note, slot) matrix; and every token's sort key is just
        its step. Ties at a step are settled by a stable sort keeping the
        order of concatenation, which lists Bar and TimeSig tokens, then
        Position, then Key and Tempo (each group in step order), then the
        notes' tokens in order: the layout's order within a step. Sorting
        these few presorted runs is quick. It declines empty scores and any
        score where int64 arithmetic in either encoder could overflow.
        """
        notes = score.notes
        n = len(notes)
        tpb = score.ticks_per_beat
        if n == 0 or tpb >= _FAST_TICK_LIMIT:
            return None
        st = notes["start_tick"]
        ts_rows = score.time_signatures.tolist()
        key_rows = score.key_signatures.tolist()
        tempo_rows = score.tempos.tolist()
        # Notes and rows are sorted by tick, so the last of each is the largest.
        if (
            int(st[-1]) >= _FAST_TICK_LIMIT
            or ts_rows[-1][0] >= _FAST_TICK_LIMIT
            or (key_rows and key_rows[-1][0] >= _FAST_TICK_LIMIT)
            or (tempo_rows and tempo_rows[-1][0] >= _FAST_TICK_LIMIT)
        ):
            return None
        base = self.base
        s2, d2 = 2 * self.config.steps_per_beat, 2 * tpb  # steps = (ticks * s2 + tpb) // d2, as _to_steps

        # -- onset and duration steps, both in one buffer ---------------------------------
        steps = np.empty(2 * n, np.int64)
        start = steps[:n]
        dur = steps[n:]
        start[:] = st
        distinct_ticks = np.count_nonzero(start[1:] != start[:-1])  # (on the contiguous copy)
        np.add(start, notes["duration_ticks"], out=dur)
        # Exactly _to_steps' int64 arithmetic (ticks * spb * 2 == ticks * s2 modulo 2**64), so an
        # absurdly long note's end wraps around just as it does there.
        steps *= s2
        steps += tpb
        steps //= d2
        dur -= start
        np.maximum(dur, 1, out=dur)
        part = notes["part"]
        pitch = notes["pitch"]
        later = start[1:] != start[:-1]  # note i + 1 starts a new step
        if np.count_nonzero(later) != distinct_ticks:
            # Different ticks fell on one step, so canonical order may not be (step, part, -pitch)
            # order: sort stably on those, folded into one int64 (part < 64, pitch 0..127).
            order_key = start << 13
            order_key += part << 7
            order_key -= pitch
            order = order_key.argsort(kind="stable")
            start, dur, part, pitch = start[order], dur[order], part[order], pitch[order]
            later = start[1:] != start[:-1]
        last_step = int(start[-1])
        # _encode_general's sort keys (step, group, note, slot) must not overflow int64 either,
        # else it, not this, is the reference; checked before anything grows with last_step.
        if (last_step + 1) * 6 * (n + 1) * 8 >= _FAST_KEY_LIMIT:
            return None
        runs = None
        longest = 1
        if int(np.maximum.reduce(dur)) > self._fine_max:
            coarse = np.flatnonzero(dur > self._fine_max).tolist()
            runs = [self._fast_run(int(dur[i])) for i in coarse]
            longest = max(len(run) for run in runs)
        if longest > 1 and (last_step + 1) * 6 * (n + 1) * (9 + longest) >= _FAST_KEY_LIMIT:
            return None  # the same with the slots that duration runs add

        # -- the header: BOS, Style, a Program per part ----------------------------------------
        style_id = self.ids.get(f"Style_{style}")
        if style_id is None:  # the general path raises, after any error of its own
            return None
        header = [self.bos_id, style_id]
        header += [base[K_PROGRAM] + (128 if p.is_drum else p.program) for p in score.parts]
        h = len(header)
        # Sort keys (steps; -1 for the header) and ids of everything written before the notes.
        head_keys = [-1] * h
        head_ids = header

        # -- bars and TimeSig tokens, as _meter, on plain ints ----------------------------------
        bars = [-1]  # bar start steps, after a sentinel that is never looked up
        # A meter map's bars are fixed but for the last meter's, which run to the last onset.
        plan = self._meter_memo.get((tuple(ts_rows), tpb), False)
        if plan is False:
            plan = self._fast_meter_plan(ts_rows, tpb)
        if plan is None:  # a meter that falls back to a 4/4 this vocabulary lacks: the general path raises
            return None
        segments, cursor, final_step, final_id, final_length = plan
        begin = max(final_step, cursor)
        if last_step + 1 > begin:
            segments += ((begin, final_length, -(-(last_step + 1 - begin) // final_length), final_id, final_id),)
        sig_keys: list[int] = []
        sig_ids: list[int] = []
        prev_id = -1
        for begin, length, count, ts_id, last_id in segments:
            if begin > last_step and len(bars) > 1:
                break  # this bar and all later ones start after the last onset
            # Bars up to the last onset are kept (and the first bar always).
            kept = min(count, (last_step - begin) // length + 1) if begin <= last_step else 1
            bars.extend(range(begin, begin + kept * length, length))
            first_id = ts_id if count > 1 else last_id
            if first_id != prev_id:
                sig_keys.append(begin)
                sig_ids.append(first_id)
                prev_id = first_id
            if kept < count:
                break
            if count > 1 and last_id != prev_id:
                sig_keys.append(begin + length * (count - 1))
                sig_ids.append(last_id)
                prev_id = last_id
        n_bars = len(bars) - 1
        if n_bars == 0 or bars[1] != 0:  # never so: the first bar starts at step 0
            return None
        head_keys += sig_keys
        head_ids += sig_ids

        # -- key and tempo changes up to the last onset, as _changes ------------------------
        kt_keys: list[int] = []
        kt_ids: list[int] = []
        key_base = base[K_KEY] - 2 * SHARPS_MIN
        prev_id = -1
        for tick, sharps, minor in key_rows:
            step = (tick * s2 + tpb) // d2
            if step > last_step:
                break
            key_id = key_base + 2 * sharps + minor
            if key_id != prev_id:
                kt_keys.append(step)
                kt_ids.append(key_id)
                prev_id = key_id
        if tempo_rows:
            if len(tempo_rows) == 1:  # the usual single tempo: memoized by its value
                bins = self._tempo_memo.get(tempo_rows[0][1])
                if bins is None:
                    bins = self._fast_tempo_bins(score.tempos["qpm"])
                    if len(self._tempo_memo) >= _CACHE_LIMIT:
                        self._tempo_memo.clear()
                    self._tempo_memo[tempo_rows[0][1]] = bins
            else:
                bins = self._fast_tempo_bins(score.tempos["qpm"])
            tempo_base = base[K_TEMPO]
            prev_id = -1
            for (tick, _), tempo_bin in zip(tempo_rows, bins):
                step = (tick * s2 + tpb) // d2
                if step > last_step:
                    break
                tempo_id = tempo_base + tempo_bin
                if tempo_id != prev_id:
                    kt_keys.append(step)
                    kt_ids.append(tempo_id)
                    prev_id = tempo_id

        # -- Position tokens at every onset and every key or tempo change -----------------------
        first = int(start[0])
        event_steps = start[1:][later]  # the onsets after the first
        if kt_keys.count(first) == len(kt_keys):
            # The usual case: the first onset's Position is worked out here, the others in numpy.
            bar = bars[bisect.bisect_right(bars, first, 1) - 1]
            head_keys.append(first)
            head_ids.append(base[K_POSITION] + first - bar)
        else:
            event_steps = np.unique(np.concatenate([start[:1], event_steps, np.asarray(kt_keys, np.int64)]))
        split = len(head_keys)  # the other Position tokens go here, then Key and Tempo tokens
        head_keys += kt_keys
        head_ids += kt_ids

        # -- the notes' tokens: a (note, slot) matrix of [Part] Pitch Duration [Duration...] ---
        # With one part, Part_0 is written once, before the first note: it goes with the heads.
        multi = len(score.parts) > 1
        if not multi:
            head_keys.append(first)
            head_ids.append(base[K_PART])
        off = 1 if multi else 0
        width = off + 1 + longest
        tokens = np.empty((n, width), np.int32)
        if multi:
            np.add(part, base[K_PART], out=tokens[:, 0], dtype=np.int32)
        np.add(pitch, base[K_PITCH], out=tokens[:, off], dtype=np.int32)
        # (a run's first token overwrites what an over-long duration gives here)
        np.add(dur, base[K_DURATION] - 1, out=tokens[:, off + 1], casting="unsafe")
        if runs is not None:
            for i, run in zip(coarse, runs):
                tokens[i, off + 1 : off + 1 + len(run)] = run
        if width == 2:
            note_ids = tokens.ravel()
            note_keys = start.repeat(2)
        else:
            keep = np.ones((n, width), bool)
            if multi:
                np.not_equal(part[1:], part[:-1], out=keep[1:, 0])
            if longest > 1:
                keep[:, off + 2 :] = False
                for i, run in zip(coarse, runs):
                    keep[i, off + 2 : off + 1 + len(run)] = True
                per_note = keep.sum(axis=1)
            else:
                per_note = keep[:, 0] + 2
            note_ids = tokens[keep]
            note_keys = start.repeat(per_note)

        if eos:
            head_keys.append(last_step + 1)
            head_ids.append(self.eos_id)
        # (np.fromiter converts a flat list of ints faster than np.array)
        m = len(head_keys)
        heads = np.fromiter(head_keys + bars, np.int64, m + len(bars))
        heads, bars = heads[:m], heads[m:]
        head_ids = np.fromiter(head_ids, np.int32, len(head_ids))
        # A Position's bar is the last that starts at or before it: bars[bar_of], past the sentinel.
        bar_of = bars[1:].searchsorted(event_steps, side="right")
        position_ids = event_steps - bars[bar_of]
        position_ids += base[K_POSITION]

        # In each step: the header (step -1), Bar, TimeSig, Position, Key, Tempo, the notes' tokens.
        keys = np.concatenate([heads[:h], bars[1:], heads[h:split], event_steps, heads[split:], note_keys])
        ids = np.concatenate(
            [head_ids[:h], self._fast_bar_ids(n_bars), head_ids[h:split], position_ids, head_ids[split:], note_ids],
            dtype=np.int32,
        )
        return ids[keys.argsort(kind="stable")]

    def _fast_meter_plan(self, ts_rows: list[tuple[int, int, int]], tpb: int) -> tuple | None:
        """``_meter``'s bar segments for a meter map, but the last meter's (it runs to the last onset); memoized.

        Gives (segments, cursor, last meter's step, its TimeSig id, its bar length), each segment
        (first bar's step, bar length, bars, TimeSig id, the last bar's TimeSig id); None where
        ``_meter`` raises (a meter that falls back to 4/4, and no 4/4 in the vocabulary).
        """
        s2, d2 = 2 * self.config.steps_per_beat, 2 * tpb
        steps = [(row[0] * s2 + tpb) // d2 for row in ts_rows]
        ids = [self._fast_ts_id(num, den) for _, num, den in ts_rows]
        plan = None
        if None not in ids:
            lengths = self._ts_steps_by_id
            segments = []
            cursor = 0
            for i in range(len(ts_rows) - 1):
                ts_id, length = ids[i], lengths[ids[i]]
                begin, stop = max(steps[i], cursor), steps[i + 1]
                if stop <= begin:
                    continue
                count = -(-(stop - begin) // length)
                last_begin = begin + length * (count - 1)
                last_id = ts_id
                cursor = last_begin + length
                if stop - last_begin < length:
                    short_id = self._length_to_ts.get(stop - last_begin)
                    if short_id is not None:
                        last_id = short_id
                        cursor = stop
                segments.append((begin, length, count, ts_id, last_id))
            plan = (tuple(segments), cursor, steps[-1], ids[-1], lengths[ids[-1]])
        if len(self._meter_memo) >= _CACHE_LIMIT:
            self._meter_memo.clear()
        self._meter_memo[(tuple(ts_rows), tpb)] = plan
        return plan

    def _fast_ts_id(self, num: int, den: int) -> int | None:
        """The TimeSig id ``_meter`` gives (num, den), None where it raises (no 4/4 to fall back to)."""
        ts_id = self._ts_exact.get((num, den))
        if ts_id is None:
            length = Fraction(4 * num * self.config.steps_per_beat, den)
            ts_id = self._length_to_ts.get(int(length)) if length.denominator == 1 else None
            if ts_id is None:
                ts_id = self._ts_exact.get((4, 4))
        return ts_id

    def _fast_tempo_bins(self, qpm: np.ndarray) -> list[int]:
        """Each tempo's nearest metronome mark, by ``_encode_general``'s own numpy expression."""
        return np.abs(np.log(qpm)[:, None] - self._tempo_log_bins[None, :]).argmin(axis=1).tolist()

    def _fast_bar_ids(self, count: int) -> np.ndarray:
        """``count`` Bar ids (a view of a shared constant array, grown as needed)."""
        if len(self._bar_ids) < count:
            if count > 1 << 16:
                return np.full(count, self.bar_id, np.int32)
            self._bar_ids = np.full(max(count, 2 * len(self._bar_ids)), self.bar_id, np.int32)
            self._bar_ids.flags.writeable = False
        return self._bar_ids[:count]

    def _fast_run(self, steps: int) -> list[int]:
        run = self._run_memo.get(steps)
        if run is None:
            run = self._duration_run(steps)
            if len(self._run_memo) >= _CACHE_LIMIT:
                self._run_memo.clear()
            self._run_memo[steps] = run
        return run

    def _duration_run(self, steps: int) -> list[int]:
        run = []
        table = self.durations_steps
        while steps > 0:
            pos = int(np.searchsorted(table, steps, side="right")) - 1
            run.append(self.base[K_DURATION] + pos)
            steps -= table[pos]
        return run

    def transpose_table(self, semitones: int) -> np.ndarray:
        """An id -> id map that transposes token sequences: pitches and keys move, the rest stays.

        Pitches pushed outside 0..127 are clamped; callers that care choose
        ``semitones`` so that this cannot happen (see ``pitch_span``).
        """
        table = np.arange(len(self.tokens), dtype=np.int64)
        pitch = self.kinds == K_PITCH
        table[pitch] = self.base[K_PITCH] + np.clip(self.values[pitch] + semitones, 0, 127)
        key = self.kinds == K_KEY
        sharps = self.values[key] // 2 + SHARPS_MIN
        minor = self.values[key] % 2
        moved = (sharps + 7 * semitones + 5) % 12 - 5  # as score.transpose: fold into -5..6 sharps
        table[key] = self.base[K_KEY] + (moved - SHARPS_MIN) * 2 + minor
        return table

    def pitch_span(self, ids: np.ndarray) -> tuple[int, int] | None:
        """(lowest, highest) pitch among ``ids``, or None if it holds no Pitch token."""
        ids = np.asarray(ids)
        pitches = ids[(ids >= self.base[K_PITCH]) & (ids < self.base[K_PITCH] + 128)] - self.base[K_PITCH]
        if len(pitches) == 0:
            return None
        return int(pitches.min()), int(pitches.max())

    # -- decoding ---------------------------------------------------------
    def decode(self, ids: Sequence[int] | np.ndarray, *, ticks_per_beat: int | None = None) -> Score:
        """A Score from token ids. Never raises for any id sequence (see the module docstring)."""
        c = self.config
        spb = c.steps_per_beat
        tpb = ticks_per_beat or (DEFAULT_TICKS_PER_BEAT if DEFAULT_TICKS_PER_BEAT % spb == 0 else spb)
        scale = Fraction(tpb, spb)
        ids_list = np.asarray(ids, dtype=np.int64).ravel().tolist() if len(ids) else []
        vocab = len(self.tokens)
        kinds = self.kinds.tolist()
        values = self.values.tolist()
        default_ts = self._ts_exact[(4, 4)]

        style = None
        programs: list[int] = []
        in_header = True
        bar_start = -1
        bar_len = self._ts_length(default_ts - self.base[K_TIMESIG])
        ts_open = False
        pos = 0
        part = 0
        pending: tuple[int, int, int] | None = None
        last = -1
        n_start: list[int] = []
        n_dur: list[int] = []
        n_pitch: list[int] = []
        n_part: list[int] = []
        ts_events: list[tuple[int, int, int]] = []
        key_events: list[tuple[int, int, bool]] = []
        tempo_events: list[tuple[int, float]] = []

        for token in ids_list:
            if token < 0 or token >= vocab:
                pending = None
                continue
            kind = kinds[token]
            value = values[token]
            if kind == K_DURATION:
                if pending is not None:
                    n_start.append(pending[0])
                    n_pitch.append(pending[1])
                    n_part.append(pending[2])
                    n_dur.append(value)
                    last = len(n_dur) - 1
                    pending = None
                elif last >= 0:
                    n_dur[last] += value
                continue
            pending = None
            last = -1
            if kind == K_PAD or kind == K_BOS:
                continue
            if kind == K_EOS:
                break
            if kind == K_STYLE or kind == K_PROGRAM:
                if in_header:
                    if kind == K_STYLE and style is None:
                        style = c.styles[value]
                    elif kind == K_PROGRAM and len(programs) < c.max_parts:
                        programs.append(value)
                continue
            if kind == K_BAR:
                in_header = False
                if bar_start < 0:
                    bar_start = 0
                    ts_events.append((0, *self._ts_values[default_ts - self.base[K_TIMESIG]]))
                else:
                    bar_start += bar_len
                pos = 0
                ts_open = True
                continue
            if kind == K_TIMESIG:
                if ts_open:
                    ts_open = False
                    bar_len = self._ts_length(value)
                    num, den = self._ts_values[value]
                    if ts_events and ts_events[-1][0] == bar_start:
                        ts_events.pop()
                    if not ts_events or ts_events[-1][1:] != (num, den):
                        ts_events.append((bar_start, num, den))
                continue
            ts_open = False
            if bar_start < 0:  # notes before any Bar: open bar 1 in 4/4
                in_header = False
                bar_start = 0
                ts_events.append((0, *self._ts_values[default_ts - self.base[K_TIMESIG]]))
            if kind == K_POSITION:
                if pos <= value < bar_len:
                    pos = value
            elif kind == K_PART:
                part = value
            elif kind == K_PITCH:
                pending = (bar_start + pos, value, part)
            elif kind == K_KEY:
                key_events.append((bar_start + pos, value // 2 + SHARPS_MIN, bool(value % 2)))
            elif kind == K_TEMPO:
                tempo_events.append((bar_start + pos, float(c.tempos_qpm[value])))

        n_parts = max(len(programs), max(n_part) + 1 if n_part else 0)
        names = self._part_names.get(style or "", ())
        parts = []
        for i in range(n_parts):
            program = programs[i] if i < len(programs) else 0
            name = names[i] if i < len(names) and len(programs) == len(names) else (DRUMS if program == 128 else f"Part {i + 1}")
            parts.append(Part(name=name, program=0 if program == 128 else program, is_drum=program == 128))

        notes = np.zeros(len(n_start), NOTE_DTYPE)
        notes["start_tick"] = np.asarray(n_start, np.int64) * scale.numerator // scale.denominator
        notes["duration_ticks"] = np.maximum(np.asarray(n_dur, np.int64) * scale.numerator // scale.denominator, 1)
        notes["pitch"] = n_pitch
        notes["part"] = n_part
        notes["velocity"] = DEFAULT_VELOCITY

        def ticks(events: list, dtype: np.dtype) -> np.ndarray:
            arr = np.array(events, dtype) if events else np.zeros(0, dtype)
            arr["tick"] = arr["tick"] * scale.numerator // scale.denominator
            return arr

        metadata = {"style": style} if style else {}
        return Score(
            notes,
            parts,
            ticks_per_beat=tpb,
            time_signatures=ticks(ts_events, TIME_SIGNATURE_DTYPE),
            key_signatures=_dedupe(ticks(key_events, KEY_SIGNATURE_DTYPE), ("sharps", "minor")),
            tempos=_dedupe(ticks(tempo_events, TEMPO_DTYPE), ("qpm",)),
            metadata=metadata,
            _trusted=True,
        )

    # -- files ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TOKENIZER_FORMAT,
            "format_version": TOKENIZER_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "tokenizer") -> "Tokenizer":
        """Rebuild a tokenizer from ``to_dict`` output, checking format, version and vocabulary."""
        if not isinstance(data, dict) or data.get("format") != TOKENIZER_FORMAT:
            raise TokenizerError(f"{source}: not a composer tokenizer (missing \"format\": \"{TOKENIZER_FORMAT}\")")
        version = data.get("format_version")
        if version != TOKENIZER_FORMAT_VERSION:
            raise TokenizerError(f"{source}: tokenizer format version {version!r} is not supported; this composer reads version {TOKENIZER_FORMAT_VERSION}")
        if not isinstance(data.get("config"), dict):
            raise TokenizerError(f"{source}: tokenizer config missing")
        tokenizer = cls(TokenizerConfig.from_dict(data["config"]))
        if "tokens" in data and list(data["tokens"]) != tokenizer.tokens:
            theirs = list(data["tokens"])
            first = next((i for i, (a, b) in enumerate(zip(theirs, tokenizer.tokens)) if a != b), min(len(theirs), len(tokenizer.tokens)))
            raise TokenizerError(
                f"{source}: vocabulary does not match its config ({len(theirs)} tokens saved, {len(tokenizer.tokens)} expected; "
                f"first difference at id {first})"
            )
        return tokenizer

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        from composer.io._atomic import write_bytes_atomic

        return write_bytes_atomic(path, json.dumps(self.to_dict(), indent=1).encode(), force=force)

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenizerError(f"{path}: not a readable tokenizer JSON file ({exc})") from None
        return cls.from_dict(data, str(path))


def _changes(steps: np.ndarray, ids: np.ndarray, last_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Events up to ``last_step`` where the value changes (the first always counts)."""
    keep = steps <= last_step
    steps, ids = steps[keep], ids[keep]
    if len(steps) > 1:
        changed = np.ones(len(ids), bool)
        changed[1:] = ids[1:] != ids[:-1]
        steps, ids = steps[changed], ids[changed]
    return steps.astype(np.int64), ids.astype(np.int64)


def _dedupe(events: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    if len(events) < 2:
        return events
    same = np.ones(len(events) - 1, bool)
    for name in fields:
        same &= events[name][1:] == events[name][:-1]
    return events[np.concatenate([[True], ~same])]
