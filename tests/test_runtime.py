"""The numpy runtimes against the torch models: the same logits from the same weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from composer.modelfile import load_model
from composer.nn import ARCHITECTURES, build_model
from composer.nn.runtime import RUNTIMES, build_runtime, expected_shapes
from conftest import CORPUS
from test_nn import ATOL, TINY, V  # the same tiny models the torch tests use


pytestmark = pytest.mark.usefixtures("one_thread")


def pair(arch: str, seed: int = 0, **overrides):
    """A random torch model and the runtime built from its weights."""
    torch.manual_seed(seed)
    network = build_model(arch, {**TINY[arch], **overrides}).eval()
    weights = {k: v.detach().numpy() for k, v in network.state_dict().items()}
    return network, build_runtime(arch, network.config, weights)


def random_ids(batch: int, length: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, (batch, length))


def torch_logits(network, ids: np.ndarray, windowed: bool = False) -> np.ndarray:
    with torch.no_grad():
        t = torch.from_numpy(ids)
        return (network.forward_windowed(t) if windowed else network(t)).numpy()


def test_the_runtimes_cover_every_architecture() -> None:
    assert set(RUNTIMES) == set(ARCHITECTURES)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("tied", [False, True])
def test_expected_shapes_are_the_state_dict_with_a_tied_head_once(arch: str, tied: bool) -> None:
    overrides = {"tie_embeddings": tied} | ({"d_hidden": 32} if arch == "lstm" and tied else {})
    network, _ = pair(arch, **overrides)
    state = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    if tied:
        del state["head.weight"]
    assert expected_shapes(arch, network.config) == state


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("prompt", [1, 6])
def test_prefill_then_step_gives_the_torch_logits(arch: str, batch: int, prompt: int) -> None:
    network, runtime = pair(arch)
    ids = random_ids(batch, 16)
    full = torch_logits(network, ids)
    cache = runtime.new_cache(batch)
    got = [runtime.prefill(ids[:, :prompt], cache)]
    got += [runtime.step(ids[:, t], cache) for t in range(prompt, ids.shape[1])]
    got = np.stack(got, 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, full[:, prompt - 1:], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_prefill_into_a_used_cache_continues(arch: str) -> None:
    network, runtime = pair(arch)
    ids = random_ids(2, 12)
    cache = runtime.new_cache(2)
    runtime.prefill(ids[:, :5], cache)
    np.testing.assert_allclose(runtime.prefill(ids[:, 5:], cache), torch_logits(network, ids)[:, -1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("C", [1, 8])
def test_transformer_past_context_len_matches_the_sliding_window(C: int) -> None:
    network, runtime = pair("transformer", context_len=C)
    ids = random_ids(2, 40)
    cache = runtime.new_cache(2)
    got = np.stack([runtime.step(ids[:, t], cache) for t in range(40)], 1)
    assert cache.pos == 40 and cache.length <= cache.capacity == 2 * C
    np.testing.assert_allclose(got, torch_logits(network, ids, windowed=True), atol=ATOL, rtol=0)


def test_transformer_long_prompt_prefill_matches_the_sliding_window() -> None:
    network, runtime = pair("transformer", context_len=8)
    ids = random_ids(2, 30)
    cache = runtime.new_cache(2)
    got = [runtime.prefill(ids[:, :20], cache)] + [runtime.step(ids[:, t], cache) for t in range(20, 30)]
    np.testing.assert_allclose(np.stack(got, 1), torch_logits(network, ids, windowed=True)[:, 19:], atol=ATOL, rtol=0)


def test_gelu_matches_torch_to_float32_precision() -> None:
    from composer.nn.runtime import _gelu

    x = np.linspace(-12, 12, 100_001, dtype=np.float32)
    np.testing.assert_allclose(_gelu(x), torch.nn.functional.gelu(torch.from_numpy(x)).numpy(), atol=2e-6, rtol=0)


@pytest.mark.parametrize("name, piece", [("chorale", "chorales/bwv269.mid"), ("folk", None)])
def test_shipped_models_give_the_torch_logits_on_real_music(name: str, piece: str | None) -> None:
    from composer.formats import read

    model = load_model(name)
    path = CORPUS / piece if piece else sorted((CORPUS / "folk").glob("*.mid"))[0]
    ids = np.asarray([model.tokenizer.encode(read(path), name)[:160]])
    runtime = model.runtime
    cache = runtime.new_cache(1)
    got = np.stack([runtime.prefill(ids[:, :40], cache)] + [runtime.step(ids[:, t], cache) for t in range(40, ids.shape[1])], 1)
    np.testing.assert_allclose(got, torch_logits(model.network, ids)[:, 39:], atol=1e-3, rtol=0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_bad_ids_and_caches_raise(arch: str) -> None:
    _, runtime = pair(arch)
    cache = runtime.new_cache(2)
    with pytest.raises(ValueError, match=r"ids must be a non-empty integer array of shape \[B\]"):
        runtime.step(np.zeros((2, 1), np.int64), cache)
    with pytest.raises(ValueError, match="integer array"):
        runtime.step(np.zeros(2, np.float32), cache)
    with pytest.raises(ValueError, match=r"shape \[B, T\]"):
        runtime.prefill(np.zeros(2, np.int64), cache)
    with pytest.raises(ValueError, match="batch size 3 but the cache was made for 2"):
        runtime.step(np.zeros(3, np.int64), cache)
    with pytest.raises(ValueError, match="cache must come from new_cache"):
        runtime.step(np.zeros(2, np.int64), object())
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        runtime.new_cache(0)


def test_loading_and_generating_never_import_torch() -> None:
    code = (
        "import sys, composer\n"
        "model = composer.load_model('chorale')\n"
        "piece = model.generate(composer.parse_tinynotation('tinynotation: 4/4 c4 d e f'), bars=2, random_seed=1)\n"
        "assert len(piece.notes) > 4\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_select_makes_each_sequence_a_copy_of_the_chosen_one(arch: str) -> None:
    # Expectation without torch: a cache fed the reordered prompt from the start.
    _, runtime = pair(arch)
    ids = random_ids(3, 9)
    order = np.array([2, 0, 2])
    selected = runtime.new_cache(3)
    runtime.prefill(ids[:, :6], selected)
    selected.select(order)
    fresh = runtime.new_cache(3)
    runtime.prefill(ids[order, :6], fresh)
    for t in range(6, 9):
        np.testing.assert_allclose(runtime.step(ids[order, t], selected), runtime.step(ids[order, t], fresh), atol=1e-6, rtol=0)


def test_select_on_a_transformer_cache_past_its_window() -> None:
    _, runtime = pair("transformer", context_len=8)
    ids = random_ids(2, 30)
    selected, fresh = runtime.new_cache(2), runtime.new_cache(2)
    runtime.prefill(ids[:, :20], selected)
    selected.select([1, 1])
    runtime.prefill(ids[[1, 1], :20], fresh)
    np.testing.assert_allclose(runtime.prefill(ids[[1, 1], 20:], selected), runtime.prefill(ids[[1, 1], 20:], fresh), atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("bad", [[0, 1], [0, 1, 3], [0, -1, 1], [0.0, 1.0, 2.0]])
def test_select_refuses_indices_that_do_not_fit(arch: str, bad) -> None:
    _, runtime = pair(arch)
    cache = runtime.new_cache(3)
    with pytest.raises(ValueError, match="select: indices must be 3 integers"):
        cache.select(np.array(bad))
