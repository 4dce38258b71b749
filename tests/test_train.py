"""Training, resuming, evaluation and their command lines, on tiny models and a synthetic MIDI corpus.

Every run here uses models of a few ten thousand parameters, 32-token windows and
a few dozen steps, so the whole file takes seconds per test. The corpus is 30
short random-walk melodies written as real MIDI files, named so that the
sha1-mod-10 rule puts pieces into all three splits.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: two spinning threads on a busy core crawl

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from composer.cli import cli  # noqa: E402
from composer.corpus import split_of  # noqa: E402
from composer.dataset import load_tokens  # noqa: E402
from composer.formats import write  # noqa: E402
from composer.modelfile import load_model  # noqa: E402
from composer.tokens.ahead import AHEAD_SIZES  # noqa: E402
from composer.nn import build_model  # noqa: E402
from composer.score import Part, Score, notes_array  # noqa: E402
from composer.tokens import Tokenizer  # noqa: E402
from conftest import one_line_error, rewrite_safetensors  # noqa: E402
from composer.evaluation import EvaluationError, evaluate  # noqa: E402
from composer.training import SilentReporter, TrainConfig, TrainingError, checkpoint_path, train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DDP_WORKER = Path(__file__).resolve().parent / "ddp_worker.py"

TINY = {
    "transformer": {"n_layers": 1, "d_model": 32, "n_heads": 2},
    "lstm": {"n_layers": 1, "d_embed": 32, "d_hidden": 48},
}
TINY_CLI = {
    "transformer": ["--layers", "1", "--d-model", "32", "--heads", "2"],
    "lstm": ["--layers", "1", "--d-model", "32", "--hidden", "48"],
}


# -- fixtures ----------------------------------------------------------------
def melody(rng: np.random.Generator, notes: int = 24) -> Score:
    """A random-walk melody in eighths and quarters (and the odd half note)."""
    steps = rng.choice([-2, -1, 0, 1, 2, 3, -3], size=notes)
    pitch = np.clip(60 + int(rng.integers(-5, 6)) + np.cumsum(steps), 40, 90)
    eighths = rng.choice([1, 2, 2, 4], size=notes)
    starts = np.concatenate([[0], np.cumsum(eighths)[:-1]]) * 240
    return Score(notes_array(starts.tolist(), (eighths * 240).tolist(), pitch.tolist()), [Part("Melody")], ticks_per_beat=480)


def corpus_names(count: int) -> list[str]:
    """``count`` file names, at least two of them in each of the valid and test splits."""
    names: list[str] = []
    i = 0
    while len(names) < count or min(sum(split_of(n) == s for n in names) for s in ("valid", "test")) < 2:
        names.append(f"tune{i:03d}.mid")
        i += 1
    return names


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(2024)
    for name in corpus_names(30):
        write(melody(rng), folder / name)
    return folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("token-cache")


@pytest.fixture(autouse=True)
def _environment(monkeypatch, cache_dir):
    """A private token cache (never ~/.cache), and no torchrun variables leaking in."""
    monkeypatch.setenv("COMPOSER_CACHE", str(cache_dir))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def tiny_config(arch: str = "transformer", **overrides) -> TrainConfig:
    settings = dict(arch=arch, max_steps=20, batch_size=8, seq_len=32, learning_rate=3e-3, warmup_steps=3, eval_every=10, checkpoint_every=10, patience=50)
    settings.update(overrides)
    return TrainConfig(**settings)


def run(corpus: Path, output: Path, arch: str = "transformer", reporter=None, **overrides):
    return train(corpus, output, config=tiny_config(arch, **overrides), model_options=TINY[arch], device="cpu", reporter=reporter)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, corpus, cache_dir) -> Path:
    """A tiny transformer trained for 10 steps: the model file the bad-input tests start from."""
    output = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPOSER_CACHE", str(cache_dir))
        run(corpus, output, max_steps=10)
    return output


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def checkpoint_state(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["state"])


def network_from_checkpoint(path: Path):
    """Rebuild the network a checkpoint holds, independently of train.py's restore code."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    network = build_model(meta["arch"], json.loads(meta["model_config"]))
    missing, unexpected = network.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
    assert not unexpected and all("head" in k for k in missing), (missing, unexpected)  # only a tied head may be absent
    return network.eval()


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("optim.")}


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def probe_ids(corpus: Path, model) -> torch.Tensor:
    """Two real 24-token windows from the validation split."""
    valid = load_tokens(corpus, model.tokenizer).splits["valid"]
    return torch.as_tensor(np.stack([np.asarray(valid.piece(i)[:24], np.int64) for i in range(2)]))


class StopAt(SilentReporter):
    """Presses Ctrl-C right after step ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def step(self, step: int, loss: float) -> None:
        if step == self.at:
            raise KeyboardInterrupt


def test_fixture_corpus_has_all_three_splits(corpus):
    data = load_tokens(corpus, Tokenizer())
    sizes = {name: len(part) for name, part in data.splits.items()}
    assert sizes["train"] >= 20 and sizes["valid"] >= 2 and sizes["test"] >= 2, sizes
    assert not data.failures
    assert data.cache_dir is not None and Path(os.environ["COMPOSER_CACHE"]) in data.cache_dir.parents


# -- learning, best model, round trip ------------------------------------------
@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_loss_falls_and_the_best_model_is_the_network_that_was_scored(corpus, tmp_path, arch):
    output = tmp_path / "m.safetensors"
    result = run(corpus, output, arch, max_steps=40, eval_every=10)
    losses = result.losses
    assert result.steps == 40 and len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[:5]) - np.mean(losses[-5:]) > 0.5, losses
    assert output.is_file() and checkpoint_path(output).is_file()

    # the best model is the one with the lowest validation score, and it is that score's network
    state = checkpoint_state(checkpoint_path(output))
    assert state["step"] == 40 and [step for step, _ in state["evals"]] == [10, 20, 30, 40]
    best_step, best_bpn = min(state["evals"], key=lambda e: e[1])
    model = load_model(output)
    assert model.arch == arch
    assert model.training["steps"] == best_step
    assert model.training["valid_bits_per_note"] == pytest.approx(best_bpn, abs=1e-4)
    assert result.best_valid_bits_per_note == pytest.approx(best_bpn, abs=1e-5)
    assert evaluate(output, corpus, "valid")["bits_per_note"] == pytest.approx(best_bpn, abs=1e-4)
    assert result.test_bits_per_note == pytest.approx(model.training["test_bits_per_note"], abs=1e-4)
    assert model.training["train_config"]["arch"] == arch and model.training["parameters"] == model.network.num_parameters()

    # loss kept falling, so the best model is the network at the end: same logits as the checkpoint's
    assert best_step == 40, state["evals"]
    ids = probe_ids(corpus, model)
    with torch.no_grad():
        assert torch.equal(model.network(ids), network_from_checkpoint(checkpoint_path(output))(ids))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left behind


# -- resume -------------------------------------------------------------------
def test_model_records_the_data_sources_and_licences_it_trained_on(corpus, tmp_path):
    """Training copies the sources.csv rows of the train split's files into the model's metadata."""
    folder = tmp_path / "folk"
    folder.mkdir()
    fields = ("file", "title", "source", "key", "meter", "notes", "bars", "split")
    lines = [",".join(fields)]
    for i, path in enumerate(sorted(corpus.glob("*.mid"))):
        (folder / path.name).write_bytes(path.read_bytes())
        lines.append(f"{path.name},{path.stem},{'bookA' if i % 3 else 'bookB'}/x.abc#{i},C,4/4,1,1,{split_of(path.name)}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "sources.csv").write_text("source,name,files,licence\nbookA,Book A,20,public domain\nbookB,Book B,10,non-commercial\n", encoding="utf-8")
    run(folder, tmp_path / "m.safetensors", max_steps=2, eval_every=2)
    recorded = load_model(tmp_path / "m.safetensors").training["data_sources"]
    train_names = [line.split(",")[0] for line in lines[1:] if line.endswith(",train")]
    assert [(d["source"], d["name"], d["licence"]) for d in recorded] == [("bookA", "Book A", "public domain"), ("bookB", "Book B", "non-commercial")]
    assert sum(d["files"] for d in recorded) == len(train_names) and {d["collection"] for d in recorded} == {"folk"}


def test_ahead_share_decides_whether_a_model_takes_features_ahead(corpus, tmp_path):
    common = ["train", corpus, *TINY_CLI["transformer"], "--seq-len", "32", "--batch-size", "4", "--steps", "2", "--device", "cpu"]
    for share, sizes in (("0", ()), ("0.5", AHEAD_SIZES)):
        output = tmp_path / f"m{share}.safetensors"
        result = invoke(*common, "--ahead-share", share, "-o", output)
        assert result.exit_code == 0, result.output
        model = load_model(output)
        assert model.config.ahead_sizes == sizes and model.training["train_config"]["ahead_share"] == float(share)
    bad = invoke(*common, "--ahead-share", "1.5", "-o", tmp_path / "bad.safetensors")
    assert bad.exit_code == 2 and "ahead-share" in bad.output and not (tmp_path / "bad.safetensors").exists()


def test_resume_continues_the_step_count(corpus, tmp_path):
    output = tmp_path / "m.safetensors"
    common = ["train", corpus, "-o", output, *TINY_CLI["transformer"], "--seq-len", "32", "--batch-size", "8", "--warmup", "3", "--device", "cpu", "--eval-every", "5", "--checkpoint-every", "5"]
    first = invoke(*common, "--steps", "10")
    assert first.exit_code == 0, first.output
    assert "10 steps in" in first.output
    before = checkpoint_state(checkpoint_path(output))
    assert before["step"] == 10 and len(before["losses"]) == 10

    second = invoke("train", corpus, "-o", output, "--resume", "--steps", "16", "--device", "cpu")
    assert second.exit_code == 0, second.output
    assert "16 steps in" in second.output
    after = checkpoint_state(checkpoint_path(output))
    assert after["step"] == 16 and len(after["losses"]) == 16
    assert after["losses"][:10] == before["losses"]
    assert after["train_config"]["max_steps"] == 16 and after["train_config"]["seq_len"] == 32  # settings came from the checkpoint
    assert [step for step, _ in after["evals"]] == [5, 10, 15, 16]


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_resumed_run_equals_one_that_never_stopped(corpus, tmp_path, arch):
    """A = 2k steps; B = k steps then --resume to 2k: same losses, same weights.

    The cosine schedule depends on max_steps, so for a run that is *extended*
    on resume to match, the learning rate must not depend on it: constant
    after warm-up (min_lr_ratio 1).
    """
    k = 12
    settings = dict(max_steps=2 * k, eval_every=k, checkpoint_every=5, min_lr_ratio=1.0)
    a = run(corpus, tmp_path / "a.safetensors", arch, **settings)
    run(corpus, tmp_path / "b.safetensors", arch, **dict(settings, max_steps=k))
    b = train(corpus, tmp_path / "b.safetensors", resume=True, max_steps=2 * k, device="cpu")
    assert b.steps == a.steps == 2 * k
    assert b.losses == a.losses  # bitwise (both are rounded to 1e-6 in the state)
    assert same_tensors(model_tensors(checkpoint_path(tmp_path / "a.safetensors")), model_tensors(checkpoint_path(tmp_path / "b.safetensors")))
    ckpt_a, ckpt_b = load_file(str(checkpoint_path(tmp_path / "a.safetensors"))), load_file(str(checkpoint_path(tmp_path / "b.safetensors")))
    assert same_tensors(ckpt_a, ckpt_b)  # optimiser moments and step counts too
    assert b.best_valid_bits_per_note == a.best_valid_bits_per_note


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(corpus, tmp_path):
    """With the default cosine schedule: interrupted at step 9 of 20, resumed, equal to an uninterrupted run."""
    a = run(corpus, tmp_path / "a.safetensors")
    with pytest.raises(KeyboardInterrupt):
        run(corpus, tmp_path / "b.safetensors", reporter=StopAt(9))
    assert checkpoint_state(checkpoint_path(tmp_path / "b.safetensors"))["step"] == 9
    b = train(corpus, tmp_path / "b.safetensors", resume=True, device="cpu")
    assert b.losses == a.losses and b.steps == 20
    assert same_tensors(load_file(str(checkpoint_path(tmp_path / "a.safetensors"))), load_file(str(checkpoint_path(tmp_path / "b.safetensors"))))
    assert same_tensors(model_tensors(tmp_path / "a.safetensors"), model_tensors(tmp_path / "b.safetensors"))


def test_sigkilled_run_resumes_and_matches_an_uninterrupted_one(corpus, tmp_path):
    """kill -9 mid-run, --resume: the final model equals an uninterrupted run's.

    Tolerance: none needed in principle (batches and dropout masks are seeded by
    (seed, step), and the checkpoint holds weights, AdamW moments and the step),
    so the weights are compared bitwise and the bits per note to 1e-6, the
    rounding of the values printed/stored; only a different thread count
    (changing float summation order) could make them differ.
    """
    output = tmp_path / "m.safetensors"
    ckpt = checkpoint_path(output)
    steps, eval_every = 100, 25
    args = ["train", str(corpus), "-o", str(output), *TINY_CLI["transformer"], "--seq-len", "32", "--batch-size", "8", "--warmup", "3", "--lr", "3e-3", "--steps", str(steps), "--eval-every", str(eval_every), "--checkpoint-every", "5", "--patience", "50", "--device", "cpu"]
    env = dict(os.environ)
    # nice: the trainer yields the cores to this polling loop, so the kill lands early in the run
    log = open(tmp_path / "killed.log", "wb")  # a file, not a pipe: a full pipe would stall the trainer
    proc = subprocess.Popen([sys.executable, "-m", "composer", *args], env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(10))
    seen: list[int] = []
    deadline = time.monotonic() + 300  # generous: on a loaded machine the first checkpoint can take a while
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ckpt.exists():
                seen.append(checkpoint_state(ckpt)["step"])  # atomic writes: never a torn file to read
                if seen[-1] >= 10:
                    break
            time.sleep(0.005)
        still_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert still_running, f"the run ended before it could be killed (checkpoint steps seen: {seen})"
    assert seen and seen[-1] >= 10, f"no checkpoint past step 10 within the deadline (seen: {seen})"
    assert proc.returncode == -signal.SIGKILL
    killed_at = checkpoint_state(ckpt)["step"]
    assert 10 <= killed_at < steps and killed_at % 5 == 0

    resumed = subprocess.run([sys.executable, "-m", "composer", "train", str(corpus), "-o", str(output), "--resume", "--device", "cpu"], env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{steps} steps in" in resumed.stdout
    state = checkpoint_state(ckpt)
    assert state["step"] == steps and len(state["losses"]) == steps

    reference = train(
        corpus,
        tmp_path / "ref.safetensors",
        config=TrainConfig(arch="transformer", max_steps=steps, batch_size=8, seq_len=32, learning_rate=3e-3, warmup_steps=3, eval_every=eval_every, checkpoint_every=5, patience=50),
        model_options=TINY["transformer"],
        device="cpu",
    )
    assert state["losses"] == reference.losses
    assert float(state["best"]) == pytest.approx(reference.best_valid_bits_per_note, abs=1e-6)
    assert load_model(output).training["valid_bits_per_note"] == load_model(tmp_path / "ref.safetensors").training["valid_bits_per_note"]
    assert same_tensors(model_tensors(output), model_tensors(tmp_path / "ref.safetensors"))


# -- determinism ----------------------------------------------------------------
def test_same_seed_same_curve_other_seed_other_curve(corpus, tmp_path):
    first = run(corpus, tmp_path / "a.safetensors", max_steps=10, random_seed=7)
    again = run(corpus, tmp_path / "b.safetensors", max_steps=10, random_seed=7)
    other = run(corpus, tmp_path / "c.safetensors", max_steps=10, random_seed=8)
    assert first.losses == again.losses
    assert same_tensors(model_tensors(tmp_path / "a.safetensors"), model_tensors(tmp_path / "b.safetensors"))
    assert first.losses != other.losses
    assert not same_tensors(model_tensors(tmp_path / "a.safetensors"), model_tensors(tmp_path / "c.safetensors"))


def test_batches_depend_only_on_seed_step_and_rank(corpus):
    from composer.training import Batches

    tokenizer = Tokenizer()
    split = load_tokens(corpus, tokenizer).splits["train"]
    config = tiny_config()
    one, two = Batches(split, tokenizer, config, ahead=len(AHEAD_SIZES)), Batches(split, tokenizer, config, ahead=len(AHEAD_SIZES))
    for a, b in zip(vars(one.batch(5)).values(), vars(two.batch(5)).values()):
        assert np.array_equal(a, b)
    assert not np.array_equal(one.batch(5).ids, one.batch(6).ids)
    assert not np.array_equal(one.batch(5).ids, Batches(split, tokenizer, config, rank=1).batch(5).ids)
    batch, ahead = one.batch(3).ids, one.batch(3).ahead
    assert batch.shape == (8, 33) and batch.dtype == np.int64
    assert batch.min() >= 0 and batch.max() < len(tokenizer)
    assert ahead.shape == (8, 33, len(AHEAD_SIZES)) and (ahead >= 0).all() and (ahead < np.asarray(AHEAD_SIZES)).all()
    assert np.array_equal(Batches(split, tokenizer, config).batch(3).ids, batch)  # the features draw from a generator of their own
    assert Batches(split, tokenizer, config).batch(3).ahead is None


# -- data parallel -----------------------------------------------------------------
def test_ddp_two_cpu_processes_keep_identical_weights(corpus, tmp_path):
    output = tmp_path / "m.safetensors"
    reports = tmp_path / "reports"
    reports.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(DDP_WORKER), str(corpus), str(output), str(reports), "8"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in 180 s:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    rank0, rank1 = (json.loads((reports / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world"] == rank1["world"] == 2
    assert rank0["steps"] == rank1["steps"] == 8
    assert rank0["losses"] != rank1["losses"]  # each rank saw its own batches...
    assert rank0["weights_sha256"] == rank1["weights_sha256"]  # ...and the averaged gradients kept the weights equal
    assert rank1["writes"] == []  # only rank 0 writes the model file and the checkpoint
    assert "model" in rank0["writes"] and "checkpoint" in rank0["writes"]
    model = load_model(output)
    assert model.training["processes"] == 2 and model.training["steps"] == 8
    assert checkpoint_state(checkpoint_path(output))["step"] == 8
    digest = hashlib.sha256()
    for name, tensor in sorted(network_from_checkpoint(checkpoint_path(output)).state_dict().items()):
        digest.update(name.encode() + tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == rank0["weights_sha256"]  # the checkpoint holds the ranks' final weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "m.safetensors.ckpt", "reports"]


# -- evaluate ------------------------------------------------------------------------
def test_evaluate_command_prints_the_metrics(trained_model, corpus):
    result = invoke("evaluate", trained_model, corpus, "--split", "valid")
    assert result.exit_code == 0, result.output
    text = result.output
    for label in ("bits per note", "tokens per note", "token accuracy"):
        assert label in text
    values = {line[:16].strip(): float(line[16:]) for line in text.splitlines() if line.startswith(("bits", "tokens", "token acc"))}
    metrics = evaluate(trained_model, corpus, "valid")
    assert values["bits per note"] == pytest.approx(metrics["bits_per_note"], abs=1e-4)
    assert values["tokens per note"] == pytest.approx(metrics["tokens_per_note"], abs=1e-4)
    assert 0 <= values["token accuracy"] <= 1 and metrics["tokens_per_note"] > 1
    assert f"valid ({int(metrics['pieces'])} pieces" in text


def test_evaluate_a_split_without_pieces_is_an_error(trained_model, corpus, tmp_path):
    only_train = tmp_path / "only-train"
    only_train.mkdir()
    for path in sorted(corpus.glob("*.mid")):
        if split_of(path.name) == "train":
            (only_train / path.name).write_bytes(path.read_bytes())
    with pytest.raises(EvaluationError, match="the test split has no pieces"):
        evaluate(trained_model, only_train, "test")
    with pytest.raises(EvaluationError, match="unknown split"):
        evaluate(trained_model, only_train, "dev")
    assert "the valid split has no pieces" in one_line_error(invoke("evaluate", trained_model, only_train, "--split", "valid"))
    assert evaluate(trained_model, only_train, "train")["pieces"] > 0


# -- bad input ------------------------------------------------------------------------
def bad_model(kind: str, trained: Path, folder: Path) -> Path:
    path = folder / f"{kind}.safetensors"
    if kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "binary":
        path.write_bytes(np.random.default_rng(1).bytes(4096))
    elif kind == "plain-safetensors":
        save_file({"weight": torch.zeros(3, 3)}, str(path), metadata={"purpose": "something else"})
    elif kind == "format-99":
        rewrite_safetensors(trained, path, format_version="99")
    elif kind == "vocab-mismatch":
        with safe_open(str(trained), framework="pt") as f:
            config = json.loads(f.metadata()["model_config"])
        config["vocab_size"] += 7
        rewrite_safetensors(trained, path, model_config=json.dumps(config))
    elif kind == "damaged-header":
        rewrite_safetensors(trained, path, model_config="{not json")
    elif kind == "wrong-shapes":
        with safe_open(str(trained), framework="pt") as f:
            config = json.loads(f.metadata()["model_config"])
        config["d_model"] = 64
        rewrite_safetensors(trained, path, model_config=json.dumps(config))
    elif kind == "missing-layer":
        with safe_open(str(trained), framework="pt") as f:
            config = json.loads(f.metadata()["model_config"])
        config["n_layers"] = 2
        rewrite_safetensors(trained, path, model_config=json.dumps(config))
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", "not a composer model file (not safetensors"),
        ("binary", "not a composer model file (not safetensors"),
        ("plain-safetensors", 'not a composer model file (safetensors without "format"'),
        ("format-99", "model format version '99' is not supported"),
        ("vocab-mismatch", "vocabulary mismatch"),
        ("damaged-header", "damaged model header"),
        ("wrong-shapes", f"weight ahead_emb.table.weight has shape ({sum(AHEAD_SIZES)}, 32), the config needs ({sum(AHEAD_SIZES)}, 64)"),
        ("missing-layer", "weights do not fit the transformer config (missing ['blocks.1."),
    ],
)
def test_evaluate_rejects_files_that_are_not_models(trained_model, corpus, tmp_path, kind, message):
    path = bad_model(kind, trained_model, tmp_path)
    line = one_line_error(invoke("evaluate", path, corpus))
    assert message in line and str(path) in line


def test_evaluate_unknown_model_name_lists_the_known_ones(trained_model, corpus, monkeypatch, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.safetensors").write_bytes(trained_model.read_bytes())
    monkeypatch.setenv("COMPOSER_MODELS", str(models))
    line = one_line_error(invoke("evaluate", "nope", corpus))
    assert "no model named 'nope'" in line and "tiny" in line
    assert invoke("evaluate", "tiny", corpus, "--split", "valid").exit_code == 0


def test_train_command_errors(corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    base = [*TINY_CLI["transformer"], "--seq-len", "32", "--batch-size", "4", "--steps", "2", "--device", "cpu"]
    assert "no such folder" in one_line_error(invoke("train", tmp_path / "missing", "-o", out, *base))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no music here")
    assert "no MIDI, MusicXML or ABC files found" in one_line_error(invoke("train", empty, "-o", out, *base))

    existing = tmp_path / "existing.safetensors"
    existing.write_bytes(b"precious")
    line = one_line_error(invoke("train", corpus, "-o", existing, *base))
    assert "exists (use --resume" in line and existing.read_bytes() == b"precious"

    line = one_line_error(invoke("train", corpus, "-o", out, "--resume", "--device", "cpu"))
    assert "no checkpoint to resume from" in line

    result = invoke("train", corpus, "-o", existing, "--resume", "--force", *base)
    assert "contradict" in one_line_error(result, 2)

    assert "folder" in one_line_error(invoke("train", corpus, "-o", tmp_path / "nowhere" / "m.safetensors", *base))
    assert "-1 is not in the range x>=0" in one_line_error(invoke("train", corpus, "-o", out, *base, "--random-seed", "-1"), code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "existing.safetensors"]


def test_resume_from_a_damaged_checkpoint_is_one_line(corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    checkpoint_path(out).write_bytes(b"\x00" * 100)
    assert "not a readable checkpoint" in one_line_error(invoke("train", corpus, "-o", out, "--resume", "--device", "cpu"))
    save_file({"x": torch.zeros(1)}, str(checkpoint_path(out)), metadata={"format": "composer-model"})
    assert "not a composer checkpoint" in one_line_error(invoke("train", corpus, "-o", out, "--resume", "--device", "cpu"))
    for state in ("{", "[]", '{"step": 3}'):
        save_file({"x": torch.zeros(1)}, str(checkpoint_path(out)), metadata={"format": "composer-checkpoint", "format_version": "1", "state": state})
        assert "damaged checkpoint state" in one_line_error(invoke("train", corpus, "-o", out, "--resume", "--device", "cpu"))
    with pytest.raises(TrainingError, match="damaged checkpoint state"):
        train(corpus, out, resume=True, device="cpu")


def test_tokenizing_is_announced_only_when_it_happens(corpus, tmp_path, monkeypatch):
    class Messages(SilentReporter):
        def __init__(self):
            self.lines = []

        def message(self, text):
            self.lines.append(text)

    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "fresh-cache"))
    first, second = Messages(), Messages()
    run(corpus, tmp_path / "a.safetensors", reporter=first, max_steps=1)
    run(corpus, tmp_path / "b.safetensors", reporter=second, max_steps=1)
    files = len(list(corpus.glob("*.mid")))
    assert first.lines[0] == f"tokenizing {files} files of {corpus} (cached after the first run)"
    assert first.lines[1] == f"tokenized {files}/{files} files"
    assert second.lines[0].startswith(f"loading cached tokens of {corpus} (")  # read from the cache, and said so
    assert not any(line.startswith("tokeniz") for line in second.lines)


def test_end_of_training_scoring_says_what_it_does(corpus, tmp_path):
    class Messages(SilentReporter):
        def __init__(self):
            self.lines = []

        def message(self, text):
            self.lines.append(text)

    reporter = Messages()
    run(corpus, tmp_path / "m.safetensors", reporter=reporter, max_steps=2)
    assert reporter.lines[-2].startswith("step 2: scoring the validation split (")
    assert reporter.lines[-1].startswith("scoring the best model on the test split (")


def test_python_train_shows_a_progress_bar_by_default(corpus, tmp_path, capsys):
    run(corpus, tmp_path / "m.safetensors", max_steps=3)
    err = capsys.readouterr().err
    assert "parameters, " in err and "3/3" in err and "loss=" in err  # tqdm's bar, as the command line draws it
    assert "scoring the best model on the test split" in err
    run(corpus, tmp_path / "n.safetensors", max_steps=3, reporter=SilentReporter())
    assert capsys.readouterr().err == ""


# -- torch is an extra ---------------------------------------------------------------------
NO_TORCH = "import sys; sys.modules['torch'] = None\n"  # `import torch` then raises ImportError, as without torch


def without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH + code], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_train_without_torch_names_the_extra_in_one_line(corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    command = without_torch(f"sys.argv = ['composer', 'train', {str(corpus)!r}, '-o', {str(out)!r}]\nfrom composer.cli import main\nmain()")
    assert command.returncode == 1 and command.stdout == ""
    assert command.stderr == "Error: training needs torch, which is not installed: pip install 'composer[train]'\n"
    python = without_torch(f"import composer\ntry:\n    composer.train({str(corpus)!r}, {str(out)!r})\nexcept composer.ComposerError as exc:\n    print(type(exc).__name__, exc)")
    assert python.returncode == 0, python.stderr
    assert python.stdout == "MissingTorchError training needs torch, which is not installed: pip install 'composer[train]'\n"
    assert not out.exists()


def test_other_torch_entry_points_without_torch_name_the_extra(trained_model, corpus):
    code = f"""
import composer
from composer.errors import ComposerError
from composer.evaluation import score_split
for call in (lambda: composer.evaluate({str(trained_model)!r}, {str(corpus)!r}),
             lambda: composer.load_model({str(trained_model)!r}).network,
             lambda: score_split(None, None, 0),
             lambda: __import__('composer.nn', fromlist=['x']).build_model):
    try:
        call()
    except ComposerError as exc:
        print(exc)
print(len(composer.load_model({str(trained_model)!r}).generate(bars=2, random_seed=1)) > 0)  # generation needs no torch
"""
    result = without_torch(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and lines[-1] == "True"
    assert all(line.endswith("needs torch, which is not installed: pip install 'composer[train]'") for line in lines[:4])
    command = without_torch(f"sys.argv = ['composer', 'evaluate', {str(trained_model)!r}, {str(corpus)!r}]\nfrom composer.cli import main\nmain()")
    assert command.returncode == 1 and command.stderr.endswith("needs torch, which is not installed: pip install 'composer[train]'\n")


def test_train_checks_its_output_before_importing_torch(corpus, tmp_path):
    existing = tmp_path / "m.safetensors"
    existing.write_bytes(b"precious")
    for extra in ([], ["--resume"]):
        target = existing if not extra else tmp_path / "none.safetensors"
        result = without_torch(f"sys.argv = ['composer', 'train', {str(corpus)!r}, '-o', {str(target)!r}, *{extra!r}]\nfrom composer.cli import main\nmain()")
        assert result.returncode == 1
        assert ("exists (use --resume" if not extra else "no checkpoint to resume from") in result.stderr  # not the torch line
    assert existing.read_bytes() == b"precious"


def test_setup_cfg_installs_no_torch_without_an_extra():
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    def names(text):
        return [line.split(";")[0].strip().split(">")[0].split("=")[0].split("<")[0].strip().lower() for line in text.splitlines() if line.strip()]
    assert "torch" not in names(setup["options"]["install_requires"])
    assert "torch" in names(setup["options.extras_require"]["train"])
    assert "torch" in names(setup["options.extras_require"]["test"])  # the README's test command trains


def test_train_command_output_is_complete_when_it_exits(corpus, tmp_path):
    """The command leaves right after its last line (no interpreter teardown over torch's objects), losing nothing."""
    out = tmp_path / "m.safetensors"
    args = ["train", str(corpus), "-o", str(out), *TINY_CLI["transformer"], "--steps", "2", "--seq-len", "32", "--batch-size", "4", "--device", "cpu"]
    result = subprocess.run([sys.executable, "-m", "composer", *args], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 steps in ") and result.stdout.endswith(f"model written to {out}\n")
    assert "scoring the best model on the test split" in result.stderr
    again = subprocess.run([sys.executable, "-c", "import torch, sys\nfrom composer.cli import main\nsys.argv = ['composer', *sys.argv[1:]]\nmain()", *args],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and again.stderr.strip().endswith("(use --resume to continue its run, or --force to start over)")


# -- no pickle anywhere -------------------------------------------------------------------
def test_model_and_checkpoint_code_never_unpickle():
    for name in ("modelfile.py", "training.py"):
        source = (ROOT / "composer" / name).read_text()
        for forbidden in ("torch.load", "pickle.load", "import pickle", "weights_only"):
            assert forbidden not in source, f"{name} mentions {forbidden}"


def test_loading_and_resuming_work_with_unpickling_disabled(corpus, tmp_path, trained_model, monkeypatch):
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("something unpickled")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    model = load_model(trained_model)
    assert model.arch == "transformer"
    out = tmp_path / "m.safetensors"
    run(corpus, out, max_steps=4, eval_every=2, checkpoint_every=2)
    assert train(corpus, out, resume=True, max_steps=6, device="cpu").steps == 6
