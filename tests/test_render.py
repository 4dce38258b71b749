"""The rendering layer: MusicXML/MXL, engraved SVG/PNG/PDF, WAV, piano roll, notebook HTML, live MIDI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import wave
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import CORPUS, make_score, note_rows
from xsd import assert_valid_musicxml, schema_errors

from composer.errors import ComposerError, WriteError
from composer.formats import Written, read, write
from composer.score import Part, Score, notes_array, slice_bars

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- scores --------------------------------------------------------------------
def satb() -> Score:
    """Two bars of four-part harmony in G major, 4/4, 96 qpm, with a title and metadata."""
    rows = []
    chords = [(67, 62, 59, 43), (69, 64, 60, 48), (71, 62, 55, 43), (72, 64, 57, 45), (74, 66, 57, 50), (71, 62, 55, 43)]
    durations = [1, 1, 1, 1, 2, 2]
    start = 0
    for chord, duration in zip(chords, durations):
        for part, pitch in enumerate(chord):
            rows.append((start, duration, pitch, part))
        start += duration
    return make_score(
        rows,
        parts=[Part("Soprano", 52), Part("Alto", 52), Part("Tenor", 52), Part("Bass", 52)],
        key_signatures=[(0, 1, False)],
        tempos=[(0, 96.0)],
        title="Little Chorale",
        metadata={"model": "lstm-3x512", "settings": "temperature=0.9 top_p=0.95", "seed": "17", "random seed": "1234"},
    )


def tied_melody() -> Score:
    """A note of five quarters in 4/4 (crosses the barline), then a dotted half."""
    return make_score([(0, 5, 60), (5, 3, 62)], parts=["Melody"])


def triplets() -> Score:
    third = Fraction(1, 3)
    return make_score([(0, third, 60), (third, third, 62), (2 * third, third, 64), (1, 1, 65), (2, 2, 67)], parts=["Flute"])


def pickup() -> Score:
    """A one-beat pickup (1/4), then 4/4."""
    return make_score([(0, 1, 67), (1, 2, 72), (3, 2, 71), (5, 4, 72)], parts=["Tune"], time_signatures=[(0, 1, 4), (480, 4, 4)])


def meter_change() -> Score:
    return make_score([(0, 4, 60), (4, 3, 62), (7, 3, 64), (10, 2, 65), (12, 1, 67)], parts=["Oboe"], time_signatures=[(0, 4, 4), (1920, 3, 4)])


def minor_key() -> Score:
    return make_score([(0, 1, 60), (1, 1, 62), (2, 1, 63), (3, 1, 59), (4, 4, 60)], parts=["Violin"], key_signatures=[(0, -3, True)])


def drums() -> Score:
    rows = [(0, 1, 36, 1), (1, 1, 38, 1), (2, 1, 36, 1), (3, 1, 38, 1)] + [(i / 2, 0.5, 42, 1) for i in range(8)]
    rows += [(0, 2, 60, 0), (2, 2, 64, 0)]
    return make_score(rows, parts=[Part("Piano", 0), Part("Drums", 0, is_drum=True)])


def chorale() -> Score:
    """16 bars of a real four-part chorale from the corpus (a hand-made one if the corpus is absent)."""
    path = CORPUS / "chorales" / "bwv10.mid"
    if path.exists():
        return slice_bars(read(path), 0, 16).replace(title="bwv10", metadata={"model": "corpus"})
    rows = []
    for bar in range(16):
        for beat in range(4):
            for part, pitch in enumerate((72, 64, 55, 48)):
                rows.append((bar * 4 + beat, 1, pitch + (beat % 2) * 2, part))
    return make_score(rows, parts=["Soprano", "Alto", "Tenor", "Bass"], title="hand-made chorale")


def voices_and_chords() -> Score:
    """One piano part: a held whole note under moving quarters (two voices), then chords."""
    rows = [(0, 4, 55), (0, 1, 72), (1, 1, 74), (2, 1, 76), (3, 1, 77)]
    rows += [(4, 2, p) for p in (60, 64, 67)] + [(6, 2, p) for p in (59, 62, 67)]
    return make_score(rows, parts=[Part("Piano", 0)])


CASES = {
    "voices": voices_and_chords,
    "satb": satb,
    "tied": tied_melody,
    "triplets": triplets,
    "pickup": pickup,
    "meter": meter_change,
    "minor": minor_key,
    "drums": drums,
}


def written(score: Score, folder: Path, name: str) -> Path:
    path = folder / name
    done = write(score, path)
    assert done.path == path
    return path


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def assert_one_line(exc: pytest.ExceptionInfo, *words: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and text.strip(), repr(text)
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


@pytest.fixture(scope="module")
def chorale_score() -> Score:
    return chorale()


# -- MusicXML ----------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_musicxml_is_schema_valid(case: str, tmp_path: Path) -> None:
    path = written(CASES[case](), tmp_path, f"{case}.musicxml")
    assert_valid_musicxml(path)


def test_xsd_helper_rejects_invalid_musicxml(tmp_path: Path) -> None:
    path = written(satb(), tmp_path, "a.musicxml")
    broken = tmp_path / "broken.musicxml"
    broken.write_text(path.read_text().replace("<part-name>Soprano</part-name>", "<part-nom>Soprano</part-nom>", 1))
    assert schema_errors(broken) is not None


def test_parts_have_instruments_names_and_midi(tmp_path: Path) -> None:
    root = parse(written(drums(), tmp_path, "a.musicxml"))
    score_parts = root.findall("part-list/score-part")
    assert [p.get("id") for p in score_parts] == ["P1", "P2"] == [p.get("id") for p in root.findall("part")]
    assert [p.findtext("part-name") for p in score_parts] == ["Piano", "Drums"]
    for part in score_parts:
        instrument = part.find("score-instrument")
        assert instrument is not None and instrument.findtext("instrument-name")
        assert part.find("midi-instrument").get("id") == instrument.get("id")
    assert [p.findtext("midi-instrument/midi-channel") for p in score_parts] == ["1", "10"]
    assert score_parts[0].findtext("midi-instrument/midi-program") == "1"
    clef = root.find("part[@id='P2']/measure/attributes/clef")
    assert clef.findtext("sign") == "percussion"
    # Drums: one instrument a drum key, unpitched notes at their drum-set place.
    kit = {m.get("id"): m.findtext("midi-unpitched") for m in score_parts[1].findall("midi-instrument")}
    assert kit == {"P2-I37": "37", "P2-I39": "39", "P2-I43": "43"}
    assert {m.findtext("midi-channel") for m in score_parts[1].findall("midi-instrument")} == {"10"}
    places = set()
    for note in root.find("part[@id='P2']").iter("note"):
        if note.find("rest") is None:
            assert note.find("pitch") is None
            places.add((note.find("instrument").get("id"), note.findtext("unpitched/display-step"), note.findtext("unpitched/display-octave"), note.findtext("notehead")))
    assert places == {("P2-I37", "F", "4", None), ("P2-I39", "C", "5", None), ("P2-I43", "G", "5", "x")}


def test_satb_header_clefs_tempo_and_metadata(tmp_path: Path) -> None:
    root = parse(written(satb(), tmp_path, "a.musicxml"))
    assert root.findtext("work/work-title") == "Little Chorale" == root.findtext("movement-title")
    encoding = root.find("identification/encoding")
    assert encoding.findtext("software").startswith("composer ")
    assert encoding.find("encoding-date") is None  # no date unless SOURCE_DATE_EPOCH gives one: same bytes any day
    fields = {f.get("name"): f.text for f in root.findall("identification/miscellaneous/miscellaneous-field")}
    assert fields == {"model": "lstm-3x512", "settings": "temperature=0.9 top_p=0.95", "seed": "17", "random seed": "1234"}
    assert [c.text for c in root.iter("creator")] == []  # no made-up composer ("Music21")

    clefs = []
    for part in root.findall("part"):
        found = part.findall("measure/attributes/clef")
        assert len(found) == 1
        clefs.append((found[0].findtext("sign"), found[0].findtext("line"), found[0].findtext("clef-octave-change")))
    assert clefs == [("G", "2", None), ("G", "2", None), ("G", "2", "-1"), ("F", "4", None)]

    sounds = [s for s in root.iter("sound") if s.get("tempo")]
    assert [s.get("tempo") for s in sounds] == ["96"]
    assert len(list(root.iter("metronome"))) == 1
    assert root.find("part[@id='P1']").find(".//metronome") is not None
    assert root.find("part[@id='P1']/measure/attributes/key/fifths").text == "1"
    assert root.findtext("part[@id='P1']/measure/attributes/time/beats") == "4"


def test_tempo_changes_only_in_first_part(tmp_path: Path) -> None:
    score = satb().replace(tempos=[(0, 96.0), (1920, 60.0)])
    root = parse(written(score, tmp_path, "a.musicxml"))
    assert [s.get("tempo") for s in root.iter("sound") if s.get("tempo")] == ["96", "60"]
    for part in root.findall("part")[1:]:
        assert part.find(".//metronome") is None and part.find(".//sound[@tempo]") is None


def test_clef_choice() -> None:
    from composer.render.musicxml import BASS, PERCUSSION, TREBLE, TREBLE_8VB, choose_clef

    assert choose_clef([72, 74, 76]) == TREBLE
    assert choose_clef([55, 57, 59]) == TREBLE_8VB
    assert choose_clef([40, 45, 50]) == BASS
    assert choose_clef([60, 62], name="Tenor") == TREBLE_8VB  # a tenor singing high still reads treble-8vb
    assert choose_clef([55, 57], name="Bass") == BASS
    assert choose_clef([36, 38], is_drum=True) == PERCUSSION
    assert choose_clef([]) == TREBLE


def test_note_crossing_barline_is_tied(tmp_path: Path) -> None:
    root = parse(written(tied_melody(), tmp_path, "a.musicxml"))
    measures = root.findall("part/measure")
    first = [n for n in measures[0].findall("note") if n.find("pitch") is not None]
    second = [n for n in measures[1].findall("note") if n.find("pitch") is not None]
    assert [(n.findtext("type"), n.find("tie").get("type")) for n in first] == [("whole", "start")]
    assert (second[0].findtext("type"), second[0].find("tie").get("type")) == ("quarter", "stop")
    assert second[0].find("notations/tied") is not None
    assert (second[1].findtext("type"), second[1].find("dot") is not None) == ("half", True)


def test_triplets_pickup_meter_and_minor(tmp_path: Path) -> None:
    root = parse(written(triplets(), tmp_path, "t.musicxml"))
    modified = [n.find("time-modification") for n in root.iter("note") if n.find("time-modification") is not None]
    assert len(modified) == 3 and {m.findtext("actual-notes") for m in modified} == {"3"}

    root = parse(written(pickup(), tmp_path, "p.musicxml"))
    measures = root.findall("part/measure")
    assert (measures[0].get("number"), measures[0].get("implicit")) == ("0", "yes")
    assert measures[0].findtext("attributes/time/beats") == "4"  # the real meter, shown once
    assert measures[1].get("number") == "1"

    root = parse(written(meter_change(), tmp_path, "m.musicxml"))
    meters = [(m.get("number"), m.findtext("attributes/time/beats")) for m in root.iter("measure") if m.find("attributes/time") is not None]
    assert meters == [("1", "4"), ("2", "3")]

    root = parse(written(minor_key(), tmp_path, "k.musicxml"))
    assert (root.findtext(".//key/fifths"), root.findtext(".//key/mode")) == ("-3", "minor")


def test_voices_and_rests(tmp_path: Path) -> None:
    root = parse(written(voices_and_chords(), tmp_path, "v.musicxml"))
    first = root.find("part/measure")
    assert {n.findtext("voice") for n in first.findall("note")} == {"1", "2"}
    second = root.findall("part/measure")[1]
    assert sum(n.find("chord") is not None for n in second.findall("note")) == 4  # two triads
    # A gap in the only voice shows a rest.
    root = parse(written(make_score([(0, 1, 60), (3, 1, 62)]), tmp_path, "r.musicxml"))
    rests = [n for n in root.iter("note") if n.find("rest") is not None]
    assert rests and all(n.get("print-object") != "no" for n in rests)


def test_control_characters_in_metadata_are_dropped(tmp_path: Path) -> None:
    score = satb().replace(title="Bad\x01Title", metadata={"settings": "a\x00b\tc"})
    path = written(score, tmp_path, "a.musicxml")
    assert_valid_musicxml(path)
    root = parse(path)
    assert root.findtext("work/work-title") == "BadTitle"
    assert root.findtext("identification/miscellaneous/miscellaneous-field") == "ab\tc"


def test_accidentals_follow_key_and_bar(tmp_path: Path) -> None:
    # B flat major: B flat needs nothing, B natural a natural, the repeat in the bar nothing; F sharp a sharp.
    score = make_score([(0, 1, 70), (1, 1, 71), (2, 1, 71), (3, 1, 66), (4, 1, 71)], parts=["Violin"], key_signatures=[(0, -2, False)])
    root = parse(written(score, tmp_path, "a.musicxml"))
    shown = [n.findtext("accidental") for n in root.iter("note") if n.find("pitch") is not None]
    assert shown == [None, "natural", None, "sharp", "natural"]


def test_round_trip_through_reader(tmp_path: Path) -> None:
    for name, make in CASES.items():
        score = make()
        back = read(written(score, tmp_path, f"{name}.musicxml"))
        # Drums too: written as <unpitched> notes with an <instrument> each, read back to their drum keys.
        assert note_rows(back) == note_rows(score), name
        assert [p.name for p in back.parts] == [p.name for p in score.parts], name
        assert [p.is_drum for p in back.parts] == [p.is_drum for p in score.parts], name
        assert back.time_signatures.tolist() == score.time_signatures.tolist(), name
        assert back.title == score.title, name
    back = read(written(drums(), tmp_path, "drums.mxl"))  # compressed: the document named by the container
    assert note_rows(back) == note_rows(drums())
    back = read(written(satb(), tmp_path, "again.musicxml"))
    assert [p.program for p in back.parts] == [52, 52, 52, 52]
    assert back.key_signatures.tolist() == [(0, 1, False)]
    assert back.tempos.tolist() == [(0, 96.0)]


def test_round_trip_of_a_real_chorale(tmp_path: Path, chorale_score: Score) -> None:
    back = read(written(chorale_score, tmp_path, "c.musicxml"))
    assert note_rows(back) == note_rows(chorale_score)


def test_off_grid_times_are_quantized(tmp_path: Path) -> None:
    score = Score(notes_array([0, 7, 487], [7, 480, 473], [60, 62, 64]), [Part("Synth")])
    path = written(score, tmp_path, "odd.musicxml")
    assert_valid_musicxml(path)
    rows = note_rows(read(path))
    assert all(start % 20 == 0 and duration % 20 == 0 for start, duration, _, _ in rows)  # 24 steps a beat at 480 ticks


def test_mxl_is_valid_readable_and_spares_a_musicxml_beside_it(tmp_path: Path) -> None:
    precious = tmp_path / "X.musicxml"
    precious.write_text("keep me")
    path = written(satb(), tmp_path, "X.mxl")
    assert precious.read_text() == "keep me"
    assert_valid_musicxml(path)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("mimetype") == b"application/vnd.recordare.musicxml"
    assert note_rows(read(path)) == note_rows(satb())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.musicxml", "X.mxl"]


def test_musicscore_opens_the_musicxml_cleanly(tmp_path: Path, chorale_score: Score) -> None:
    mscore = shutil.which("mscore3") or shutil.which("mscore") or shutil.which("musescore3")
    if mscore is None:
        pytest.skip("MuseScore 3 (mscore3) is not installed")
    source = written(chorale_score, tmp_path, "chorale.musicxml")
    pdf = tmp_path / "chorale.pdf"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run([mscore, "-o", str(pdf), str(source)], capture_output=True, text=True, env=env, timeout=180)
    said = done.stdout + done.stderr
    complaints = ("not a valid musicxml file", "error at line", "empty score", "no instrument found", "error")
    bad = [line for line in said.splitlines() if any(c in line.lower() for c in complaints)]
    assert not bad, said
    assert done.returncode == 0, said
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_musicxml_speed_for_a_16_bar_chorale(chorale_score: Score) -> None:
    import time

    from composer.render.musicxml import to_musicxml

    to_musicxml(chorale_score)  # imports music21
    start = time.perf_counter()
    to_musicxml(chorale_score)
    # About 0.3 s on a shared 2-core machine; generous so a busy machine does not fail it.
    assert time.perf_counter() - start < 3.0


# -- engraving ----------------------------------------------------------------------------
def test_svg_png_pdf(tmp_path: Path, chorale_score: Score) -> None:
    pytest.importorskip("verovio")
    svg = written(chorale_score, tmp_path, "c.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert b"<svg" in svg.read_bytes()

    pytest.importorskip("vl_convert", reason="PNG/PDF need vl-convert-python")
    png = written(chorale_score, tmp_path, "c.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 1000 <= width <= 4000 and 500 <= height <= 20000, (width, height)

    pdf = written(chorale_score, tmp_path, "c.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and b"%%EOF" in pdf[-64:]


def test_long_score_gives_a_pdf_of_several_a4_pages(tmp_path: Path) -> None:
    pytest.importorskip("verovio")
    pytest.importorskip("vl_convert", reason="PNG/PDF need vl-convert-python")
    pypdf = pytest.importorskip("pypdf")
    bars = 90
    score = make_score([(b * 4 + i, 1, 60 + (b + i) % 12) for b in range(bars) for i in range(4)], parts=["Melody"])
    reader = pypdf.PdfReader(written(score, tmp_path, "long.pdf"))
    assert len(reader.pages) >= 2
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_stacked_svg_pages() -> None:
    pytest.importorskip("verovio")
    from composer.render.engrave import stack_pages, svg_pages

    pages = svg_pages(satb()) * 2
    stacked = ET.fromstring(stack_pages(pages))
    inner = [e for e in stacked if e.tag.endswith("svg")]
    assert len(inner) == 2 and inner[1].get("y") not in (None, "0")


def test_tempo_glyph_becomes_an_outline() -> None:
    pytest.importorskip("verovio")
    from composer.render.engrave import inline_music_glyphs, to_svg

    svg = to_svg(satb())
    assert 'font-family="Leipzig"' in svg
    fixed = inline_music_glyphs(svg)
    ET.fromstring(fixed)
    assert 'font-family="Leipzig"' not in fixed and "<title" not in fixed.split("<style")[0].split("</defs>", 1)[-1]


def test_missing_rasterizer_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("verovio")
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    with pytest.raises(WriteError) as exc:
        write(satb(), tmp_path / "a.png")
    assert_one_line(exc, "vl-convert-python")
    assert list(tmp_path.iterdir()) == []


def test_score_verovio_cannot_load_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("verovio")
    from composer.render import engrave

    monkeypatch.setattr(engrave, "_musicxml_text", lambda score: "<score-partwise><oops")
    with pytest.raises(WriteError) as exc:
        write(satb(), tmp_path / "a.svg")
    assert_one_line(exc, "verovio")
    assert list(tmp_path.iterdir()) == []


# -- audio ---------------------------------------------------------------------------------
def wav_seconds(path: Path) -> tuple[float, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate(), w.getnchannels(), w.getsampwidth()


def test_wav_with_pretty_midi_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.render import audio

    monkeypatch.setenv(audio.BACKEND_ENV, "pretty_midi")
    score = satb()  # 8 quarters at 96 qpm = 5 s
    path = tmp_path / "a.wav"
    assert write(score, path) == Written(path, "synthesized with pretty_midi")  # the note the CLI prints
    assert not hasattr(audio, "last_backend")  # no module-global state
    seconds, channels, width = wav_seconds(path)
    assert abs(seconds - audio.seconds_of(score)) <= 1.5 and channels == 1 and width == 2
    assert audio.seconds_of(score) == pytest.approx(5.0)
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.abs(samples).max() > 10000  # not silent


def test_wav_with_fluidsynth(tmp_path: Path) -> None:
    from composer.render import audio

    if not audio.fluidsynth_available():
        pytest.skip("fluidsynth or a General MIDI soundfont is missing")
    score = satb()
    assert audio.render_wav(score, tmp_path / "a.wav", backend="fluidsynth") == "fluidsynth"
    seconds, channels, width = wav_seconds(tmp_path / "a.wav")
    assert abs(seconds - audio.seconds_of(score)) <= 1.5 and channels == 2 and width == 2


def test_audio_backend_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from composer.render import audio

    monkeypatch.setenv(audio.BACKEND_ENV, "banjo")
    with pytest.raises(WriteError) as exc:
        write(satb(), tmp_path / "a.wav")
    assert_one_line(exc, "banjo")
    monkeypatch.delenv(audio.BACKEND_ENV)
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    with pytest.raises(WriteError) as exc:
        audio.find_soundfont()
    assert_one_line(exc, "missing.sf2")
    monkeypatch.delenv(audio.SOUNDFONT_ENV)
    monkeypatch.setattr(audio, "SOUNDFONT_PLACES", ())
    assert audio.choose_backend() == "pretty_midi"
    with pytest.raises(WriteError) as exc:
        audio.render_wav(satb(), tmp_path / "b.wav", backend="fluidsynth")
    assert_one_line(exc, "fluidsynth")
    monkeypatch.setenv(audio.BACKEND_ENV, "fluidsynth")
    with pytest.raises(WriteError) as exc:
        write(satb(), tmp_path / "c.wav")  # through the atomic writer: its temporary file must go too
    assert_one_line(exc, "fluidsynth")
    # Nothing at all is left: no target, and no temporary file of any name (hidden ones included).
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_seconds_follow_tempo_changes() -> None:
    from composer.render.audio import seconds_of, ticks_to_seconds

    score = make_score([(0, 8, 60)], tempos=[(0, 120.0), (1920, 60.0)])
    assert ticks_to_seconds(score, 1920) == pytest.approx(2.0)
    assert seconds_of(score) == pytest.approx(6.0)


# -- piano roll, notebook --------------------------------------------------------------------
def test_piano_roll(tmp_path: Path, chorale_score: Score) -> None:
    from matplotlib.figure import Figure

    from composer.render.pianoroll import pitch_name, plot, write_piano_roll

    path = write_piano_roll(chorale_score, tmp_path / "roll.png")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roll.png"]
    figure = plot(satb())
    assert isinstance(figure, Figure)
    # A notebook shows it without pyplot or %matplotlib inline: IPython calls _repr_png_.
    assert figure._repr_png_()[:8] == PNG_SIGNATURE
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["C3", "C4", "C5"]  # a wide range: every C
    labels = [t.get_text() for t in plot(minor_key()).axes[0].get_yticklabels()]
    assert labels == ["B3", "C4", "C#4", "D4", "Eb4"]  # a narrow one: every pitch
    assert pitch_name(60) == "C4" and pitch_name(66) == "F#4"
    other = Figure()
    ax = other.add_subplot()
    assert plot(drums(), ax=ax) is other
    with pytest.raises(WriteError):
        write_piano_roll(satb(), tmp_path / "roll.png")  # exists


def test_notebook_html(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("verovio")
    from composer.render import audio
    from composer.render.notebook import score_html

    monkeypatch.setenv(audio.BACKEND_ENV, "pretty_midi")
    text = score_html(satb())
    assert "<svg" in text and "<audio controls" in text and "data:audio/wav;base64," in text
    assert "(empty score" in score_html(Score(None, [Part("x")]))


# -- live MIDI -----------------------------------------------------------------------------------
def test_schedule_order_and_timing_with_tempo_change() -> None:
    from composer.render.live import schedule

    score = make_score([(0, 1, 60), (1, 1, 62), (2, 2, 64), (4, 1, 65)], parts=[Part("Piano", 0)], tempos=[(0, 120.0), (960, 60.0)])
    events = [(round(t, 6), m.type, getattr(m, "note", None)) for t, m in schedule(score)]
    assert events == [
        (0.0, "program_change", None),
        (0.0, "note_on", 60),
        (0.5, "note_off", 60),
        (0.5, "note_on", 62),
        (1.0, "note_off", 62),
        (1.0, "note_on", 64),
        (3.0, "note_off", 64),
        (3.0, "note_on", 65),
        (4.0, "note_off", 65),
    ]


def test_play_sends_in_time_to_a_port() -> None:
    from composer.render.live import play

    class Port:
        def __init__(self) -> None:
            self.sent: list[tuple[float, str]] = []
            self.was_reset = False

        def send(self, message) -> None:  # noqa: ANN001
            self.sent.append((now[0], message.type))

        def reset(self) -> None:
            self.was_reset = True

    now = [0.0]
    port = Port()
    score = make_score([(0, 1, 60), (1, 1, 62)], tempos=[(0, 60.0)])
    play(score, port=port, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert [t for t, kind in port.sent if kind == "note_on"] == [0.0, 1.0]
    assert port.sent[-1] == (2.0, "note_off") and port.was_reset


@pytest.mark.parametrize("failure", ["import", "empty"])
def test_no_midi_ports_is_one_line(failure: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mido

    from composer.render.live import list_ports, play

    def names():  # noqa: ANN202
        if failure == "import":
            raise ModuleNotFoundError("No module named 'rtmidi'")
        return []

    monkeypatch.setattr(mido, "get_output_names", names)
    calls = (list_ports, lambda: play(satb())) if failure == "import" else (lambda: play(satb()),)
    for call in calls:
        with pytest.raises(ComposerError) as exc:
            call()
        assert_one_line(exc, "no MIDI output ports", "python-rtmidi" if failure == "import" else "software synthesizer")
    if failure == "empty":
        assert list_ports() == []


ALSA_LINE = b"ALSA lib seq_hw.c:466:(snd_seq_hw_open) open /dev/snd/seq failed: No such file or directory\n"


@pytest.mark.parametrize("how", ["raises", "empty"])
def test_list_ports_without_a_sequencer_says_why_and_exits_0(how: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture) -> None:
    """python-rtmidi installed, no ALSA sequencer (a container): the C library prints a raw line on fd 2, then rtmidi fails."""
    import mido

    from composer.cli import cli

    class SystemError_(Exception):  # rtmidi's own error type
        pass

    def names():  # noqa: ANN202
        os.write(2, ALSA_LINE)  # as the ALSA library does, below Python's sys.stderr
        if how == "raises":
            raise SystemError_("MidiOutAlsa::initialize: error creating ALSA sequencer client object.")
        return []

    monkeypatch.setattr(mido, "get_output_names", names)
    result = CliRunner().invoke(cli, ["play", "--list-ports"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no port listed
    assert result.stderr.strip() == (
        "no MIDI output ports: the MIDI system could not be opened (ALSA: open /dev/snd/seq failed: No such file or directory); "
        "start a software synthesizer (such as FluidSynth) or connect a MIDI device"
    )
    assert "python-rtmidi" not in result.output  # it is installed: no advice to install it
    assert capfd.readouterr().err == ""  # ALSA's raw line did not reach the terminal
    played = CliRunner().invoke(cli, ["play", str(CORPUS / "chorales" / "bwv10.mid")])
    assert played.exit_code == 1 and played.output.strip().splitlines()[-1].startswith("Error: no MIDI output ports: the MIDI system could not be opened (ALSA: ")


def test_list_ports_lists_the_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    import mido

    from composer.cli import cli

    monkeypatch.setattr(mido, "get_output_names", lambda: ["Midi Through:Midi Through Port-0 14:0", "FLUID Synth (123):Synth input port (123:0) 128:0"])
    result = CliRunner().invoke(cli, ["play", "--list-ports"])
    assert result.exit_code == 0 and result.stdout.splitlines() == ["Midi Through:Midi Through Port-0 14:0", "FLUID Synth (123):Synth input port (123:0) 128:0"]


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".musicxml", ".mxl", ".svg", ".png", ".pdf", ".wav"])
def test_empty_score_is_one_line_and_leaves_nothing(suffix: str, tmp_path: Path) -> None:
    empty = Score(None, [Part("Piano")])
    with pytest.raises(WriteError) as exc:
        write(empty, tmp_path / f"empty{suffix}")
    assert_one_line(exc, "no notes")
    assert list(tmp_path.iterdir()) == []


def test_render_package_imports_lightly() -> None:
    code = "import sys, composer.render, composer.io, composer.formats; print(any(m in sys.modules for m in ('music21', 'verovio', 'matplotlib', 'vl_convert')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "False", done.stderr


# -- formats, io and render apart ---------------------------------------------------------------
def test_convert_says_which_synthesizer_and_when_it_drew_a_piano_roll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from composer.cli import cli
    from composer.render import audio

    monkeypatch.setenv(audio.BACKEND_ENV, "pretty_midi")
    source = written(satb(), tmp_path, "a.mid")
    lines = []
    for target, *flags in (("a.wav",), ("roll.png", "--piano-roll"), ("a.musicxml",), ("b.mid", "--piano-roll")):
        result = CliRunner().invoke(cli, ["convert", str(source), "-o", str(tmp_path / target), *flags])
        assert result.exit_code == 0, result.output
        lines.append(result.output.strip())
    assert lines == [
        f"wrote {tmp_path / 'a.wav'} (synthesized with pretty_midi)",
        f"wrote {tmp_path / 'roll.png'} (piano roll)",
        f"wrote {tmp_path / 'a.musicxml'}",
        f"wrote {tmp_path / 'b.mid'}",  # --piano-roll is for pictures only
    ]
    assert (tmp_path / "roll.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mid", "a.musicxml", "a.wav", "b.mid", "roll.png"]


def test_written_is_a_path_for_open_and_read(tmp_path: Path) -> None:
    done = write(satb(), tmp_path / "a.mid")
    assert read(done) == read(done.path)
    assert satb().write(tmp_path / "b.mid") == tmp_path / "b.mid"  # Score.write still answers a plain Path


def test_io_reads_and_writes_midi_without_render_or_formats() -> None:
    code = (
        "import sys, composer.io.midi, composer.io.notation\n"
        "from composer.io import atomic_path\n"
        "print(sorted(m for m in sys.modules if m.startswith(('composer.render', 'composer.formats'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "[]", done.stderr


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from composer... import name`` in a file, at any depth."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("composer"):
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names if alias.name.startswith("composer"))
    return found


def test_io_never_imports_render_and_render_takes_no_private_names() -> None:
    package = Path(__file__).resolve().parent.parent / "composer"
    for path in sorted((package / "io").glob("*.py")):
        assert not [m for m, _ in _imports(path) if m.startswith(("composer.render", "composer.formats"))], path
    for path in [*sorted((package / "render").glob("*.py")), package / "formats.py"]:
        for module, name in _imports(path):
            private = [part for part in module.split(".") if part.startswith("_") and part != "_lazy"]
            dunder = name.startswith("__") and name.endswith("__")  # __version__ is public
            assert not private and (dunder or not name.startswith("_")), f"{path.name} imports {module}.{name}"


# -- issue 14: tempo in compound meters, pages, loudness, same bytes any day, metadata read back -----------------
def metronomes(path: Path) -> list[tuple[str, bool, str]]:
    return [
        (m.findtext("beat-unit"), m.find("beat-unit-dot") is not None, m.findtext("per-minute"))
        for m in parse(path).iter("metronome")
    ]


@pytest.mark.parametrize("meter, mark", [((6, 8), ("quarter", True, "100")), ((9, 8), ("quarter", True, "100")), ((12, 8), ("quarter", True, "100")),
                                         ((3, 8), ("quarter", False, "150")), ((4, 4), ("quarter", False, "150"))])
def test_compound_meters_count_dotted_quarters(meter: tuple[int, int], mark: tuple[str, bool, str], tmp_path: Path) -> None:
    beats = meter[0] * 4 / meter[1]
    score = make_score([(i * beats, beats, 67) for i in range(2)], parts=["Flute"], time_signatures=[(0, *meter)], tempos=[(0, 150.0)])
    path = written(score, tmp_path, "a.musicxml")
    assert_valid_musicxml(path)
    assert metronomes(path) == [mark]
    assert [s.get("tempo") for s in parse(path).iter("sound") if s.get("tempo")] == ["150"]  # playback still in quarters
    assert read(path).tempos.tolist() == [(0, 150.0)]


def test_abc_tempo_in_six_eight_keeps_its_dotted_quarter(tmp_path: Path) -> None:
    abc = tmp_path / "jig.abc"
    abc.write_text("X:1\nT:Jig\nM:6/8\nL:1/8\nQ:3/8=100\nK:Am\nA2B c2d | e3 A3 |]\n")
    score = read(abc)
    assert score.tempos.tolist() == [(0, 150.0)] and score.title == "Jig"
    assert metronomes(written(score, tmp_path, "jig.musicxml")) == [("quarter", True, "100")]


def test_tempo_mark_after_a_pickup_in_six_eight(tmp_path: Path) -> None:
    score = make_score([(0, 0.5, 64), (0.5, 3, 69), (3.5, 3, 71)], parts=["Tune"], time_signatures=[(0, 1, 8), (240, 6, 8)], tempos=[(0, 150.0)])
    path = written(score, tmp_path, "p.musicxml")
    assert_valid_musicxml(path)
    assert metronomes(path) == [("quarter", True, "100")]


def twenty_one_bars() -> Score:
    """bwv269 (21 bars of 3/4 after a pickup) from the corpus, else a hand-made four-part piece of 21 bars."""
    path = CORPUS / "chorales" / "bwv269.mid"
    if path.exists():
        return read(path)
    rows = [(bar * 3 + beat, 1, pitch + (bar + beat) % 3, part) for bar in range(21) for beat in range(3) for part, pitch in enumerate((72, 64, 55, 48))]
    return make_score(rows, parts=["Soprano", "Alto", "Tenor", "Bass"], time_signatures=[(0, 3, 4)], title="hand-made")


def test_no_orphaned_last_system_on_a_21_bar_chorale() -> None:
    pytest.importorskip("verovio")
    from composer.render.engrave import _base_options, _toolkit, svg_pages, systems_on_page

    score = twenty_one_bars()
    pages = svg_pages(score)
    assert all(page.count('class="system"') >= 2 for page in pages[-1:]) or len(pages) == 1
    # verovio's own layout put the last bar alone on page 2; the tighter one fits it on page 1.
    from composer.render.musicxml import to_musicxml

    plain = _toolkit(to_musicxml(score).decode(), _base_options(40))
    if plain.getPageCount() > 1 and systems_on_page(plain, plain.getPageCount()) == 1:
        assert len(pages) < plain.getPageCount()


def test_pdf_bytes_are_the_same_on_every_run(tmp_path: Path) -> None:
    pytest.importorskip("verovio")
    pytest.importorskip("vl_convert", reason="PDF needs vl-convert-python")
    pytest.importorskip("pypdf")
    code = "import sys; from composer.formats import read, write; write(read(sys.argv[1]), sys.argv[2])"
    source = written(satb(), tmp_path, "s.mid")
    for name in ("a.pdf", "b.pdf"):
        subprocess.run([sys.executable, "-c", code, str(source), str(tmp_path / name)], check=True)
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def peak_dbfs(path: Path) -> float:
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return 20 * np.log10(np.abs(samples.astype(np.int32)).max() / 32767)


@pytest.mark.parametrize("backend", ["pretty_midi", "fluidsynth"])
def test_wav_peaks_near_minus_one_dbfs(backend: str, tmp_path: Path) -> None:
    from composer.render import audio

    if backend == "fluidsynth" and not audio.fluidsynth_available():
        pytest.skip("fluidsynth or a General MIDI soundfont is missing")
    notes = satb().notes.copy()
    notes["velocity"] = 30  # soft playing still comes out at the same peak
    quiet = satb().replace(notes=notes)
    audio.render_wav(quiet, tmp_path / "a.wav", backend=backend)
    assert peak_dbfs(tmp_path / "a.wav") == pytest.approx(audio.PEAK_DBFS, abs=0.05)
    audio.render_wav(quiet, tmp_path / "b.wav", backend=backend)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_normalize_peak_keeps_silence() -> None:
    from composer.render.audio import normalize_peak

    assert not normalize_peak(np.zeros((10, 2), "<i2")).any()
    loud = normalize_peak(np.array([[100, -200], [50, 0]], "<i2"))
    assert abs(int(np.abs(loud).max()) - round(10 ** (-1 / 20) * 32767)) <= 1
    assert loud[0, 0] * 2 == -loud[0, 1]  # every sample scaled alike


def test_musicxml_bytes_do_not_depend_on_the_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.render.musicxml import SOURCE_DATE_EPOCH, to_musicxml

    monkeypatch.delenv(SOURCE_DATE_EPOCH, raising=False)
    plain = to_musicxml(satb())
    assert b"encoding-date" not in plain
    days = []
    code = "import sys; from composer.formats import read, write; write(read(sys.argv[1]), sys.argv[2])"
    source = written(satb(), tmp_path, "s.mid")
    for epoch in ("1700000000", "1800000000"):
        for name in ("a", "b"):  # two runs with one SOURCE_DATE_EPOCH: the same bytes
            env = {**os.environ, SOURCE_DATE_EPOCH: epoch}
            subprocess.run([sys.executable, "-c", code, str(source), str(tmp_path / f"{epoch}{name}.musicxml")], check=True, env=env)
        assert (tmp_path / f"{epoch}a.musicxml").read_bytes() == (tmp_path / f"{epoch}b.musicxml").read_bytes()
        days.append(parse(tmp_path / f"{epoch}a.musicxml").findtext("identification/encoding/encoding-date"))
    assert days == ["2023-11-14", "2027-01-15"]
    # Days apart, the files differ only in that date; without SOURCE_DATE_EPOCH, in nothing.
    a, b = ((tmp_path / f"{e}a.musicxml").read_text() for e in ("1700000000", "1800000000"))
    assert a.replace("2023-11-14", "2027-01-15") == b
    monkeypatch.setenv(SOURCE_DATE_EPOCH, "yesterday")
    with pytest.raises(WriteError) as exc:
        to_musicxml(satb())
    assert_one_line(exc, "SOURCE_DATE_EPOCH", "yesterday")


@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_musicxml_metadata_is_read_back(suffix: str, tmp_path: Path) -> None:
    score = satb().replace(metadata={**satb().metadata, "composer": "J. Doe", "generator": "composer"})
    back = read(written(score, tmp_path, f"a{suffix}"))
    assert back.metadata == score.metadata
    assert back.title == "Little Chorale"
    mid = read(written(score, tmp_path, "a.mid"))
    assert mid.metadata == back.metadata  # the same provenance as the MIDI file


def test_self_similarity_picture(tmp_path):
    from composer.render.structure import plot_self_similarity, write_self_similarity

    score = make_score([(4 * bar + beat, 1, 60 + (bar % 2) * 2 + beat) for bar in range(4) for beat in range(4)])
    figure = plot_self_similarity(score)
    image = figure.axes[0].images[0].get_array()
    assert image.shape == (4, 4) and image[0, 2] == 1.0 and image[0, 1] == 1.0  # bar 2 is bar 1 a tone higher
    path = write_self_similarity(score, tmp_path / "form.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ComposerError, match="exists"):
        write_self_similarity(score, path)
    with pytest.raises(WriteError, match=r"form\.jpg: .*\.png, \.svg or \.pdf"):
        write_self_similarity(score, tmp_path / "form.jpg")
    assert not (tmp_path / "form.jpg").exists()
    with pytest.raises(WriteError, match="no notes"):
        plot_self_similarity(Score(notes_array([], [], []), [Part("x")]))
