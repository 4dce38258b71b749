"""Infill from the command line, process start and imports included.

    python benchmarks/infill_speed.py [--model chorale] [--rounds 3]

The job: bars 5-8 of a 16-bar chorale (the first valid-split chorale of
``midi_corpus/chorales`` with at least 16 bars, cut to its first 16)
rewritten in all four parts, written as MIDI (target: under 3 s wall on a
2-core machine). Beside it, in the same run: a bare Python start, and
``composer accompany`` of the same 16 bars keeping soprano and bass.
Rounds alternate between the commands; the median of each counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_speed import median_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sixteen_bars(out: Path) -> Path:
    """The first valid-split chorale of 16 bars or more, cut to 16 bars, written to ``out``."""
    from composer.corpus.reading import split_of
    from composer.formats import read, write
    from composer.theory import bars_of, opening

    for path in sorted((ROOT / "midi_corpus" / "chorales").glob("*.mid")):
        if split_of(path.name) == "valid":
            score = read(path)
            if bars_of(score) >= 16:
                write(opening(score, 16), out)
                print(f"piece: {path.name}, first 16 bars")
                return out
    sys.exit("no valid-split chorale of 16 bars in midi_corpus/chorales")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chorale")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    out = Path(tempfile.mkdtemp(prefix="infillspeed-"))
    piece = sixteen_bars(out / "piece.mid")
    composer = [sys.executable, "-m", "composer"]
    common = ["--model", args.model, "--random-seed", "1", "--force"]
    commands = {
        "python start": [sys.executable, "-c", "pass"],
        "infill --bars 5-8 -> .mid": [*composer, "infill", str(piece), "--bars", "5-8", *common, "-o", str(out / "a.mid")],
        "accompany --keep soprano,bass -> .mid": [*composer, "accompany", str(piece), "--keep", "soprano,bass", *common, "-o", str(out / "b.mid")],
    }
    medians = median_seconds(commands, env, args.rounds)
    print(f"median of {args.rounds} alternating rounds; model {args.model!r}\n")
    print("| command | seconds |\n|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.2f} |")
    job = medians["infill --bars 5-8 -> .mid"]
    print(f"\ninfill {job:.2f} s: {'within' if job < 3.0 else 'OVER'} the 3 s target ({job / 3.0:.2f}x of it)")


if __name__ == "__main__":
    main()
