"""Particles weighted by the given notes ahead (composer.lookahead), on a tiny random-weight model."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from composer import lookahead
from composer.generate import GenerationSettings, generate, generate_batch
from composer.io.notation import parse_tinynotation
from composer.lookahead import ParticleFilter, clone_state, systematic_resample
from composer.score import quantize
from conftest import note_rows, tiny_model

MELODY = "tinynotation: 4/4 e'4 e' f' g' g' f' e' d' c' c' d' e' e'4. d'8 d'2"


def top_rows(score):
    return [(s, d, p) for s, d, p, part in note_rows(score) if part == 0]


def melody_rows():
    return [(s, d, p) for s, d, p, _ in note_rows(quantize(parse_tinynotation(MELODY), 24))]


def test_systematic_resampling_draws_in_proportion():
    rng = np.random.default_rng(0)
    assert systematic_resample(np.full(4, 0.25), rng).tolist() == [0, 1, 2, 3]
    assert systematic_resample(np.array([0.0, 1.0, 0.0, 0.0]), rng).tolist() == [1, 1, 1, 1]
    for _ in range(20):
        w = rng.dirichlet(np.ones(5))
        counts = np.bincount(systematic_resample(w, rng), minlength=5)
        assert (np.abs(counts - 5 * w) < 1).all()  # each index floor or ceil of K w_i times


def test_a_cloned_state_shares_nothing_mutable():
    class Fake:
        def __init__(self):
            self.queue, self.tokens, self.required, self.done = deque([1, 2]), [3], {1}, False

    a = Fake()
    b = clone_state(a)
    b.queue.popleft(), b.tokens.append(4), b.required.add(2)
    assert (list(a.queue), a.tokens, a.required) == ([1, 2], [3], {1})


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
@pytest.mark.parametrize("always", [False, True])
def test_particles_keep_the_melody_note_for_note_and_stop_with_it(arch, always, monkeypatch):
    if always:  # resample at every finished note: stresses the copies of states and caches
        monkeypatch.setattr(lookahead, "RESAMPLE_ESS", 2.0)
    net = tiny_model(arch)
    melody = parse_tinynotation(MELODY)
    for random_seed in (0, 1):
        out = generate(net, melody, GenerationSettings(mode="harmonize", random_seed=random_seed, particles=4))
        assert top_rows(out) == melody_rows()
        assert int((out.notes["start_tick"] + out.notes["duration_ticks"]).max()) == 16 * 480
        assert set(np.unique(out.notes["part"]).tolist()) == {0, 1, 2, 3}
        assert "particles=4" in out.metadata["settings"]


def test_resampling_happens_and_a_group_keeps_its_likeliest_particle(model, monkeypatch):
    made = []
    original = ParticleFilter.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ParticleFilter, "__init__", spy)
    generate(model, parse_tinynotation(MELODY), GenerationSettings(mode="harmonize", random_seed=3, particles=8))
    (tracker,) = made
    assert tracker.resamplings > 0
    assert (tracker.note_logp < 0).all()  # every given note was credited to every particle


def test_same_seed_same_piece_and_one_particle_is_plain_sampling(model):
    melody = parse_tinynotation(MELODY)
    settings = GenerationSettings(mode="harmonize", random_seed=5, particles=6)
    a, b = generate(model, melody, settings), generate(model, melody, settings)
    assert note_rows(a) == note_rows(b) and a.metadata == b.metadata
    plain = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=5))
    one = generate(model, melody, GenerationSettings(mode="harmonize", random_seed=5, particles=1))
    assert note_rows(one) == note_rows(plain)


def test_a_batch_of_particle_groups_gives_one_piece_each(model):
    pieces = generate_batch(model, parse_tinynotation(MELODY), GenerationSettings(mode="harmonize", random_seed=2, particles=3), num_samples=2)
    assert len(pieces) == 2 and all(top_rows(p) == melody_rows() for p in pieces)


def test_particles_continue_a_seed_and_from_scratch(model):
    seed = parse_tinynotation("tinynotation: 3/4 c4 d8 e f4 g a2 g4")
    kept = generate(model, seed, GenerationSettings(bars=4, random_seed=1, particles=3))
    assert top_rows(kept)[:5] == [(s, d, p) for s, d, p, _ in note_rows(quantize(seed, 24))][:5]
    scratch = generate(model, None, GenerationSettings(bars=2, random_seed=1, particles=3, style="chorale"))
    assert note_rows(scratch) == note_rows(generate(model, None, GenerationSettings(bars=2, random_seed=1, style="chorale")))


@pytest.mark.parametrize("bad", [0, 65, 1.5, True])
def test_particles_out_of_range_are_refused(bad):
    from composer.generate import GenerationError

    with pytest.raises(GenerationError, match="particles must be a whole number 1..64"):
        GenerationSettings(particles=bad)


def test_cli_particles(tmp_path):
    from click.testing import CliRunner

    from composer.cli import cli
    from composer.formats import read
    from composer.modelfile import save_model

    path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), path)
    runner = CliRunner()
    bad = runner.invoke(cli, ["harmonize", MELODY, "-o", str(tmp_path / "x.mid"), "--model", str(path), "--particles", "0"])
    assert bad.exit_code == 2 and not (tmp_path / "x.mid").exists()
    outs = []
    for name in ("a.mid", "b.mid"):
        result = runner.invoke(cli, ["harmonize", MELODY, "-o", str(tmp_path / name), "--model", str(path), "--particles", "3", "--random-seed", "4"])
        assert result.exit_code == 0, result.output
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]  # same seed, same bytes
    assert top_rows(read(tmp_path / "a.mid")) == melody_rows()
