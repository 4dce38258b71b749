"""End-to-end generation time from the command line, process start and imports included.

    python benchmarks/generate_speed.py [--model chorale] [--bars 16] [--rounds 3]

The job: 16 bars of four-part chorale from a TinyNotation seed, written as
MIDI and MusicXML (target: under 3 s wall on a 2-core machine). Beside it, in
the same run, the floors it stands on: a bare Python start, `import torch`,
and the same generation writing MIDI only, so the cost of each layer shows.
Rounds alternate between the commands; the median of each counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = "tinynotation: 4/4 g4 g a b c'2 b4 a g1"


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Wall seconds of one command (process start included); exits with its stderr if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{proc.stderr}")
    return elapsed


def median_seconds(commands: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict[str, float]:
    """Each command's median wall seconds over ``rounds`` rounds that alternate the commands (noise hits all alike)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(timed(command, env))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chorale")
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    out = Path(tempfile.mkdtemp(prefix="genspeed-"))
    composer = [sys.executable, "-m", "composer"]
    common = ["generate", SEED, "--model", args.model, "--bars", str(args.bars), "--random-seed", "1", "--force"]
    commands = {
        "python start": [sys.executable, "-c", "pass"],
        "import torch": [sys.executable, "-c", "import torch"],
        "composer --version": [*composer, "--version"],
        "generate -> .mid": [*composer, *common, "-o", str(out / "a.mid")],
        "generate -> .mid + .musicxml": [*composer, *common, "-o", str(out / "b.mid"), "-o", str(out / "b.musicxml")],
    }
    medians = median_seconds(commands, env, args.rounds)

    print(f"median of {args.rounds} alternating rounds; model {args.model!r}, {args.bars} bars, seed {SEED!r}\n")
    print("| command | seconds | share of the full job |")
    print("|---|---|---|")
    full = medians["generate -> .mid + .musicxml"]
    for name, t in medians.items():
        print(f"| {name} | {t:.2f} | {t / full:.0%} |")
    verdict = "within" if full < 3.0 else "OVER"
    print(f"\nfull job {full:.2f} s: {verdict} the 3 s target ({full / 3.0:.2f}x of it)")
    in_process(args.rounds)


def in_process(rounds: int) -> None:
    """4 bars from each shipped model, in one process (models loaded once), median of ``rounds``."""
    from composer.generate import GenerationSettings, generate
    from composer.io.notation import parse_tinynotation
    from composer.modelfile import load_model

    seed = parse_tinynotation("tinynotation: 4/4 g4 a b c'")
    print("\n| shipped model | 4 bars in-process, seconds |\n|---|---|")
    for name, style in (("chorale", "chorale"), ("folk", "folk")):
        model = load_model(name)
        times = []
        for r in range(rounds):
            start = time.perf_counter()
            generate(model, seed, GenerationSettings(bars=4, style=style, random_seed=r))
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
