"""The melody-ahead harmony prior (composer.harmony): counting, the model-file form, and its use in harmonizing."""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from composer import harmony
from composer.dataset import style_profiles
from composer.generate import GenerationError, GenerationSettings, generate
from composer.io.notation import parse_tinynotation
from composer.modelfile import Model
from composer.score import Part
from composer.tokens import Tokenizer, TokenizerConfig
from conftest import RANGES, make_score
from test_dataset import split_of



def test_each_melody_note_knows_the_different_notes_around_it():
    previous, following = harmony.melody_context([60, 60, 62, 64, 64, 62])
    assert previous == [-1, -1, 60, 62, 62, 64]
    assert following == [62, 62, 64, 62, 62, -1]


def test_a_hand_worked_duo_is_counted_cell_by_cell():
    # C major. Melody C (2 beats) then D (1 beat) then E (1 beat); the bass C, B, C under them.
    score = make_score(
        [(0, 2, 72, 0), (2, 1, 74, 0), (3, 1, 76, 0), (0, 2, 48, 1), (2, 1, 47, 1), (3, 1, 48, 1)],
        parts=("Upper", "Lower"),
        key_signatures=[(0, 0, False)],
    )
    counts = harmony.empty_counts(1)
    harmony.add_piece(counts, score)
    none = harmony.NONE
    assert counts.sum() == 8  # eighth-note grid: 4 + 2 + 2 points with both parts sounding
    assert counts[0, 0, none, 2, 0, 0] == 4  # under C (no previous, next D): the bass on C, four eighths
    assert counts[0, 2, 0, 4, 0, 11] == 2  # under D (previous C, next E): the bass on B
    assert counts[0, 4, 2, none, 0, 0] == 2  # under E (previous D, no next): the bass on C


def test_the_log_probabilities_back_off_to_coarser_contexts():
    counts = harmony.empty_counts(1)
    counts[0, 0, 12, 2, 0, 7] = 50  # under the tonic, before the second degree: the bass on the fifth
    log_p = harmony.HarmonyPrior(counts).log_probs()
    assert np.allclose(np.exp(log_p).sum(-1), 1.0, atol=1e-5)
    assert log_p[0, 0, 12, 2, 0].argmax() == 7
    assert log_p[0, 0, 3, 5, 0].argmax() == 7  # an unseen context under the same degree leans the same way
    assert np.allclose(log_p[1, 0, 3, 5, 0], log_p[1, 0, 3, 5, 0][0])  # nothing seen in minor: flat


def test_the_model_file_form_round_trips_and_refuses_what_does_not_fit():
    counts = harmony.empty_counts(3)
    counts[0, 4, 2, 5, 1, 9] = 7
    entry = harmony.encode(harmony.HarmonyPrior(counts))
    assert np.array_equal(harmony.decode(entry).counts, counts)
    size = counts.nbytes
    bomb = base64.b64encode(zlib.compress(bytes(size * 1000))).decode()
    bad = [
        "not a dict",
        {"voices": 0, "counts": entry["counts"]},
        {"voices": 2, "counts": entry["counts"]},  # 3 voices' worth of counts for 2
        {"voices": 3, "counts": "%%%"},
        {"voices": 3, "counts": bomb},  # inflates far past the shape: stops at the shape's size
    ]
    for item in bad:
        with pytest.raises(harmony.HarmonyPriorError):
            harmony.decode(item)


def test_style_profiles_carry_a_prior_for_a_style_of_several_parts_only():
    tok = Tokenizer(TokenizerConfig(styles=("duo", "solo")))
    duo = make_score([(0, 2, 72, 0), (2, 2, 74, 0), (0, 2, 48, 1), (2, 2, 43, 1)], parts=("Upper", "Lower"), key_signatures=[(0, 0, False)])
    profile = style_profiles(split_of(tok, [duo], "duo"), tok)["duo"]
    prior = harmony.decode(profile["harmony"])
    assert prior.voices == 1 and prior.counts.sum() == 8
    solo = make_score([(0, 2, 72, 0)], parts=(Part("Melody"),))
    assert "harmony" not in style_profiles(split_of(tok, [solo], "solo"), tok)["solo"]


def with_prior(model: Model, bass_pitch_class: int | None) -> Model:
    """The tiny model, its chorale style carrying a prior that puts the bass on one pitch class under any melody note (None: no prior)."""
    style = {"pieces": 10, "programs": [52] * 4, "pitch_ranges": RANGES, "overlap_shares": [0.0] * 4}
    if bass_pitch_class is not None:
        counts = harmony.empty_counts(3)
        counts[..., 2, bass_pitch_class] = 1000
        style["harmony"] = harmony.encode(harmony.HarmonyPrior(counts))
    return Model(model.network, model.tokenizer, {"styles": {"chorale": style}})


MELODY = "tinynotation: 4/4 e'4 d' c' d' e' e' e'2"


def test_a_strong_prior_steers_the_bass_and_weight_zero_is_the_model_alone(model):
    steered = with_prior(model, 7)  # G, in C major
    melody = parse_tinynotation(MELODY)
    settings = GenerationSettings(mode="harmonize", key="C", random_seed=4, harmony_weight=8)
    notes = generate(steered, melody, settings).notes
    bass = notes[(notes["part"] == 3) & (notes["start_tick"] < notes["start_tick"].max())]  # the final chord is the tonic's
    assert len(bass) and (bass["pitch"] % 12 == 7).mean() >= 0.8
    off = GenerationSettings(mode="harmonize", key="C", random_seed=4, harmony_weight=0)
    alone = GenerationSettings(mode="harmonize", key="C", random_seed=4)
    assert generate(steered, melody, off).notes.tobytes() == generate(with_prior(model, None), melody, alone).notes.tobytes()


def test_a_damaged_prior_is_one_clear_error(model):
    styles = {"chorale": {"pieces": 10, "programs": [52] * 4, "pitch_ranges": RANGES, "harmony": {"voices": 3, "counts": "AAAA"}}}
    damaged = Model(model.network, model.tokenizer, {"styles": styles})
    with pytest.raises(GenerationError, match="harmony prior"):
        generate(damaged, parse_tinynotation(MELODY), GenerationSettings(mode="harmonize", key="C"))
