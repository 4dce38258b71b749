"""composer.theory: keys, scales and the one pickup rule that every bar count follows."""

import numpy as np
import pytest

from composer import theory
from composer.errors import ScoreError
from composer.io.notation import partial_first_bar as notation_partial_first_bar
from composer.originality import OriginalityError, seed_end_tick
from composer.theory import (
    MAJOR_SCALE,
    MINOR_SCALE,
    NATURAL_MINOR_SCALE,
    bar_end_tick,
    bars_of,
    between_beats,
    key_name,
    meter_beat,
    opening,
    opening_key,
    parse_key,
    partial_first_bar,
    pickup_bars,
    scale_of,
    transposition,
)
from conftest import make_score

BAR = 4 * 480


def with_pickup(full_bars: int = 4):
    """A quarter-note pickup (its own 1/4 time signature), then ``full_bars`` bars of 4/4 with a note on each beat."""
    rows = [(0, 1, 67)] + [(1 + beat, 1, 60 + beat % 12) for beat in range(4 * full_bars)]
    return make_score(rows, time_signatures=[(0, 1, 4), (480, 4, 4)])


def without_pickup(full_bars: int = 4):
    return make_score([(beat, 1, 60 + beat % 12) for beat in range(4 * full_bars)], time_signatures=[(0, 4, 4)])


def test_keys_parse_name_and_transpose_the_short_way():
    assert parse_key("F# minor") == (3, True) and parse_key("Bb") == (-2, False) and parse_key("c#m") == (4, True)
    assert key_name(*parse_key("e")) == "e" and key_name(-1, False) == "F"
    assert transposition((0, False), (1, False)) == -5  # C up to G is a fourth down, not a fifth up
    assert transposition((0, False), (2, False)) == 2
    with pytest.raises(ScoreError, match="unknown tonic 'H'"):
        parse_key("H")
    assert opening_key(make_score([(0, 1, 60)], key_signatures=[(0, -3, True)])) == (-3, True)
    assert opening_key(make_score([(0, 1, 60)])) is None


def test_scales():
    assert np.flatnonzero(scale_of((0, False))).tolist() == list(MAJOR_SCALE)
    a_minor = np.flatnonzero(scale_of((0, True))).tolist()  # A: natural minor plus F# and G#
    assert a_minor == sorted((9 + step) % 12 for step in MINOR_SCALE)
    assert set(NATURAL_MINOR_SCALE) < set(MINOR_SCALE)


def test_the_pickup_rule():
    piece = with_pickup()
    assert partial_first_bar(piece) == (480, (4, 4))
    assert notation_partial_first_bar is partial_first_bar  # io re-exports the one rule
    assert pickup_bars(piece) == 1 and pickup_bars(without_pickup()) == 0
    assert piece.num_bars == 5 and bars_of(piece) == 4
    # A short first bar made by a meter change mid-bar is not a pickup: no time signature marks it as one.
    mid_bar_change = make_score([(0, 1, 60), (2, 3, 62), (5, 3, 64)], time_signatures=[(0, 4, 4), (960, 3, 4)])
    assert mid_bar_change.bar_starts().tolist()[:2] == [0, 960] and pickup_bars(mid_bar_change) == 0


def test_bar_counts_leave_the_pickup_out_everywhere():
    piece = with_pickup()
    starts = piece.bar_starts().tolist()
    assert bar_end_tick(piece, 2) == starts[3] == 480 + 2 * BAR
    assert bar_end_tick(piece, 4) is None
    assert opening(piece, 2).num_bars == 3 and bars_of(opening(piece, 2)) == 2
    assert opening(piece, 4) is piece
    plain = without_pickup()
    assert bar_end_tick(plain, 2) == 2 * BAR and opening(plain, 2).num_bars == 2


def test_seed_bars_count_a_pickup_as_bars_does():
    piece = with_pickup()
    assert seed_end_tick(piece, 2) == 480 + 2 * BAR  # the pickup and two full bars
    assert seed_end_tick(without_pickup(), 2) == 2 * BAR
    assert seed_end_tick(piece, 0) == 0
    with pytest.raises(OriginalityError, match=r"not shorter than the score \(4 bars\)"):
        seed_end_tick(piece, 4)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("tinynotation: 4/4 e4 e f g g f e d c c d e e4. d8 d2", "C"),  # the Ode to Joy: E and D weigh most, still C major
        ("tinynotation: 4/4 a4 b c' e' d' c' b a g# a b2 a1", "a"),
        ("tinynotation: 4/4 g4 a b c' d' e' f#' g'2 f#4 e d2 g1", "G"),
        ("tinynotation: 4/4 g4 a b c'2 b4 a g1", "G"),  # no F#: the last note settles it
    ],
)
def test_the_key_is_found_from_the_notes(text, expected):
    from composer.io.notation import parse_tinynotation

    melody = parse_tinynotation(text)
    assert len(melody.key_signatures) == 0  # TinyNotation gives no signature of its own
    assert key_name(*theory.estimate_key(melody)) == expected
    assert key_name(*theory.seed_key(melody)) == expected
    assert theory.seed_key(melody.replace(key_signatures=[(0, -1, True)])) == (-1, True)  # a signature is kept


def test_tonic_triad():
    assert theory.tonic_triad((0, False)) == (0, 4, 7)
    assert theory.tonic_triad((0, True)) == (9, 0, 4)


def test_the_beat_of_a_meter_and_the_ticks_between_beats():
    assert meter_beat(4, 4, 480) == (480, False) and meter_beat(2, 2, 480) == (960, False)
    assert meter_beat(6, 8, 480) == (720, True) and meter_beat(3, 8, 12) == (18, True) and meter_beat(3, 4, 12) == (12, False)
    # a bar of 4/4, then 6/8 from tick 1920: its dotted beats fall at 1920 and 2640
    score = make_score([(0, 4, 60), (4, 3, 62)], time_signatures=[(0, 4, 4), (1920, 6, 8)])
    assert between_beats(score, [0, 240, 480, 1440, 1920, 2160, 2400, 2640, 3000]).tolist() == [
        False, True, False, False, False, True, True, False, True]
