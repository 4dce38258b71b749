"""Music metrics: hand-made scores with answers worked out by hand, real chorales, and properties that must always hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from composer.errors import ComposerError
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.formats import read
from composer.metrics import (
    METRICS,
    NOTE_LENGTH_BIN_NAMES,
    NOTE_LENGTH_BINS_BEATS,
    MetricsError,
    VoiceLeading,
    average_pitch_interval,
    compute_metrics,
    kernel_densities,
    empty_beat_rate,
    groove_consistency,
    n_pitches_used,
    note_length_histogram,
    overlap_area,
    pairwise_distances,
    pitch_class_entropy,
    pitch_range,
    polyphony,
    scale_consistency,
    voice_leading,
)
from composer.score import Part, Score, notes_array, resample
from conftest import corpus_files, make_score

SATB = ("Soprano", "Alto", "Tenor", "Bass")
C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def scale_score(tpb: int = 480) -> Score:
    """C4 to C5 in quarter notes: two bars of 4/4."""
    return make_score([(i, 1, p) for i, p in enumerate(C_MAJOR_SCALE)], tpb=tpb)


def bin_of(name: str) -> int:
    return NOTE_LENGTH_BIN_NAMES.index(name)


# -- the scalar metrics, by hand ----------------------------------------------------
def test_c_major_scale():
    score = scale_score()
    # Pitch classes C twice, D E F G A B once each, of 8 notes: -(2/8 log2 2/8 + 6 * 1/8 log2 1/8) = 0.5 + 2.25.
    assert pitch_class_entropy(score) == pytest.approx(2.75)
    assert scale_consistency(score) == 1.0
    assert pitch_range(score) == 12
    assert n_pitches_used(score) == 8
    assert polyphony(score) == 1.0
    assert empty_beat_rate(score) == 0.0
    assert groove_consistency(score) == 1.0  # both bars: onsets on the four beats
    assert average_pitch_interval(score) == pytest.approx((2 + 2 + 1 + 2 + 2 + 2 + 1) / 7)


def test_four_chromatic_notes():
    score = make_score([(i, 1, 60 + i) for i in range(4)])  # C C# D D#
    assert pitch_class_entropy(score) == pytest.approx(2.0)
    # No diatonic scale holds three semitones in a row; B flat major holds C, D, E flat: 3 of 4.
    assert scale_consistency(score) == pytest.approx(0.75)
    assert pitch_range(score) == 3
    assert average_pitch_interval(score) == 1.0


def test_one_pitch_class_has_zero_entropy():
    assert pitch_class_entropy(make_score([(0, 1, 48), (1, 1, 60), (2, 1, 72)])) == 0.0
    assert n_pitches_used(make_score([(0, 1, 48), (1, 1, 60), (2, 1, 72), (3, 1, 60)])) == 3


def test_polyphony_and_empty_beats_of_a_chord_a_rest_and_a_note():
    # A C major triad (G held two beats, C and E four), two beats' rest, then C5 for a beat.
    score = make_score([(0, 4, 60), (0, 4, 64), (0, 2, 67), (6, 1, 72)])
    # Pitches sounding: 3 for two beats, 2 for two beats, none for two, 1 for one.
    assert polyphony(score) == pytest.approx((3 * 2 + 2 * 2 + 1 * 1) / (2 + 2 + 1))
    assert empty_beat_rate(score) == pytest.approx(2 / 7)  # beats 5 and 6 of 7


def test_a_unison_of_two_parts_counts_once_in_polyphony():
    score = make_score([(0, 1, 60, 0), (0, 1, 60, 1)], parts=("A", "B"))
    assert polyphony(score) == 1.0


def test_a_note_ending_on_a_beat_does_not_fill_the_next_beat():
    # MusPy's code would count beat 2 as filled (it takes a note's end beat as sounding) and say 0.
    assert empty_beat_rate(make_score([(0, 1, 60), (2, 1, 62)])) == pytest.approx(1 / 3)
    # A note over a beat's boundary fills both beats.
    assert empty_beat_rate(make_score([(0.5, 1, 60)])) == 0.0


def test_groove_consistency_counts_differing_onset_steps():
    # Bar 1: onsets on the four beats; bar 2: one whole note. Three of 96 grid steps differ.
    score = make_score([(0, 1, 60), (1, 1, 62), (2, 1, 64), (3, 1, 65), (4, 4, 67)])
    assert groove_consistency(score) == pytest.approx(1 - 3 / 96)
    assert groove_consistency(resample(score, 96)) == pytest.approx(1 - 3 / 96)  # the file's resolution does not matter


def test_groove_consistency_in_three_four_and_a_single_bar():
    # 3/4: bar 1 quarters (onsets 0, 24, 48 of 72 steps), bar 2 a half and a quarter (0, 48): one step differs.
    score = make_score([(0, 1, 60), (1, 1, 62), (2, 1, 64), (3, 2, 65), (5, 1, 67)], time_signatures=[(0, 3, 4)])
    assert groove_consistency(score) == pytest.approx(1 - 1 / 72)
    assert math.isnan(groove_consistency(make_score([(0, 1, 60), (1, 1, 62)])))


def test_average_pitch_interval_stays_inside_each_part():
    # Part 0: C4 -> G4 (7); part 1: C3 -> D3 -> C3 (2, 2). The jump between parts is no interval.
    score = make_score([(0, 1, 67, 0), (0, 1, 48, 1), (1, 1, 60, 0), (1, 1, 50, 1), (2, 1, 48, 1)], parts=("Upper", "Lower"))
    assert average_pitch_interval(score) == pytest.approx(11 / 3)
    assert math.isnan(average_pitch_interval(make_score([(0, 1, 60)])))


def test_drum_parts_are_left_out_of_pitch_metrics():
    parts = (Part("Melody"), Part("Drums", is_drum=True))
    score = make_score([(0, 1, 60, 0), (1, 1, 64, 0), (0, 1, 36, 1), (1, 1, 42, 1)], parts=parts)
    assert pitch_range(score) == 4
    assert n_pitches_used(score) == 2
    assert pitch_class_entropy(score) == 1.0
    assert polyphony(score) == 1.0


def test_a_score_without_notes():
    empty = Score(None, [Part("Melody")])
    values = compute_metrics(empty)
    assert values["pitch_range"] == 0 and values["n_pitches_used"] == 0  # as MusPy
    for name in ("pitch_class_entropy", "scale_consistency", "polyphony", "empty_beat_rate", "groove_consistency", "average_pitch_interval"):
        assert math.isnan(values[name]), name
    assert note_length_histogram(empty).tolist() == [0.0] * len(NOTE_LENGTH_BINS_BEATS)


def test_every_metric_is_documented_in_one_line():
    assert set(METRICS) == {
        "pitch_class_entropy", "scale_consistency", "pitch_range", "n_pitches_used",
        "polyphony", "empty_beat_rate", "groove_consistency", "average_pitch_interval",
    }  # fmt: skip
    for name, function in METRICS.items():
        assert function.__name__ == name
        assert function.__doc__ and function.__doc__.strip().splitlines()[0].endswith((".", ")"))


# -- note lengths ------------------------------------------------------------------
def test_note_length_histogram():
    score = make_score([(0, 1.5, 60), (1.5, 0.5, 62), (2, 0.5, 64), (2.5, 1 / 3, 65), (3, 6, 67), (9, 0.3, 69)])
    expected = np.zeros(len(NOTE_LENGTH_BINS_BEATS))
    expected[bin_of("dotted quarter")] = 1 / 6
    expected[bin_of("eighth")] = 2 / 6
    expected[bin_of("eighth triplet")] = 2 / 6  # 1/3 exactly, and 0.3 (nearer 1/3 than 1/4)
    expected[bin_of("whole")] = 1 / 6  # six beats: the nearest class is the whole note
    assert note_length_histogram(score) == pytest.approx(expected)


# -- overlap area --------------------------------------------------------------------
def test_overlap_of_two_single_values():
    # One value each: both kernels take the pooled spread |d| / sqrt(2) as bandwidth, so the
    # overlap of N(0, h) and N(d, h) is 2 * Phi(-d / 2h) = erfc(1/2) = 0.4795, whatever d is.
    assert overlap_area([0.0], [1.0]) == pytest.approx(math.erfc(0.5), abs=1e-5)
    assert overlap_area([3.0], [-7.0]) == pytest.approx(math.erfc(0.5), abs=1e-5)


def test_overlap_of_a_sample_with_itself_and_with_a_far_one():
    values = [1.0, 2.0, 2.5, 4.0, 7.0]
    assert overlap_area(values, values) == pytest.approx(1.0, abs=1e-6)
    assert overlap_area([5.0, 5.0], [5.0]) == 1.0
    assert overlap_area([0.0, 0.1, 0.2], [100.0, 100.1]) < 1e-9


def test_overlap_leaves_out_nan_and_is_nan_without_values():
    assert overlap_area([1.0, math.nan, 2.0], [1.5, 3.0]) == overlap_area([1.0, 2.0], [1.5, 3.0])
    assert math.isnan(overlap_area([], [1.0]))
    assert math.isnan(overlap_area([math.nan], [1.0]))


samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_overlap_is_symmetric_and_between_zero_and_one(a, b):
    forward = overlap_area(a, b)
    assert 0.0 <= forward <= 1.0
    assert forward == pytest.approx(overlap_area(b, a), abs=1e-9)


def test_overlap_is_symmetric_when_a_spread_is_rounding_noise():
    # Found by hypothesis: whether -1000 and -999.9999999999999 stayed distinct once standardized
    # depended on the order of the samples, and the two orders gave 0.0006 and 0.0.
    a, b = [0, 0, 0, 2], [-1000, -999.9999999999999]
    assert overlap_area(a, b) == pytest.approx(overlap_area(b, a), abs=1e-9)


# Values on a 0.001 grid, so that scaling and shifting them keeps distinct values distinct in floating point.
gridded = st.lists(st.integers(-10**6, 10**6).map(lambda i: i / 1000), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(gridded, gridded, st.floats(0.01, 100), st.floats(-100, 100))
def test_overlap_does_not_depend_on_units(a, b, scale, shift):
    moved = overlap_area([x * scale + shift for x in a], [x * scale + shift for x in b])
    assert moved == pytest.approx(overlap_area(a, b), abs=1e-4)


def test_kernel_densities_are_densities_in_the_values_units():
    grid, fa, fb = kernel_densities([1000.0, 1002.0, 1003.0], [1010.0, 1011.0])
    step = grid[1] - grid[0]
    assert fa.sum() * step == pytest.approx(1.0, abs=1e-4) and fb.sum() * step == pytest.approx(1.0, abs=1e-4)
    assert grid[fa.argmax()] < 1005 < grid[fb.argmax()]
    assert all(len(x) == 0 for x in kernel_densities([2.0, 2.0], [2.0]))


def test_pairwise_distances():
    a = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    assert sorted(pairwise_distances(a).tolist()) == pytest.approx([1.0, math.sqrt(18), 5.0])
    assert pairwise_distances(a, np.array([[0.0, 0.0]])).tolist() == pytest.approx([0.0, 5.0, 1.0])


# -- voice leading -----------------------------------------------------------------
def chorale(rows) -> Score:
    """rows: (start_beat, duration_beats, pitch, part) with part 0 the soprano."""
    return make_score(rows, parts=SATB)


def chords(*columns) -> Score:
    """Quarter-note chords, each given top to bottom as (soprano, alto, tenor, bass)."""
    return chorale([(beat, 1, pitch, part) for beat, chord in enumerate(columns) for part, pitch in enumerate(chord)])


def test_parallel_fifths_and_octaves_by_hand():
    # G4 E4 C4 C3 -> A4 F4 D4 D3, every voice up a step:
    # soprano-tenor 7 -> 7 and soprano-bass 19 -> 19 (a compound fifth) are parallel fifths,
    # tenor-bass 12 -> 12 parallel octaves; the other pairs change interval.
    result = voice_leading(chords((67, 64, 60, 48), (69, 65, 62, 50)))
    assert result == VoiceLeading(notes=8, parallel_fifths=2, parallel_octaves=1, voice_crossings=0, range_violations=0)
    assert result.per_100_notes() == {"parallel_fifths": 25.0, "parallel_octaves": 12.5, "voice_crossings": 0.0, "range_violations": 0.0}


def test_good_voice_leading_has_no_faults():
    # I - IV - V - I in C, textbook: C5 A4 B4 C5 / G4 A4 G4 G4 / E4 F4 D4 E4 / C3 F3 G3 C3.
    result = voice_leading(chords((72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 55), (72, 67, 64, 48)))
    assert result == VoiceLeading(16, 0, 0, 0, 0)


def test_fifths_by_contrary_motion_repeated_notes_or_octave_leaps_are_not_parallels():
    contrary = chords((67, 64, 55, 48), (62, 59, 55, 55))  # soprano-bass G4/C3 -> D4/G3: fifth to fifth, contrary
    repeated = chords((67, 64, 55, 48), (67, 64, 55, 48))  # the same chord again
    leap = chords((67, 64, 55, 48), (79, 64, 55, 60))  # soprano and bass both leap an octave
    for score in (contrary, repeated, leap):
        v = voice_leading(score)
        assert (v.parallel_fifths, v.parallel_octaves) == (0, 0)


def test_parallels_follow_the_onsets_of_the_two_voices_only():
    # Soprano G4 -> A4 and bass C3 -> D3 in half notes, while the alto moves in quarters in between.
    score = chorale([(0, 2, 67, 0), (2, 2, 69, 0), (0, 1, 64, 1), (1, 1, 62, 1), (2, 2, 65, 1), (0, 4, 55, 2), (0, 2, 48, 3), (2, 2, 50, 3)])
    assert voice_leading(score).parallel_fifths == 1  # soprano-bass 19 -> 19


def test_voice_crossings_and_range_violations_by_hand():
    # The alto above the soprano at the first chord; the bass down to C2 and the soprano up to A5.
    result = voice_leading(chords((64, 67, 55, 48), (65, 64, 57, 36), (81, 72, 64, 48)))
    assert result.voice_crossings == 1
    assert result.range_violations == 2


def test_voice_leading_needs_four_parts():
    with pytest.raises(MetricsError, match="four-part .* got 1 part$"):
        voice_leading(scale_score())


def test_pooled_counts_add_up():
    a = VoiceLeading(10, 1, 0, 2, 3)
    assert a + VoiceLeading(30, 1, 1, 0, 1) == VoiceLeading(40, 2, 1, 2, 4)
    assert math.isnan(VoiceLeading(0, 0, 0, 0, 0).per_100_notes()["voice_crossings"])


def test_bach_writes_almost_no_parallels():
    """Real chorales: the rules the metric encodes are the rules Bach kept (a reality check of the detector)."""
    total = VoiceLeading(0, 0, 0, 0, 0)
    for path in corpus_files("chorales")[:40]:
        score = read(path)
        if score.num_parts == 4:
            total = total + voice_leading(score)
    rates = total.per_100_notes()
    assert total.notes > 5000
    assert rates["parallel_fifths"] < 0.5 and rates["parallel_octaves"] < 0.5


# -- properties ----------------------------------------------------------------------
notes_strategy = st.lists(
    st.tuples(st.integers(0, 4000), st.integers(1, 2000), st.integers(0, 127), st.integers(0, 3)),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(notes_strategy, st.sampled_from([(4, 4), (3, 4), (6, 8), (5, 8)]))
def test_metrics_never_crash_and_stay_in_range(rows, meter):
    notes = notes_array([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    score = Score(notes, [Part(name) for name in SATB], ticks_per_beat=96, time_signatures=[(0, *meter)])
    values = compute_metrics(score)
    bounds = {
        "pitch_class_entropy": (0, math.log2(12)),
        "scale_consistency": (0, 1),
        "pitch_range": (0, 127),
        "n_pitches_used": (0, 128),
        "polyphony": (1, 128),
        "empty_beat_rate": (0, 1),
        "groove_consistency": (0, 1),
        "average_pitch_interval": (0, 127),
    }
    for name, value in values.items():
        low, high = bounds[name]
        assert math.isnan(value) or low - 1e-9 <= value <= high + 1e-9, (name, value)
    histogram = note_length_histogram(score)
    assert histogram.sum() == pytest.approx(1.0 if len(score.notes) else 0.0)
    vl = voice_leading(score)
    assert vl.notes == len(score.notes) and min(vl.to_dict().values()) >= 0


# -- form: repeats, cadences, endings (worked out by hand) --------------------------
def _tiny(text: str, sharps: int | None = 0):
    from composer.io.notation import parse_tinynotation

    score = parse_tinynotation("tinynotation: 4/4 " + text)
    return score if sharps is None else score.replace(key_signatures=[(0, sharps, False)])


# A A B A, two bars each: bar 2 (c1) comes back transposed as bar 6 (e1).
AABA = "e4 d e f c1 e4 d e f c1 g4 a g f e1 e4 d e f c1"


def test_an_aaba_tune_repeats_its_a_section():
    from composer.metrics import structure_metrics

    m = structure_metrics(_tiny(AABA))
    assert m.bars == 8
    assert m.bar_repeats == 4 / 8  # bars 3, 4, 7, 8
    assert m.bar_repeats_transposed == 5 / 8  # and bar 6, bar 2 a third higher
    assert m.unit_repeats == 2 / 4  # units 3-4 and 7-8 repeat 1-2
    assert m.cadences_at_phrase_ends == 1.0  # bars 4 and 8 end on whole notes
    assert m.cadences_elsewhere == 2 / 6  # bars 2 and 6 of 1, 2, 3, 5, 6, 7
    assert m.ends_on_tonic == 1.0


def test_the_form_heard_names_returns_and_varied_returns():
    from composer.metrics import form_heard

    score = _tiny(AABA)
    assert form_heard(score, 2) == "A A B A"
    assert form_heard(score, 4) == "A B"  # bars 5-8 open with B's bar
    assert form_heard(score, 1) == "A B A B C D A B"  # bar by bar: e1 (bar 6) is no c1 without transposition
    assert form_heard(score, 2, bars=4) == "A A"
    assert form_heard(score, 16) == ""  # not one whole section
    varied = _tiny("c4 d e f g1 c4 d e f g2 a2 c4 d e f g1 c4 d e f g1")  # A A' A A: a varied return, then exact ones
    assert form_heard(varied, 2) == "A A' A A"
    with pytest.raises(ComposerError):
        form_heard(score, 0)


def test_a_transposed_repeat_counts_only_under_transposition():
    from composer.metrics import structure_metrics

    m = structure_metrics(_tiny("c4 d e f d4 e f# g"))
    assert (m.bar_repeats, m.bar_repeats_transposed, m.unit_repeats) == (0.0, 0.5, 0.0)
    rhythm_differs = structure_metrics(_tiny("c4 d e f d4 e f#8 g8 r4"))
    assert rhythm_differs.bar_repeats_transposed == 0.0


def test_what_closes_a_bar():
    from composer.metrics import cadences

    # even quarters: no; a rest at the end: yes; last note longest and >= a beat: yes; a long note
    # before short ones: no; a whole note: yes; a note tied into the next bar: yes, and that next bar,
    # where no note starts, no; a half note tied to a quarter: yes; a bar after it of even quarters: no
    score = _tiny("c4 d e f c4 d e r c4 d e2 c2 d4 e c1 c1~ c1 e4 d c2~ c4 d e f")
    assert cadences(score, 16).tolist() == [False, True, True, False, True, True, False, True, False]


def test_the_last_note_against_the_key_signature():
    from composer.metrics import ends_on_tonic, structure_metrics

    assert ends_on_tonic(_tiny("d4 e f# a g1", sharps=1)) == 1.0  # G major
    assert ends_on_tonic(_tiny("d4 e f# a c'1", sharps=1)) == 0.0
    assert ends_on_tonic(_tiny("c4 d e f g a b c' d' e' d' c' c'1")) == 1.0
    # only the first bars count: the note closing bar 1 is the last one looked at
    assert ends_on_tonic(_tiny("d4 e f# g2 a4 b c'1", sharps=1), bars=1) == 1.0
    assert math.isnan(structure_metrics(Score(notes_array([], [], []), [Part("x")])).ends_on_tonic)


def test_self_similarity_of_the_aaba_tune():
    from composer.metrics import self_similarity

    matrix = self_similarity(_tiny(AABA))
    assert matrix.shape == (8, 8) and np.array_equal(matrix, matrix.T) and np.all(np.diag(matrix) == 1.0)
    assert matrix[0, 2] == matrix[0, 6] == matrix[1, 7] == 1.0
    assert matrix[1, 5] == 1.0  # c1 and e1: a repeat under transposition
    assert matrix[0, 4] == pytest.approx(2 / 6)  # e d e f against g a g f a minor third down: the two e's match, 2 of 6 events
    assert matrix[0, 1] == 0.0


def test_a_pickup_is_not_a_bar_of_the_form():
    from composer.metrics import bar_bounds, structure_metrics

    score = _tiny("c4 d e f c4 d e f")
    pickup = Score(
        notes_array([0, *(score.notes["start_tick"] + 480).tolist()], [480, *score.notes["duration_ticks"].tolist()], [60, *score.notes["pitch"].tolist()]),
        [Part("x")],
        time_signatures=[(0, 1, 4), (480, 4, 4)],
    )
    assert bar_bounds(pickup).tolist() == [480, 2400, 4320]
    assert structure_metrics(pickup).bar_repeats == 0.5
