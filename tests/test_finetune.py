"""Fine-tuning (``composer train FOLDER --from MODEL``, ``composer.train(..., init=MODEL)``) on a tiny
random-weight model saved to a file and a folder of a dozen short random-walk melodies.

Each run takes a handful of 32-token steps on a model of a few ten thousand
parameters, so every test takes seconds.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: two spinning threads on a busy core crawl

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from composer.cache import file_sha256  # noqa: E402
from composer.cli import cli  # noqa: E402
from composer.corpus import split_of  # noqa: E402
from composer.generate import default_style  # noqa: E402
from test_train import StopAt  # noqa: E402  (Ctrl-C after a given step)
from composer.finetune import (  # noqa: E402
    FineTuneConfig,
    FineTuneError,
    data_fingerprint,
    lineage,
    provenance,
    starting_point,
    style_from_folder,
)
from composer.formats import write  # noqa: E402
from composer.modelfile import Model, load_model, model_info, save_model  # noqa: E402
from composer.nn import build_model  # noqa: E402
from composer.score import Part, Score, notes_array  # noqa: E402
from composer.tokens import Tokenizer  # noqa: E402
from composer.training import Batches, SilentReporter, TrainingError, checkpoint_path, finetune_config, replay_rows, train  # noqa: E402
from conftest import make_score, one_line_error  # noqa: E402

FOLK = {"pieces": 5, "programs": [0], "pitch_ranges": [[40, 90]], "overlap_shares": [0.0]}


# -- fixtures ------------------------------------------------------------------------
def melody(rng: np.random.Generator, notes: int = 20) -> Score:
    steps = rng.choice([-2, -1, 0, 1, 2, 3, -3], size=notes)
    pitch = np.clip(62 + np.cumsum(steps), 40, 90)
    eighths = rng.choice([1, 2, 2, 4], size=notes)
    starts = np.concatenate([[0], np.cumsum(eighths)[:-1]]) * 240
    return Score(notes_array(starts.tolist(), (eighths * 240).tolist(), pitch.tolist()), [Part("Melody")], ticks_per_beat=480)


def names(count: int, *, valid: bool) -> list[str]:
    """``count`` file names; with ``valid``, two of them in the valid split and one in test, else all in train."""
    wanted = {"train": count - 3, "valid": 2, "test": 1} if valid else {"train": count, "valid": 0, "test": 0}
    found: list[str] = []
    i = 0
    while len(found) < count:
        name = f"tune{i:03d}.mid"
        i += 1
        if sum(split_of(n) == split_of(name) for n in found) < wanted[split_of(name)]:
            found.append(name)
    return found


def melody_folder(folder: Path, count: int = 10, *, valid: bool = True, seed: int = 7) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in names(count, valid=valid):
        write(melody(rng), folder / name)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return melody_folder(tmp_path_factory.mktemp("data") / "My Tunes")


@pytest.fixture(scope="module")
def base_path(tmp_path_factory) -> Path:
    """A tiny random-weight transformer (no dropout: step 0's loss is the base's, exactly) trained, it says, on folk."""
    tok = Tokenizer()
    torch.manual_seed(3)
    network = build_model("transformer", dict(vocab_size=len(tok), n_layers=1, d_model=32, n_heads=2, context_len=64, dropout=0.0))
    path = tmp_path_factory.mktemp("base") / "tinyfolk.safetensors"
    save_model(Model(network, tok, {"styles": {"folk": FOLK}, "corpus": "nowhere", "sampling": {"top_p": 0.9}}), path)
    return path


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path_factory.getbasetemp() / "finetune-cache"))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def tiny(base: Model | Path, **overrides):
    base = base if isinstance(base, Model) else load_model(base)
    settings = dict(max_steps=6, batch_size=4, seq_len=32, warmup_steps=1, eval_every=3, checkpoint_every=3, patience=50, learning_rate=3e-3)
    return finetune_config(base, **(settings | overrides))


def finetune(folder: Path, output: Path, base: Path, reporter=None, replay_share: float = 0.0, **overrides):
    return train(folder, output, config=tiny(base, **overrides), init=base, finetune=FineTuneConfig(replay_share=replay_share), device="cpu", reporter=reporter or SilentReporter())


TINY_CLI = ["--steps", "4", "--batch-size", "4", "--seq-len", "32", "--warmup", "1", "--eval-every", "2", "--checkpoint-every", "2", "--device", "cpu", "--replay-share", "0"]


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


# -- the vocabulary -----------------------------------------------------------------
def test_a_new_style_goes_after_every_other_token_and_changes_no_id():
    tok = Tokenizer()
    grown = tok.with_style("hymn")
    assert len(grown) == len(tok) + 1 and grown.tokens[: len(tok)] == tok.tokens and grown.tokens[-1] == "Style_hymn"
    assert all(grown.ids[name] == i for i, name in enumerate(tok.tokens))
    assert tok.with_style("folk") is tok and grown.with_style("hymn") is grown
    score = melody(np.random.default_rng(1))
    assert np.array_equal(grown.encode(score, "folk"), tok.encode(score, "folk"))
    ids = grown.encode(score, "hymn")
    assert ids[1] == len(tok) and np.array_equal(np.delete(ids, 1), np.delete(tok.encode(score, "folk"), 1))
    assert grown.decode(ids).metadata.get("style", "hymn") == "hymn"
    assert np.array_equal(grown.decode(ids).notes, tok.decode(tok.encode(score, "folk")).notes)
    again = Tokenizer.from_dict(json.loads(json.dumps(grown.to_dict())))
    assert again.tokens == grown.tokens and again.config.all_styles == (*tok.config.styles, "hymn")
    assert "added_styles" not in tok.to_dict()["config"]  # an unextended vocabulary's JSON (and cache key) as before


def test_the_new_style_starts_from_the_styles_the_base_trained_on(base_path):
    base = load_model(base_path)
    point = starting_point(base, ["hymn"], None)
    emb, old = point.state["tok_emb.weight"], base.network.state_dict()["tok_emb.weight"]
    folk = base.tokenizer.ids["Style_folk"]
    assert emb.shape[0] == len(base.tokenizer) + 1 and torch.equal(emb[: len(old)], old)
    assert torch.equal(emb[-1], old[folk])  # one trained style: its row, exactly
    assert point.styles == {"hymn": "new: the mean of the base's folk rows"}
    again = starting_point(base, ["unknown"], None)  # in the vocabulary, never trained: restarted the same way
    assert torch.equal(again.state["tok_emb.weight"][base.tokenizer.ids["Style_unknown"]], old[folk]) and len(again.tokenizer) == len(base.tokenizer)
    with pytest.raises(FineTuneError, match="trained on folk, not on it"):
        starting_point(base, ["hymn"], "chorale")


def test_style_from_folder():
    assert style_from_folder("/x/My Hymns") == "my_hymns" and style_from_folder("2024 tunes!") == "style_2024_tunes"


# -- a run ------------------------------------------------------------------------------
def test_fine_tuning_starts_from_the_base_and_records_where_it_came_from(folder, base_path, tmp_path):
    out = tmp_path / "mine.safetensors"
    result = finetune(folder, out, base_path, style="folk")
    base = load_model(base_path)
    config = tiny(base, style="folk")
    data_tok = base.tokenizer
    from composer.dataset import load_tokens

    train_split = load_tokens(folder, data_tok, style="folk").splits["train"]
    batch = Batches(train_split, data_tok, config, ahead=len(base.config.ahead_sizes)).batch(0)
    ids = torch.as_tensor(batch.ids)
    with torch.no_grad():
        logits = base.network(ids[:, :-1], None if batch.ahead is None else torch.as_tensor(batch.ahead[:, :-1]))
        targets = torch.as_tensor(batch.targets(data_tok.pad_id))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=data_tok.pad_id)
    assert result.losses[0] == pytest.approx(float(loss), abs=2e-6)  # step 0 scores the base's own weights

    model = load_model(out)
    record = provenance(model)
    assert record["base"]["sha256"] == file_sha256(base_path) and record["base"]["name"] == "tinyfolk"
    assert record["data"]["fingerprint"] == data_fingerprint(folder, "folk") and record["data"]["folder"] == "My Tunes"
    assert record["data"]["pieces"] == {"train": 7, "valid": 2, "test": 1} and record["data"]["held_out"] == []
    assert record["settings"] == {"replay_share": 0.0, "replay_corpus": None, "valid_fraction": 0.1, "style_init": None, "top_layers": None, "anchor": 0.0,
                                  "anchor_model": None}
    assert record["styles"] == {"folk": "trained by the base model"} and record["replay"] is None
    assert model.training["train_config"]["style"] == "folk" and model.training["sampling"] == {"top_p": 0.9}
    assert model.tokenizer.tokens == base.tokenizer.tokens and lineage(model) == ["tinyfolk"]
    assert model_info(out).base == f"tinyfolk ({file_sha256(base_path)[:8]})"


def test_a_new_style_is_added_and_named_after_the_folder(folder, base_path, tmp_path):
    out = tmp_path / "mine.safetensors"
    finetune(folder, out, base_path, max_steps=3)
    model = load_model(out)
    assert model.tokenizer.tokens[:-1] == load_model(base_path).tokenizer.tokens and model.tokenizer.tokens[-1] == "Style_my_tunes"
    assert set(model.training["styles"]) == {"folk", "my_tunes"} and model.training["styles"]["folk"] == FOLK
    assert model.training["styles"]["my_tunes"]["pieces"] == 7
    assert provenance(model)["styles"] == {"my_tunes": "new: the mean of the base's folk rows"}
    piece = model.generate(bars=2, style="my_tunes", random_seed=1)  # the grown model generates in its new style
    assert len(piece.notes) > 0
    assert default_style(model) == "my_tunes" and default_style(load_model(base_path)) == "folk"  # unasked, its new style
    # a model fine-tuned from a fine-tuned one keeps the chain
    second = tmp_path / "again.safetensors"
    train(folder, second, config=tiny(out, max_steps=2), init=out, finetune=FineTuneConfig(replay_share=0), device="cpu", reporter=SilentReporter())
    assert lineage(load_model(second)) == ["mine", "tinyfolk"] and len(load_model(second).tokenizer) == len(model.tokenizer)


def test_a_folder_the_split_rule_leaves_without_valid_pieces_holds_out_a_fraction(base_path, tmp_path):
    small = melody_folder(tmp_path / "small", 8, valid=False)
    out = tmp_path / "m.safetensors"
    finetune(small, out, base_path, max_steps=2)
    data = provenance(load_model(out))["data"]
    assert data["pieces"] == {"train": 7, "valid": 1, "test": 0} and data["valid_from"] == "a fraction of the train split"
    assert len(data["held_out"]) == 1 and data["held_out"][0] in {p.name for p in small.iterdir()}


def test_top_layers_train_only_the_top_blocks(folder, base_path, tmp_path):
    out = tmp_path / "top.safetensors"
    train(folder, out, config=tiny(base_path, style="folk"), init=base_path, finetune=FineTuneConfig(replay_share=0, top_layers=1), device="cpu",
          reporter=SilentReporter())
    before, after = dict(load_model(base_path).network.named_parameters()), dict(load_model(out).network.named_parameters())
    top = f"blocks.{len(load_model(base_path).network.blocks) - 1}."
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all(name.startswith((top, "ln_f.")) for name in moved)  # the embedding and the lower blocks stay the base's
    assert provenance(load_model(out))["settings"]["top_layers"] == 1
    for bad, message in ((50, "the model has"), (0, "top_layers"), (99, "top_layers")):
        with pytest.raises((TrainingError, FineTuneError), match=message):
            train(folder, tmp_path / "bad.safetensors", config=tiny(base_path, style="folk"), init=base_path,
                  finetune=FineTuneConfig(replay_share=0, top_layers=bad), device="cpu", reporter=SilentReporter())
    assert not list(tmp_path.glob("*bad*"))  # nothing written, no checkpoint either


def test_replay_mixes_the_base_corpus_into_every_batch(folder, base_path, tmp_path):
    assert [replay_rows(8, 0.25), replay_rows(4, 0.75), replay_rows(1, 0.5), replay_rows(8, 0.0), replay_rows(4, 0.01)] == [2, 3, 0, 0, 1]
    corpus = melody_folder(tmp_path / "base corpus", 10, seed=11)
    out = tmp_path / "m.safetensors"
    reporter = Messages()
    train(folder, out, config=tiny(base_path, max_steps=2), init=base_path, finetune=FineTuneConfig(replay_share=0.5, replay_corpus=str(corpus)), device="cpu", reporter=reporter)
    replay = provenance(load_model(out))["replay"]
    assert replay["corpus"] == "base corpus" and replay["train_pieces"] == 7 and replay["same_as_base_training"] is False
    assert any("replaying 2 of 4 windows a batch from base corpus (7 pieces)" in m for m in reporter.messages)


class Messages(SilentReporter):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)


def test_a_killed_fine_tuning_run_resumes_exactly(folder, base_path, tmp_path):
    whole = finetune(folder, tmp_path / "a.safetensors", base_path)
    with pytest.raises(KeyboardInterrupt):
        finetune(folder, tmp_path / "b.safetensors", base_path, reporter=StopAt(4))
    resumed = train(folder, tmp_path / "b.safetensors", resume=True, init=base_path, device="cpu", reporter=SilentReporter())
    assert resumed.losses == whole.losses and resumed.steps == 6
    assert provenance(load_model(tmp_path / "b.safetensors")) == provenance(load_model(tmp_path / "a.safetensors"))
    # the command line: --resume with or without --from
    out = tmp_path / "c.safetensors"
    assert invoke("train", folder, "--from", base_path, "-o", out, *TINY_CLI).exit_code == 0
    again = invoke("train", folder, "--from", base_path, "-o", out, "--resume", "--steps", "6", "--device", "cpu")
    assert again.exit_code == 0 and "6 steps in" in again.output, again.output


def test_a_run_with_replay_resumes_exactly_too(folder, base_path, tmp_path):
    corpus = melody_folder(tmp_path / "base corpus", 10, seed=11)
    settings = FineTuneConfig(replay_share=0.5, replay_corpus=str(corpus))
    whole = train(folder, tmp_path / "a.safetensors", config=tiny(base_path), init=base_path, finetune=settings, device="cpu", reporter=SilentReporter())
    with pytest.raises(KeyboardInterrupt):
        train(folder, tmp_path / "b.safetensors", config=tiny(base_path), init=base_path, finetune=settings, device="cpu", reporter=StopAt(5))
    resumed = train(folder, tmp_path / "b.safetensors", resume=True, device="cpu", reporter=SilentReporter())  # without init: the checkpoint knows
    assert resumed.losses == whole.losses


def test_resume_refuses_another_base(folder, base_path, tmp_path):
    out = tmp_path / "m.safetensors"
    finetune(folder, out, base_path, max_steps=2)
    other = tmp_path / "other.safetensors"
    save_model(Model(build_model("transformer", dict(vocab_size=len(Tokenizer()), n_layers=1, d_model=32, n_heads=2, context_len=64)), Tokenizer(), {"styles": {"folk": FOLK}}), other)
    line = one_line_error(invoke("train", folder, "--from", other, "-o", out, "--resume", "--device", "cpu"))
    assert "its run started from tinyfolk.safetensors" in line
    with pytest.raises(TrainingError, match="started from nothing"):
        scratch = tmp_path / "scratch.safetensors"
        train(folder, scratch, config=tiny(base_path, max_steps=1), model_options={"n_layers": 1, "d_model": 32, "n_heads": 2}, device="cpu", reporter=SilentReporter())
        train(folder, scratch, resume=True, init=base_path, device="cpu", reporter=SilentReporter())


def test_the_command_line_fine_tunes_and_lists_the_result(folder, base_path, tmp_path):
    out = tmp_path / "models" / "mine.safetensors"
    out.parent.mkdir()
    result = invoke("train", folder, "--from", base_path, "-o", out, *TINY_CLI)
    assert result.exit_code == 0, result.output
    assert "fine-tuning tinyfolk on 7 pieces" in result.stderr and "style my_tunes: new" in result.stderr and "no replay (replay share 0)" in result.stderr
    trained = load_model(out).training["train_config"]
    assert (trained["max_steps"], trained["learning_rate"], trained["patience"]) == (4, 5e-4, 3)  # the preset, less what was given
    listing = invoke("models", env={"COMPOSER_MODELS": str(out.parent)})
    line = next(line for line in listing.output.splitlines() if line.startswith("mine "))
    assert "tinyfolk (" in line and "folk, my_tunes" in line


# -- bad input: one line, nothing written ------------------------------------------------------
def bad_folder(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    folder.mkdir()
    if kind == "empty":
        return folder
    if kind == "unreadable":
        for i in range(3):
            (folder / f"x{i}.mid").write_bytes(b"MThd not really")
        return folder
    rng = np.random.default_rng(0)
    for name in names(5, valid=True):
        write(melody(rng), folder / name)
    if kind == "parts":
        write(make_score([(0, 1, 60 + i, i) for i in range(17)], parts=[f"P{i}" for i in range(17)]), folder / "choir.mid")
    else:
        write(make_score([(0, 18, 60)], time_signatures=[(0, 18, 4)]), folder / "long_bar.mid")
    return folder


@pytest.mark.parametrize(("kind", "message"), [
    ("empty", "no MIDI, MusicXML or ABC files found"),
    ("unreadable", "none of the 3 files could be read"),
    ("parts", "choir.mid: 17 parts; the vocabulary holds at most 16"),
    ("meter", "long_bar.mid: time signature 18/4 has no token"),
])
def test_a_folder_the_base_cannot_learn_from_is_one_line(base_path, tmp_path, kind, message):
    out = tmp_path / "m.safetensors"
    line = one_line_error(invoke("train", bad_folder(tmp_path, kind), "--from", base_path, "-o", out, *TINY_CLI), after_progress=True)
    assert message in line
    assert not out.exists() and not checkpoint_path(out).exists()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--from", "no_such_model"], 1, "no model named 'no_such_model'"),
    (["--from", "{base}", "--layers", "3"], 2, "its n_layers is 1; 3 contradicts it"),
    (["--from", "{base}", "--arch", "lstm"], 2, "it is a transformer; arch 'lstm' contradicts it"),
    (["--from", "{base}", "--d-model", "64"], 2, "its d_model is 32; 64 contradicts it"),
    (["--replay-share", "0.5"], 2, "--replay-share applies to fine-tuning (--from) only"),
    (["--from", "{base}", "--style-init", "chorale"], 1, "trained on folk, not on it"),
    (["--from", "{base}", "--replay-corpus", "{tmp}/nowhere"], 1, "nowhere: no such folder"),
    (["--from", "{base}", "--style", "my-tunes"], 1, "a style name must be a Python identifier"),
    (["--from", "{base}", "--anchor", "1e9"], 2, "--anchor"),
    (["--anchor", "1"], 2, "--anchor applies to fine-tuning (--from) only"),
    (["--from", "{base}", "--anchor", "1", "--anchor-model", "no_such_model"], 1, "no model named 'no_such_model'"),
    (["--from", "{base}", "--avoid-parallels", "1e9"], 2, "--avoid-parallels"),
])
def test_bad_fine_tuning_options_are_one_line(folder, base_path, tmp_path, args, code, message):
    out = tmp_path / "m.safetensors"
    args = [a.format(base=base_path, tmp=tmp_path) for a in args]
    line = one_line_error(invoke("train", folder, "-o", out, *args, "--steps", "2", "--device", "cpu"), code=code, after_progress=code == 1)
    assert message in line
    assert not out.exists() and not checkpoint_path(out).exists()


def test_the_library_checks_the_same(folder, base_path, tmp_path):
    with pytest.raises(FineTuneError, match="contradicts it"):
        train(folder, tmp_path / "m.safetensors", init=base_path, model_options={"n_heads": 4}, device="cpu")
    with pytest.raises(TrainingError, match="need init"):
        train(folder, tmp_path / "m.safetensors", finetune=FineTuneConfig(), device="cpu")
    with pytest.raises(FineTuneError, match="replay_share must be a number 0..0.75"):
        FineTuneConfig(replay_share=0.9)


# -- the anchor: KL to the base's predictions -----------------------------------------
def test_the_anchor_loss_hand_worked():
    from composer.training import anchor_loss

    logits = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    scored = torch.tensor([[True, False]])
    assert anchor_loss(logits, logits.clone(), scored).item() == 0.0
    base = torch.tensor([[[math.log(3.0), 0.0], [5.0, 0.0]]])  # p_base (3/4, 1/4) at the scored position; the other is not counted
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert anchor_loss(logits, base, scored).item() == pytest.approx(expected, rel=1e-5)
    assert anchor_loss(logits, base, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0


def divergence(model: Model, base: Model, folder: Path) -> float:
    """KL(base || model) over the windows of the folder's first batch."""
    from composer.dataset import load_tokens
    from composer.training import anchor_loss

    split = load_tokens(folder, model.tokenizer, style="folk").splits["train"]
    batch = Batches(split, model.tokenizer, tiny(base, augment=False)).batch(0)
    ids = torch.as_tensor(batch.ids[:, :-1])
    with torch.no_grad():
        return float(anchor_loss(model.network.eval()(ids, None), base.network.eval()(ids, None), ids != model.tokenizer.pad_id))


def test_the_anchor_keeps_a_run_near_its_base_and_resumes_beside_it(folder, base_path, tmp_path):
    free = finetune(folder, tmp_path / "free.safetensors", base_path, style="folk")
    settings = FineTuneConfig(replay_share=0, anchor=50)
    anchored = train(folder, tmp_path / "anchored.safetensors", config=tiny(base_path, style="folk"), init=base_path, finetune=settings, device="cpu",
                     reporter=SilentReporter())
    base = load_model(base_path)
    assert divergence(load_model(anchored.model_path), base, folder) < 0.5 * divergence(load_model(free.model_path), base, folder)
    assert provenance(load_model(anchored.model_path))["settings"]["anchor"] == 50
    # killed and resumed with the base given: the same steps as the whole run
    with pytest.raises(KeyboardInterrupt):
        train(folder, tmp_path / "b.safetensors", config=tiny(base_path, style="folk"), init=base_path, finetune=settings, device="cpu", reporter=StopAt(4))
    resumed = train(folder, tmp_path / "b.safetensors", resume=True, init=base_path, device="cpu", reporter=SilentReporter())
    assert resumed.losses == anchored.losses
    # without it, a base that is not found by its name is one line
    with pytest.raises(KeyboardInterrupt):
        train(folder, tmp_path / "c.safetensors", config=tiny(base_path, style="folk"), init=base_path, finetune=settings, device="cpu", reporter=StopAt(4))
    with pytest.raises(TrainingError, match="an anchored run resumes beside its base, tinyfolk.safetensors, .*--from"):
        train(folder, tmp_path / "c.safetensors", resume=True, device="cpu", reporter=SilentReporter())


def test_an_anchor_model_must_have_the_runs_vocabulary(folder, base_path, tmp_path):
    # learnt as a new style, the run's vocabulary has a row its base lacks: the base cannot anchor it by file
    with pytest.raises(TrainingError, match=r"anchor model .*tinyfolk.safetensors: its vocabulary \(\d+ tokens\) is not the run's"):
        train(folder, tmp_path / "bad.safetensors", config=tiny(base_path), init=base_path,
              finetune=FineTuneConfig(replay_share=0, anchor=1, anchor_model=str(base_path)), device="cpu", reporter=SilentReporter())
    assert not list(tmp_path.glob("*bad*"))
    done = train(folder, tmp_path / "ok.safetensors", config=tiny(base_path, style="folk"), init=base_path,
                 finetune=FineTuneConfig(replay_share=0, anchor=1, anchor_model=str(base_path)), device="cpu", reporter=SilentReporter())
    assert provenance(load_model(done.model_path))["settings"]["anchor_model"] == str(base_path)


def test_an_anchor_model_must_have_the_runs_architecture(folder, base_path, tmp_path):
    tok = load_model(base_path).tokenizer
    wider = build_model("transformer", dict(vocab_size=len(tok), n_layers=2, d_model=32, n_heads=2, context_len=64, dropout=0.0))
    other = save_model(Model(wider, tok, {"styles": {"folk": FOLK}}), tmp_path / "two_layers.safetensors")
    with pytest.raises(TrainingError, match=r"anchor model .*two_layers.safetensors: its architecture is not the run's \(n_layers 2 against 1\)"):
        train(folder, tmp_path / "bad.safetensors", config=tiny(base_path, style="folk"), init=base_path,
              finetune=FineTuneConfig(replay_share=0, anchor=1, anchor_model=str(other)), device="cpu", reporter=SilentReporter())
    assert not list(tmp_path.glob("*bad*"))


def test_fine_tuning_keeps_the_base_s_harmonizer_for_a_style_it_had_and_learns_one_for_a_new_one(tmp_path):
    from composer import harmony
    from composer.nn.configs import HarmonizerConfig
    from composer.nn.runtime import harmonizer_shapes

    duos = tmp_path / "Duo Tunes"
    duos.mkdir()
    rng = np.random.default_rng(5)
    for name in names(10, valid=True):
        upper = melody(rng, 12)
        lower = upper.notes.copy()
        lower["pitch"] -= 12
        lower["part"] = 1
        write(upper.replace(notes=np.concatenate([upper.notes, lower]), parts=[Part("Upper"), Part("Lower")]), duos / name)
    config = HarmonizerConfig(features=harmony.FEATURES, voices=1, hidden=4, layers=1)
    entry = harmony.encode_harmonizer(harmony.Harmonizer(config, {k: np.zeros(s, np.float32) for k, s in harmonizer_shapes(config).items()}))
    chorale = {"pieces": 5, "programs": [0, 0], "pitch_ranges": [[40, 90]] * 2, "overlap_shares": [0.0] * 2, "harmonizer": entry}
    base = tmp_path / "tinyduo.safetensors"
    save_model(Model(load_model(base_for(tmp_path)).network, Tokenizer(), {"styles": {"folk": FOLK, "chorale": chorale}}), base)
    kept = finetune(duos, tmp_path / "kept.safetensors", base, style="chorale", harmonizer_epochs=1)
    profile = load_model(kept.model_path).training["styles"]["chorale"]
    assert profile["pieces"] == 7 and profile["harmonizer"] == entry  # the profile is the new split's, the harmonizer the base's
    fresh = load_model(finetune(duos, tmp_path / "fresh.safetensors", base, harmonizer_epochs=1).model_path).training["styles"]
    learned = harmony.decode_harmonizer(fresh["duo_tunes"]["harmonizer"])
    assert learned.voices == 1 and fresh["chorale"]["harmonizer"] == entry


def base_for(tmp_path: Path) -> Path:
    torch.manual_seed(3)
    network = build_model("transformer", dict(vocab_size=len(Tokenizer()), n_layers=1, d_model=32, n_heads=2, context_len=64, dropout=0.0))
    return save_model(Model(network, Tokenizer(), {"styles": {"folk": FOLK}}), tmp_path / "plain.safetensors")
