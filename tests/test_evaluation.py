"""Judging a model's music: evaluate_samples, `composer evaluate --samples` and benchmarks/report.py on a tiny trained model.

The model is a one-layer transformer trained for a few steps on a small real
collection (chorales copied from midi_corpus with their manifest rows): its
music is poor, but every figure of the report comes from the real pipeline
and is checked against the metrics computed directly.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from composer.cli import cli
from composer.corpus import MANIFEST_FIELDS, split_of
from composer.evaluation import LABELS, EvaluationError, evaluate_samples
from composer.generate import GenerationSettings, default_style, generate
from composer.formats import read
from composer.metrics import METRICS, VoiceLeading, compute_metrics, overlap_area, voice_leading
from composer.modelfile import load_model
from composer.originality import CorpusIndex
from composer.score import slice_bars
from composer.theory import pickup_bars
from composer.training import SilentReporter, TrainConfig, train
from conftest import CORPUS, ROOT, one_line_error

# Short real chorales of each split, in 4/4; three open with a pickup (one beat, or two in bwv384).
CHORALES = {
    "train": ["bwv323.mid", "bwv324.mid", "bwv281.mid", "bwv396.mid", "bwv67.7.mid"],
    "valid": ["bwv384.mid", "bwv365.mid"],
    "test": ["bwv286.mid", "bwv387.mid", "bwv56.mid"],
}
PICKUP = {"bwv286.mid", "bwv387.mid", "bwv384.mid"}
SAMPLES, BARS, SEED = 3, 2, 5


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, cache_dir):
    """Token caches and originality indexes go to a temporary folder, never ~/.cache."""
    monkeypatch.setenv("COMPOSER_CACHE", str(cache_dir))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """A small collection folder named like the real one, with the real manifest rows of its files."""
    folder = tmp_path_factory.mktemp("corpus") / "chorales"
    folder.mkdir()
    wanted = {name for names in CHORALES.values() for name in names}
    with (CORPUS / "chorales" / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["file"] in wanted]
    assert {row["file"]: row["split"] for row in rows} == {name: split for split, names in CHORALES.items() for name in names}
    with (folder / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(CORPUS / "chorales" / row["file"], folder / row["file"])
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, collection, cache_dir) -> Path:
    output = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    config = TrainConfig(arch="transformer", max_steps=4, batch_size=4, seq_len=32, learning_rate=3e-3, warmup_steps=1, eval_every=4, checkpoint_every=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPOSER_CACHE", str(cache_dir))
        train(collection, output, config=config, model_options={"n_layers": 1, "d_model": 32, "n_heads": 2}, device="cpu", reporter=SilentReporter())
    return output


@pytest.fixture(scope="module")
def evaluation(tiny_model, collection, cache_dir):
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPOSER_CACHE", str(cache_dir))
        result = evaluate_samples(tiny_model, collection, samples=SAMPLES, bars=BARS, random_seed=SEED, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, SAMPLES), (2, SAMPLES), (3, SAMPLES)]  # progress after each generated piece
    return result


def opening(path: Path, bars: int = BARS):
    """The first ``bars`` full bars, the pickup coming on top (as generation counts bars)."""
    score = read(path)
    pickup = path.name in PICKUP
    assert pickup_bars(score) == pickup  # composer.theory's rule finds the corpus's pickups
    return slice_bars(score, 0, bars + pickup)


def nan_equal(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


# -- evaluate_samples ----------------------------------------------------------------
def test_the_corpus_side_is_the_opening_of_each_test_piece(evaluation, collection):
    assert evaluation.split == "test" and evaluation.corpus_pieces == len(CHORALES["test"])
    cut = [opening(collection / name) for name in sorted(CHORALES["test"])]
    for summary in evaluation.metrics:
        expected = [METRICS[summary.name](score) for score in cut]
        assert all(nan_equal(a, b) for a, b in zip(summary.corpus_values, expected)), summary.name
        assert nan_equal(summary.corpus_mean, float(np.nanmean(expected)) if not all(math.isnan(v) for v in expected) else math.nan)
    total = VoiceLeading(0, 0, 0, 0, 0)
    for score in cut:
        total = total + voice_leading(score)
    assert evaluation.voice_leading_corpus == total


def test_the_yardstick_is_the_valid_split_against_the_test_split(evaluation, collection):
    assert evaluation.reference_split == "valid" and evaluation.reference_pieces == len(CHORALES["valid"])
    test = [opening(collection / name) for name in sorted(CHORALES["test"])]
    valid = [opening(collection / name) for name in sorted(CHORALES["valid"])]
    for summary in evaluation.metrics:
        expected = overlap_area([METRICS[summary.name](s) for s in valid], [METRICS[summary.name](s) for s in test])
        assert nan_equal(summary.reference_overlap, expected), summary.name
    assert 0.0 <= evaluation.note_lengths_reference_overlap <= 1.0


def test_sample_i_is_the_piece_of_random_seed_s_plus_i(evaluation, tiny_model):
    assert evaluation.samples == SAMPLES and evaluation.bars == BARS and evaluation.style == "chorale" == default_style(load_model(tiny_model))
    model = load_model(tiny_model)
    second = generate(model, None, GenerationSettings(bars=BARS, style="chorale", random_seed=SEED + 1))
    assert second.num_bars == BARS and second.num_parts == 4
    for summary in evaluation.metrics:
        assert nan_equal(summary.model_values[1], compute_metrics(second)[summary.name]), summary.name
        finite = [v for v in summary.model_values if not math.isnan(v)]
        assert nan_equal(summary.model_mean, float(np.mean(finite)) if finite else math.nan)
        assert math.isnan(summary.overlap) or 0.0 <= summary.overlap <= 1.0
    assert evaluation.voice_leading_model is not None and evaluation.voice_leading_model.notes > 0


def test_copied_passages_are_looked_up_in_the_training_split(evaluation, collection):
    index = CorpusIndex.for_corpus(collection, splits=("train",))
    assert sorted(index.files) == sorted(CHORALES["train"])
    cut = [opening(collection / name) for name in sorted(CHORALES["test"])]
    assert evaluation.copied_corpus.longest_notes == tuple(index.check(score).longest_notes for score in cut)
    assert len(evaluation.copied_model.longest_notes) == SAMPLES
    assert "train split" in evaluation.originality_index and "5 files" in evaluation.originality_index


def test_the_same_arguments_give_the_same_report(evaluation, tiny_model, collection):
    again = evaluate_samples(tiny_model, collection, samples=SAMPLES, bars=BARS, random_seed=SEED)
    assert again.to_dict() == evaluation.to_dict()


def test_markdown_and_json(evaluation):
    text = evaluation.to_markdown()
    assert "| metric | model mean | corpus mean | overlap area | real vs real |" in text
    for label, _ in LABELS.values():
        assert f"| {label} |" in text
    assert "parallel fifths" in text and "Longest passage" in text
    assert f"random seeds {SEED}–{SEED + SAMPLES - 1}" in text
    data = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))  # NaN became null
    assert set(data["metrics"]) == set(METRICS)
    assert len(data["metrics"]["pitch_range"]["model_values"]) == SAMPLES
    assert data["voice_leading"]["corpus"]["notes"] == evaluation.voice_leading_corpus.notes


def test_a_one_part_corpus_has_no_voice_leading_and_a_plain_folder_its_own_train_split(tiny_model, tmp_path):
    """A folder without manifest: the split rule picks the test pieces and the files the originality index holds."""
    folk = sorted((CORPUS / "folk").glob("aird_*.mid"))[:40]
    for path in folk:
        shutil.copy(path, tmp_path / path.name)
    test_names = sorted(p.name for p in folk if split_of(p.name) == "test")
    assert test_names
    result = evaluate_samples(tiny_model, tmp_path, samples=1, bars=1, random_seed=0)
    assert result.corpus_pieces == len(test_names)
    assert result.voice_leading_model is None and result.voice_leading_corpus is None
    assert "parallel fifths" not in result.to_markdown()
    train_count = sum(split_of(p.name) == "train" for p in folk)
    assert f"({train_count} files)" in result.originality_index
    assert all(source is None or split_of(source) == "train" for source in result.copied_corpus.sources)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"samples": 0}, "samples must be a whole number >= 1"),
        ({"samples": 1, "bars": 0}, "bars must be a whole number 1..512, got 0"),
        ({"samples": 1, "random_seed": -1}, "random_seed must be a whole number >= 0, got -1"),
        ({"samples": 1, "top_k": 0}, "top_k must be an integer >= 1"),
        ({"samples": 1, "split": "dev"}, "unknown split 'dev'"),
        ({"samples": 1, "temperature": -1.0}, "temperature"),
        ({"samples": 1, "style": "jazz"}, "jazz"),
    ],
)
def test_bad_options_raise_one_clear_error(tiny_model, collection, options, message):
    with pytest.raises(Exception) as info:
        evaluate_samples(tiny_model, collection, **options)
    assert message in str(info.value)
    from composer.errors import ComposerError

    assert isinstance(info.value, ComposerError)


def test_a_split_without_pieces(tiny_model, collection, tmp_path):
    only_train = tmp_path / "chorales"
    shutil.copytree(collection, only_train)
    rows = list(csv.DictReader((collection / "manifest.csv").open(encoding="utf-8")))
    with (only_train / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(r for r in rows if r["split"] != "test")
    with pytest.raises(EvaluationError, match="the test split has no pieces"):
        evaluate_samples(tiny_model, only_train, samples=1, bars=1)


# -- the command line ----------------------------------------------------------------
def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_evaluate_samples_command(tiny_model, collection, tmp_path, evaluation):
    out = tmp_path / "report.md"
    result = invoke("evaluate", tiny_model, collection, "--samples", SAMPLES, "--bars", BARS, "--random-seed", SEED, "-o", out)
    assert result.exit_code == 0, result.output
    assert evaluation.to_markdown() in result.output
    assert out.read_text(encoding="utf-8") == evaluation.to_markdown()
    again = invoke("evaluate", tiny_model, collection, "--samples", 1, "--bars", 1, "-o", out)
    assert "file exists (use --force" in one_line_error(again)
    as_json = tmp_path / "report.json"
    assert invoke("evaluate", tiny_model, collection, "--samples", 1, "--bars", 1, "-o", as_json).exit_code == 0
    assert json.loads(as_json.read_text())["samples"] == 1


def test_a_sample_is_what_composer_generate_writes_with_its_random_seed(tiny_model, evaluation, tmp_path):
    out = tmp_path / "third.mid"
    result = invoke("generate", "-o", out, "--model", tiny_model, "--bars", BARS, "--random-seed", SEED + 2)
    assert result.exit_code == 0, result.output
    written = compute_metrics(read(out))
    for summary in evaluation.metrics:
        assert nan_equal(summary.model_values[2], written[summary.name]), summary.name


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bars", "4"], "--bars applies to --samples N only"),
        (["--random-seed", "3"], "--random-seed applies to --samples N only"),
        (["--samples", "1", "-o", "report.txt"], "expected a .md or .json file name"),
        (["--samples", "0"], "--samples"),
    ],
)
def test_evaluate_command_usage_errors(tiny_model, collection, args, message):
    result = invoke("evaluate", tiny_model, collection, *args)
    assert message in one_line_error(result, 2)


def test_evaluate_command_runtime_errors_are_one_line(tiny_model, collection, tmp_path):
    result = invoke("evaluate", tiny_model, tmp_path / "missing", "--samples", 1)
    assert "missing" in one_line_error(result)
    result = invoke("evaluate", tiny_model, collection, "--samples", 1, "--style", "jazz")
    assert "jazz" in one_line_error(result)


# -- benchmarks/report.py ------------------------------------------------------------
def load_report_script():
    spec = importlib.util.spec_from_file_location("report_script", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_script_writes_markdown_and_a_plot(tiny_model, collection, tmp_path, evaluation, capsys):
    report = load_report_script()
    stem = tmp_path / "tiny"
    argv = [str(tiny_model), str(collection), "--samples", str(SAMPLES), "--bars", str(BARS), "--random-seed", str(SEED), "-o", str(stem)]
    assert report.main(argv) == 0
    text = (tmp_path / "tiny.md").read_text(encoding="utf-8")
    assert text.startswith("```bash\npython benchmarks/report.py ")
    assert evaluation.to_markdown() in text
    assert "![Metric distributions, model against corpus](tiny.png)" in text
    png = (tmp_path / "tiny.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width = matplotlib.image.imread(tmp_path / "tiny.png").shape[:2]
    assert width > 600 and height > 400
    assert report.main(argv) == 1  # both files exist: replaced only with --force
    assert "file exists" in capsys.readouterr().err
    assert report.main([*argv, "--force"]) == 0


def test_the_report_shows_the_form_of_model_and_real_pieces(evaluation, collection):
    from composer.evaluation import mean_structure
    from composer.metrics import STRUCTURE_LABELS

    assert set(evaluation.structure_model) == set(STRUCTURE_LABELS) == set(evaluation.structure_corpus) == set(evaluation.structure_reference)
    corpus = [opening(collection / name) for name in CHORALES["test"]]
    assert evaluation.structure_corpus == pytest.approx(mean_structure(corpus, BARS), nan_ok=True)
    text = evaluation.to_markdown()
    assert f"Form of the top part, first {BARS} bars" in text and "| | model | test split | valid split |" in text
    for label in STRUCTURE_LABELS.values():
        assert f"| {label} |" in text
    data = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))
    assert set(data["structure"]) == {"model", "corpus", "reference"}


def test_the_structure_benchmark_runs_quick(tiny_model, collection, capsys):
    from conftest import benchmark_module

    bench = benchmark_module("structure")
    rows = bench.rows_for("tiny", load_model(tiny_model), collection.parent, "chorales", bench.QUICK_PIECES, bench.QUICK_BARS)
    assert [label for label, _ in rows] == ["tiny model", "tiny model, --no-learned-form", "real chorales (valid)"]
    real = bench.real_pieces(collection.parent, "chorales", bench.QUICK_PIECES, bench.QUICK_BARS)
    assert len(real) == len(CHORALES["valid"])  # the valid split only, never test
    table = bench.markdown_table(rows)
    assert table.count("\n") == 4 and "| tiny model |" in table
