"""Originality: which passages of a score also appear in a corpus of MIDI files.

Every part of a score is read as one melodic line: its top line, the highest
note at each onset (chorale voices and folk melodies are single lines already;
drum parts are left out). A line is compared as a sequence of symbols, one per
step from a note to the next: the pitch interval in semitones and the
inter-onset interval in quarter notes (on a grid of ``STEPS_PER_BEAT`` steps a
quarter note). Neither depends on the key, so a transposed copy matches as
well as a literal one, and two lines match only where melody and rhythm agree.

The corpus is indexed once: every line of every file back to back, one entry
per note, and a suffix array over that text. For each note of the score a
vectorized binary search finds the longest run of symbols starting there that
also occurs somewhere in the corpus (its *matching statistic*). From those:

* the longest passage: the most notes of one line, in a row, found in the
  corpus (and where: file and bar), with its length in bars of the score;
* the n-gram share: of the score's 8-note n-grams (7 steps), the share that
  occur in the corpus.

A passage of ``k`` notes matches when its ``k - 1`` steps match; the duration
of its last note is not compared. A single note is no passage: with no step in
common the longest passage is 0 notes.

The seed rule: notes that start before ``seed_end_tick`` are the seed (a
continued piece may open with a seed taken from the corpus itself). A passage
lying wholly in the seed does not count; one that starts in the seed and runs
past it counts only for its notes from the seed's end on. An n-gram counts
(in the share's numerator and denominator) only if all its notes start at or
after ``seed_end_tick``.

The corpus files are those ``composer.corpus.discover`` finds, MIDI files
only (reading MusicXML or ABC is about a hundred times slower): the files of
the chosen splits of a corpus with manifests, every MIDI file of any other
folder.

The index is cached under ``$COMPOSER_CACHE/originality`` (default
``~/.cache/composer``, see ``composer.cache``) in a file named by a hash of
the index version, the splits, and every file's name, size and modification
time: a changed corpus gets a new index on its next use.

Without a corpus folder (``index_for(None)``, ``composer originality`` without
``--corpus``), the check uses ``midi_corpus`` in the current folder when there
is one, else the index of the bundled corpus's train split that ships with the
models (``models/originality_index.npz``, installed in the package
``composer_models``): what the shipped models learned from, wherever composer
is installed. ``build_shipped_index`` writes it, byte for byte the same from
the same corpus (``python benchmarks/build_originality_index.py``); rebuild it
when the corpus or ``INDEX_VERSION`` changes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from composer.cache import entry, fingerprint
from composer.corpus import check_splits, discover, has_manifests
from composer.errors import ComposerError, WriteError
from composer.progress import Progress
from composer.score import Score, bar_ticks

INDEX_VERSION = 1  # bump when the symbols or the file layout change: old caches are then ignored
STEPS_PER_BEAT = 24  # onset grid, steps a quarter note (the tokenizer's: 16ths, 32nds and triplets exactly)
NGRAM_NOTES = 8  # notes in an n-gram of the share (7 steps)
INTERVAL_MIN, INTERVAL_MAX = -127, 127  # inclusive, semitones: every interval between MIDI pitches
IOI_STEPS_MAX = (1 << 22) - 1  # inclusive; longer gaps between onsets are clipped to this (over 170,000 beats)
DEFAULT_SPLITS = ("train",)  # what a model is trained on: copying from it is memorizing
CACHE_FOLDER = "originality"
DEFAULT_CORPUS = "midi_corpus"  # used without a corpus folder when it exists in the current folder
SHIPPED_INDEX = "originality_index.npz"  # beside the shipped models: the bundled corpus's train split
INDEX_FORMAT = "composer originality index"
_ARRAYS = ("text", "sa", "bar", "line_start", "line_file", "line_part", "files")

# Text values: a step symbol is >= _FIRST_SYMBOL. The corpus text closes every line with _CORPUS_END and the
# query with _QUERY_END; the two differ from each other and from every symbol, so no match runs past a line's end.
_QUERY_END = 0
_CORPUS_END = 1
_FIRST_SYMBOL = 2
_IOI_BITS = 22
_MEMO_SIZE = 4  # indexes kept in memory per process, most recent last
_LCP_CELLS = 1 << 22  # symbols compared per round of a prefix comparison, at most (bounds its memory)


class OriginalityError(ComposerError):
    """A corpus to compare against cannot be read or indexed, or a check's argument is out of range.

    A missing corpus folder, one without MIDI files, or an unknown split is a ``composer.corpus.CorpusError``.
    """


# -- lines and symbols -------------------------------------------------------
@dataclass(frozen=True)
class Lines:
    """The melodic lines of a score as one text: one entry per note, lines back to back.

    ``text[i]`` is the symbol of the step from note ``i`` to the next note of its
    line, or the end mark for a line's last note. ``note[i]`` indexes
    ``score.notes``; line ``v`` holds entries ``start[v]:start[v + 1]`` and is
    part ``part[v]`` of the score.
    """

    text: np.ndarray  # int64
    note: np.ndarray  # int64, index into score.notes
    start: np.ndarray  # int64, len(part) + 1 offsets
    part: np.ndarray  # int64


def onset_steps(start_tick: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    """Onsets on the ``STEPS_PER_BEAT`` grid, rounded half up."""
    return (np.asarray(start_tick, np.int64) * (2 * STEPS_PER_BEAT) + ticks_per_beat) // (2 * ticks_per_beat)


def decode_symbol(symbol: int) -> tuple[int, int]:
    """(pitch interval in semitones, inter-onset interval in grid steps) of a step symbol."""
    value = int(symbol) - _FIRST_SYMBOL
    if value < 0:
        raise ValueError(f"{symbol} is an end mark, not a step symbol")
    return (value >> _IOI_BITS) + INTERVAL_MIN - 1, value & IOI_STEPS_MAX


def step_symbols(pitch: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Symbols of the steps between consecutive notes of one line (len(pitch) - 1 of them)."""
    interval = np.diff(np.asarray(pitch, np.int64))
    ioi = np.minimum(np.diff(np.asarray(steps, np.int64)), IOI_STEPS_MAX)
    return _FIRST_SYMBOL + ((interval - INTERVAL_MIN + 1) << _IOI_BITS) + ioi


def lines_of(score: Score, *, end_mark: int = _QUERY_END) -> Lines:
    """Each non-drum part's top line (highest note at each onset step) as one text of step symbols."""
    notes = score.notes
    drums = [i for i, p in enumerate(score.parts) if p.is_drum]
    keep = np.flatnonzero(~np.isin(notes["part"], drums)) if drums else np.arange(len(notes))
    part = notes["part"][keep].astype(np.int64)
    pitch = notes["pitch"][keep].astype(np.int64)
    steps = onset_steps(notes["start_tick"][keep], score.ticks_per_beat)
    order = np.lexsort((-pitch, steps, part))
    part, pitch, steps, keep = part[order], pitch[order], steps[order], keep[order]
    # the first of each (part, step): the highest note there
    first = np.ones(len(part), bool)
    first[1:] = (part[1:] != part[:-1]) | (steps[1:] != steps[:-1])
    part, pitch, steps, keep = part[first], pitch[first], steps[first], keep[first]
    new_line = np.ones(len(part), bool)
    new_line[1:] = part[1:] != part[:-1]
    start = np.append(np.flatnonzero(new_line), len(part)).astype(np.int64)
    text = np.full(len(part), end_mark, np.int64)
    if len(part) > 1:
        symbols = step_symbols(pitch, steps)
        same_line = ~new_line[1:]
        text[:-1][same_line] = symbols[same_line]
    return Lines(text, keep.astype(np.int64), start, part[start[:-1]])


# -- the suffix array ---------------------------------------------------------
def suffix_array(text: np.ndarray) -> np.ndarray:
    """Start positions of the suffixes of ``text`` in lexicographic order (prefix doubling, numpy sorts).

    A suffix that is a prefix of another sorts first. ``O(n log n)`` per round, one
    round per doubling of the longest repeated substring.
    """
    n = len(text)
    if n == 0:
        return np.zeros(0, np.int32)
    rank = np.unique(np.asarray(text), return_inverse=True)[1].astype(np.int64).reshape(-1)
    order = np.argsort(rank, kind="stable")
    k = 1
    while True:
        second = np.zeros(n, np.int64)
        if k < n:
            second[: n - k] = rank[k:] + 1  # 0: past the end, before everything
        key = rank * (n + 1) + second  # ranks are < n, so this fits int64 for n below 3e9
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        distinct = np.empty(n, np.int64)
        distinct[0] = 0
        np.cumsum(ordered[1:] != ordered[:-1], out=distinct[1:])
        rank = np.empty(n, np.int64)
        rank[order] = distinct
        if distinct[-1] == n - 1 or k >= n:
            return order.astype(np.int32 if n < 2**31 else np.int64)
        k *= 2


# -- the report ----------------------------------------------------------------
@dataclass(frozen=True)
class OriginalityReport:
    """What of a score was found in a corpus. Bars and notes are 1-based in the text fields."""

    longest_notes: int  # notes of the longest passage of one line also in the corpus (0: none of 2+ notes)
    longest_bars: float  # its span in the score, first onset to last note's end, in bars of the score's meter
    score_part: str | None  # the part of the score it lies in
    score_start_bar: int | None  # bar of the score where it starts (1-based)
    score_start_note: int | None  # index in score.notes of its first note
    source: str | None  # the corpus file it was found in, relative to the corpus folder
    source_part: str | None  # the part of that file
    source_start_bar: int | None  # bar of that file where it starts (1-based)
    ngram_share: float  # share of the score's counted 8-note n-grams found in the corpus, 0..1 (0 when ngrams is 0)
    ngrams: int  # 8-note n-grams counted (those starting at or after the seed's end)
    ngrams_found: int
    seed_end_tick: int  # notes starting before it were the seed, not counted
    seed_bars: float  # the seed's length in bars of the score (0.0: no seed)
    notes_compared: int  # notes of the score's lines starting at or after seed_end_tick
    corpus: str  # the corpus folder, as given
    corpus_splits: tuple[str, ...]  # the splits compared against; () for a folder without manifests (every file)
    corpus_files: int  # files in the index

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        if self.longest_notes == 0:
            longest = "longest passage also in the corpus: none (not even two notes in a row)"
        else:
            longest = (
                f"longest passage also in the corpus: {self.longest_notes} notes, {self.longest_bars:.1f} bars "
                f"({self.score_part}, from bar {self.score_start_bar}), "
                f"found in {self.source} ({self.source_part}) at bar {self.source_start_bar}"
            )
        if self.ngrams:
            share = f"{NGRAM_NOTES}-note n-grams found in the corpus: {100 * self.ngram_share:.1f}% ({self.ngrams_found} of {self.ngrams})"
        else:
            share = f"{NGRAM_NOTES}-note n-grams found in the corpus: none to compare (no line has {NGRAM_NOTES} notes after the seed)"
        splits = f", {' + '.join(self.corpus_splits)} split{'s' if len(self.corpus_splits) > 1 else ''}" if self.corpus_splits else ""
        lines = [longest, share, f"corpus: {self.corpus}{splits} ({self.corpus_files} file{'s' if self.corpus_files != 1 else ''})"]
        if self.seed_end_tick > 0:
            lines.append(f"seed: the first {self.seed_bars:g} bars (notes starting before tick {self.seed_end_tick}), not counted")
        return "\n".join(lines)


# -- finding the corpus files ---------------------------------------------------
def corpus_files(corpus_dir: str | Path, splits: str | Iterable[str] = DEFAULT_SPLITS) -> list[tuple[str, Path]]:
    """(name relative to ``corpus_dir``, path) of the MIDI files to compare against, sorted by name.

    A corpus root (collection folders with manifests) or one collection: the files
    of ``splits`` listed in the manifests. Any other folder: every MIDI file in it
    and below, whatever the splits.
    """
    return _corpus_files(corpus_dir, splits)[0]


def _corpus_files(corpus_dir: str | Path, splits: str | Iterable[str]) -> tuple[list[tuple[str, Path]], tuple[str, ...]]:
    """``corpus_files``, and the splits they were chosen by (none for a folder without manifests)."""
    chosen = check_splits(splits)
    used = chosen if has_manifests(corpus_dir) else ()
    pieces = discover(corpus_dir, splits=used or None, midi_only=True)
    return [(p.name, p.path) for p in pieces], used


def _fingerprint(files: list[tuple[str, Path]], splits: tuple[str, ...]) -> str:
    return fingerprint({"version": INDEX_VERSION, "steps_per_beat": STEPS_PER_BEAT, "splits": splits}, files)


# -- the index -----------------------------------------------------------------
_MEMO: dict[str, "CorpusIndex"] = {}


class CorpusIndex:
    """Every melodic line of a corpus, with a suffix array to find any passage in it.

    Build one with ``for_corpus`` (a folder; cached on disk) or ``from_scores``
    (scores in memory, not cached); ask it with ``check``.
    """

    def __init__(
        self,
        text: np.ndarray,
        sa: np.ndarray,
        bar: np.ndarray,
        line_start: np.ndarray,
        line_file: np.ndarray,
        line_part: np.ndarray,
        files: Sequence[str],
        *,
        corpus: str = "",
        splits: Sequence[str] = (),
        failures: Sequence[str] = (),
    ) -> None:
        self.text = text  # one entry per note: step symbol, or _CORPUS_END for a line's last note
        self.sa = sa
        self.bar = bar  # 0-based bar of each note in its file
        self.line_start = line_start  # len(lines) + 1 offsets into text
        self.line_file = line_file  # index into files
        self.line_part = [str(name) for name in line_part]  # part name of each line
        self.files = list(files)
        self.corpus = corpus
        self.splits = tuple(splits)  # the manifest splits the files were chosen by; () when every file counts
        self.failures = list(failures)  # "file: reason" of files that could not be read

    def __repr__(self) -> str:
        return f"CorpusIndex({self.corpus!r}: {len(self.files)} files, {len(self.line_part)} lines, {len(self.text)} notes)"

    # -- building -------------------------------------------------------------
    @classmethod
    def from_scores(cls, scores: Iterable[tuple[str, Score]], *, corpus: str = "", failures: Sequence[str] = ()) -> "CorpusIndex":
        """An index of (name, score) pairs, in memory."""
        texts, bars, starts, line_file, line_part, files = [], [], [0], [], [], []
        offset = 0
        for name, score in scores:
            lines = lines_of(score, end_mark=_CORPUS_END)
            if len(lines.text) == 0:
                continue
            file_id = len(files)
            files.append(name)
            bar_starts = score.bar_starts(score.end_tick + 1)
            texts.append(lines.text)
            bars.append(np.searchsorted(bar_starts, score.notes["start_tick"][lines.note], side="right") - 1)
            starts += (offset + lines.start[1:]).tolist()
            offset += len(lines.text)
            line_file += [file_id] * len(lines.part)
            line_part += [score.parts[p].name for p in lines.part.tolist()]
        if not files:
            raise OriginalityError(f"{corpus or 'corpus'}: no notes to index")
        text = np.concatenate(texts)
        return cls(
            text.astype(np.int32),  # symbols stay below 2**30 (8 bits of interval, 22 of onset gap)
            suffix_array(text),
            np.concatenate(bars).astype(np.int32),
            np.asarray(starts, np.int64),
            np.asarray(line_file, np.int32),
            np.asarray(line_part, str),
            files,
            corpus=corpus,
            failures=failures,
        )

    @classmethod
    def build(cls, corpus_dir: str | Path = "midi_corpus", *, splits: str | Iterable[str] = DEFAULT_SPLITS, progress: Progress | None = None) -> "CorpusIndex":
        """Read the corpus files and index them, without any cache. Unreadable files are skipped and listed in ``failures``."""
        files, chosen = _corpus_files(corpus_dir, splits)
        return cls._build(files, str(corpus_dir), progress)._as(str(corpus_dir), chosen)

    @classmethod
    def _build(cls, files: list[tuple[str, Path]], corpus: str, progress: Progress | None) -> "CorpusIndex":
        from composer.io.midi import read_midi

        failures: list[str] = []

        def scores() -> Iterable[tuple[str, Score]]:
            for i, (name, path) in enumerate(files):
                try:
                    score = read_midi(path)
                except ComposerError as exc:
                    failures.append(str(exc))
                    score = None
                if progress:
                    progress(i + 1, len(files))
                if score is not None:
                    yield name, score

        index = cls.from_scores(scores(), corpus=corpus)
        index.failures = failures
        if not index.files:
            raise OriginalityError(f"{corpus}: none of the {len(files)} MIDI files could be read; first problem: {failures[0]}")
        return index

    @classmethod
    def for_corpus(cls, corpus_dir: str | Path = "midi_corpus", *, splits: str | Iterable[str] = DEFAULT_SPLITS, progress: Progress | None = None) -> "CorpusIndex":
        """The index of a corpus folder: from memory, else from the disk cache, else built (and cached).

        ``splits`` choose the files of a corpus with manifests (default: train, what
        a model learns from); a folder without manifests counts every MIDI file.
        ``progress(done, total)`` is called while files are read for a new index.
        """
        files, used = _corpus_files(corpus_dir, splits)
        fingerprint = _fingerprint(files, used)
        index = _MEMO.pop(fingerprint, None)
        if index is None:
            path = _cache_path(fingerprint)
            index = _load(path)
            if index is None:
                index = cls._build(files, str(corpus_dir), progress)
                _save(index, path)
        _MEMO[fingerprint] = index  # most recent last
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        return index._as(str(corpus_dir), used)

    def _as(self, corpus: str, splits: tuple[str, ...]) -> "CorpusIndex":
        """This index (sharing its arrays) named as the folder and splits it was asked for by."""
        return CorpusIndex(self.text, self.sa, self.bar, self.line_start, self.line_file, self.line_part, self.files, corpus=corpus, splits=splits, failures=self.failures)

    # -- asking ---------------------------------------------------------------
    def _lcp(self, query: np.ndarray, qpos: np.ndarray, tpos: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Length of the common prefix of query[qpos:] and text[tpos:], pairwise, given that the first ``known`` symbols agree.

        Each query line ends in _QUERY_END, which the text never holds, so every
        comparison stops inside both arrays; indices are clipped only for the
        block read past that point.
        """
        text = self.text
        q_last, t_last = len(query) - 1, len(text) - 1
        lcp = known.copy()
        active = np.arange(len(qpos))
        block = 8
        while active.size:
            offsets = lcp[active, None] + np.arange(block)
            differ = query[np.minimum(qpos[active, None] + offsets, q_last)] != text[np.minimum(tpos[active, None] + offsets, t_last)]
            done = differ.any(axis=1)
            lcp[active] += np.where(done, differ.argmax(axis=1), block)
            active = active[~done]
            # long matches (a copied piece) take few rounds; the block stays within _LCP_CELLS per round
            block = max(8, min(2 * block, _LCP_CELLS // max(active.size, 1)))
        return lcp

    def matching_statistics(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each position of ``query`` (a ``lines_of`` text): the longest run of symbols from there found in the corpus, and where it starts in ``self.text``.

        A binary search over the suffix array for all positions at once. The corpus
        suffix sharing the longest prefix with query[q:] sorts right next to it, so
        the answer is the longer of the common prefixes with the two suffixes that
        end up bounding the search. Every suffix between the bounds shares at least
        the shorter of those prefixes, so each comparison starts there.

        Each position still compares its whole match once, so a line copied whole
        costs about k * k / 2 symbol comparisons for k notes: milliseconds for the
        lines of a 32-bar piece, seconds for a 20,000-note line.
        """
        query = np.asarray(query, np.int64)
        m, n = len(query), len(self.text)
        if m == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if query[-1] != _QUERY_END or np.isin(query, [_CORPUS_END]).any():
            raise ValueError("query must be a lines_of() text: lines closed by the query end mark")
        sa = self.sa.astype(np.int64)
        lo = np.zeros(m, np.int64)  # suffixes sa[:lo] sort before query[q:], sa[hi:] after it
        hi = np.full(m, n, np.int64)
        lcp_lo = np.zeros(m, np.int64)  # common prefix with sa[lo - 1] (0 while lo == 0)
        lcp_hi = np.zeros(m, np.int64)  # common prefix with sa[hi] (0 while hi == n)
        active = np.arange(m, dtype=np.int64)
        while active.size:
            mid = (lo[active] + hi[active]) // 2
            tpos = sa[mid]
            lcp = self._lcp(query, active, tpos, np.minimum(lcp_lo[active], lcp_hi[active]))
            after = query[active + lcp] > self.text[tpos + lcp]
            up, down = active[after], active[~after]
            lo[up], lcp_lo[up] = mid[after] + 1, lcp[after]
            hi[down], lcp_hi[down] = mid[~after], lcp[~after]
            active = active[lo[active] < hi[active]]
        below = sa[np.maximum(lo - 1, 0)]
        above = sa[np.minimum(lo, n - 1)]
        use_above = (lo < n) & ((lo == 0) | (lcp_hi > lcp_lo))
        return np.where(use_above, lcp_hi, lcp_lo), np.where(use_above, above, below)

    def locate(self, position: int) -> tuple[str, str, int]:
        """(file, part name, 1-based bar) of a note of the corpus text."""
        line = int(np.searchsorted(self.line_start, position, side="right")) - 1
        return self.files[int(self.line_file[line])], self.line_part[line], int(self.bar[position]) + 1

    def check(self, score: Score, *, seed_end_tick: int = 0) -> OriginalityReport:
        """The longest passage of ``score`` found in the corpus, and the share of its 8-note n-grams found there.

        Notes starting before ``seed_end_tick`` are the seed: see the module docstring for what counts.
        """
        if seed_end_tick < 0:
            raise OriginalityError(f"seed_end_tick must be >= 0, got {seed_end_tick}")
        lines = lines_of(score)
        matched, where = self.matching_statistics(lines.text)
        positions = np.arange(len(lines.text))
        line_of = np.repeat(np.arange(len(lines.part)), np.diff(lines.start))
        line_end = lines.start[1:][line_of]  # one past the end of each entry's line
        post = score.notes["start_tick"][lines.note] >= seed_end_tick
        # A line's notes are in onset order, so its seed notes come first: the first counted note of each line.
        seed_notes = np.add.reduceat((~post).astype(np.int64), lines.start[:-1]) if len(post) else np.zeros(0, np.int64)
        first_post = (lines.start[:-1] + seed_notes)[line_of]
        counted_from = np.maximum(positions, first_post)
        last = positions + matched  # last note of the passage starting here
        counted = np.where((matched > 0) & (last >= counted_from), last - counted_from + 1, 0)

        is_ngram = post & (positions + NGRAM_NOTES - 1 < line_end)
        found = is_ngram & (matched >= NGRAM_NOTES - 1)
        ngrams, ngrams_found = int(is_ngram.sum()), int(found.sum())
        fields: dict[str, Any] = dict(longest_notes=0, longest_bars=0.0, score_part=None, score_start_bar=None, score_start_note=None, source=None, source_part=None, source_start_bar=None)
        if len(counted) and counted.max() > 0:
            best = int(counted.argmax())  # the first of equal lengths: earliest part, earliest note
            first, end = int(counted_from[best]), int(last[best])
            first_note, last_note = score.notes[lines.note[first]], score.notes[lines.note[end]]
            start_pos, end_pos = _bar_positions(score, np.array([first_note["start_tick"], last_note["start_tick"] + last_note["duration_ticks"]]))
            source, source_part, source_bar = self.locate(int(where[best]) + first - best)
            fields.update(
                longest_notes=int(counted[best]),
                longest_bars=round(float(end_pos - start_pos), 6),
                score_part=score.parts[int(lines.part[line_of[best]])].name,
                score_start_bar=int(start_pos) + 1,
                score_start_note=int(lines.note[first]),
                source=source,
                source_part=source_part,
                source_start_bar=source_bar,
            )
        return OriginalityReport(
            **fields,
            ngram_share=ngrams_found / ngrams if ngrams else 0.0,
            ngrams=ngrams,
            ngrams_found=ngrams_found,
            seed_end_tick=int(seed_end_tick),
            seed_bars=round(float(_bar_positions(score, np.array([seed_end_tick]))[0]), 6) if seed_end_tick else 0.0,
            notes_compared=int(post.sum()),
            corpus=self.corpus,
            corpus_splits=self.splits,
            corpus_files=len(self.files),
        )


def _bar_positions(score: Score, ticks: np.ndarray) -> np.ndarray:
    """Ticks as bars from the start (bar index + fraction of that bar), following the score's meter changes."""
    ticks = np.asarray(ticks, np.int64)
    starts = score.bar_starts(max(score.end_tick, int(ticks.max(initial=0))) + 1)
    last_ts = score.time_signatures[-1]
    last_length = float(bar_ticks(int(last_ts["numerator"]), int(last_ts["denominator"]), score.ticks_per_beat))
    i = np.searchsorted(starts, ticks, side="right") - 1
    nxt = np.where(i + 1 < len(starts), starts[np.minimum(i + 1, len(starts) - 1)], starts[i] + last_length)
    return i + (ticks - starts[i]) / (nxt - starts[i])


def seed_end_tick(score: Score, seed_bars: int) -> int:
    """The tick where a seed of ``seed_bars`` bars ends (0 for none), bars counted as ``--bars`` counts them.

    A pickup is not a bar (``composer.theory``): it comes on top of the seed's bars.
    """
    from composer.theory import bar_end_tick, bars_of

    if seed_bars < 0:
        raise OriginalityError(f"seed bars must be >= 0, got {seed_bars}")
    if seed_bars == 0:
        return 0
    end = bar_end_tick(score, seed_bars)
    if end is None:
        raise OriginalityError(f"the seed of {seed_bars} bars is not shorter than the score ({bars_of(score)} bars)")
    return end


# -- index files: the disk cache and the shipped index ------------------------------
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry dates: the same index gives the same bytes
_DAMAGE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error, json.JSONDecodeError)


def write_index(index: CorpusIndex, path: str | Path, *, meta: dict[str, Any] | None = None, compress: bool = False) -> Path:
    """Write ``index`` to ``path`` as a NumPy ``.npz`` archive (no pickled objects), through the atomic writer.

    The same index and ``meta`` (JSON, stored beside the format, ``INDEX_VERSION``
    and the unreadable files) give the same bytes. ``compress`` deflates the arrays.
    """
    from composer.io.atomic import atomic_path

    header = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "steps_per_beat": STEPS_PER_BEAT, "failures": index.failures, **(meta or {})}
    arrays = [getattr(index, name) for name in _ARRAYS[:5]] + [np.asarray(index.line_part, str), np.asarray(index.files, str)]
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, force=True) as tmp, zipfile.ZipFile(tmp, "w", method, compresslevel=9 if compress else None) as archive:
        for name, array in [*zip(_ARRAYS, arrays), ("meta", np.asarray(json.dumps(header, sort_keys=True)))]:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type, info.external_attr = method, 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
    return path


def read_index(path: str | Path) -> tuple[CorpusIndex, dict[str, Any]]:
    """An index written by ``write_index``, and its meta. Raises OriginalityError when it is damaged or of another version."""
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):  # else np.load would take it for a pickle and say so
            raise ValueError("not a complete .npz archive")
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
                raise ValueError(f"not a {INDEX_FORMAT}")
            if meta.get("version") != INDEX_VERSION or meta.get("steps_per_beat") != STEPS_PER_BEAT:
                raise OriginalityError(
                    f"{path}: originality index version {meta.get('version')} ({meta.get('steps_per_beat')} steps a beat), "
                    f"this composer reads version {INDEX_VERSION} ({STEPS_PER_BEAT} steps a beat)"
                )
            arrays = {name: data[name] for name in _ARRAYS}
        index = CorpusIndex(*(arrays[name] for name in _ARRAYS[:6]), arrays["files"].tolist(), failures=meta["failures"])
        _check_layout(index)
    except _DAMAGE as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise OriginalityError(f"{path}: damaged originality index ({reason})") from exc
    return index, meta


def _check_layout(index: CorpusIndex) -> None:
    n, lines = len(index.text), len(index.line_part)
    if len(index.sa) != n or len(index.bar) != n:
        raise ValueError(f"{n} notes, but {len(index.sa)} suffixes and {len(index.bar)} bars")
    if len(index.line_start) != lines + 1 or len(index.line_file) != lines or index.line_start[0] != 0 or index.line_start[-1] != n:
        raise ValueError("the line offsets do not cover the notes")
    if lines and not 0 <= int(index.line_file.min()) <= int(index.line_file.max()) < len(index.files):
        raise ValueError("a line names a file the index does not list")
    if n and not (0 <= int(index.sa.min()) and int(index.sa.max()) < n):
        raise ValueError("a suffix starts outside the notes")


def _cache_path(key: str) -> Path:
    return entry(CACHE_FOLDER, key, ".npz")


def _save(index: CorpusIndex, path: Path) -> None:
    try:
        write_index(index, path)
    except (OSError, WriteError):
        pass  # an unwritable cache folder only costs time


def _load(path: Path) -> CorpusIndex | None:
    """The cached index, or None when there is none or it cannot be trusted (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        return read_index(path)[0]
    except OriginalityError:
        return None


def _files_sha1(index: CorpusIndex, corpus_dir: Path) -> dict[str, str]:
    """Per top folder ("" for files at the top): sha1 over each indexed file's name in it and its contents' sha1.

    The rule of a model's ``train_files_sha1``, so the two can be compared: the
    "chorales" entry of the shipped index is the chorale model's.
    """
    hashes: dict[str, Any] = {}
    for name in index.files:
        top, _, inner = name.partition("/") if "/" in name else ("", "", name)
        h = hashes.setdefault(top, hashlib.sha1())
        h.update(inner.encode() + b"\0" + hashlib.sha1((corpus_dir / name).read_bytes()).digest())
    return {top: h.hexdigest() for top, h in hashes.items()}


def shipped_index_path() -> Path | None:
    """The index shipped with the models: in this checkout's ``models/``, else in the installed ``composer_models``; None if neither has it."""
    import importlib.util

    folders = [Path(__file__).resolve().parent.parent / "models"]
    spec = importlib.util.find_spec("composer_models")
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) for p in spec.submodule_search_locations]
    return next((folder / SHIPPED_INDEX for folder in folders if (folder / SHIPPED_INDEX).is_file()), None)


def build_shipped_index(corpus_dir: str | Path = DEFAULT_CORPUS, output: str | Path | None = None, *, progress: Progress | None = None) -> Path:
    """Index the train split of ``corpus_dir`` (what the shipped models learned from) into ``output`` (default: ``models/`` of this checkout).

    Deterministic: the same corpus gives the same bytes. Refuses a corpus with unreadable files.
    """
    corpus_dir = Path(corpus_dir)
    index = CorpusIndex.build(corpus_dir, splits=DEFAULT_SPLITS, progress=progress)
    if index.failures:
        raise OriginalityError(f"{corpus_dir}: {len(index.failures)} files could not be read; first problem: {index.failures[0]}")
    out = Path(output) if output is not None else Path(__file__).resolve().parent.parent / "models" / SHIPPED_INDEX
    meta = {"corpus": corpus_dir.resolve().name, "splits": list(index.splits), "files_sha1": _files_sha1(index, corpus_dir)}
    return write_index(index, out, meta=meta, compress=True)


def shipped_index(splits: str | Iterable[str] = DEFAULT_SPLITS) -> CorpusIndex:
    """The index shipped with the models (see ``shipped_index_path``), named "<corpus> (the index shipped with the models)"."""
    chosen = check_splits(splits)
    path = shipped_index_path()
    if path is None:
        raise OriginalityError(f"no {DEFAULT_CORPUS} folder here and no {SHIPPED_INDEX} shipped with the models; give a folder of MIDI files with --corpus")
    stat = path.stat()
    key = f"shipped\t{path}\t{stat.st_size}\t{stat.st_mtime_ns}"
    memo = _MEMO.pop(key, None)
    if memo is None:
        try:
            index, meta = read_index(path)
        except OriginalityError as exc:
            raise OriginalityError(f"{exc}; reinstall composer, rebuild it with 'python benchmarks/build_originality_index.py', or give --corpus") from None
        memo = index._as(f"{meta.get('corpus', DEFAULT_CORPUS)} (the index shipped with the models)", tuple(meta.get("splits", ())))
    _MEMO[key] = memo
    if chosen != memo.splits:
        raise OriginalityError(
            f"no {DEFAULT_CORPUS} folder here, and the index shipped with the models holds the {' + '.join(memo.splits)} split only, "
            f"not {' + '.join(chosen)}; give the corpus folder with --corpus"
        )
    return memo


def index_for(corpus_dir: str | Path | None = None, *, splits: str | Iterable[str] = DEFAULT_SPLITS, progress: Progress | None = None) -> CorpusIndex:
    """The index to check against: ``corpus_dir``'s; without one, ``midi_corpus`` if the current folder has it, else ``shipped_index``."""
    if corpus_dir is None:
        if not Path(DEFAULT_CORPUS).exists():
            return shipped_index(splits)
        corpus_dir = DEFAULT_CORPUS
    return CorpusIndex.for_corpus(corpus_dir, splits=splits, progress=progress)


def check_originality(score: Score | str | Path, corpus_dir: str | Path | None = None, *, seed_end_tick: int = 0, splits: str | Iterable[str] = DEFAULT_SPLITS) -> OriginalityReport:
    """``index_for(corpus_dir, splits=splits).check(score, seed_end_tick=...)``; ``score`` may be a file path.

    Without ``corpus_dir``: ``midi_corpus`` in the current folder if there is one, else the index shipped with the models.
    """
    if not isinstance(score, Score):
        from composer.formats import read

        score = read(score)
    return index_for(corpus_dir, splits=splits).check(score, seed_end_tick=seed_end_tick)


__all__ = [
    "CorpusIndex",
    "OriginalityReport",
    "OriginalityError",
    "build_shipped_index",
    "check_originality",
    "corpus_files",
    "decode_symbol",
    "index_for",
    "lines_of",
    "read_index",
    "seed_end_tick",
    "shipped_index",
    "shipped_index_path",
    "suffix_array",
    "write_index",
    "NGRAM_NOTES",
]
