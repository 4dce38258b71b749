"""music21 <-> Score: hand-built streams and TinyNotation with exact expected ticks."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("music21")

from music21 import bar, chord, corpus, duration, expressions, instrument, key, meter, note, stream, tempo  # noqa: E402
from music21 import tie as m21tie  # noqa: E402

from composer.errors import ReadError  # noqa: E402
from composer.formats import read  # noqa: E402
from composer.io.notation import (  # noqa: E402
    from_music21,
    parse_tinynotation,
    partial_first_bar,
    read_abc,
    read_musicxml,
)
from composer.render.musicxml import write_musicxml  # noqa: E402
from composer.render.notation import to_music21  # noqa: E402
from composer.score import PHRASE_END, SECTION_START, Part, Score, notes_array  # noqa: E402
from composer.theory import key_name  # noqa: E402
from conftest import one_line_message  # noqa: E402
from xsd import assert_valid_musicxml  # noqa: E402


def rows(score: Score) -> list[tuple[int, int, int, int]]:
    """(start, duration, pitch, part) of every note, in the Score's canonical order."""
    n = score.notes
    return list(zip(n["start_tick"].tolist(), n["duration_ticks"].tolist(), n["pitch"].tolist(), n["part"].tolist()))


def measure(number: int, *elements: object, padding: Fraction | float = 0) -> stream.Measure:
    m = stream.Measure(number=number)
    for element in elements:
        m.append(element)
    if padding:
        m.paddingLeft = padding
    return m


def n(name: str, ql: float | Fraction = 1.0, tie: str | None = None) -> note.Note:
    out = note.Note(name, quarterLength=ql)
    if tie:
        out.tie = m21tie.Tie(tie)
    return out


# -- from_music21 ------------------------------------------------------------
def test_import_does_not_load_music21() -> None:
    code = "import sys, composer.io.notation, composer.corpus; print('music21' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ties_over_barlines_are_merged() -> None:
    part = stream.Part()
    part.append(measure(1, meter.TimeSignature("4/4"), n("C4", 2), n("D4", 2, "start")))
    part.append(measure(2, n("D4", 4, "continue")))
    part.append(measure(3, n("D4", 1, "stop"), n("E4", 3)))
    score = from_music21(part)
    assert rows(score) == [(0, 960, 60, 0), (960, 960 + 1920 + 480, 62, 0), (4320, 1440, 64, 0)]


def test_repeated_pitch_without_tie_stays_two_notes() -> None:
    part = stream.Part([n("G4", 1), n("G4", 1)])
    assert rows(from_music21(part)) == [(0, 480, 67, 0), (480, 480, 67, 0)]


def test_chords_become_notes_of_one_part_with_their_ties() -> None:
    part = stream.Part()
    c1 = chord.Chord(["C4", "E4", "G4"], quarterLength=2)
    c1.notes[0].tie = m21tie.Tie("start")  # only the C is held over
    c2 = chord.Chord(["C4", "F4", "A4"], quarterLength=2)
    c2.notes[0].tie = m21tie.Tie("stop")
    part.append([c1, c2])
    score = from_music21(part)
    assert score.num_parts == 1
    assert rows(score) == [(0, 960, 67, 0), (0, 960, 64, 0), (0, 1920, 60, 0), (960, 960, 69, 0), (960, 960, 65, 0)]


def test_triplets_are_160_ticks() -> None:
    part = stream.Part()
    for name in ("C4", "D4", "E4"):
        part.append(n(name, Fraction(1, 3)))
    part.append(n("F4", 1))
    assert rows(from_music21(part)) == [(0, 160, 60, 0), (160, 160, 62, 0), (320, 160, 64, 0), (480, 480, 65, 0)]


def test_one_beat_pickup_in_four_four_is_a_partial_bar() -> None:
    part = stream.Part()
    part.append(measure(0, meter.TimeSignature("4/4"), n("G4", 1), padding=3))
    part.append(measure(1, n("C5", 4)))
    part.append(measure(2, n("B4", 2), n("C5", 2)))
    score = from_music21(part)
    assert score.time_signatures.tolist() == [(0, 1, 4), (480, 4, 4)]
    assert rows(score) == [(0, 480, 67, 0), (480, 1920, 72, 0), (2400, 960, 71, 0), (3360, 960, 72, 0)]
    assert score.bar_starts().tolist() == [0, 480, 2400]
    assert partial_first_bar(score) == (480, (4, 4))


def test_pickup_without_padding_is_found_from_a_short_first_measure() -> None:
    part = stream.Part()
    part.append(measure(1, meter.TimeSignature("6/8"), n("A4", 0.5), n("B4", 0.5)))
    part.append(measure(2, n("C5", 3)))
    score = from_music21(part)
    # One quarter of 6/8 in eighths: the smallest denominator that holds it exactly is 4.
    assert score.time_signatures.tolist() == [(0, 1, 4), (480, 6, 8)]


def test_eighth_pickup_uses_an_eighth_denominator() -> None:
    part = stream.Part()
    part.append(measure(0, meter.TimeSignature("3/4"), n("E4", 0.5), padding=2.5))
    part.append(measure(1, n("A4", 3)))
    assert from_music21(part).time_signatures.tolist() == [(0, 1, 8), (240, 3, 4)]


def test_triplet_pickup_is_padded_to_a_full_bar() -> None:
    part = stream.Part()
    part.append(measure(0, meter.TimeSignature("4/4"), key.Key("G"), n("G4", Fraction(1, 3)), n("A4", Fraction(1, 3)), padding=Fraction(10, 3)))
    part.append(measure(1, meter.TimeSignature("3/4"), n("B4", 3)))
    score = from_music21(part)
    # Two triplet eighths (320 ticks) end a full 4/4 bar (1920 ticks); everything moves 1600 ticks.
    assert rows(score) == [(1600, 160, 67, 0), (1760, 160, 69, 0), (1920, 1440, 71, 0)]
    assert score.time_signatures.tolist() == [(0, 4, 4), (1920, 3, 4)]
    assert score.key_signatures.tolist() == [(0, 1, False)]


def test_meter_change_key_minor_and_tempo_of_a_quarter() -> None:
    part = stream.Part()
    mark = tempo.MetronomeMark(number=60, referent=duration.Duration(2.0))  # half note = 60
    part.append(measure(1, meter.TimeSignature("3/4"), key.Key("e"), mark, n("E4", 3)))
    part.append(measure(2, n("F#4", 3)))
    part.append(measure(3, meter.TimeSignature("2/4"), key.Key("B-"), n("G4", 2)))
    score = from_music21(part)
    assert score.time_signatures.tolist() == [(0, 3, 4), (2880, 2, 4)]
    assert score.key_signatures.tolist() == [(0, 1, True), (2880, -2, False)]
    assert key_name(1, True) == "e"
    assert score.tempos.tolist() == [(0, 120.0)]
    assert score.bar_starts().tolist() == [0, 1440, 2880]


def test_voices_are_flattened_and_grace_notes_dropped() -> None:
    m = stream.Measure(number=1)
    m.insert(0, meter.TimeSignature("4/4"))
    upper, lower = stream.Voice(), stream.Voice()
    grace = n("D5", 1).getGrace()
    upper.append([grace, n("C5", 4)])
    lower.append([n("E4", 2), note.Rest(quarterLength=1), n("G4", 1)])
    m.insert(0, upper)
    m.insert(0, lower)
    score = from_music21(stream.Part([m]))
    assert rows(score) == [(0, 1920, 72, 0), (0, 960, 64, 0), (1440, 480, 67, 0)]


def test_parts_names_programs_drums_title_and_opus() -> None:
    violin = stream.Part()
    violin.partName = "  Violin I  "
    violin.insert(0, instrument.Violin())
    violin.append(n("A4"))
    unnamed = stream.Part()
    unnamed.append(n("C3"))
    drums = stream.Part()
    drums.insert(0, instrument.BassDrum())
    drums.append(n("C2"))
    s = stream.Score([violin, unnamed, drums])
    from music21 import metadata

    s.metadata = metadata.Metadata(title="A Test", composer="Nobody")
    score = from_music21(stream.Opus([s, stream.Score()]))
    assert score.parts[0] == Part("Violin I", 40, False)
    assert score.parts[1] == Part("Part 2", 0, False)
    assert score.parts[2].is_drum
    assert score.title == "A Test"
    assert score.metadata == {"composer": "Nobody"}
    assert rows(score) == [(0, 480, 69, 0), (0, 480, 48, 1), (0, 480, 36, 2)]


def test_velocity_is_kept() -> None:
    loud = n("C4")
    loud.volume.velocity = 111
    score = from_music21(stream.Part([loud, n("D4")]))
    assert score.notes["velocity"].tolist() == [111, 80]


def test_real_chorale_has_soprano_alto_tenor_bass() -> None:
    score = from_music21(corpus.parse("bach/bwv66.6"))
    assert [p.name for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert score.time_signatures.tolist() == [(0, 1, 4), (480, 4, 4)]
    assert score.key_signatures.tolist() == [(0, 3, True)]  # f# minor
    # Read through the corpus path, as the corpus build and `composer.formats.read` do.
    path = corpus.getWork("bach/bwv66.6")
    from_file = read(path)
    assert [p.name for p in from_file.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert np.array_equal(from_file.notes, score.notes)
    soprano = from_file.part_notes(0)
    assert soprano["pitch"][:4].tolist() == [73, 71, 69, 71]  # C#5 B4 A4 B4
    assert soprano["start_tick"][:4].tolist() == [0, 240, 480, 960]


# -- to_music21 --------------------------------------------------------------
def test_round_trip_of_a_chorale_keeps_everything() -> None:
    score = from_music21(corpus.parse("bach/bwv66.6"))
    back = from_music21(to_music21(score))
    assert back == score  # notes, parts, meter (with the pickup), key, tempo


def test_round_trip_of_chords_overlaps_triplets_and_odd_lengths() -> None:
    notes = notes_array(
        start_tick=[0, 0, 0, 480, 960, 1120, 1280, 1440, 1920, 2000, 3840],
        duration_ticks=[1920, 480, 480, 2400, 160, 160, 160, 2880, 80, 1000, 7],
        pitch=[48, 64, 67, 62, 72, 74, 76, 79, 60, 61, 90],
        part=[1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0],
        velocity=[80, 90, 90, 70, 80, 80, 80, 100, 80, 80, 80],
    )
    score = Score(
        notes,
        [Part("Flute", 73), Part("Cello", 42)],
        time_signatures=[(0, 4, 4), (3840, 3, 4)],
        key_signatures=[(0, -3, True)],
        tempos=[(0, 72.0), (1920, 90.0)],
        title="odd",
    )
    m21 = to_music21(score)
    assert [p.partName for p in m21.parts] == ["Flute", "Cello"]
    back = from_music21(m21)
    assert back == score
    assert back.title == "odd"


def test_partial_first_bar_exports_as_a_pickup_measure() -> None:
    score = parse_tinynotation("4/4 g4 c'1 b2 c'2")
    assert score.time_signatures.tolist() == [(0, 4, 4)]
    with_pickup = score.replace(time_signatures=[(0, 1, 4), (480, 4, 4)])
    m21 = to_music21(with_pickup)
    first = m21.parts[0].getElementsByClass(stream.Measure)[0]
    assert first.paddingLeft == 3.0
    assert first.number == 0
    assert first.getTimeSignatures()[0].ratioString == "4/4"
    assert [x.offset for x in m21.parts[0].getElementsByClass(stream.Measure)][:3] == [0.0, 1.0, 5.0]
    back = from_music21(m21)
    assert back == with_pickup


def test_a_drum_part_goes_out_on_the_drum_channel_and_comes_back_a_drum_part() -> None:
    from composer.io.midi import DRUM_CHANNEL

    score = Score(notes_array([0, 480], [480, 480], [60, 38], [0, 1]), [Part("Piano"), Part("Kit", is_drum=True)])
    m21 = to_music21(score)
    kit = m21.parts[1].recurse().getElementsByClass(instrument.Instrument).first()
    assert kit.midiChannel == DRUM_CHANNEL == 9  # music21 counts channels from 0, as composer.io.midi does
    assert [p.is_drum for p in from_music21(m21).parts] == [False, True]


def test_ties_are_made_by_music21() -> None:
    score = parse_tinynotation("3/4 c2 d2 e2")  # d crosses the barline
    m21 = to_music21(score)
    tied = [x for x in m21.recurse().notes if x.tie is not None]
    assert [(x.nameWithOctave, x.tie.type) for x in tied] == [("D4", "start"), ("D4", "stop")]
    assert from_music21(m21) == score


# -- TinyNotation ------------------------------------------------------------
def test_tinynotation_with_and_without_prefix() -> None:
    a = parse_tinynotation("tinynotation: 3/4 c4 d8 e trip{f8 g a} b2.")
    b = parse_tinynotation("3/4 c4 d8 e trip{f8 g a} b2.")
    assert a == b
    assert a.parts == (Part("Melody"),)
    assert rows(a) == [(0, 480, 60, 0), (480, 240, 62, 0), (720, 240, 64, 0), (960, 160, 65, 0), (1120, 160, 67, 0), (1280, 160, 69, 0), (1440, 1440, 71, 0)]
    assert a.time_signatures.tolist() == [(0, 3, 4)]


def test_tinynotation_tie_merges() -> None:
    assert rows(parse_tinynotation("4/4 c2 e2~ e4 r4 g2")) == [(0, 960, 60, 0), (960, 1440, 64, 0), (2880, 960, 67, 0)]


# -- bad input -----------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("tinynotation:", "empty"),
        ("c4 d4 zz9 e", "'zz9'"),
        ("4/4 c4 d4 q e", "'q'"),
        ("c4 trip{d e", "trip{"),
        ("c4 d} e", "closes more states"),
        ("r4 r2", "no notes"),
    ],
)
def test_bad_tinynotation(text: str, expected: str) -> None:
    with pytest.raises(ReadError) as exc:
        parse_tinynotation(text)
    one_line_message(exc, "tinynotation", expected)


def _musicxml_text() -> str:
    from music21 import musicxml

    s = stream.Score([stream.Part([measure(1, meter.TimeSignature("4/4"), n("C4", 4))])])
    return musicxml.m21ToXml.GeneralObjectExporter(s).parse().decode("utf-8")


@pytest.mark.parametrize(
    "name, content",
    [
        ("garbage.musicxml", "this is not xml at all"),
        ("garbage.xml", "<html><body>hello</body></html>"),
        ("truncated.musicxml", None),
        ("notazip.mxl", b"PK\x03\x04 not really a zip"),
        ("text.mxl", b"plain text"),
        ("noparts.musicxml", '<?xml version="1.0"?><score-partwise version="4.0"><part-list/></score-partwise>'),
        ("notunes.abc", "T:a title\nthis is not abc\n"),
        ("garbage.abc", "X:1\nT:bad\nK:C\n!!!###$$$ zzzz\n"),
        ("rests.abc", "X:1\nT:rests\nM:4/4\nL:1/4\nK:C\nz4|z4|\n"),
    ],
)
def test_bad_files_raise_one_line_read_error(tmp_path, name: str, content: str | bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        text = _musicxml_text()
        path.write_text(text[: len(text) // 2])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ReadError) as exc:
        read(path)
    one_line_message(exc, str(path))


def test_abc_note_music21_cannot_read_is_an_error_not_a_c(tmp_path, capfd) -> None:
    path = tmp_path / "badnote.abc"
    path.write_text("X:1\nT:bad\nM:4/4\nL:1/4\nK:C\nC D w2 E|\n")
    with pytest.raises(ReadError) as exc:
        read(path)
    one_line_message(exc, str(path), "'w2'")
    assert capfd.readouterr().err == ""  # music21's own warning is not printed


def test_missing_and_empty_files(tmp_path) -> None:
    with pytest.raises(ReadError) as exc:
        read(tmp_path / "missing.musicxml")
    one_line_message(exc, "missing.musicxml", "no such file")
    (tmp_path / "empty.abc").write_text("")
    with pytest.raises(ReadError) as exc:
        read(tmp_path / "empty.abc")
    one_line_message(exc, "empty.abc")


TWO_TUNES = """X:3
T:First
M:3/4
L:1/4
K:G
G A B|d2 B|

X:7
T:Second
M:6/8
L:1/8
K:Em
E2F G2A|B3 e3|
"""


def test_abc_tune_selection(tmp_path) -> None:
    path = tmp_path / "two.abc"
    path.write_text(TWO_TUNES)
    first = read_abc(path)
    assert first.title == "First"
    assert first == read(path)
    assert rows(first)[:2] == [(0, 480, 67, 0), (480, 480, 69, 0)]
    second = read_abc(path, 7)
    assert second.title == "Second"
    assert second.key_signatures.tolist() == [(0, 1, True)]
    assert second.time_signatures.tolist() == [(0, 6, 8)]
    assert rows(second)[:2] == [(0, 480, 64, 0), (480, 240, 66, 0)]
    with pytest.raises(ReadError) as exc:
        read_abc(path, 5)
    one_line_message(exc, str(path), "X:5", "3, 7")


def test_abc_pickup(tmp_path) -> None:
    path = tmp_path / "pickup.abc"
    path.write_text("X:1\nT:pick\nM:4/4\nL:1/4\nK:D\nA|d2 f2|a4|]\n")
    score = read_abc(path)
    assert score.time_signatures.tolist() == [(0, 1, 4), (480, 4, 4)]
    assert rows(score) == [(0, 480, 69, 0), (480, 960, 74, 0), (1440, 960, 78, 0), (2400, 1920, 81, 0)]


def test_musicxml_and_mxl_read_the_same(tmp_path) -> None:
    score = from_music21(corpus.parse("bach/bwv66.6"))
    path = tmp_path / "chorale.musicxml"
    to_music21(score).write("musicxml", fp=str(path))
    back = read_musicxml(path)
    assert np.array_equal(back.notes, score.notes)
    assert [p.name for p in back.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert back.time_signatures.tolist() == [(0, 1, 4), (480, 4, 4)]


# -- property: Score -> music21 -> Score keeps the notes -----------------------------
_NOTE = st.tuples(st.integers(0, 40), st.integers(1, 12), st.integers(30, 90), st.integers(0, 1), st.integers(1, 127))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    unit=st.sampled_from([60, 80, 120, 160, 240, 480]),
    raw=st.lists(_NOTE, min_size=1, max_size=20),
    meter_=st.sampled_from([(4, 4), (3, 4), (6, 8), (2, 2), (5, 8)]),
    pickup=st.booleans(),
)
def test_round_trip_property(unit: int, raw: list, meter_: tuple[int, int], pickup: bool) -> None:
    notes = notes_array([r[0] * unit for r in raw], [r[1] * unit for r in raw], [r[2] for r in raw], [r[3] for r in raw], [r[4] for r in raw])
    # One key cannot start twice at one tick in one part (it would be one note).
    _, first = np.unique(np.stack([notes["start_tick"], notes["pitch"], notes["part"]], 1), axis=0, return_index=True)
    notes = notes[np.sort(first)]
    signatures = [(0, 1, 4), (480, *meter_)] if pickup else [(0, *meter_)]
    score = Score(notes, [Part("A", 1), Part("B", 2)], time_signatures=signatures)
    back = from_music21(to_music21(score))
    assert back.notes.tolist() == score.notes.tolist()
    assert back.time_signatures.tolist() == score.time_signatures.tolist()


def test_abc_keeps_its_title_and_names_an_unnamed_part(tmp_path) -> None:
    path = tmp_path / "cuckoo.abc"
    path.write_text("X:1\nT:Cuckoo Hill\nM:4/4\nL:1/4\nK:F\nF G A F | B A G2 |]\n")
    score = read_abc(path)
    assert score.title == "Cuckoo Hill"
    assert [p.name for p in score.parts] == ["Melody"]  # not "Part 1"
    voices = tmp_path / "voices.abc"
    voices.write_text("X:1\nT:Two\nM:4/4\nL:1/4\nK:C\nV:1\nc d e f|\nV:2\nC D E F|\n")
    assert [p.name for p in read_abc(voices).parts] == ["Melody", "Voice 2"]


# -- structure markers ---------------------------------------------------------
def held(name: str, ql: float, tie: str | None = None) -> note.Note:
    """A note under a fermata."""
    out = n(name, ql, tie)
    out.expressions.append(expressions.Fermata())
    return out


def test_fermatas_in_any_part_end_phrases_where_their_tied_notes_end() -> None:
    top = stream.Part([measure(1, n("G4"), n("A4"), n("B4"), n("C5", 1, "start")), measure(2, held("C5", 2, "stop"), held("D5", 2))])
    low = chord.Chord(["C3", "E3"], quarterLength=4)
    low.expressions.append(expressions.Fermata())
    bass = stream.Part([measure(1, n("C3", 4)), measure(2, low)])
    score = from_music21(stream.Score([top, bass]))
    assert score.markers.tolist() == [(2880, PHRASE_END), (3840, PHRASE_END)]  # the tie's end; the chord's end, once
    assert score.phrase_end_ticks.tolist() == [2880, 3840] and len(score.section_start_ticks) == 0


STRAINS = """X:1
T:Strains
M:4/4
L:1/4
K:G
D|:GABc|d2 d2:|
|:e2 dc|[1 B4:|[2 G4||
|gfed|g4|]
"""


def test_abc_repeats_and_double_bars_start_sections(tmp_path) -> None:
    path = tmp_path / "strains.abc"
    path.write_text(STRAINS)
    score = read_abc(path)
    # The |: after the pickup and the final |] bound the piece: not marked. The :| before the
    # second ending ends a phrase but starts no section; the || after it does both.
    assert score.time_signatures.tolist() == [(0, 1, 4), (480, 4, 4)]
    assert score.markers.tolist() == [(4320, PHRASE_END), (4320, SECTION_START), (8160, PHRASE_END), (10080, PHRASE_END), (10080, SECTION_START)]


def test_musicxml_double_bars_and_rehearsal_marks_start_sections() -> None:
    first = measure(1, n("C5", 2), note.Rest(quarterLength=2))  # the phrase ends at beat 2, before the rest
    first.rightBarline = bar.Barline("double")
    third = measure(3, n("E5", 4))
    third.insert(0, expressions.RehearsalMark("B"))
    score = from_music21(stream.Part([first, measure(2, n("D5", 4)), third]))
    assert score.markers.tolist() == [(960, PHRASE_END), (1920, SECTION_START), (3840, PHRASE_END), (3840, SECTION_START)]


def test_markers_are_written_as_fermatas_and_rehearsal_marks_and_read_back(tmp_path) -> None:
    notes = notes_array([0, 960, 1440, 2400, 2880, 0, 2880], [960, 480, 960, 480, 960, 2880, 960], [72, 74, 76, 74, 72, 48, 43], part=[0, 0, 0, 0, 0, 1, 1])
    # The note ending at 2400 crosses the barline (music21 ties it): its fermata goes on the last half. The
    # section starting at 2880 is a rehearsal mark, which also gives back the phrase end at 2880: no fermata there.
    markers = [(960, PHRASE_END), (2400, PHRASE_END), (2880, PHRASE_END), (2880, SECTION_START), (3840, PHRASE_END)]
    score = Score(notes, [Part("Soprano"), Part("Bass")], time_signatures=[(0, 4, 4)], markers=markers)
    path = tmp_path / "phrases.musicxml"
    write_musicxml(score, path)
    assert_valid_musicxml(path)
    text = path.read_text()
    assert text.count("<fermata") == 3 and text.count('<fermata type="upright"') == 3
    assert text.count("<rehearsal") == 1 and ">B</rehearsal>" in text
    back = read_musicxml(path)
    assert back.markers.tolist() == markers
    assert np.array_equal(back.notes, score.notes)
