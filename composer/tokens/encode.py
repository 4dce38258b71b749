"""Encoding ``Score -> ids``: the reference encoder and a fast path that must give exactly its output.

``Encoder.general`` gives every token a sort key and orders them with one
stable sort. ``Encoder.fast`` gets the same ids with far fewer numpy calls
(tests/test_tokens_fast.py compares the two), or declines with None.
"""

from __future__ import annotations

import bisect
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from composer.errors import TokenizerError
from composer.score import SHARPS_MIN, Score
from composer.tokens.vocab import (
    CACHE_LIMIT,
    FAST_KEY_LIMIT,
    FAST_TICK_LIMIT,
    K_DURATION,
    K_KEY,
    K_PART,
    K_PITCH,
    K_POSITION,
    K_PROGRAM,
    K_TEMPO,
    K_TIMESIG,
    ticks_to_steps,
)

if TYPE_CHECKING:
    from composer.tokens.tokenizer import Tokenizer


class _Notes(NamedTuple):
    """The notes in steps, in (step, part, -pitch) order."""

    start: np.ndarray
    dur: np.ndarray
    part: np.ndarray
    pitch: np.ndarray
    later: np.ndarray  # note i + 1 starts a new step
    last_step: int


class _Runs(NamedTuple):
    """Notes too long for one Duration token: their indices and token runs; the longest run."""

    coarse: list[int]
    runs: list[list[int]] | None
    longest: int


class Encoder:
    """The encoders of one tokenizer, with the tables and memos they share."""

    def __init__(self, tok: "Tokenizer") -> None:
        self.tok = tok
        base = tok.base[K_TIMESIG]
        # Bar length in steps -> a time signature token of that length, preferring common denominators.
        self.length_to_ts: dict[int, int] = {}
        for den in (4, 8, 2, 16, 1, 32):
            for i, (num, d) in enumerate(tok.timesig_values):
                if d == den:
                    self.length_to_ts.setdefault(tok.timesig_steps[i], base + i)
        self.ts_exact = {value: base + i for i, value in enumerate(tok.timesig_values)}
        self.ts_steps_by_id = {base + i: steps for i, steps in enumerate(tok.timesig_steps)}
        # Memos of the fast path: meter maps, single tempos, duration runs.
        self.meter_memo: dict[tuple, tuple | None] = {}
        self.tempo_memo: dict[float, list[int]] = {}
        self.run_memo: dict[int, list[int]] = {}
        self.bar_ids = np.full(256, tok.bar_id, np.int32)
        self.bar_ids.flags.writeable = False

    def ts_id(self, num: int, den: int) -> int | None:
        """The TimeSig id for (num, den): its own, else one of the same bar length, else 4/4; None if no 4/4 either."""
        ts_id = self.ts_exact.get((num, den))
        if ts_id is None:
            length = Fraction(4 * num * self.tok.config.steps_per_beat, den)
            ts_id = self.length_to_ts.get(int(length)) if length.denominator == 1 else None
            if ts_id is None:
                ts_id = self.ts_exact.get((4, 4))
        return ts_id

    def header(self, score: Score, style_id: int) -> list[int]:
        """BOS, Style, a Program per part."""
        tok = self.tok
        return [tok.bos_id, style_id] + [tok.base[K_PROGRAM] + (128 if p.is_drum else p.program) for p in score.parts]

    # -- the reference ----------------------------------------------------------
    def meter(self, score: Score, last_step: int) -> tuple[np.ndarray, np.ndarray]:
        """Bar start steps and each bar's TimeSig id, on the meter map the vocabulary can express.

        A meter the vocabulary lacks takes a token of the same bar length, else
        4/4. A change that falls mid-bar closes a short bar when some token has
        that length; otherwise it waits for the next barline. Notes never move.
        """
        ts = score.time_signatures
        ts_steps = ticks_to_steps(ts["tick"], score.ticks_per_beat, self.tok.config.steps_per_beat)
        starts: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        n = len(ts)
        cursor = 0
        for i in range(n):
            num, den = int(ts["numerator"][i]), int(ts["denominator"][i])
            ts_id = self.ts_id(num, den)
            if ts_id is None:
                raise TokenizerError(f"time signature {num}/{den} has no token of its bar length, and this vocabulary has no 4/4 to fall back to")
            length = self.ts_steps_by_id[ts_id]
            begin = max(int(ts_steps[i]), cursor)
            stop = int(ts_steps[i + 1]) if i + 1 < n else last_step + 1
            if stop <= begin:
                continue
            count = -(-(stop - begin) // length)
            bar_begins = begin + length * np.arange(count, dtype=np.int64)
            bar_ids = np.full(count, ts_id, np.int64)
            short = stop - int(bar_begins[-1])
            cursor = int(bar_begins[-1]) + length
            if i + 1 < n and short < length:
                short_id = self.length_to_ts.get(short)
                if short_id is not None:
                    bar_ids[-1] = short_id
                    cursor = stop
            starts.append(bar_begins)
            ids.append(bar_ids)
        bar_start = np.concatenate(starts)
        bar_ts = np.concatenate(ids)
        keep = bar_start <= last_step
        keep[0] = True
        return bar_start[keep], bar_ts[keep]

    def general(self, score: Score, style: str, eos: bool) -> np.ndarray:
        """The reference encoder: every token gets a sort key (step, group, note, slot), one stable sort orders them."""
        tok = self.tok
        tpb, spb = score.ticks_per_beat, tok.config.steps_per_beat
        notes = score.notes
        start = ticks_to_steps(notes["start_tick"], tpb, spb)
        end = ticks_to_steps(notes["start_tick"] + notes["duration_ticks"], tpb, spb)
        dur = np.maximum(end - start, 1)
        part = notes["part"].astype(np.int64)
        pitch = notes["pitch"].astype(np.int64)
        order = np.lexsort((-pitch, part, start))
        start, dur, part, pitch = start[order], dur[order], part[order], pitch[order]
        n = len(start)
        last_step = int(start[-1]) if n else 0

        bar_start, bar_ts = self.meter(score, last_step)
        ts_change = np.ones(len(bar_start), bool)
        ts_change[1:] = bar_ts[1:] != bar_ts[:-1]
        key_steps, key_ids, tempo_steps, tempo_ids = self._general_key_tempo(score, last_step)
        single, extra_ids, extra_note, extra_slot = self._general_durations(dur)
        part_change = np.ones(n, bool)
        part_change[1:] = part[1:] != part[:-1]

        slots = 8 + (max(extra_slot) if extra_slot else 0)
        per_group = (n + 1) * slots
        per_step = 6 * per_group

        def key(steps: np.ndarray, group: int, note: np.ndarray | int = 0, slot: np.ndarray | int = 0) -> np.ndarray:
            return steps * per_step + group * per_group + np.asarray(note) * slots + slot

        event_steps = _sorted_unique(np.concatenate([start, key_steps, tempo_steps]))
        event_bar = np.searchsorted(bar_start, event_steps, side="right") - 1
        note_index = np.arange(n)
        part_rows = np.flatnonzero(part_change)
        base = tok.base
        keyed = [  # (sort keys, ids): Bar, TimeSig, Position, Key, Tempo, then each note's Part, Pitch, Duration
            (key(bar_start, 0), np.full(len(bar_start), tok.bar_id, np.int64)),
            (key(bar_start[ts_change], 1), bar_ts[ts_change]),
            (key(event_steps, 2), base[K_POSITION] + event_steps - bar_start[event_bar]),
            (key(key_steps, 3), key_ids),
            (key(tempo_steps, 4), tempo_ids),
            (key(start[part_rows], 5, part_rows, 0), base[K_PART] + part[part_rows]),
            (key(start, 5, note_index, 1), base[K_PITCH] + pitch),
            (key(start, 5, note_index, 2), single),
        ]
        if extra_ids:
            extra_note_arr = np.asarray(extra_note)
            keyed.append((key(start[extra_note_arr], 5, extra_note_arr, np.asarray(extra_slot)), np.asarray(extra_ids, np.int64)))
        keys_all = np.concatenate([k for k, _ in keyed])
        body = np.concatenate([i for _, i in keyed])[np.argsort(keys_all, kind="stable")]

        header = self.header(score, tok.style_id(style))
        tail = [tok.eos_id] if eos else []
        return np.concatenate([np.asarray(header, np.int64), body, np.asarray(tail, np.int64)]).astype(np.int32)

    def _general_key_tempo(self, score: Score, last_step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Key and tempo events in force, where they change, up to the last onset: steps and ids of each."""
        tok = self.tok
        tpb, spb = score.ticks_per_beat, tok.config.steps_per_beat
        keys = score.key_signatures
        key_steps = ticks_to_steps(keys["tick"], tpb, spb)
        key_ids = tok.base[K_KEY] + (keys["sharps"].astype(np.int64) - SHARPS_MIN) * 2 + keys["minor"]
        tempo_steps = ticks_to_steps(score.tempos["tick"], tpb, spb)
        tempo_ids = tok.base[K_TEMPO] + tok.tempo_bins(score.tempos["qpm"])
        return (*_changes(key_steps, key_ids, last_step), *_changes(tempo_steps, tempo_ids, last_step))

    def _general_durations(self, dur: np.ndarray) -> tuple[np.ndarray, list[int], list[int], list[int]]:
        """Each note's first Duration id; the further ids of longer notes, with their note and slot."""
        tok = self.tok
        single = np.zeros(len(dur), np.int64)
        fine = dur <= tok.fine_max_steps
        single[fine] = tok.base[K_DURATION] + dur[fine] - 1
        extra_ids: list[int] = []
        extra_note: list[int] = []
        extra_slot: list[int] = []
        for i in np.flatnonzero(~fine).tolist():
            run = tok.duration_ids(int(dur[i]))
            single[i] = run[0]
            for j, token in enumerate(run[1:]):
                extra_ids.append(token)
                extra_note.append(i)
                extra_slot.append(3 + j)
        return single, extra_ids, extra_note, extra_slot

    # -- the fast path ----------------------------------------------------------
    def fast(self, score: Score, style: str, eos: bool) -> np.ndarray | None:
        """``general``'s output with far fewer numpy calls, or None to leave the score to it.

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
        tok = self.tok
        rows = self._fast_rows(score)
        if rows is None:
            return None
        ts_rows, key_rows, tempo_rows = rows
        notes = self._fast_notes(score)
        n = len(notes.start)
        last_step = notes.last_step
        # general's sort keys (step, group, note, slot) must not overflow int64 either,
        # else it, not this, is the reference; checked before anything grows with last_step.
        if (last_step + 1) * 6 * (n + 1) * 8 >= FAST_KEY_LIMIT:
            return None
        runs = self._fast_runs(notes.dur)
        if runs.longest > 1 and (last_step + 1) * 6 * (n + 1) * (9 + runs.longest) >= FAST_KEY_LIMIT:
            return None  # the same with the slots that duration runs add
        style_id = tok.ids.get(f"Style_{style}")
        if style_id is None:  # the general path raises, after any error of its own
            return None
        bars_and_sigs = self._fast_bars(ts_rows, score.ticks_per_beat, last_step)
        if bars_and_sigs is None:
            return None
        bars, sig_keys, sig_ids = bars_and_sigs

        # Sort keys (steps; -1 for the header) and ids of everything written before the notes.
        head_ids = self.header(score, style_id)
        h = len(head_ids)
        head_keys = [-1] * h + sig_keys
        head_ids += sig_ids
        kt_keys, kt_ids = self._fast_key_tempo(score, key_rows, tempo_rows, last_step)
        # Position tokens at every onset and every key or tempo change.
        first = int(notes.start[0])
        event_steps = notes.start[1:][notes.later]  # the onsets after the first
        if kt_keys.count(first) == len(kt_keys):
            # The usual case: the first onset's Position is worked out here, the others in numpy.
            bar = bars[bisect.bisect_right(bars, first, 1) - 1]
            head_keys.append(first)
            head_ids.append(tok.base[K_POSITION] + first - bar)
        else:
            event_steps = _sorted_unique(np.concatenate([notes.start[:1], event_steps, np.asarray(kt_keys, np.int64)]))
        split = len(head_keys)  # the other Position tokens go here, then Key and Tempo tokens
        head_keys += kt_keys
        head_ids += kt_ids
        multi = len(score.parts) > 1
        if not multi:  # with one part, Part_0 is written once, before the first note: it goes with the heads
            head_keys.append(first)
            head_ids.append(tok.base[K_PART])
        note_ids, note_keys = self._fast_note_tokens(notes, runs, multi)
        if eos:
            head_keys.append(last_step + 1)
            head_ids.append(tok.eos_id)
        return self._fast_assemble(head_keys, head_ids, h, split, bars, event_steps, note_keys, note_ids)

    def _fast_rows(self, score: Score) -> tuple[list, list, list] | None:
        """The meter, key and tempo rows as lists; None for an empty score or ticks that could overflow."""
        notes = score.notes
        tpb = score.ticks_per_beat
        if len(notes) == 0 or tpb >= FAST_TICK_LIMIT:
            return None
        ts_rows = score.time_signatures.tolist()
        key_rows = score.key_signatures.tolist()
        tempo_rows = score.tempos.tolist()
        # Notes and rows are sorted by tick, so the last of each is the largest.
        if (
            int(notes["start_tick"][-1]) >= FAST_TICK_LIMIT
            or ts_rows[-1][0] >= FAST_TICK_LIMIT
            or (key_rows and key_rows[-1][0] >= FAST_TICK_LIMIT)
            or (tempo_rows and tempo_rows[-1][0] >= FAST_TICK_LIMIT)
        ):
            return None
        return ts_rows, key_rows, tempo_rows

    def _fast_notes(self, score: Score) -> _Notes:
        """Onset and duration steps (one buffer, rounded in place), sorted only where ticks merged on a step."""
        notes = score.notes
        n = len(notes)
        steps = np.empty(2 * n, np.int64)
        start = steps[:n]
        dur = steps[n:]
        start[:] = notes["start_tick"]
        distinct_ticks = np.count_nonzero(start[1:] != start[:-1])  # (on the contiguous copy)
        np.add(start, notes["duration_ticks"], out=dur)
        # Rounded as general rounds (an absurdly long note's end wraps around just as it does there).
        ticks_to_steps(steps, score.ticks_per_beat, self.tok.config.steps_per_beat, out=steps)
        dur -= start
        np.maximum(dur, 1, out=dur)
        part = notes["part"]
        pitch = notes["pitch"]
        later = start[1:] != start[:-1]
        if np.count_nonzero(later) != distinct_ticks:
            # Different ticks fell on one step, so canonical order may not be (step, part, -pitch)
            # order: sort stably on those, folded into one int64 (part < 64, pitch 0..127).
            order_key = start << 13
            order_key += part << 7
            order_key -= pitch
            order = order_key.argsort(kind="stable")
            start, dur, part, pitch = start[order], dur[order], part[order], pitch[order]
            later = start[1:] != start[:-1]
        return _Notes(start, dur, part, pitch, later, int(start[-1]))

    def _fast_runs(self, dur: np.ndarray) -> _Runs:
        """The Duration runs of notes longer than one token holds (memoized per length)."""
        if int(np.maximum.reduce(dur)) <= self.tok.fine_max_steps:
            return _Runs([], None, 1)
        coarse = np.flatnonzero(dur > self.tok.fine_max_steps).tolist()
        runs = []
        for i in coarse:
            steps = int(dur[i])
            run = self.run_memo.get(steps)
            if run is None:
                run = self.tok.duration_ids(steps)
                if len(self.run_memo) >= CACHE_LIMIT:
                    self.run_memo.clear()
                self.run_memo[steps] = run
            runs.append(run)
        return _Runs(coarse, runs, max(len(run) for run in runs))

    def _fast_bars(self, ts_rows: list, tpb: int, last_step: int) -> tuple[list[int], list[int], list[int]] | None:
        """As ``meter``, on plain ints: bar starts (after a -1 sentinel), TimeSig steps and ids; None where it raises."""
        # A meter map's bars are fixed but for the last meter's, which run to the last onset.
        plan = self.meter_memo.get((tuple(ts_rows), tpb), False)
        if plan is False:
            plan = self._fast_meter_plan(ts_rows, tpb)
        if plan is None:  # a meter that falls back to a 4/4 this vocabulary lacks: the general path raises
            return None
        segments, cursor, final_step, final_id, final_length = plan
        begin = max(final_step, cursor)
        if last_step + 1 > begin:
            segments += ((begin, final_length, -(-(last_step + 1 - begin) // final_length), final_id, final_id),)
        bars = [-1]  # bar start steps, after a sentinel that is never looked up
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
        if len(bars) == 1 or bars[1] != 0:  # never so: the first bar starts at step 0
            return None
        return bars, sig_keys, sig_ids

    def _fast_meter_plan(self, ts_rows: list[tuple[int, int, int]], tpb: int) -> tuple | None:
        """``meter``'s bar segments for a meter map, but the last meter's (it runs to the last onset); memoized.

        Gives (segments, cursor, last meter's step, its TimeSig id, its bar length), each segment
        (first bar's step, bar length, bars, TimeSig id, the last bar's TimeSig id); None where
        ``meter`` raises (a meter that falls back to 4/4, and no 4/4 in the vocabulary).
        """
        spb = self.tok.config.steps_per_beat
        steps = [ticks_to_steps(row[0], tpb, spb) for row in ts_rows]
        ids = [self.ts_id(num, den) for _, num, den in ts_rows]
        plan = None
        if None not in ids:
            lengths = self.ts_steps_by_id
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
                    short_id = self.length_to_ts.get(stop - last_begin)
                    if short_id is not None:
                        last_id = short_id
                        cursor = stop
                segments.append((begin, length, count, ts_id, last_id))
            plan = (tuple(segments), cursor, steps[-1], ids[-1], lengths[ids[-1]])
        if len(self.meter_memo) >= CACHE_LIMIT:
            self.meter_memo.clear()
        self.meter_memo[(tuple(ts_rows), tpb)] = plan
        return plan

    def _fast_key_tempo(self, score: Score, key_rows: list, tempo_rows: list, last_step: int) -> tuple[list[int], list[int]]:
        """Steps and ids of the key changes, then the tempo changes, up to the last onset (as ``_changes``)."""
        tok = self.tok
        tpb, spb = score.ticks_per_beat, tok.config.steps_per_beat
        kt_keys: list[int] = []
        kt_ids: list[int] = []
        key_base = tok.base[K_KEY] - 2 * SHARPS_MIN
        prev_id = -1
        for tick, sharps, minor in key_rows:
            step = ticks_to_steps(tick, tpb, spb)
            if step > last_step:
                break
            key_id = key_base + 2 * sharps + minor
            if key_id != prev_id:
                kt_keys.append(step)
                kt_ids.append(key_id)
                prev_id = key_id
        if not tempo_rows:
            return kt_keys, kt_ids
        if len(tempo_rows) == 1:  # the usual single tempo: memoized by its value
            bins = self.tempo_memo.get(tempo_rows[0][1])
            if bins is None:
                bins = tok.tempo_bins(score.tempos["qpm"]).tolist()
                if len(self.tempo_memo) >= CACHE_LIMIT:
                    self.tempo_memo.clear()
                self.tempo_memo[tempo_rows[0][1]] = bins
        else:
            bins = tok.tempo_bins(score.tempos["qpm"]).tolist()
        tempo_base = tok.base[K_TEMPO]
        prev_id = -1
        for (tick, _), tempo_bin in zip(tempo_rows, bins):
            step = ticks_to_steps(tick, tpb, spb)
            if step > last_step:
                break
            tempo_id = tempo_base + tempo_bin
            if tempo_id != prev_id:
                kt_keys.append(step)
                kt_ids.append(tempo_id)
                prev_id = tempo_id
        return kt_keys, kt_ids

    def _fast_note_tokens(self, notes: _Notes, runs: _Runs, multi: bool) -> tuple[np.ndarray, np.ndarray]:
        """The notes' ids and sort keys, from a (note, slot) matrix of [Part] Pitch Duration [Duration...]."""
        base = self.tok.base
        n = len(notes.start)
        off = 1 if multi else 0
        width = off + 1 + runs.longest
        tokens = np.empty((n, width), np.int32)
        if multi:
            np.add(notes.part, base[K_PART], out=tokens[:, 0], dtype=np.int32)
        np.add(notes.pitch, base[K_PITCH], out=tokens[:, off], dtype=np.int32)
        # (a run's first token overwrites what an over-long duration gives here)
        np.add(notes.dur, base[K_DURATION] - 1, out=tokens[:, off + 1], casting="unsafe")
        if runs.runs is not None:
            for i, run in zip(runs.coarse, runs.runs):
                tokens[i, off + 1 : off + 1 + len(run)] = run
        if width == 2:
            return tokens.ravel(), notes.start.repeat(2)
        keep = np.ones((n, width), bool)
        if multi:
            np.not_equal(notes.part[1:], notes.part[:-1], out=keep[1:, 0])
        if runs.longest > 1:
            keep[:, off + 2 :] = False
            for i, run in zip(runs.coarse, runs.runs):
                keep[i, off + 2 : off + 1 + len(run)] = True
            per_note = keep.sum(axis=1)
        else:
            per_note = keep[:, 0] + 2
        return tokens[keep], notes.start.repeat(per_note)

    def _fast_assemble(
        self, head_keys: list[int], head_ids: list[int], h: int, split: int, bars: list[int], event_steps: np.ndarray, note_keys: np.ndarray, note_ids: np.ndarray
    ) -> np.ndarray:
        """All ids in order: in each step the header (step -1), Bar, TimeSig, Position, Key, Tempo, the notes' tokens."""
        # (np.fromiter converts a flat list of ints faster than np.array)
        m = len(head_keys)
        heads = np.fromiter(head_keys + bars, np.int64, m + len(bars))
        heads, bar_steps = heads[:m], heads[m:]
        ids_head = np.fromiter(head_ids, np.int32, len(head_ids))
        # A Position's bar is the last that starts at or before it: bar_steps[bar_of], past the sentinel.
        bar_of = bar_steps[1:].searchsorted(event_steps, side="right")
        position_ids = event_steps - bar_steps[bar_of]
        position_ids += self.tok.base[K_POSITION]
        keys = np.concatenate([heads[:h], bar_steps[1:], heads[h:split], event_steps, heads[split:], note_keys])
        ids = np.concatenate(
            [ids_head[:h], self._bar_ids(len(bars) - 1), ids_head[h:split], position_ids, ids_head[split:], note_ids],
            dtype=np.int32,
        )
        return ids[keys.argsort(kind="stable")]

    def _bar_ids(self, count: int) -> np.ndarray:
        """``count`` Bar ids (a view of a shared constant array, grown as needed)."""
        if len(self.bar_ids) < count:
            if count > 1 << 16:
                return np.full(count, self.tok.bar_id, np.int32)
            self.bar_ids = np.full(max(count, 2 * len(self.bar_ids)), self.tok.bar_id, np.int32)
            self.bar_ids.flags.writeable = False
        return self.bar_ids[:count]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a 1-D array, without its first call importing ``numpy.ma`` (about 25 ms)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _changes(steps: np.ndarray, ids: np.ndarray, last_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Events up to ``last_step`` where the value changes (the first always counts)."""
    keep = steps <= last_step
    steps, ids = steps[keep], ids[keep]
    if len(steps) > 1:
        changed = np.ones(len(ids), bool)
        changed[1:] = ids[1:] != ids[:-1]
        steps, ids = steps[changed], ids[changed]
    return steps.astype(np.int64), ids.astype(np.int64)
