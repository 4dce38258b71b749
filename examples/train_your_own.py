"""Train a small model on a folder of MIDI files, evaluate it, and generate with it.

    cd examples
    python train_your_own.py                       # a slice of the bundled folk tunes
    python train_your_own.py ~/my_midi --steps 800 # your own folder (MIDI, MusicXML or ABC files)

Without a folder it copies every fourth tune of ../midi_corpus/folk (337
tunes) into output/my_midi and trains on that: a few minutes on a laptop CPU.
Files are split by the bundled corpus's rule (the sha1 of the file name, mod
10: 0 test, 1 valid, else train), so a folder needs enough files for a
validation and a test piece (a few dozen will do). Everything is written to
output/ (the model is replaced on each run). COMPOSER_EXAMPLES_QUICK=1 trains
a tiny model for a few steps on 45 tunes instead: seconds, for the tests.
The notebook train_your_own.ipynb does the same step by step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import composer

QUICK = os.environ.get("COMPOSER_EXAMPLES_QUICK") == "1"
HERE = Path(__file__).resolve().parent
BUNDLED_FOLK = HERE.parent / "midi_corpus" / "folk"
SEEDS = HERE / "seeds"

SLICE_EVERY = 30 if QUICK else 4  # every Nth bundled folk tune: 45 or 337 tunes
STEPS = 10 if QUICK else 400
# A small transformer (about half a million parameters): enough to pick up a style from a few hundred
# tunes in a few minutes on a laptop CPU. An LSTM of the same size learned far slower per second here.
MODEL_OPTIONS = {"n_layers": 1, "d_model": 32, "n_heads": 2} if QUICK else {"n_layers": 2, "d_model": 128, "n_heads": 4}
BARS = 4 if QUICK else 16


def bundled_slice(folder: Path) -> Path:
    """Every SLICE_EVERY-th tune of the bundled folk collection, copied into ``folder`` (made afresh)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for path in sorted(BUNDLED_FOLK.glob("*.mid"))[::SLICE_EVERY]:
        shutil.copy2(path, folder / path.name)
    return folder


class PrintReporter:
    """Prints what training reports: composer.train calls these methods as it goes."""

    def start(self, total_steps: int, first_step: int, info: dict[str, Any]) -> None:
        print(f"{info['train_pieces']} training pieces, {info['parameters']:,} parameters, {total_steps} steps")

    def step(self, step: int, loss: float) -> None:
        pass

    def evaluated(self, step: int, metrics: dict[str, float], improved: bool) -> None:
        print(f"step {step:>5}: validation {metrics['bits_per_note']:.3f} bits per note" + ("  (best so far: saved)" if improved else ""))

    def message(self, text: str) -> None:
        print(text)

    def close(self) -> None:
        pass


def train_config(steps: int, style: str) -> composer.TrainConfig:
    return composer.TrainConfig(
        arch="transformer",
        max_steps=steps,
        seq_len=256,  # tokens per training window: about 80 notes of melody
        batch_size=16,
        learning_rate=2e-3,
        warmup_steps=20,
        eval_every=max(steps // 5, 1),  # validation bits per note, and the best model kept
        checkpoint_every=max(steps // 5, 1),
        style=style,
    )


def run(folder: Path | None, steps: int, style: str | None, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if folder is None:
        folder = bundled_slice(out / "my_midi")
        style = style or "folk"
    print(f"training on {folder}: {sum(1 for p in folder.rglob('*') if p.is_file())} files")
    model_path = out / "my_model.safetensors"
    result = composer.train(folder, model_path, config=train_config(steps, style or "unknown"), model_options=MODEL_OPTIONS, force=True, reporter=PrintReporter())
    print(f"{result.steps} steps in {result.seconds:.0f} s; best validation {result.best_valid_bits_per_note:.3f} bits per note")

    mine = composer.evaluate(model_path, folder, "test")
    print(f"test split ({mine['pieces']:.0f} pieces): {mine['bits_per_note']:.3f} bits per note, next-token accuracy {mine['token_accuracy']:.1%}")
    if folder.name == "my_midi":  # the slice's test pieces are in the shipped folk model's test split too
        shipped = composer.evaluate("folk", folder, "test")
        print(f"the shipped folk model on the same pieces: {shipped['bits_per_note']:.3f} bits per note")

    model = composer.load_model(model_path)
    from_scratch = model.generate(bars=BARS, random_seed=1)
    continued = model.generate(composer.read(SEEDS / "harbour_jig.abc"), bars=BARS + 8, random_seed=1)
    for name, piece in (("my_model_tune", from_scratch), ("my_model_jig", continued)):
        for suffix in (".mid", ".musicxml"):
            print("wrote", piece.write(out / f"{name}{suffix}", force=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", nargs="?", type=Path, help="a folder of MIDI/MusicXML/ABC files (default: a slice of the bundled folk tunes)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps (default {STEPS})")
    parser.add_argument("--style", default=None, help="the style token of your pieces: unknown, chorale or folk (default: folk for the bundled slice, else unknown)")
    parser.add_argument("--out", type=Path, default=Path("output"), help="where everything is written (default output/)")
    args = parser.parse_args(argv)
    try:
        run(args.folder, args.steps, args.style, args.out)
    except composer.ComposerError as exc:  # a bad folder, too few files for the splits, ...: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
