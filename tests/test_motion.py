"""The parallel-fifths rule in one home (``composer.theory``), where a piece's tokens could break it
(``composer.tokens.motion``), and training that teaches a model to avoid it (``TrainConfig.avoid_parallels``)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: two spinning threads on a busy core crawl

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from composer.dataset import load_tokens  # noqa: E402
from composer.formats import write  # noqa: E402
from composer.modelfile import load_model  # noqa: E402
from composer.theory import VoiceMotion, parallel_pitches  # noqa: E402
from composer.tokens import K_PITCH, Tokenizer  # noqa: E402
from composer.tokens.motion import parallel_hazards, transposed  # noqa: E402
from composer.training import Batches, SilentReporter, TrainConfig, TrainingError, avoid_loss, train  # noqa: E402
from conftest import make_score  # noqa: E402


def pitches(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()


# -- the rule, hand-worked ---------------------------------------------------------
def test_a_part_a_fifth_below_may_not_follow_the_upper_part_in_similar_motion() -> None:
    # F4 under C5; the upper part moves up to D5: G4 (and G5, G6, ...) would be parallel fifths, G3 is contrary motion.
    bad = parallel_pitches(65, 72, 74)
    assert 67 in pitches(bad) and 79 in pitches(bad)
    assert 55 not in pitches(bad) and 66 not in pitches(bad)
    assert all(p > 65 for p in pitches(bad))


def test_octaves_and_unisons_count_and_other_intervals_do_not() -> None:
    assert pitches(parallel_pitches(60, 72, 74))[:3] == [62, 74, 86]  # octaves, compound octaves, unisons
    assert pitches(parallel_pitches(60, 60, 59))[-1] == 59  # a unison moving down together
    assert not parallel_pitches(64, 72, 74).any()  # a sixth apart: free
    assert not parallel_pitches(65, 72, 72).any()  # the upper part holds: no motion
    assert not parallel_pitches(-1, 72, 74).any() and not parallel_pitches(65, -1, 74).any()


def test_the_other_part_below_reads_the_interval_from_it_up() -> None:
    # C5 over F4; the lower part moves F4 -> G4: D5 over it would be parallel fifths (the rule of given lower parts).
    assert 74 in pitches(parallel_pitches(72, 65, 67, other_above=False))
    assert 74 not in pitches(parallel_pitches(72, 65, 67))


def test_voice_motion_follows_positions_and_the_lowest_note_of_a_chord() -> None:
    motion = VoiceMotion(3)
    motion.note(0, 72)
    motion.note(1, 65)
    assert motion.parallels(1) is None  # nothing sounded before
    motion.position()
    motion.note(0, 74)
    assert 67 in pitches(motion.parallels(1))
    assert motion.parallels(0) is None  # nothing above the top part
    motion.note(9, 50)  # a part the tracker does not hold is ignored
    assert motion.parallels(2) is None  # part 2 never sounded


# -- the hazards of a piece's tokens --------------------------------------------------
def two_parts(rows, parts=("Soprano", "Alto")):
    return make_score(rows, parts=parts)


def test_hazards_stand_where_the_lower_part_may_write_and_list_its_parallels() -> None:
    tok = Tokenizer()
    # Beat 0: C5 over F4; beat 1: D5 over G4 (parallel fifths); beat 2: D5 held, alto A4.
    score = two_parts([(0, 1, 72, 0), (0, 1, 65, 1), (1, 2, 74, 0), (1, 1, 67, 1), (2, 1, 69, 1)])
    ids = tok.encode(score)
    at, forbidden = parallel_hazards(ids, tok.grammar, 4)
    assert len(at) == 1  # only beat 1's alto: the soprano holds at beat 2
    assert tok.kind_of(int(ids[at[0] - 1])) == "Part" and int(ids[at[0]]) == tok.base[K_PITCH] + 67  # the alto's G4 that Bach would not write
    assert 67 in pitches(forbidden[0]) and 55 not in pitches(forbidden[0])


def test_hazards_transpose_with_the_notes() -> None:
    mask = np.zeros((2, 128), bool)
    mask[0, [0, 67, 127]] = True
    assert pitches(transposed(mask, 2)[0]) == [2, 69]
    assert pitches(transposed(mask, -1)[0]) == [66, 126]
    assert transposed(mask, 0) is mask


# -- the loss -------------------------------------------------------------------------
def test_the_loss_is_minus_log_of_what_is_left_hand_worked() -> None:
    vocab, base = 200, 50
    logits = torch.zeros(1, 3, vocab)  # uniform: each token 1/200
    avoid = torch.zeros(1, 3, 128, dtype=torch.bool)
    assert avoid_loss(logits, avoid, base, 3).item() == 0.0  # nothing to avoid
    avoid[0, 1, [10, 20, 30, 40]] = True
    assert avoid_loss(logits, avoid, base, 3).item() == pytest.approx(-math.log(1 - 4 / vocab) / 3, rel=1e-5)  # per scored token
    logits.requires_grad_(True)
    avoid_loss(logits, avoid, base, 3).backward()
    grad = logits.grad[0, 1]
    assert (grad[base + 10] > 0).item() and (grad[0] < 0).item()  # descending it lowers the avoided pitches' scores


def parallel_folder(root, pieces: int = 12, seed: int = 3):
    """Two-part pieces whose alto follows the soprano a fifth below: parallels at every move."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    for i in range(pieces):
        top = 72 + np.cumsum(rng.choice([-2, -1, 1, 2], size=16))
        rows = [(b, 1, int(p), 0) for b, p in enumerate(top)] + [(b, 1, int(p) - 7, 1) for b, p in enumerate(top)]
        write(two_parts(rows), root / f"piece{i:02d}.mid")
    return root


def forbidden_mass(model, split, tok) -> float:
    config = TrainConfig(batch_size=6, seq_len=64, augment=False, avoid_parallels=1.0)
    batch = Batches(split, tok, config).batch(0)
    assert batch.avoid is not None and batch.avoid.any()
    with torch.no_grad():
        logits = model.network.eval()(torch.as_tensor(batch.ids[:, :-1]), None)
    avoid = torch.as_tensor(batch.avoid[:, 1:])
    return float(avoid_loss(logits, avoid, tok.base[K_PITCH], int(avoid.any(-1).sum())))  # the mean over the hazards


def test_training_with_the_loss_puts_less_on_parallels_than_without(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    folder = parallel_folder(tmp_path / "fifths")
    settings = dict(max_steps=120, batch_size=8, seq_len=64, warmup_steps=1, eval_every=120, checkpoint_every=120, learning_rate=1e-2, style="chorale")
    options = dict(n_layers=1, d_model=32, n_heads=2, context_len=64, dropout=0.0)
    masses = {}
    for weight in (0.0, 300.0):
        out = tmp_path / f"m{weight:g}.safetensors"
        train(folder, out, config=TrainConfig(**settings, avoid_parallels=weight), model_options=options, device="cpu", reporter=SilentReporter())
        model = load_model(out)
        assert model.training["train_config"]["avoid_parallels"] == weight  # saved with the run's settings
        masses[weight] = forbidden_mass(model, load_tokens(folder, model.tokenizer, style="chorale").splits["train"], model.tokenizer)
    # The pieces teach parallels; the loss keeps the model from learning them.
    assert masses[300.0] < 0.5 * masses[0.0], masses


def test_a_bad_weight_is_refused() -> None:
    with pytest.raises(TrainingError, match="avoid_parallels"):
        TrainConfig(avoid_parallels=-1)


def test_the_command_line_takes_the_weight_and_refuses_a_bad_one(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from composer.cli import cli
    from conftest import one_line_error

    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    folder = parallel_folder(tmp_path / "fifths")
    out = tmp_path / "m.safetensors"
    common = ["train", str(folder), "-o", str(out), "--layers", "1", "--d-model", "16", "--heads", "2", "--seq-len", "32", "--batch-size", "4",
              "--steps", "2", "--device", "cpu", "--style", "chorale"]
    assert "--avoid-parallels" in one_line_error(CliRunner().invoke(cli, [*common, "--avoid-parallels", "-2"]), code=2) and not out.exists()
    answer = CliRunner().invoke(cli, [*common, "--avoid-parallels", "4"])
    assert answer.exit_code == 0, answer.output
    assert load_model(out).training["train_config"]["avoid_parallels"] == 4.0
