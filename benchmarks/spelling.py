"""How often our pitch spelling agrees with the source's, before (pitch number alone) and after (key and context).

    python benchmarks/spelling.py [--chorales 0] [--folk-files 0] [--tunes-per-file 10]

Sources: music21's own corpus. The Bach chorales (``corpus.getComposer('bach')``,
MusicXML/MXL) and a sample of folk tunes from music21's ABC collections (the
Essen folk songs and Aird's Airs: major and minor keys, modes, modulations),
the first ``--tunes-per-file`` tunes of each file. Each source is read as
``composer`` reads it (a ``Score``: pitch numbers, key signatures), spelled
again, and compared note by note with the letter and accidental the source
wrote. "before" is the rule the MusicXML writer used until now (music21's
spelling of a bare MIDI number: C#, E-flat, F#, G#, B-flat); "after" is
``composer.render.spelling.spell_score``. ``0`` means every file.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any


def truth(parsed: Any, ticks_per_beat: int) -> dict[tuple[int, int, int], tuple[str, int]]:
    """(part, start tick, MIDI pitch) -> (step, alter) as the source spells the note (tie continuations left out)."""
    from music21 import chord, note, stream

    parts = list(parsed.getElementsByClass(stream.Part)) or [parsed]
    out = {}
    for index, part in enumerate(parts):
        for element in part.flatten().notes:
            if element.duration.isGrace:
                continue
            members = element.notes if isinstance(element, chord.Chord) else [element]
            tick = round(float(element.offset) * ticks_per_beat)
            for member in members:
                if not isinstance(member, note.Note):
                    continue
                tie = member.tie or (element.tie if isinstance(element, chord.Chord) else None)
                if tie is not None and tie.type in ("stop", "continue"):
                    continue
                p = member.pitch
                out[(index, tick, p.midi)] = (p.step, int(p.alter))
    return out


def compare(parsed: Any, counts: Counter, confusions: Counter) -> None:
    from music21 import pitch

    from composer.io.notation import from_music21
    from composer.render.spelling import spell_score

    score = from_music21(parsed)
    source = truth(parsed, score.ticks_per_beat)
    after = spell_score(score)
    notes = score.notes
    for i, (part, tick, midi) in enumerate(zip(notes["part"].tolist(), notes["start_tick"].tolist(), notes["pitch"].tolist())):
        want = source.get((part, tick, midi))
        if want is None:
            counts["unmatched"] += 1
            continue
        plain = pitch.Pitch(midi)
        counts["notes"] += 1
        counts["before"] += (plain.step, int(plain.alter)) == want
        counts["after"] += after[i] == want
        if after[i] != want:
            confusions[(f"{want[0]}{'#' * want[1] or 'b' * -want[1]}", f"{after[i][0]}{'#' * after[i][1] or 'b' * -after[i][1]}")] += 1


def chorales(limit: int) -> list[Path]:
    from music21 import corpus

    paths = sorted(p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml", ".musicxml"))
    return paths[:limit] if limit else paths


def folk_files(limit: int) -> list[Path]:
    from music21 import corpus

    paths = sorted(p for p in corpus.getPaths() if p.suffix == ".abc" and p.parent.name in ("essenFolksong", "airdsAirs"))
    return paths[:limit] if limit else paths


def run(name: str, items: list[tuple[str, Any]]) -> None:
    from composer.io.notation import quiet_music21

    counts: Counter = Counter()
    confusions: Counter = Counter()
    failed = 0
    start = time.perf_counter()
    for _, load in items:
        try:
            with quiet_music21():
                parsed = load()
                compare(parsed, counts, confusions)
        except Exception:  # a source music21 or the reader cannot take: left out, counted
            failed += 1
    total = max(counts["notes"], 1)
    print(
        f"{name:10s} {len(items) - failed:5d} pieces {counts['notes']:7d} notes   "
        f"before {100 * counts['before'] / total:6.2f} %   after {100 * counts['after'] / total:6.2f} %   "
        f"({failed} unreadable, {counts['unmatched']} notes unmatched, {time.perf_counter() - start:.0f} s)"
    )
    if confusions:
        print("           commonest misspellings (source -> ours): " + ", ".join(f"{a}->{b} x{n}" for (a, b), n in confusions.most_common(8)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chorales", type=int, default=0, help="how many chorale files (0: all)")
    parser.add_argument("--folk-files", type=int, default=0, help="how many ABC files (0: all)")
    parser.add_argument("--tunes-per-file", type=int, default=10)
    args = parser.parse_args()

    from music21 import converter

    from composer.io.notation import abc_tune_numbers

    def parse(path: Path, number: int | None = None) -> Any:
        return converter.parseFile(path, number=number, forceSource=True, storePickle=False) if number else converter.parseFile(path, storePickle=False)

    run("chorales", [(str(p), lambda p=p: parse(p)) for p in chorales(args.chorales)])
    tunes = []
    for path in folk_files(args.folk_files):
        for number in abc_tune_numbers(path)[: args.tunes_per_file]:
            tunes.append((f"{path}:{number}", lambda p=path, n=number: parse(p, n)))
    run("folk tunes", tunes)


if __name__ == "__main__":
    main()
