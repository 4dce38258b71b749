"""How long each output format takes for a 16-bar four-part chorale (best of ``--rounds``).

    python benchmarks/render_speed.py [--file midi_corpus/chorales/bwv10.mid] [--bars 16] [--rounds 3]

Prints the cold start (importing music21 and writing the first MusicXML) and
then, warm, each format written through ``composer.formats.write``. The machines
here are shared and noisy: quote the best round.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

FORMATS = (".mid", ".musicxml", ".mxl", ".svg", ".png", ".pdf", ".wav")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="midi_corpus/chorales/bwv10.mid")
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from composer.formats import read, write
    from composer.score import slice_bars

    score = slice_bars(read(args.file), 0, args.bars)
    print(f"{score!r}")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write(score, Path(folder) / "cold.musicxml")
        print(f"{'cold .musicxml (imports music21)':36s} {time.perf_counter() - start:7.3f} s")
        for suffix in FORMATS:
            best, note = float("inf"), ""
            for i in range(args.rounds):
                path = Path(folder) / f"out{i}{suffix}"
                start = time.perf_counter()
                try:
                    note = write(score, path).note
                except Exception as exc:  # a missing optional package: say so, go on
                    print(f"{suffix:36s} failed: {exc}")
                    break
                best = min(best, time.perf_counter() - start)
            else:
                print(f"{suffix:36s} {best:7.3f} s" + (f"  ({note})" if note else ""))


if __name__ == "__main__":
    main()
