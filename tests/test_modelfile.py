"""Model files: one safetensors file with weights, config, tokenizer and training metadata; no pickle."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from composer.errors import WriteError  # noqa: E402
from composer.modelfile import (  # noqa: E402
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    MODELS_ENV,
    Model,
    ModelFileError,
    find_model,
    list_models,
    load_model,
    model_info,
    read_header,
    save_model,
)
from composer.nn import build_model  # noqa: E402
from composer.tokens import Tokenizer, TokenizerConfig  # noqa: E402
from conftest import rewrite_safetensors  # noqa: E402

TINY = {
    "transformer": {"n_layers": 2, "d_model": 32, "n_heads": 2, "context_len": 64},
    "lstm": {"n_layers": 2, "d_embed": 32, "d_hidden": 48},
}
TRAINING = {"corpus": "tunes", "steps": 12, "valid_bits_per_note": 3.25, "library_versions": {"torch": torch.__version__}}


def tiny_model(arch: str, seed: int = 0, **options) -> Model:
    tokenizer = Tokenizer()
    torch.manual_seed(seed)
    network = build_model(arch, {"vocab_size": len(tokenizer), **TINY[arch], **options})
    with torch.no_grad():  # move every weight away from its init so a skipped load would show
        for p in network.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return Model(network.eval(), tokenizer, dict(TRAINING))


def logits(model: Model, ids: torch.Tensor) -> torch.Tensor:
    model.network.eval()
    with torch.no_grad():
        return model.network(ids)


@pytest.fixture
def ids() -> torch.Tensor:
    return torch.randint(3, len(Tokenizer()), (2, 40), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_round_trip_gives_the_same_logits(tmp_path, ids, arch):
    model = tiny_model(arch)
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.arch == arch and loaded.path == path and loaded.name == "m"
    assert loaded.network.config == model.network.config
    assert loaded.tokenizer.tokens == model.tokenizer.tokens
    assert loaded.training == TRAINING
    assert not loaded.network.training  # loaded ready for inference
    assert torch.equal(logits(loaded, ids), logits(model, ids))
    assert loaded.network.num_parameters() == model.network.num_parameters()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temporary files left


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_half_precision_file_is_half_the_size_and_close(tmp_path, ids, arch):
    model = tiny_model(arch)
    full = save_model(model, tmp_path / "full.safetensors")
    half = save_model(model, tmp_path / "half.safetensors", half=True)
    with safe_open(str(half), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half)
    assert {p.dtype for p in loaded.network.parameters()} == {torch.float32}  # computed in float32 after loading
    reference, approx = logits(model, ids), logits(loaded, ids)
    assert not torch.equal(reference, approx)
    assert torch.allclose(approx, reference, atol=2e-2, rtol=1e-2), (approx - reference).abs().max()
    assert (approx.argmax(-1) == reference.argmax(-1)).float().mean() > 0.95


def test_header_fields(tmp_path):
    model = tiny_model("transformer")
    path = save_model(model, tmp_path / "m.safetensors")
    meta = read_header(path)
    assert {"format", "format_version", "arch", "model_config", "tokenizer", "training"} <= set(meta)
    assert meta["format"] == MODEL_FORMAT and meta["format_version"] == str(MODEL_FORMAT_VERSION)
    assert meta["arch"] == "transformer"
    config = json.loads(meta["model_config"])
    assert config["vocab_size"] == len(model.tokenizer) and config["n_layers"] == 2 and config["d_model"] == 32
    assert Tokenizer.from_dict(json.loads(meta["tokenizer"])).tokens == model.tokenizer.tokens
    assert json.loads(meta["training"]) == TRAINING
    assert all(isinstance(v, str) for v in meta.values())


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path, ids):
    model = tiny_model("transformer")  # tie_embeddings is the transformer's default
    assert model.network.head.weight is model.network.tok_emb.weight
    path = save_model(model, tmp_path / "m.safetensors")
    stored = set(load_file(str(path)))
    assert "tok_emb.weight" in stored and "head.weight" not in stored
    loaded = load_model(path).network
    assert loaded.head.weight.data_ptr() == loaded.tok_emb.weight.data_ptr()
    assert torch.equal(loaded.head.weight, model.network.head.weight)


def test_a_different_tokenizer_config_round_trips(tmp_path, ids):
    tokenizer = Tokenizer(TokenizerConfig(styles=("unknown", "chorale", "jig")))
    network = build_model("lstm", {"vocab_size": len(tokenizer), **TINY["lstm"]})
    path = save_model(Model(network.eval(), tokenizer), tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.tokenizer.config == tokenizer.config and len(loaded.tokenizer) == len(tokenizer)


def test_save_refuses_to_overwrite_without_force(tmp_path):
    path = save_model(tiny_model("lstm"), tmp_path / "m.safetensors")
    before = path.read_bytes()
    with pytest.raises(WriteError, match="exists"):
        save_model(tiny_model("lstm", seed=1), path)
    assert path.read_bytes() == before
    save_model(tiny_model("lstm", seed=1), path, force=True)
    assert path.read_bytes() != before


def test_find_model_by_name_through_the_search_path(tmp_path, monkeypatch, ids):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    save_model(tiny_model("lstm"), first / "folk.safetensors")
    save_model(tiny_model("transformer"), second / "chorale.safetensors")
    save_model(tiny_model("transformer", seed=3), second / "folk.safetensors")  # shadowed by the first folder
    monkeypatch.setenv(MODELS_ENV, os.pathsep.join([str(first), str(second)]))
    assert find_model("folk") == first / "folk.safetensors"
    assert find_model("chorale") == second / "chorale.safetensors"
    assert load_model("chorale").arch == "transformer" and load_model("folk").arch == "lstm"
    assert find_model(second / "folk.safetensors") == second / "folk.safetensors"  # a path is a path
    with pytest.raises(ModelFileError) as info:
        find_model("nope")
    message = str(info.value)
    assert "no model named 'nope'" in message and "chorale" in message and "folk" in message and MODELS_ENV in message
    with pytest.raises(ModelFileError, match="no such model file"):
        find_model(tmp_path / "missing.safetensors")
    with pytest.raises(ModelFileError, match="no such model file"):
        read_header(tmp_path / "missing.safetensors")


def test_list_models_takes_the_first_readable_file_of_each_name(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    training = {**TRAINING, "styles": {"jig": {}, "air": {}}, "test_bits_per_note": 4.25, "sampling": {"top_p": 0.9}}
    save_model(Model(tiny_model("lstm").network, Tokenizer(), training), first / "folk.safetensors")
    save_model(tiny_model("transformer"), second / "folk.safetensors")  # shadowed by the first folder
    (first / "broken.safetensors").write_text("not a model")  # skipped, so the readable one behind it counts
    save_model(tiny_model("transformer"), second / "broken.safetensors")
    (second / "notes.txt").write_text("ignored")
    monkeypatch.setenv(MODELS_ENV, os.pathsep.join([str(first), str(second), str(tmp_path / "missing")]))
    found = {info.name: info for info in list_models()}
    assert {"folk", "broken"} <= set(found)
    folk = found["folk"]
    assert (folk.path, folk.arch, folk.styles, folk.test_bits_per_note, folk.sampling) == (first / "folk.safetensors", "lstm", ("air", "jig"), 4.25, {"top_p": 0.9})
    assert folk.size_bytes == (first / "folk.safetensors").stat().st_size
    assert found["broken"].path == second / "broken.safetensors" and found["broken"].arch == "transformer"
    assert (found["broken"].styles, found["broken"].test_bits_per_note, found["broken"].sampling) == ((), None, {})
    with pytest.raises(ModelFileError, match="not safetensors"):
        model_info(first / "broken.safetensors")


def test_bad_model_files_raise_model_file_error(tmp_path):
    good = save_model(tiny_model("transformer"), tmp_path / "good.safetensors")
    text = tmp_path / "text.safetensors"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not safetensors"):
        load_model(text)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFileError, match="safetensors without"):
        load_model(plain)
    with pytest.raises(ModelFileError, match="version '99' is not supported"):
        load_model(rewrite_safetensors(good, tmp_path / "v99.safetensors", format_version="99"))
    with pytest.raises(ModelFileError, match="version None is not supported"):
        load_model(rewrite_safetensors(good, tmp_path / "noversion.safetensors", format_version=None))
    with pytest.raises(ModelFileError, match="damaged model header"):
        load_model(rewrite_safetensors(good, tmp_path / "noarch.safetensors", arch=None))
    with pytest.raises(ModelFileError, match="damaged model header"):
        load_model(rewrite_safetensors(good, tmp_path / "arch.safetensors", arch="gru"))
    with pytest.raises(ModelFileError, match="damaged model header"):
        load_model(rewrite_safetensors(good, tmp_path / "tok.safetensors", tokenizer=json.dumps({"format": "composer-tokenizer", "format_version": 1, "config": {}, "tokens": ["PAD"]})))
    config = json.loads(read_header(good)["model_config"])
    with pytest.raises(ModelFileError, match="vocabulary mismatch"):
        load_model(rewrite_safetensors(good, tmp_path / "vocab.safetensors", model_config=json.dumps(dict(config, vocab_size=config["vocab_size"] - 1))))
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(rewrite_safetensors(good, tmp_path / "layers.safetensors", model_config=json.dumps(dict(config, n_layers=3))))


def test_loading_never_unpickles(tmp_path, monkeypatch, ids):
    import pickle

    model = tiny_model("lstm")
    path = save_model(model, tmp_path / "m.safetensors", half=True)

    def forbidden(*args, **kwargs):
        raise AssertionError("model loading unpickled something")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    assert load_model(path).arch == "lstm"
    data = path.read_bytes()  # plain safetensors: 8-byte header length, JSON header, raw tensor bytes
    length = int.from_bytes(data[:8], "little")
    assert data[8:9] == b"{" and json.loads(data[8 : 8 + length])["__metadata__"]["format"] == MODEL_FORMAT
