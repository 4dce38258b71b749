"""A model's bits per note next to the n-gram baselines over the same tokens, valid and test, in one run.

    python benchmarks/model_vs_ngram.py MODEL CORPUS_DIR [--orders 5 16] [--augment]

The numbers in the model cards (models/*.md) come from this script. The
n-gram is interpolated modified Kneser-Ney (benchmarks/ngram_baseline.py):
order 5 is the plain baseline; a higher order with transposed training copies
is the strongest n-gram we found (choose its order on valid).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ngram_baseline import ngram_bits_per_note  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--orders", type=int, nargs="+", default=[5, 16])
    parser.add_argument("--augment", action="store_true", help="also n-grams trained with transposed copies")
    args = parser.parse_args()

    from composer.evaluation import evaluate

    rows = []
    for split in ("valid", "test"):
        start = time.perf_counter()
        m = evaluate(args.model, args.corpus, split)
        rows.append((f"model {Path(args.model).name}", split, m, time.perf_counter() - start))
        for order in args.orders:
            for augment in ([False, True] if args.augment else [False]):
                r = ngram_bits_per_note(args.corpus, order=order, split=split, augment=augment)
                rows.append((f"{order}-gram KN" + (" + transposed copies" if augment else ""), split, r, r.get("seconds", 0.0)))
    print(f"corpus {args.corpus}\n")
    print("| model | split | bits per note | tokens per note | token accuracy | seconds |")
    print("|---|---|---|---|---|---|")
    for name, split, r, seconds in rows:
        print(f"| {name} | {split} | {r['bits_per_note']:.3f} | {r['tokens_per_note']:.3f} | {r['token_accuracy']:.3f} | {seconds:.1f} |")
    for split in ("valid", "test"):
        model = next(r for n, s, r, _ in rows if s == split and n.startswith("model"))
        best = min((r["bits_per_note"], n) for n, s, r, _ in rows if s == split and not n.startswith("model"))
        print(f"\n{split}: model {model['bits_per_note']:.3f} vs best n-gram {best[0]:.3f} ({best[1]}): {best[0] - model['bits_per_note']:+.3f} bits per note in the model's favour")


if __name__ == "__main__":
    main()
