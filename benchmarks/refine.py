"""Refinement without a person: ``composer refine chorale --select`` for a few rounds, measured.

    python benchmarks/refine.py [--rounds 3] [--samples 128] [--probe 30] [--steps N] [--lr X] [--avoid W] [--top-p P] [--max-parallels X] [--[no-]masked]
                                [--top-layers N] [--replay-share S] [--anchor W] [--work DIR] [--quick]

1. Before and after each round, the model generates ``--probe`` pieces of 8 bars with
   ``allow_parallels=True`` (the parallel-fifth mask off; random seed 1000, the same
   for every model) and their parallel fifths and octaves per 100 notes are counted
   (``composer.metrics.voice_leading``, pooled), with the longest passage each shares
   with the chorale corpus's train split (``composer.originality``: median and
   maximum in notes). Bits per note of the chorale corpus's valid split, too.
2. ``composer.refinement.select("chorale", ...)``: each round generates ``--samples``
   pieces of 8 bars (under the voice-leading masks, or with parallels allowed with
   ``--no-masked``; top-p ``--top-p``, default 1), keeps those that pass the checks of
   ``SelectConfig`` (at most 3 parallel fifths and octaves per 100 notes, no
   passage of more than 12 notes also in the train split, ending on the tonic),
   and fine-tunes the previous round's model on them with the fine-tuning preset
   and select's additions (``training.FINETUNE_PRESET``, ``SELECT_TRAIN_SETTINGS``:
   the parallels' loss ``--avoid``, the learning rate ``--lr``; ``select_guard``: the
   replay ``--replay-share`` and the anchor to the base model's predictions ``--anchor``).
   The probe is always unmasked.

Prints a Markdown table; the README's "Make it yours" quotes it. ``--quick`` is a
smoke run (1 round, 48 pieces, 4 steps, 6 probe pieces).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning threads crawl on a shared core

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from composer.generate import GenerationSettings, generate_batch  # noqa: E402
from composer.metrics import voice_leading  # noqa: E402
from composer.modelfile import Model, load_model  # noqa: E402
from composer.originality import shipped_index  # noqa: E402
from composer.refinement import SELECT_TRAIN_SETTINGS, SelectConfig, corpus_bits_per_note, select, select_guard  # noqa: E402
from composer.training import FINETUNE_PRESET, SilentReporter  # noqa: E402

CHORALES = ROOT / "midi_corpus" / "chorales"
PROBE_SEED = 1000
BARS = 8


class Lines(SilentReporter):
    """Each round's lines as they come, on stderr."""

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def measure(model: Model, pieces: int) -> dict[str, float]:
    """Parallels per 100 notes (fifths, octaves) of ``pieces`` unmasked pieces, their copied passages, and valid bits per note."""
    scores = generate_batch(model, None, GenerationSettings(bars=BARS, allow_parallels=True, random_seed=PROBE_SEED), num_samples=pieces)
    counts = [voice_leading(s) for s in scores]
    notes = sum(c.notes for c in counts)
    index = shipped_index()
    copied = [index.check(s).longest_notes for s in scores]
    return {
        "fifths": 100 * sum(c.parallel_fifths for c in counts) / notes,
        "octaves": 100 * sum(c.parallel_octaves for c in counts) / notes,
        "notes": notes,
        "copied_median": statistics.median(copied),
        "copied_max": max(copied),
        "valid_bits": corpus_bits_per_note(model, CHORALES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=SelectConfig().samples)
    parser.add_argument("--probe", type=int, default=30)
    parser.add_argument("--steps", type=int, default=None, help=f"most steps of each round's fine-tuning (default: the preset's {FINETUNE_PRESET['max_steps']})")
    parser.add_argument("--lr", type=float, default=None, help=f"learning rate (default: the preset's {FINETUNE_PRESET['learning_rate']:g})")
    parser.add_argument("--top-p", type=float, default=SelectConfig().top_p, help="top-p of the candidates (default: SelectConfig's)")
    parser.add_argument("--max-parallels", type=float, default=SelectConfig().max_parallels_per_100_notes)
    parser.add_argument("--work", type=Path, default=Path("/tmp/composer-refine-bench"))
    parser.add_argument("--masked", action=argparse.BooleanOptionalAction, default=SelectConfig().masked,
                        help="candidates written under the voice-leading masks, or (--no-masked) with parallels allowed (SelectConfig.masked)")
    parser.add_argument("--avoid", type=float, default=None, help="weight of the parallels' unlikelihood in fine-tuning (TrainConfig.avoid_parallels; default: select's)")
    parser.add_argument("--replay-share", type=float, default=None, help="share of each batch replayed from the chorale corpus (FineTuneConfig.replay_share; default: its)")
    parser.add_argument("--anchor", type=float, default=None, help="weight of the divergence from the base's predictions (FineTuneConfig.anchor; default: select's)")
    parser.add_argument("--top-layers", type=int, default=None, help="fine-tune only the top N transformer blocks (FineTuneConfig.top_layers)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.samples, args.steps, args.probe = 1, 48, 4, 6
    import torch

    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    base = load_model("chorale")
    checks = SelectConfig(rounds=args.rounds, samples=args.samples, bars=BARS, max_parallels_per_100_notes=args.max_parallels, top_p=args.top_p, random_seed=1, masked=args.masked)
    settings = {k: v for k, v in {"max_steps": args.steps, "learning_rate": args.lr, "avoid_parallels": args.avoid}.items() if v is not None}
    given = {"replay_share": args.replay_share, "anchor": args.anchor}
    guard = select_guard(top_layers=args.top_layers, **{k: v for k, v in given.items() if v is not None})
    result = select(base, args.work / "refined.safetensors", checks, train_settings=settings, finetune=guard, force=True, device="cpu", reporter=Lines())
    selecting = time.perf_counter() - began
    rows = [("chorale (base)", None, measure(base, args.probe))]
    for report in result.rounds:
        model = load_model(report.model_path) if report.model_path is not None else None
        rows.append((f"after round {report.round}", report, measure(model, args.probe) if model is not None else rows[-1][2]))
    print(f"chorale refined by --select: {args.rounds} rounds of {args.samples} pieces of {BARS} bars; checks {checks}")
    print(f"fine-tuning: preset {FINETUNE_PRESET | SELECT_TRAIN_SETTINGS | settings}, replay share {guard.replay_share}, anchor {guard.anchor} to the base, top layers {args.top_layers or 'all'}; torch threads {torch.get_num_threads()}")
    print(f"select took {selecting:.0f} s, the whole benchmark {time.perf_counter() - began:.0f} s\n")
    print_table(rows, args.probe)


def print_table(rows: list[tuple], probe: int) -> None:
    base = rows[0][2]
    base_par = base["fifths"] + base["octaves"]
    print(f"| model | kept / generated | parallel fifths + octaves per 100 notes ({probe} pieces, unmasked) | chorale valid bits per note | longest passage in the train split (median / max notes) |")
    print("|---|---:|---:|---:|---:|")
    for label, report, m in rows:
        par = m["fifths"] + m["octaves"]
        kept = "-" if report is None else f"{report.kept} / {report.generated}"
        change = "" if report is None else f" ({100 * (par / base_par - 1):+.0f}%)"
        bits = "-" if m["valid_bits"] is None else f"{m['valid_bits']:.3f}" + ("" if report is None else f" ({100 * (m['valid_bits'] / base['valid_bits'] - 1):+.1f}%)")
        print(f"| {label} | {kept} | {m['fifths']:.2f} + {m['octaves']:.2f} = {par:.2f}{change} | {bits} | {m['copied_median']:g} / {m['copied_max']:g} |")


if __name__ == "__main__":
    main()
