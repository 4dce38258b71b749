"""The corpus: reading a folder of music for training and comparison, and building the bundled one.

The bundled corpus (``midi_corpus/``) holds one sub-folder per collection
(``chorales/``, ``folk/``), each with its MIDI files, a ``manifest.csv`` (one
row per file, sorted by file) and a ``skipped.csv`` (sources that were left
out, and why), plus a generated ``README.md``. It is built from music21's own
corpus (nothing is downloaded) by ``build``.

The split of a piece depends on its file name only (see ``split_of``), so it
never changes when pieces are added or removed. ``discover`` decides which
files make up any corpus folder: a corpus, one collection, or a plain folder
of MIDI, MusicXML or ABC files.

``reading`` imports neither music21 nor numpy; ``building`` imports music21
only while it builds.
"""

from __future__ import annotations

from composer.corpus.building import build
from composer.corpus.reading import (
    COLLECTIONS,
    MANIFEST,
    MANIFEST_FIELDS,
    MIDI_SUFFIXES,
    README,
    SHIPPED_COLLECTIONS,
    SKIPPED,
    SOURCES,
    SPLITS,
    UNKNOWN_STYLE,
    CorpusError,
    Piece,
    check_splits,
    collections_of,
    data_sources,
    discover,
    has_manifests,
    info,
    is_corpus,
    iter_files,
    load_manifest,
    load_skipped,
    split_of,
)

__all__ = [
    "COLLECTIONS",
    "MANIFEST",
    "MANIFEST_FIELDS",
    "MIDI_SUFFIXES",
    "README",
    "SHIPPED_COLLECTIONS",
    "SKIPPED",
    "SOURCES",
    "SPLITS",
    "UNKNOWN_STYLE",
    "CorpusError",
    "Piece",
    "build",
    "check_splits",
    "collections_of",
    "data_sources",
    "discover",
    "has_manifests",
    "info",
    "is_corpus",
    "iter_files",
    "load_manifest",
    "load_skipped",
    "split_of",
]
