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
from composer.theory import partial_first_bar
from composer.score import Part, Score, bar_ticks

if TYPE_CHECKING:
    from music21 import chord, instrument, note, stream

Row = tuple[int, int, list[int], int]  # (start tick, duration, pitches, velocity): one note or chord


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


def _element(row: Row, ticks_per_beat: int) -> note.Note | chord.Chord:
    from music21 import chord, note

    _, duration, pitches, velocity = row
    quarter_length = Fraction(duration, ticks_per_beat)
    if len(pitches) == 1:
        element = note.Note(pitches[0], quarterLength=quarter_length)
    else:
        element = chord.Chord(sorted(pitches), quarterLength=quarter_length)
    element.volume.velocity = velocity
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


def _insert_notes(part: stream.Part, score: Score, index: int, shift: int) -> None:
    """The part's notes, chords grouped, in as few voices as keep them from overlapping."""
    from music21 import stream

    tpb = score.ticks_per_beat
    mine = score.notes[score.notes["part"] == index]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for start, duration, pitch, velocity in zip(
        mine["start_tick"].tolist(), mine["duration_ticks"].tolist(), mine["pitch"].tolist(), mine["velocity"].tolist()
    ):
        groups.setdefault((start + shift, duration, velocity), []).append(pitch)
    rows = sorted((s, d, p, v) for (s, d, v), p in groups.items())
    voices = _voices(rows)
    if len(voices) <= 1:
        for row in voices[0] if voices else []:
            part.insert(Fraction(row[0], tpb), _element(row, tpb))
        return
    for number, rows_of_voice in enumerate(voices):
        voice = stream.Voice(id=str(number + 1))
        for row in rows_of_voice:
            voice.insert(Fraction(row[0], tpb), _element(row, tpb))
        part.insert(0, voice)


def to_music21(score: Score) -> stream.Score:
    """A ``music21.stream.Score`` with one Part per part, measures, ties, meter, key and tempo."""
    from music21 import key, meter, metadata, note, stream, tempo

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
                part.insert(at(int(tick)), tempo.MetronomeMark(number=round(float(qpm), 3), referent=1.0))
        _insert_notes(part, score, index, shift)
        # Every part runs to the score's end, so meter changes after a part's last note still make bars.
        filler = Fraction(end, tpb) - Fraction(part.highestTime)
        if filler > 0:
            part.insert(Fraction(part.highestTime), note.Rest(quarterLength=filler))
        part.makeNotation(inPlace=True)
        _drop_repeated_signatures(part)
        if pickup is not None:
            _move_pickup(part, Fraction(shift, tpb))
        out.insert(0, part)
    return out
