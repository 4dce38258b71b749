"""The shipped models: found by name from anywhere, load, generate valid music, and their cards tell the truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from composer.cli import cli
from composer.generate import GenerationSettings, generate
from composer.io.notation import parse_tinynotation
from composer.modelfile import load_model, read_header
from conftest import ROOT, one_line_error

SHIPPED = {"chorale": ("chorale", 4), "folk": ("folk", 1)}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request):
    return request.param, load_model(request.param)


def test_models_are_found_by_name_from_any_folder(tmp_path):
    code = "import composer; m = composer.load_model('chorale'); print(m.path)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("chorale.safetensors")


def test_composer_models_lists_them():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    for name, (style, _) in SHIPPED.items():
        line = next(line for line in result.output.splitlines() if line.startswith(name + " "))
        assert style in line and "MB" in line
    # each file's recommended sampling (models/*.md: chosen on the valid split)
    assert "temperature=0.9" in next(line for line in result.output.splitlines() if line.startswith("chorale "))
    assert "top_p=0.9" in next(line for line in result.output.splitlines() if line.startswith("folk "))


def test_composer_models_with_none_found_is_one_line(tmp_path, monkeypatch):
    import composer.modelfile

    monkeypatch.setattr(composer.modelfile, "search_path", lambda: [tmp_path])
    assert "no models found" in one_line_error(CliRunner().invoke(cli, ["models"]))


def test_model_files_stay_small():
    for name in SHIPPED:
        assert (ROOT / "models" / f"{name}.safetensors").stat().st_size < 20_000_000


def test_each_shipped_model_generates_four_valid_bars(shipped):
    name, model = shipped
    style, parts = SHIPPED[name]
    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c'")
    piece = generate(model, seed, GenerationSettings(bars=4, style=style, key="G", random_seed=0))
    assert piece.num_parts == parts
    assert piece.time_signatures.tolist() == [(0, 4, 4)]
    bar = piece.ticks_per_beat * 4
    assert piece.end_tick <= 4 * bar and piece.notes["start_tick"].max() >= 3 * bar
    assert piece.part_notes(0)["pitch"][:4].tolist() == [67, 69, 71, 72]


def test_the_chorale_model_harmonizes():
    model = load_model("chorale")
    melody = parse_tinynotation("tinynotation: 3/4 d4 g a b2 a4 g2.")
    piece = model.harmonize(melody, random_seed=0)
    assert piece.part_notes(0)["pitch"].tolist() == [62, 67, 69, 71, 69, 67]
    assert all(len(piece.part_notes(p)) > 0 for p in range(4))


def test_model_cards_state_the_measured_numbers(shipped):
    name, model = shipped
    card = (ROOT / "models" / f"{name}.md").read_text(encoding="utf-8")
    training = json.loads(read_header(ROOT / "models" / f"{name}.safetensors")["training"])
    for heading in ("Data", "Architecture", "Training command", "Results", "Sampling", "What was tried"):
        assert re.search(rf"^##+ {heading}", card, re.M), heading
    assert f"{training['test_bits_per_note']:.3f}" in card
    assert f"{training['valid_bits_per_note']:.3f}" in card
    assert "--random-seed" in card and "n-gram" in card
