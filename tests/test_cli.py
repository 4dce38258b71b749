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
from conftest import ROOT, make_score, note_rows, one_line_error


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
    result = run("tokenize", type1_midi, "-o", out, "--style", "folk")
    assert result.exit_code == 0 and result.output == f"wrote {out}\n"  # says what it wrote, as every command does
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


def test_edited_names_win_over_the_ids_they_left_behind(type1_midi, tmp_path):
    """Hand-edit a name in a tokenize'd file, keep "ids": the names win, and stderr says so."""
    out = tmp_path / "t.json"
    assert run("tokenize", type1_midi, "-o", out).exit_code == 0
    doc = json.loads(out.read_text())
    first = next(i for i, t in enumerate(doc["tokens"]) if t.startswith("Pitch_"))
    old = int(doc["tokens"][first].split("_")[1])
    doc["tokens"][first] = f"Pitch_{old + 1}"
    out.write_text(json.dumps(doc))
    result = CliRunner().invoke(cli, ["detokenize", str(out), "-o", str(tmp_path / "edited.mid")])
    assert result.exit_code == 0, result.output
    assert result.stderr == f'note: {out}: "tokens" and "ids" differ (first at position {first}); the token names win, the ids are read from them\n'
    assert result.stdout == f"wrote {tmp_path / 'edited.mid'}\n"
    assert old + 1 in read(tmp_path / "edited.mid").notes["pitch"].tolist()


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
    assert f"tokenized 2 of 3 files into {tmp_path / 'out' / 'tokens.npz'} (vocabulary: {tmp_path / 'out' / 'tokenizer.json'})" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tokenizer.json", "tokens.npz"]
    from composer.tokens import read_token_archive

    assert read_token_archive(tmp_path / "out").names == ["a.mid", "sub/b.mid"]


def test_tokenize_the_seeds_folder_keeps_every_file_apart(tmp_path):
    """examples/seeds holds each melody as .abc, .mid and .musicxml: twelve files, twelve pieces, no collision."""
    import numpy as np

    from composer.tokens import Tokenizer, read_token_archive

    seeds = ROOT / "examples" / "seeds"
    files = sorted(p.name for p in seeds.iterdir() if p.suffix in (".abc", ".mid", ".musicxml"))
    result = run("tokenize", seeds, "-o", tmp_path / "seeds_tokens")
    assert result.exit_code == 0, result.output
    assert "tokenized 12 of 12 files" in result.output
    archive = read_token_archive(tmp_path / "seeds_tokens")
    assert archive.names == files and len(files) == 12
    for name in files:  # each piece is its own file's tokens, from one shared vocabulary
        assert np.array_equal(archive.document(name).ids, Tokenizer().encode(read(seeds / name), "unknown"))
    with np.load(tmp_path / "seeds_tokens" / "tokens.npz", allow_pickle=False) as data:  # plain arrays: numpy reads it anywhere
        assert data["ids"].dtype == np.int16 and len(data["offsets"]) == 13
    assert "file exists" in one_line_error(run("tokenize", seeds, "-o", tmp_path / "seeds_tokens"))
    assert run("tokenize", seeds, "-o", tmp_path / "seeds_tokens", "--force", "-j", "2").exit_code == 0


def test_a_big_folder_is_tokenized_by_workers_in_file_order(tmp_path, type0_midi, type1_midi):
    import numpy as np

    from composer.dataset import tokenize_folder
    from composer.tokens import Tokenizer

    src = tmp_path / "many"
    for i in range(210):  # past the size where worker processes start
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i:03d}.mid").write_bytes((type0_midi if i % 2 else type1_midi).read_bytes())
    (src / "d0" / "zz_broken.mid").write_bytes(b"MThd")
    serial, failed_serial = tokenize_folder(src, Tokenizer(), "folk", jobs=1)
    parallel, failed_parallel = tokenize_folder(src, Tokenizer(), "folk", jobs=2)
    assert serial.names == parallel.names == sorted(serial.names) and len(serial) == 210
    assert np.array_equal(serial.ids, parallel.ids) and np.array_equal(serial.offsets, parallel.offsets)
    assert len(failed_serial) == len(failed_parallel) == 1 and "zz_broken.mid" in failed_parallel[0]


def test_detokenize_an_archive_one_piece_or_all(tmp_path):
    seeds = ROOT / "examples" / "seeds"
    tokens = tmp_path / "tokens"
    assert run("tokenize", seeds, "-o", tokens).exit_code == 0
    one = tmp_path / "one.mid"
    result = run("detokenize", tokens, "--piece", "cuckoo_hill.abc", "-o", one)
    assert result.exit_code == 0 and result.output == f"wrote {one}\n"
    assert note_rows(read(one))[:4] == note_rows(quantize(read(seeds / "cuckoo_hill.abc"), 24))[:4]
    assert run("detokenize", tokens / "tokens.npz", "--piece", "0", "-o", tmp_path / "first.musicxml").exit_code == 0
    result = run("detokenize", tokens, "-o", tmp_path / "all")
    assert result.exit_code == 0 and f"wrote 12 files into {tmp_path / 'all'}" in result.output
    assert "cuckoo_hill.abc.mid" in {p.name for p in (tmp_path / "all").iterdir()} and len(list((tmp_path / "all").iterdir())) == 12
    assert "no piece named 'cuckoo'" in one_line_error(run("detokenize", tokens, "--piece", "cuckoo", "-o", tmp_path / "x.mid"))
    assert "out of range" in one_line_error(run("detokenize", tokens, "--piece", "12", "-o", tmp_path / "x.mid"))
    assert "file exists" in one_line_error(run("detokenize", tokens, "-o", tmp_path / "all"))
    assert "--suffix" in one_line_error(run("detokenize", tokens, "-o", tmp_path / "more", "--suffix", ".xyz"), 2)
    assert "apply to a token archive" in one_line_error(run("detokenize", tmp_path / "x.json", "--piece", "1", "-o", tmp_path / "x.mid"), 2)
    assert "no tokens.npz here" in one_line_error(run("detokenize", tmp_path / "all", "--piece", "1", "-o", tmp_path / "x.mid"))


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
    assert {f.name for f in derived} == {"arch", "max_steps", "batch_size", "seq_len", "learning_rate", "warmup_steps", "eval_every", "checkpoint_every", "patience", "augment", "ahead_share", "avoid_parallels", "harmonizer_epochs", "random_seed", "style"}
    for f in derived:
        assert params[f.name].default == f.default, f.name
    assert (params["seq_len"].type.min, params["learning_rate"].type.min_open, params["warmup_steps"].type.min) == (8, True, 0)
    with pytest.raises(TrainingError, match="random_seed must be a whole number >= 0, got -1") as info:
        TrainConfig(random_seed=-1)
    assert isinstance(info.value, ComposerError)
    with pytest.raises(TrainingError, match="seq_len must be a whole number >= 8"):
        TrainConfig(seq_len=4)
