"""Generation: seed formats, both modes, the constraints, reproducibility and bad input.

A tiny random-weight model is used: the constraints are masks at sampling
time, so they must hold whatever the network says (a random network says the
most unexpected things).
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from composer.cli import cli
from composer.errors import ComposerError
from composer.generate import GenerationError, GenerationSettings, generate, generate_batch, held_not_restruck
from composer.formats import read
from composer.io.notation import parse_tinynotation
from composer.modelfile import Model, save_model
from composer.nn import build_model
from composer.score import quantize, select_parts
from composer.theory import MAJOR_SCALE, key_tonic_pitch_class
from composer.tokens import Tokenizer
from conftest import RANGES, make_score, note_rows, one_line_error, tiny_model

SEED_TEXT = "tinynotation: 3/4 c4 d8 e f4 g a2 g4"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(tiny_model(), path)
    return str(path)


def bar_ticks(score):
    ts = score.time_signatures[-1]
    return score.ticks_per_beat * 4 * int(ts["numerator"]) // int(ts["denominator"])


def test_continue_keeps_the_seed_and_writes_all_parts(model):
    seed = parse_tinynotation(SEED_TEXT)
    out = generate(model, seed, GenerationSettings(bars=4, random_seed=3))
    assert [p.name for p in out.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    seed_end = seed.end_tick
    soprano = [r for r in note_rows(out) if r[3] == 0 and r[0] < seed_end]
    assert [(s, d, p) for s, d, p, _ in soprano] == [(s, d, p) for s, d, p, _ in note_rows(quantize(seed, 24))]
    assert {r[3] for r in note_rows(out)} - {0}  # the model wrote in the lower parts too


def test_meter_bars_and_complete_last_bar(model):
    out = generate(model, parse_tinynotation(SEED_TEXT), GenerationSettings(bars=5, random_seed=1))
    assert out.time_signatures.tolist() == [(0, 3, 4)]
    bar = bar_ticks(out)
    assert out.end_tick <= 5 * bar  # nothing sounds past the last barline
    assert out.notes["start_tick"].max() >= 4 * bar  # the last bar is not empty
    bars = out.notes["start_tick"] // bar
    assert set(bars.tolist()) == {0, 1, 2, 3, 4}  # every bar holds a note


def test_time_signature_override_and_from_scratch(model):
    out = generate(model, None, GenerationSettings(bars=3, time_signature="6/8", key="Bb", tempo_qpm=72, random_seed=2))
    assert out.time_signatures.tolist() == [(0, 6, 8)]
    assert out.key_signatures.tolist() == [(0, -2, False)]
    assert out.tempos["qpm"].tolist() == [72.0]
    assert out.end_tick <= 3 * bar_ticks(out)


def test_key_mask_keeps_free_notes_in_the_scale(model):
    seed = parse_tinynotation("tinynotation: 4/4 d4 e f# g")
    out = generate(model, seed, GenerationSettings(bars=4, key="D", random_seed=5))
    tonic = key_tonic_pitch_class(2, False)
    free = out.notes[out.notes["start_tick"] >= seed.end_tick]
    assert len(free) > 0
    assert set(((free["pitch"] - tonic) % 12).tolist()) <= set(MAJOR_SCALE)
    chromatic = generate(model, seed, GenerationSettings(bars=4, key="D", allow_chromatic=True, random_seed=5))
    assert chromatic.key_signatures.tolist() == [(0, 2, False)]


def test_key_override_transposes_the_seed(model):
    seed = parse_tinynotation("tinynotation: 4/4 c4 d e f").replace(key_signatures=[(0, 0, False)])
    out = generate(model, seed, GenerationSettings(bars=2, key="D", random_seed=0))
    assert out.part_notes(0)["pitch"][:4].tolist() == [62, 64, 66, 67]


def test_pitch_ranges_per_part(model):
    out = generate(model, None, GenerationSettings(bars=3, random_seed=7, style="chorale"))
    for part, (lo, hi) in enumerate(RANGES):
        pitches = out.part_notes(part)["pitch"]
        assert len(pitches) == 0 or (pitches.min() >= lo and pitches.max() <= hi), part


def test_harmonize_keeps_the_melody_note_for_note(model):
    melody = parse_tinynotation("tinynotation: 4/4 g4 a b c' d'2 c'2 b4 a g2")
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=4))
    top = [(int(n["start_tick"]), int(n["duration_ticks"]), int(n["pitch"])) for n in out.part_notes(0)]
    assert top == [(s, d, p) for s, d, p, _ in note_rows(quantize(melody, 24))]
    assert out.end_tick <= 3 * bar_ticks(out)
    assert set(np.unique(out.notes["part"]).tolist()) - {0}


def test_same_random_seed_same_pieces_and_batches_differ(model):
    seed = parse_tinynotation(SEED_TEXT)
    a = generate_batch(model, seed, GenerationSettings(bars=3, random_seed=11), num_samples=2)
    b = generate_batch(model, seed, GenerationSettings(bars=3, random_seed=11), num_samples=2)
    assert note_rows(a[0]) == note_rows(b[0]) and note_rows(a[1]) == note_rows(b[1])
    assert note_rows(a[0]) != note_rows(a[1])


def test_lstm_generates_too():
    out = generate(tiny_model("lstm"), parse_tinynotation(SEED_TEXT), GenerationSettings(bars=3, random_seed=0))
    assert out.num_parts == 4 and out.end_tick <= 3 * bar_ticks(out)


def test_folk_style_writes_one_part(model):
    out = generate(model, None, GenerationSettings(bars=2, style="folk", time_signature="2/4", random_seed=0))
    assert [p.name for p in out.parts] == ["Melody"]


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(bars=0), "bars must be"),
        (dict(mode="sing"), "mode must be one of"),
        (dict(key="H"), "unknown tonic"),
        (dict(time_signature="3/5"), "power of two"),
        (dict(temperature=0), "temperature must be"),
        (dict(top_p=1.5), "top_p must be"),
        (dict(bars=513), "bars must be a whole number 1..512, got 513"),
        (dict(tempo_qpm=5), "tempo_qpm must be a number 10..400"),
        (dict(random_seed=-1), "random_seed must be a whole number >= 0, got -1"),
        (dict(random_seed=1.5), "random_seed must be a whole number"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(ComposerError, match=message):
        GenerationSettings(**settings)


def test_a_negative_random_seed_is_a_composer_error_from_python(model):
    for call in (lambda: model.generate(random_seed=-3), lambda: model.variations(None, 2, random_seed=-3), lambda: model.harmonize(parse_tinynotation(SEED_TEXT), random_seed=-3)):
        with pytest.raises(GenerationError, match="random_seed must be a whole number >= 0, got -3"):
            call()


def test_the_default_of_16_bars_has_one_home(model):
    from composer.evaluation import evaluate_samples
    from composer.settings import default_of

    assert default_of(GenerationSettings, "bars") == GenerationSettings().bars == 16
    assert inspect.signature(evaluate_samples).parameters["bars"].default == 16
    for name in ("generate", "harmonize"):
        params = {p.name: p for p in cli.commands[name].params}
        assert "bars" not in params if name == "harmonize" else params["bars"].default == 16
        assert params["random_seed"].default == 0 and params["tempo_qpm"].opts == ["--tempo"]


def test_the_default_style_is_decided_once(model):
    from composer.generate import default_style, plan

    assert default_style(model) == "chorale"  # seen in 10 pieces, folk in 5
    assert plan(model, None, GenerationSettings(bars=2)).style == "chorale"
    assert default_style(Model(model.network, model.tokenizer, {})) == model.tokenizer.config.styles[0]


def test_the_plan_is_public_and_counts_bars_as_bars_does(model):
    from composer.generate import GenerationPlan, plan

    fresh = plan(model, None, GenerationSettings(bars=5))
    assert isinstance(fresh, GenerationPlan) and (fresh.bars, fresh.pickup, fresh.last_bar) == (5, 0, 4)
    seeded = plan(model, pickup_seed(), GenerationSettings(bars=3))
    assert (seeded.bars, seeded.pickup, seeded.last_bar) == (3, 1, 3)
    harmonized = plan(model, pickup_seed(), GenerationSettings(mode="harmonize"))
    assert (harmonized.bars, harmonized.pickup) == (2, 1)  # the melody's bars, whatever bars says


def pickup_seed():
    """A quarter-note pickup (its own 1/4 meter), then two bars of 4/4 in C."""
    return make_score([(0, 1, 67), (1, 2, 72), (3, 2, 71), (5, 4, 72)], time_signatures=[(0, 1, 4), (480, 4, 4)], key_signatures=[(0, 0, False)])


def test_a_pickup_is_not_a_bar_in_bars_or_seed_bars(model):
    from composer.originality import seed_end_tick
    from composer.theory import bars_of, pickup_bars

    seed = pickup_seed()
    out = generate(model, seed, GenerationSettings(bars=3, random_seed=1))
    assert pickup_bars(out) == 1 and bars_of(out) == 3 and out.num_bars == 4
    assert out.end_tick <= 480 + 3 * 1920
    # --seed-bars 2 (the seed's two full bars) ends where the seed does, its pickup on top.
    assert seed_end_tick(out, 2) == 480 + 2 * 1920 == seed.end_tick


def test_contradictions(model):
    seed = parse_tinynotation(SEED_TEXT)
    with pytest.raises(GenerationError, match="more than --bars 1"):
        generate(model, seed, GenerationSettings(bars=1))
    with pytest.raises(GenerationError, match="harmonize needs a melody"):
        generate(model, None, GenerationSettings(mode="harmonize"))
    with pytest.raises(GenerationError, match="not trained on style 'unknown'"):
        generate(model, seed, GenerationSettings(style="unknown"))


# -- the command line ------------------------------------------------------
def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def digest(path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def seeds(tmp_path):
    """The same melody as MIDI, MusicXML, ABC and TinyNotation."""
    from music21 import converter

    text = "tinynotation: 4/4 e4 d c d e e e2"
    stream = converter.parse(text)
    (tmp_path / "seed.musicxml").write_text("")
    (tmp_path / "seed.musicxml").unlink()
    stream.write("musicxml", fp=str(tmp_path / "seed.musicxml"))
    parse_tinynotation(text).write(tmp_path / "seed.mid")
    (tmp_path / "seed.abc").write_text("X:1\nT:Mary\nM:4/4\nL:1/4\nK:C\nE D C D | E E E2 |\n")
    return {"midi": tmp_path / "seed.mid", "musicxml": tmp_path / "seed.musicxml", "abc": tmp_path / "seed.abc", "tinynotation": text}


@pytest.mark.parametrize("kind", ["midi", "musicxml", "abc", "tinynotation"])
def test_cli_generate_from_each_seed_format(model_file, seeds, tmp_path, kind):
    out = tmp_path / f"out-{kind}.mid"
    result = run("generate", seeds[kind], "-o", out, "--model", model_file, "--bars", 3, "--random-seed", 2)
    assert result.exit_code == 0, result.output
    score = read(out)
    assert score.num_parts == 4
    assert [int(p) for p in score.part_notes(0)["pitch"][:7]] == [64, 62, 60, 62, 64, 64, 64]


def test_cli_reproducible_bytes_and_num_samples(model_file, tmp_path):
    a, b, c = tmp_path / "a.mid", tmp_path / "b.mid", tmp_path / "c.mid"
    for out, seed in ((a, 9), (b, 9), (c, 10)):
        assert run("generate", SEED_TEXT, "-o", out, "--model", model_file, "--bars", 3, "--random-seed", seed).exit_code == 0
    assert digest(a) == digest(b) != digest(c)
    many = tmp_path / "many.mid"
    result = run("generate", SEED_TEXT, "-o", many, "--model", model_file, "--bars", 3, "--num-samples", 3)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("many-*.mid")) == ["many-1.mid", "many-2.mid", "many-3.mid"]


def test_cli_records_how_the_file_was_made(model_file, tmp_path):
    import mido

    out = tmp_path / "made.mid"
    assert run("generate", SEED_TEXT, "-o", out, "--model", model_file, "--bars", 3, "--random-seed", 5, "--temperature", 0.9).exit_code == 0
    texts = [m.text for m in mido.MidiFile(out).tracks[0] if m.type == "text"]
    joined = "\n".join(texts)
    assert "composer:model=tiny" in joined and "random_seed=5" in joined and "temperature=0.9" in joined
    assert "composer:seed=tinynotation: 3/4" in joined


def test_cli_harmonize(model_file, tmp_path):
    out = tmp_path / "h.mid"
    result = run("harmonize", "tinynotation: 4/4 g4 a b c'", "-o", out, "--model", model_file, "--random-seed", 1)
    assert result.exit_code == 0, result.output
    assert [int(p) for p in read(out).part_notes(0)["pitch"]] == [67, 69, 71, 72]


def test_harmonize_records_the_true_number_of_bars(model, model_file, tmp_path):
    from composer.theory import bars_of

    melody = "tinynotation: 4/4 g4 a b c'2 b4 a g1"  # eleven beats: three bars, the last one short
    out = tmp_path / "h.mid"
    result = run("harmonize", melody, "-o", out, "--model", model_file)
    assert result.exit_code == 0, result.output
    written = read(out)
    assert written.metadata["settings"].startswith("bars=3, mode=harmonize") and bars_of(written) == 3
    last = written.part_notes(0)[-1]
    assert last["pitch"] == 67 and last["start_tick"] == 3360 and last["duration_ticks"] == 4 * written.ticks_per_beat  # g1 kept whole: not cut at bar 2, not lengthened
    piece = model.harmonize(parse_tinynotation(melody))
    assert piece.metadata["settings"].startswith("bars=3, mode=harmonize") and bars_of(piece) == 3


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["generate", "nope.mid", "-o", "{tmp}/o.mid"], "nope.mid: no such file", 1),
        (["generate", "tinynotation: 4/4 c4 d4 zz9 e", "-o", "{tmp}/o.mid"], "zz9", 1),
        (["generate", "tinynotation:", "-o", "{tmp}/o.mid"], "tinynotation", 1),
        (["generate", SEED_TEXT, "-o", "{tmp}/o.xyz"], "unsupported output suffix", 2),
        (["generate", SEED_TEXT, "-o", "{tmp}/o.mid", "--model", "no-such-model"], "no model named 'no-such-model'", 1),
        (["generate", SEED_TEXT, "-o", "{tmp}/o.mid", "--bars", "1"], "more than --bars 1", 1),
        (["generate", SEED_TEXT, "-o", "{tmp}/o.mid", "-o", "{tmp}/o.mid"], "given twice", 2),
        (["generate", SEED_TEXT, "-o", "{tmp}/o.mid", "--key", "H"], "unknown tonic", 1),
        (["generate", SEED_TEXT, "-o", "{tmp}/o.mid", "--top-p", "2"], "top_p must be", 2),
    ],
)
def test_cli_bad_input(model_file, tmp_path, args, message, code):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", model_file]
    result = run(*args)
    assert message in one_line_error(result, code)
    assert not any(tmp_path.iterdir())


def test_cli_empty_seed_file_and_existing_output(model_file, tmp_path):
    (tmp_path / "empty.mid").write_bytes(b"")
    result = run("generate", tmp_path / "empty.mid", "-o", tmp_path / "o.mid", "--model", model_file)
    assert "file is empty" in one_line_error(result)
    (tmp_path / "o.mid").write_bytes(b"keep")
    result = run("generate", SEED_TEXT, "-o", tmp_path / "o.mid", "--model", model_file, "--bars", 3)
    assert "file exists" in one_line_error(result)
    assert (tmp_path / "o.mid").read_bytes() == b"keep"


@pytest.mark.parametrize("mode, seed_text", [("continue", None), ("harmonize", "tinynotation: 4/4 g4 a b c' d'2 c'2 b4 a g2 a4 b c'1")])
def test_parallel_fifths_and_octaves_are_masked_unless_allowed(mode, seed_text):
    from composer.metrics import voice_leading
    from composer.modelfile import load_model

    chorale = load_model("chorale")  # the shipped model: it writes parallels when they are allowed
    seed = parse_tinynotation(seed_text) if seed_text else None

    def parallels(allow: bool) -> list[tuple[int, int]]:
        settings = GenerationSettings(mode=mode, bars=4 if seed is None else 3, allow_parallels=allow, random_seed=3)
        return [(vl.parallel_fifths, vl.parallel_octaves) for vl in map(voice_leading, generate_batch(chorale, seed, settings, num_samples=6))]

    assert sum(f + o for f, o in parallels(True)) > 0
    assert parallels(False) == [(0, 0)] * 6


def test_the_model_file_recommends_sampling_and_explicit_values_win(model_file, tmp_path):
    import shutil

    from composer.modelfile import load_model, update_training_metadata

    path = tmp_path / "tuned.safetensors"
    shutil.copy(model_file, path)
    before = load_model(path)
    update_training_metadata(path, {"sampling": {"top_p": 0.5, "temperature": 0.8}})
    tuned = load_model(path)
    for name, weights in before.runtime.__dict__.items():
        if isinstance(weights, np.ndarray):
            assert np.array_equal(weights, tuned.runtime.__dict__[name]), name  # the weights stay as they were
    assert tuned.training["sampling"] == {"top_p": 0.5, "temperature": 0.8}
    resolved = GenerationSettings().for_model(tuned)
    assert (resolved.temperature, resolved.top_p, resolved.top_k) == (0.8, 0.5, None)
    explicit = GenerationSettings(temperature=1.0, top_p=1.0).for_model(tuned)
    assert (explicit.temperature, explicit.top_p) == (1.0, 1.0)
    assert GenerationSettings().for_model(before) == GenerationSettings(temperature=1.0)
    piece = generate(tuned, None, GenerationSettings(bars=2, random_seed=2))
    assert "temperature=0.8" in piece.metadata["settings"] and "top_p=0.5" in piece.metadata["settings"]


# -- issue 12: the lower voices under any melody, ending with it; the last bar ends the piece ------------------
def one_note_at_a_time_model():
    """A random model whose chorale parts each sound one note at a time, as the chorales' do."""
    model = tiny_model()
    model.training["styles"]["chorale"]["overlap_shares"] = [0.0] * 4
    return model


def _lower_parts_end(out, melody_end):
    final_start = int(out.part_notes(0)["start_tick"].max())
    for part in (1, 2, 3):
        notes = out.part_notes(part)
        assert len(notes), f"part {part} is empty"
        ends = notes["start_tick"] + notes["duration_ticks"]
        assert int(ends.max()) == melody_end, part
        assert ((notes["start_tick"] == final_start) & (ends == melody_end)).any(), part  # it strikes the final chord


@pytest.mark.parametrize("random_seed", range(8))
def test_every_voice_strikes_the_final_chord_with_the_melody(random_seed):
    # One note at a time in each part (as the chorales): a voice still sounding at the melody's last note could not
    # join the final chord, so no written note lasts past that note's start.
    model = one_note_at_a_time_model()
    melody = parse_tinynotation("tinynotation: 4/4 f'4 g' a' f' b'- a' g'2 a'4 g' f' e' f'1")
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
    _lower_parts_end(out, 4 * 1920)


@pytest.mark.parametrize("random_seed", [0, 1, 2])
def test_harmonize_writes_voices_under_whole_notes(model, random_seed):
    melody = parse_tinynotation("tinynotation: 4/4 c'1 d'1")
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
    assert [(int(n["start_tick"]), int(n["duration_ticks"]), int(n["pitch"])) for n in out.part_notes(0)] == [(0, 1920, 72), (1920, 1920, 74)]
    for start in (0, 1920):  # every lower voice sounds under each melody note
        for part in (1, 2, 3):
            notes = out.part_notes(part)
            assert ((notes["start_tick"] <= start) & (notes["start_tick"] + notes["duration_ticks"] > start)).any(), (start, part)
    _lower_parts_end(out, 3840)


@pytest.mark.parametrize("random_seed", [0, 3])
def test_harmonize_stops_with_the_melody_after_a_pickup(model, random_seed):
    # A quarter-note pickup in 4/4: the last bar holds three beats, and nothing sounds after the melody's last note.
    rows = [(0, 1, 67)] + [(1 + b, 1, [72, 71, 69, 67][b % 4]) for b in range(8)] + [(9, 3, 72)]
    melody = make_score(rows, time_signatures=[(0, 1, 4), (480, 4, 4)], key_signatures=[(0, 0, False)])
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
    top = [(s, d, p) for s, d, p, part in note_rows(out) if part == 0]
    assert top == [(s, d, p) for s, d, p, _ in note_rows(melody)]  # kept note for note
    end = 12 * 480
    assert int((out.notes["start_tick"] + out.notes["duration_ticks"]).max()) == end
    _lower_parts_end(out, end)


def _sounding_at(out, part, tick):
    notes = out.part_notes(part)
    on = (notes["start_tick"] <= tick) & (notes["start_tick"] + notes["duration_ticks"] > tick)
    return notes["pitch"][on].tolist()


@pytest.mark.parametrize("random_seed", [0, 1, 2, 3])
def test_harmonize_keeps_the_voices_in_order(random_seed):
    # A melody at the bottom of the soprano's range: a random model must still write nothing above it.
    model = one_note_at_a_time_model()
    melody = parse_tinynotation("tinynotation: 4/4 c'4 d' e' c' d'2 c'2")
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
    for tick in sorted(set(out.notes["start_tick"].tolist())):
        for part in (1, 2, 3):
            mine = _sounding_at(out, part, tick)
            above = [p for q in range(part) for p in _sounding_at(out, q, tick)]
            starts_here = any(int(n["start_tick"]) == tick for n in out.part_notes(part))
            if mine and above and starts_here:
                assert max(mine) <= min(above), (tick, part, mine, above)


@pytest.mark.parametrize("random_seed", [0, 1, 2])
def test_harmonize_keeps_the_dotted_beats_of_a_compound_meter(model, random_seed):
    # 6/8: a written note ends by the next dotted-quarter beat, or starts on one and lasts whole beats.
    melody = parse_tinynotation("tinynotation: 6/8 d'4 g'8 g'4 a'8 b'4 a'8 g'4 e'8 d'4. g'4.")
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
    beat = 720  # a dotted quarter at 480 ticks a quarter
    end = 4 * 2 * beat
    for part in (1, 2, 3):
        for n in out.part_notes(part):
            start, stop = int(n["start_tick"]), int(n["start_tick"] + n["duration_ticks"])
            if stop == end:
                continue  # the final chord ends with the melody
            within = stop <= (start // beat + 1) * beat
            whole = start % beat == 0 and (stop - start) % beat == 0
            assert within or whole, (part, start, stop)


def test_a_simple_meter_with_half_note_beats_is_not_held_to_the_compound_rule(model):
    # 3/2 counts half notes (48 grid steps, divisible by 3 like a dotted beat) but is a simple meter:
    # its written notes may cross a beat, as in any simple meter.
    melody = parse_tinynotation("tinynotation: 3/2 d'2 d' d' c'2. b4 a2 b2 g2 f#4 e4 e1 d2")
    crossing = 0
    for random_seed in range(4):
        out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
        for part in (1, 2, 3):
            for n in out.part_notes(part):
                start, stop = int(n["start_tick"]), int(n["start_tick"] + n["duration_ticks"])
                crossing += stop > (start // 960 + 1) * 960 and not (start % 960 == 0 and (stop - start) % 960 == 0)
    assert crossing > 0


def test_the_key_of_a_seed_without_signature_is_found_from_its_notes(model):
    from composer.generate import plan

    ode = parse_tinynotation("tinynotation: 4/4 e4 e f g g f e d c c d e e4. d8 d2")
    the_plan = plan(model, ode, GenerationSettings(mode="harmonize"))
    assert model.tokenizer.tokens[the_plan.prefix[-2]] == "Key_C" and the_plan.key == (0, False)
    signed = ode.replace(key_signatures=[(0, 1, False)])  # a signature wins over the notes
    assert model.tokenizer.tokens[plan(model, signed, GenerationSettings(mode="harmonize")).prefix[-2]] == "Key_G"


@pytest.mark.parametrize("style, key, tonic", [("chorale", "G", 7), ("folk", "d", 2), ("chorale", "Bb", 10)])
def test_the_last_bar_ends_on_a_long_tonic(model, style, key, tonic):
    for random_seed in range(3):
        # (parallels allowed: where the parallels rule forbids every tonic in the bass, the rule wins)
        settings = GenerationSettings(bars=4, style=style, key=key, time_signature="4/4", random_seed=random_seed, allow_parallels=True)
        out = generate(model, None, settings)
        end = 4 * 1920
        top = out.part_notes(0)
        last = top[top["start_tick"] == top["start_tick"].max()]
        assert int(last["pitch"].max()) % 12 == tonic
        assert int(last["start_tick"][0]) >= 3 * 1920 and int((last["start_tick"] + last["duration_ticks"]).max()) == end
        assert int(last["duration_ticks"].max()) >= 960  # half-way through the last 4/4 bar at the latest
        if style == "chorale":
            bass = out.part_notes(3)
            final = bass[bass["start_tick"] == bass["start_tick"].max()]
            assert int(final["pitch"].min()) % 12 == tonic and int((final["start_tick"] + final["duration_ticks"]).max()) == end


def test_a_free_ending_is_a_setting(model):
    out = generate(model, None, GenerationSettings(bars=2, key="G", time_signature="3/4", random_seed=0, free_ending=True))
    assert out.end_tick <= 2 * 1440
    with pytest.raises(ComposerError):
        GenerationSettings(mode="nope", free_ending=True)


def test_continuation_ends_on_the_tonic_of_the_seed(model):
    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c'2 b4 a g1")
    for random_seed in range(3):
        out = generate(model, seed, GenerationSettings(bars=4, random_seed=random_seed))
        top = out.part_notes(0)
        last = top[top["start_tick"] == top["start_tick"].max()]
        assert int(last["pitch"].max()) % 12 == 7 and int((last["start_tick"] + last["duration_ticks"]).max()) == 4 * 1920


def overlapping_notes(score) -> int:
    """Notes that start while another note of the same part still sounds."""
    count = 0
    for part in range(score.num_parts):
        notes = score.part_notes(part)
        ends = np.maximum.accumulate(notes["start_tick"] + notes["duration_ticks"])
        count += int(np.count_nonzero(notes["start_tick"][1:] < ends[:-1]))
    return count


@pytest.mark.parametrize("style, mode", [("chorale", "continue"), ("folk", "continue"), ("chorale", "harmonize")])
def test_parts_the_style_wrote_one_note_at_a_time_never_overlap(style, mode):
    one_at_a_time = tiny_model()
    for profile in one_at_a_time.training["styles"].values():
        profile["overlap_shares"] = [0.0] * len(profile["programs"])
    loose = tiny_model()  # the same weights, from a model file that has no overlap figures
    seed = parse_tinynotation(SEED_TEXT)
    settings = dict(bars=4, style=style, mode=mode, temperature=1.5)
    masked = [overlapping_notes(generate(one_at_a_time, seed, GenerationSettings(random_seed=r, **settings))) for r in range(6)]
    unmasked = [overlapping_notes(generate(loose, seed, GenerationSettings(random_seed=r, **settings))) for r in range(6)]
    assert masked == [0] * 6
    assert sum(unmasked) > 0  # random weights do write chords and overlaps in a part when nothing stops them


def test_the_settings_line_says_what_was_in_force_and_the_seed_keeps_its_title(model):
    seed = parse_tinynotation(SEED_TEXT).replace(title="Cuckoo Hill")
    free = generate(model, seed.replace(key_signatures=[(0, 0, False)]), GenerationSettings(bars=4, random_seed=1))
    assert "allow_chromatic=False" in free.metadata["settings"] and free.title == "Cuckoo Hill, continued"
    scratch = generate(model, None, GenerationSettings(bars=2, random_seed=1))  # no key: no scale mask in force
    assert "allow_chromatic=True" in scratch.metadata["settings"] and scratch.title == "Chorale by composer"
    keyed = generate(model, None, GenerationSettings(bars=2, key="D", random_seed=1))
    assert "allow_chromatic=False" in keyed.metadata["settings"]
    choir = model.harmonize(seed)
    assert choir.title == "Cuckoo Hill, harmonized"


# -- accompany and infill ---------------------------------------------------
def four_part_seed(bars: int = 6):
    """Four parts of quarter notes (bass in half notes), ``bars`` bars of 4/4."""
    rows = []
    for beat in range(4 * bars):
        rows += [(beat, 1, 72 - beat % 5, 0), (beat, 1, 65 - beat % 3, 1), (beat, 1, 60 - beat % 4, 2)]
        if beat % 2 == 0:
            rows.append((beat, 2, 48 + beat % 7, 3))
    return make_score(rows, parts=("Soprano", "Alto", "Tenor", "Bass"), tpb=24)


def rows_of(score, parts=None):
    scale = 24 / score.ticks_per_beat
    return sorted((round(s * scale), round(d * scale), p, q) for s, d, p, q in note_rows(score) if parts is None or q in parts)


def test_accompany_keeps_soprano_and_bass_and_ends_with_them(model):
    seed = four_part_seed()
    out = model.accompany(seed, parts=["soprano", "4"], random_seed=2)
    assert rows_of(out, {0, 3}) == rows_of(seed, {0, 3})  # note for note
    assert {q for *_, q in rows_of(out)} == {0, 1, 2, 3}
    assert out.end_tick * 24 // out.ticks_per_beat == seed.end_tick  # nothing after the given music


@pytest.mark.parametrize("random_seed", range(4))
def test_between_beats_under_a_held_melody_note_a_voice_holds_its_note_rather_than_striking_it_again(random_seed):
    model = one_note_at_a_time_model()
    melody = parse_tinynotation("tinynotation: 4/4 c'1 d'2 e'2 f'1 e'1")
    out = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=random_seed))
    melody_starts = set(out.part_notes(0)["start_tick"].tolist())
    between = 0
    for part in (1, 2, 3):
        notes = out.part_notes(part)
        for before, after in zip(notes[:-1], notes[1:]):
            start = int(after["start_tick"])
            if start % 480 and start not in melody_starts and start == int(before["start_tick"] + before["duration_ticks"]):
                between += 1
                assert after["pitch"] != before["pitch"], (part, start)
    assert between  # the random model does write notes between beats


def test_a_note_struck_again_between_beats_under_a_held_melody_note_joins_the_one_before():
    # 4/4; the melody: a half note C, an eighth D, then E. Alto: C C in eighths, the second between beats under the
    # held C -> one quarter; D D D, the second on a beat and the third where the melody strikes its E -> kept.
    # Bass: C C C, the third between beats -> joined to the second.
    rows = [(0, 2, 72, 0), (2, 0.5, 74, 0), (2.5, 1.5, 76, 0),
            (0, 0.5, 60, 1), (0.5, 0.5, 60, 1), (1, 1, 62, 1), (2, 0.5, 62, 1), (2.5, 0.5, 62, 1), (3, 1, 64, 1),
            (0, 1, 48, 2), (1, 0.5, 48, 2), (1.5, 0.5, 48, 2), (2, 2, 50, 2)]
    score = make_score(rows, parts=("S", "A", "B"), time_signatures=[(0, 4, 4)])
    out = held_not_restruck(score, 1)
    assert note_rows(out.replace(notes=out.notes[out.notes["part"] == 0])) == note_rows(score.replace(notes=score.notes[score.notes["part"] == 0]))
    assert [(s, d, p) for s, d, p, q in note_rows(out) if q == 1] == [(0, 480, 60), (480, 480, 62), (960, 240, 62), (1200, 240, 62), (1440, 480, 64)]
    assert [(s, d, p) for s, d, p, q in note_rows(out) if q == 2] == [(0, 480, 48), (480, 480, 48), (960, 960, 50)]


@pytest.mark.parametrize("random_seed", range(4))
def test_accompany_s_written_parts_strike_the_last_chord_with_the_given_notes(random_seed):
    model = one_note_at_a_time_model()
    seed = four_part_seed()
    out = model.accompany(seed, parts=["soprano", "bass"], random_seed=random_seed)
    last, end = max(s for s, _, _, q in rows_of(seed) if q == 0), seed.end_tick
    for part in (1, 2):
        assert any(s == last and s + d == end for s, d, _, q in rows_of(out, {part})), part


def test_accompany_melody_and_bass_line_go_to_top_and_bottom(model):
    seed = select_parts(four_part_seed(), [0, 3])
    out = model.accompany(seed, parts=[1, 2], random_seed=0)
    assert rows_of(out, {0, 3}) == sorted((s, d, p, 3 if q == 1 else 0) for s, d, p, q in rows_of(seed))


def test_accompany_of_the_top_part_is_a_harmonization(model):
    seed = four_part_seed()
    a = model.accompany(seed, parts=[1], random_seed=4)
    h = model.harmonize(select_parts(seed, [0]), random_seed=4)
    assert rows_of(a) == rows_of(h)


@pytest.mark.parametrize("parts", [None, ["alto", "tenor"]])
def test_infill_keeps_everything_outside_the_region(model, parts):
    seed = four_part_seed()
    out = model.infill(seed, bars=(3, 4), parts=parts, random_seed=5)
    start, stop = 2 * 96, 4 * 96
    rewritten = {0, 1, 2, 3} if parts is None else {1, 2}
    outside = lambda rows: [r for r in rows if not (start <= r[0] < stop and r[3] in rewritten)]
    assert outside(rows_of(out)) == outside(rows_of(seed))
    inside = [r for r in rows_of(out) if start <= r[0] < stop]
    assert inside and all(s + d <= stop for s, d, _, q in inside if q in rewritten)  # the new notes end at the region's end
    bars = {s // 96 for s, *_ in inside}
    assert bars == {2, 3}  # every rewritten bar holds a note


def test_infill_samples_are_reproducible_and_differ(model):
    seed = four_part_seed()
    one = generate_batch(model, seed, GenerationSettings(mode="infill", infill_bars=(2, 3), random_seed=7), num_samples=2)
    two = generate_batch(model, seed, GenerationSettings(mode="infill", infill_bars=(2, 3), random_seed=7), num_samples=2)
    assert [rows_of(s) for s in one] == [rows_of(s) for s in two]
    assert rows_of(one[0]) != rows_of(one[1])


def test_infill_and_accompany_from_the_command_line(model_file, tmp_path):
    from composer.formats import write

    seed = tmp_path / "seed.mid"
    write(four_part_seed(), seed)
    runner = CliRunner()
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}.mid"
        result = runner.invoke(cli, ["infill", str(seed), "--bars", "2-3", "--parts", "alto,tenor", "--model", model_file, "--random-seed", "3", "-o", str(out)])
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    result = runner.invoke(cli, ["accompany", str(seed), "--keep", "1,bass", "--model", model_file, "--num-samples", "2", "-o", str(tmp_path / "acc.mid")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "acc-1.mid").exists() and (tmp_path / "acc-2.mid").exists()


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["infill", "--bars", "5-9"], 1, "outside the piece"),
        (["infill", "--bars", "4-2"], 2, "empty range"),
        (["infill", "--bars", "x"], 2, "FIRST-LAST"),
        (["infill", "--bars", "0-2"], 1, "outside the piece"),
        (["infill", "--bars", "2-3", "--parts", "viola"], 1, "no part 'viola'"),
        (["infill", "--bars", "2-3", "--parts", "9"], 1, "no part '9'"),
        (["accompany", "--keep", "1,2,3,4"], 1, "nothing is left to write"),
        (["accompany", "--keep", "1", "--style", "polka"], 1, "style"),
        (["accompany"], 2, "--keep"),
    ],
)
def test_infill_and_accompany_bad_input(model_file, tmp_path, args, code, words):
    from composer.formats import write

    seed = tmp_path / "seed.mid"
    write(four_part_seed(bars=6), seed)
    out = tmp_path / "out.mid"
    result = CliRunner().invoke(cli, [args[0], str(seed), *args[1:], "--model", model_file, "-o", str(out)])
    assert words in one_line_error(result, code)
    assert not out.exists()


def test_infill_region_may_not_split_a_pickup(model):
    rows = [(0, 1, 67, 0)] + [(1 + b, 1, 72 - b % 5, 0) for b in range(12)]
    seed = make_score(rows, parts=("Melody",), tpb=24, time_signatures=[(0, 1, 4), (24, 4, 4)])  # a one-beat pickup
    with pytest.raises(GenerationError, match="split the pickup"):
        model.infill(seed, bars=(1, 2), style="chorale")
    out = model.infill(seed, bars=(0, 2), style="chorale", random_seed=1)
    assert [r for r in rows_of(out, {0}) if r[0] >= 9 * 24] == [r for r in rows_of(seed) if r[0] >= 9 * 24]


def test_accompany_with_one_note_at_a_time_parts(model):
    """Written parts that sound one note at a time never overlap themselves, and a held one is not made to join the last chord."""
    mono = Model(model.network, model.tokenizer, {"styles": {"chorale": {"pieces": 10, "programs": [52] * 4, "pitch_ranges": RANGES, "overlap_shares": [0.0] * 4}}})
    seed = four_part_seed(bars=4)
    for random_seed in range(4):
        out = mono.accompany(seed, parts=["soprano", "bass"], random_seed=random_seed)
        assert rows_of(out, {0, 3}) == rows_of(seed, {0, 3})
        for part in (1, 2):
            notes = rows_of(out, {part})
            assert all(s + d <= t for (s, d, *_), (t, *_) in zip(notes, notes[1:]))


def parallels_with(out, upper: int, lower: int) -> int:
    """Parallel fifths/octaves between two one-note-at-a-time parts: both start a note at an onset, moving the same way
    from a perfect interval (their latest pitches before it) to the same one."""
    starts: dict[int, dict[int, int]] = {}
    for s, _, p, part in note_rows(out):
        if part in (upper, lower):
            starts.setdefault(s, {})[part] = p
    latest: dict[int, int] = {}
    count = 0
    for s in sorted(starts):
        now = starts[s]
        if len(now) == 2 and len(latest) == 2:
            u0, l0, u1, l1 = latest[upper], latest[lower], now[upper], now[lower]
            if u0 != u1 and l0 != l1 and (u0 - l0) % 12 in (0, 7) and (u1 - l1) % 12 == (u0 - l0) % 12 and (u1 > u0) == (l1 > l0):
                count += 1
        latest.update(now)
    return count


def test_accompany_written_parts_make_no_parallels_with_a_given_bass(model):
    mono = Model(model.network, model.tokenizer, {"styles": {"chorale": {"pieces": 10, "programs": [52] * 4, "pitch_ranges": RANGES, "overlap_shares": [0.0] * 4}}})
    seed = four_part_seed(bars=8)
    runs = [(r, flag) for r in range(8) for flag in (True, False)]
    counts = {flag: 0 for flag in (True, False)}
    for r, flag in runs:
        out = mono.accompany(seed, parts=["soprano", "bass"], random_seed=r, allow_parallels=flag)
        counts[flag] += parallels_with(out, 1, 3) + parallels_with(out, 2, 3)
    assert counts[False] == 0  # (the random model writes long notes: few onsets where both parts move, so no positive control here)


@pytest.mark.parametrize("meter", ["4/4", "3/4", "6/8"])
def test_from_scratch_the_top_part_does_not_fall_silent_in_the_first_bar(model, meter):
    """A model that learned pickups as a short bar of their own would open with one note and rests."""
    from composer.score import bar_ticks

    num, den = (int(x) for x in meter.split("/"))
    bar = round(bar_ticks(num, den, 480))
    checked = 0
    for random_seed in range(12):
        piece = generate(model, None, GenerationSettings(bars=4, style="chorale", time_signature=meter, random_seed=random_seed, learned_form=False))
        top = piece.notes[(piece.notes["part"] == 0) & (piece.notes["start_tick"] < bar)]
        if not len(top):
            continue  # the top part may enter later; once it sounds, it goes on
        starts, ends = top["start_tick"], top["start_tick"] + top["duration_ticks"]
        assert (starts[1:] <= np.maximum.accumulate(ends)[:-1]).all(), top[["start_tick", "duration_ticks"]]
        assert ends.max() >= bar
        checked += 1
    assert checked >= 3


def test_a_harmonized_melody_keeps_its_fermatas_and_section_marks(model):
    from composer.score import PHRASE_END, SECTION_START, resample

    melody = parse_tinynotation("tinynotation: 4/4 c'4 d' e'2 d'4 c' b2 c'1")
    melody = resample(melody, 240).replace(markers=[(960, PHRASE_END), (960, SECTION_START), (1920, PHRASE_END), (2880, PHRASE_END)])
    piece = generate(model, melody, GenerationSettings(mode="harmonize", style="chorale", random_seed=1))
    assert [(int(t), int(k)) for t, k in piece.markers] == [(1920, PHRASE_END), (1920, SECTION_START), (3840, PHRASE_END), (5760, PHRASE_END)]
    continued = generate(model, melody, GenerationSettings(bars=4, style="chorale", random_seed=1))
    assert [(int(t), int(k)) for t, k in continued.markers] == [(1920, PHRASE_END), (1920, SECTION_START), (3840, PHRASE_END), (5760, PHRASE_END)]


@pytest.mark.parametrize("text", ["3/2 d'2 d' d' c'2. b4 a2 b1.", "4/4 c'4 d' e'2 f'4 e'8 d' c'2 g'1", "6/8 g4 a8 b4 c'8 d'4. g'4."])
def test_harmonizing_the_voices_keep_to_the_melody_grid_and_never_drop_out(model, text):
    melody = parse_tinynotation(f"tinynotation: {text}")
    top = melody.notes
    melody_end = int((top["start_tick"] + top["duration_ticks"]).max())
    sixteenth = melody.ticks_per_beat // 4
    for random_seed in range(4):
        piece = generate(model, melody, GenerationSettings(mode="harmonize", style="chorale", random_seed=random_seed))
        assert np.array_equal(piece.notes[piece.notes["part"] == 0][["start_tick", "duration_ticks", "pitch"]], top[["start_tick", "duration_ticks", "pitch"]])
        for part in range(1, 4):
            notes = piece.notes[piece.notes["part"] == part]
            assert (notes["start_tick"] % sixteenth == 0).all() and (notes["duration_ticks"] % sixteenth == 0).all()  # no triplets
            sounding = np.zeros(melody_end, bool)
            for start, length in zip(notes["start_tick"].tolist(), notes["duration_ticks"].tolist()):
                sounding[start : start + length] = True
            assert sounding.all(), (part, np.flatnonzero(~sounding)[:4])  # no rest while the melody sounds
