"""Checks on an input path before any reader opens it."""

from __future__ import annotations

from pathlib import Path

from composer.errors import ReadError


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
