"""Tests for composer.nn: cache/step equivalence, sliding window, training, configs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from composer.nn import (
    ARCHITECTURES,
    LSTMLM,
    LanguageModel,
    LSTMConfig,
    TransformerConfig,
    TransformerLM,
    build_model,
)

V = 50
TINY = {
    "transformer": dict(vocab_size=V, n_layers=2, d_model=32, n_heads=4, context_len=16, dropout=0.0),
    "lstm": dict(vocab_size=V, n_layers=2, d_embed=32, d_hidden=48, dropout=0.0),
}
ATOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(arch: str, seed: int = 0, **overrides) -> LanguageModel:
    torch.manual_seed(seed)
    return build_model(arch, {**TINY[arch], **overrides}).eval()


def random_ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (batch, length), generator=torch.Generator().manual_seed(seed))


# --- incremental generation == full forward ---------------------------------


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("batch", [1, 3])
def test_step_matches_forward_at_every_position(arch: str, batch: int) -> None:
    model = tiny(arch)
    ids = random_ids(batch, 16)
    with torch.no_grad():
        full = model(ids)
    cache = model.new_cache(batch)
    got = [model.prefill(ids[:, :1], cache)]
    got += [model.step(ids[:, t], cache) for t in range(1, ids.shape[1])]
    torch.testing.assert_close(torch.stack(got, 1), full, atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("batch", [1, 3])
def test_prefill_then_step_matches_forward(arch: str, batch: int) -> None:
    model = tiny(arch)
    ids = random_ids(batch, 16)
    with torch.no_grad():
        full = model(ids)
    cache = model.new_cache(batch)
    got = [model.prefill(ids[:, :6], cache)]
    got += [model.step(ids[:, t], cache) for t in range(6, ids.shape[1])]
    torch.testing.assert_close(torch.stack(got, 1), full[:, 5:], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_prefill_into_used_cache_continues_the_sequence(arch: str) -> None:
    model = tiny(arch)
    ids = random_ids(2, 12)
    with torch.no_grad():
        full = model(ids)
    cache = model.new_cache(2)
    model.prefill(ids[:, :5], cache)
    logits = model.prefill(ids[:, 5:], cache)
    torch.testing.assert_close(logits, full[:, -1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_step_outputs_are_inference_tensors_without_grad(arch: str) -> None:
    model = tiny(arch)
    cache = model.new_cache(2)
    logits = model.step(torch.tensor([1, 2]), cache)
    assert logits.shape == (2, V)
    assert not logits.requires_grad


# --- transformer sliding window ---------------------------------------------


@pytest.mark.parametrize("C", [1, 8])
def test_transformer_generates_past_context_len(C: int) -> None:
    model = tiny("transformer", context_len=C)
    ids = random_ids(2, 40)
    cache = model.new_cache(2)
    buffer = cache.kv.data_ptr()
    got = torch.stack([model.step(ids[:, t], cache) for t in range(40)], 1)
    assert cache.pos == 40
    assert cache.length <= cache.capacity == 2 * C
    assert cache.kv.data_ptr() == buffer  # preallocated: never reallocated or grown
    assert torch.isfinite(got).all()
    with torch.no_grad():
        # Before the window slides: plain causal forward.
        torch.testing.assert_close(got[:, :C], model(ids[:, :C]), atol=ATOL, rtol=0)
        # Throughout: each layer attends to the last C positions.
        torch.testing.assert_close(got, model.forward_windowed(ids), atol=ATOL, rtol=0)


def test_one_layer_window_equals_forward_on_last_context_len_tokens() -> None:
    # With one layer, cached keys depend only on token and position, so after
    # the window slides a step equals forward() over the last C tokens (RoPE
    # is relative).  With more layers deep keys see further back; see the
    # module docstring.
    C = 8
    model = tiny("transformer", context_len=C, n_layers=1)
    ids = random_ids(3, 40)
    cache = model.new_cache(3)
    for t in range(40):
        logits = model.step(ids[:, t], cache)
        lo = max(0, t + 1 - C)
        with torch.no_grad():
            expected = model(ids[:, lo:t + 1])[:, -1]
        torch.testing.assert_close(logits, expected, atol=ATOL, rtol=0)


def test_transformer_long_prompt_prefill_matches_windowed_forward() -> None:
    model = tiny("transformer", context_len=8)
    ids = random_ids(2, 30)
    with torch.no_grad():
        ref = model.forward_windowed(ids)
    cache = model.new_cache(2)
    got = [model.prefill(ids[:, :20], cache)] + [model.step(ids[:, t], cache) for t in range(20, 30)]
    torch.testing.assert_close(torch.stack(got, 1), ref[:, 19:], atol=ATOL, rtol=0)


def test_rope_depends_only_on_relative_position() -> None:
    # Starting the absolute positions a million tokens in must not change the
    # logits (float64 angles keep RoPE exact far out).
    model = tiny("transformer")
    ids = random_ids(1, 10)
    with torch.no_grad():
        full = model(ids)
    cache = model.new_cache(1)
    cache.pos = 1_000_003
    got = torch.stack([model.step(ids[:, t], cache) for t in range(10)], 1)
    torch.testing.assert_close(got, full, atol=ATOL, rtol=0)


def test_forward_windowed_equals_forward_within_context() -> None:
    model = tiny("transformer")
    ids = random_ids(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_windowed(ids), model(ids))


def test_forward_longer_than_context_len_raises() -> None:
    model = tiny("transformer", context_len=8)
    with pytest.raises(ValueError, match="sequence length 9 exceeds context_len=8"):
        model(random_ids(1, 9))


# --- training ---------------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_loss_falls_on_repeating_pattern(arch: str) -> None:
    model = tiny(arch).train()
    pattern = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    ids = pattern.repeat(4, 3)[:, :16]  # [4, 16]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


# --- configs and registry ---------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(vocab_size=50, d_model=250, n_heads=8),
            "n_heads must divide d_model: got d_model=250, n_heads=8",
        ),
        (dict(vocab_size=50, d_model=24, n_heads=8), "even head size"),
        (dict(vocab_size=0), "vocab_size must be >= 1, got 0"),
        (dict(vocab_size=50.0), "vocab_size must be an int"),
        (dict(vocab_size=50, n_layers=True), "n_layers must be an int"),
        (dict(vocab_size=50, d_ff=0), "d_ff must be >= 1"),
        (dict(vocab_size=50, dropout=1.0), "dropout must be >= 0.0 and < 1.0, got 1.0"),
        (dict(vocab_size=50, dropout=-0.1), "dropout must be"),
        (dict(vocab_size=50, context_len=0), "context_len must be >= 1"),
        (dict(vocab_size=50, rope_base=1.0), "rope_base must be > 1.0"),
        (dict(vocab_size=50, tie_embeddings="yes"), "tie_embeddings must be true or false"),
    ],
)
def test_transformer_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocab_size=-3), "vocab_size must be >= 1, got -3"),
        (dict(vocab_size=50, n_layers=0), "n_layers must be >= 1"),
        (dict(vocab_size=50, d_hidden=1.5), "d_hidden must be an int"),
        (dict(vocab_size=50, dropout="0.2"), "dropout must be a number"),
        (
            dict(vocab_size=50, tie_embeddings=True),
            "tie_embeddings needs d_embed == d_hidden: got d_embed=256, d_hidden=512",
        ),
    ],
)
def test_lstm_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LSTMConfig(**kwargs)


def test_config_defaults_and_json_round_trip() -> None:
    cfg = TransformerConfig(vocab_size=400)
    assert cfg.d_ff is None and cfg.ff_dim == 1024 and cfg.head_dim == 32
    for arch, config in [("transformer", cfg), ("lstm", LSTMConfig(vocab_size=400))]:
        data = json.loads(json.dumps(dataclasses.asdict(config)))
        assert ARCHITECTURES[arch][0](**data) == config
    # JSON tools may write 10000.0 as 10000: accepted and normalised to float.
    assert TransformerConfig(vocab_size=4, rope_base=10000).rope_base == 10000.0


def test_registry_and_build_model() -> None:
    assert ARCHITECTURES == {
        "transformer": (TransformerConfig, TransformerLM),
        "lstm": (LSTMConfig, LSTMLM),
    }
    for arch, (config_cls, model_cls) in ARCHITECTURES.items():
        model = build_model(arch, TINY[arch])
        assert isinstance(model, model_cls) and isinstance(model, LanguageModel)
        assert model.arch == arch
        assert model.config == config_cls(**TINY[arch])
        assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_build_model_errors() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'gru'; known: lstm, transformer"):
        build_model("gru", {"vocab_size": 5})
    with pytest.raises(ValueError, match="unknown config key.*: d_hidden, layers"):
        build_model("transformer", {"vocab_size": 5, "layers": 2, "d_hidden": 3})
    with pytest.raises(ValueError, match="missing required config key.*: vocab_size"):
        build_model("lstm", {"n_layers": 2})


def test_tied_embeddings_share_one_parameter() -> None:
    tied = tiny("transformer", tie_embeddings=True)
    untied = tiny("transformer", tie_embeddings=False)
    assert tied.head.weight is tied.tok_emb.weight
    assert untied.num_parameters() - tied.num_parameters() == V * 32
    lstm = tiny("lstm", d_embed=48, tie_embeddings=True)
    assert lstm.head.weight is lstm.embed.weight


def test_state_tensors_hold_a_tied_weight_once_as_copies() -> None:
    tied = tiny("transformer", tie_embeddings=True)
    tensors = tied.state_tensors()
    assert set(tied.state_dict()) - set(tensors) == {"head.weight"}
    assert all(t.is_contiguous() and not t.requires_grad for t in tensors.values())
    assert tensors["tok_emb.weight"].data_ptr() != tied.tok_emb.weight.data_ptr()  # a copy, not a view
    assert torch.equal(tensors["tok_emb.weight"], tied.tok_emb.weight)
    assert {t.dtype for t in tied.state_tensors(torch.float16).values() if t.is_floating_point()} == {torch.float16}
    untied = tiny("transformer", tie_embeddings=False)
    assert set(untied.state_tensors()) == set(untied.state_dict())


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_bad_step_and_prefill_inputs(arch: str) -> None:
    model = tiny(arch)
    cache = model.new_cache(2)
    with pytest.raises(ValueError, match="batch size 3 but the cache was made for 2"):
        model.step(torch.tensor([1, 2, 3]), cache)
    with pytest.raises(ValueError, match=r"shape \[B\]"):
        model.step(torch.tensor([[1], [2]]), cache)
    with pytest.raises(ValueError, match="int64"):
        model.step(torch.tensor([1.0, 2.0]), cache)
    with pytest.raises(ValueError, match="empty"):
        model.prefill(torch.zeros(2, 0, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        model.new_cache(0)


def test_lstm_step_restores_mkldnn_flag() -> None:
    model = tiny("lstm")
    before = torch.backends.mkldnn.enabled
    model.step(torch.tensor([1]), model.new_cache(1))
    assert torch.backends.mkldnn.enabled == before
