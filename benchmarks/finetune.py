"""Fine-tuning the shipped ``chorale`` model on music it never saw: Palestrina's mass movements.

    python benchmarks/finetune.py [--pieces 24] [--held-out 12] [--steps N] [--work DIR] [--quick]

1. From music21's bundled corpus (``palestrina/*.krn``, read by composer's music21
   reader), the movements with exactly four voices and 150 to 600 notes, first in
   sha1 order of their file names (a fixed, spread-out sample), are written as MIDI
   the way ``composer corpus build`` writes chorales (voices top to bottom, General
   MIDI choir): ``--pieces`` into a fine-tuning folder, ``--held-out`` more into a
   folder that is only scored. Kept in ``--work`` for the next run.
2. ``composer.train(folder, init="chorale")`` twice, with the fine-tuning defaults
   (``training.FINETUNE_PRESET``; ``--steps`` replaces their step count): with the
   forgetting guard (replay of the chorale corpus's train split, the default) and
   without it (``replay_share=0``). The pieces get the new style ``palestrina``.
   Then the same architecture from nothing on the same pieces, as many steps at
   the learning rate the shipped models were trained with (``--no-scratch``: not).
3. Bits per note of the held-out pieces (the base model with its own ``chorale``
   style, the fine-tuned ones with ``palestrina``) and of the chorale corpus's valid
   split (style ``chorale``: forgetting), each run's wall time and steps.

``--quick`` is a smoke run (4 pieces each, 4 steps). Prints a Markdown table; the
README's "Make it yours" quotes it. On a 2-core machine shared with other jobs
the whole benchmark takes about 6 minutes (the picking under one more, once).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning threads crawl on a shared core

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from composer.dataset import load_tokens  # noqa: E402
from composer.evaluation import score_split  # noqa: E402
from composer.finetune import FineTuneConfig  # noqa: E402
from composer.modelfile import Model, load_model  # noqa: E402
from composer.training import FINETUNE_PRESET, SilentReporter, finetune_config, train  # noqa: E402

STYLE = "palestrina"
CHOIR = 52  # General MIDI "Choir Aahs", as the chorales
VOICES = ("Soprano", "Alto", "Tenor", "Bass")
CHORALES = ROOT / "midi_corpus" / "chorales"
SCRATCH_LR = 1e-3  # the shipped models' own learning rate from nothing


def palestrina_sources() -> list[Path]:
    from music21 import common

    files = sorted((Path(common.getCorpusFilePath()) / "palestrina").glob("*.krn"))
    return sorted(files, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())


def four_voices(path: Path, low: int, high: int):
    """The movement as a four-voice Score (top voice first), or None when it is not one of low..high notes."""
    from composer.io.notation import read_with_music21
    from composer.score import Part, select_parts

    try:
        score = read_with_music21(path)
    except Exception:  # a source music21 cannot read is skipped
        return None
    voiced = [i for i in range(score.num_parts) if len(score.part_notes(i))]
    if len(voiced) != 4 or not low <= len(score.notes) <= high:
        return None
    order = sorted(voiced, key=lambda i: -float(np.mean(score.part_notes(i)["pitch"])))
    return select_parts(score, order).replace(parts=tuple(Part(v, CHOIR) for v in VOICES), title=path.stem)


def pick(work: Path, pieces: int, held_out: int, low: int = 150, high: int = 600) -> tuple[Path, Path]:
    """The fine-tuning folder and the held-out folder under ``work``, written on the first run."""
    from composer.formats import write

    folder, other = work / STYLE, work / "held_out"
    done = work / "picked.json"
    if done.is_file() and json.loads(done.read_text()) == [pieces, held_out, low, high]:
        return folder, other
    for target in (folder, other):
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.mid"):
            old.unlink()
    taken = 0
    for source in palestrina_sources():
        score = four_voices(source, low, high)
        if score is None:
            continue
        write(score, (folder if taken < pieces else other) / f"{source.stem}.mid")
        taken += 1
        if taken == pieces + held_out:
            break
    done.write_text(json.dumps([pieces, held_out, low, high]))
    return folder, other


def bits_per_note(model: Model, folder: Path, style: str | None, split: str | None = None) -> tuple[float, int]:
    """Bits per note of ``model`` on a split of ``folder`` (None: every piece), and the notes scored."""
    data = load_tokens(folder, model.tokenizer, style=style)
    parts = [data.splits[split]] if split else list(data.splits.values())
    network = model.network
    bits = notes = 0.0
    for part in parts:
        if len(part):
            result = score_split(network, part, model.tokenizer.pad_id, tokenizer=model.tokenizer)
            bits += result["bits_per_note"] * result["notes"]
            notes += result["notes"]
    return bits / notes, int(notes)


def fine_tune(base: Model, folder: Path, held_out: Path, work: Path, share: float, settings: dict) -> tuple:
    """One fine-tuning run from ``base``: its table row."""
    default = FineTuneConfig().replay_share
    label = "fine-tuned, " + (f"replay {share:g}" if share else "no replay") + (" (default)" if share == default else "")
    out = work / f"palestrina-replay{share:g}.safetensors"
    start = time.perf_counter()
    result = train(folder, out, config=finetune_config(base, **settings), init=base, finetune=FineTuneConfig(replay_share=share),
                   force=True, device="cpu", reporter=SilentReporter())
    seconds = time.perf_counter() - start
    tuned = load_model(out)
    return (label, *bits_per_note(tuned, held_out, STYLE), *bits_per_note(tuned, CHORALES, None, "valid"), seconds, result.steps, tuned.training["steps"])


def from_scratch(base: Model, folder: Path, held_out: Path, work: Path, settings: dict) -> tuple:
    """The base's architecture trained from nothing on the same pieces for as many steps (about the same CPU time):
    its table row (it never learned chorales: no forgetting to measure)."""
    import dataclasses


    out = work / "palestrina-scratch.safetensors"
    preset = finetune_config(base, **settings)
    config = dataclasses.replace(preset, style=STYLE, learning_rate=settings.get("learning_rate", SCRATCH_LR))
    options = {k: v for k, v in dataclasses.asdict(base.config).items() if k != "vocab_size"}
    start = time.perf_counter()
    vocabulary = dataclasses.replace(base.tokenizer.config, styles=(STYLE,), added_styles=())  # the base's grammar, the one style
    result = train(folder, out, config=config, model_options=options, tokenizer_config=vocabulary, force=True, device="cpu", reporter=SilentReporter())
    seconds = time.perf_counter() - start
    scratch = load_model(out)
    return ("trained from nothing, the same steps", *bits_per_note(scratch, held_out, STYLE), float("nan"), 0, seconds, result.steps, scratch.training["steps"])


def print_table(rows: list[tuple]) -> None:
    base_held, base_valid = rows[0][1], rows[0][3]
    print("| model | held-out Palestrina, bits per note | chorale valid split, bits per note | wall time | steps (best at) |")
    print("|---|---|---|---|---|")
    for label, held, _, valid, _, seconds, steps, best in rows:
        change = "" if seconds is None else f" ({100 * (held / base_held - 1):+.1f}%)"
        forget = "" if seconds is None or valid != valid else f" ({100 * (valid / base_valid - 1):+.1f}%)"
        timing = "-" if seconds is None else f"{seconds:.0f} s"
        done = "-" if steps is None else f"{steps} ({best})"
        shown = "-" if valid != valid else f"{valid:.3f}{forget}"
        print(f"| {label} | {held:.3f}{change} | {shown} | {timing} | {done} |")
    print(f"\n(held out: {rows[0][2]} notes; chorale valid split: {rows[0][4]} notes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pieces", type=int, default=24)
    parser.add_argument("--held-out", type=int, default=12)
    parser.add_argument("--steps", type=int, default=None, help=f"most steps of each run (default: the preset's {FINETUNE_PRESET['max_steps']})")
    parser.add_argument("--lr", type=float, default=None, help=f"learning rate (default: the preset's {FINETUNE_PRESET['learning_rate']:g})")
    parser.add_argument("--replay-shares", type=float, nargs="+", default=None, help="the runs' replay shares (default: FineTuneConfig's, then 0)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/composer-finetune-bench"))
    parser.add_argument("--no-scratch", action="store_true", help="leave out the model trained from nothing")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.pieces, args.held_out, args.steps = 4, 4, 4
    import torch

    began = time.perf_counter()
    folder, held_out = pick(args.work, args.pieces, args.held_out)
    picking = time.perf_counter() - began
    base = load_model("chorale")
    settings = {k: v for k, v in {"max_steps": args.steps, "learning_rate": args.lr}.items() if v is not None}
    rows = [("chorale (base)", *bits_per_note(base, held_out, "chorale"), *bits_per_note(base, CHORALES, None, "valid"), None, None, None)]
    for share in args.replay_shares if args.replay_shares is not None else (FineTuneConfig().replay_share, 0.0):
        rows.append(fine_tune(base, folder, held_out, args.work, share, settings))
    if not args.no_scratch:
        rows.append(from_scratch(base, folder, held_out, args.work, settings))
    preset = finetune_config(base, **settings)
    print(f"{args.pieces} Palestrina movements to fine-tune on ({folder}), {args.held_out} held out ({held_out}); picking took {picking:.0f} s")
    print(f"at most {preset.max_steps} steps of {preset.batch_size} windows of {preset.seq_len} tokens, learning rate {preset.learning_rate:g}")
    print(f"torch threads: {torch.get_num_threads()}; whole benchmark {time.perf_counter() - began:.0f} s\n")
    print_table(rows)


if __name__ == "__main__":
    main()
