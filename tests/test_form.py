"""``--form``, ``--phrase-bars`` and ``--repeats``: sections that return, phrase ends that close.

A tiny random-weight model (conftest): whatever it says, repeated sections are copies,
primed ones share their opening bars, phrase ends hold a note to the barline, and the
piece ends on the tonic.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

from composer.cli import cli
from composer.errors import FormError, GenerationError
from composer.form import parse_form, repeated_spans
from composer.formats import read
from composer.generate import GenerationSettings, generate, generate_batch
from composer.io.notation import parse_tinynotation
from composer.metrics import cadences
from composer.modelfile import save_model
from composer.render.notation import fold_repeats
from conftest import make_score, one_line_error, one_line_message, tiny_model
from xsd import assert_valid_musicxml

BAR = 4 * 480  # ticks of a 4/4 bar at the tests' resolution


def bar_notes(score, bar: int, parts=None) -> np.ndarray:
    """Notes starting in 0-based bar ``bar`` of a 4/4 score, as (start in the bar, duration, pitch, part) rows."""
    n = score.notes
    mine = n[(n["start_tick"] >= bar * BAR) & (n["start_tick"] < (bar + 1) * BAR)]
    if parts is not None:
        mine = mine[np.isin(mine["part"], parts)]
    return np.stack([mine["start_tick"] - bar * BAR, mine["duration_ticks"], mine["pitch"], mine["part"]], axis=1)


def same_bars(score, first: int, second: int, count: int) -> bool:
    return all(np.array_equal(bar_notes(score, first + i), bar_notes(score, second + i)) for i in range(count))


def form_piece(model, style="folk", **settings):
    settings = {"bars": 8, "key": "G", "time_signature": "4/4", "random_seed": 1, "style": style, **settings}
    return generate(model, None, GenerationSettings(**settings))


# -- the grammar and the settings ----------------------------------------------
def test_the_form_grammar():
    assert [s.name for s in parse_form("AABB")] == ["A", "A", "B", "B"]
    assert [s.name for s in parse_form("A A' B A")] == ["A", "A'", "B", "A"]
    assert [s.name for s in parse_form("ABA''C")] == ["A", "B", "A''", "C"]
    assert GenerationSettings(form="A A B B").form == "AABB"
    assert GenerationSettings(form="AA'BA", bars=16).form == "A A' B A"


@pytest.mark.parametrize("form", ["A1B", "aabb", "", "   ", "A-B", "'A", 7])
def test_unknown_patterns(form):
    with pytest.raises(FormError) as exc:
        GenerationSettings(form=form)
    one_line_message(exc, "form", "AABB")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"form": "AABB", "bars": 10}, "do not divide --bars 10"),
        ({"form": "AABB", "bars": 12, "section_bars": 4}, "make 16 bars, not --bars 12"),
        ({"form": "ABCDEFGH", "bars": 4}, "more than --bars 4"),
        ({"form": "AABB", "bars": 16, "phrase_bars": 3}, "--phrase-bars 3 does not divide"),
        ({"form": "A' B"}, "A' comes before any A"),
        ({"form": "AB", "mode": "harmonize"}, "not harmonize"),
        ({"form": "AB", "mode": "infill", "infill_bars": (1, 2)}, "not infill"),
        ({"form": "AB", "mode": "accompany", "keep_parts": ("1",)}, "not accompany"),
        ({"phrase_bars": 2, "mode": "harmonize"}, "phrase_bars"),
        ({"cadence_bars": (2,), "mode": "accompany", "keep_parts": ("1",)}, "cadence_bars"),
        ({"section_bars": 4}, "with a form"),
        ({"repeats": "signs"}, "with a form"),
        ({"form": "AB", "repeats": "twice"}, "repeats must be one of written, signs"),
    ],
)
def test_form_settings_that_do_not_fit(settings, message):
    with pytest.raises(FormError) as exc:
        GenerationSettings(**settings)
    one_line_message(exc, message)


def test_cadence_bars_are_bar_numbers():
    assert GenerationSettings(cadence_bars=[8, 4, 4]).cadence_bars == (4, 8)
    for bad in ((0,), (1.5,), "4", (True,)):
        with pytest.raises(GenerationError) as exc:
            GenerationSettings(cadence_bars=bad)
        one_line_message(exc, "cadence_bars must be 1-based bar numbers")


def test_section_bars_default_from_bars():
    assert GenerationSettings(form="AABB").section_bars == 4
    assert GenerationSettings(form="ABA", bars=12).section_bars == 4


# -- what comes out --------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.mark.parametrize("style", ["folk", "chorale"])
def test_repeated_sections_are_copies_bar_for_bar(model, style):
    piece = form_piece(model, style, form="AABB", bars=8)
    assert piece.num_bars == 8
    assert same_bars(piece, 0, 2, 2) and same_bars(piece, 4, 6, 2)
    assert not same_bars(piece, 0, 4, 2)  # B is new music


def test_a_returning_section_after_another_is_a_copy(model):
    piece = form_piece(model, form="ABA", bars=6)
    assert same_bars(piece, 0, 4, 2) and not same_bars(piece, 0, 2, 2)


def test_a_primed_section_shares_all_but_its_last_bar(model):
    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c' d' c' b a g a b g")  # three bars, no note over a barline
    for random_seed in range(3):
        piece = generate(model, seed, GenerationSettings(form="A A'", bars=8, style="folk", random_seed=random_seed))
        assert same_bars(piece, 0, 4, 3)  # 4-bar sections: the last quarter, one bar, is written anew
        assert not same_bars(piece, 3, 7, 1)


def test_a_primed_section_shares_no_note_cut_short(model):
    """Where a note is tied over the barline before the new bars, fewer bars are shared: never a shortened note."""
    for random_seed in range(3):
        piece = form_piece(model, form="A A'", bars=8, random_seed=random_seed)
        shared = next(k for k in range(3, -1, -1) if same_bars(piece, 0, 4, k))
        ends = piece.notes["start_tick"][piece.notes["start_tick"] < shared * BAR] + piece.notes["duration_ticks"][piece.notes["start_tick"] < shared * BAR]
        assert shared == 0 or ends.max() == shared * BAR


def test_the_piece_and_the_sections_of_the_first_letter_end_on_the_tonic(model):
    for style in ("folk", "chorale"):
        piece = form_piece(model, style, form="ABAB", bars=8, random_seed=4)
        top = piece.part_notes(0)
        for end in (2, 8):  # the As, and the last section
            last = top[top["start_tick"] < end * BAR][-1]
            assert last["pitch"] % 12 == 7 and last["start_tick"] + last["duration_ticks"] == end * BAR, (style, end)


def held_to_the_barline(score, bar: int) -> bool:
    """The top part's last note of 0-based ``bar`` starts by its half-way point, sounds to its end and is its longest:
    a cadence as ``composer.metrics.cadences`` counts one."""
    top = bar_notes(score, bar, parts=[0])
    if len(top) == 0:
        return False
    start, duration = int(top[-1][0]), int(top[-1][1])
    return start <= BAR // 2 and start + duration == BAR and bool(cadences(score, bar + 1)[bar])


@pytest.mark.parametrize("style", ["folk", "chorale"])
def test_phrase_ends_close_on_held_notes(model, style):
    for seed in range(3):
        piece = generate(model, None, GenerationSettings(style=style, bars=6, phrase_bars=2, time_signature="4/4", random_seed=seed, free_ending=True))
        assert all(held_to_the_barline(piece, b) for b in (1, 3, 5)), seed


@pytest.mark.parametrize("meter", ["3/4", "6/8", "2/4", "9/8"])
def test_phrase_ends_are_cadences_in_any_meter(model, meter):
    for seed in range(2):
        piece = generate(model, None, GenerationSettings(style="folk", bars=6, phrase_bars=3, time_signature=meter, random_seed=seed, free_ending=True))
        assert cadences(piece, 6)[[2, 5]].all(), (meter, seed)


def test_phrase_ends_come_after_the_seed_only(model):
    seed = parse_tinynotation("tinynotation: 4/4 c'4 d' e' f' g'8 a' b' a' g' f' e' d'")
    piece = generate(model, seed, GenerationSettings(style="folk", bars=4, phrase_bars=1, random_seed=2))
    assert np.array_equal(bar_notes(piece, 1)[:, 2], [79, 81, 83, 81, 79, 77, 76, 74])  # the seed's bar kept as it is
    assert held_to_the_barline(piece, 2) and held_to_the_barline(piece, 3)


def test_sections_end_on_cadences_with_phrase_bars_inside(model):
    piece = form_piece(model, form="AB", bars=8, phrase_bars=2, random_seed=3)
    assert all(held_to_the_barline(piece, b) for b in (1, 3, 5, 7))


def test_a_seed_opens_the_first_section(model):
    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c'")
    piece = generate(model, seed, GenerationSettings(form="AA", bars=4, style="folk", random_seed=1))
    assert [int(p) for p in bar_notes(piece, 2)[:4, 2]] == [67, 69, 71, 72]
    assert same_bars(piece, 0, 2, 2)


def test_a_seed_longer_than_the_first_section(model):
    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c' d' c' b a g1")
    with pytest.raises(FormError) as exc:
        generate(model, seed, GenerationSettings(form="AB", bars=4, style="folk"))
    one_line_message(exc, "3 bars long", "first section (2 bars)")


def test_same_random_seed_same_piece_and_samples_differ(model):
    settings = GenerationSettings(form="AABA", bars=8, style="folk", random_seed=7)
    one, again = generate(model, None, settings), generate(model, None, settings)
    assert one == again and one.metadata == again.metadata
    batch = generate_batch(model, None, settings, num_samples=2)
    assert batch[0] == one and batch[1] != one
    assert "form=AABA, section_bars=2" in one.metadata["settings"] and one.metadata["random_seed"] == "7"


# -- repeat signs ------------------------------------------------------------------
def test_repeat_signs_fold_an_immediate_repeat(model):
    piece = form_piece(model, form="AABB", bars=8, repeats="signs")
    assert piece.metadata["repeats"] == "1-2,5-6"
    folded, measures = fold_repeats(piece)
    assert measures == [(0, 1), (2, 3)] and folded.num_bars == 4
    assert np.array_equal(bar_notes(folded, 2), bar_notes(piece, 4))
    assert repeated_spans(parse_form("A A' A' B"), 4) == [(5, 8)]


def test_repeat_signs_need_the_repeat_written_out():
    score = make_score([(0, 4, 60), (4, 4, 62)], metadata={"repeats": "1-1"})
    assert fold_repeats(score) == (score, [])  # bar 2 is not bar 1 again: written as it is


# -- the command line ---------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(model, path)
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_form_bars_from_sections_and_reproducible(model_file, tmp_path):
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    for out in (a, b):
        result = run("generate", "-o", out, "--model", model_file, "--style", "folk", "--form", "AABB", "--section-bars", 2, "--phrase-bars", 2, "--random-seed", 3)
        assert result.exit_code == 0, result.output
    assert hashlib.sha1(a.read_bytes()).hexdigest() == hashlib.sha1(b.read_bytes()).hexdigest()
    assert read(a).num_bars == 8


def test_cli_repeat_signs_in_musicxml_and_written_out_in_midi(model_file, tmp_path):
    mid, xml = tmp_path / "s.mid", tmp_path / "s.musicxml"
    result = run("generate", "-o", mid, "-o", xml, "--model", model_file, "--style", "folk", "--form", "AAB", "--bars", 6, "--repeats", "signs", "--time-signature", "4/4")
    assert result.exit_code == 0, result.output
    assert_valid_musicxml(xml)
    text = xml.read_text()
    assert text.count("<measure ") == 4 and '<repeat direction="forward"' in text and '<repeat direction="backward"' in text
    assert read(mid).num_bars == 6


@pytest.mark.parametrize(
    "args",
    [
        ("--form", "A1B"),
        ("--form", "aabb"),
        ("--form", ""),
        ("--form", "AABB", "--bars", 10),
        ("--form", "AABB", "--bars", 12, "--section-bars", 4),
        ("--form", "ABCDEFGH", "--bars", 4),
        ("--form", "AB", "--section-bars", 2, "--phrase-bars", 3),
        ("--form", "AB", "--mode", "harmonize"),
        ("--section-bars", 4),
        ("tinynotation: 4/4 c4 d e f g a b c' d'1", "--form", "AB", "--bars", 2),
    ],
)
def test_cli_bad_forms_are_usage_errors(model_file, tmp_path, args):
    out = tmp_path / "bad.mid"
    result = run("generate", *args, "-o", out, "--model", model_file, "--style", "folk")
    one_line_error(result, 2)
    assert not out.exists()


# -- forms learned from a style's pieces ------------------------------------------------
def test_learned_section_bars_halve_the_phrase_to_four_bars_at_most():
    from composer.form import learned_section_bars

    assert [learned_section_bars(p) for p in (None, 1, 2, 4, 8, 6, 12, 16)] == [4, 1, 2, 4, 4, 3, 3, 4]


def test_a_drawn_form_is_an_opening_of_a_heard_one_weighted_by_its_count():
    from composer.form import form_text, learned_forms, pick_form

    _, patterns = learned_forms({"section_bars": 4, "patterns": {"A A' B C": 3, "A B": 50, "A B C D": 1}})
    drawn = [form_text(pick_form(patterns, 3, np.random.default_rng(i))) for i in range(200)]
    assert set(drawn) == {"A A' B", "ABC"}  # "A B" is too short to draw from
    assert 0.6 < drawn.count("A A' B") / 200 < 0.9  # 3 against 1
    assert pick_form(patterns, 5, np.random.default_rng(0)) is None


@pytest.mark.parametrize(
    "entry",
    [None, {}, {"section_bars": 0, "patterns": {}}, {"section_bars": 9, "patterns": {}}, {"section_bars": 2, "patterns": []},
     {"section_bars": 2, "patterns": {"A A": 0}}, {"section_bars": 2, "patterns": {"A A": True}},
     {"section_bars": 2, "patterns": {"a b": 1}}, {"section_bars": 2, "patterns": {"ABCDEFGHI": 1}}],
)
def test_malformed_learned_forms_are_one_line_errors(entry):
    from composer.form import learned_forms

    with pytest.raises(FormError) as exc:
        learned_forms(entry)
    one_line_message(exc, "learned form")


def learned_model(patterns, section_bars=2):
    model = tiny_model(seed=2)
    model.training["styles"]["folk"]["forms"] = {"section_bars": section_bars, "patterns": patterns}
    return model


def test_without_a_form_a_piece_takes_one_the_style_was_heard_in():
    from composer.metrics import form_heard

    model = learned_model({"A A B A": 5})
    for random_seed in range(3):
        piece = form_piece(model, bars=8, random_seed=random_seed)
        assert same_bars(piece, 0, 2, 2) and same_bars(piece, 0, 6, 2)
        assert form_heard(piece, 2, 8).startswith("A A B")
        assert ", form=AABA," in piece.metadata["settings"]
    free = form_piece(model, bars=8, learned_form=False)
    assert ", form=" not in free.metadata["settings"]
    assert not same_bars(free, 0, 2, 2)


def test_a_learned_form_needs_sections_that_fit():
    model = learned_model({"A A B A": 5})
    for settings in ({"bars": 7}, {"bars": 8, "phrase_bars": 4}):  # sections of 2 bars do not divide 7 bars, nor hold phrases of 4
        assert ", form=" not in form_piece(model, **settings).metadata["settings"]
    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c' d' c' b a g a b g")  # 3 bars: longer than a 2-bar section
    piece = generate(model, seed, GenerationSettings(bars=8, style="folk", random_seed=1))
    assert ", form=" not in piece.metadata["settings"]


def test_through_composed_forms_and_batches_keep_plain_sampling():
    through = learned_model({"A B C D": 1})
    plain = learned_model({"A B C D": 1})
    plain.training["styles"]["folk"].pop("forms")
    settings = GenerationSettings(bars=8, key="G", style="folk", random_seed=4)
    assert [p.notes.tobytes() for p in generate_batch(through, None, settings, num_samples=2)] == [
        p.notes.tobytes() for p in generate_batch(plain, None, settings, num_samples=2)]


def test_a_model_file_with_a_malformed_learned_form_is_one_line(tmp_path):
    model = learned_model({"A A B A": -1})
    path = tmp_path / "bad.safetensors"
    save_model(model, path)
    result = run("generate", "-o", tmp_path / "out.mid", "--model", path, "--style", "folk", "--bars", 8)
    assert "learned form" in one_line_error(result)
    assert not (tmp_path / "out.mid").exists()
    ok = run("generate", "-o", tmp_path / "out.mid", "--model", path, "--style", "folk", "--bars", 8, "--no-learned-form")
    assert ok.exit_code == 0, ok.output


def test_a_section_is_written_knowing_the_whole_piece_is_longer():
    from composer.generate import plan

    model = tiny_model(ahead=True)
    section = plan(model, None, GenerationSettings(bars=4, ahead_bars=16, cadence_bars=(4, 8, 12, 16), style="folk", key="G", time_signature="4/4"))
    whole = plan(model, None, GenerationSettings(bars=16, cadence_bars=(4, 8, 12, 16), style="folk", key="G", time_signature="4/4"))
    assert section.ahead.last_bar == whole.ahead.last_bar == 15
    assert section.ahead.phrase_end_bars == whole.ahead.phrase_end_bars == (3, 7, 11, 15)
    assert section.last_bar == 3 and section.cadence_bars == frozenset({3})  # the masks close the section only


def test_a_seed_of_whole_sections_opens_a_learned_form_that_agrees_with_it():
    from composer.metrics import form_heard

    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c' d'2 b2 e'4 d' c' b a1")  # 4 bars: A B in 2-bar sections
    model = learned_model({"A B A B'": 3, "A A B A": 50})  # only the first opens as the seed does
    for random_seed in range(3):
        piece = generate(model, seed, GenerationSettings(bars=8, style="folk", random_seed=random_seed))
        assert ", form=A B A B'," in piece.metadata["settings"]
        assert all(np.array_equal(bar_notes(piece, b)[:, :3], bar_notes(seed, b)[:, :3]) for b in range(4))  # the seed kept
        assert same_bars(piece, 0, 4, 2) and same_bars(piece, 2, 6, 1)  # A again, then B varied in its last bar
        assert form_heard(piece, 2, 8).startswith("A B A")
    unheard = learned_model({"A A B A": 50})  # no form opens as the seed does: the model's own course
    assert ", form=" not in generate(unheard, seed, GenerationSettings(bars=8, style="folk", random_seed=1)).metadata["settings"]
    closed = learned_model({"A B A B": 50})  # the last section would be the seed's own: nothing to close the piece
    assert ", form=" not in generate(closed, seed, GenerationSettings(bars=8, style="folk", random_seed=1)).metadata["settings"]


def test_a_section_leading_into_a_copy_is_written_again_until_the_join_passes():
    from composer.form import SEAM_TRIES, compose
    from composer.score import NOTE_DTYPE, Part, Score

    settings = GenerationSettings(form="AAB", bars=3, key="C", time_signature="4/4", style="folk", random_seed=5)
    tried: list[int] = []

    def write(piece, section):  # one whole note per bar, its pitch from the section's random seed
        tried.append(section.random_seed)
        bar = section.bars - 1
        note = np.array([(bar * BAR, BAR, 60 + section.random_seed % 12, 80, 0)], dtype=NOTE_DTYPE)
        base = piece if piece is not None else Score(notes=np.zeros(0, note.dtype), parts=[Part("Melody")], time_signatures=[(0, 4, 4)])
        return base.replace(notes=np.concatenate([base.notes, note]))

    calls = {"n": 0}

    def seam_ok(piece, tick):
        calls["n"] += 1
        assert tick == BAR and len(piece.notes) == 2  # the A just written, and its copy after it
        return calls["n"] == 3  # the third writing passes

    piece = compose(write, None, settings, seam_ok=seam_ok)
    assert calls["n"] == 3 and len(tried) == 3 + 1  # A three times, then B (nothing follows it)
    assert len(set(tried[:3])) == 3  # each writing of A drew other random seeds
    assert piece.notes["pitch"][0] == piece.notes["pitch"][1] == 60 + tried[2] % 12  # the copy is of the writing that passed
    calls["n"] = -100  # never passes: the last writing is kept
    tried.clear()
    compose(write, None, settings, seam_ok=seam_ok)
    assert len(tried) == SEAM_TRIES + 1


@pytest.mark.parametrize("value", [0, -3, 10**9, 2.5])
def test_absurd_ahead_bars_are_refused(value):
    with pytest.raises(GenerationError) as exc:
        GenerationSettings(ahead_bars=value)
    one_line_message(exc, "ahead_bars")
