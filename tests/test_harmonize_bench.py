"""The harmonization benchmark's scoring (benchmarks/harmonize_bach.py) on a tiny hand-made four-part score."""

from __future__ import annotations

import pytest

from conftest import benchmark_module, make_score

SATB = ("Soprano", "Alto", "Tenor", "Bass")
hb = benchmark_module("harmonize_bach")


def bach():
    """C major, two half-note chords: I (C E G C) then V (D B G G), then I again as a whole note."""
    rows = [
        (0, 2, 72, 0), (0, 2, 67, 1), (0, 2, 64, 2), (0, 2, 48, 3),
        (2, 2, 74, 0), (2, 2, 67, 1), (2, 2, 59, 2), (2, 2, 43, 3),
        (4, 4, 72, 0), (4, 4, 67, 1), (4, 4, 64, 2), (4, 4, 48, 3),
    ]
    return make_score(rows, parts=SATB, time_signatures=[(0, 4, 4)], key_signatures=[(0, 0, False)])


def test_a_piece_against_itself_scores_full_marks():
    figures = hb.compare(bach(), bach())
    assert figures["bass_pc"] == figures["chord_jaccard"] == figures["exact_atb"] == 1.0
    assert figures["final_tonic_triad"] == figures["final_bass_tonic"] == figures["melody_kept"] == 1.0
    assert figures["sounds_after_end"] == 0.0


def test_a_wrong_bass_and_a_note_after_the_end():
    score = bach()
    notes = score.notes.copy()
    bass_v = (notes["part"] == 3) & (notes["start_tick"] == 960)
    notes["pitch"][bass_v] = 47  # B instead of G under the V chord: first inversion, same chord pitch classes
    notes["duration_ticks"][(notes["part"] == 2) & (notes["start_tick"] == 1920)] = 2400  # the tenor outlasts the melody
    figures = hb.compare(bach(), score.replace(notes=notes))
    grid_points = 8 * 2  # eighth notes over the 8 beats
    assert figures["bass_pc"] == pytest.approx((grid_points - 4) / grid_points)  # four eighths of the wrong bass
    assert figures["chord_jaccard"] == pytest.approx(1.0)  # same pitch classes sound everywhere
    assert figures["exact_atb"] == pytest.approx(1 - 4 / (3 * grid_points))
    assert figures["sounds_after_end"] == 1.0 and figures["melody_kept"] == 1.0


def test_the_final_chord():
    assert hb.is_tonic_triad({0, 4, 7}, (0, False)) and hb.is_tonic_triad({0, 4}, (0, False))
    assert not hb.is_tonic_triad({0, 4, 9}, (0, False)) and not hb.is_tonic_triad({7, 11, 2}, (0, False))
    assert hb.is_tonic_triad({9, 0, 4}, (0, True)) and hb.is_tonic_triad({9, 1, 4}, (0, True))  # a Picardy third counts
    score = bach()
    notes = score.notes.copy()
    notes["pitch"][(notes["part"] == 3) & (notes["start_tick"] == 1920)] = 43  # the bass on G under the last chord
    pcs, bass = hb.final_chord(score.replace(notes=notes))
    assert bass == 7 and pcs == {0, 4, 7}
    assert hb.compare(bach(), score.replace(notes=notes))["final_bass_tonic"] == 0.0


def test_a_changed_melody_is_not_kept_and_summaries_pool_faults():
    score = bach()
    notes = score.notes.copy()
    notes["pitch"][(notes["part"] == 0) & (notes["start_tick"] == 0)] = 71
    assert hb.compare(bach(), score.replace(notes=notes))["melody_kept"] == 0.0
    rows = [{**hb.compare(bach(), bach()), "faults": 1.0, "notes": 10.0}, {**hb.compare(bach(), bach()), "faults": 0.0, "notes": 30.0}]
    assert hb.summarize(rows)["vl_faults_100"] == pytest.approx(2.5)


def test_the_lookup_table_harmonizes_below_the_melody():
    table = hb.LookupTable([bach()])
    melody = make_score([(0, 2, 72), (2, 2, 74), (4, 4, 72)], time_signatures=[(0, 4, 4)], key_signatures=[(0, 0, False)])
    out = table.harmonize(melody)
    assert out.num_parts == 4 and hb.melody_kept(melody, out)
    figures = hb.compare(bach(), out)
    assert figures["bass_pc"] == 1.0 and figures["chord_jaccard"] == 1.0 and figures["final_tonic_triad"] == 1.0
    for part, (lo, hi) in enumerate(hb.RANGES):
        pitches = out.part_notes(part)["pitch"]
        assert ((pitches >= lo) & (pitches <= hi)).all()


def test_a_voice_dropping_out_and_triplets_are_seen():
    assert hb.compare(bach(), bach())["voice_silent"] == 0.0 and hb.compare(bach(), bach())["off_grid"] == 0.0
    score = bach()
    notes = score.notes.copy()
    alto_v = (notes["part"] == 1) & (notes["start_tick"] == 960)
    notes["duration_ticks"][alto_v] = 480  # the alto rests for the second beat of the V chord: two of 16 eighths
    notes["duration_ticks"][(notes["part"] == 2) & (notes["start_tick"] == 0)] = 320  # a triplet-quarter tenor note
    figures = hb.compare(bach(), score.replace(notes=notes))
    assert figures["voice_silent"] == pytest.approx(2 / 16 + 2 / 16)  # the alto's rest, and the tenor's silence after its short note
    assert figures["off_grid"] == pytest.approx(1 / 9)  # one of the nine lower-voice notes


def test_a_voice_striking_its_note_again_in_eighths_is_seen():
    # bach()'s alto strikes its G three times in half notes: a held chord tone sung again, not a stutter
    assert hb.compare(bach(), bach())["restruck"] == 0.0
    bass = [(0, 0.5, 48, 3), (0.5, 0.5, 48, 3), (1, 1, 50, 3)]  # the bass's first half note as C C (eighths) D
    rows = [(s / 480, d / 480, p, q) for s, d, p, q in zip(*(bach().notes[f].tolist() for f in ("start_tick", "duration_ticks", "pitch", "part")))
            if not (q == 3 and s == 0)]
    score = make_score(rows + bass, parts=SATB, time_signatures=[(0, 4, 4)], key_signatures=[(0, 0, False)])
    assert hb.compare(bach(), score)["restruck"] == pytest.approx(1 / 8)  # of the lower voices' notes after their first
