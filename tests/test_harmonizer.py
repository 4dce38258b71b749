"""The harmonizer: a bidirectional GRU reading the whole melody (composer.harmony, composer.nn.harmonizer)."""

from __future__ import annotations

import base64
import zlib
from dataclasses import asdict

import numpy as np
import pytest
import torch

from composer import harmony
from composer.dataset import style_profiles
from composer.generate import GenerationError, GenerationSettings, generate
from composer.io.notation import parse_tinynotation
from composer.modelfile import Model
from composer.nn.configs import HarmonizerConfig, HarmonizerError, HarmonizerTraining
from composer.nn.harmonizer import HarmonizerNet, fit
from composer.nn.runtime import harmonizer_log_probs, harmonizer_shapes
from composer.score import Part
from composer.tokens import Tokenizer, TokenizerConfig
from conftest import RANGES, make_score
from test_dataset import split_of

TINY = HarmonizerConfig(features=5, voices=2, classes=4, hidden=8, layers=2)


def test_the_numpy_forward_pass_is_the_torch_network_in_evaluation():
    torch.manual_seed(3)
    net = HarmonizerNet(TINY, dropout=0.5).eval()
    weights = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    assert set(weights) == set(harmonizer_shapes(TINY)) and all(weights[k].shape == s for k, s in harmonizer_shapes(TINY).items())
    frames = np.random.default_rng(0).normal(size=(11, 5)).astype(np.float32)
    with torch.no_grad():
        expected = torch.log_softmax(net(torch.from_numpy(frames)[None])[0], -1).numpy()
    got = harmonizer_log_probs(TINY, weights, frames)
    assert got.shape == (11, 2, 4)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    with pytest.raises(ValueError, match="shape"):
        harmonizer_log_probs(TINY, weights, frames[:, :4])


def future_pieces(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Frames of one-hot symbols 0..3 (plus a constant); voice 0's target is the symbol two frames ahead, voice 1's
    the symbol two frames back (-1 where there is none): only a network reading both ways can learn both."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        symbols = rng.integers(0, 4, size=int(rng.integers(8, 16)))
        x = np.zeros((len(symbols), 5), np.float32)
        x[np.arange(len(symbols)), symbols] = 1
        x[:, 4] = 1
        y = np.full((len(symbols), 2), -1)
        y[:-2, 0], y[2:, 1] = symbols[2:], symbols[:-2]
        out.append((x, y))
    return out


def test_fit_learns_what_lies_ahead_and_behind_and_repeats_itself_exactly():
    config = HarmonizerConfig(features=5, voices=2, classes=4, hidden=16, layers=1)
    training = HarmonizerTraining(epochs=40, learning_rate=1e-2, dropout=0.0, batch_pieces=8, random_seed=2)
    losses: list[float] = []
    before = torch.get_rng_state()
    weights = fit(future_pieces(64, 0), config, training, lambda epoch, epochs, loss: losses.append(loss))
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random stream is untouched
    assert len(losses) == 40 and losses[-1] < 0.5 * losses[0]
    right = total = 0
    for x, y in future_pieces(16, 1):  # pieces it never saw
        predicted = harmonizer_log_probs(config, weights, x).argmax(-1)
        known = y >= 0
        right += int((predicted == y)[known].sum())
        total += int(known.sum())
    assert right / total > 0.9
    again = fit(future_pieces(64, 0), config, training)
    assert all(np.array_equal(weights[k], again[k]) for k in weights)


def test_fit_refuses_pieces_that_do_not_fit_its_shape():
    x, y = future_pieces(1, 0)[0]
    for pieces, match in [([], "no pieces"), ([(x[:, :3], y)], "expected"), ([(x, y * 0 + 9)], "targets outside"), ([(x[:0], y[:0])], "empty")]:
        with pytest.raises(HarmonizerError, match=match):
            fit(pieces, TINY, HarmonizerTraining(epochs=1))
    with pytest.raises(HarmonizerError, match="epochs"):
        HarmonizerTraining(epochs=0)


# -- what the harmonizer reads and learns, hand-worked -------------------------------------------
def duo():
    # C major, 4/4. Melody: E (1 beat), D (1 beat), rest (1 beat), C (1 beat). Lower part: C (2 beats), G (2 beats).
    return make_score([(0, 1, 76, 0), (1, 1, 74, 0), (3, 1, 72, 0), (0, 2, 48, 1), (2, 2, 43, 1)], parts=("Upper", "Lower"),
                      key_signatures=[(0, 0, False)])


def test_the_frames_say_each_eighth_s_degree_onset_phrase_end_bar_place_and_distance_to_the_end():
    x = harmony.frames(duo(), (0, False), phrase_end_ticks=[960])  # a phrase ends with the D, at beat 2
    assert x.shape == (8, harmony.FEATURES)
    assert x[:, :13].argmax(1).tolist() == [4, 4, 2, 2, 12, 12, 0, 0]  # E E D D rest rest C C
    assert np.flatnonzero(x[:, 13]).tolist() == [0, 2, 6]  # onsets
    assert np.flatnonzero(x[:, 14]).tolist() == [3]  # the phrase's last eighth
    assert (x[:, 15] == 0).all()  # major
    assert x[:, 16 : 16 + harmony.BAR_POSITIONS].argmax(1).tolist() == list(range(8))
    assert x[:, 16 + harmony.BAR_POSITIONS : 16 + harmony.BAR_POSITIONS + harmony.TO_END].argmax(1).tolist() == [7, 6, 5, 4, 3, 2, 1, 0]
    assert x.sum(1).tolist() == [5, 4, 5, 5, 4, 4, 5, 4]  # one-hots only
    minor = harmony.frames(duo(), (0, True))  # A minor: E is the fifth; the score's own markers (none)
    assert minor[0, :13].argmax() == 7 and (minor[:, 15] == 1).all() and not minor[:, 14].any()


def test_the_targets_are_each_lower_voice_s_pitch_class_above_the_tonic():
    y = harmony.targets(duo(), (0, False), voices=2)
    assert y.tolist() == [[0, -1]] * 4 + [[7, -1]] * 4  # C then G; no second lower voice


def test_a_harmonizer_round_trips_through_its_model_file_form_and_refuses_damage():
    config = HarmonizerConfig(features=harmony.FEATURES, voices=3, hidden=8, layers=1)
    rng = np.random.default_rng(0)
    trained = harmony.Harmonizer(config, {k: rng.normal(size=s).astype(np.float32) for k, s in harmonizer_shapes(config).items()})
    entry = harmony.encode_harmonizer(trained)
    back = harmony.decode_harmonizer(entry)
    assert back.config == config
    assert all(np.array_equal(back.weights[k], trained.weights[k].astype(np.float16).astype(np.float32)) for k in trained.weights)
    size = 2 * sum(int(np.prod(s)) for s in harmonizer_shapes(config).values())
    nan = base64.b64encode(zlib.compress(np.full(size // 2, np.nan, "<f2").tobytes())).decode()
    bad = [
        ("not a dict", "expected"),
        ({"config": asdict(config) | {"features": 7}, "weights": entry["weights"]}, "features"),
        ({"config": asdict(config) | {"hidden": 4000, "layers": 8}, "weights": entry["weights"]}, "allowed"),  # refused before inflating
        ({"config": asdict(config) | {"depth": 1}, "weights": entry["weights"]}, "unknown"),
        ({"config": asdict(config), "weights": "%%%"}, "base64"),
        ({"config": asdict(config), "weights": base64.b64encode(zlib.compress(bytes(size * 100))).decode()}, "expected"),
        ({"config": asdict(config), "weights": nan}, "NaN"),
    ]
    for item, match in bad:
        with pytest.raises(harmony.HarmonyPriorError, match=match):
            harmony.decode_harmonizer(item)


def test_the_bias_turns_pitch_classes_above_the_tonic_into_scores_per_midi_pitch_at_each_step():
    log_probs = np.full((4, 1, 12), -5.0, np.float32)
    log_probs[2, 0, 7] = -0.1  # the dominant, at the third eighth
    bias = harmony.HarmonyBias(log_probs, 2.0, (2, False), steps_per_grid=12)  # D major: the dominant is A
    scores = bias.scores(24 + 5, 0)  # a step inside the third eighth
    assert scores.shape == (128,) and scores[69] == pytest.approx(-0.2) and scores[62] == pytest.approx(-10.0)
    assert bias.scores(48, 0) is None and bias.scores(0, 1) is None


def test_style_profiles_learn_a_harmonizer_when_asked_and_only_for_several_parts():
    tok = Tokenizer(TokenizerConfig(styles=("duo", "solo")))
    training = HarmonizerTraining(epochs=2, random_seed=1)
    profile = style_profiles(split_of(tok, [duo(), duo()], "duo"), tok, training)["duo"]
    learned = harmony.decode_harmonizer(profile["harmonizer"])
    assert learned.voices == 1 and learned.config.features == harmony.FEATURES
    assert "harmonizer" not in style_profiles(split_of(tok, [duo()], "duo"), tok)["duo"]  # not asked
    solo = make_score([(0, 2, 72, 0)], parts=(Part("Melody"),))
    assert "harmonizer" not in style_profiles(split_of(tok, [solo], "solo"), tok, training)["solo"]


def test_the_unmarked_share_also_shows_pieces_without_their_phrase_ends():
    x = harmony.frames(duo(), (0, False), phrase_end_ticks=[960])
    bare = harmony.without_phrase_ends(x)
    assert not bare[:, 14].any() and np.array_equal(np.delete(bare, 14, 1), np.delete(x, 14, 1))
    assert np.flatnonzero(x[:, 14]).tolist() == [3]  # a copy: the frames given are untouched

    def weights(ends, share):
        training = HarmonizerTraining(epochs=2, random_seed=1, unmarked_share=share)
        return harmony.fit_harmonizer([(duo(), ends), (duo(), ends)], 1, training).weights

    def same(a, b):
        return all(np.array_equal(a[k], b[k]) for k in a)

    marked = [960]
    assert not same(weights(marked, 0.0), weights(marked, 1.0))  # the unmarked copies are learned from too
    assert same(weights(marked, 1.0), weights(marked, 1.0))
    assert same(weights([], 0.0), weights([], 1.0))  # nothing to unmark: the same pieces, the same weights
    with pytest.raises(HarmonizerError, match="unmarked_share"):
        HarmonizerTraining(unmarked_share=1.5)


# -- generation leans on it ----------------------------------------------------------------------
MELODY = "tinynotation: 4/4 e'4 d' c' d' e' e' e'2"


def steering(bass_pitch_class: int) -> dict[str, object]:
    """A harmonizer whose output ignores its input: the bass (third lower voice) on one pitch class above the tonic."""
    config = HarmonizerConfig(features=harmony.FEATURES, voices=3, hidden=4, layers=1)
    weights = {k: np.zeros(s, np.float32) for k, s in harmonizer_shapes(config).items()}
    weights["out.bias"][2 * 12 + bass_pitch_class] = 20.0
    return harmony.encode_harmonizer(harmony.Harmonizer(config, weights))


def with_styles(model: Model, **extra: object) -> Model:
    style = {"pieces": 10, "programs": [52] * 4, "pitch_ranges": RANGES, "overlap_shares": [0.0] * 4} | extra
    return Model(model.network, model.tokenizer, {"styles": {"chorale": style}})


def test_harmonizing_leans_on_the_harmonizer_before_the_counted_prior(model):
    counts = harmony.empty_counts(3)
    counts[..., 2, 2] = 1000  # the prior says D
    prior = harmony.encode(harmony.HarmonyPrior(counts))
    melody = parse_tinynotation(MELODY)
    settings = GenerationSettings(mode="harmonize", key="C", random_seed=4, harmony_weight=8)
    for styles, wanted in [({"harmony": prior}, 2), ({"harmony": prior, "harmonizer": steering(7)}, 7)]:
        notes = generate(with_styles(model, **styles), melody, settings).notes
        bass = notes[(notes["part"] == 3) & (notes["start_tick"] < notes["start_tick"].max())]  # the final chord is the tonic's
        assert len(bass) and (bass["pitch"] % 12 == wanted).mean() >= 0.8


def test_a_damaged_harmonizer_is_one_clear_error(model):
    damaged = with_styles(model, harmonizer={"config": {"features": 1}, "weights": "AAAA"})
    with pytest.raises(GenerationError, match="harmonizer"):
        generate(damaged, parse_tinynotation(MELODY), GenerationSettings(mode="harmonize", key="C"))


def test_the_counted_prior_per_grid_point_is_its_table_under_each_note_and_flat_where_the_melody_rests():
    counts = harmony.empty_counts(1)
    counts[0, 2, 4, 0, 0, 7] = 50  # under D, after E, before C (the rest between does not count): the bass on G
    prior = harmony.HarmonyPrior(counts)
    per_grid = harmony.prior_log_probs(prior, duo(), (0, False))
    assert per_grid.shape == (8, 1, 12)
    table = prior.log_probs()[0]
    np.testing.assert_array_equal(per_grid[2], table[2, 4, 0])
    assert per_grid[2, 0].argmax() == 7
    np.testing.assert_allclose(per_grid[4:6], -np.log(12), rtol=1e-6)  # the rest
