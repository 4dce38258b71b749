"""Features ahead of each token (composer.tokens.ahead): hand-worked values, training and generation agreeing, the networks' use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from composer.formats import read
from composer.generate import GenerationSettings, generate, plan
from composer.nn import build_model
from composer.nn.runtime import build_runtime
from composer.score import select_parts
from composer.tokens import Tokenizer
from composer.tokens.ahead import AHEAD_SIZES, END, FIRST, LENGTH_COLUMNS, MELODY_COLUMNS, NOT_GIVEN, PHRASE_COLUMNS, Ahead, features_of, phrase_end_steps, walk
from conftest import CORPUS, make_score, tiny_model

SPB = 24  # the default tokenizer's steps per beat: a quarter beat is 6 steps


def test_hand_worked_features() -> None:
    # C4 a quarter at 0, D4 a half at beat 1, E4 a quarter at beat 3; the last bar is bar 3.
    ahead = Ahead.of([(0, 60, 24), (24, 62, 48), (72, 64, 24)], 3, SPB)
    got = ahead.at([0, 10, 24, 72, 100], [0, 0, 0, 0, 5])[:, :7]
    assert got.tolist() == [
        [FIRST + 62, FIRST + 64, END, FIRST + 4, FIRST + 8, FIRST + 4, FIRST + 3],  # next: D4 in a beat, a half note long
        [FIRST + 62, FIRST + 64, END, FIRST + 2, FIRST + 8, FIRST + 4, FIRST + 3],  # 14 steps to go: 2 quarter beats (rounded down)
        [FIRST + 64, END, END, FIRST + 8, FIRST + 4, END, FIRST + 3],
        [END, END, END, END, END, END, FIRST + 3],  # the melody's last note has begun: nothing further
        [END, END, END, END, END, END, FIRST + 0],  # past the last bar: none left
    ]


def test_nothing_given_is_all_zero_and_a_chord_counts_its_first_note() -> None:
    assert (Ahead.of(None, None, SPB).at([0, 5], [0, 0]) == NOT_GIVEN).all()
    chord = Ahead.of([(0, 72, 24), (0, 67, 24), (24, 71, 24)], None, SPB)
    assert chord.pitches.tolist() == [72, 71]
    assert (chord.at([0], [0])[:, 6] == NOT_GIVEN).all()
    assert Ahead.of([], 1, SPB).at([0], [0])[:, :7].tolist() == [[END] * 6 + [FIRST + 1]]


def test_long_gaps_and_notes_take_the_last_bucket() -> None:
    ahead = Ahead.of([(0, 60, 24), (5000, 62, 4000)], 100, SPB)
    row = ahead.at([0], [0])[0]
    assert row[3] == row[4] == FIRST + 31 and row[6] == FIRST + 31
    assert (row < np.asarray(AHEAD_SIZES)).all()


def test_training_features_follow_the_walker() -> None:
    tok = Tokenizer()
    score = make_score([(0, 1, 72, 0), (0, 2, 60, 1), (1, 1, 74, 0), (2, 4, 76, 0), (2, 4, 55, 1)], parts=("S", "B"))
    ids = tok.encode(score, "chorale")
    features, parts = features_of(ids, tok.grammar, SPB)
    walked = walk(ids, tok.grammar)
    assert parts == walked.parts == 2 and walked.last_bar == 1  # 6 beats of 4/4: two bars
    assert walked.notes == [(0, 72, 24), (24, 74, 24), (48, 76, 96)]
    first_bass = next(i for i, t in enumerate(ids.tolist()) if tok.tokens[t] == "Pitch_60")
    assert features[first_bass].tolist()[:3] == [FIRST + 74, FIRST + 76, END]
    assert features.dtype == np.int16 and features.shape == (len(ids), len(AHEAD_SIZES))


def test_a_harmonization_plan_tells_the_model_what_training_showed_it() -> None:
    """The melody and length a harmonize plan gives equal the features of Bach's own four parts, token for token."""
    tok = Tokenizer()
    model = tiny_model(ahead=True)
    for name in ("bwv10.mid", "bwv101.mid", "bwv103.mid"):  # the others open with a pickup
        path = CORPUS / "chorales" / name
        if not path.exists():
            pytest.skip(f"{path} is not in the corpus")
        score = read(path)
        ids = tok.encode(score, "chorale")
        assert len(score.phrase_end_ticks), name  # the corpus keeps Bach's fermatas
        want, _ = features_of(ids, tok.grammar, SPB, phrase_end_steps(score, SPB))
        walked = walk(ids, tok.grammar)
        the_plan = plan(model, select_parts(score, [0]), GenerationSettings(mode="harmonize", style="chorale"))
        given = list(MELODY_COLUMNS + LENGTH_COLUMNS + PHRASE_COLUMNS)
        assert np.array_equal(the_plan.ahead.at(walked.onsets, walked.bars)[:, given], want[:, given]), name


def test_continuing_gives_the_length_but_no_melody() -> None:
    model = tiny_model(ahead=True)
    seed = make_score([(0, 1, 67), (1, 1, 69)])
    the_plan = plan(model, seed, GenerationSettings(bars=4, style="chorale"))
    row = the_plan.ahead.at([0], [-1])[0]
    assert (row[:6] == NOT_GIVEN).all() and row[6] == FIRST + 4


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_runtime_with_features_gives_the_torch_logits(arch: str) -> None:
    tok_v = 40
    config = {"transformer": dict(vocab_size=tok_v, n_layers=2, d_model=32, n_heads=4, context_len=32, dropout=0.0),
              "lstm": dict(vocab_size=tok_v, n_layers=2, d_embed=32, d_hidden=32, dropout=0.0)}[arch]
    torch.manual_seed(0)
    network = build_model(arch, config | {"ahead_sizes": list(AHEAD_SIZES)}).eval()
    runtime = build_runtime(arch, network.config, {k: v.detach().numpy() for k, v in network.state_dict().items()})
    rng = np.random.default_rng(3)
    ids = rng.integers(0, tok_v, (2, 12))
    ahead = np.stack([rng.integers(0, size, (2, 12)) for size in AHEAD_SIZES], -1)
    with torch.no_grad():
        full = network(torch.from_numpy(ids), torch.from_numpy(ahead)).numpy()
        plain = network(torch.from_numpy(ids)).numpy()
    cache = runtime.new_cache(2)
    got = [runtime.prefill(ids[:, :5], cache, ahead[:, :5])] + [runtime.step(ids[:, t], cache, ahead[:, t]) for t in range(5, 12)]
    np.testing.assert_allclose(np.stack(got, 1), full[:, 4:], atol=1e-4, rtol=0)
    assert np.abs(full - plain).max() > 1e-3  # the features change what it predicts
    np.testing.assert_allclose(runtime.prefill(ids, runtime.new_cache(2)), plain[:, -1], atol=1e-4, rtol=0)  # None: nothing given
    with torch.no_grad():
        zeros = network(torch.from_numpy(ids), torch.zeros_like(torch.from_numpy(ahead))).numpy()
    np.testing.assert_allclose(zeros, plain, atol=1e-6, rtol=0)


def test_features_out_of_range_or_for_a_model_without_them_raise() -> None:
    torch.manual_seed(0)
    network = build_model("transformer", dict(vocab_size=20, n_layers=1, d_model=16, n_heads=2, context_len=8, ahead_sizes=[3, 4]))
    ids = torch.zeros((1, 4), dtype=torch.int64)
    with pytest.raises(ValueError, match="0..size-1"):
        network(ids, torch.full((1, 4, 2), 3))
    with pytest.raises(ValueError, match="shape"):
        network(ids, torch.zeros((1, 4, 3), dtype=torch.int64))
    plain = build_model("transformer", dict(vocab_size=20, n_layers=1, d_model=16, n_heads=2, context_len=8))
    with pytest.raises(ValueError, match="no features ahead"):
        plain(ids, torch.zeros((1, 4, 2), dtype=torch.int64))
    runtime = build_runtime("transformer", network.config, {k: v.detach().numpy() for k, v in network.state_dict().items()})
    with pytest.raises(ValueError, match="0..size-1"):
        runtime.step(np.zeros(1, np.int64), runtime.new_cache(1), np.array([[0, 4]]))
    with pytest.raises(ValueError, match="ints in"):
        build_model("transformer", dict(vocab_size=20, n_layers=1, d_model=16, n_heads=2, ahead_sizes=[0]))


@pytest.mark.parametrize("mode", ["harmonize", "continue"])
def test_a_model_with_features_generates_in_every_mode(mode: str) -> None:
    model = tiny_model(ahead=True)
    melody = make_score([(0, 1, 67), (1, 1, 69), (2, 2, 71), (4, 4, 72)])
    piece = generate(model, melody, GenerationSettings(mode=mode, style="chorale", bars=3, random_seed=2))
    assert len(piece) > 0
    kept = piece.notes[piece.notes["part"] == 0]
    if mode == "harmonize":
        assert kept["pitch"].tolist() == [67, 69, 71, 72]


class Recording:
    """A real runtime that also keeps the tokens and features generation feeds it."""

    def __init__(self, runtime) -> None:
        self.runtime, self.config = runtime, runtime.config
        self.ids: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []

    def new_cache(self, batch: int):
        return self.runtime.new_cache(batch)

    def prefill(self, ids, cache, ahead=None):
        self.ids += list(np.asarray(ids).T)
        self.rows += list(np.asarray(ahead).transpose(1, 0, 2))
        return self.runtime.prefill(ids, cache, ahead)

    def step(self, ids, cache, ahead=None):
        self.ids.append(np.asarray(ids))
        self.rows.append(np.asarray(ahead))
        return self.runtime.step(ids, cache, ahead)


@pytest.mark.parametrize("random_seed", [0, 1])
def test_generation_feeds_the_features_training_computes(monkeypatch, random_seed: int) -> None:
    """The echoes and the bars left that the engine gives each token equal ``features_of`` over the tokens it fed."""
    from composer.modelfile import Model

    model = tiny_model(ahead=True)
    spy = Recording(model.runtime)
    monkeypatch.setattr(Model, "runtime", property(lambda self: spy))
    seed = make_score([(b, 1, 60 + (b % 5)) for b in range(8)])
    generate(model, seed, GenerationSettings(bars=10, style="folk", random_seed=random_seed))
    ids = np.array([i[0] for i in spy.ids])
    rows = np.array([r[0] for r in spy.rows])
    want, _ = features_of(ids, model.tokenizer.grammar, SPB)
    columns = [6, 7, 8]  # the bars left and the echoes; nothing of the melody or the phrases is given
    assert np.array_equal(rows[:, columns], want[:, columns])
    assert (rows[:, [0, 1, 2, 3, 4, 5, 9]] == NOT_GIVEN).all()
    assert (rows[:, 7] >= FIRST).any()  # something to echo: bars 5-10 start notes where bars 1-6 did


def test_asked_phrases_reach_the_model_as_beats_to_their_end() -> None:
    model = tiny_model(ahead=True)
    the_plan = plan(model, None, GenerationSettings(bars=8, phrase_bars=4, style="folk", time_signature="3/4"))
    assert the_plan.ahead.phrase_end_bars == (3, 7)
    assert plan(model, None, GenerationSettings(bars=8, style="folk")).ahead.phrase_end_bars is None
    from composer.tokens.ahead import phrase_column, phrase_ends_by_bars

    ends = phrase_ends_by_bars(1, 72, 72, (3, 7))  # in bar 2 of 3/4 (72 steps a bar): bar 4 ends at step 288
    assert ends.tolist() == [288, 576]
    assert phrase_column([72, 287, 288, 600], ends, SPB).tolist() == [FIRST + 9, FIRST + 0, FIRST + 12, END]


def test_the_styles_phrase_length_is_the_default() -> None:
    model = tiny_model(ahead=True)
    model.training["styles"]["folk"]["phrase_bars"] = 4  # learned from the corpus's markers (dataset.style_profiles)
    assert plan(model, None, GenerationSettings(bars=8, style="folk")).ahead.phrase_end_bars == (3, 7)
    assert plan(model, None, GenerationSettings(bars=8, style="folk", phrase_bars=2)).ahead.phrase_end_bars == (1, 3, 5, 7)


def test_absurd_feature_sizes_and_a_foreign_layout_are_refused(tmp_path) -> None:
    from composer.errors import ComposerError
    from composer.modelfile import Model, load_model, save_model

    for sizes in ([10**9], [2] * 1000, ["7"], [True]):
        with pytest.raises(ValueError, match="ahead_sizes"):
            build_model("transformer", dict(vocab_size=20, n_layers=1, d_model=16, n_heads=2, ahead_sizes=sizes))
    tok = Tokenizer()
    torch.manual_seed(0)
    network = build_model("transformer", dict(vocab_size=len(tok), n_layers=1, d_model=16, n_heads=2, context_len=16, ahead_sizes=[3, 4]))
    path = tmp_path / "foreign.safetensors"
    save_model(Model(network, tok, {}), path)
    with pytest.raises(ComposerError, match=f"{path}: features ahead of sizes \\[3, 4\\] are not composer's"):
        load_model(path)
