"""Which sampling settings make music closest to the real thing?

    python benchmarks/tune_sampling.py MODEL CORPUS_DIR [--samples 30] [--bars 8] [--split valid]
        [--temperatures 1.0 0.9 0.8] [--top-ps 1.0 0.95 0.9]

For every (temperature, top_p) pair it generates the same number of pieces
with the same random seeds (composer.evaluation.evaluate_samples) and compares
them with the split's pieces: the mean overlap area over the metrics of
composer.metrics and note lengths (higher is closer to real music), and, for
four-part styles, voice crossings and range violations per 100 notes
(parallels are masked, as by default). The valid split by
default, so that choosing defaults on it does not flatter the test-split
figures of the README's Results. All settings run in one process, one after
the other, on the same machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--bars", type=int, default=8)
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"))
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.9, 0.8])
    parser.add_argument("--top-ps", type=float, nargs="+", default=[1.0, 0.95, 0.9])
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--save", action="store_true",
                        help="store the best setting in the model file as its recommended sampling "
                             "(when it beats plain sampling, temperature 1 and top_p 1, by --min-gain)")
    parser.add_argument("--min-gain", type=float, default=0.02,
                        help="mean overlap a setting must gain over plain sampling to be recommended")
    args = parser.parse_args()

    from composer.evaluation import evaluate_samples
    from composer.modelfile import load_model, update_training_metadata

    model = load_model(args.model)
    print(f"model {args.model!r} against the {args.split} split of {args.corpus}: {args.samples} pieces of {args.bars} bars "
          f"per setting, random seeds {args.random_seed}..{args.random_seed + args.samples - 1}\n")
    scores: dict[tuple[float, float], float] = {}
    print("| temperature | top_p | mean overlap | lowest overlap (metric) | voice crossings / range violations per 100 notes | seconds |")
    print("|---|---|---|---|---|---|")
    for temperature in args.temperatures:
        for top_p in args.top_ps:
            start = time.perf_counter()
            # Explicit values (1 means off), so a recommendation already in the model file plays no part.
            result = evaluate_samples(model, args.corpus, samples=args.samples, split=args.split, bars=args.bars,
                                      random_seed=args.random_seed, temperature=temperature, top_p=top_p,
                                      originality=False)
            figures = result.to_dict()
            overlaps = {name: m["overlap"] for name, m in figures["metrics"].items() if m["overlap"] is not None}
            overlaps["note_lengths"] = figures["note_lengths"]["overlap"]
            worst = min(overlaps, key=overlaps.get)
            scores[temperature, top_p] = statistics.mean(overlaps.values())
            faults = "–"
            if figures["voice_leading"]:
                rates = figures["voice_leading"]["model"]["per_100_notes"]
                faults = f"{rates['voice_crossings']:.2f} / {rates['range_violations']:.2f}"
            print(f"| {temperature:g} | {top_p:g} | {statistics.mean(overlaps.values()):.3f} | "
                  f"{overlaps[worst]:.2f} ({worst}) | {faults} | {time.perf_counter() - start:.0f} |", flush=True)
    (best_t, best_p), best = max(scores.items(), key=lambda item: item[1])
    plain = scores.get((1.0, 1.0))
    if plain is None or best - plain < args.min_gain:
        recommended: dict[str, float] = {}
        print(f"\nbest: temperature {best_t:g}, top_p {best_p:g} ({best:.3f}); plain sampling "
              f"({'not measured' if plain is None else f'{plain:.3f}'}) is kept: the gain is under {args.min_gain}")
    else:
        recommended = {"temperature": best_t} if best_t != 1.0 else {}
        recommended |= {"top_p": best_p} if best_p < 1.0 else {}
        print(f"\nbest: temperature {best_t:g}, top_p {best_p:g}: mean overlap {best:.3f} against {plain:.3f} for plain sampling")
    if args.save:
        if model.path is None:
            sys.exit("--save needs a model file")
        tuning = {"command": "python benchmarks/tune_sampling.py " + " ".join(sys.argv[1:]),
                  "split": args.split, "samples": args.samples, "bars": args.bars,
                  "mean_overlap": {f"temperature={t:g} top_p={p:g}": round(v, 4) for (t, p), v in scores.items()}}
        update_training_metadata(model.path, {"sampling": recommended, "sampling_tuning": tuning})
        print(f"saved in {model.path}: recommended sampling {recommended or 'plain (none)'}")


if __name__ == "__main__":
    main()

