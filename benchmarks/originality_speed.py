"""Originality check of a 32-bar piece against the whole corpus: the cached index against two peers, one run.

    python benchmarks/originality_speed.py [--corpus midi_corpus] [--rounds 3]

The piece: the first 32 bars of chorale bwv328 transposed down a minor third
(four parts, about 600 notes; a copy, so every line matches at length, the
slow case). The corpus: every file of every split (1,710 files). Timed, each
in the same process:

* composer, cached: ``CorpusIndex.for_corpus`` with the in-memory copy
  dropped, so each round lists the corpus, fingerprints it, loads the index
  file from ``$COMPOSER_CACHE`` (a temporary folder here) and checks the piece;
* composer, no cache: the same index built from the MIDI files, then the check;
* Python 8-gram dict: the plain way without numpy: read every file, put each
  8-note n-gram (the same symbols) in a dict of positions, look the piece's
  n-grams up and extend each hit note by note.

Rounds alternate; the best of each counts (the machines are noisy, so quote
the ratios). The three must agree on the longest passage and the n-gram share.
Then the command line end to end (``python -m composer originality``, cache
warm), beside a bare ``import composer.cli``: medians of the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from generate_speed import timed  # a sibling script: benchmarks/ is on sys.path when run as one

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("train", "valid", "test")


def the_piece(corpus: Path):
    from composer.formats import read
    from composer.score import slice_bars, transpose

    return transpose(slice_bars(read(corpus / "chorales" / "bwv328.mid"), 0, 32), -3)


def composer_cached(corpus: Path, piece) -> tuple[int, float]:
    from composer import originality

    originality._MEMO.clear()  # as a new process would: from the disk cache
    report = originality.CorpusIndex.for_corpus(corpus, splits=SPLITS).check(piece)
    return report.longest_notes, report.ngram_share


def composer_uncached(corpus: Path, piece) -> tuple[int, float]:
    from composer.originality import CorpusIndex

    report = CorpusIndex.build(corpus, splits=SPLITS).check(piece)
    return report.longest_notes, report.ngram_share


def python_dict(corpus: Path, piece) -> tuple[int, float]:
    from composer.io.midi import read_midi
    from composer.originality import NGRAM_NOTES, corpus_files, lines_of

    def line_lists(score) -> list[list[int]]:
        lines = lines_of(score)
        text = lines.text.tolist()
        return [text[a : b - 1] for a, b in zip(lines.start.tolist(), lines.start[1:].tolist())]  # steps only

    k = NGRAM_NOTES - 1
    corpus_lines: list[list[int]] = []
    grams: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for _, path in corpus_files(corpus, SPLITS):
        for steps in line_lists(read_midi(path)):
            line = len(corpus_lines)
            corpus_lines.append(steps)
            for i in range(len(steps) - k + 1):
                grams.setdefault(tuple(steps[i : i + k]), []).append((line, i))
    longest = found = total = 0
    for steps in line_lists(piece):
        for i in range(len(steps) - k + 1):
            total += 1
            hits = grams.get(tuple(steps[i : i + k]))
            if not hits:
                continue
            found += 1
            for line, j in hits:
                other, n = corpus_lines[line], k
                while i + n < len(steps) and j + n < len(other) and steps[i + n] == other[j + n]:
                    n += 1
                longest = max(longest, n + 1)  # steps -> notes
    return longest, found / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "midi_corpus")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        os.environ["COMPOSER_CACHE"] = cache
        from composer.originality import CorpusIndex
        from composer.formats import write

        piece = the_piece(args.corpus)
        start = time.perf_counter()
        index = CorpusIndex.for_corpus(args.corpus, splits=SPLITS)  # the first build writes the cache
        first_build = time.perf_counter() - start
        sides = {"composer, cached index": composer_cached, "composer, no cache": composer_uncached, "Python 8-gram dict": python_dict}
        best: dict[str, float] = {}
        answers: dict[str, tuple[int, float]] = {}
        for _ in range(args.rounds):
            for name, run in sides.items():
                start = time.perf_counter()
                answers[name] = run(args.corpus, piece)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
        if len(set(answers.values())) != 1:
            sys.exit(f"the sides disagree: {answers}")

        path = Path(cache) / "piece.mid"
        write(piece, path)
        env = dict(os.environ)
        commands = {
            "python -m composer originality (warm cache)": [sys.executable, "-m", "composer", "originality", str(path), "--corpus", str(args.corpus), "--split", "all"],
            "python -c 'import composer.cli'": [sys.executable, "-c", "import composer.cli"],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                walls[name].append(timed(command, env, cwd=ROOT))

    longest, share = answers["composer, cached index"]
    print(f"{piece.num_bars} bars, {len(piece)} notes, {piece.num_parts} parts, against {index!r}")
    print(f"longest passage {longest} notes, 8-note n-gram share {share:.3f} (all sides agree); first build {first_build:.2f} s\n")
    print("| side | seconds (best of rounds) | x cached |")
    print("|---|---|---|")
    base = best["composer, cached index"]
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.3f} | {seconds / base:.1f} |")
    print("\n| command | median wall s |")
    print("|---|---|")
    for name, times in walls.items():
        print(f"| `{name}` | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
