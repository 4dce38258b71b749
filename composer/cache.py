"""Where caches live and when they are stale.

Caches (token arrays, originality indexes) live under ``$COMPOSER_CACHE``
(default ``$XDG_CACHE_HOME/composer``, else ``~/.cache/composer``), one folder
per kind. An entry is named by a ``fingerprint`` of the settings that made it
and of every file it was made from (key, size and modification time), so a
changed setting or file makes a new entry, and the old one is simply never
read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

CACHE_ENV = "COMPOSER_CACHE"
NAME_LENGTH = 20  # hex digits of a fingerprint in an entry's name


def cache_root() -> Path:
    """The folder all caches live in: ``$COMPOSER_CACHE``, else ``$XDG_CACHE_HOME/composer``, else ``~/.cache/composer``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "composer"


def file_sha256(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes, read in 1 MiB blocks: which file it is, by content (a model file, a kept piece)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: Mapping[str, Any], files: Iterable[tuple[str, Path]]) -> str:
    """The sha1 (hex) of ``settings`` (as sorted JSON) and, for each ``(key, path)``, the key and the file's size and modification time.

    The key names the file and whatever else decides how it is used (its
    split, its style); a file that cannot be read is stamped "missing".
    """
    h = hashlib.sha1(json.dumps(settings, sort_keys=True).encode())
    for key, path in files:
        try:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"\n{key}\t{stamp}".encode())
    return h.hexdigest()


def entry(kind: str, key: str, suffix: str = "") -> Path:
    """The path of the cache entry of ``kind`` (a folder under the cache root) named by the fingerprint ``key``."""
    return cache_root() / kind / f"{key[:NAME_LENGTH]}{suffix}"
