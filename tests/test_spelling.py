"""Pitch spelling from the key and context (composer.render.spelling) and its use in MusicXML."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import make_score
from xsd import assert_valid_musicxml

from composer.formats import write
from composer.render.spelling import candidates, name_position, octave_of, position_name, spell, spell_score


def names(spelled: list[tuple[str, int]]) -> list[str]:
    return [step + ("#" * alter if alter > 0 else "b" * -alter) for step, alter in spelled]


def test_line_of_fifths_positions() -> None:
    assert [position_name(q) for q in (0, 1, -1, 6, -2, 12, -8)] == [("C", 0), ("G", 0), ("F", 0), ("F", 1), ("B", -1), ("B", 1), ("F", -1)]
    for q in range(-15, 20):
        assert name_position(*position_name(q)) == q
    assert sorted(names([position_name(q) for q in candidates(1)])) == ["B##", "C#", "Db"]
    assert octave_of(60, 1) == 3 and octave_of(59, -1) == 4 and octave_of(61, 1) == 4  # B#3, Cb4, C#4


def test_flat_key_diatonic_notes_take_flats() -> None:
    # A-flat major: A-flat, D-flat, G-flat (the lowered 7th), E-flat, B-flat -- never G#, C#, F#.
    spelled = spell([68, 61, 66, 63, 70, 72], range(6), [(0, -4, False)])
    assert names(spelled) == ["Ab", "Db", "Gb", "Eb", "Bb", "C"]


def test_sharp_key_takes_sharps() -> None:
    # A major: D# (raised 4th to E), not E-flat; C#, F#, G#.
    assert names(spell([62, 63, 64, 61, 66, 68], range(6), [(0, 3, False)])) == ["D", "D#", "E", "C#", "F#", "G#"]


def test_minor_raised_sixth_and_seventh() -> None:
    # A minor, melodic rising: F# and G#; falling: G and F natural.
    rising = spell([69, 71, 72, 74, 76, 78, 80, 81], range(8), [(0, 0, True)])
    assert names(rising) == ["A", "B", "C", "D", "E", "F#", "G#", "A"]
    falling = spell([81, 79, 77, 76], range(4), [(0, 0, True)])
    assert names(falling) == ["A", "G", "F", "E"]
    # C minor: B natural (not C-flat) and A natural (not B double flat).
    assert names(spell([67, 69, 71, 72], range(4), [(0, -3, True)])) == ["G", "A", "B", "C"]


def test_lowered_seventh_and_chromatic_passing_notes() -> None:
    major = [(0, 0, False)]
    assert names(spell([72, 70, 69], range(3), major)) == ["C", "Bb", "A"]  # b7 in C major
    assert names(spell([60, 61, 62, 63, 64], range(5), major)) == ["C", "C#", "D", "D#", "E"]  # rising: sharps
    assert names(spell([64, 63, 62, 61, 60], range(5), major)) == ["E", "Eb", "D", "Db", "C"]  # falling: flats


def test_context_follows_a_modulation() -> None:
    # C major signature, but a long stretch in E major: its D# and G# stay sharps, B-flat later in C stays a flat.
    e_major = [64, 66, 68, 69, 71, 73, 75, 76] * 3
    tail = [72, 70, 69, 67, 65, 64, 62, 60]
    spelled = names(spell(e_major + tail, range(len(e_major) + len(tail)), [(0, 0, False)]))
    assert "D#" in spelled[:24] and "Eb" not in spelled[:24] and "C#" in spelled[:24]


def test_spell_score_leaves_drums_alone_and_handles_key_changes() -> None:
    from composer.score import Part

    score = make_score(
        [(0, 1, 70, 0), (1, 1, 70, 0), (8, 1, 70, 0), (9, 1, 71, 0), (10, 1, 72, 0), (0, 1, 42, 1)],
        parts=[Part("Flute"), Part("Drums", is_drum=True)],
        key_signatures=[(0, -2, False), (8 * 480, 4, False)],
    )
    spelled = dict(zip(zip(score.notes["start_tick"].tolist(), score.notes["part"].tolist()), names(spell_score(score))))
    assert spelled[(0, 0)] == "Bb" and spelled[(8 * 480, 0)] == "A#"  # B-flat major, then E major
    assert spelled[(0, 1)] == "F#"  # a drum note: its plain spelling


def pitches_of(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    out = []
    for note in root.iter("note"):
        pitch = note.find("pitch")
        if pitch is None or note.find("tie[@type='stop']") is not None:
            continue
        alter = int(float(pitch.findtext("alter") or 0))
        out.append(pitch.findtext("step") + ("#" * alter if alter > 0 else "b" * -alter))
    return out


def test_musicxml_spells_from_the_key(tmp_path: Path) -> None:
    flat = make_score([(i, 1, p) for i, p in enumerate([68, 70, 72, 73, 75, 77, 78, 80])], parts=["Flute"], key_signatures=[(0, -4, False)])
    path = tmp_path / "ab.musicxml"
    write(flat, path)
    assert_valid_musicxml(path)
    assert pitches_of(path) == ["Ab", "Bb", "C", "Db", "Eb", "F", "Gb", "Ab"]
    root = ET.parse(path).getroot()
    assert [n.findtext("accidental") for n in root.iter("note")] == [None] * 6 + ["flat", None]  # G-flat is the only one shown

    minor = make_score([(i, 1, p) for i, p in enumerate([69, 71, 72, 74, 76, 78, 80, 81])], parts=["Oboe"], key_signatures=[(0, 0, True)])
    write(minor, tmp_path / "am.musicxml")
    assert pitches_of(tmp_path / "am.musicxml") == ["A", "B", "C", "D", "E", "F#", "G#", "A"]

    sharp = make_score([(0, 1, 62), (1, 1, 63), (2, 2, 64)], parts=["Violin"], key_signatures=[(0, 3, False)])
    write(sharp, tmp_path / "a.musicxml")
    assert pitches_of(tmp_path / "a.musicxml") == ["D", "D#", "E"]


def test_spelling_module_needs_no_music21() -> None:
    code = "import sys, composer.render.spelling as s; s.spell([61], [0]); print('music21' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_chromatic_runs_in_a_sharp_key() -> None:
    # A major: rising with sharps (but C, not B sharp), falling with flats.
    assert names(spell([69, 70, 71, 72, 73], range(5), [(0, 3, False)])) == ["A", "A#", "B", "C", "C#"]
    assert names(spell([76, 75, 74, 73, 72, 71, 70, 69], range(8), [(0, 3, False)])) == ["E", "Eb", "D", "C#", "C", "B", "Bb", "A"]
