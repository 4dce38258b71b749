"""Recompute a model file's style profiles and data sources from its corpus's train split, weights untouched.

    python benchmarks/refresh_styles.py MODEL CORPUS_DIR [--harmonizer-epochs N] [--unmarked-share S]

Training writes the profiles (``composer.dataset.style_profiles``: each style's
parts, each part's pitch range and how often its notes overlap one another)
into the model file (with a style of several parts, its melody-ahead harmony
prior and its harmonizer: ``composer.harmony``; ``--harmonizer-epochs 0``
leaves the harmonizer out, and the file's own training seed seeds it). A model trained before a profile field existed lacks it;
this adds it from the same train split the model learned from (the file's
``train_files_sha1`` must match the corpus), so generation can use it without
retraining. It also writes ``data_sources`` (``composer.corpus.data_sources``:
the train split's source folders with their licence notes from each
collection's ``sources.csv``), which training records too. The weights stay
byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--harmonizer-epochs", type=int, default=None, help="epochs of each several-part style's harmonizer (default: training's; 0: none)")
    parser.add_argument("--unmarked-share", type=float, default=None, help="share of pieces the harmonizer also sees without phrase ends (default: HarmonizerTraining's)")
    args = parser.parse_args()

    from composer.corpus import data_sources
    from composer.dataset import load_tokens, style_profiles
    from composer.modelfile import find_model, load_model, update_training_metadata
    from composer.nn.configs import HarmonizerTraining
    from composer.training import TrainConfig

    path = find_model(args.model)
    model = load_model(path)
    style = (model.training.get("train_config") or {}).get("style")
    data = load_tokens(args.corpus, model.tokenizer, style=style)
    trained_on = model.training.get("train_files_sha1")
    if trained_on and data.files_sha1.get("train") != trained_on:
        sys.exit(f"{args.corpus}: its train split is not the one {path} learned from (train_files_sha1 differs)")
    epochs = TrainConfig().harmonizer_epochs if args.harmonizer_epochs is None else args.harmonizer_epochs
    seed = int((model.training.get("train_config") or {}).get("random_seed", 0))
    unmarked = HarmonizerTraining().unmarked_share if args.unmarked_share is None else args.unmarked_share
    training = HarmonizerTraining(epochs=epochs, random_seed=seed, unmarked_share=unmarked) if epochs else None
    styles = style_profiles(data.splits["train"], model.tokenizer, training,
                            lambda style, epoch, epochs, loss: print(f"harmonizer of style {style}: epoch {epoch}/{epochs}, loss {loss:.3f}", flush=True))
    sources = data_sources(args.corpus, data.splits["train"].names)
    update_training_metadata(path, {"styles": styles, "data_sources": sources})
    shown = {name: {k: (f"<{v['voices']} voices>" if k == "harmony" else "<weights>" if k == "harmonizer" else v) for k, v in profile.items()} for name, profile in styles.items()}
    print(f"{path}: styles = {json.dumps(shown)}")
    listed = ", ".join(f"{d['source']} ({d['files']} files)" for d in sources) or "none (a folder without manifests)"
    print(f"{path}: data_sources = {listed}")


if __name__ == "__main__":
    main()
