"""Checks on an input path before any reader opens it."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from composer.errors import ReadError


def check_readable(path: str | Path) -> Path:
    """Raise ReadError unless ``path`` is an existing, non-empty file."""
    path = Path(path)
    try:
        status = os.stat(path)  # one system call for all three questions
    except (FileNotFoundError, NotADirectoryError):
        raise ReadError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link that leads nowhere, as Path.exists sees it
            raise ReadError(f"{path}: no such file") from None
        raise ReadError(f"{path}: cannot read ({exc.strerror})") from exc
    if stat.S_ISDIR(status.st_mode):
        raise ReadError(f"{path}: is a folder, expected a file")
    if status.st_size == 0:
        raise ReadError(f"{path}: file is empty")
    return path
