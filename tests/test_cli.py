"""The command line through click's CliRunner: real files in, real files out, one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from composer import __version__
from composer.cli import cli
from composer.formats import read
from composer.score import Part, quantize
from conftest import make_score, note_rows, one_line_error


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def test_version_and_help():
    assert run("--version").output.strip() == f"composer, version {__version__}"
    assert "tokenize" in run("--help").output
    proc = subprocess.run([sys.executable, "-m", "composer", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_tokenize_then_detokenize_round_trips_a_midi_file(type1_midi, tmp_path):
    out = tmp_path / "t.json"
    assert run("tokenize", type1_midi, "-o", out, "--style", "folk").exit_code == 0
    doc = json.loads(out.read_text())
    assert doc["tokens"][:2] == ["BOS", "Style_folk"] and len(doc["ids"]) == len(doc["tokens"])
    assert doc["parts"] == ["Flute", "Cello"]
    mid = tmp_path / "back.mid"
    result = run("detokenize", out, "-o", mid)
    assert result.exit_code == 0, result.output
    original, back = read(type1_midi), read(mid)
    assert [p.name for p in back.parts] == ["Flute", "Cello"]
    assert note_rows(back) == note_rows(quantize(original, 24).replace()) or [
        (s * 480 // 1000, d * 480 // 1000, p, q) for s, d, p, q in note_rows(original)
    ] == note_rows(back)


def test_detokenize_uses_edited_token_names(tmp_path):
    doc = {"tokenizer": {"format": "composer-tokenizer", "format_version": 1, "config": {}}, "tokens": ["Bar", "Position_0", "Pitch_60", "Duration_1"]}
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(doc))
    assert run("detokenize", path, "-o", tmp_path / "hand.mid").exit_code == 0
    assert note_rows(read(tmp_path / "hand.mid")) == [(0, 480, 60, 0)]


def test_convert_and_force(type0_midi, tmp_path):
    out = tmp_path / "c.mid"
    assert run("convert", type0_midi, "-o", out).exit_code == 0
    assert note_rows(read(out)) == note_rows(read(type0_midi))
    line = one_line_error(run("convert", type0_midi, "-o", out))
    assert "file exists (use --force" in line
    assert run("convert", type0_midi, "-o", out, "--force").exit_code == 0


def test_tokenize_a_folder_lists_failures_and_goes_on(type0_midi, type1_midi, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.mid").write_bytes(type0_midi.read_bytes())
    (src / "sub" / "b.mid").write_bytes(type1_midi.read_bytes())
    (src / "broken.mid").write_bytes(b"MThd\x00\x00")
    (src / "notes.txt").write_text("ignored")
    result = run("tokenize", src, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "broken.mid: corrupt or truncated" in result.output
    assert "1 of 3 files could not be tokenized" in result.output
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.json")) == ["a.json", "sub/b.json"]


@pytest.mark.parametrize(
    "content, name, message",
    [
        (None, "missing.mid", "missing.mid: no such file"),
        (b"", "empty.mid", "empty.mid: file is empty"),
        (b"hello world, not midi", "text.mid", "text.mid: not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x00\x90", "trunc.mid", "trunc.mid: corrupt or truncated"),
        (b"whatever", "score.pdf", "unsupported input suffix '.pdf'"),
    ],
)
@pytest.mark.parametrize("command", ["tokenize", "convert"])
def test_bad_input_gets_one_line_and_exit_1(tmp_path, content, name, message, command):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / ("out.json" if command == "tokenize" else "out.mid")
    line = one_line_error(run(command, path, "-o", out))
    assert message in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([name] if content is not None else [])


def test_usage_errors_exit_2(type0_midi, tmp_path):
    assert "unsupported output suffix '.xyz'" in one_line_error(run("convert", type0_midi, "-o", tmp_path / "x.xyz"), 2)
    assert "expected a .json file name" in one_line_error(run("tokenize", type0_midi, "-o", tmp_path / "x.mid"), 2)
    assert "Missing option '-o'" in one_line_error(run("tokenize", type0_midi), 2)
    assert "Invalid value for '--style'" in one_line_error(run("tokenize", type0_midi, "-o", tmp_path / "x.json", "--style", "nope"), 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [type0_midi.name]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "not a token JSON file"),
        ("[]", "not a composer token file"),
        (json.dumps({"tokenizer": {"format": "composer-tokenizer", "format_version": 7, "config": {}}, "ids": []}), "version 7 is not supported"),
        (json.dumps({"tokenizer": {"format": "composer-tokenizer", "format_version": 1, "config": {}}, "tokens": ["Bar", "Nope_1"]}), "unknown token 'Nope_1'"),
        (json.dumps({"tokenizer": {"format": "composer-tokenizer", "format_version": 1, "config": {}}, "ids": ["x"]}), "must be a list of integers"),
        (json.dumps({"tokenizer": {"format": "composer-tokenizer", "format_version": 1, "config": {}}, "ids": [5], "tokens": ["Bar"]}), "disagree at position 0"),
    ],
)
def test_bad_token_files(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(content)
    line = one_line_error(run("detokenize", path, "-o", tmp_path / "o.mid"))
    assert message in line
    assert not (tmp_path / "o.mid").exists()


def test_writes_outputs_atomically_even_when_the_writer_fails(tmp_path, monkeypatch):
    from composer import formats

    def broken(score, path):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(formats.WRITERS, ".mid", broken)
    score = make_score([(0, 1, 60)], parts=(Part("x"),))
    src = tmp_path / "in.mid"
    from composer.io.midi import write_midi

    write_midi(score, src)
    line = one_line_error(run("convert", src, "-o", tmp_path / "out.mid"))
    assert "No space left on device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mid"]


# -- options built from the settings dataclasses -------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["generate", "-o", "{tmp}/o.mid"],
        ["harmonize", "tinynotation: 4/4 c1", "-o", "{tmp}/o.mid"],
        ["evaluate", "chorale", "{tmp}", "--samples", "1"],
        ["train", "{tmp}", "-o", "{tmp}/m.safetensors"],
    ],
)
def test_a_negative_random_seed_is_a_usage_error_in_every_command(tmp_path, args):
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args], "--random-seed", "-1")
    line = one_line_error(result, code=2)
    assert "Invalid value for '--random-seed': -1 is not in the range x>=0" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, value, message",
    [("--temperature", "inf", "temperature must be a finite number > 0, got inf"), ("--top-k", "0", "top_k must be an integer >= 1"), ("--top-p", "2", "top_p must be a number with 0 < top_p <= 1")],
)
def test_evaluate_takes_the_sampling_options_of_generate(tmp_path, option, value, message):
    for args in (["generate", "-o", tmp_path / "o.mid"], ["evaluate", "chorale", tmp_path, "--samples", "1"]):
        line = one_line_error(run(*args, option, value), code=2)
        assert f"Invalid value for '{option}': {message}" in line


def test_evaluate_passes_the_sampling_options_on(tmp_path, monkeypatch):
    import composer.evaluation

    calls = []

    def fake(model, corpus_dir, **kwargs):
        calls.append(kwargs)
        raise composer.evaluation.EvaluationError("stop here")

    monkeypatch.setattr(composer.evaluation, "evaluate_samples", fake)
    one_line_error(run("evaluate", "chorale", tmp_path, "--samples", "2", "--top-k", "5", "--top-p", "0.9", "--temperature", "0.8"))
    assert {k: calls[0][k] for k in ("samples", "top_k", "top_p", "temperature", "bars", "random_seed")} == {"samples": 2, "top_k": 5, "top_p": 0.9, "temperature": 0.8, "bars": 16, "random_seed": 0}
    line = one_line_error(run("evaluate", "chorale", tmp_path, "--top-k", "5"), code=2)
    assert "--top-k applies to --samples N only" in line


def test_train_options_take_their_defaults_and_ranges_from_train_config():
    import dataclasses

    from composer.errors import ComposerError
    from composer.training import TrainConfig, TrainingError

    params = {p.name: p for p in cli.commands["train"].params}
    derived = [f for f in dataclasses.fields(TrainConfig) if f.name in params]
    assert {f.name for f in derived} == {"arch", "max_steps", "batch_size", "seq_len", "learning_rate", "warmup_steps", "eval_every", "checkpoint_every", "patience", "augment", "random_seed", "style"}
    for f in derived:
        assert params[f.name].default == f.default, f.name
    assert (params["seq_len"].type.min, params["learning_rate"].type.min_open, params["warmup_steps"].type.min) == (8, True, 0)
    with pytest.raises(TrainingError, match="random_seed must be a whole number >= 0, got -1") as info:
        TrainConfig(random_seed=-1)
    assert isinstance(info.value, ComposerError)
    with pytest.raises(TrainingError, match="seq_len must be a whole number >= 8"):
        TrainConfig(seq_len=4)
