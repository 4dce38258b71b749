"""Decoding ``ids -> Score``: the grammar walker follows the ids, this collects what it finds.

Never raises for any id sequence; the rules for malformed input are the
walker's (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Sequence

import numpy as np

from composer.score import (
    DEFAULT_TICKS_PER_BEAT,
    DEFAULT_VELOCITY,
    KEY_SIGNATURE_DTYPE,
    NOTE_DTYPE,
    SHARPS_MIN,
    TEMPO_DTYPE,
    TIME_SIGNATURE_DTYPE,
    Part,
    Score,
)
from composer.tokens.grammar import LENGTHENED, Walker
from composer.tokens.vocab import DRUMS, K_DURATION, K_EOS, K_KEY, K_TEMPO, K_TIMESIG

if TYPE_CHECKING:
    from composer.tokens.tokenizer import Tokenizer


@dataclass
class _Events:
    """What a walk over the ids found, in grid steps."""

    start: list[int] = field(default_factory=list)
    duration: list[int] = field(default_factory=list)
    pitch: list[int] = field(default_factory=list)
    part: list[int] = field(default_factory=list)
    meters: list[tuple[int, int, int]] = field(default_factory=list)  # (step, numerator, denominator)
    keys: list[tuple[int, int, bool]] = field(default_factory=list)  # (step, sharps, minor)
    tempos: list[tuple[int, float]] = field(default_factory=list)  # (step, qpm)


def decode(tok: "Tokenizer", ids: Sequence[int] | np.ndarray, ticks_per_beat: int | None = None) -> Score:
    """A Score from token ids (``Tokenizer.decode``)."""
    spb = tok.config.steps_per_beat
    tpb = ticks_per_beat or (DEFAULT_TICKS_PER_BEAT if DEFAULT_TICKS_PER_BEAT % spb == 0 else spb)
    walker = Walker(tok.grammar)
    events = _walk(tok, walker, np.asarray(ids, dtype=np.int64).ravel().tolist() if len(ids) else [])
    style = tok.config.all_styles[walker.style] if walker.style is not None else None
    parts = _parts(tok, style, walker.programs, max(events.part) + 1 if events.part else 0)
    return _score(events, parts, style, tpb, Fraction(tpb, spb))


def _walk(tok: "Tokenizer", walker: Walker, ids: list[int]) -> _Events:
    """Feed every id to the walker and collect the notes and the meter, key and tempo events."""
    events = _Events(meters=[(0, *tok.timesig_values[tok.default_timesig])])  # bar 1's meter until a TimeSig says
    start, duration, pitch, part = events.start, events.duration, events.pitch, events.part
    meters = events.meters
    feed = walker.feed
    for token in ids:
        kind = feed(token)
        if kind < K_TIMESIG:
            if kind == K_EOS:
                break
        elif kind == K_DURATION:  # a note is complete
            start.append(walker.onset)
            pitch.append(walker.pitch)
            part.append(walker.part)
            duration.append(walker.value)
        elif kind == LENGTHENED:
            duration[-1] += walker.value
        elif kind == K_TIMESIG:
            bar_start = walker.bar_start
            num, den = tok.timesig_values[walker.value]
            if meters and meters[-1][0] == bar_start:
                meters.pop()
            if not meters or meters[-1][1:] != (num, den):
                meters.append((bar_start, num, den))
        elif kind == K_KEY:
            events.keys.append((walker.onset, walker.value // 2 + SHARPS_MIN, bool(walker.value % 2)))
        elif kind == K_TEMPO:
            events.tempos.append((walker.onset, float(tok.config.tempos_qpm[walker.value])))
    if walker.bar < 0:  # no bar was opened: no meter either
        meters.clear()
    return events


def _parts(tok: "Tokenizer", style: str | None, programs: list[int], note_parts: int) -> list[Part]:
    """One Part per header Program (and per part a note names beyond them), named as the style names them."""
    names = tok.part_names.get(style or "", ())
    parts = []
    for i in range(max(len(programs), note_parts)):
        program = programs[i] if i < len(programs) else 0
        name = names[i] if i < len(names) and len(programs) == len(names) else (DRUMS if program == 128 else f"Part {i + 1}")
        parts.append(Part(name=name, program=0 if program == 128 else program, is_drum=program == 128))
    return parts


def _score(events: _Events, parts: list[Part], style: str | None, tpb: int, scale: Fraction) -> Score:
    """The Score of collected events, steps scaled to ticks."""
    notes = np.zeros(len(events.start), NOTE_DTYPE)
    notes["start_tick"] = np.asarray(events.start, np.int64) * scale.numerator // scale.denominator
    notes["duration_ticks"] = np.maximum(np.asarray(events.duration, np.int64) * scale.numerator // scale.denominator, 1)
    notes["pitch"] = events.pitch
    notes["part"] = events.part
    notes["velocity"] = DEFAULT_VELOCITY

    def ticks(rows: list, dtype: np.dtype) -> np.ndarray:
        arr = np.array(rows, dtype) if rows else np.zeros(0, dtype)
        arr["tick"] = arr["tick"] * scale.numerator // scale.denominator
        return arr

    return Score(
        notes,
        parts,
        ticks_per_beat=tpb,
        time_signatures=ticks(events.meters, TIME_SIGNATURE_DTYPE),
        key_signatures=_dedupe(ticks(events.keys, KEY_SIGNATURE_DTYPE), ("sharps", "minor")),
        tempos=_dedupe(ticks(events.tempos, TEMPO_DTYPE), ("qpm",)),
        metadata={"style": style} if style else {},
        _trusted=True,
    )


def _dedupe(events: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    """Events whose fields differ from the event before (the first always counts)."""
    if len(events) < 2:
        return events
    same = np.ones(len(events) - 1, bool)
    for name in fields:
        same &= events[name][1:] == events[name][:-1]
    return events[np.concatenate([[True], ~same])]
