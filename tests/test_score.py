"""The Score type and its pure transforms, on hand-worked examples."""

from fractions import Fraction

import numpy as np
import pytest

from composer.errors import ScoreError
from composer.score import (
    PHRASE_END,
    SECTION_START,
    Part,
    Score,
    merge_parts,
    notes_array,
    pitch_range,
    quantize,
    resample,
    select_parts,
    slice_bars,
    split_parts,
    stack,
    transpose,
)
from composer.theory import estimate_key, key_name, key_tonic_pitch_class
from conftest import make_score, note_rows


def test_notes_are_kept_in_canonical_order_and_read_only():
    s = make_score([(1, 1, 60, 1), (0, 1, 55, 1), (0, 1, 72, 0), (0, 1, 76, 0)], parts=("S", "B"))
    assert note_rows(s) == [(0, 480, 76, 0), (0, 480, 72, 0), (0, 480, 55, 1), (480, 480, 60, 1)]
    with pytest.raises(ValueError):
        s.notes["pitch"][0] = 1
    assert s.start_beat.tolist() == [0, 0, 0, 1]
    assert s.end_tick == 960


def test_defaults_for_meter_and_tempo():
    s = make_score([(0, 1, 60)])
    assert s.time_signatures.tolist() == [(0, 4, 4)]
    assert s.tempos.tolist() == [(0, 120.0)]
    assert len(s.key_signatures) == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(notes=notes_array([0], [0], [60])), "duration_ticks must be > 0"),
        (dict(notes=notes_array([-1], [10], [60])), "start_tick must be >= 0"),
        (dict(notes=notes_array([0], [10], [128])), "pitch must be 0..127"),
        (dict(notes=notes_array([0], [10], [60], part=1)), "part must index one of the 1 parts"),
        (dict(notes=None, time_signatures=[(0, 3, 5)]), "power of two"),
        (dict(notes=None, key_signatures=[(0, 9, False)]), "sharps must be -7..7"),
        (dict(notes=None, tempos=[(0, 0.0)]), "tempo must be > 0"),
        (dict(notes=None, markers=[(0, 7)]), "marker kind must be one of"),
        (dict(notes=None, markers=[(-1, PHRASE_END)]), "ticks must be >= 0"),
    ],
)
def test_invalid_scores_raise_with_what_arrived(kwargs, message):
    with pytest.raises(ScoreError, match=message):
        Score(parts=[Part("x")], **kwargs)


def test_bar_starts_follow_meter_changes_and_a_pickup():
    s = make_score([(0, 1, 60), (1, 4, 62), (9, 1, 64)], time_signatures=[(0, 1, 4), (480, 4, 4), (480 * 5, 6, 8)])
    assert s.bar_starts().tolist() == [0, 480, 2400, 2400 + 1440]


def test_transpose_moves_notes_and_key_but_not_drums():
    s = make_score([(0, 1, 60, 0), (0, 1, 36, 1)], parts=(Part("Melody"), Part("Drums", is_drum=True)), key_signatures=[(0, 2, False)])
    up = transpose(s, 3)
    assert sorted(up.notes["pitch"].tolist()) == [36, 63]
    assert up.key_signatures["sharps"].tolist() == [-1]  # D major up a minor third is F major
    assert key_name(-1, False) == "F" and key_tonic_pitch_class(-1, False) == 5
    assert note_rows(up) == [(0, 480, 63, 0), (0, 480, 36, 1)]
    assert note_rows(s) == [(0, 480, 60, 0), (0, 480, 36, 1)]  # the original is untouched
    with pytest.raises(ScoreError, match="outside MIDI"):
        transpose(s, 100)


def test_quantize_snaps_to_grid_and_keeps_a_minimum_length():
    s = make_score([(Fraction(1, 7), Fraction(1, 100), 60), (Fraction(13, 12), Fraction(1, 3), 62)])
    q = quantize(s, 4)  # sixteenths: 120 ticks
    assert note_rows(q) == [(120, 120, 60, 0), (480, 240, 62, 0)]
    assert note_rows(quantize(s, 12))[1] == (520, 160, 62, 0)


def test_resample_scales_ticks():
    s = make_score([(1, 0.5, 60)], tempos=[(480, 90.0)])
    r = resample(s, 96)
    assert note_rows(r) == [(96, 48, 60, 0)]
    assert r.tempos.tolist() == [(0, 120.0), (96, 90.0)]


def test_slice_bars_moves_bars_to_zero_and_carries_the_state_in_force():
    s = make_score(
        [(0, 4, 60), (4, 2, 62), (6, 4, 64), (8, 4, 65)],
        time_signatures=[(0, 4, 4)],
        key_signatures=[(0, -1, False)],
        tempos=[(0, 100.0), (480 * 6, 80.0)],
    )
    piece = slice_bars(s, 1, 2)
    assert note_rows(piece) == [(0, 960, 62, 0), (960, 960, 64, 0)]  # the last note is cut at the slice's end
    assert piece.key_signatures.tolist() == [(0, -1, False)]
    assert piece.tempos.tolist() == [(0, 100.0), (960, 80.0)]
    with pytest.raises(ScoreError):
        slice_bars(s, 2, 1)


def test_select_split_merge_stack_parts():
    s = make_score([(0, 1, 72, 0), (0, 1, 60, 1), (0, 1, 48, 2)], parts=("S", "T", "B"))
    assert [p.name for p in select_parts(s, [2, 0]).parts] == ["B", "S"]
    assert note_rows(select_parts(s, [2, 0])) == [(0, 480, 48, 0), (0, 480, 72, 1)]  # renumbered B=0, S=1, in canonical (start, part) order
    singles = split_parts(s)
    assert [x.num_parts for x in singles] == [1, 1, 1]
    assert stack(singles) == s
    merged = merge_parts(s, [1, 2], name="Low")
    assert [p.name for p in merged.parts] == ["S", "Low"]
    assert note_rows(merged) == [(0, 480, 72, 0), (0, 480, 60, 1), (0, 480, 48, 1)]
    assert pitch_range(s) == (48, 72)


def test_equality_and_replace():
    s = make_score([(0, 1, 60)])
    assert s == s.replace()
    assert s != s.replace(notes=notes_array([0], [480], [61]))
    assert np.array_equal(s.replace(title="x").notes, s.notes)



def test_markers_are_sorted_deduplicated_read_only_and_compared():
    s = make_score([(0, 4, 60)], markers=[(1920, PHRASE_END), (960, SECTION_START), (960, PHRASE_END), (1920, PHRASE_END)])
    assert s.markers.tolist() == [(960, PHRASE_END), (960, SECTION_START), (1920, PHRASE_END)]
    assert s.phrase_end_ticks.tolist() == [960, 1920] and s.section_start_ticks.tolist() == [960]
    with pytest.raises(ValueError):
        s.markers["tick"][0] = 1
    assert len(make_score([(0, 1, 60)]).markers) == 0
    assert s != s.replace(markers=None) and s == s.replace()
    assert "2 phrase markers, 1 section markers" in repr(s)


def test_transforms_keep_shift_cut_and_rescale_markers():
    # Two 4/4 bars; a phrase ends and a section starts at the barline, and a phrase ends at the end.
    s = make_score([(0, 4, 60), (4, 3.9, 62)], key_signatures=[(0, 0, False)], markers=[(1920, PHRASE_END), (1920, SECTION_START), (3792, PHRASE_END)])
    assert transpose(s, 2).markers.tolist() == s.markers.tolist()
    assert select_parts(s, [0]).markers.tolist() == s.markers.tolist()
    assert quantize(s, 4).markers.tolist() == [(1920, PHRASE_END), (1920, SECTION_START), (3840, PHRASE_END)]
    assert resample(s, 96).markers.tolist() == [(384, PHRASE_END), (384, SECTION_START), (758, PHRASE_END)]
    # A slice keeps the phrase end at its own end and the section start at its own start.
    assert slice_bars(s, 0, 1).markers.tolist() == [(1920, PHRASE_END)]
    assert slice_bars(s, 1, 2).markers.tolist() == [(0, SECTION_START), (1872, PHRASE_END)]
    other = make_score([(0, 8, 48)], markers=[(1920, PHRASE_END), (2880, PHRASE_END)])
    assert stack([s, other]).markers.tolist() == [(1920, PHRASE_END), (1920, SECTION_START), (2880, PHRASE_END), (3792, PHRASE_END)]


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([(0, 1, 67), (1, 1, 69), (2, 1, 71), (3, 1, 72), (4, 2, 71), (6, 1, 69), (7, 2, 67)], "G"),
        ([(0, 1, 57), (1, 1, 60), (2, 1, 64), (3, 2, 68), (5, 2, 69)], "a"),
        ([(0, 1, 65), (1, 1, 67), (2, 1, 69), (3, 1, 70), (4, 2, 72), (6, 2, 65)], "F"),
    ],
)
def test_estimate_key(rows, expected):
    assert key_name(*estimate_key(make_score(rows))) == expected
