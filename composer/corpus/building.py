"""Building the bundled corpus from music21's own corpus (nothing is downloaded).

``build`` converts each source in worker processes, writes the collection
folders with their manifests beside the old corpus, and swaps the new folder
in at the end. music21 is imported only while building.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from composer.io.atomic import STALE_AFTER_S, abandoned, exchange_paths
from composer.corpus.reading import (
    COLLECTIONS,
    MANIFEST,
    MANIFEST_FIELDS,
    README,
    SKIPPED,
    SOURCES,
    SOURCES_FIELDS,
    SHIPPED_COLLECTIONS,
    CorpusError,
    collections_of,
    info,
    is_corpus,
    load_skipped,
    split_of,
)

if TYPE_CHECKING:
    from composer.score import Score

CHORALE_PARTS = ("Soprano", "Alto", "Tenor", "Bass")
CHORALE_PROGRAM = 52  # General MIDI "Choir Aahs"
CHORALE_COMPOSER = "Johann Sebastian Bach"
FOLK_PART = "Melody"
# Of several encodings of one chorale in music21's bach folder, the first format listed wins.
CHORALE_FORMATS = (".mxl", ".xml", ".krn")
# collection -> music21 corpus folder -> (file name prefix, tunes taken). The first
# tunes in sha1 order of "folder/file#X" are taken: a fixed, spread-out sample.
FOLK_SOURCES: dict[str, dict[str, tuple[str, int]]] = {
    "folk": {
        "oneills1850": ("oneills1850", 450),
        "ryansMammoth": ("ryans", 450),
        "airdsAirs": ("aird", 450),
    },
    "essen": {"essenFolksong": ("essen", 450)},
}
_MUSIC21_TERMS = "encoding distributed with music21 under music21/corpus/license.txt (music21: BSD-3-Clause)"
# music21 corpus folder -> (what it is, its licence as far as music21 and the files say).
# The build writes these into each collection's sources.csv; training copies them into the model.
SOURCE_LICENCES: dict[str, tuple[str, str]] = {
    "bach": (
        "J. S. Bach, four-part chorales",
        f"music public domain; {_MUSIC21_TERMS}; a few Humdrum (.krn) files note 'Copyright 1994, CCARH'",
    ),
    "oneills1850": (
        "Francis O'Neill, O'Neill's Music of Ireland: 1850 Melodies (1903), ABC by several transcribers",
        f"music public domain; {_MUSIC21_TERMS}; no licence note in the files",
    ),
    "ryansMammoth": (
        "William Bradbury Ryan, Ryan's Mammoth Collection (1883), ABC by several transcribers",
        f"music public domain; {_MUSIC21_TERMS}; no licence note in the files",
    ),
    "airdsAirs": (
        "James Aird, A Selection of Scotch, English, Irish and Foreign Airs (1778-1803), ABC by Jack Campin",
        f"music public domain; {_MUSIC21_TERMS}; no licence note in the files",
    ),
    "essenFolksong": (
        "Essen folksong collection (EsAC), ABC by Seymour Shlien",
        "NON-COMMERCIAL: distributed with music21 by permission 'for non-commercial distribution and use' "
        "(music21/corpus/essenFolksong/license.txt)",
    ),
}
_C1_CONTROLS = re.compile("[\x80-\x9f]")
# Steps a quarter note when comparing note content for duplicates (covers 16ths and triplets).
DEDUP_STEPS_PER_BEAT = 12



class _Skip(Exception):
    """A source that reads fine but does not belong in its collection."""



# -- sources -----------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    collection: str
    source: str  # music21 corpus path, "#X" appended for one tune of an ABC file
    path: str  # absolute path of the source file
    number: int | None  # ABC tune number
    file: str  # output file name


def _music21_corpus_root() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath())


def _ascii_name(text: str) -> str:
    return re.sub(r"[^a-z0-9.\-]+", "-", text.lower()).strip("-.") or "untitled"


def _chorale_tasks(root: Path) -> tuple[list[_Task], list[tuple[str, str, str]]]:
    """One task per chorale, and (source, reason, source used instead) for alternative encodings."""
    by_stem: dict[str, list[Path]] = {}
    for path in sorted((root / "bach").iterdir()):
        if path.is_file() and path.suffix.lower() in CHORALE_FORMATS:
            by_stem.setdefault(path.stem.lower(), []).append(path)
    chosen: list[Path] = []
    alternatives: list[tuple[str, str, str]] = []
    for stem in sorted(by_stem):
        paths = sorted(by_stem[stem], key=lambda p: CHORALE_FORMATS.index(p.suffix.lower()))
        chosen.append(paths[0])
        kept = f"bach/{paths[0].name}"
        for other in paths[1:]:
            alternatives.append((f"bach/{other.name}", f"another encoding of {kept}, which is used", kept))
    chosen.sort(key=lambda p: p.name)
    # "bwv66.6" -> "bwv66" unless another chorale of BWV 66 needs the movement number.
    short = {p: _ascii_name(p.stem.split(".")[0]) for p in chosen}
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    tasks = []
    for p in chosen:
        name = short[p] if counts[short[p]] == 1 else _ascii_name(p.stem)
        tasks.append(_Task("chorales", f"bach/{p.name}", str(p), None, f"{name}.mid"))
    names = [t.file for t in tasks]
    if len(set(names)) != len(names):
        raise CorpusError("chorale file names are not unique; music21's bach folder has unexpected names")
    return tasks, sorted(alternatives)


def _folk_tasks(root: Path, collection: str) -> list[_Task]:
    from composer.io.notation import abc_tune_numbers

    tasks: list[_Task] = []
    for folder, (prefix, quota) in FOLK_SOURCES[collection].items():
        candidates: list[_Task] = []
        seen_numbers: set[int] = set()
        files = sorted((root / folder).glob("*.abc"))
        for path in files:
            numbers = abc_tune_numbers(path)
            for number in dict.fromkeys(numbers):
                if folder == "oneills1850":
                    # O'Neill's numbers its tunes 1..1850 across files; a few ranges are
                    # transcribed twice in overlapping files: take the first file's.
                    if number in seen_numbers:
                        continue
                    seen_numbers.add(number)
                    file = f"{prefix}_{number:04d}.mid"
                elif len(numbers) == 1:
                    file = f"{prefix}_{_ascii_name(path.stem)}.mid"
                else:
                    file = f"{prefix}_{_ascii_name(path.stem)}_{number:04d}.mid"
                source = f"{folder}/{path.name}#{number}"
                candidates.append(_Task(collection, source, str(path), number, file))
        candidates.sort(key=lambda t: hashlib.sha1(t.source.encode("utf-8")).hexdigest())
        tasks.extend(candidates[:quota])
    tasks.sort(key=lambda t: t.file)
    names = [t.file for t in tasks]
    if len(set(names)) != len(names):
        raise CorpusError(f"{collection} file names are not unique; music21's ABC folders have unexpected names")
    return tasks


# -- converting one piece (runs in worker processes) -----------------------------
def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


_ASCII = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"'})


def _ascii_text(text: str) -> str:
    """A plain-ASCII version of a title: MIDI text events have no agreed encoding."""
    import unicodedata

    return unicodedata.normalize("NFKD", text.translate(_ASCII)).encode("ascii", "ignore").decode("ascii")


def _content_hash(score: Score) -> str:
    from composer.score import quantize

    notes = quantize(score, DEDUP_STEPS_PER_BEAT).notes
    columns = [notes[name].astype("<i8").tobytes() for name in ("start_tick", "duration_ticks", "pitch", "part")]
    return hashlib.sha1(b"".join(columns)).hexdigest()


def _chorale_score(task: _Task) -> Score:
    import numpy as np

    from composer.io.notation import read_with_music21
    from composer.score import Part, select_parts

    score = read_with_music21(task.path)
    voiced = [i for i in range(score.num_parts) if len(score.part_notes(i))]
    if len(voiced) != 4:
        names = ", ".join(score.parts[i].name for i in voiced)
        raise _Skip(f"{len(voiced)} parts with notes ({names}), expected 4 voices")
    # Top to bottom by mean pitch: the files list voices in that order, but don't trust it.
    order = sorted(voiced, key=lambda i: -float(np.mean(score.part_notes(i)["pitch"])))
    score = select_parts(score, order)
    stem = Path(task.path).stem
    return score.replace(
        parts=tuple(Part(name, CHORALE_PROGRAM) for name in CHORALE_PARTS),
        title=f"BWV {stem[3:]}" if stem.lower().startswith("bwv") else stem,
        metadata={"composer": CHORALE_COMPOSER, "source": f"music21 corpus {task.source}"},
    )


@functools.lru_cache(maxsize=64)
def _has_cp437_titles(path: str) -> bool:
    """True for music21's Essen files whose titles are DOS (CP437) text read as Latin-1.

    Those files show C1 control characters ("M\\x81llerlied" for "Müllerlied");
    the other files' accents ("Rádái", Irish) are genuine.
    """
    return bool(_C1_CONTROLS.search(Path(path).read_text(encoding="utf-8", errors="replace")))


def _folk_score(task: _Task) -> Score:
    from composer.io.notation import read_abc
    from composer.score import Part, select_parts

    score = read_abc(task.path, task.number)
    voiced = [i for i in range(score.num_parts) if len(score.part_notes(i))]
    if len(voiced) != 1:
        raise _Skip(f"{len(voiced)} parts with notes, expected one melody")
    if score.num_parts != 1:
        score = select_parts(score, voiced)
    title = score.title
    if task.source.startswith("essenFolksong/") and _has_cp437_titles(task.path) and re.search("[\x80-\xff]", title):
        with contextlib.suppress(UnicodeError):
            title = title.encode("latin-1").decode("cp437")
    return score.replace(
        parts=(Part(FOLK_PART, 0),),
        title=title,
        metadata={"source": f"music21 corpus {task.source}"},
    )


def _meter(score: Score) -> str:
    from composer.theory import partial_first_bar

    pickup = partial_first_bar(score)
    if pickup is not None:
        numerator, denominator = pickup[1]
    else:
        numerator, denominator = int(score.time_signatures["numerator"][0]), int(score.time_signatures["denominator"][0])
    return f"{numerator}/{denominator}"


def _key(score: Score) -> str:
    from composer.theory import key_name

    keys = score.key_signatures
    if len(keys) == 0 or int(keys["tick"][0]) != 0:
        return ""
    return key_name(int(keys["sharps"][0]), bool(keys["minor"][0]))


def _convert(job: tuple[_Task, str]) -> tuple[str, Any]:
    """Convert one source into ``out_folder``: ("ok", (row, content hash)) or ("skip", reason)."""
    from composer.io.midi import write_midi

    task, out_folder = job
    try:
        score = _chorale_score(task) if task.collection == "chorales" else _folk_score(task)
    except _Skip as exc:
        return "skip", str(exc)
    except Exception as exc:  # a bad source is reported and skipped, never fatal
        reason = _one_line(exc)
        # Reasons go into committed files: no machine-specific paths.
        for prefix in (f"{task.path} (X:{task.number}): ", f"{task.path}: "):
            reason = reason.replace(prefix, "")
        return "skip", f"{type(exc.__cause__ or exc).__name__}: {reason.replace(task.path, task.source)}"
    title = score.title
    write_midi(score.replace(title=_ascii_text(title)), Path(out_folder) / task.file)
    row = {
        "file": task.file,
        "title": title,
        "source": task.source,
        "key": _key(score),
        "meter": _meter(score),
        "notes": len(score.notes),
        "bars": score.num_bars,
        "split": split_of(task.file),
    }
    return "ok", (row, _content_hash(score))


# -- manifests -------------------------------------------------------------------
def _write_csv(path: Path, fields: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    path.write_bytes(buffer.getvalue().encode("utf-8"))  # "\n" line ends on every platform



def _source_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per music21 corpus folder the files came from: its description, file count and licence."""
    counts: dict[str, int] = {}
    for row in rows:
        folder = row["source"].split("/", 1)[0]
        counts[folder] = counts.get(folder, 0) + 1
    out = []
    for folder in sorted(counts):
        name, licence = SOURCE_LICENCES.get(folder, (folder, f"unknown; {_MUSIC21_TERMS}"))
        out.append({"source": folder, "name": name, "files": counts[folder], "licence": licence})
    return out


# -- README ------------------------------------------------------------------------
_README_HEAD = """\
# midi_corpus: MIDI files built from music21's corpus

Generated by `composer corpus build` (in Python: `composer.corpus.build("midi_corpus")`).
Do not edit by hand: a rebuild rewrites the whole folder, byte for byte the
same for the same versions of composer and music21 (this one: music21
{music21}). It takes about a minute on two cores.

## Provenance

Every piece comes from the corpus that ships inside the music21 package
(`music21/corpus/`); nothing is downloaded. The notes are taken as written:
repeats are not expanded (so pieces whose repeats music21 cannot expand, such
as `bach/bwv277`, are included as written), ties are merged, grace notes are
dropped, and a pickup becomes a short first bar with its own time signature
(for example 1/4, then 4/4 from the first downbeat). Files are written at 480
ticks per quarter note by `composer.io.midi.write_midi`; titles inside the
MIDI files are plain ASCII, the manifests keep them in full.

Phrase and section structure is kept as MIDI marker meta events on the first
track, read back as `Score.markers` by `composer.read`: a marker "phrase"
where a phrase ends (where a note under a fermata ends, as at the end of
each chorale phrase; and where the last note before a strain boundary ends)
and "section" where a new strain starts (at a repeat sign, double bar or
rehearsal mark; the piece's own start and end are not marked, nor a second
ending). ABC part labels (`P:`) are not seen, as music21 drops them; in these
collections the strains they label are between repeat signs or double bars
as well.

- `chorales/`: every four-part Bach chorale in `music21/corpus/bach/`
  (`.mxl` and `.xml` files; a `.krn` only where no other encoding of the
  piece exists). Pieces with more or fewer than four parts (instrumental
  parts, divided voices, `bwv846` which is no chorale) are left out, as are
  pieces whose notes repeat an earlier file's exactly (compared on a
  1/{steps}-beat grid; the first by source path is kept). Parts are named
  Soprano, Alto, Tenor, Bass from top to bottom, General MIDI program 52
  (Choir Aahs). A file is named after its BWV number (`bwv269.mid`); the
  movement number stays (`bwv66.6.mid`) only where two sources share a BWV
  number.
- `folk/`: one melody per file (part "Melody", program 0), a fixed sample:
  {folk_quota}.
  Within each collection the tunes are ordered by the sha1 of
  `folder/file#X` and the first ones are taken, a spread-out sample that
  does not change when music21 changes how it parses a tune. O'Neill's tunes
  are named by their number in the book (`oneills1850_0123.mid`; where two of
  music21's files transcribe the same number, the first file is used), Ryan's
  by their file (`ryans_acaciareel.mid`), Aird's by book and tune number
  (`aird_book1_0007.mid`).
- `essen/` (not shipped, not built by default: `composer corpus build
  --collection essen`): {essen_quota}, named by file and tune number
  (`essen_altdeu10_0007.mid`), one melody per file as in `folk/`. Its
  encodings are for non-commercial use only (see Licence). Several of
  music21's Essen files hold their titles as DOS (CP437) text read as
  Latin-1 ("M\\x81llerlied"); in the files that show such characters the
  titles are decoded again ("Müllerlied").

Each folder has `manifest.csv` (file, title, source, key, meter, notes, bars,
split; sorted by file; `source` is the music21 corpus path, with `#X` for
tune X of an ABC file; `key` comes from the key signature, upper case for
major and lower case for minor, so a modal tune shows its signature's major
key; `meter` is the first real time signature, not a pickup's, and 4/4
where the source has none), `skipped.csv` (each source left out, and why)
and `sources.csv` (each music21 folder the files came from: what it is, how
many files, and its licence as music21 and the files state it; training
copies these rows into the model file's `data_sources` metadata).

## Splits

A file's split follows from its name alone:
`int(sha1(file_name.encode("utf-8")).hexdigest(), 16) % 10` is 0 for `test`,
1 for `valid`, anything else for `train` (`composer.corpus.split_of`).

## Counts

| collection | files | notes | train | valid | test | skipped |
|---|---:|---:|---:|---:|---:|---:|
"""

_README_LICENCE = """
## Licence

The music itself is in the public domain: J. S. Bach's chorales (died
1750), the tunes of O'Neill's *Music of Ireland* (1903), of Ryan's *Mammoth
Collection* (1883) and of Aird's *Selection of Scotch, English, Irish and
Foreign Airs* (1778-1803). The encodings are the work of their transcribers
and are distributed with music21 under the terms music21 documents in
`music21/corpus/license.txt` (music21 itself is BSD-3-Clause): some corpus
encodings "may not be used for commercial uses or have other restrictions:
please see the licenses embedded in individual compositions or directories".
None of the folders the shipped collections come from has a licence file of
its own; the ABC files carry transcriber credits only (Aird's: "Jack Campin
* www.campin.me.uk * 2009"), and a few of the Bach `.krn` files note
"Copyright 1994, Center for Computer Assisted Research in the Humanities".
`music21/corpus/essenFolksong/license.txt` says the Essen encodings are
distributed with music21 by permission "for non-commercial distribution and
use": that is why `essen/` is not built by default nor shipped, nor used to
train the shipped models. `sources.csv` in each folder lists these notes;
check them before any commercial use.
"""


def _readme(corpus_dir: Path) -> str:
    import music21

    quota = {name: "; ".join(f"{q} tunes of `{folder}`" for folder, (_, q) in sources.items()) for name, sources in FOLK_SOURCES.items()}
    text = _README_HEAD.format(music21=music21.__version__, steps=DEDUP_STEPS_PER_BEAT, folk_quota=quota["folk"], essen_quota=quota["essen"])
    all_files = all_notes = 0
    for name, splits in info(corpus_dir).items():
        files = sum(s["files"] for s in splits.values())
        notes = sum(s["notes"] for s in splits.values())
        all_files, all_notes = all_files + files, all_notes + notes
        skipped = len(load_skipped(corpus_dir, name))
        text += (
            f"| {name} | {files} | {notes} | {splits['train']['files']} | "
            f"{splits['valid']['files']} | {splits['test']['files']} | {skipped} |\n"
        )
    text += f"| all | {all_files} | {all_notes} | | | | |\n"
    text += "\n## Skipped sources\n"
    for name in collections_of(corpus_dir):
        skipped = load_skipped(corpus_dir, name)
        text += f"\n### {name} ({len(skipped)})\n\n"
        if not skipped:
            text += "None.\n"
        for source, reason in skipped:
            text += f"- `{source}`: {reason}\n"
    return text + _README_LICENCE


# -- build ---------------------------------------------------------------------------
def _run(jobs: list[tuple[_Task, str]], workers: int, on_done: Callable[[int], None]) -> list[tuple[str, Any]]:
    """Convert all jobs; results come back in job order whatever the scheduling."""
    results: list[tuple[str, Any]] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_convert(job))
            on_done(len(results))
        return results
    import multiprocessing

    with multiprocessing.get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
        for result in pool.imap(_convert, jobs, chunksize=2):
            results.append(result)
            on_done(len(results))
    return results


def _build_collection(
    collection: str,
    folder: Path,
    root: Path,
    workers: int,
    limit: int | None,
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, Any]:
    alternatives: list[tuple[str, str, str]] = []
    if collection == "chorales":
        tasks, alternatives = _chorale_tasks(root)
    else:
        tasks = _folk_tasks(root, collection)
    if limit is not None:
        tasks = tasks[:limit]
    used = {t.source for t in tasks}
    skipped = [(source, reason) for source, reason, kept in alternatives if kept in used]
    folder.mkdir()
    total = len(tasks)
    if progress is not None:
        progress(collection, 0, total)
    results = _run([(t, str(folder)) for t in tasks], workers, lambda done: progress(collection, done, total) if progress else None)

    rows: list[dict[str, Any]] = []
    first_with: dict[str, str] = {}  # content hash -> source kept
    # Duplicates are judged in source order, so "the first by source path" is kept.
    for task, (status, payload) in sorted(zip(tasks, results), key=lambda tr: tr[0].source):
        if status != "ok":
            skipped.append((task.source, payload))
            continue
        row, digest = payload
        if digest in first_with:
            (folder / task.file).unlink()
            skipped.append((task.source, f"same notes as {first_with[digest]}, which is used"))
            continue
        first_with[digest] = task.source
        rows.append(row)
    rows.sort(key=lambda r: r["file"])
    skipped.sort()
    _write_csv(folder / MANIFEST, MANIFEST_FIELDS, rows)
    _write_csv(folder / SKIPPED, ("source", "reason"), ({"source": s, "reason": r} for s, r in skipped))
    _write_csv(folder / SOURCES, SOURCES_FIELDS, _source_rows(rows))
    return {"written": len(rows), "notes": sum(r["notes"] for r in rows), "skipped": skipped}


def build(
    out_dir: str | Path,
    *,
    collections: Sequence[str] = SHIPPED_COLLECTIONS,
    jobs: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    limit: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Build (or rebuild) the corpus in ``out_dir`` from music21's corpus.

    Builds in a temporary folder beside ``out_dir`` and swaps it in at the
    end, so a failed or interrupted build leaves ``out_dir`` as it was.
    Collections not rebuilt are carried over from an existing corpus.
    ``limit`` takes only the first pieces of each collection (for tests).
    ``progress(collection, done, total)`` is called as pieces finish.

    Returns ``{collection: {"written": int, "notes": int, "skipped":
    [(source, reason), ...]}}`` for the collections built.
    """
    out_dir = Path(out_dir)
    collections = tuple(dict.fromkeys(collections))
    if not collections:
        raise CorpusError(f"no collections to build; expected some of {', '.join(COLLECTIONS)}")
    for name in collections:
        if name not in COLLECTIONS:
            raise CorpusError(f"unknown collection {name!r}; expected one of {', '.join(COLLECTIONS)}")
    if jobs is not None and jobs < 1:
        raise CorpusError(f"jobs must be at least 1, got {jobs}")
    if limit is not None and limit < 1:
        raise CorpusError(f"limit must be at least 1, got {limit}")
    recover(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise CorpusError(f"{out_dir}: exists and is not a folder")
        if not force and not is_corpus(out_dir) and any(out_dir.iterdir()):
            raise CorpusError(f"{out_dir}: exists and is not a composer corpus (no {MANIFEST}); use force to replace it")
    workers = jobs or os.cpu_count() or 1
    try:
        root = _music21_corpus_root()
    except Exception as exc:
        raise CorpusError(f"cannot find music21's corpus ({_one_line(exc)})") from exc
    if not (root / "bach").is_dir():
        raise CorpusError(f"{root}: music21's corpus is not installed (no bach/ folder)")

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-{os.getpid()}-", dir=out_dir.parent))
    except OSError as exc:
        raise CorpusError(f"{out_dir}: cannot create a folder beside it ({exc.strerror or exc})") from exc
    try:
        summary: dict[str, Any] = {}
        for name in collections:
            summary[name] = _build_collection(name, tmp / name, root, workers, limit, progress)
        if is_corpus(out_dir):
            for name in collections_of(out_dir):
                if name not in collections:
                    shutil.copytree(out_dir / name, tmp / name, copy_function=_link_or_copy)
        (tmp / README).write_bytes(_readme(tmp).encode("utf-8"))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a corpus is meant to be shared
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def recover(out_dir: Path) -> None:
    """Undo what a killed build left beside ``out_dir``: put a set-aside corpus back, remove the rest.

    Where the system cannot swap two folders at once, ``_swap`` sets the old corpus aside
    as ``.NAME.old-PID-*`` for the instant between two renames; a kill there leaves no
    ``out_dir``, so the old one, complete, goes back. Half-built ``.NAME.build-PID-*``
    folders and leftover ``.old-`` ones of processes that are gone are removed; a running
    build's are kept. Older versions named them without a PID: those go once untouched
    for an hour (``STALE_AFTER_S``), or at once where an ``.old-`` one is the only corpus.
    """
    try:
        names = sorted(os.listdir(out_dir.parent))
    except OSError:
        return
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(?P<kind>old|build)-(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+")
    matches = [m for m in map(pattern.fullmatch, names) if m is not None]
    for kind in ("old", "build"):
        for match in (m for m in matches if m["kind"] == kind):
            leftover = out_dir.parent / match.string
            restore = kind == "old" and not out_dir.exists() and is_corpus(leftover)
            if not abandoned(leftover, match["pid"], stale_after=0 if restore else STALE_AFTER_S):
                continue
            if restore:
                with contextlib.suppress(OSError):
                    os.replace(leftover, out_dir)
                continue
            shutil.rmtree(leftover, ignore_errors=True)


def _swap(new: Path, out_dir: Path) -> None:
    """Put ``new`` where ``out_dir`` is: at every instant one complete corpus is at ``out_dir``.

    On Linux the two folders are exchanged in one step and ``new`` (now the old corpus)
    removed; elsewhere the old folder is renamed aside, the new one in, and the old one
    removed, with ``recover`` putting it back after a kill between the two renames.
    """
    if not out_dir.exists():
        os.replace(new, out_dir)
        return
    if exchange_paths(new, out_dir):
        shutil.rmtree(new, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-{os.getpid()}-", dir=out_dir.parent))
    old.rmdir()
    os.replace(out_dir, old)
    try:
        os.replace(new, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(old)


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link a file of a collection carried over (the old folder goes after the swap); copy where links fail."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
