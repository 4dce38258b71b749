"""A model's music against a corpus: one Markdown report and one PNG of the metric distributions.

    python benchmarks/report.py MODEL CORPUS_DIR [--samples 20] [--bars 16] [--split test] [--random-seed 0] [-o OUT] [--force]

Generates the pieces and compares them as `composer evaluate MODEL CORPUS_DIR
--samples N` does (composer.evaluation.evaluate_samples), then writes

* OUT.md: the command, the time it took, and the tables (metrics with their
  overlap areas, note lengths, voice leading for four-part styles, copied
  passages), with the plot linked;
* OUT.png: per metric, the two kernel density estimates the overlap area is
  computed from (model and corpus, the overlap shaded; the title gives the
  real-vs-real yardstick too), and the two mean note length histograms.

OUT defaults to benchmarks/results/<model name>. The README's Results section
shows the shipped models' reports.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).resolve().parent / "results"
MODEL_COLOUR = "#d1495b"
CORPUS_COLOUR = "#00798c"


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def plot(evaluation, path: Path, *, force: bool = False) -> Path:
    """The metric distributions of an evaluation as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from composer.evaluation import LABELS
    from composer.io.atomic import write_bytes_atomic
    from composer.metrics import NOTE_LENGTH_BIN_NAMES, kernel_densities

    panels = len(evaluation.metrics) + 1
    columns = 3
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.9 * rows), squeeze=False)
    flat = axes.ravel()
    for ax, metric in zip(flat, evaluation.metrics):
        label = LABELS.get(metric.name, (metric.name, ""))[0]
        grid, model_density, corpus_density = kernel_densities(metric.model_values, metric.corpus_values)
        if len(grid):
            ax.fill_between(grid, np.minimum(model_density, corpus_density), color="0.85", label="overlap")
            ax.plot(grid, corpus_density, color=CORPUS_COLOUR, label="corpus")
            ax.plot(grid, model_density, color=MODEL_COLOUR, label="model")
        else:  # no spread at all: mark the values themselves
            for values, colour in ((metric.corpus_values, CORPUS_COLOUR), (metric.model_values, MODEL_COLOUR)):
                finite = [v for v in values if not math.isnan(v)]
                if finite:
                    ax.axvline(finite[0], color=colour)
        ax.set_title(f"{label}\noverlap {_number(metric.overlap)} (real vs real {_number(metric.reference_overlap)})", fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=8)
    ax = flat[len(evaluation.metrics)]
    x = np.arange(len(NOTE_LENGTH_BIN_NAMES))
    ax.bar(x - 0.2, evaluation.note_lengths_corpus, width=0.4, color=CORPUS_COLOUR, label="corpus")
    ax.bar(x + 0.2, evaluation.note_lengths_model, width=0.4, color=MODEL_COLOUR, label="model")
    ax.set_xticks(x, [name.replace("dotted ", "dot. ").replace("triplet", "trip.") for name in NOTE_LENGTH_BIN_NAMES], rotation=60, ha="right", fontsize=7)
    ax.set_title(f"note lengths (share of notes)\noverlap {_number(evaluation.note_lengths_overlap)} (real vs real {_number(evaluation.note_lengths_reference_overlap)})", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    for extra in flat[panels:]:
        extra.axis("off")
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"{evaluation.model}: {evaluation.samples} pieces of {evaluation.bars} bars against the {evaluation.split} split of {evaluation.corpus}", x=0.01, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue(), force=force)


def markdown(evaluation, command: str, seconds: float, png_name: str) -> str:
    return (
        f"```bash\n{command}\n```\n\n"
        f"({seconds:.0f} s, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})\n\n"
        f"{evaluation.to_markdown()}\n"
        f"![Metric distributions, model against corpus]({png_name})\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model name (chorale, folk) or .safetensors path")
    parser.add_argument("corpus", help="corpus folder, e.g. midi_corpus/chorales")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--allow-parallels", action="store_true", help="generate with parallel fifths and octaves allowed (masked by default)")
    parser.add_argument("-o", "--output", default=None, help="OUT: writes OUT.md and OUT.png (default benchmarks/results/<model name>)")
    parser.add_argument("--force", action="store_true", help="replace OUT.md and OUT.png if they exist")
    args = parser.parse_args(argv)

    from composer.errors import ComposerError
    from composer.evaluation import evaluate_samples
    from composer.io.atomic import check_writable, write_bytes_atomic

    stem = Path(args.output) if args.output else RESULTS / Path(args.model).stem
    md_path, png_path = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".png")
    try:
        if not args.output:
            RESULTS.mkdir(exist_ok=True)
        for path in (md_path, png_path):
            check_writable(path, force=args.force)
        start = time.perf_counter()

        def progress(done: int, total: int) -> None:
            print(f"\rgenerated {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

        evaluation = evaluate_samples(args.model, args.corpus, samples=args.samples, split=args.split, bars=args.bars, random_seed=args.random_seed, allow_parallels=args.allow_parallels, progress=progress)
        seconds = time.perf_counter() - start
        given = argv if argv is not None else sys.argv[1:]
        # --force only lets the files be replaced; the command shown is the one that makes these figures.
        command = "python benchmarks/report.py " + " ".join(shlex.quote(a) for a in given if a != "--force")
        plot(evaluation, png_path, force=args.force)
        write_bytes_atomic(md_path, markdown(evaluation, command, seconds, png_path.name).encode(), force=args.force)
    except ComposerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(evaluation.to_markdown())
    print(f"wrote {md_path} and {png_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
