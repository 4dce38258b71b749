"""MIDI files -> tokens: composer against MidiTok REMI, same files, side by side in one run.

    python benchmarks/tokenize_speed.py [--corpus midi_corpus] [--rounds 3] [--limit 1500] [--no-in-memory]

Two measurements, composer and MidiTok alternating ``--rounds`` times, the
best round of each counting (the machines here are noisy, so the ratio is the
figure to quote):

* **end to end**, the job as a user runs it: a fresh process (its start and
  imports included) that reads the first ``--limit`` corpus files from disk,
  encodes them and saves the tokens (composer's modules compiled to bytecode
  first, as installed packages are). composer: ``composer tokenize FOLDER -o
  OUT`` (one ``tokens.npz`` and one ``tokenizer.json``); MidiTok: REMI's
  ``encode`` and ``save_tokens`` for each file, as its docs show. Wall-clock
  seconds, and the CPU seconds the process used (steadier on a busy machine).
* **in memory**: both read each file from bytes already in memory and produce
  token ids, in this process.

MidiTok is a benchmark-only dependency (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
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


# MidiTok's side of the end-to-end job: REMI with the information composer encodes, encode and save each file.
MIDITOK_JOB = """
import sys
from pathlib import Path
from miditok import REMI, TokenizerConfig
src, out = Path(sys.argv[1]), Path(sys.argv[2])
tokenizer = REMI(TokenizerConfig(use_programs=True, use_time_signatures=True, use_tempos=True))
for path in sorted(src.rglob("*.mid")):
    target = out / path.relative_to(src).with_suffix(".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save_tokens(tokenizer.encode(path), target)
"""


def timed_process(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one child process run to the end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compile_composer() -> None:
    """Compile composer's modules to bytecode, as an installed package is.

    pip compiles what it installs, and an editable install writes bytecode on
    first import, unless PYTHONDONTWRITEBYTECODE is set: then every run would
    compile composer's source anew (about 0.1 s) while MidiTok's installed
    files come compiled.
    """
    import importlib.util

    spec = importlib.util.find_spec("composer")
    assert spec is not None and spec.submodule_search_locations
    subprocess.run([sys.executable, "-m", "compileall", "-q", spec.submodule_search_locations[0]], check=True, stdout=subprocess.DEVNULL)


def end_to_end(files: list[Path], corpus: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of each side doing the whole job in a fresh process, alternating."""
    compile_composer()
    best: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tokenize-speed-") as tmp:
        src = Path(tmp) / "files"
        for f in files:  # the same files for both, in a folder of their own
            (src / f.relative_to(corpus)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, src / f.relative_to(corpus))
        env_python = sys.executable
        jobs = {
            "composer": lambda out: [env_python, "-m", "composer", "tokenize", str(src), "-o", str(out)],
            # MidiTok imports torch when it finds it (for its PyTorch data helpers); without torch it starts faster.
            "MidiTok REMI": lambda out: [env_python, "-c", MIDITOK_JOB, str(src), str(out)],
            "MidiTok REMI, torch hidden": lambda out: [env_python, "-c", "import sys; sys.modules['torch'] = None\n" + MIDITOK_JOB, str(src), str(out)],
        }
        for r in range(rounds):
            for j, (name, command) in enumerate(jobs.items()):
                out = Path(tmp) / f"out-{j}-{r}"
                wall, cpu = timed_process(command(out))
                old = best.get(name, (float("inf"), float("inf")))
                best[name] = (min(old[0], wall), min(old[1], cpu))
                shutil.rmtree(out, ignore_errors=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parent.parent / "midi_corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=1500, help="use the first N files (0: all)")
    parser.add_argument("--no-in-memory", dest="in_memory", action="store_false", help="only the end-to-end comparison")
    args = parser.parse_args()
    args.limit = args.limit or None

    files = sorted(args.corpus.rglob("*.mid"))[: args.limit]
    if not files:
        sys.exit(f"no .mid files under {args.corpus}")
    blobs = [f.read_bytes() for f in files]
    try:
        from miditok import REMI, TokenizerConfig
    except ImportError:
        sys.exit("MidiTok is needed for the comparison: pip install -e .[bench]")
    print(f"{len(files)} files from {args.corpus}, best of {args.rounds} alternating rounds\n")
    whole = end_to_end(files, args.corpus, args.rounds)
    print("End to end (a fresh process: start, imports, read, encode, save):\n")
    print("| job | seconds | CPU seconds | files/s |")
    print("|---|---|---|---|")
    for name, (wall, cpu) in whole.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {len(files) / wall:,.0f} |")
    (cw, cc) = whole["composer"]
    (mw, mc) = min(v for k, v in whole.items() if k != "composer")  # the faster MidiTok
    print(f"\nend to end, composer is {mw / cw:.1f}x the faster MidiTok REMI's speed ({mc / cc:.1f}x in CPU seconds)\n")
    if not args.in_memory:
        return

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

    print("In memory (one process, files already read into bytes):\n")
    print(f"| tokenizer | files/s | notes/s | tokens/note | seconds |")
    print(f"|---|---|---|---|---|")
    for name in best:
        tokens, notes = counts[name]
        t = best[name]
        print(f"| {name} | {len(files) / t:,.0f} | {notes / t:,.0f} | {tokens / max(notes, 1):.2f} | {t:.3f} |")
    print(f"\nin memory, composer is {best['MidiTok REMI'] / best['composer']:.1f}x MidiTok REMI's files/s")


if __name__ == "__main__":
    main()
