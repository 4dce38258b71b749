"""Notation formats through music21: MusicXML/MXL, ABC and TinyNotation to ``Score``.

music21 is imported inside the functions, so importing this module stays cheap.
The way back (``Score`` to music21, then MusicXML) is ``composer.render.notation``
and ``composer.render.musicxml``.

Conventions, shared with that writer:

* A pickup (anacrusis) is a partial first bar with a time signature of its own
  (a one-beat pickup in 4/4 is 1/4 at tick 0, then 4/4 at tick 480), so that
  ``Score.bar_starts`` falls on the real barlines. A pickup no time signature
  can express (a triplet) is padded with rests to a full first bar instead.
* Ties are merged into one note; chords become several notes of one part;
  voices of a part are flattened into that part; grace notes are dropped.
* Structure becomes ``Score.markers`` (``structure_markers``): a note or chord
  under a fermata, in any part, ends a phrase (``PHRASE_END`` where its tied
  note ends); a strain boundary (a repeat sign, a double or final barline, a
  rehearsal mark) starts a section (``SECTION_START`` at its barline) and ends
  the phrase before it (``PHRASE_END`` where the last note before it ends).
  The piece's start and end bound it by definition, so no boundary at or
  before the first downbeat (tick 0, or the end of a pickup) is marked, nor
  the final barline (a fermata there still is); nor is a section started by a
  barline that leads into a second ending.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from composer.errors import ReadError, ScoreError
from composer.io.midi import DRUM_CHANNEL
from composer.limits import MAX_BARS, MAX_NOTES, MAX_PARTS, check_count, check_meters_in_text, check_score, check_size
from composer.score import (
    DEFAULT_TICKS_PER_BEAT,
    DEFAULT_VELOCITY,
    KEY_SIGNATURE_DTYPE,
    MARKER_DTYPE,
    PHRASE_END,
    PITCH_MAX,
    PITCH_MIN,
    SHARPS_MAX,
    SHARPS_MIN,
    SECTION_START,
    TEMPO_DTYPE,
    TIME_SIGNATURE_DTYPE,
    VELOCITY_MAX,
    VELOCITY_MIN,
    Part,
    Score,
    bar_ticks,
    notes_array,
)
from composer.theory import partial_first_bar  # noqa: F401  (the pickup rule's home is composer.theory; re-exported for callers here)

PICKUP_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)
TINYNOTATION_PART_NAME = "Melody"
ABC_PART_NAME = "Melody"  # an ABC tune's voice with no name (V: nm=) and no instrument
SECTION_BARLINES = ("double", "final", "heavy-light", "heavy-heavy")  # music21's names of barlines that close a strain (besides repeats)
_TINY_PREFIX = re.compile(r"^\s*tinynotation\s*:", re.IGNORECASE)
_FILE_SUFFIX = re.compile(r"\.(mxl|xml|musicxml|krn|abc|mid|midi)$", re.IGNORECASE)
_ABC_TUNE = re.compile(rb"^X:[ \t]*(\d+)", re.MULTILINE)


# -- music21 -> Score ------------------------------------------------------
def _tick(quarter_length: Any, ticks_per_beat: int) -> int:
    """Quarter lengths (float or Fraction) to ticks, rounding half up."""
    return math.floor(Fraction(quarter_length) * ticks_per_beat + Fraction(1, 2))


def _first_score(obj: Any) -> Any:
    from music21 import stream

    if isinstance(obj, stream.Opus):
        scores = list(obj.scores)
        if not scores:
            raise ScoreError("music21 Opus holds no scores")
        return scores[0]
    return obj


def _streams_of_parts(obj: Any) -> list[Any]:
    """The part streams of a Score/Part/Stream (a stream without parts is one part)."""
    from music21 import stream

    if isinstance(obj, stream.Part):
        return [obj]
    if isinstance(obj, stream.Stream):
        parts = list(obj.getElementsByClass(stream.Part))
        return parts or [obj]
    raise ScoreError(f"expected a music21 Stream, got {type(obj).__name__}")


def _part_header(part: Any, flat: Any, index: int) -> Part:
    from music21 import instrument

    inst = flat.getElementsByClass(instrument.Instrument).first()
    name = ""
    for candidate in (getattr(part, "partName", None), getattr(inst, "partName", None), getattr(inst, "instrumentName", None)):
        if candidate and str(candidate).strip():
            name = str(candidate).strip()
            break
    program = getattr(inst, "midiProgram", None)
    program = int(program) if program is not None and 0 <= int(program) <= 127 else 0
    is_drum = isinstance(inst, instrument.UnpitchedPercussion) or getattr(inst, "midiChannel", None) == DRUM_CHANNEL
    return Part(name=name or f"Part {index + 1}", program=program, is_drum=bool(is_drum))


def _velocity(element: Any) -> int:
    if not element.hasVolumeInformation():
        return DEFAULT_VELOCITY
    velocity = element.volume.velocity
    if velocity is None:
        return DEFAULT_VELOCITY
    return int(min(max(int(velocity), VELOCITY_MIN), VELOCITY_MAX))


def _members(element: Any) -> list[tuple[int, str | None]]:
    """(MIDI pitch, tie type) of each sounding pitch of a note, chord or unpitched note."""
    from music21 import chord, note

    def tie_type(*objs: Any) -> str | None:
        for obj in objs:
            tie = getattr(obj, "tie", None)
            if tie is not None:
                return tie.type
        return None

    if isinstance(element, note.Note):
        return [(element.pitch.midi, tie_type(element))]
    if isinstance(element, chord.Chord):
        return [(n.pitch.midi, tie_type(n, element)) for n in element.notes]
    if isinstance(element, note.Unpitched):
        # Only a known drum mapping gives an unpitched note a MIDI key; otherwise drop it.
        pitch = getattr(getattr(element, "storedInstrument", None), "percMapPitch", None)
        return [] if pitch is None else [(int(pitch), tie_type(element))]
    if isinstance(element, chord.ChordBase):  # PercussionChord
        out = []
        for n in element.notes:
            out.extend(_members(n))
        return out
    return []


def _walk_notes(container: Any, base: Fraction, voice: Any, out: list[tuple[Fraction, Any, Any]]) -> None:
    """(absolute offset, voice id, element) of every note under ``container``."""
    from music21 import note, stream

    for element in container:
        offset = base + Fraction(element.offset)
        if isinstance(element, stream.Voice):
            _walk_notes(element, offset, element.id, out)
        elif isinstance(element, stream.Stream):
            _walk_notes(element, offset, voice, out)
        elif isinstance(element, note.NotRest):
            out.append((offset, voice, element))


def _has_fermata(element: Any) -> bool:
    """A note or chord (or one note of the chord) marked with a fermata."""
    from music21 import expressions

    for obj in (element, *getattr(element, "notes", ())):
        if any(isinstance(e, expressions.Fermata) for e in getattr(obj, "expressions", ())):
            return True
    return False


def _part_notes(part: Any, ticks_per_beat: int) -> list[list[int]]:
    """[start, end, pitch, velocity, fermata] rows of one part (voices flattened), ties merged; fermata is 1
    where any note of the tie is under a fermata."""
    found: list[tuple[Fraction, Any, Any]] = []
    _walk_notes(part, Fraction(0), None, found)
    found.sort(key=lambda item: item[0])  # stable: simultaneous notes keep their order
    rows: list[list[int]] = []
    # (pitch, end tick) -> [(voice, row)] of notes a tie carries on from. Ties are matched
    # by where the note ends and, where several match, by voice: a same-pitch note in
    # another voice must not break or steal the tie.
    open_ties: dict[tuple[int, int], list[tuple[Any, int]]] = {}
    for offset, voice, element in found:
        if element.duration.isGrace:
            continue
        start = _tick(offset, ticks_per_beat)
        end = _tick(offset + Fraction(element.duration.quarterLength), ticks_per_beat)
        if end <= start:
            continue
        velocity = _velocity(element)
        fermata = int(_has_fermata(element))
        for pitch, tie in _members(element):
            if not PITCH_MIN <= pitch <= PITCH_MAX:
                raise ScoreError(f"pitch {pitch} at quarter {float(offset):g} is outside MIDI's {PITCH_MIN}..{PITCH_MAX}")
            held = None
            if tie in ("stop", "continue"):
                # Rounding can leave a tick between tied halves; a real gap means a broken tie.
                for at in (start, start - 1, start + 1):
                    waiting = open_ties.get((pitch, at))
                    if waiting:
                        pick = next((i for i, (v, _) in enumerate(waiting) if v == voice), 0)
                        held = waiting.pop(pick)[1]
                        break
            if held is not None:
                rows[held][1] = max(rows[held][1], end)
                rows[held][4] |= fermata
            else:
                rows.append([start, end, pitch, velocity, fermata])
                held = len(rows) - 1
            if tie in ("start", "continue"):
                open_ties.setdefault((pitch, rows[held][1]), []).append((voice, held))
    return rows


def _pickup(parts: list[Any]) -> tuple[Fraction, Fraction] | None:
    """(pickup length, full bar length) in quarters, if the first measure is a pickup."""
    from music21 import stream

    for part in parts:
        measures = list(part.getElementsByClass(stream.Measure))
        if not measures:
            continue
        first = measures[0]
        try:
            bar = Fraction(first.barDuration.quarterLength)
        except Exception:  # no time signature anywhere: no meter to be short of
            return None
        if len(measures) > 1:
            length = Fraction(measures[1].offset) - Fraction(first.offset)
        else:
            length = bar - Fraction(first.paddingLeft or 0)
        if 0 < length < bar:
            return length, bar
        return None
    return None


def _pickup_signature(length: Fraction) -> tuple[int, int] | None:
    """The time signature of a partial bar of ``length`` quarters, smallest denominator first."""
    for denominator in PICKUP_DENOMINATORS:
        numerator = length * denominator / 4
        if numerator.denominator == 1 and numerator >= 1:
            return int(numerator), denominator
    return None


def _events(parts: list[Any], ticks_per_beat: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, bool]], list[tuple[int, float]]]:
    from music21 import key, meter, tempo

    signatures: dict[int, tuple[int, int]] = {}
    keys: dict[int, tuple[int, bool]] = {}
    tempos: dict[int, float] = {}
    # The first part that states an event wins: later parts usually just repeat it.
    for part in parts:
        flat = part.flatten()
        for ts in flat.getElementsByClass(meter.TimeSignature):
            numerator, denominator = int(ts.numerator), int(ts.denominator)
            # music21 invents meters such as 1/3 for irregular ABC bars; MIDI cannot hold them.
            if numerator >= 1 and denominator >= 1 and denominator & (denominator - 1) == 0:
                signatures.setdefault(_tick(ts.offset, ticks_per_beat), (numerator, denominator))
        for ks in flat.getElementsByClass(key.KeySignature):
            sharps = int(ks.sharps)
            if SHARPS_MIN <= sharps <= SHARPS_MAX:
                keys.setdefault(_tick(ks.offset, ticks_per_beat), (sharps, getattr(ks, "mode", None) == "minor"))
        for mark in flat.getElementsByClass(tempo.MetronomeMark):
            qpm = mark.getQuarterBPM()
            if qpm is not None and qpm > 0:
                tempos.setdefault(_tick(mark.offset, ticks_per_beat), float(qpm))
    return (
        sorted((t, n, d) for t, (n, d) in signatures.items()),
        sorted((t, s, m) for t, (s, m) in keys.items()),
        sorted(tempos.items()),
    )


def _boundaries(parts: list[Any], ticks_per_beat: int) -> dict[int, bool]:
    """Strain boundaries of all parts: tick -> whether a section starts there (not where a second ending does)."""
    from music21 import bar, expressions, spanner, stream

    found: dict[int, bool] = {}

    def closes(barline: Any) -> bool:
        return isinstance(barline, bar.Repeat) or getattr(barline, "type", None) in SECTION_BARLINES

    for part in parts:
        measures = list(part.getElementsByClass(stream.Measure))
        later_endings = set()
        for bracket in part.spannerBundle.getByClass(spanner.RepeatBracket):
            if 1 not in bracket.numberRange:
                later_endings.update(id(m) for m in bracket.getSpannedElements())
        for i, measure in enumerate(measures):
            start = Fraction(measure.offset)
            following = measures[i + 1] if i + 1 < len(measures) else None
            if closes(measure.leftBarline):
                found[_tick(start, ticks_per_beat)] = True
            if closes(measure.rightBarline):
                end = Fraction(following.offset) if following is not None else start + Fraction(measure.highestTime)
                tick = _tick(end, ticks_per_beat)
                found[tick] = found.get(tick, False) or id(following) not in later_endings
            for mark in measure.recurse().getElementsByClass(expressions.RehearsalMark):
                found[_tick(start + Fraction(mark.getOffsetInHierarchy(measure)), ticks_per_beat)] = True
    return found


def structure_markers(notes: np.ndarray, fermata_ends: np.ndarray, boundaries: dict[int, bool], first_downbeat: int) -> np.ndarray:
    """``Score.markers`` of a piece read from notation (see the module docstring).

    ``fermata_ends``: end ticks of the notes under fermatas; ``boundaries``: tick -> whether a section
    starts there; boundaries at or before ``first_downbeat`` (0, or the end of a pickup), and those
    with no note after them (the final barline), are ignored.
    """
    rows = {(int(tick), PHRASE_END) for tick in fermata_ends.tolist()}
    for tick, opens in boundaries.items():
        phrase_end = strain_end(notes, tick)
        if tick <= first_downbeat or phrase_end is None:
            continue
        rows.add((phrase_end, PHRASE_END))
        if opens:
            rows.add((tick, SECTION_START))
    return np.array(sorted(rows), MARKER_DTYPE) if rows else np.zeros(0, MARKER_DTYPE)


def strain_end(notes: np.ndarray, tick: int) -> int | None:
    """Where the phrase before a strain boundary at ``tick`` ends: the latest end of the notes that start before it.

    None where no note starts before ``tick`` or none at or after it: the piece's own start and end are no boundaries.
    """
    starts = notes["start_tick"]
    before = starts < tick
    if not before.any() or before.all():
        return None
    return int((starts[before] + notes["duration_ticks"][before]).max())


def _title_and_metadata(obj: Any) -> tuple[str, dict[str, str]]:
    md = getattr(obj, "metadata", None)
    if md is None:
        return "", {}
    title = ""
    for candidate in (md.title, md.movementName):
        # music21 fills movementName with the file name when a file has no title.
        if candidate and str(candidate).strip() and not _FILE_SUFFIX.search(str(candidate).strip()):
            title = str(candidate).strip()
            break
    metadata = {}
    if md.composer and str(md.composer).strip():
        metadata["composer"] = str(md.composer).strip()
    return title, metadata


def from_music21(obj: Any, *, ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT) -> Score:
    """Convert a music21 Score, Part or Stream (an Opus: its first score) to a Score.

    Raises ScoreError for content a Score cannot hold; the readers turn it
    into a ReadError naming the file.
    """
    obj = _first_score(obj)
    part_streams = _streams_of_parts(obj)
    parts: list[Part] = []
    columns: list[np.ndarray] = []
    fermata_ends: list[np.ndarray] = []
    for index, part_stream in enumerate(part_streams):
        flat = part_stream.flatten()
        parts.append(_part_header(part_stream, flat, index))
        rows = _part_notes(part_stream, ticks_per_beat)
        if rows:
            block = np.array(rows, np.int64)
            columns.append(notes_array(block[:, 0], block[:, 1] - block[:, 0], block[:, 2], index, block[:, 3]))
            fermata_ends.append(block[block[:, 4] == 1, 1])
    notes = np.concatenate(columns) if columns else notes_array([], [], [])
    fermata_end = np.concatenate(fermata_ends) if fermata_ends else np.zeros(0, np.int64)
    boundaries = _boundaries(part_streams, ticks_per_beat)
    first_downbeat = 0
    signatures, keys, tempos = _events(part_streams, ticks_per_beat)

    pickup = _pickup(part_streams)
    if pickup is not None:
        length, bar = pickup
        pickup_ticks = first_downbeat = _tick(length, ticks_per_beat)
        partial = _pickup_signature(length)
        meter_now = next(((n, d) for t, n, d in signatures if t == 0), None)
        if partial is not None and meter_now is not None:
            later = [(t, n, d) for t, n, d in signatures if t > 0]
            if not any(t == pickup_ticks for t, _, _ in later):
                later.append((pickup_ticks, *meter_now))
            signatures = [(0, *partial), *sorted(later)]
        elif partial is None:
            # No time signature spans a triplet pickup: pad it to a full first bar.
            shift = _tick(bar - length, ticks_per_beat)
            notes = notes.copy()
            notes["start_tick"] += shift
            signatures = [(t + shift if t else t, n, d) for t, n, d in signatures]
            keys = [(t + shift if t else t, s, m) for t, s, m in keys]
            tempos = [(t + shift if t else t, q) for t, q in tempos]
            fermata_end = fermata_end + shift
            boundaries = {t + shift: opens for t, opens in boundaries.items()}
            first_downbeat += shift

    title, metadata = _title_and_metadata(obj)
    return Score(
        notes,
        parts,
        ticks_per_beat=ticks_per_beat,
        time_signatures=np.array(signatures, TIME_SIGNATURE_DTYPE),
        key_signatures=np.array(keys, KEY_SIGNATURE_DTYPE),
        tempos=np.array(tempos, TEMPO_DTYPE),
        markers=structure_markers(notes, fermata_end, boundaries, first_downbeat),
        title=title,
        metadata=metadata,
    )


# -- readers ---------------------------------------------------------------
def _failure(source: str, exc: BaseException) -> ReadError:
    """One line naming the source and what music21 (or our check) said."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return ReadError(f"{source}: {text}")


def _checked(score: Score, source: str) -> Score:
    if len(score.notes) == 0:
        raise ReadError(f"{source}: contains no notes")
    return check_score(score, source)


def _convert(parsed: Any, source: str) -> Score:
    try:
        with quiet_music21():
            score = from_music21(parsed)
    except ReadError:
        raise
    except Exception as exc:  # music21 objects can fail in many ways; report them all as bad input
        raise _failure(source, exc) from exc
    return _checked(score, source)


@contextlib.contextmanager
def quiet_music21() -> Iterator[io.StringIO]:
    """Keep music21's warnings (it writes them straight to stderr) out of the user's terminal.

    Yields what music21 wrote, for the readers that turn a warning into an error.
    Redirecting ``sys.stderr`` is process-wide: don't parse from several threads.
    """
    captured = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(captured):
        warnings.simplefilter("ignore")
        yield captured


_ABC_BAD_NOTE = re.compile(r"Could not get pitch information from note:\s*(\S+)")


def _parse_with_music21(path: Path, format: str | None) -> Any:
    from music21 import converter

    try:
        with quiet_music21():
            return converter.parseFile(path, format=format, forceSource=True, storePickle=False)
    except Exception as exc:
        raise _failure(str(path), exc) from exc


def read_with_music21(path: str | Path, format: str | None = None) -> Score:
    """Read any file music21 can parse (``format`` as music21 names it; default: from the suffix)."""
    path = Path(path)
    return _convert(_parse_with_music21(path, format), str(path))


def read_musicxml(path: str | Path) -> Score:
    """Read a MusicXML (.musicxml/.xml) or compressed MusicXML (.mxl) file."""
    path = Path(path)
    check_musicxml_sizes(path)
    parsed = _parse_with_music21(path, "musicxml")
    root = _musicxml_root(path)
    _key_unpitched_notes(parsed, _unpitched_keys(root))
    score = _convert(parsed, str(path))
    fields = musicxml_metadata(root)
    return score.replace(metadata={**fields, **score.metadata}) if fields else score


def _musicxml_root(path: Path) -> ET.Element | None:
    """The parsed score document, or None where it cannot be had (music21 read it; what needs it does without)."""
    try:
        return ET.fromstring(_musicxml_text(path))
    except (OSError, ET.ParseError, KeyError, StopIteration, ValueError, zipfile.BadZipFile):
        return None


def musicxml_metadata(root: ET.Element | None) -> dict[str, str]:
    """``Score.metadata`` from a MusicXML document: its ``<miscellaneous-field name=...>`` entries.

    The writer puts ``Score.metadata`` there (the provenance a MIDI file carries
    in its ``composer:key=value`` text events); ``composer`` comes back
    through music21 from ``<creator type="composer">``.
    """
    if root is None:
        return {}
    fields = {}
    for field in root.findall("identification/miscellaneous/miscellaneous-field"):
        name = (field.get("name") or "").strip()
        if name:
            fields[name] = (field.text or "").strip()
    return fields


def _musicxml_text(path: Path) -> bytes:
    """The score document of a .musicxml file, or of an .mxl archive (its container names it)."""
    if not zipfile.is_zipfile(path):
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        container = ET.fromstring(archive.read("META-INF/container.xml"))
        rootfile = next(e for e in container.iter() if e.tag.endswith("rootfile"))
        return archive.read(rootfile.get("full-path"))


_PART_TAG = re.compile(rb"<part[\s>]")
_MEASURE_TAG = re.compile(rb"<measure[\s>]")
_NOTE_TAG = re.compile(rb"<note[\s>]")


def check_musicxml_sizes(path: Path) -> None:
    """What a MusicXML file or .mxl archive claims (bytes inflated, parts, bars, notes), checked before music21 reads it.

    A zip member's declared size bounds what ``zipfile`` inflates (it stops there
    and fails the CRC), so the declared sizes are checked without inflating anything.
    """
    import zipfile

    source = str(path)
    try:
        check_size(path.stat().st_size, source)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                check_size(sum(info.file_size for info in archive.infolist()), source, "the inflated size")
        data = _musicxml_text(path)
    except (OSError, zipfile.BadZipFile, ET.ParseError, KeyError, StopIteration, ValueError):
        return  # music21 says what is wrong with it
    parts = len(_PART_TAG.findall(data))
    check_count(parts, MAX_PARTS, "the number of parts", source)
    check_count(len(_MEASURE_TAG.findall(data)) // max(parts, 1), MAX_BARS, "the number of bars", source)
    check_count(len(_NOTE_TAG.findall(data)), MAX_NOTES, "the number of notes", source)


def _unpitched_keys(root: ET.Element | None) -> list[dict[tuple[str, int], int]]:
    """Per part, (display step, display octave) -> General MIDI drum key, from the notes' instruments.

    music21 reads a drum note's staff position but not the ``<instrument>`` that
    names its sound; the part list's ``<midi-unpitched>`` (counted from 1) does.
    Where one staff position carries several sounds, the first one counts.
    """
    if root is None:
        return []  # music21 read the notes; without this map drum notes are dropped, as before
    sounds = {}
    for midi in root.iter("midi-instrument"):
        key = midi.findtext("midi-unpitched")
        if key and key.strip().isdigit():
            sounds[midi.get("id")] = int(key) - 1
    keys = []
    for part in root.iter("part"):
        mapping: dict[tuple[str, int], int] = {}
        for element in part.iter("note"):
            unpitched, sound = element.find("unpitched"), element.find("instrument")
            if unpitched is None or sound is None or sound.get("id") not in sounds:
                continue
            step, octave = unpitched.findtext("display-step"), unpitched.findtext("display-octave")
            if step and octave and octave.strip().lstrip("-").isdigit():
                mapping.setdefault((step.strip(), int(octave)), sounds[sound.get("id")])
        keys.append(mapping)
    return keys


def _key_unpitched_notes(parsed: Any, keys: list[dict[tuple[str, int], int]]) -> None:
    """Give music21's unpitched notes the drum keys of ``_unpitched_keys``, in place."""
    from music21 import instrument, note

    parts = list(getattr(parsed, "parts", []))
    for part, mapping in zip(parts, keys):
        if not mapping:
            continue
        for element in part.recurse().notes:
            for member in getattr(element, "notes", None) or [element]:
                if not isinstance(member, note.Unpitched):
                    continue
                if getattr(getattr(member, "storedInstrument", None), "percMapPitch", None) is not None:
                    continue
                key = mapping.get((member.displayStep, member.displayOctave))
                if key is not None:
                    sound = instrument.UnpitchedPercussion()
                    sound.percMapPitch = key
                    member.storedInstrument = sound


def abc_tune_numbers(path: str | Path) -> list[int]:
    """The X: numbers of the tunes in an ABC file, in file order."""
    path = Path(path)
    try:
        check_size(path.stat().st_size, str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror})") from exc
    return [int(m.group(1)) for m in _ABC_TUNE.finditer(data)]


def read_abc(path: str | Path, number: int | None = None) -> Score:
    """Read tune ``X:number`` of an ABC file (default: the first tune)."""
    from music21 import converter

    path = Path(path)
    numbers = abc_tune_numbers(path)
    if not numbers:
        raise ReadError(f"{path}: no ABC tunes (no 'X:' header line)")
    if number is None:
        number = numbers[0]
    elif number not in numbers:
        shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
        raise ReadError(f"{path}: no tune X:{number}; the file has X: {shown}")
    source = f"{path} (X:{number})" if len(numbers) > 1 else str(path)
    check_abc_meters(path, source)
    try:
        with quiet_music21() as said:
            parsed = converter.parseFile(path, number=number, format="abc", forceSource=True, storePickle=False)
    except Exception as exc:
        raise _failure(source, exc) from exc
    bad = _ABC_BAD_NOTE.search(said.getvalue())
    if bad:
        # music21 would carry on with a C in its place: wrong music, so refuse.
        raise ReadError(f"{source}: cannot read the note {bad.group(1).rstrip(',')!r}")
    score = _convert(parsed, source)
    return score.replace(parts=_abc_part_names(parsed, score.parts))


def _abc_part_names(parsed: Any, parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """Unnamed ABC voices named after their instrument, else ``ABC_PART_NAME`` ("Voice 2", ... after the first)."""
    from music21 import instrument

    streams = _streams_of_parts(_first_score(parsed))
    named = []
    for index, (part, part_stream) in enumerate(zip(parts, streams)):
        inst = part_stream.flatten().getElementsByClass(instrument.Instrument).first()
        given = [getattr(part_stream, "partName", None), getattr(inst, "partName", None), getattr(inst, "instrumentName", None)]
        if not any(name and str(name).strip() for name in given):
            part = Part(ABC_PART_NAME if index == 0 else f"Voice {index + 1}", part.program, part.is_drum)
        named.append(part)
    return tuple(named) + parts[len(named) :]


_ABC_METER = re.compile(r"^M:(.*)$|\[M:([^\]]*)\]", re.MULTILINE)


def check_abc_meters(path: Path, source: str) -> None:
    """Check the meters (``M:`` lines and inline ``[M:...]``) before music21, which hangs on ``M:1000000/1``."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    for match in _ABC_METER.finditer(text):
        check_meters_in_text(match.group(1) or match.group(2) or "", source)


def parse_tinynotation(text: str) -> Score:
    """Parse music21's TinyNotation ("4/4 c4 d8 e f#2"); the result has one part, "Melody"."""
    from music21 import tinyNotation

    source = "tinynotation"
    if not isinstance(text, str):
        raise ReadError(f"{source}: expected a string, got {type(text).__name__}")
    body = _TINY_PREFIX.sub("", text, count=1).strip()
    if not body:
        raise ReadError(f"{source}: empty string, expected notes such as '4/4 c4 d8 e f#2'")
    check_size(len(body), source, "the length")
    check_meters_in_text(body, source)
    try:
        # raiseExceptions: by default music21 silently drops tokens it cannot read.
        tnc = tinyNotation.Converter(body, raiseExceptions=True)
        with quiet_music21():
            tnc.parse()
        if tnc.activeStates:
            opened = ", ".join(repr(s.stateInfo) for s in tnc.activeStates)
            raise ReadError(f"{source}: {opened} is never closed with '}}'")
        parsed = tnc.stream
    except ReadError:
        raise
    except Exception as exc:
        raise _failure(source, exc) from exc
    score = _convert(parsed, source)
    return score.replace(parts=(Part(TINYNOTATION_PART_NAME),))

