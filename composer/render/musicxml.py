"""MusicXML (.musicxml) and compressed MusicXML (.mxl) output that notation software opens cleanly.

The notes go through ``composer.render.notation.to_music21`` and music21's MusicXML
exporter (measures, ties across barlines, beams, tuplets, voices); the XML is
then corrected with the standard library's ElementTree:

* part ids ``P1``, ``P2``, ...; every ``<score-part>`` gets a ``<score-instrument>``
  and a ``<midi-instrument>`` (the part's General MIDI program and the MIDI
  writer's channel, ``composer.io.midi.channels``, counted from 1 as MusicXML
  counts: drums on ``DRUM_CHANNEL + 1`` = 10), so MuseScore keeps part names;
* tempo marks only in the first part (music21 repeats them in every part);
* one clef a part, chosen from the part's voice name or median pitch (see
  ``choose_clef``); drum parts get a percussion clef and ``<unpitched>`` notes
  at their usual drum-set place (``DRUM_DISPLAY``: kick F4, snare C5, hi-hat
  G5 with x noteheads, ...), each naming its ``<score-instrument>``, whose
  ``<midi-instrument>`` gives the General MIDI drum key (``<midi-unpitched>``);
* a pickup bar is written as measure 0 with ``implicit="yes"``;
* voices numbered from 1 in each part (music21 may start at 0); rests music21
  hides to fill gaps are shown again, except in voices 2 and up, where hidden
  filler rests are the usual engraving;
* the title goes to ``<work-title>`` and ``<movement-title>``; ``Score.metadata``
  (model, settings, seed, ...) to ``<miscellaneous-field name=...>`` entries,
  ``composer`` to ``<creator type="composer">``; ``<encoding>`` names
  ``composer <version>``, and the date only where ``$SOURCE_DATE_EPOCH`` gives
  one (``encoding_date``), so the same score gives the same bytes on any day;
* pitches are spelled from the key and context (``composer.render.spelling``);
  tempo marks count the meter's beat (a dotted quarter in 6/8).
* structure markers as ``composer.io.notation`` reads them back: a section
  start is a rehearsal mark (B, C, ...) in the top part, and a phrase end
  (other than the strain end a rehearsal mark implies) a fermata on the top
  part's note or chord that ends there (``composer.render.notation.to_music21``).

Times not on a grid of ``NOTATION_STEPS_PER_BEAT`` steps a quarter note (the
tokenizer's default grid: 32nds, triplets, sextuplets) are quantized to it
first, since notation cannot show arbitrary tick lengths.

``.mxl`` files are zipped here (``mimetype``, ``META-INF/container.xml``,
``score.musicxml``): music21's own mxl writer deletes a ``X.musicxml`` that
sits beside ``X.mxl``.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import os
import re
import statistics
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from composer.errors import ComposerError, WriteError
from composer.io import save_bytes
from composer.io.midi import channels
from composer.io.notation import quiet_music21
from composer.render.notation import to_music21
from composer.score import Score, quantize, resample

NOTATION_STEPS_PER_BEAT = 24
MXL_MIMETYPE = "application/vnd.recordare.musicxml"
MXL_ROOTFILE = "score.musicxml"
MUSICXML_MEDIA_TYPE = "application/vnd.recordare.musicxml+xml"
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"  # https://reproducible-builds.org/specs/source-date-epoch/
DEFAULT_DRUM_KEY = 38  # acoustic snare, for a drum part without notes
_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
    '"http://www.musicxml.org/dtds/partwise.dtd">\n'
)
_CONTAINER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<container>\n"
    "  <rootfiles>\n"
    f'    <rootfile full-path="{MXL_ROOTFILE}" media-type="{MUSICXML_MEDIA_TYPE}"/>\n'
    "  </rootfiles>\n"
    "</container>\n"
)

# Clefs as (sign, line, octave change).
TREBLE = ("G", 2, 0)
TREBLE_8VB = ("G", 2, -1)
BASS = ("F", 4, 0)
PERCUSSION = ("percussion", None, 0)
# By median pitch (MIDI numbers): from middle C up treble clef, from G3 up the
# tenor's treble-8vb clef, lower bass clef. Bach's tenors centre on G3..E4 and
# his basses on B flat 2..A flat 3 (midi_corpus/chorales), so a voice's name
# decides where the ranges overlap.
TREBLE_FROM = 60
TENOR_FROM = 55
_NAME_CLEFS = (  # first match wins: "Bass Guitar" is a bass
    (re.compile(r"\b(soprano|alto|treble|descant)\b", re.IGNORECASE), TREBLE, 60),
    (re.compile(r"\b(bass|baritone|basso|contrabass|cello|violoncello|bassoon|tuba)\b", re.IGNORECASE), BASS, 50),
    (re.compile(r"\btenor\b|\bguitar", re.IGNORECASE), TREBLE_8VB, 57),
)
# General MIDI drum key -> (display step, display octave, notehead) on a five-line
# percussion staff (positions as in treble clef), after the usual drum-set key.
DRUM_DISPLAY: dict[int, tuple[str, int, str]] = {
    35: ("E", 4, "normal"), 36: ("F", 4, "normal"),  # bass drums
    37: ("C", 5, "x"), 38: ("C", 5, "normal"), 39: ("C", 5, "x"), 40: ("C", 5, "normal"),  # side stick, snares, clap
    41: ("G", 4, "normal"), 43: ("A", 4, "normal"), 45: ("B", 4, "normal"),  # floor and low toms
    47: ("D", 5, "normal"), 48: ("E", 5, "normal"), 50: ("F", 5, "normal"),  # mid and high toms
    42: ("G", 5, "x"), 44: ("D", 4, "x"), 46: ("G", 5, "circle-x"),  # hi-hats: closed, pedal, open
    49: ("A", 5, "x"), 57: ("A", 5, "x"), 52: ("B", 5, "circle-x"), 55: ("B", 5, "x"),  # crashes, china, splash
    51: ("F", 5, "x"), 59: ("F", 5, "x"), 53: ("F", 5, "diamond"),  # rides, ride bell
    54: ("E", 5, "diamond"), 56: ("A", 5, "triangle"),  # tambourine, cowbell
}
DRUM_DEFAULT_DISPLAY = ("C", 5, "triangle")  # keys without a place of their own
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_GUITAR_PROGRAMS = range(24, 32)  # General MIDI guitars: written an octave above sounding
NAME_HINT_REACH = 9  # semitones a median may lie from a named voice's usual centre


def choose_clef(pitches: Any, is_drum: bool = False, name: str = "", program: int = 0) -> tuple[str, int | None, int]:
    """(sign, line, octave change) for a part: its voice name if it has one that fits, else its median pitch."""
    if is_drum:
        return PERCUSSION
    pitches = [int(p) for p in np.asarray(pitches).tolist()]
    if not pitches:
        return TREBLE
    median = statistics.median(pitches)
    for pattern, clef, centre in _NAME_CLEFS:
        if pattern.search(name or "") and abs(median - centre) <= NAME_HINT_REACH:
            return clef
    if program in _GUITAR_PROGRAMS and abs(median - 57) <= NAME_HINT_REACH:
        return TREBLE_8VB
    if median >= TREBLE_FROM:
        return TREBLE
    if median >= TENOR_FROM:
        return TREBLE_8VB
    return BASS


def _version() -> str:
    from composer import __version__

    return __version__


def encoding_date() -> str | None:
    """The ``<encoding-date>``: the day of ``$SOURCE_DATE_EPOCH`` (UTC) where set, else none at all.

    The reproducible-builds convention: the same score and seed give the same
    bytes on any day, and a build system that wants a date sets it.
    """
    raw = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if not raw:
        return None
    try:
        seconds = int(raw)
    except ValueError:
        raise WriteError(f"{SOURCE_DATE_EPOCH} must be a whole number of seconds since 1970, got {raw!r}") from None
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).date().isoformat()
    except (OverflowError, OSError, ValueError):
        raise WriteError(f"{SOURCE_DATE_EPOCH}={raw} is out of range for a date") from None


def check_renderable(score: Score, what: str = "output") -> None:
    """Raise WriteError for a score with nothing to show."""
    if len(score.notes) == 0:
        raise WriteError(f"cannot write {what}: the score has no notes")


def notation_grid(score: Score, steps_per_beat: int = NOTATION_STEPS_PER_BEAT) -> Score:
    """The score itself when every time is on the notation grid, else a copy quantized to it."""
    tpb = score.ticks_per_beat
    if tpb % steps_per_beat == 0:
        step = tpb // steps_per_beat
        notes = score.notes
        times = [notes["start_tick"], notes["duration_ticks"], score.time_signatures["tick"], score.key_signatures["tick"], score.tempos["tick"]]
        times.append(score.markers["tick"])
        if all(not len(t) or not (t % step).any() for t in times):
            return score
    if tpb % steps_per_beat:
        score = resample(score, steps_per_beat * max(1, round(tpb / steps_per_beat)))
    return quantize(score, steps_per_beat)


def _music21_xml(score: Score) -> bytes:
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    with quiet_music21():
        m21 = to_music21(score)
        _respell_accidentals(m21)
        return GeneralObjectExporter(m21).parse()


def _respell_accidentals(m21: Any) -> None:
    """Show accidentals only where the key and the bar need them.

    A music21 pitch made from a MIDI number carries an explicit natural, which
    music21 then prints on every natural note (a natural sign on each D in
    B flat major): drop those and let music21 decide again, bar by bar.
    """
    for part in m21.parts:
        for element in part.recurse().notes:
            for p in element.pitches:
                if p.accidental is not None and p.accidental.name == "natural":
                    p.accidental = None
        part.makeAccidentals(inPlace=True, overrideStatus=True)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _insert_after(parent: ET.Element, element: ET.Element, after: tuple[str, ...]) -> None:
    """Insert ``element`` after the last child whose tag is in ``after`` (else first)."""
    index = 0
    for i, child in enumerate(list(parent)):
        if child.tag in after:
            index = i + 1
    parent.insert(index, element)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    """``value`` as text XML 1.0 can hold (control characters dropped)."""
    return _NOT_XML.sub("", str(value))


def _xml_safe(score: Score) -> Score:
    """The score with control characters dropped from its title, metadata and part names."""
    texts = [score.title, *score.metadata.keys(), *score.metadata.values(), *(p.name for p in score.parts)]
    if not any(_NOT_XML.search(str(t)) for t in texts):
        return score
    return score.replace(
        title=_text(score.title),
        metadata={_text(k): _text(v) for k, v in score.metadata.items()},
        parts=tuple(dataclasses.replace(p, name=_text(p.name)) for p in score.parts),
    )


def _abbreviation(name: str) -> str:
    name = name.strip()
    return name if len(name) <= 4 else name[:3].rstrip() + "."


def _fix_header(root: ET.Element, score: Score) -> None:
    for tag in ("work", "movement-number", "movement-title"):
        for element in root.findall(tag):
            root.remove(element)
    position = 0
    title = _text(score.title).strip()
    if title:
        work = ET.Element("work")
        _sub(work, "work-title", title)
        root.insert(position, work)
        movement = ET.Element("movement-title")
        movement.text = title
        root.insert(position + 1, movement)

    identification = root.find("identification")
    if identification is None:
        identification = ET.Element("identification")
        _insert_after(root, identification, ("work", "movement-number", "movement-title"))
    for creator in identification.findall("creator"):
        identification.remove(creator)
    for child in identification.findall("miscellaneous"):
        identification.remove(child)
    if score.metadata.get("composer"):
        creator = ET.Element("creator", {"type": "composer"})
        creator.text = _text(score.metadata["composer"])
        identification.insert(0, creator)
    encoding = identification.find("encoding")
    if encoding is None:
        encoding = ET.Element("encoding")
        _insert_after(identification, encoding, ("creator", "rights"))
    for child in encoding.findall("encoding-date") + encoding.findall("software"):
        if child.tag == "encoding-date" or not (child.text or "").startswith("music21"):
            encoding.remove(child)
    software = ET.Element("software")
    software.text = f"composer {_version()}"
    encoding.insert(0, software)
    date = encoding_date()
    if date is not None:
        stamp = ET.Element("encoding-date")
        stamp.text = date
        encoding.insert(0, stamp)
    fields = {k: v for k, v in score.metadata.items() if k != "composer"}
    if fields:
        misc = _sub(identification, "miscellaneous")
        for name, value in fields.items():
            _sub(misc, "miscellaneous-field", _text(value), name=_text(name))


def _fix_part_list(root: ET.Element, score: Score) -> list[str]:
    """Rebuild each <score-part>; returns the old part ids in order."""
    import pretty_midi

    part_list = root.find("part-list")
    if part_list is None:
        raise WriteError("music21 wrote MusicXML without a <part-list>")
    score_parts = part_list.findall("score-part")
    numbers = [channel + 1 for channel in channels(score.parts)]  # MusicXML counts channels from 1
    old_ids = []
    for index, (element, info) in enumerate(zip(score_parts, score.parts)):
        old_ids.append(element.get("id", ""))
        part_id = f"P{index + 1}"
        instrument_id = f"{part_id}-I1"
        for child in list(element):
            element.remove(child)
        element.set("id", part_id)
        name = _text(info.name).strip() or f"Part {index + 1}"
        _sub(element, "part-name", name)
        _sub(element, "part-abbreviation", _abbreviation(name))
        if info.is_drum:
            keys = sorted(set(score.part_notes(index)["pitch"].tolist())) or [DEFAULT_DRUM_KEY]
            for key in keys:
                instrument = _sub(element, "score-instrument", id=_drum_instrument_id(part_id, key))
                _sub(instrument, "instrument-name", pretty_midi.note_number_to_drum_name(key) or f"Drum {key}")
            for key in keys:
                midi = _sub(element, "midi-instrument", id=_drum_instrument_id(part_id, key))
                _sub(midi, "midi-channel", str(numbers[index]))
                _sub(midi, "midi-unpitched", str(key + 1))
            continue
        instrument = _sub(element, "score-instrument", id=instrument_id)
        _sub(instrument, "instrument-name", pretty_midi.program_to_instrument_name(info.program))
        midi = _sub(element, "midi-instrument", id=instrument_id)
        _sub(midi, "midi-channel", str(numbers[index]))
        _sub(midi, "midi-program", str(info.program + 1))
    return old_ids


def _drum_instrument_id(part_id: str, key: int) -> str:
    return f"{part_id}-I{key + 1}"


def _midi_key(pitch: ET.Element) -> int:
    step = _STEPS[(pitch.findtext("step") or "C").strip()]
    alter = round(float(pitch.findtext("alter") or 0))
    octave = int(pitch.findtext("octave") or 4)
    return (octave + 1) * 12 + step + alter


# Children of <note> that come after <instrument>, in schema order.
_AFTER_INSTRUMENT = ("footnote", "level", "voice", "type", "dot", "accidental", "time-modification", "stem", "notehead",
                     "notehead-text", "staff", "beam", "notations", "lyric", "play", "listen")
_AFTER_NOTEHEAD = ("notehead-text", "staff", "beam", "notations", "lyric", "play", "listen")


def _insert_before(parent: ET.Element, element: ET.Element, before: tuple[str, ...]) -> None:
    """Insert ``element`` before the first child whose tag is in ``before`` (else last)."""
    for i, child in enumerate(list(parent)):
        if child.tag in before:
            parent.insert(i, element)
            return
    parent.append(element)


def _unpitch_drums(part: ET.Element, part_id: str) -> None:
    """Drum notes as <unpitched> at their drum-set place, with their instrument and notehead."""
    for note in part.iter("note"):
        pitch = note.find("pitch")
        if pitch is None:
            continue
        key = _midi_key(pitch)
        step, octave, head = DRUM_DISPLAY.get(key, DRUM_DEFAULT_DISPLAY)
        unpitched = ET.Element("unpitched")
        _sub(unpitched, "display-step", step)
        _sub(unpitched, "display-octave", str(octave))
        note.insert(list(note).index(pitch), unpitched)
        note.remove(pitch)
        for tag in ("accidental", "stem", "notehead", "instrument"):
            for child in note.findall(tag):
                note.remove(child)
        _insert_before(note, ET.Element("instrument", {"id": _drum_instrument_id(part_id, key)}), _AFTER_INSTRUMENT)
        if head != "normal":
            notehead = ET.Element("notehead")
            notehead.text = head
            _insert_before(note, notehead, _AFTER_NOTEHEAD)


def _set_clef(clef: ET.Element, spec: tuple[str, int | None, int]) -> None:
    sign, line, octave = spec
    for child in list(clef):
        clef.remove(child)
    _sub(clef, "sign", sign)
    if line is not None:
        _sub(clef, "line", str(line))
    if octave:
        _sub(clef, "clef-octave-change", str(octave))


def _is_tempo(direction: ET.Element) -> bool:
    sound = direction.find("sound")
    return direction.find("direction-type/metronome") is not None or (sound is not None and sound.get("tempo") is not None)


def _renumber_voices(part: ET.Element) -> None:
    """Voices 1, 2, ... in each part (music21 may count from 0)."""
    voices = part.findall("measure/note/voice")
    values = sorted({(v.text or "").strip() for v in voices}, key=lambda t: (not t.isdigit(), int(t) if t.isdigit() else 0, t))
    numbers = {value: str(i + 1) for i, value in enumerate(values)}
    for voice in voices:
        voice.text = numbers[(voice.text or "").strip()]


def _fix_part(part: ET.Element, index: int, score: Score) -> None:
    info = score.parts[index]
    _renumber_voices(part)
    if info.is_drum:
        _unpitch_drums(part, f"P{index + 1}")
    spec = choose_clef(score.part_notes(index)["pitch"], info.is_drum, info.name, info.program)
    clef_done = False
    for number, measure in enumerate(part.findall("measure")):
        if measure.get("number") == "0":
            measure.set("implicit", "yes")
        for attributes in measure.findall("attributes"):
            for clef in attributes.findall("clef"):
                if clef_done:
                    attributes.remove(clef)
                else:
                    _set_clef(clef, spec)
                    clef_done = True
            if number > 0 and len(attributes) == 0:
                measure.remove(attributes)
        if index > 0:
            for direction in measure.findall("direction"):
                if _is_tempo(direction):
                    measure.remove(direction)
        for note in measure.findall("note"):
            if note.find("rest") is not None and note.get("print-object") == "no":
                voice = note.findtext("voice", "1").strip()
                if voice == "1":
                    note.attrib.pop("print-object", None)
                    note.attrib.pop("print-spacing", None)
    if not clef_done:
        first = part.find("measure")
        if first is not None:
            attributes = first.find("attributes")
            if attributes is None:
                attributes = ET.Element("attributes")
                first.insert(0, attributes)
            clef = ET.Element("clef")
            _set_clef(clef, spec)
            # clef comes after divisions, key, time, staves, part-symbol, instruments
            _insert_after(attributes, clef, ("footnote", "level", "divisions", "key", "time", "staves", "part-symbol", "instruments"))


def fix_musicxml(data: bytes, score: Score) -> bytes:
    """Apply the corrections listed in the module docstring to music21's MusicXML for ``score``."""
    root = ET.fromstring(data)
    if root.tag != "score-partwise":
        raise WriteError(f"music21 wrote <{root.tag}>, expected <score-partwise>")
    _fix_header(root, score)
    old_ids = _fix_part_list(root, score)
    parts = root.findall("part")
    if len(parts) != len(score.parts):
        raise WriteError(f"music21 wrote {len(parts)} parts for a score of {len(score.parts)}")
    by_id = {old: i for i, old in enumerate(old_ids)}
    for position, part in enumerate(parts):
        index = by_id.get(part.get("id", ""), position)
        part.set("id", f"P{index + 1}")
        _fix_part(part, index, score)
    ET.indent(root, space="  ")
    return (_HEADER + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")


def to_musicxml(score: Score) -> bytes:
    """The score as MusicXML 4.0 (partwise) bytes, ready for notation software."""
    check_renderable(score, "MusicXML")
    if not score.parts:
        raise WriteError("cannot write MusicXML: the score has no parts")
    ready = _xml_safe(notation_grid(score))
    try:
        data = _music21_xml(ready)
    except ComposerError as exc:
        raise WriteError(f"cannot write MusicXML: {exc}") from exc
    except Exception as exc:  # music21 fails in many ways; one line for the user
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise WriteError(f"cannot write MusicXML: music21 failed ({text[:200]})") from exc
    return fix_musicxml(data, ready)


def write_musicxml(score: Score, path: str | Path) -> None:
    """Write uncompressed MusicXML to ``path`` (no atomic rename here: ``composer.formats.write`` does that)."""
    save_bytes(Path(path), to_musicxml(score), "MusicXML")


def mxl_bytes(musicxml: bytes) -> bytes:
    """A compressed MusicXML (.mxl) container holding ``musicxml`` as ``score.musicxml``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # The spec wants mimetype first and stored uncompressed, like EPUB.
        archive.writestr(zipfile.ZipInfo("mimetype", date_time=(1980, 1, 1, 0, 0, 0)), MXL_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", _CONTAINER, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(MXL_ROOTFILE, musicxml, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def write_mxl(score: Score, path: str | Path) -> None:
    """Write compressed MusicXML (.mxl) to ``path``; nothing else in its folder is touched."""
    save_bytes(Path(path), mxl_bytes(to_musicxml(score)), "MXL")
