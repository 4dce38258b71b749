"""How pieces end: the share whose top part ends on the tonic, on a note at least a beat long.

    python benchmarks/endings.py [--models chorale folk] [--pieces 20] [--bars 16] [--seed "tinynotation: ..."]

For each model, ``--pieces`` pieces of ``--bars`` bars are generated from
scratch (random seeds 0..N-1), and as many continuing ``--seed``; the key is
the one the piece's last key signature names. Target (issue 12): 70%.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from composer.score import Score  # noqa: E402
from composer.theory import key_tonic_pitch_class  # noqa: E402

SEED = "tinynotation: 4/4 g4 a b c'2 b4 a g1"


def ends_on_long_tonic(score: Score) -> bool:
    """The top part's last note is the tonic of the key in force, at least a quarter note long (a beat in simple meters)."""
    top = score.notes[score.notes["part"] == 0]
    if len(top) == 0 or len(score.key_signatures) == 0:
        return False
    last = top[top["start_tick"] == top["start_tick"].max()]
    note = last[last["pitch"].argmax()]
    key = score.key_signatures[-1]
    tonic = key_tonic_pitch_class(int(key["sharps"]), bool(key["minor"]))
    return int(note["pitch"]) % 12 == tonic and int(note["duration_ticks"]) >= score.ticks_per_beat


def main(argv: list[str] | None = None) -> None:
    import composer
    from composer.io.notation import parse_tinynotation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["chorale", "folk"])
    parser.add_argument("--pieces", type=int, default=20)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--seed", default=SEED)
    args = parser.parse_args(argv)
    print("| model | from scratch | continuing the seed |")
    print("|---|---|---|")
    for name in args.models:
        model = composer.load_model(name)
        scratch = [ends_on_long_tonic(model.generate(None, bars=args.bars, random_seed=i)) for i in range(args.pieces)]
        seed = parse_tinynotation(args.seed)
        cont = [ends_on_long_tonic(model.generate(seed, bars=args.bars, random_seed=i)) for i in range(args.pieces)]
        print(f"| {name} | {100 * sum(scratch) / len(scratch):.0f}% | {100 * sum(cont) / len(cont):.0f}% |")


if __name__ == "__main__":
    main()
