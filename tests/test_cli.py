"""The command line through click's CliRunner: real files in, real files out, one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from composer import __version__
from composer.cli import cli
from composer.io import read
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
    from composer import io

    def broken(score, path):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(io.WRITERS, ".mid", broken)
    score = make_score([(0, 1, 60)], parts=(Part("x"),))
    src = tmp_path / "in.mid"
    from composer.io.midi import write_midi

    write_midi(score, src)
    line = one_line_error(run("convert", src, "-o", tmp_path / "out.mid"))
    assert "No space left on device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mid"]
