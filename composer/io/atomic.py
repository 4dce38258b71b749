"""Write outputs under a temporary name, then rename: no half-written file is ever left."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from composer.errors import ComposerError, WriteError

# A leftover without its writer's PID in its name (older versions of composer, safetensors'
# own temporary files) is taken as abandoned once untouched for this long.
STALE_AFTER_S = 3600.0
# safetensors' save_file (used by composer before issue 15) writes a hidden .tmpXXXXXX beside the target.
SAFETENSORS_TMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")


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
    if path.suffix.lower() == ".safetensors":
        remove_abandoned(path.parent, SAFETENSORS_TMP)


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


def abandoned(path: Path, pid: str | None, *, stale_after: float = STALE_AFTER_S) -> bool:
    """Whether a leftover ``path`` is abandoned: its writer ``pid`` is gone, or, with no PID
    in its name (older versions, other libraries), it is untouched for ``stale_after`` seconds."""
    if pid:
        return not process_alive(int(pid))
    try:
        return time.time() - path.lstat().st_mtime > stale_after
    except OSError:
        return False


def remove_abandoned(folder: Path, pattern: re.Pattern[str]) -> None:
    """Remove the files and folders in ``folder`` whose whole name matches ``pattern`` and that are
    ``abandoned`` (the PID is the pattern's group ``pid`` where it has one)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        leftover = folder / name
        if match is None or not abandoned(leftover, match.groupdict().get("pid")):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                leftover.unlink()


# -- swapping two paths at once ------------------------------------------------------
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


@functools.lru_cache(maxsize=1)
def _renameat2() -> Callable[..., int] | None:
    """libc's ``renameat2`` (Linux 3.15, glibc 2.28), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def exchange_paths(a: str | Path, b: str | Path) -> bool:
    """Swap what ``a`` and ``b`` name in one atomic step (both must exist); True when done.

    False, with nothing changed, where the system cannot (not Linux, an old kernel or C
    library, a file system without RENAME_EXCHANGE): the caller falls back to renames.
    Any other failure raises OSError.
    """
    function = _renameat2()
    if function is None:
        return False
    import ctypes

    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))
