"""Write each seed's MIDI and MusicXML from its ABC file (the ABC and TinyNotation files are written by hand).

    python examples/seeds/make_seeds.py [OUT_DIR]

OUT_DIR defaults to this folder (existing files are replaced). The tests
check that all four files of a seed hold the same notes, and that this
script writes what is committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import composer

SEEDS = Path(__file__).resolve().parent


def main(out_dir: Path = SEEDS) -> None:
    for abc in sorted(SEEDS.glob("*.abc")):
        score = composer.read(abc)
        for suffix in (".mid", ".musicxml"):
            print(score.write(out_dir / f"{abc.stem}{suffix}", force=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SEEDS)
