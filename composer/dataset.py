"""Training data: a folder of scores -> token arrays per split, cached on disk as numpy memmaps.

Which files make up the folder, their splits and styles, is
``composer.corpus.discover``'s to decide: a collection of the bundled corpus
(splits from its manifest, style from its name), a corpus root (all its
collections together), or any folder of MIDI/MusicXML/ABC files (split by the
sha1 of the file name, style "unknown" unless one is given).

Tokenizing happens once. The cache lives under ``$COMPOSER_CACHE`` (default
``~/.cache/composer``, see ``composer.cache``) in a folder named by a hash of
the tokenizer's settings and of every file's path, size and modification time,
so a change to either makes a new cache and the next run starts at once.

``tokenize_folder`` is ``composer tokenize FOLDER``: every file of a folder in
one ``composer.tokens.TokenArchive``, read by worker processes when there are many.
"""

from __future__ import annotations

import collections
import gc
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from composer import harmony
from composer.cache import entry, fingerprint
from composer.corpus import SPLITS, Piece, discover
from composer.errors import ComposerError
from composer.form import LEARNED_SECTIONS, learned_section_bars
from composer.io.atomic import remove_abandoned
from composer.metrics import form_heard
from composer.nn.configs import HarmonizerTraining
from composer.progress import Progress
from composer.score import Score
from composer.tokens import K_DURATION, K_EOS, LENGTHENED, Tokenizer, Walker
from composer.tokens.ahead import phrase_end_steps

if TYPE_CHECKING:
    from composer.tokens import TokenArchive

CACHE_VERSION = 2  # 2: each piece's phrase ends
CACHE_FOLDER = "tokens"
# A cache being written: ".building-PID-XXXXXXXX" (older versions: no PID).
BUILDING = re.compile(r"\.building-(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+")


class DatasetError(ComposerError):
    """A training folder's files cannot be read, or their tokens do not fit the cache.

    A missing folder, or one without music, is a ``composer.corpus.CorpusError``.
    """


@dataclass
class TokenSplit:
    """The pieces of one split as one flat token array with offsets."""

    tokens: np.ndarray  # all pieces back to back (a read-only memmap when cached)
    offsets: np.ndarray  # piece i is tokens[offsets[i]:offsets[i + 1]]
    notes: np.ndarray  # notes per piece
    names: list[str]
    # per piece: the grid steps where its phrases end (its markers: composer.score), None where it marks none
    phrases: list[list[int] | None] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def piece(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def phrase_ends(self, i: int) -> list[int] | None:
        """The steps where piece ``i``'s phrases end, or None where the piece marks none."""
        return None if self.phrases is None else self.phrases[i]

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def num_notes(self) -> int:
        return int(self.notes.sum())


@dataclass
class TokenData:
    splits: dict[str, TokenSplit]
    failures: list[str]  # "file: reason" for every file that could not be tokenized
    files_sha1: dict[str, str]  # per split: sha1 over the names and contents of its files
    cache_dir: Path | None
    from_cache: bool = False  # read from the cache, not tokenized by this call


def _fingerprint(pieces: list[Piece], tokenizer: Tokenizer, strict: bool = False) -> str:
    settings = {"cache_version": CACHE_VERSION, "tokenizer": tokenizer.config.to_dict()} | ({"strict": True} if strict else {})
    return fingerprint(settings, ((f"{p.path.resolve()}\t{p.style}\t{p.split}", p.path) for p in pieces))


def _load(directory: Path, vocab_size: int) -> TokenData:
    meta = json.loads((directory / "meta.json").read_text())
    splits = {}
    for split in SPLITS:
        info = meta["splits"][split]
        size = info["offsets"][-1]
        tokens = np.memmap(directory / f"{split}.bin", dtype=np.int16, mode="r", shape=(size,)) if size else np.zeros(0, np.int16)
        if size and not (0 <= int(tokens.min()) and int(tokens.max()) < vocab_size):  # (issue 15) a damaged cache
            raise ValueError(f"{directory / f'{split}.bin'}: token ids outside the vocabulary of {vocab_size}")
        splits[split] = TokenSplit(tokens, np.asarray(info["offsets"], np.int64), np.asarray(info["notes"], np.int64), info["names"],
                                   _checked_phrases(info.get("phrases"), len(info["names"])))
    return TokenData(splits, meta["failures"], meta["files_sha1"], directory, from_cache=True)


def _checked_phrases(phrases: Any, count: int) -> list[list[int] | None] | None:
    """A cache's phrase ends per piece, or ValueError (a damaged cache is rebuilt)."""
    if phrases is None:
        return None
    if not isinstance(phrases, list) or len(phrases) != count or not all(
            p is None or (isinstance(p, list) and all(isinstance(step, int) and step > 0 for step in p)) for p in phrases):
        raise ValueError("phrase ends do not match the pieces")
    return phrases


def tokenize_pieces(pieces: list[Piece], tokenizer: Tokenizer, progress: Progress | None = None, *,
                    strict: bool = False) -> tuple[dict[str, list[tuple[str, np.ndarray, int, list[int] | None]]], list[str], dict[str, str]]:
    """Read and encode every piece; failures are collected, not raised. Per split: (name, ids, notes, phrase ends).

    ``strict``: a piece the vocabulary cannot hold as it is (``Tokenizer.unfit``) is a failure too,
    not merged or re-barred to fit.
    """
    from composer.formats import read

    by_split: dict[str, list[tuple[str, np.ndarray, int, list[int] | None]]] = {s: [] for s in SPLITS}
    hashes = {s: hashlib.sha1() for s in SPLITS}
    failures: list[str] = []
    for i, piece in enumerate(pieces):
        try:
            score = read(piece.path)
            problem = tokenizer.unfit(score) if strict else None
            if problem is not None:
                failures.append(f"{piece.path}: {problem}")
                continue
            ids = tokenizer.encode(score, piece.style)
            by_split[piece.split].append((piece.name, ids, len(score), phrase_end_steps(score, tokenizer.config.steps_per_beat)))
            hashes[piece.split].update(piece.name.encode() + b"\0" + hashlib.sha1(piece.path.read_bytes()).digest())
        except ComposerError as exc:
            failures.append(str(exc) if str(piece.path) in str(exc) else f"{piece.path}: {exc}")
        finally:
            if progress:
                progress(i + 1, len(pieces))
    return by_split, failures, {s: h.hexdigest() for s, h in hashes.items()}


# -- a folder of scores into one token archive (``composer tokenize FOLDER``) -------------
_PARALLEL_FROM = 200  # files; below this, starting worker processes costs more than it saves
_CHUNK = 32  # files a worker encodes per task
_JOB: tuple[Path, Tokenizer, str] | None = None  # (folder, tokenizer, style), inherited by forked workers


def _encode_chunk(names: list[str]) -> list[tuple[str, str, list[str], np.ndarray] | str]:
    """Each file's (name, title, part names, ids), or the one-line reason it could not be read."""
    from composer.formats import read

    assert _JOB is not None
    folder, tokenizer, style = _JOB
    out: list[tuple[str, str, list[str], np.ndarray] | str] = []
    for name in names:
        try:
            score = read(folder / name)
            out.append((name, score.title, [p.name for p in score.parts], tokenizer.encode(score, style)))
        except ComposerError as exc:
            out.append(str(exc))
    return out


def tokenize_folder(folder: str | Path, tokenizer: Tokenizer, style: str = "unknown", *, jobs: int | None = None,
                    progress: Progress | None = None) -> tuple["TokenArchive", list[str]]:
    """Every MIDI/MusicXML/ABC file under ``folder`` as one ``TokenArchive``, and the files that could not be read.

    Pieces are named by their path under ``folder`` with the suffix kept
    (``song.abc``, ``song.mid`` and ``song.musicxml`` are three pieces), in
    sorted order. One tokenizer encodes them all; with many files, ``jobs``
    processes share the reading (default: one per core): this one and
    ``jobs - 1`` forked workers.
    """
    from composer.formats import find_scores
    from composer.tokens import TokenArchive

    global _JOB
    folder = Path(folder)
    names = find_scores(folder)
    chunks = [names[i : i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    workers = min(jobs or os.cpu_count() or 1, len(chunks))
    parallel = workers > 1 and len(names) >= _PARALLEL_FROM and "fork" in multiprocessing.get_all_start_methods()
    done = [0]

    def report(chunk: list) -> list:
        done[0] += len(chunk)
        if progress:
            progress(done[0], len(names))
        return chunk

    _JOB = (folder, tokenizer, style)
    try:
        results = _encode_shared(chunks, workers - 1, report) if parallel else [report(_encode_chunk(c)) for c in chunks]
    finally:
        _JOB = None
    pieces: list[tuple[str, str, list[str], np.ndarray]] = []
    failures: list[str] = []
    for chunk in results:
        for item in chunk:
            if isinstance(item, str):
                failures.append(item)
            else:
                pieces.append(item)
    return TokenArchive.from_pieces(tokenizer, pieces), failures


def _encode_shared(chunks: list[list[str]], helpers: int, report: Callable[[list], list]) -> list[list]:
    """``_encode_chunk`` of every chunk, in order: ``helpers`` forked workers take chunks from the front,
    this process takes them from the back (a waiting parent would leave a core idle), each reported when done."""
    names = [n for chunk in chunks for n in chunk]
    # One file of each suffix read here first: the workers inherit the readers' imports
    # (symusic, music21) instead of each importing them anew.
    _encode_chunk(list({Path(n).suffix.lower(): n for n in reversed(names)}.values()))
    # What exists now is shared with the workers: frozen, their garbage collector leaves
    # it alone instead of touching (and so copying) every page of it.
    gc.freeze()
    results: dict[int, list] = {}
    pending = collections.deque(range(len(chunks)))
    try:
        with multiprocessing.get_context("fork").Pool(helpers) as pool:
            queued: dict[int, Any] = {}
            while pending or queued:
                while pending and len(queued) < 2 * helpers:  # each worker has the next chunk waiting
                    i = pending.popleft()
                    queued[i] = pool.apply_async(_encode_chunk, (chunks[i],))
                if pending:
                    i = pending.pop()
                    results[i] = report(_encode_chunk(chunks[i]))
                for i in [i for i, result in queued.items() if result.ready() or not pending]:
                    results[i] = report(queued.pop(i).get())  # (a worker's unexpected error is raised here)
    finally:
        gc.unfreeze()
    return [results[i] for i in range(len(chunks))]


def load_tokens(
    folder: str | Path,
    tokenizer: Tokenizer,
    *,
    style: str | None = None,
    cache: bool = True,
    progress: Progress | None = None,
    strict: bool = False,
) -> TokenData:
    """Token arrays per split for a training folder, from the cache when it is current.

    ``strict``: see ``tokenize_pieces``; strict and lenient tokens are cached apart.
    """
    pieces = discover(folder, style=style)
    for piece in pieces:
        tokenizer.style_id(piece.style)  # an unknown style is an error before any work
    if len(tokenizer) > np.iinfo(np.int16).max:
        raise DatasetError(f"vocabulary of {len(tokenizer)} tokens does not fit the int16 cache")
    directory = entry(CACHE_FOLDER, _fingerprint(pieces, tokenizer, strict))
    if cache and (directory / "meta.json").is_file():
        try:
            return _load(directory, len(tokenizer))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            shutil.rmtree(directory, ignore_errors=True)  # a damaged cache is rebuilt, never trusted

    by_split, failures, files_sha1 = tokenize_pieces(pieces, tokenizer, progress, strict=strict)
    splits = {}
    for split, items in by_split.items():
        offsets = np.zeros(len(items) + 1, np.int64)
        offsets[1:] = np.cumsum([len(item[1]) for item in items])
        tokens = np.concatenate([item[1] for item in items]).astype(np.int16) if items else np.zeros(0, np.int16)
        splits[split] = TokenSplit(tokens, offsets, np.asarray([item[2] for item in items], np.int64), [item[0] for item in items],
                                   [item[3] for item in items])
    if not any(len(s) for s in splits.values()):
        raise DatasetError(f"{folder}: none of the {len(pieces)} files could be read; first problem: {failures[0]}")
    data = TokenData(splits, failures, files_sha1, None)
    if cache:
        data.cache_dir = _save(data, directory)
    return data


def _save(data: TokenData, directory: Path) -> Path | None:
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned(directory.parent, BUILDING)  # what killed builds left
        tmp = Path(tempfile.mkdtemp(prefix=f".building-{os.getpid()}-", dir=directory.parent))
        meta = {"splits": {}, "failures": data.failures, "files_sha1": data.files_sha1}
        for split, part in data.splits.items():
            part.tokens.tofile(tmp / f"{split}.bin")
            meta["splits"][split] = {"offsets": part.offsets.tolist(), "notes": part.notes.tolist(), "names": part.names, "phrases": part.phrases}
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, directory)
        except OSError:  # another process built the same cache first
            shutil.rmtree(tmp, ignore_errors=True)
        return directory
    except OSError:
        return None  # an unwritable cache folder only costs time


def style_profiles(split: TokenSplit, tokenizer: Tokenizer, harmonizer: HarmonizerTraining | None = None,
                   progress: Callable[[str, int, int, float], None] | None = None, skip_harmonizer: frozenset[str] = frozenset()) -> dict[str, dict]:
    """Per style in a split: number of pieces, the most common parts (GM programs), each part's
    pitch range, and each part's share of notes that start while another of its notes sounds.

    Generation uses these: the parts a style writes, the range a part's pitches
    are kept in, and which parts sound one note at a time (a share near 0). A
    style of several parts also gets its melody-ahead harmony prior
    (``composer.harmony``: which pitch class each lower voice takes under a
    melody note, given the notes around it) and, with ``harmonizer`` settings, its harmonizer
    (``composer.harmony.fit_harmonizer``, which needs torch; ``progress(style, epoch, epochs, loss)``;
    none for the styles in ``skip_harmonizer``).
    """
    from collections import Counter

    headers: dict[str, Counter] = {}
    ranges: dict[str, dict[int, list[int]]] = {}
    overlaps: dict[str, dict[int, list[int]]] = {}  # per style and part: [overlapping notes, notes]
    pieces: dict[str, list[int]] = {}  # per style: the pieces' indices in the split
    phrases: dict[str, list[float]] = {}  # per style: its phrases' lengths in bars
    for i in range(len(split)):
        walker, notes = _walk_notes(split.piece(i), tokenizer)
        style = tokenizer.config.all_styles[walker.style] if walker.style is not None else "unknown"
        ends = split.phrase_ends(i)
        if ends and walker.bar_len > 0:
            phrases.setdefault(style, []).extend((np.diff([0, *ends]) / walker.bar_len).tolist())
        headers.setdefault(style, Counter())[tuple(walker.programs)] += 1
        pieces.setdefault(style, []).append(i)
        per_style = ranges.setdefault(style, {})
        per_overlap = overlaps.setdefault(style, {})
        for part, (lo, hi, overlapping, count) in notes.items():
            old = per_style.get(part, [lo, hi])
            per_style[part] = [min(old[0], lo), max(old[1], hi)]
            tally = per_overlap.setdefault(part, [0, 0])
            tally[0] += overlapping
            tally[1] += count
    out = {}
    for style, counter in headers.items():
        programs = list(counter.most_common(1)[0][0]) or [0]
        per_part = ranges.get(style, {})
        fallback = [min((r[0] for r in per_part.values()), default=0), max((r[1] for r in per_part.values()), default=127)]
        tallies = overlaps.get(style, {})
        out[style] = {
            "pieces": int(sum(counter.values())),
            "programs": programs,
            "pitch_ranges": [per_part.get(p, fallback) for p in range(len(programs))],
            "overlap_shares": [round(tallies[p][0] / tallies[p][1], 6) if tallies.get(p, [0, 0])[1] else 0.0 for p in range(len(programs))],
        }
        if len(programs) > 1:
            out[style]["harmony"] = harmony_profile(split, tokenizer, pieces[style], len(programs) - 1)
            if harmonizer is not None and style not in skip_harmonizer:
                report = None if progress is None else (lambda epoch, epochs, loss, style=style: progress(style, epoch, epochs, loss))
                out[style]["harmonizer"] = harmonizer_profile(split, tokenizer, pieces[style], len(programs) - 1, harmonizer, report)
        if phrases.get(style):
            out[style]["phrase_bars"] = max(1, int(round(float(np.median(phrases[style])))))
        out[style]["forms"] = form_profile(split, tokenizer, pieces[style], out[style].get("phrase_bars"))
    return out


def form_profile(split: TokenSplit, tokenizer: Tokenizer, pieces: list[int], phrase_bars: int | None) -> dict[str, object]:
    """The forms heard in some of a split's pieces (``metrics.form_heard`` over their first ``form.LEARNED_SECTIONS``
    sections of ``form.learned_section_bars``): what generation draws from where no form is asked for."""
    from collections import Counter

    size = learned_section_bars(phrase_bars)
    heard = Counter(form_heard(tokenizer.decode(split.piece(i)), size, size * LEARNED_SECTIONS) for i in pieces)
    heard.pop("", None)  # shorter than one section
    return {"section_bars": size, "patterns": dict(sorted(heard.items()))}


def harmonizer_profile(split: TokenSplit, tokenizer: Tokenizer, pieces: list[int], voices: int, training: HarmonizerTraining,
                       progress: Callable[[int, int, float], None] | None = None) -> dict[str, object]:
    """The harmonizer learned from some of a split's pieces (with their phrase ends), encoded for a model file."""
    def scores() -> Iterator[tuple[Score, np.ndarray | None]]:
        for i in pieces:
            score = tokenizer.decode(split.piece(i))
            ends = split.phrase_ends(i)
            scale = score.ticks_per_beat / tokenizer.config.steps_per_beat
            yield score, None if ends is None else np.round(np.asarray(ends, np.float64) * scale).astype(np.int64)

    return harmony.encode_harmonizer(harmony.fit_harmonizer(scores(), voices, training, progress))


def harmony_profile(split: TokenSplit, tokenizer: Tokenizer, pieces: list[int], voices: int) -> dict[str, object]:
    """The melody-ahead harmony prior of some of a split's pieces, encoded for a model file."""
    return harmony.encode(harmony.fit((tokenizer.decode(split.piece(i)) for i in pieces), voices))


def _walk_notes(ids: np.ndarray, tokenizer: Tokenizer) -> tuple[Walker, dict[int, list[int]]]:
    """Walk one piece: per part [lowest pitch, highest pitch, notes starting while another of the part sounds, notes]."""
    walker = Walker(tokenizer.grammar)
    notes: dict[int, list[int]] = {}
    ends: dict[int, int] = {}  # per part: the step where its notes so far stop sounding
    for token in np.asarray(ids).tolist():
        kind = walker.feed(token)
        if kind == K_DURATION:  # a note of walker.part
            part, pitch = walker.part, walker.pitch
            entry = notes.setdefault(part, [pitch, pitch, 0, 0])
            entry[0], entry[1] = min(entry[0], pitch), max(entry[1], pitch)
            entry[2] += walker.onset < ends.get(part, -1)
            entry[3] += 1
            ends[part] = max(ends.get(part, -1), walker.onset + walker.value)
        elif kind == LENGTHENED:
            ends[walker.part] = max(ends.get(walker.part, -1), ends.get(walker.part, walker.onset) + walker.value)
        elif kind == K_EOS:
            break
    return walker, notes
