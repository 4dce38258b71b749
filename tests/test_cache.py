"""The cache module: where caches live, and the one fingerprint that tells when an entry is stale."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from composer.cache import CACHE_ENV, cache_root, entry, fingerprint


def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "composer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "composer"


def test_entry_is_named_by_the_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    key = fingerprint({"version": 1}, [])
    assert entry("originality", key, ".npz") == tmp_path / "originality" / f"{key[:20]}.npz"
    assert entry("tokens", key) == tmp_path / "tokens" / key[:20]


def test_fingerprint_changes_with_settings_keys_and_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    files = [("a.mid", a), ("b.mid", b)]
    first = fingerprint({"version": 1, "splits": ["train"]}, files)
    assert first == fingerprint({"splits": ["train"], "version": 1}, iter(files))  # key order and iterables do not matter
    assert len(first) == 40 and int(first, 16) >= 0
    different = [
        fingerprint({"version": 2, "splits": ["train"]}, files),  # a setting
        fingerprint({"version": 1, "splits": ["train"]}, [("a.mid\ttest", a), ("b.mid", b)]),  # a key (e.g. a split)
        fingerprint({"version": 1, "splits": ["train"]}, files[:1]),  # a file removed
    ]
    b.write_bytes(b"three")  # a size
    different.append(fingerprint({"version": 1, "splits": ["train"]}, files))
    os.utime(a, ns=(0, 10**18))  # a modification time
    different.append(fingerprint({"version": 1, "splits": ["train"]}, files))
    b.unlink()  # a file gone: stamped "missing", not an error
    different.append(fingerprint({"version": 1, "splits": ["train"]}, files))
    assert len({first, *different}) == 1 + len(different)
