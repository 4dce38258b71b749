"""Input limits: the one home of how much music composer reads, tokenizes or writes.

A small file can claim an enormous piece (one note of 10^8 ticks, a meter of
1000000/1, a zip that inflates a thousandfold). Every reader checks what a file
claims against these limits before the work it implies (music21's notation
pass, a bar per bar, a sample per second of audio) starts, and every writer
checks again, since a Score can also be built in Python. The README lists them.

This module imports nothing but ``composer.errors``; the checks of a Score
read only its small arrays and never allocate per bar or per tick.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import TYPE_CHECKING

from composer.errors import ComposerError, ReadError

if TYPE_CHECKING:
    from composer.score import Score

MAX_INPUT_BYTES = 64 * 1024 * 1024  # a file read, or an .mxl archive's contents once inflated
MAX_NOTES = 200_000  # notes in one piece
MAX_PARTS = 128  # parts (tracks, staves) in one piece
MAX_NOTE_BEATS = 1024  # the longest note, in quarter notes (256 bars of 4/4)
MAX_PIECE_BEATS = 40_000  # the longest piece, in quarter notes (5.5 hours at 120 per minute)
MAX_BARS = 10_000  # the most bars (measures) in one piece
MAX_NUMERATOR = 64  # a time signature's largest numerator
MAX_DENOMINATOR = 64  # and largest denominator
MAX_AUDIO_SECONDS = 3600.0  # the longest WAV composer writes
MAX_MIDI_DELTA = (1 << 28) - 1  # MIDI's variable-length numbers hold 28 bits

ErrorType = type[ComposerError]


def _refuse(source: str, what: str, value: object, limit: object, error: ErrorType) -> ComposerError:
    return error(f"{source}: {what} is {value}; composer handles at most {limit}")


def check_size(nbytes: int, source: str, what: str = "file size", error: ErrorType = ReadError) -> None:
    """Refuse more than ``MAX_INPUT_BYTES`` (a file, or an archive's inflated contents)."""
    if nbytes > MAX_INPUT_BYTES:
        raise _refuse(source, what, f"{nbytes:,} bytes", f"{MAX_INPUT_BYTES:,} bytes", error)


def check_meter(numerator: int, denominator: int, source: str, error: ErrorType = ReadError) -> None:
    """Refuse a time signature beyond ``MAX_NUMERATOR``/``MAX_DENOMINATOR``."""
    if numerator > MAX_NUMERATOR or denominator > MAX_DENOMINATOR:
        raise _refuse(source, "the time signature", f"{numerator}/{denominator}", f"{MAX_NUMERATOR}/{MAX_DENOMINATOR}", error)


def check_count(count: int, limit: int, what: str, source: str, error: ErrorType = ReadError) -> None:
    if count > limit:
        raise _refuse(source, what, f"{count:,}", f"{limit:,}", error)


_METER_TEXT = re.compile(r"(?<![\w.])(\d+)\s*/\s*(\d+)(?![\w.])")


def check_meters_in_text(text: str, source: str, error: ErrorType = ReadError) -> None:
    """Check every ``N/D`` of a meter line (ABC's ``M:``, TinyNotation's ``3/4``) before music21 sees it.

    music21 builds a bar at a time from the meter; ``M:1000000/1`` never finishes.
    Numbers are compared by length first, so a thousand-digit numerator costs nothing.
    """
    for match in _METER_TEXT.finditer(text):
        num, den = match.group(1), match.group(2)
        if len(num) > 6 or len(den) > 6:
            raise _refuse(source, "the time signature", f"{num[:12]}/{den[:12]}", f"{MAX_NUMERATOR}/{MAX_DENOMINATOR}", error)
        check_meter(int(num), int(den), source, error)


def bar_count(score: Score, end_tick: int) -> int:
    """Bars from tick 0 to ``end_tick`` under the score's meters, counted per meter (no array per bar)."""
    ts = score.time_signatures
    ticks = ts["tick"].tolist()
    total = 0
    for i, (tick, num, den) in enumerate(zip(ticks, ts["numerator"].tolist(), ts["denominator"].tolist())):
        stop = ticks[i + 1] if i + 1 < len(ticks) else max(end_tick, tick + 1)
        if stop > tick:
            length = max(1, round(Fraction(4 * num * score.ticks_per_beat, den)))
            total += -(-(stop - tick) // length)
    return max(total, 1)


_passed: list[tuple] = []  # the last Score that passed, with what it held: a reader's check makes the tokenizer's a lookup


def _held(score: Score) -> tuple:
    """What a Score's limits depend on, by identity (its arrays are read-only)."""
    return (score, score.notes, score.parts, score.ticks_per_beat, score.time_signatures, score.key_signatures, score.tempos, score.markers)


def check_score(score: Score, source: str, error: ErrorType = ReadError) -> Score:
    """Refuse a score beyond any limit (parts, notes, meter, longest note, length in beats and bars).

    A Score's arrays are read-only, so the one that passed last, holding the same
    objects, passes again without a second look: ``composer tokenize`` reads each file
    (checked) and encodes it (checked again, for Scores built in Python).
    """
    if _passed and all(a is b for a, b in zip(_passed[0], _held(score))):
        return score
    tpb = score.ticks_per_beat
    check_count(len(score.parts), MAX_PARTS, "the number of parts", source, error)
    check_count(len(score.notes), MAX_NOTES, "the number of notes", source, error)
    ts = score.time_signatures
    if len(ts):
        check_meter(int(ts["numerator"].max()), int(ts["denominator"].max()), source, error)
    end = 0
    if len(score.notes):
        longest = int(score.notes["duration_ticks"].max())
        if longest > MAX_NOTE_BEATS * tpb:
            raise _refuse(source, "the longest note", f"{longest / tpb:,.0f} quarter notes", f"{MAX_NOTE_BEATS:,}", error)
        end = int((score.notes["start_tick"].astype("int64") + score.notes["duration_ticks"]).max())
    check_count(len(score.markers), MAX_NOTES, "the number of markers", source, error)
    for events in (ts, score.key_signatures, score.tempos, score.markers):
        if len(events):
            end = max(end, int(events["tick"].max()))
    if end > MAX_PIECE_BEATS * tpb:
        raise _refuse(source, "the length", f"{end / tpb:,.0f} quarter notes", f"{MAX_PIECE_BEATS:,}", error)
    bars = bar_count(score, end)
    check_count(bars, MAX_BARS, "the number of bars", source, error)
    _passed[:] = [_held(score)]
    return score


def check_audio_seconds(seconds: float, source: str, error: ErrorType) -> None:
    if not seconds <= MAX_AUDIO_SECONDS:  # (NaN too)
        raise _refuse(source, "the audio length", f"{seconds:,.0f} s", f"{MAX_AUDIO_SECONDS:,.0f} s", error)
