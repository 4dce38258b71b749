"""Reading a corpus: the split rule, manifests, and which files make up a corpus folder.

Nothing here imports music21 or numpy.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from composer.errors import ComposerError

# collection folder -> (style, description)
COLLECTIONS: dict[str, tuple[str, str]] = {
    "chorales": ("chorale", "Four-part chorales (Soprano, Alto, Tenor, Bass) by J. S. Bach, from music21's corpus/bach"),
    "folk": ("folk", "Folk melodies from music21's ABC collections: O'Neill's 1850, Ryan's Mammoth Collection, Aird's Airs"),
    "essen": ("folk", "Essen folksongs from music21's ABC collection: non-commercial use only, built on request and not shipped"),
}
# What ``composer corpus build`` builds by default and what midi_corpus ships: the
# collections whose encodings carry no non-commercial restriction.
SHIPPED_COLLECTIONS = ("chorales", "folk")
SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.csv"
SKIPPED = "skipped.csv"
SOURCES = "sources.csv"
SOURCES_FIELDS = ("source", "name", "files", "licence")
README = "README.md"
MANIFEST_FIELDS = ("file", "title", "source", "key", "meter", "notes", "bars", "split")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")
UNKNOWN_STYLE = "unknown"


class CorpusError(ComposerError):
    """A corpus folder is missing, is not a corpus, holds no music, or cannot be (re)built."""


def split_of(file_name: str) -> str:
    """'test', 'valid' or 'train' from the sha1 of the file name (without folder), mod 10."""
    digit = int(hashlib.sha1(Path(file_name).name.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if digit == 0 else "valid" if digit == 1 else "train"


def check_splits(splits: str | Iterable[str]) -> tuple[str, ...]:
    """``splits`` (one name or several) checked against ``SPLITS``, in ``SPLITS`` order."""
    chosen = (splits,) if isinstance(splits, str) else tuple(splits)
    if not chosen:
        raise CorpusError(f"splits: give at least one of {', '.join(SPLITS)}")
    for split in chosen:
        if split not in SPLITS:
            raise CorpusError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return tuple(s for s in SPLITS if s in chosen)


# -- manifests -------------------------------------------------------------------
def _collection_folders(corpus_dir: Path) -> list[str]:
    """Sub-folders with a manifest: the known collections first, in table order, then others by name."""
    if not corpus_dir.is_dir():
        return []
    found = sorted(p.name for p in corpus_dir.iterdir() if (p / MANIFEST).is_file())
    return [n for n in COLLECTIONS if n in found] + [n for n in found if n not in COLLECTIONS]


def is_corpus(corpus_dir: str | Path) -> bool:
    """True when the folder holds at least one collection folder with a manifest."""
    return bool(_collection_folders(Path(corpus_dir)))


def has_manifests(folder: str | Path) -> bool:
    """True when ``discover`` reads the folder through manifests: it is a collection, or a corpus with collections."""
    folder = Path(folder)
    return (folder / MANIFEST).is_file() or is_corpus(folder)


def _check_corpus(corpus_dir: str | Path) -> Path:
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(f"{corpus_dir}: no such corpus folder (build one with 'composer corpus build')")
    if not is_corpus(corpus_dir):
        raise CorpusError(f"{corpus_dir}: not a composer corpus (expected sub-folders such as {', '.join(COLLECTIONS)} with a {MANIFEST})")
    return corpus_dir


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    """The rows of one manifest file (``notes`` and ``bars`` as int), sorted by file."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [f for f in MANIFEST_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(f"{path}: expected columns {','.join(MANIFEST_FIELDS)}, missing {','.join(missing)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                row["notes"] = int(row["notes"])
                row["bars"] = int(row["bars"])
            except (TypeError, ValueError) as exc:
                raise CorpusError(f"{path}, line {line}: notes and bars must be whole numbers") from exc
            if row["split"] not in SPLITS:
                raise CorpusError(f"{path}, line {line}: split must be one of {', '.join(SPLITS)}, got {row['split']!r}")
            rows.append(row)
    return sorted(rows, key=lambda r: r["file"])


def load_manifest(corpus_dir: str | Path, collection: str) -> list[dict[str, Any]]:
    """The manifest rows of one collection (``notes`` and ``bars`` as int), sorted by file."""
    corpus_dir = _check_corpus(corpus_dir)
    path = corpus_dir / collection / MANIFEST
    if not path.is_file():
        present = ", ".join(_collection_folders(corpus_dir))
        raise CorpusError(f"{corpus_dir}: no collection {collection!r}; this corpus has {present}")
    return _read_manifest(path)


def load_skipped(corpus_dir: str | Path, collection: str) -> list[tuple[str, str]]:
    """(source, reason) of each source the build left out of a collection."""
    path = _check_corpus(corpus_dir) / collection / SKIPPED
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["source"], row["reason"]) for row in csv.DictReader(handle)]


def collections_of(corpus_dir: str | Path) -> list[str]:
    """The collections (folders with manifests) of a corpus folder."""
    return _collection_folders(_check_corpus(corpus_dir))


def iter_files(corpus_dir: str | Path, collection: str, split: str | None = None) -> list[Path]:
    """The MIDI files of a collection (optionally one split), sorted by name."""
    chosen = SPLITS if split is None else check_splits(split)
    rows = load_manifest(corpus_dir, collection)
    folder = Path(corpus_dir) / collection
    return [folder / row["file"] for row in rows if row["split"] in chosen]


def info(folder: str | Path) -> dict[str, dict[str, dict[str, int | None]]]:
    """Files and notes per collection and split, for any folder ``discover`` reads.

    ``{collection: {"train": {"files": n, "notes": n}, "valid": {...}, "test": {...}}}``:
    one entry per collection of a corpus root, from the manifests; one entry
    named after the folder for one collection, or for any other folder of
    music: its files as ``discover`` finds them, split by ``split_of``, with
    ``notes`` None (counting them would mean reading every file).
    """
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        collections = [(folder.resolve().name, folder)]
    elif is_corpus(folder):
        collections = [(name, folder / name) for name in _collection_folders(folder)]
    else:
        files = Counter(piece.split for piece in discover(folder))
        return {folder.resolve().name: {s: {"files": files[s], "notes": None} for s in SPLITS}}
    out: dict[str, dict[str, dict[str, int | None]]] = {}
    for name, path in collections:
        rows = _read_manifest(path / MANIFEST)
        out[name] = {s: {"files": sum(r["split"] == s for r in rows), "notes": sum(r["notes"] for r in rows if r["split"] == s)} for s in SPLITS}
    return out


def _read_sources(path: Path) -> dict[str, dict[str, str]]:
    """A collection's ``sources.csv`` by source folder; empty where the build wrote none."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["source"]: row for row in csv.DictReader(handle)}


def data_sources(folder: str | Path, names: Iterable[str]) -> list[dict[str, Any]]:
    """Where the named pieces of a corpus folder come from, and under what licence.

    ``names`` are ``Piece.name``s of ``discover(folder)``. One entry per
    collection and source folder (the first part of the manifest's ``source``):
    ``{"collection", "source", "name", "files", "licence"}``, the description
    and licence taken from the collection's ``sources.csv`` ("not recorded"
    where it has none). A folder without manifests gives an empty list.
    """
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        collections = [("", folder)]
    elif is_corpus(folder):
        collections = [(f"{name}/", folder / name) for name in _collection_folders(folder)]
    else:
        return []
    wanted = set(names)
    out: list[dict[str, Any]] = []
    for prefix, path in collections:
        counts = Counter(row["source"].split("/", 1)[0] for row in _read_manifest(path / MANIFEST) if prefix + row["file"] in wanted)
        notes = _read_sources(path / SOURCES)
        for source in sorted(counts):
            row = notes.get(source, {})
            out.append({
                "collection": path.resolve().name,
                "source": source,
                "name": row.get("name") or source,
                "files": counts[source],
                "licence": row.get("licence") or "not recorded",
            })
    return out


# -- which files make up a corpus folder ------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One file of a corpus folder."""

    path: Path
    name: str  # path relative to the folder given, with '/' separators
    style: str
    split: str


def _collection_pieces(folder: Path, collection: Path, style: str | None) -> list[Piece]:
    known = COLLECTIONS.get(collection.resolve().name)
    piece_style = style or (known[0] if known else UNKNOWN_STYLE)
    prefix = "" if collection == folder else f"{collection.name}/"
    rows = _read_manifest(collection / MANIFEST)
    return [Piece(collection / row["file"], prefix + row["file"], piece_style, row["split"]) for row in rows]


def _readable_suffixes() -> tuple[str, ...]:
    from composer.formats import READERS

    return tuple(READERS)


def discover(folder: str | Path, *, style: str | None = None, splits: str | Iterable[str] | None = None, midi_only: bool = False) -> list[Piece]:
    """The pieces that make up a corpus folder, with their split and style, sorted by name.

    A folder is read in one of three ways:

    * a collection (it holds ``manifest.csv``): the files its manifest lists,
      with their splits; the style is the collection's (``COLLECTIONS``), else
      "unknown";
    * a corpus root whose sub-folders are collections: all of them together,
      named ``collection/file``;
    * any other folder: every MIDI, MusicXML or ABC file in it and below, split
      by ``split_of`` (the rule of the bundled corpus), style "unknown".

    ``style`` replaces every piece's style. ``splits`` keeps only the pieces of
    those splits. ``midi_only`` keeps only MIDI files (``MIDI_SUFFIXES``): they
    read about a hundred times faster than MusicXML or ABC. Raises
    ``CorpusError`` when the folder is missing or no piece is left.
    """
    folder = Path(folder)
    what = "MIDI" if midi_only else "MIDI, MusicXML or ABC"
    if not folder.exists():
        raise CorpusError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CorpusError(f"{folder}: is a file, expected a folder of {what} files")
    chosen = None if splits is None else check_splits(splits)
    suffixes = MIDI_SUFFIXES if midi_only else _readable_suffixes()
    if (folder / MANIFEST).is_file():
        pieces = _collection_pieces(folder, folder, style)
    elif is_corpus(folder):
        pieces = [p for name in _collection_folders(folder) for p in _collection_pieces(folder, folder / name, style)]
    else:
        from composer.formats import find_scores

        found = [(folder / name, name) for name in find_scores(folder, suffixes)]
        pieces = [Piece(path, name, style or UNKNOWN_STYLE, split_of(path.name)) for path, name in found]
    pieces = [p for p in pieces if p.path.suffix.lower() in suffixes]
    if not pieces:
        raise CorpusError(f"{folder}: no {what} files found in it or below")
    if chosen is not None:
        pieces = [p for p in pieces if p.split in chosen]
        if not pieces:
            raise CorpusError(f"{folder}: no {what} files found in split {', '.join(chosen)}")
    return sorted(pieces, key=lambda p: p.name)
