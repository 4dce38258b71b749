"""Which suffix reads or writes which format: the one home of the two tables.

This module sits above ``composer.io`` (the readers and the MIDI writer, atomic
output) and ``composer.render`` (MusicXML, engraving, audio, piano roll); the
readers and writers are imported only when a file of their kind is read or
written, so importing this module loads neither numpy nor music21.

A writer takes the score and a finished temporary path (``write`` renames it
into place, so no half-written file is ever left) and returns what it wants
the user told, such as the synthesizer that made a WAV, or None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Optional

from composer.errors import ReadError, WriteError
from composer.io.checks import check_readable

if TYPE_CHECKING:
    from composer.score import Score

Reader = Callable[[Path], "Score"]
Writer = Callable[["Score", Path], Optional[str]]


@dataclass(frozen=True)
class Written:
    """What ``write`` wrote: the path, and a note for the user ("" when there is nothing to say)."""

    path: Path
    note: str = ""

    def __fspath__(self) -> str:
        return str(self.path)


# -- readers (composer.io) ----------------------------------------------------
def _read_midi(path: Path) -> Score:
    from composer.io.midi import read_midi

    return read_midi(path)


def _read_musicxml(path: Path) -> Score:
    from composer.io.notation import read_musicxml

    return read_musicxml(path)


def _read_abc(path: Path) -> Score:
    from composer.io.notation import read_abc

    return read_abc(path)


# -- writers (composer.io for MIDI, composer.render for the rest) -------------
def _write_midi(score: Score, path: Path) -> None:
    from composer.io.midi import write_midi

    write_midi(score, path)


def _write_musicxml(score: Score, path: Path) -> None:
    from composer.render.musicxml import write_musicxml

    write_musicxml(score, path)


def _write_mxl(score: Score, path: Path) -> None:
    from composer.render.musicxml import write_mxl

    write_mxl(score, path)


def _write_svg(score: Score, path: Path) -> None:
    from composer.render.engrave import write_svg

    write_svg(score, path)


def _write_png(score: Score, path: Path) -> None:
    from composer.render.engrave import write_png

    write_png(score, path)


def _write_pdf(score: Score, path: Path) -> None:
    from composer.render.engrave import write_pdf

    write_pdf(score, path)


def _write_wav(score: Score, path: Path) -> str:
    from composer.render.audio import write_wav

    return write_wav(score, path)


READERS: dict[str, Reader] = {
    ".mid": _read_midi,
    ".midi": _read_midi,
    ".smf": _read_midi,
    ".musicxml": _read_musicxml,
    ".xml": _read_musicxml,
    ".mxl": _read_musicxml,
    ".abc": _read_abc,
}

WRITERS: dict[str, Writer] = {
    ".mid": _write_midi,
    ".midi": _write_midi,
    ".musicxml": _write_musicxml,
    ".mxl": _write_mxl,
    ".svg": _write_svg,
    ".png": _write_png,
    ".pdf": _write_pdf,
    ".wav": _write_wav,
}


def find_scores(folder: str | Path, suffixes: Iterable[str] = READERS) -> list[str]:
    """The files under ``folder`` (and below) with one of ``suffixes``: their paths relative to it, "/"-separated, sorted.

    As ``Path.rglob("*")`` sees a folder: hidden files count, links to files count,
    links to folders are not followed, folders that cannot be listed are passed over.
    One ``os.scandir`` per folder, no ``Path`` per entry: a dataset folder holds thousands.
    """
    wanted = {s.lower() for s in suffixes}
    names: list[str] = []
    pending = [""]
    while pending:
        below = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(folder, below) if below else folder))
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = f"{below}/{entry.name}" if below else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(name)
            elif os.path.splitext(entry.name)[1].lower() in wanted and entry.is_file():
                names.append(name)
    return sorted(names)


def read(path: str | Path) -> Score:
    """Read a score from MIDI, MusicXML/MXL or ABC; the suffix decides the format."""
    path = check_readable(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise ReadError(f"{path}: unsupported input suffix {path.suffix or '(none)'!r}; expected one of {known}")
    return reader(path)


def write(score: Score, path: str | Path, *, force: bool = False, piano_roll: bool = False) -> Written:
    """Write ``score`` to ``path``; the suffix decides the format. Never leaves a half file.

    With ``piano_roll``, a ``.png``/``.svg``/``.pdf`` output is a piano roll
    instead of engraved sheet music (other suffixes are written as usual).
    """
    from composer.io import atomic_path
    from composer.limits import check_score

    path = Path(path)
    check_score(score, str(path), WriteError)  # a Score built in Python meets the readers' limits too
    suffix = path.suffix.lower()
    if piano_roll:
        from composer.render.pianoroll import PIANO_ROLL_SUFFIXES, write_piano_roll

        if suffix in PIANO_ROLL_SUFFIXES:
            return Written(write_piano_roll(score, path, force=force), "piano roll")
    writer = WRITERS.get(suffix)
    if writer is None:
        known = ", ".join(sorted(WRITERS))
        raise WriteError(f"{path}: unsupported output suffix {path.suffix or '(none)'!r}; expected one of {known}")
    with atomic_path(path, force=force) as tmp:
        note = writer(score, tmp)
    return Written(path, note or "")
