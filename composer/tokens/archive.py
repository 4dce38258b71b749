"""A tokenized folder: every piece's ids in one NumPy archive, with one vocabulary beside it.

``composer tokenize FOLDER -o OUT`` writes two files into the folder OUT:

    tokens.npz       ids      every piece's token ids back to back (int16; int32 for a vocabulary past 32,767)
                     offsets  piece i is ids[offsets[i]:offsets[i + 1]] (int64, one more than the pieces)
                     names    each piece's file, relative to FOLDER, suffix kept ("chorales/bwv269.mid",
                              "cuckoo_hill.abc"), so no two pieces share a name
                     titles   each piece's title ("" for none)
                     parts    each piece's part names, as a JSON list
    tokenizer.json   the tokenizer (``Tokenizer.save``): format, version, config and vocabulary

Plain arrays only (no pickle): ``numpy.load(path)`` reads it anywhere, and
``read_token_archive`` gives a ``TokenArchive`` whose pieces decode back to
scores (``composer detokenize``).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from composer.errors import TokenizerError
from composer.tokens.document import TokenDocument
from composer.tokens.tokenizer import Tokenizer

ARCHIVE_NAME = "tokens.npz"
VOCABULARY_NAME = "tokenizer.json"
_ARRAYS = ("ids", "offsets", "names", "titles", "parts")


@dataclass
class TokenArchive:
    """The pieces of a tokenized folder: ids back to back, with each piece's name, title and part names."""

    tokenizer: Tokenizer
    ids: np.ndarray
    offsets: np.ndarray
    names: list[str]
    titles: list[str] = field(default_factory=list)
    parts: list[list[str]] = field(default_factory=list)

    @classmethod
    def from_pieces(cls, tokenizer: Tokenizer, pieces: Iterable[tuple[str, str, list[str], np.ndarray]]) -> "TokenArchive":
        """An archive of (name, title, part names, ids) pieces, in their order."""
        names, titles, parts, arrays = [], [], [], []
        for name, title, part_names, ids in pieces:
            names.append(name)
            titles.append(title or "")
            parts.append(list(part_names))
            arrays.append(np.asarray(ids))
        offsets = np.zeros(len(arrays) + 1, np.int64)
        offsets[1:] = np.cumsum([len(a) for a in arrays])
        dtype = np.int16 if len(tokenizer) <= np.iinfo(np.int16).max else np.int32
        ids = np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)
        return cls(tokenizer, ids, offsets, names, titles, parts)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, key: int | str) -> int:
        """The index of a piece given by index (negative counts from the end) or by name."""
        if isinstance(key, str) and not key.lstrip("-").isdigit():
            try:
                return self.names.index(key)
            except ValueError:
                close = [n for n in self.names if Path(n).stem == Path(key).stem][:3]
                hint = f"; did you mean {', '.join(close)}?" if close else f"; it holds {len(self)} pieces, e.g. {', '.join(self.names[:3])}"
                raise TokenizerError(f"no piece named {key!r} in the archive{hint}") from None
        i = int(key)
        if not -len(self) <= i < len(self):
            raise TokenizerError(f"piece {i} is out of range: the archive holds {len(self)} pieces (0 to {len(self) - 1})")
        return i % len(self)

    def document(self, key: int | str) -> TokenDocument:
        """One piece as a ``TokenDocument`` (decode it with ``.decode()``)."""
        i = self.index(key)
        ids = self.ids[self.offsets[i] : self.offsets[i + 1]].astype(np.int64).tolist()
        return TokenDocument(self.tokenizer, ids, self.parts[i] if i < len(self.parts) else [])

    def write(self, folder: str | Path, *, force: bool = False) -> tuple[Path, Path]:
        """Write ``tokens.npz`` and ``tokenizer.json`` into ``folder`` (atomically; existing ones only with ``force``)."""
        from composer.io import check_writable, write_bytes_atomic

        folder = Path(folder)
        archive, vocabulary = folder / ARCHIVE_NAME, folder / VOCABULARY_NAME
        for path in (archive, vocabulary):
            check_writable(path, force=force)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            ids=self.ids,
            offsets=self.offsets,
            names=np.array(self.names, dtype=str),
            titles=np.array(self.titles, dtype=str),
            parts=np.array([json.dumps(p) for p in self.parts], dtype=str),
        )
        write_bytes_atomic(archive, buffer.getvalue(), force=force)
        self.tokenizer.save(vocabulary, force=force)
        return archive, vocabulary


def read_token_archive(path: str | Path) -> TokenArchive:
    """The archive in ``path``: a folder written by ``composer tokenize FOLDER``, or its ``tokens.npz``."""
    path = Path(path)
    archive = path / ARCHIVE_NAME if path.is_dir() else path
    vocabulary = archive.with_name(VOCABULARY_NAME)
    if not archive.is_file():
        raise TokenizerError(f"{path}: no {ARCHIVE_NAME} here (write one with `composer tokenize FOLDER -o {path}`)")
    if not vocabulary.is_file():
        raise TokenizerError(f"{archive}: its vocabulary {VOCABULARY_NAME} is missing beside it")
    tokenizer = Tokenizer.load(vocabulary)
    try:
        with np.load(archive, allow_pickle=False) as data:
            missing = [name for name in _ARRAYS if name not in data.files]
            if missing:
                raise TokenizerError(f"{archive}: not a composer token archive (no {', '.join(missing)})")
            arrays = {name: data[name] for name in _ARRAYS}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise TokenizerError(f"{archive}: not a readable token archive ({exc})") from None
    offsets = arrays["offsets"].astype(np.int64)
    count = len(arrays["names"])
    if len(offsets) != count + 1 or offsets[0] != 0 or offsets[-1] != len(arrays["ids"]) or np.any(np.diff(offsets) < 0):
        raise TokenizerError(f"{archive}: damaged token archive ({count} names, offsets do not fit {len(arrays['ids'])} ids)")
    try:
        parts = [json.loads(p) for p in arrays["parts"].tolist()]
    except json.JSONDecodeError as exc:
        raise TokenizerError(f"{archive}: damaged part names ({exc})") from None
    return TokenArchive(tokenizer, arrays["ids"], offsets, arrays["names"].tolist(), arrays["titles"].tolist(), parts)
