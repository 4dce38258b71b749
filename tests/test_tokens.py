"""The tokenizer: exact hand-worked token sequences, lossless round trips, and a decoder that never fails."""

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.errors import TokenizerError
from composer.score import Part, Score, notes_array, quantize
from composer.tokens import Tokenizer, TokenizerConfig
from conftest import make_score, note_rows

TOK = Tokenizer()


def names(score, style="unknown"):
    return TOK.to_names(TOK.encode(score, style))


def round_trip(score):
    back = TOK.decode(TOK.encode(score), ticks_per_beat=score.ticks_per_beat)
    assert note_rows(back) == note_rows(quantize(score, TOK.config.steps_per_beat))
    return back


def test_golden_melody_in_three_four_with_key_and_tempo():
    s = make_score(
        [(0, 1, 67), (1, 0.5, 69), (1.5, 0.5, 71), (2, 1, 72), (3, 3, 74)],
        parts=(Part("Melody", 73),),
        time_signatures=[(0, 3, 4)],
        key_signatures=[(0, 1, False)],
        tempos=[(0, 100.0)],
    )
    assert names(s, "folk") == [
        "BOS", "Style_folk", "Program_73",
        "Bar", "TimeSig_3/4", "Position_0", "Key_G", "Tempo_100", "Part_0", "Pitch_67", "Duration_1",
        "Position_1", "Pitch_69", "Duration_1/2",
        "Position_3/2", "Pitch_71", "Duration_1/2",
        "Position_2", "Pitch_72", "Duration_1",
        "Bar", "Position_0", "Pitch_74", "Duration_3",
        "EOS",
    ]


def test_golden_chord_of_four_parts_orders_top_to_bottom_and_writes_part_only_on_change():
    s = make_score(
        [(0, 1, 48, 3), (0, 1, 60, 2), (0, 1, 64, 1), (0, 1, 72, 0), (1, 1, 50, 3), (1, 1, 71, 0)],
        parts=[Part(n, 52) for n in ("Soprano", "Alto", "Tenor", "Bass")],
    )
    assert names(s, "chorale")[6:] == [
        "Bar", "TimeSig_4/4", "Position_0", "Tempo_120",
        "Part_0", "Pitch_72", "Duration_1", "Part_1", "Pitch_64", "Duration_1",
        "Part_2", "Pitch_60", "Duration_1", "Part_3", "Pitch_48", "Duration_1",
        "Position_1", "Part_0", "Pitch_71", "Duration_1", "Part_3", "Pitch_50", "Duration_1",
        "EOS",
    ]
    back = TOK.decode(TOK.encode(s, "chorale"))
    assert [p.name for p in back.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert note_rows(back) == note_rows(s)


def test_chord_within_one_part_goes_high_to_low():
    s = make_score([(0, 2, 60), (0, 2, 64), (0, 2, 67)])
    assert names(s)[7:] == ["Part_0", "Pitch_67", "Duration_2", "Pitch_64", "Duration_2", "Pitch_60", "Duration_2", "EOS"]
    round_trip(s)


def test_tie_over_the_barline_is_one_long_note():
    s = make_score([(3, 2, 60), (5, 3, 62)])
    assert names(s)[3:] == [
        "Bar", "TimeSig_4/4", "Position_0", "Tempo_120", "Position_3", "Part_0", "Pitch_60", "Duration_2",
        "Bar", "Position_1", "Pitch_62", "Duration_3", "EOS",
    ]
    round_trip(s)


def test_pickup_bar_as_a_partial_first_bar():
    s = make_score([(0, 1, 67), (1, 2, 72), (3, 2, 71)], time_signatures=[(0, 1, 4), (480, 4, 4)])
    assert names(s)[3:] == [
        "Bar", "TimeSig_1/4", "Position_0", "Tempo_120", "Part_0", "Pitch_67", "Duration_1",
        "Bar", "TimeSig_4/4", "Position_0", "Pitch_72", "Duration_2", "Position_2", "Pitch_71", "Duration_2", "EOS",
    ]
    back = round_trip(s)
    assert back.time_signatures.tolist() == [(0, 1, 4), (480, 4, 4)]


def test_meter_changes_and_rests_with_empty_bars():
    s = make_score([(0, 1, 60), (8, 1.5, 62), (11, 1, 64)], time_signatures=[(0, 4, 4), (480 * 8, 3, 8), (480 * 11, 5, 4)])
    tokens = names(s)
    assert tokens[3:9] == ["Bar", "TimeSig_4/4", "Position_0", "Tempo_120", "Part_0", "Pitch_60"]
    assert tokens.count("Bar") == 5  # bars at beats 0, 4 (empty: a whole-bar rest), 8, 9.5 (empty), 11
    assert "TimeSig_3/8" in tokens and "TimeSig_5/4" in tokens
    back = round_trip(s)
    assert back.time_signatures.tolist() == s.time_signatures.tolist()


def test_triplets_and_thirty_seconds_are_exact_on_the_grid():
    third = Fraction(1, 3)
    s = make_score([(0, third, 60), (third, third, 62), (2 * third, third, 64), (1, Fraction(1, 8), 65), (Fraction(9, 8), Fraction(1, 8), 67)])
    assert names(s)[8:14] == ["Pitch_60", "Duration_1/3", "Position_1/3", "Pitch_62", "Duration_1/3", "Position_2/3"]
    assert note_rows(round_trip(s)) == note_rows(s)


def test_long_durations_are_runs_that_add_up():
    s = make_score([(0, 4, 60), (4, 17.5, 62), (24, 40, 64)], time_signatures=[(0, 4, 4)])
    tokens = names(s)
    assert "Duration_4" in tokens
    i = tokens.index("Pitch_62")
    assert tokens[i + 1 : i + 3] == ["Duration_16", "Duration_3/2"]
    assert note_rows(round_trip(s)) == note_rows(s)


def test_meter_the_vocabulary_lacks_keeps_the_notes():
    s = make_score([(0, 1, 60), (4.5, 1, 62), (9, 1, 64)], time_signatures=[(0, 4, 4), (480 * 5 // 2, 2, 64)])
    round_trip(s)


def test_key_and_tempo_changes_inside_a_bar():
    s = make_score([(0, 1, 60), (2, 1, 62), (5, 1, 64)], key_signatures=[(0, 0, False), (960, -3, True)], tempos=[(0, 60.0), (960, 144.0)])
    tokens = names(s)
    i = tokens.index("Position_2")
    assert tokens[i : i + 3] == ["Position_2", "Key_c", "Tempo_144"]
    back = round_trip(s)
    assert back.key_signatures.tolist() == [(0, 0, False), (960, -3, True)]
    assert back.tempos.tolist() == [(0, 60.0), (960, 144.0)]


def test_drums_and_programs_in_the_header():
    s = make_score([(0, 1, 36, 1), (0, 1, 60, 0)], parts=(Part("Piano", 0), Part("Drums", is_drum=True)))
    assert names(s)[:4] == ["BOS", "Style_unknown", "Program_0", "Program_Drums"]
    back = round_trip(s)
    assert [p.is_drum for p in back.parts] == [False, True]


def test_too_many_parts_and_unknown_style_raise():
    # Parts sharing an instrument are merged to fit (issue 15); 16 instrument families and drums cannot be.
    s = Score(notes_array([0], [480], [60]), [Part(str(i), program=8 * i) for i in range(16)] + [Part("Kit", is_drum=True)])
    with pytest.raises(TokenizerError, match="17 parts"):
        TOK.encode(s)
    with pytest.raises(TokenizerError, match="unknown style 'jazz'"):
        TOK.encode(make_score([(0, 1, 60)]), "jazz")


def test_decoding_rules_for_malformed_sequences():
    ids = TOK.to_ids
    # A pitch without duration is dropped, a position going backwards is skipped, EOS stops.
    seq = ids(["Bar", "Position_2", "Pitch_60", "Position_1", "Pitch_62", "Duration_1", "Pitch_64", "Bar", "Pitch_65", "Duration_1/2", "EOS", "Pitch_70", "Duration_1"])
    back = TOK.decode(seq)
    assert note_rows(back) == [(960, 480, 62, 0), (1920, 240, 65, 0)]
    # Notes before any Bar open bar 1; out-of-range ids and a TimeSig away from its Bar are skipped.
    back = TOK.decode([-3, 10_000, *ids(["Pitch_60", "Duration_1", "TimeSig_3/4", "Part_5", "Pitch_61", "Duration_1"])])
    assert note_rows(back) == [(0, 480, 60, 0), (0, 480, 61, 5)]
    assert back.num_parts == 6 and back.time_signatures.tolist() == [(0, 4, 4)]
    assert len(TOK.decode([])) == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-10, max_value=len(TOK) + 10), max_size=200))
def test_decoding_never_fails_on_any_sequence(seq):
    score = TOK.decode(seq)
    assert isinstance(score, Score)
    # and what it decodes is a valid score that encodes again
    TOK.encode(score)


@st.composite
def scores(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    n_parts = draw(st.integers(min_value=1, max_value=4))
    step = 480 // 24
    rows = draw(st.lists(st.tuples(st.integers(0, 24 * 40), st.integers(1, 24 * 20), st.integers(0, 127), st.integers(0, n_parts - 1)), min_size=n, max_size=n))
    meters = draw(st.lists(st.tuples(st.integers(0, 24 * 40), st.sampled_from([(2, 4), (3, 4), (4, 4), (6, 8), (5, 8), (7, 16), (1, 4), (3, 2)])), max_size=3))
    return Score(
        notes_array([r[0] * step for r in rows], [r[1] * step for r in rows], [r[2] for r in rows], [r[3] for r in rows]),
        [Part(f"P{i}") for i in range(n_parts)],
        time_signatures=[(t * step, num, den) for t, (num, den) in meters],
    )


@settings(max_examples=200, deadline=None)
@given(scores())
def test_round_trip_is_lossless_for_any_score_on_the_grid(score):
    back = TOK.decode(TOK.encode(score))
    assert note_rows(back) == note_rows(score)


def test_vocabulary_saves_and_loads_with_version_check(tmp_path):
    path = TOK.save(tmp_path / "vocab.json")
    assert Tokenizer.load(path).tokens == TOK.tokens
    data = json.loads(path.read_text())
    data["format_version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match="version 99 is not supported"):
        Tokenizer.load(tmp_path / "v99.json")
    data["format_version"] = 1
    data["tokens"] = data["tokens"][:-1]
    (tmp_path / "short.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match="vocabulary does not match"):
        Tokenizer.load(tmp_path / "short.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(TokenizerError, match="not a readable tokenizer"):
        Tokenizer.load(tmp_path / "junk.json")
    with pytest.raises(TokenizerError, match="unknown settings"):
        TokenizerConfig.from_dict({"steps_per_bar": 3})
    with pytest.raises(TokenizerError, match="steps_per_beat must be"):
        TokenizerConfig(steps_per_beat=0)


def test_config_changes_the_vocabulary():
    small = Tokenizer(TokenizerConfig(steps_per_beat=4, max_bar_beats=4, styles=("any", "jazz")))
    assert len(small) < len(TOK)
    assert "Style_jazz" in small.ids and "Position_3/4" in small.ids
    s = make_score([(0, 0.25, 60), (0.75, 3.25, 62)])
    back = small.decode(small.encode(s, "jazz"))
    assert note_rows(back) == note_rows(s) and back.metadata["style"] == "jazz"


@pytest.mark.slow
@pytest.mark.parametrize("collection", ["chorales", "folk"])
def test_round_trip_is_lossless_on_the_whole_bundled_corpus(collection):
    from composer.formats import read
    from conftest import corpus_files

    files = corpus_files(collection)
    assert len(files) > 300
    style = {"chorales": "chorale", "folk": "folk"}[collection]
    failures = []
    for path in files:
        score = read(path)
        back = TOK.decode(TOK.encode(score, style), ticks_per_beat=score.ticks_per_beat)
        if note_rows(back) != note_rows(quantize(score, TOK.config.steps_per_beat)):
            failures.append(path.name)
        if collection == "chorales" and [p.name for p in back.parts] != ["Soprano", "Alto", "Tenor", "Bass"]:
            failures.append(f"{path.name}: parts {[p.name for p in back.parts]}")
    assert failures == []


def test_transposing_tokens_equals_tokenizing_the_transposed_score():
    from composer.score import transpose

    s = make_score([(0, 1, 60), (1, 1, 64), (2, 2, 67)], key_signatures=[(0, 2, True)])
    ids = TOK.encode(s)
    for k in range(-6, 7):
        assert np.array_equal(TOK.transpose_table(k)[ids], TOK.encode(transpose(s, k))), k
    assert TOK.pitch_span(ids) == (60, 67)


# -- the grammar walker, the shared conversions, the token document ------------------------
def test_the_walker_follows_the_grammar_and_skips_what_does_not_fit():
    from composer.tokens import K_BAR, K_DURATION, K_EOS, K_PITCH, K_POSITION, K_TIMESIG, LENGTHENED, SKIPPED, Walker

    w = Walker(TOK.grammar)
    feed = [
        ("BOS", SKIPPED), ("Style_folk", 3), ("Style_chorale", SKIPPED), ("Program_5", 4),
        ("Bar", K_BAR), ("TimeSig_3/4", K_TIMESIG), ("TimeSig_2/4", SKIPPED),  # only right after a Bar
        ("Position_1", K_POSITION), ("Position_1/2", SKIPPED),  # not before the current position
        ("Pitch_60", K_PITCH), ("Duration_4", K_DURATION), ("Duration_1", LENGTHENED),
        ("Program_7", SKIPPED),  # the header is over
        ("Pitch_62", K_PITCH), ("Bar", K_BAR),  # a Pitch without its Duration makes no note
        ("Duration_1", SKIPPED), ("Position_3", SKIPPED),  # outside the 3/4 bar
    ]
    for name, expected in feed:
        assert w.feed(TOK.ids[name]) == expected, name
    assert (w.style, w.programs) == (TOK.config.styles.index("folk"), [5])
    assert (w.bar, w.bar_start, w.bar_len, w.pos) == (1, 3 * 24, 3 * 24, -1)
    assert w.feed(-1) == SKIPPED and w.feed(len(TOK)) == SKIPPED
    assert w.feed(TOK.eos_id) == K_EOS
    assert w.feed(TOK.ids["Bar"]) == SKIPPED  # EOS ends the piece


def test_notes_before_any_bar_open_bar_one():
    from composer.tokens import Walker

    w = Walker(TOK.grammar)
    for name in ("Pitch_60", "Duration_1"):
        w.feed(TOK.ids[name])
    assert (w.bar, w.onset, w.in_header) == (0, 0, False)


def test_decode_never_raises_on_a_vocabulary_without_four_four():
    """It raised KeyError((4, 4)) before: its default meter was 4/4 whatever the vocabulary held."""
    tok = Tokenizer(TokenizerConfig(steps_per_beat=12, max_bar_beats=2))
    score = tok.decode([tok.ids["Bar"], tok.ids["Position_0"], tok.ids["Pitch_60"], tok.ids["Duration_1"]])
    assert len(score) == 1 and score.time_signatures.tolist() == [(0, 1, 2)]


def test_a_meter_with_no_token_and_no_four_four_is_a_tokenizer_error():
    tok = Tokenizer(TokenizerConfig(steps_per_beat=12, max_bar_beats=2))
    score = Score(notes_array([0], [480], [60]), [Part("A")], time_signatures=[(0, 3, 4)])
    with pytest.raises(TokenizerError, match="3/4 has no token"):
        tok.encode(score)


def test_ticks_to_steps_rounds_half_up_on_ints_and_arrays():
    from composer.tokens import ticks_to_steps

    assert [ticks_to_steps(t, 480, 4) for t in (0, 59, 60, 119, 120)] == [0, 0, 1, 1, 1]
    ticks = np.array([0, 59, 60, 180], np.int64)
    assert ticks_to_steps(ticks, 480, 4).tolist() == [0, 0, 1, 2]
    out = ticks.copy()
    assert ticks_to_steps(out, 480, 4, out=out) is out and out.tolist() == [0, 0, 1, 2]


def test_tempo_id_takes_the_nearest_mark_on_a_log_scale():
    assert TOK.to_names([TOK.tempo_id(q) for q in (20, 61.4, 61.6, 500)]) == ["Tempo_40", "Tempo_60", "Tempo_63", "Tempo_208"]


def test_token_document_round_trips(tmp_path):
    from composer.tokens import read_token_document, token_document, write_token_document

    score = make_score([(0, 1, 60, 0), (1, 2, 64, 0)])
    doc = token_document(score, "x.mid", "folk")
    path = write_token_document(doc, tmp_path / "x.json")
    back = read_token_document(path)
    assert back.ids == doc["ids"] and back.part_names == doc["parts"]
    assert note_rows(back.decode()) == note_rows(score)
    assert json.loads(path.read_text())["tokens"][:2] == ["BOS", "Style_folk"]


def test_edited_token_names_win_over_stale_ids_with_a_note(tmp_path):
    from composer.tokens import read_token_document, token_document, write_token_document

    doc = token_document(make_score([(0, 1, 60, 0), (1, 2, 64, 0)]), "x.mid", "folk")
    assert read_token_document(write_token_document(doc, tmp_path / "same.json")).note == ""
    at = doc["tokens"].index("Pitch_64")
    doc["tokens"][at] = "Pitch_65"  # the hand edit; "ids" still says 64
    back = read_token_document(write_token_document(doc, tmp_path / "edited.json"))
    assert [p for p in back.decode().notes["pitch"].tolist()] == [60, 65]
    assert back.note == f'{tmp_path / "edited.json"}: "tokens" and "ids" differ (first at position {at}); the token names win, the ids are read from them'
    del doc["tokens"]  # ids alone still work
    assert read_token_document(write_token_document(doc, tmp_path / "ids.json")).decode().notes["pitch"].tolist() == [60, 64]


def test_token_archive_round_trips_and_refuses_damage(tmp_path):
    from composer.tokens import TokenArchive, read_token_archive

    scores = {"a.mid": make_score([(0, 1, 60, 0)], title="A"), "sub/a.abc": make_score([(0, 2, 67, 0), (0, 2, 48, 1)], parts=("Soprano", "Bass"))}
    archive = TokenArchive.from_pieces(TOK, [(n, s.title, [p.name for p in s.parts], TOK.encode(s, "folk")) for n, s in scores.items()])
    (tmp_path / "out").mkdir()
    npz, vocabulary = archive.write(tmp_path / "out")
    assert (npz.name, vocabulary.name) == ("tokens.npz", "tokenizer.json")
    for where in (tmp_path / "out", npz):
        back = read_token_archive(where)
        assert back.names == ["a.mid", "sub/a.abc"] and back.titles == ["A", ""] and back.parts == [["Soprano"], ["Soprano", "Bass"]]
        assert back.index("sub/a.abc") == back.index(-1) == back.index("1") == 1
        for name, score in scores.items():
            document = back.document(name)
            assert document.ids == TOK.encode(score, "folk").tolist()
            assert note_rows(document.decode()) == note_rows(score) and [p.name for p in document.decode().parts] == [p.name for p in score.parts]
    with pytest.raises(Exception, match="file exists"):
        archive.write(tmp_path / "out")
    with np.load(npz) as data:
        arrays = dict(data)
    np.savez(npz, **{**arrays, "offsets": arrays["offsets"][:-1]})
    with pytest.raises(TokenizerError, match="damaged token archive"):
        read_token_archive(tmp_path / "out")
    npz.write_bytes(b"not a zip")
    with pytest.raises(TokenizerError, match="not a readable token archive"):
        read_token_archive(npz)
    vocabulary.unlink()
    with pytest.raises(TokenizerError, match="tokenizer.json is missing"):
        read_token_archive(tmp_path / "out")
    with pytest.raises(TokenizerError, match="no tokens.npz here"):
        read_token_archive(tmp_path)
