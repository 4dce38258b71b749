"""What the features ahead are worth: bits per note and per part's pitch, with more and more of the future given.

    python benchmarks/ahead_bits.py [--models chorale ...] [--corpus midi_corpus/chorales] [--split valid]

For every piece of the split (valid unless told otherwise: never tune on test)
each model scores the tokens four times (composer.tokens.ahead): with nothing
of the future given (the echoes of earlier bars only: how ``composer
evaluate`` scores), with the piece's length, with the length and the top
part's notes ahead (what harmonizing gives), and with those and the phrase
ends (a melody with its fermatas). Printed per model: bits per note over all
tokens, and bits per Pitch token of each part. A model without features gets
one row. The soprano's own pitches become nearly free once its next notes are
given; the lower parts' figures are what harmonizing gains.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer.tokens.ahead import ECHO_COLUMNS, LENGTH_COLUMNS, MELODY_COLUMNS, PHRASE_COLUMNS  # noqa: E402

GIVEN = {
    "nothing ahead (echoes only)": (),
    "+ length": (LENGTH_COLUMNS,),
    "+ length + melody": (LENGTH_COLUMNS, MELODY_COLUMNS),
    "+ length + melody + phrase ends": (LENGTH_COLUMNS, MELODY_COLUMNS, PHRASE_COLUMNS),
}


def piece_scores(model: object, ids: np.ndarray, phrase_ends: list[int] | None, groups: tuple, parts: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(bits over every token after the first, bits per part's Pitch tokens, Pitch tokens per part) of one piece."""
    import torch

    from composer.tokens import K_PITCH, Walker
    from composer.tokens.ahead import features_of

    tok, network = model.tokenizer, model.network
    columns = len(getattr(model.config, "ahead_sizes", ()))
    ahead = None
    if columns:
        features, _ = features_of(ids, tok.grammar, tok.config.steps_per_beat, phrase_ends)
        keep = [c for c in ECHO_COLUMNS if c < columns] + [c for group in groups for c in group if c < columns]
        given = np.zeros((len(ids), columns), np.int64)
        given[:, keep] = features[:, keep]
        ahead = torch.as_tensor(given[None, :-1])
    with torch.no_grad():
        x = torch.as_tensor(ids[None, :-1])
        logits = network.forward_windowed(x, ahead)[0] if hasattr(network, "forward_windowed") else network(x, ahead)[0]
    nll = -torch.log_softmax(logits.float(), -1)[torch.arange(len(ids) - 1), torch.as_tensor(ids[1:])].numpy() / np.log(2)
    per_part, counts = np.zeros(parts), np.zeros(parts)
    walker = Walker(tok.grammar)
    for t, token in enumerate(ids.tolist()):
        if walker.feed(token) == K_PITCH and t >= 1 and walker.part < parts:
            per_part[walker.part] += nll[t - 1]
            counts[walker.part] += 1
    return float(nll.sum()), per_part, counts


def run(model_name: str, corpus: str, split_name: str, parts: int) -> dict[str, tuple[float, np.ndarray]]:
    import composer
    from composer.dataset import load_tokens

    model = composer.load_model(model_name)
    model.network.eval()
    split = load_tokens(corpus, model.tokenizer).splits[split_name]
    rows = GIVEN if getattr(model.config, "ahead_sizes", ()) else {"(no features)": ()}
    out = {}
    for label, groups in rows.items():
        bits, per_part, counts = 0.0, np.zeros(parts), np.zeros(parts)
        for i in range(len(split)):
            b, p, c = piece_scores(model, np.asarray(split.piece(i), np.int64), split.phrase_ends(i), groups, parts)
            bits, per_part, counts = bits + b, per_part + p, counts + c
        out[label] = (bits / split.num_notes, per_part / np.maximum(counts, 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["chorale"])
    parser.add_argument("--corpus", default="midi_corpus/chorales")
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"))
    parser.add_argument("--parts", type=int, default=4)
    args = parser.parse_args()
    heads = " | ".join(f"part {p} bits per pitch" for p in range(args.parts))
    print(f"split {args.split} of {args.corpus}\n\n| model | given | bits per note | {heads} |\n|---|---|---:|" + "---:|" * args.parts)
    for name in args.models:
        for label, (bits, per_part) in run(name, args.corpus, args.split, args.parts).items():
            print(f"| {name} | {label} | {bits:.3f} | " + " | ".join(f"{v:.3f}" for v in per_part) + " |", flush=True)


if __name__ == "__main__":
    main()
