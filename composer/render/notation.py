"""A Score as a music21 stream: measures, voices, ties, meter, key, tempo and pickups.

The writing half of ``composer.io.notation`` (which reads music21 streams back
into Scores, with the same conventions); ``composer.render.musicxml`` exports
the stream as MusicXML. music21 is imported inside the functions.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from composer.errors import ScoreError
from composer.io.midi import DRUM_CHANNEL
from composer.io.notation import strain_end
from composer.render.spelling import Spelling, octave_of, spell_score
from composer.score import REPEATS_METADATA, Part, Score, bar_ticks
from composer.theory import partial_first_bar, pickup_bars

if TYPE_CHECKING:
    from music21 import chord, instrument, note, stream, tempo

Row = tuple[int, int, list[tuple[int, str]], int]  # (start tick, duration, [(pitch, spelled name)], velocity): one note or chord


def _voices(rows: list[Row]) -> list[list[Row]]:
    """Spread (start, duration, pitches, velocity) groups over as few non-overlapping voices as possible."""
    voices: list[list[Row]] = []
    ends: list[int] = []
    for row in rows:
        start, duration = row[0], row[1]
        for i, end in enumerate(ends):
            if end <= start:
                voices[i].append(row)
                ends[i] = start + duration
                break
        else:
            voices.append([row])
            ends.append(start + duration)
    return voices


def pitch_name(pitch: int, spelling: Spelling) -> str:
    """music21's name of a MIDI pitch spelled (step, alter): (61, ('D', -1)) -> 'D-4'."""
    step, alter = spelling
    return f"{step}{'#' * alter if alter > 0 else '-' * -alter}{octave_of(pitch, alter)}"


def _element(row: Row, ticks_per_beat: int, fermata: bool = False) -> note.Note | chord.Chord:
    """A note or chord of ``row``, under a fermata if asked."""
    from music21 import chord, expressions, note

    _, duration, pitches, velocity = row
    quarter_length = Fraction(duration, ticks_per_beat)
    names = [name for _, name in sorted(pitches)]
    if len(names) == 1:
        element = note.Note(names[0], quarterLength=quarter_length)
    else:
        element = chord.Chord(names, quarterLength=quarter_length)
    element.volume.velocity = velocity
    if fermata:
        fermata_sign = expressions.Fermata()
        fermata_sign.type = "upright"  # above the staff (music21's default, "inverted", hangs below)
        element.expressions.append(fermata_sign)  # music21 moves it to the last note of a tie it makes
    return element


def _move_pickup(part: stream.Part, pad: Fraction) -> None:
    """Turn a first measure that starts with ``pad`` quarters of rest into a pickup measure."""
    from music21 import note, stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        return
    first = measures[0]
    containers = [first, *first.getElementsByClass(stream.Voice)]
    for container in containers:
        for element in list(container):
            if isinstance(element, stream.Voice):
                continue
            if Fraction(element.offset) >= pad:
                container.setElementOffset(element, Fraction(element.offset) - pad)
            elif isinstance(element, note.Rest):
                container.remove(element)
            elif isinstance(element, note.GeneralNote):
                raise ScoreError("pickup bar holds notes before its first beat")
            # Clef, key and meter at offset 0 stay at the start of the pickup.
        container.coreElementsChanged()
    first.paddingLeft = float(pad) if Fraction(float(pad)) == pad else pad
    first.number = 0
    for i, measure in enumerate(measures[1:], start=1):
        part.setElementOffset(measure, Fraction(measure.offset) - pad)
        measure.number = i
    part.coreElementsChanged()


def _drop_repeated_signatures(part: stream.Part) -> None:
    """Remove the second copy of a key/meter/clef that makeNotation puts in a measure with voices."""
    from music21 import clef, key, meter, stream

    for measure in part.getElementsByClass(stream.Measure):
        seen: set[tuple[str, Fraction, str]] = set()
        for element in list(measure.getElementsByClass((key.KeySignature, meter.TimeSignature, clef.Clef))):
            mark = (type(element).__name__, Fraction(element.offset), str(element))
            if mark in seen:
                measure.remove(element)
            seen.add(mark)


def _instrument(part_info: Part) -> instrument.Instrument:
    from music21 import instrument

    if part_info.is_drum:
        inst = instrument.UnpitchedPercussion()
        inst.midiChannel = DRUM_CHANNEL  # music21 counts channels from 0, as MIDI does
    else:
        inst = instrument.instrumentFromMidiProgram(part_info.program)
        inst.midiProgram = part_info.program
    inst.partName = part_info.name
    return inst


def _insert_notes(part: stream.Part, score: Score, index: int, shift: int, spellings: list[Spelling], fermata_ticks: set[int]) -> None:
    """The part's notes, spelled, chords grouped, in as few voices as keep them from overlapping; a fermata on
    the note or chord that ends at each of ``fermata_ticks`` (the first voice's, of several)."""
    from music21 import stream

    tpb = score.ticks_per_beat
    which = np.flatnonzero(score.notes["part"] == index)
    mine = score.notes[which]
    groups: dict[tuple[int, int, int], list[tuple[int, str]]] = {}
    for i, start, duration, pitch, velocity in zip(
        which.tolist(), mine["start_tick"].tolist(), mine["duration_ticks"].tolist(), mine["pitch"].tolist(), mine["velocity"].tolist()
    ):
        groups.setdefault((start + shift, duration, velocity), []).append((pitch, pitch_name(pitch, spellings[i])))
    rows = sorted((s, d, p, v) for (s, d, v), p in groups.items())
    voices = _voices(rows)
    fermatas = {tick + shift for tick in fermata_ticks}

    def element(row: Row) -> note.Note | chord.Chord:
        end = row[0] + row[1]
        fermata = end in fermatas
        fermatas.discard(end)  # one fermata a phrase end: the first voice that ends there takes it
        return _element(row, tpb, fermata)

    if len(voices) <= 1:
        for row in voices[0] if voices else []:
            part.insert(Fraction(row[0], tpb), element(row))
        return
    for number, rows_of_voice in enumerate(voices):
        voice = stream.Voice(id=str(number + 1))
        for row in rows_of_voice:
            voice.insert(Fraction(row[0], tpb), element(row))
        part.insert(0, voice)


def tempo_beat(numerator: int, denominator: int) -> Fraction:
    """The beat a tempo mark counts in a meter, in quarter notes: a dotted quarter in 6/8, 9/8 and 12/8, else a quarter.

    Compound meters (a numerator of 6, 9, 12, ... : beats of three) count the
    dotted beat (a dotted half in 6/4, a dotted eighth in 6/16).
    """
    if numerator > 3 and numerator % 3 == 0:
        return Fraction(3 * 4, denominator)
    return Fraction(1)


def meter_at(signatures: list[tuple[int, int, int]], tick: int) -> tuple[int, int]:
    """(numerator, denominator) in force at ``tick`` of (tick, numerator, denominator) rows (4/4 before the first)."""
    now = (4, 4)
    for start, numerator, denominator in sorted(signatures):
        if start > tick:
            break
        now = (numerator, denominator)
    return now


def metronome_mark(qpm: float, meter: tuple[int, int]) -> tempo.MetronomeMark:
    """A tempo mark of ``qpm`` quarter notes a minute, counted in the meter's beat (``dotted quarter = 100`` in 6/8)."""
    from music21 import duration, tempo

    beat = tempo_beat(*meter)
    per_beat = qpm / float(beat)
    mark = tempo.MetronomeMark(number=round(per_beat), referent=duration.Duration(beat))  # a mark reads in whole beats a minute
    if abs(per_beat - round(per_beat)) > 1e-6:
        mark.numberSounding = per_beat  # playback keeps the exact tempo (152 quarters a minute is dotted quarter = 101)
    return mark


def _repeat_spans(score: Score) -> list[tuple[int, int]]:
    """The spans of ``Score.metadata["repeats"]`` as 0-based (first, last) complete bars, each kept only where the
    bars after it hold its notes again (an edited or transposed score is written out as it is)."""
    spans = []
    for item in score.metadata.get(REPEATS_METADATA, "").split(","):
        first, _, last = item.partition("-")
        if first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last) and _repeated(score, int(first) - 1, int(last)):
            spans.append((int(first) - 1, int(last) - 1))
    return [span for i, span in enumerate(spans) if i == 0 or span[0] > 2 * spans[i - 1][1] - spans[i - 1][0] + 1]


def _bar_ticks(score: Score, first: int, stop: int) -> tuple[int, int]:
    """Ticks [start, end) of complete bars first..stop-1 (0-based), or (0, 0) past the score's end."""
    starts = score.bar_starts(score.end_tick + 1)
    a, b = first + pickup_bars(score), stop + pickup_bars(score)
    return (int(starts[a]), int(starts[b])) if b < len(starts) else (0, 0)


def _notes_between(score: Score, start: int, end: int) -> np.ndarray:
    notes = score.notes[(score.notes["start_tick"] >= start) & (score.notes["start_tick"] < end)].copy()
    notes["start_tick"] -= start
    return notes


def _repeated(score: Score, first: int, stop: int) -> bool:
    """Bars first..stop-1 are followed by the same notes again, in a constant meter (the second time ends the score or a bar)."""
    start, end = _bar_ticks(score, first, stop)
    again = _bar_ticks(score, stop, 2 * stop - first)
    one_meter = len(score.time_signatures) <= 1 + pickup_bars(score)
    return one_meter and end > start and again[0] == end and np.array_equal(_notes_between(score, start, end), _notes_between(score, *again))


def fold_repeats(score: Score) -> tuple[Score, list[tuple[int, int]]]:
    """The score with each written-out repeat that ``metadata["repeats"]`` names taken out, and the measures
    (0-based, a pickup counted) that go between repeat signs."""
    measures = []
    for first, last in reversed(_repeat_spans(score)):
        start, end = _bar_ticks(score, first, last + 1)
        length = end - start
        notes = score.notes
        keep = (notes["start_tick"] < end) | (notes["start_tick"] >= end + length)
        moved = notes[keep].copy()
        moved["start_tick"][moved["start_tick"] >= end] -= length
        events = {}
        for name in ("key_signatures", "tempos", "markers"):
            arr = getattr(score, name)
            arr = arr[(arr["tick"] < end) | (arr["tick"] >= end + length)].copy()
            arr["tick"][arr["tick"] >= end] -= length
            events[name] = arr
        score = score.replace(notes=moved, **events)
        measures = [(a - (last - first + 1), b - (last - first + 1)) for a, b in measures]
        measures.insert(0, (first + pickup_bars(score), last + pickup_bars(score)))
    return score, measures


def _sign_repeats(part: stream.Part, measures: list[tuple[int, int]]) -> None:
    """Repeat barlines around each (first, last) measure span."""
    from music21 import bar, stream

    found = list(part.getElementsByClass(stream.Measure))
    for first, last in measures:
        if last < len(found):
            found[first].leftBarline = bar.Repeat(direction="start")
            found[last].rightBarline = bar.Repeat(direction="end")


def written_sections(score: Score) -> list[int]:
    """The section starts a reader can find again: after the first downbeat (a pickup's end), with notes on both sides."""
    pickup = partial_first_bar(score)
    first_downbeat = pickup[0] if pickup is not None else 0
    return [t for t in score.section_start_ticks.tolist() if t > first_downbeat and strain_end(score.notes, t) is not None]


def fermata_ticks(score: Score, sections: list[int]) -> set[int]:
    """The phrase ends written as fermatas: all but the strain ends (``composer.io.notation.strain_end``) before
    ``sections``, which their rehearsal marks give back on reading (a reel's strain ends under no fermata)."""
    return set(score.phrase_end_ticks.tolist()) - {strain_end(score.notes, tick) for tick in sections}


def section_label(number: int) -> str:
    """The rehearsal mark of the ``number``-th section start (from 0): B, C, ... (the piece opens section A), then 27, 28, ..."""
    return chr(ord("B") + number) if number < 25 else str(number + 2)


def to_music21(score: Score) -> stream.Score:
    """A ``music21.stream.Score`` with one Part per part, measures, ties, meter, key and tempo; a section that
    ``metadata["repeats"]`` names is written once between repeat signs (``fold_repeats``). Each section start
    is a rehearsal mark (``section_label``) in the top part, each other phrase end a fermata there
    (``Score.markers``, as ``composer.io.notation`` reads them)."""
    from music21 import expressions, key, meter, metadata, note, stream, tempo

    score, repeats = fold_repeats(score)
    sections = written_sections(score)
    fermatas = fermata_ticks(score, sections)
    tpb = score.ticks_per_beat
    pickup = partial_first_bar(score)
    shift = 0
    signatures = [(int(t), int(n), int(d)) for t, n, d in score.time_signatures.tolist()]
    if pickup is not None:
        pickup_ticks, real = pickup
        shift = int(round(bar_ticks(*real, tpb))) - pickup_ticks
        signatures = [(0, *real)] + [(t + shift, n, d) for t, n, d in signatures[2:]]

    def at(tick: int) -> Fraction:
        return Fraction(tick + shift if tick else 0, tpb)

    event_ticks = [int(t) + shift for t in np.concatenate([score.key_signatures["tick"], score.tempos["tick"]]).tolist()]
    end = max([score.end_tick + shift, 1, *[t for t, _, _ in signatures], *event_ticks])

    out = stream.Score()
    out.metadata = metadata.Metadata()
    out.metadata.title = score.title
    if "composer" in score.metadata:
        out.metadata.composer = score.metadata["composer"]
    parts = score.parts or (Part("Part 1"),)
    spellings = spell_score(score)
    for index, part_info in enumerate(parts):
        part = stream.Part()
        part.partName = part_info.name
        part.id = f"P{index + 1}"
        part.insert(0, _instrument(part_info))
        for tick, numerator, denominator in signatures:
            part.insert(Fraction(tick, tpb), meter.TimeSignature(f"{numerator}/{denominator}"))
        for tick, sharps, minor in score.key_signatures.tolist():
            part.insert(at(int(tick)), key.KeySignature(int(sharps)).asKey("minor" if minor else "major"))
        if index == 0:
            for tick, qpm in score.tempos.tolist():
                part.insert(at(int(tick)), metronome_mark(float(qpm), meter_at(signatures, int(tick) + shift if tick else 0)))
            for number, tick in enumerate(sections):
                part.insert(at(tick), expressions.RehearsalMark(section_label(number)))
        _insert_notes(part, score, index, shift, spellings, fermatas if index == 0 else set())
        # Every part runs to the score's end, so meter changes after a part's last note still make bars.
        filler = Fraction(end, tpb) - Fraction(part.highestTime)
        if filler > 0:
            part.insert(Fraction(part.highestTime), note.Rest(quarterLength=filler))
        part.makeNotation(inPlace=True)
        _drop_repeated_signatures(part)
        if pickup is not None:
            _move_pickup(part, Fraction(shift, tpb))
        _sign_repeats(part, repeats)
        out.insert(0, part)
    return out
