"""Readers and writers. The format follows the file's suffix, through the two tables below.

Heavy libraries (music21) are imported only by the readers that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from composer.errors import ReadError, WriteError
from composer.score import Score


def _read_midi(path: Path) -> Score:
    from composer.io.midi import read_midi

    return read_midi(path)


def _read_musicxml(path: Path) -> Score:
    from composer.io.notation import read_musicxml

    return read_musicxml(path)


def _read_abc(path: Path) -> Score:
    from composer.io.notation import read_abc

    return read_abc(path)


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


def _write_wav(score: Score, path: Path) -> None:
    # The backend used (fluidsynth or pretty_midi) is left in composer.render.audio.last_backend.
    from composer.render.audio import write_wav

    write_wav(score, path)


READERS: dict[str, Callable[[Path], Score]] = {
    ".mid": _read_midi,
    ".midi": _read_midi,
    ".smf": _read_midi,
    ".musicxml": _read_musicxml,
    ".xml": _read_musicxml,
    ".mxl": _read_musicxml,
    ".abc": _read_abc,
}

# Writers take a finished temporary path; ``write`` does the atomic rename.
WRITERS: dict[str, Callable[[Score, Path], None]] = {
    ".mid": _write_midi,
    ".midi": _write_midi,
    ".musicxml": _write_musicxml,
    ".mxl": _write_mxl,
    ".svg": _write_svg,
    ".png": _write_png,
    ".pdf": _write_pdf,
    ".wav": _write_wav,
}


def check_readable(path: str | Path) -> Path:
    """Raise ReadError unless ``path`` is an existing, non-empty file."""
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file")
    if path.is_dir():
        raise ReadError(f"{path}: is a folder, expected a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror})") from exc
    if size == 0:
        raise ReadError(f"{path}: file is empty")
    return path


def read(path: str | Path) -> Score:
    """Read a score from MIDI, MusicXML/MXL or ABC; the suffix decides the format."""
    path = check_readable(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise ReadError(f"{path}: unsupported input suffix {path.suffix or '(none)'!r}; expected one of {known}")
    return reader(path)


def write(score: Score, path: str | Path, *, force: bool = False) -> Path:
    """Write ``score`` to ``path``; the suffix decides the format. Never leaves a half file."""
    from composer.io._atomic import atomic_path

    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        known = ", ".join(sorted(WRITERS))
        raise WriteError(f"{path}: unsupported output suffix {path.suffix or '(none)'!r}; expected one of {known}")
    with atomic_path(path, force=force) as tmp:
        writer(score, tmp)
    return path
