"""MIDI file -> tokens: composer against MidiTok REMI, same files, one process, one run.

    python benchmarks/tokenize_speed.py [--corpus midi_corpus] [--rounds 3] [--limit N]

Both sides read the file from bytes already in memory (so disk caching cannot
favour either) and produce token ids. The two run in alternation, ``--rounds``
times, and the best round of each counts: the machines here are noisy, so the
ratio is the figure to quote. MidiTok is a benchmark-only dependency
(``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def composer_pass(blobs: list[bytes]) -> tuple[int, int]:
    from composer.io.midi import read_midi_bytes
    from composer.tokens import Tokenizer

    tokenizer = Tokenizer()
    tokens = notes = 0
    for data in blobs:
        score = read_midi_bytes(data)
        tokens += len(tokenizer.encode(score))
        notes += len(score)
    return tokens, notes


def miditok_pass(blobs: list[bytes], tokenizer: object) -> tuple[int, int]:
    import symusic

    tokens = notes = 0
    for data in blobs:
        score = symusic.Score.from_midi(data)
        seq = tokenizer.encode(score)  # type: ignore[attr-defined]
        seqs = seq if isinstance(seq, list) else [seq]
        tokens += sum(len(s.ids) for s in seqs)
        notes += score.note_num()
    return tokens, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parent.parent / "midi_corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N files")
    args = parser.parse_args()

    files = sorted(args.corpus.rglob("*.mid"))[: args.limit]
    if not files:
        sys.exit(f"no .mid files under {args.corpus}")
    blobs = [f.read_bytes() for f in files]
    try:
        from miditok import REMI, TokenizerConfig
    except ImportError:
        sys.exit("MidiTok is needed for the comparison: pip install -e .[bench]")
    # REMI with the same information composer encodes: programs (parts), meter, tempo.
    remi = REMI(TokenizerConfig(use_programs=True, use_time_signatures=True, use_tempos=True))

    best: dict[str, float] = {}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.rounds):
        for name, run in (("composer", lambda: composer_pass(blobs)), ("MidiTok REMI", lambda: miditok_pass(blobs, remi))):
            start = time.perf_counter()
            counts[name] = run()
            elapsed = time.perf_counter() - start
            best[name] = min(best.get(name, float("inf")), elapsed)

    print(f"{len(files)} files from {args.corpus}, best of {args.rounds} alternating rounds, one process\n")
    print(f"| tokenizer | files/s | notes/s | tokens/note | seconds |")
    print(f"|---|---|---|---|---|")
    for name in best:
        tokens, notes = counts[name]
        t = best[name]
        print(f"| {name} | {len(files) / t:,.0f} | {notes / t:,.0f} | {tokens / max(notes, 1):.2f} | {t:.3f} |")
    print(f"\ncomposer is {best['MidiTok REMI'] / best['composer']:.1f}x MidiTok REMI's files/s")


if __name__ == "__main__":
    main()
