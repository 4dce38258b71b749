"""Write outputs under a temporary name, then rename: no half-written file is ever left."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import Iterator

from composer.errors import ComposerError, WriteError


def check_writable(path: str | Path, *, force: bool = False) -> Path:
    """Raise WriteError if ``path`` exists (and ``force`` is off) or its folder is missing."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{path}: is a folder, expected a file name")
    if path.exists() and not force:
        raise WriteError(f"{path}: file exists (use --force to replace it)")
    if not path.parent.is_dir():
        raise WriteError(f"{path}: folder {path.parent} does not exist")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file keeps the real suffix, since some writers choose the
    format from it. On any error the temporary file is removed.
    """
    path = check_writable(path, force=force)
    _remove_stale(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not force and path.exists():
            raise WriteError(f"{path}: file appeared while writing (use --force to replace it)")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the user's usual mode
        os.replace(tmp, path)
    except ComposerError as exc:  # a writer's error names the file the user asked for, not ours
        if tmp.name not in str(exc):
            raise
        raise type(exc)(str(exc).replace(tmp_name, str(path)).replace(tmp.name, path.name)) from exc
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _remove_stale(path: Path) -> None:
    """Remove temporary files of ``path`` left by writers that were killed (their process is gone).

    A kill -9 skips the cleanup in ``atomic_path``; the writer's PID is in the
    temporary name, so a later write to the same file clears what it left (a
    checkpoint's can be tens of MB). Files of live processes are kept.
    """
    prefix, suffix = f".{path.stem}.", f".tmp{path.suffix}"
    for name in _temporary_names(str(path.parent)):
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)


@functools.lru_cache(maxsize=256)
def _temporary_names(folder: str) -> tuple[str, ...]:
    """The hidden temporary files in ``folder`` when a process first writes there.

    Listed once per folder and process: writing thousands of files into one
    folder (``composer tokenize``) must not list it thousands of times, and a
    writer killed while this process runs is cleared by the next one.
    """
    try:
        return tuple(e.name for e in os.scandir(folder) if e.name.startswith(".") and ".tmp" in e.name)
    except OSError:
        return ()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be running (True where we cannot tell): its temporary files are kept."""
    if os.name == "nt":
        return True  # os.kill on Windows terminates the process rather than probing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: keep its file
    return True


def write_bytes_atomic(path: str | Path, data: bytes, *, force: bool = False) -> Path:
    with atomic_path(path, force=force) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def save_bytes(path: str | Path, data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` (a writer's temporary file), any OSError as a one-line WriteError."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write {what} ({exc.strerror})") from exc
