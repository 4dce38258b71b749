"""The token JSON document of ``composer tokenize`` / ``composer detokenize``.

A document holds the source's name, title and part names, the tokenizer (its
config, without the token list) and the piece as token names and ids. Edit the
names by hand and the names win: where ``ids`` and ``tokens`` disagree, the
ids are read from the names and ``TokenDocument.note`` says so.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, NamedTuple

from composer.errors import TokenizerError
from composer.score import Score
from composer.tokens.tokenizer import Tokenizer


class TokenDocument(NamedTuple):
    """What a token document holds: its tokenizer, the ids and the source's part names."""

    tokenizer: Tokenizer
    ids: list[int]
    part_names: list[str]
    note: str = ""  # what reading it had to decide, e.g. that edited names won over the ids

    def decode(self) -> Score:
        """The score of the ids, its parts named as the document names them (when the counts agree)."""
        score = self.tokenizer.decode(self.ids)
        if len(self.part_names) == score.num_parts:
            score = score.replace(parts=tuple(dataclasses.replace(p, name=n) for p, n in zip(score.parts, self.part_names)))
        return score


def token_document(score: Score, source: str, style: str = "unknown", tokenizer: Tokenizer | None = None) -> dict[str, Any]:
    """The JSON document of ``score`` (read from the file named ``source``) under ``tokenizer`` (the default one)."""
    tokenizer = tokenizer or Tokenizer()
    ids = tokenizer.encode(score, style)
    return {
        "source": source,
        "title": score.title,
        "parts": [part.name for part in score.parts],
        "tokenizer": {k: v for k, v in tokenizer.to_dict().items() if k != "tokens"},
        "tokens": tokenizer.to_names(ids),
        "ids": ids.tolist(),
    }


def write_token_document(document: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write a document as indented JSON (atomically; an existing file only with ``force``)."""
    from composer.io.atomic import write_bytes_atomic

    return write_bytes_atomic(path, (json.dumps(document, indent=1) + "\n").encode(), force=force)


def read_token_document(path: str | Path) -> TokenDocument:
    """Read and check a token document; where ``ids`` and ``tokens`` disagree, the names win (see ``note``)."""
    from composer.io.checks import check_readable

    path = check_readable(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"{path}: not a token JSON file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tokenizer"), dict):
        raise TokenizerError(f"{path}: not a composer token file (no \"tokenizer\" object; write one with `composer tokenize`)")
    tokenizer = Tokenizer.from_dict(doc["tokenizer"], str(path))
    ids, note = _document_ids(doc, tokenizer, path)
    parts = doc.get("parts") if isinstance(doc.get("parts"), list) else []
    return TokenDocument(tokenizer, ids, [str(p) for p in parts], note)


def _document_ids(doc: dict[str, Any], tokenizer: Tokenizer, path: Path) -> tuple[list[int], str]:
    """The document's ids, from ``tokens`` when it has them (a hand edit of the names wins over ``ids``), else ``ids``; and a note."""
    ids, names = doc.get("ids"), doc.get("tokens")
    if ids is None and names is None:
        raise TokenizerError(f"{path}: has neither \"ids\" nor \"tokens\"")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TokenizerError(f"{path}: \"tokens\" must be a list of token names")
        from_names = tokenizer.to_ids(names).tolist()
        note = ""
        if isinstance(ids, list) and ids != from_names:
            first = next((i for i, (a, b) in enumerate(zip(ids, from_names)) if a != b), min(len(ids), len(from_names)))
            note = f"{path}: \"tokens\" and \"ids\" differ (first at position {first}); the token names win, the ids are read from them"
        return from_names, note
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TokenizerError(f"{path}: \"ids\" must be a list of integers")
    return ids, ""
