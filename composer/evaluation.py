"""Judging a model's music: pieces it generates against real pieces of a corpus split.

``evaluate_samples`` generates ``samples`` pieces from scratch, sample ``i``
with random seed ``random_seed + i`` (so any one of them is
``composer generate -o x.mid --model MODEL --bars BARS --random-seed S``),
reads the pieces of one split of the corpus, cut to their first ``bars``
bars so that length-dependent figures (pitch range, pitches used) compare
like with like, and compares the two sets:

* each metric of ``composer.metrics.METRICS``: the mean over the model's
  pieces, the mean over the corpus pieces, and the overlapping area of the
  two distributions (Yang and Lerch 2020); beside it, as a yardstick, the
  overlap that two sets of real pieces reach: the pieces of another split
  (valid for test, test for valid and train), cut alike, against the split's;
* the note length histogram: the mean histogram of each set, and Yang and
  Lerch's overlap of the corpus's intra-set distances with the model-to-corpus
  distances;
* for four-part styles, voice-leading faults per 100 notes (pooled over the
  pieces) of the model's pieces and of the real pieces;
* form (``composer.metrics.structure_metrics``, top part, the first ``bars``
  bars): the mean share of bars and 2-bar units repeating earlier ones, of
  cadences at bars 4, 8, 12, 16 and elsewhere, and of pieces whose last note
  is the tonic, for the model's pieces, the corpus pieces and the reference pieces;
* the longest passage of each piece also found in the corpus's training
  split (``composer.originality``), for the model's pieces and, as a yardstick,
  for the real pieces of the split.

``evaluate`` measures a model's bits per note on a split (``score_split``,
which training also validates with): what ``composer evaluate`` prints
without ``--samples``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from composer.corpus import SPLITS
from composer.errors import ComposerError
from composer.generate import GenerationSettings, default_style, generate
from composer.metrics import (
    METRICS,
    NOTE_LENGTH_BIN_NAMES,
    SATB_VOICES,
    STRUCTURE_LABELS,
    VoiceLeading,
    compute_metrics,
    describe,
    note_length_histogram,
    overlap_area,
    pairwise_distances,
    structure_metrics,
    voice_leading,
)
from composer.progress import Progress  # (samples done, samples in all)
from composer.settings import default_of
from composer.theory import opening

if TYPE_CHECKING:
    import torch

    from composer.dataset import TokenSplit
    from composer.modelfile import Model
    from composer.nn.base import LanguageModel
    from composer.score import Score
    from composer.tokens import Tokenizer

ORIGINALITY_SPLIT = "train"  # what a model learns from: a passage found there is one it may have memorized
# The real pieces set beside each split's as a yardstick: what overlap two sets of real pieces reach.
REFERENCE_SPLITS = {"test": "valid", "valid": "test", "train": "valid"}

# How each metric is named and printed in reports.
LABELS = {
    "pitch_class_entropy": ("pitch-class entropy (bits)", ".3f"),
    "scale_consistency": ("scale consistency", ".3f"),
    "pitch_range": ("pitch range (semitones)", ".1f"),
    "n_pitches_used": ("pitches used", ".1f"),
    "polyphony": ("polyphony (pitches at once)", ".2f"),
    "empty_beat_rate": ("empty-beat rate", ".3f"),
    "groove_consistency": ("groove consistency", ".3f"),
    "average_pitch_interval": ("average pitch interval (semitones)", ".2f"),
}
VOICE_LEADING_LABELS = {
    "parallel_fifths": "parallel fifths",
    "parallel_octaves": "parallel octaves and unisons",
    "voice_crossings": "voice crossings",
    "range_violations": "notes outside the voice's range",
}


class EvaluationError(ComposerError):
    """The evaluation cannot run (no pieces in the split, a bad option, ...)."""


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the model's pieces and over the corpus pieces."""

    name: str
    description: str
    model_mean: float
    corpus_mean: float
    overlap: float  # overlapping area of the two distributions, 0..1 (NaN when either has no defined value)
    model_values: tuple[float, ...]
    corpus_values: tuple[float, ...]
    reference_overlap: float = math.nan  # the same between two sets of real pieces: the reference split and the corpus


@dataclass(frozen=True)
class CopiedPassages:
    """The longest passage of each piece of a set also found in the training split (composer.originality)."""

    longest_notes: tuple[int, ...]
    longest_bars: tuple[float, ...]
    ngram_share: tuple[float, ...]  # share of each piece's 8-note n-grams found in the training split
    sources: tuple[str | None, ...]  # the training file each longest passage was found in

    def summary(self) -> dict[str, float]:
        """Median and maximum of the longest passages, in notes and bars, and the mean n-gram share."""
        if not self.longest_notes:
            return {k: math.nan for k in ("median_notes", "max_notes", "median_bars", "max_bars", "mean_ngram_share")}
        return {
            "median_notes": float(np.median(self.longest_notes)),
            "max_notes": float(max(self.longest_notes)),
            "median_bars": float(np.median(self.longest_bars)),
            "max_bars": float(max(self.longest_bars)),
            "mean_ngram_share": float(np.mean(self.ngram_share)),
        }


@dataclass(frozen=True)
class SampleEvaluation:
    """A model's generated pieces beside the pieces of a corpus split; see the module docstring."""

    model: str
    corpus: str
    split: str
    style: str
    samples: int
    bars: int
    random_seed: int  # sample i used random_seed + i
    reference_split: str | None  # real pieces of another split, compared with the corpus pieces as a yardstick
    reference_pieces: int
    settings: str  # the generation settings besides the random seed
    corpus_pieces: int
    corpus_failures: tuple[str, ...]  # "file: reason" of split files that could not be read
    metrics: tuple[MetricSummary, ...]
    note_lengths_model: tuple[float, ...]  # mean note length histogram (NOTE_LENGTH_BIN_NAMES)
    note_lengths_corpus: tuple[float, ...]
    note_lengths_overlap: float
    note_lengths_reference_overlap: float
    voice_leading_model: VoiceLeading | None  # pooled counts; None when the style is not in four parts
    voice_leading_corpus: VoiceLeading | None
    copied_model: CopiedPassages | None  # None when the corpus has no training split to compare with
    copied_corpus: CopiedPassages | None
    originality_index: str = ""  # what the copied passages were looked up in
    # Mean form figures (STRUCTURE_LABELS) over the model's, the corpus's and the reference's pieces.
    structure_model: dict[str, float] = dataclasses.field(default_factory=dict)
    structure_corpus: dict[str, float] = dataclasses.field(default_factory=dict)
    structure_reference: dict[str, float] = dataclasses.field(default_factory=dict)

    def metric(self, name: str) -> MetricSummary:
        for summary in self.metrics:
            if summary.name == name:
                return summary
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Everything, per-piece values included, as JSON-ready data (NaN as None)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return None if math.isnan(value) else value
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        out: dict[str, Any] = {
            "model": self.model,
            "corpus": self.corpus,
            "split": self.split,
            "style": self.style,
            "samples": self.samples,
            "bars": self.bars,
            "random_seed": self.random_seed,
            "reference_split": self.reference_split,
            "reference_pieces": self.reference_pieces,
            "settings": self.settings,
            "corpus_pieces": self.corpus_pieces,
            "corpus_failures": list(self.corpus_failures),
            "metrics": {
                m.name: {"description": m.description, "model_mean": m.model_mean, "corpus_mean": m.corpus_mean, "overlap": m.overlap, "reference_overlap": m.reference_overlap, "model_values": list(m.model_values), "corpus_values": list(m.corpus_values)}
                for m in self.metrics
            },
            "note_lengths": {"bins": list(NOTE_LENGTH_BIN_NAMES), "model": list(self.note_lengths_model), "corpus": list(self.note_lengths_corpus), "overlap": self.note_lengths_overlap, "reference_overlap": self.note_lengths_reference_overlap},
            "structure": {"model": self.structure_model, "corpus": self.structure_corpus, "reference": self.structure_reference},
            "voice_leading": None,
            "copied_passages": None,
        }
        if self.voice_leading_model is not None and self.voice_leading_corpus is not None:
            out["voice_leading"] = {
                "model": {**self.voice_leading_model.to_dict(), "per_100_notes": self.voice_leading_model.per_100_notes()},
                "corpus": {**self.voice_leading_corpus.to_dict(), "per_100_notes": self.voice_leading_corpus.per_100_notes()},
            }
        if self.copied_model is not None and self.copied_corpus is not None:
            out["copied_passages"] = {
                "index": self.originality_index,
                "model": {**self.copied_model.summary(), "longest_notes": list(self.copied_model.longest_notes), "longest_bars": list(self.copied_model.longest_bars), "ngram_share": list(self.copied_model.ngram_share), "sources": list(self.copied_model.sources)},
                "corpus": {**self.copied_corpus.summary(), "longest_notes": list(self.copied_corpus.longest_notes), "longest_bars": list(self.copied_corpus.longest_bars), "ngram_share": list(self.copied_corpus.ngram_share), "sources": list(self.copied_corpus.sources)},
            }
        return clean(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def to_markdown(self) -> str:
        """Tables: the metrics, note lengths, voice leading (four-part styles) and copied passages."""
        last_seed = self.random_seed + self.samples - 1
        lines = [
            f"Model `{self.model}` (style {self.style}) against the {self.split} split of `{self.corpus}`: "
            f"{self.samples} pieces of {self.bars} bars generated from scratch (random seeds {self.random_seed}–{last_seed}; {self.settings}), "
            f"and the first {self.bars} bars of the split's {self.corpus_pieces} pieces."
            + (f" Yardstick: the overlap of the {self.reference_split} split's {self.reference_pieces} pieces (cut alike) with the {self.split} split's." if self.reference_split else ""),
            "",
            "| metric | model mean | corpus mean | overlap area | real vs real |",
            "|---|---:|---:|---:|---:|",
        ]
        for m in self.metrics:
            label, spec = LABELS.get(m.name, (m.name, ".3f"))
            lines.append(f"| {label} | {_fmt(m.model_mean, spec)} | {_fmt(m.corpus_mean, spec)} | {_fmt(m.overlap, '.2f')} | {_fmt(m.reference_overlap, '.2f')} |")
        lines.append(f"| note lengths (histogram distances) | | | {_fmt(self.note_lengths_overlap, '.2f')} | {_fmt(self.note_lengths_reference_overlap, '.2f')} |")
        used = [i for i, (a, b) in enumerate(zip(self.note_lengths_model, self.note_lengths_corpus)) if a >= 0.005 or b >= 0.005]
        if used:
            lines += ["", "Note lengths, share of the notes:", ""]
            lines.append("| | " + " | ".join(NOTE_LENGTH_BIN_NAMES[i] for i in used) + " |")
            lines.append("|---|" + "---:|" * len(used))
            lines.append("| model | " + " | ".join(f"{self.note_lengths_model[i]:.2f}" for i in used) + " |")
            lines.append("| corpus | " + " | ".join(f"{self.note_lengths_corpus[i]:.2f}" for i in used) + " |")
        if self.structure_model and self.structure_corpus:
            lines += ["", f"Form of the top part, first {self.bars} bars (mean over the pieces; composer.metrics.structure_metrics):", ""]
            columns = [("model", self.structure_model), (f"{self.split} split", self.structure_corpus)]
            if self.structure_reference:
                columns.append((f"{self.reference_split} split", self.structure_reference))
            lines += ["| | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---:|" * len(columns)]
            for key, label in STRUCTURE_LABELS.items():
                lines.append(f"| {label} | " + " | ".join(_percent(figures.get(key, math.nan)) for _, figures in columns) + " |")
        if self.voice_leading_model is not None and self.voice_leading_corpus is not None:
            model_rates, corpus_rates = self.voice_leading_model.per_100_notes(), self.voice_leading_corpus.per_100_notes()
            lines += ["", "Voice leading, per 100 notes (pooled over the pieces):", "", "| | model | corpus |", "|---|---:|---:|"]
            for key, label in VOICE_LEADING_LABELS.items():
                lines.append(f"| {label} | {_fmt(model_rates[key], '.2f')} | {_fmt(corpus_rates[key], '.2f')} |")
            lines.append(f"| notes counted | {self.voice_leading_model.notes:,} | {self.voice_leading_corpus.notes:,} |")
        if self.copied_model is not None and self.copied_corpus is not None:
            lines += [
                "",
                f"Longest passage of each piece also found in {self.originality_index} (notes of one part in a row; bars):",
                "",
                "| pieces | median | longest | 8-note n-grams found (mean) |",
                "|---|---:|---:|---:|",
            ]
            for label, copied in ((f"model ({self.samples})", self.copied_model), (f"corpus {self.split} split ({len(self.copied_corpus.longest_notes)})", self.copied_corpus)):
                s = copied.summary()
                lines.append(
                    f"| {label} | {_fmt(s['median_notes'], '.0f')} notes ({_fmt(s['median_bars'], '.1f')} bars) | "
                    f"{_fmt(s['max_notes'], '.0f')} notes ({_fmt(s['max_bars'], '.1f')} bars) | {_fmt(100 * s['mean_ngram_share'], '.1f')}% |"
                )
        if self.corpus_failures:
            lines += ["", f"{len(self.corpus_failures)} files of the split could not be read, e.g. {self.corpus_failures[0]}"]
        return "\n".join(lines) + "\n"


def _fmt(value: float, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _percent(share: float) -> str:
    return "–" if share is None or math.isnan(share) else f"{100 * share:.0f}%"


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _corpus_pieces(corpus_dir: str | Path, style: str) -> dict[str, list[Any]]:
    """The pieces of each split, of ``style`` where the corpus says which pieces have it."""
    from composer.corpus import discover

    pieces = discover(corpus_dir)
    if any(p.style == style for p in pieces):
        pieces = [p for p in pieces if p.style == style]
    return {split: [p for p in pieces if p.split == split] for split in SPLITS}


def _read_all(pieces: Sequence[Any]) -> tuple[list[tuple[str, "Score"]], list[str]]:
    from composer.formats import read

    scores, failures = [], []
    for piece in pieces:
        try:
            scores.append((piece.name, read(piece.path)))
        except ComposerError as exc:
            failures.append(str(exc))
    return scores, failures


def _originality_index(corpus_dir: str | Path, train_pieces: Sequence[Any]) -> tuple[Any, str]:
    """The index of the training split, and a description of it for reports."""
    from composer.corpus import MANIFEST, is_corpus
    from composer.originality import CorpusIndex

    folder = Path(corpus_dir)
    if (folder / MANIFEST).is_file() or is_corpus(folder):
        index = CorpusIndex.for_corpus(folder, splits=(ORIGINALITY_SPLIT,))
    else:  # a plain folder: the split rule picks the training files (the cached index would take them all)
        scores, failures = _read_all(train_pieces)
        index = CorpusIndex.from_scores(scores, corpus=str(folder), failures=failures)
    return index, f"the {ORIGINALITY_SPLIT} split of `{folder}` ({len(index.files)} files)"


def _copied(index: Any, scores: Sequence["Score"]) -> CopiedPassages:
    reports = [index.check(score) for score in scores]
    return CopiedPassages(
        tuple(r.longest_notes for r in reports),
        tuple(float(r.longest_bars) for r in reports),
        tuple(float(r.ngram_share) for r in reports),
        tuple(r.source for r in reports),
    )


def _pooled_voice_leading(scores: Sequence["Score"]) -> VoiceLeading | None:
    four_part = [s for s in scores if s.num_parts == len(SATB_VOICES)]
    if not four_part:
        return None
    total = VoiceLeading(0, 0, 0, 0, 0)
    for score in four_part:
        total = total + voice_leading(score)
    return total


def _histograms(scores: Sequence["Score"]) -> np.ndarray:
    rows = [note_length_histogram(s) for s in scores if len(s.notes)]
    return np.array(rows).reshape(-1, len(NOTE_LENGTH_BIN_NAMES))


def _lengths_overlap(candidates: np.ndarray, corpus: np.ndarray) -> float:
    """Yang and Lerch: how far candidate pieces lie from real ones, against how far real ones lie from each other."""
    if len(candidates) == 0 or len(corpus) < 2:
        return math.nan
    return overlap_area(pairwise_distances(corpus), pairwise_distances(candidates, corpus))


def mean_structure(scores: Sequence["Score"], bars: int) -> dict[str, float]:
    """Each form figure of ``structure_metrics`` (first ``bars`` bars) averaged over ``scores``, NaNs left out; {} without scores."""
    if not scores:
        return {}
    rows = [structure_metrics(s, bars).to_dict() for s in scores]
    return {name: _mean([r[name] for r in rows]) for name in STRUCTURE_LABELS}


def compare(model_scores: Sequence["Score"], corpus_scores: Sequence["Score"], reference_scores: Sequence["Score"] = (), bars: int = default_of(GenerationSettings, "bars")) -> dict[str, Any]:
    """Per-metric summaries, the mean note length histograms and their overlaps, and the mean form figures, for generated and real scores.

    ``reference_scores`` (other real pieces) give each overlap's yardstick: their overlap with the corpus pieces.
    Keys: metrics, lengths_model, lengths_corpus, lengths_overlap, lengths_reference_overlap,
    structure_model, structure_corpus, structure_reference (form figures over the first ``bars`` bars).
    """
    model_values = [compute_metrics(s) for s in model_scores]
    corpus_values = [compute_metrics(s) for s in corpus_scores]
    reference_values = [compute_metrics(s) for s in reference_scores]
    summaries = []
    for name in METRICS:
        a = tuple(float(v[name]) for v in model_values)
        b = tuple(float(v[name]) for v in corpus_values)
        reference = overlap_area([v[name] for v in reference_values], b) if reference_values else math.nan
        summaries.append(MetricSummary(name, describe(name), _mean(a), _mean(b), overlap_area(a, b), a, b, reference))
    model_hist, corpus_hist, reference_hist = _histograms(model_scores), _histograms(corpus_scores), _histograms(reference_scores)

    def mean_hist(h: np.ndarray) -> tuple[float, ...]:
        return tuple(float(x) for x in (h.mean(axis=0) if len(h) else np.full(len(NOTE_LENGTH_BIN_NAMES), math.nan)))

    return {
        "metrics": tuple(summaries),
        "lengths_model": mean_hist(model_hist),
        "lengths_corpus": mean_hist(corpus_hist),
        "lengths_overlap": _lengths_overlap(model_hist, corpus_hist),
        "lengths_reference_overlap": _lengths_overlap(reference_hist, corpus_hist),
        "structure_model": mean_structure(model_scores, bars),
        "structure_corpus": mean_structure(corpus_scores, bars),
        "structure_reference": mean_structure(reference_scores, bars),
    }


def generate_samples(model: "Model", settings: GenerationSettings, *, samples: int, progress: Progress | None = None) -> list["Score"]:
    """``samples`` pieces from scratch, piece ``i`` with ``settings`` but random seed ``settings.random_seed + i`` (each reproducible on its own)."""
    pieces = []
    for i in range(samples):
        pieces.append(generate(model, None, dataclasses.replace(settings, random_seed=settings.random_seed + i)))
        if progress:
            progress(i + 1, samples)
    return pieces


def evaluate_samples(
    model: "str | Path | Model",
    corpus_dir: str | Path,
    *,
    samples: int,
    split: str = "test",
    bars: int = default_of(GenerationSettings, "bars"),
    random_seed: int = default_of(GenerationSettings, "random_seed"),
    style: str | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    allow_parallels: bool = False,
    originality: bool = True,
    progress: Progress | None = None,
) -> SampleEvaluation:
    """Generate ``samples`` pieces and compare them with the ``split`` pieces of ``corpus_dir`` (see the module docstring).

    The generation settings are ``GenerationSettings``' and checked there (``GenerationError`` or
    ``SamplingError``). ``progress(done, total)`` is called after each generated piece.
    ``originality=False`` leaves out the copied-passage search.
    """
    from composer.modelfile import Model, load_model

    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise EvaluationError(f"samples must be a whole number >= 1, got {samples!r}")
    if split not in SPLITS:
        raise EvaluationError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if not isinstance(model, Model):
        model = load_model(model)
    chosen_style = style if style is not None else default_style(model)
    settings = GenerationSettings(bars=bars, style=chosen_style, temperature=temperature, top_k=top_k, top_p=top_p, allow_parallels=allow_parallels, random_seed=random_seed)  # bad settings fail before any work
    by_split = _corpus_pieces(corpus_dir, chosen_style)
    split_pieces, train_pieces = by_split[split], by_split[ORIGINALITY_SPLIT]
    if not split_pieces:
        raise EvaluationError(f"{corpus_dir}: the {split} split has no pieces")
    read_pieces, failures = _read_all(split_pieces)
    corpus_scores = [opening(score, bars) for _, score in read_pieces]
    if not corpus_scores:
        raise EvaluationError(f"{corpus_dir}: none of the {len(split_pieces)} files of the {split} split could be read; first problem: {failures[0]}")
    reference_split = REFERENCE_SPLITS[split]
    reference_scores = [opening(score, bars) for _, score in _read_all(by_split[reference_split])[0]]

    pieces = generate_samples(model, settings, samples=samples, progress=progress)
    compared = compare(pieces, corpus_scores, reference_scores, bars)
    vl_model, vl_corpus = _pooled_voice_leading(pieces), _pooled_voice_leading(corpus_scores)
    if vl_model is None or vl_corpus is None:
        vl_model = vl_corpus = None
    copied_model = copied_corpus = None
    index_description = ""
    if originality and train_pieces:
        index, index_description = _originality_index(corpus_dir, train_pieces)
        copied_model, copied_corpus = _copied(index, pieces), _copied(index, corpus_scores)
    settings_text = ", ".join(part for part in settings.for_model(model).describe().split(", ") if not part.startswith(("random_seed=", "bars=", "mode=")))
    return SampleEvaluation(
        model=model.name,
        corpus=str(corpus_dir),
        split=split,
        style=chosen_style,
        samples=samples,
        bars=bars,
        random_seed=random_seed,
        reference_split=reference_split if reference_scores else None,
        reference_pieces=len(reference_scores),
        settings=settings_text,
        corpus_pieces=len(corpus_scores),
        corpus_failures=tuple(failures),
        metrics=compared["metrics"],
        note_lengths_model=compared["lengths_model"],
        note_lengths_corpus=compared["lengths_corpus"],
        note_lengths_overlap=compared["lengths_overlap"],
        note_lengths_reference_overlap=compared["lengths_reference_overlap"],
        voice_leading_model=vl_model,
        voice_leading_corpus=vl_corpus,
        copied_model=copied_model,
        copied_corpus=copied_corpus,
        originality_index=index_description,
        structure_model=compared["structure_model"],
        structure_corpus=compared["structure_corpus"],
        structure_reference=compared["structure_reference"],
    )


# -- bits per note -------------------------------------------------------------
def score_split(network: "LanguageModel", split: "TokenSplit", pad_id: int, device: "torch.device | str" = "cpu",
                tokenizer: "Tokenizer | None" = None) -> dict[str, float]:
    """Bits per note, tokens per note and next-token accuracy over whole pieces.

    Bits per note is the total negative log2-likelihood of the pieces (every
    token after BOS) divided by their number of notes, so it compares across
    tokenizations. Pieces longer than a transformer's context are scored in
    overlapping windows, each token with at least half a context before it.
    Nothing of the future is given (``composer.tokens.ahead``); a model that
    takes the echoes of the music before gets them, computed from the tokens as
    generation computes them (``tokenizer`` is needed for that).
    """
    from composer.nn import require_torch

    torch = require_torch("bits per note")
    import torch.nn.functional as F

    context = getattr(network.config, "context_len", None)
    bits = 0.0
    predicted = correct = 0
    was_training = network.training
    network.eval()
    with torch.inference_mode():
        for i in range(len(split)):
            ids = torch.as_tensor(np.asarray(split.piece(i), np.int64), device=device)
            n = len(ids) - 1
            if n <= 0:
                continue
            ahead = _echo_features(network, split.piece(i), tokenizer, torch, device)
            windows = [(0, n, 0)] if context is None or n <= context else _windows(n, context)
            for begin, end, keep_from in windows:
                given = None if ahead is None else ahead[begin:end].unsqueeze(0)
                logits = network(ids[begin:end].unsqueeze(0), given)[0, keep_from:]
                target = ids[begin + 1 + keep_from : end + 1]
                nll = F.cross_entropy(logits.float(), target, reduction="sum")
                bits += nll.item() / math.log(2)
                correct += int((logits.argmax(-1) == target).sum())
                predicted += len(target)
    network.train(was_training)
    notes = max(split.num_notes, 1)
    return {
        "bits_per_note": bits / notes,
        "tokens_per_note": predicted / notes,
        "token_accuracy": correct / max(predicted, 1),
        "pieces": float(len(split)),
        "notes": float(split.num_notes),
    }


def _echo_features(network: "LanguageModel", ids: np.ndarray, tokenizer: "Tokenizer | None", torch: Any, device: Any) -> Any:
    """A piece's features ahead as scoring gives them: the echoes (past music) where the model takes them, nothing else."""
    from composer.tokens.ahead import ECHO_COLUMNS, echo, walk

    columns = len(getattr(network.config, "ahead_sizes", ()))
    if columns <= ECHO_COLUMNS[0]:
        return None
    if tokenizer is None:
        raise ValueError("score_split: this model takes the echoes of earlier bars; pass the tokenizer to compute them")
    walked = walk(np.asarray(ids), tokenizer.grammar)
    given = np.zeros((len(ids), columns), np.int64)
    echoes = [c for c in ECHO_COLUMNS if c < columns]
    given[:, echoes] = echo(walked.bars, walked.positions, walked.starts)[:, : len(echoes)]
    return torch.as_tensor(given, device=device)


def _windows(n: int, context: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored offset) windows covering positions 0..n-1 once each."""
    stride = max(context // 2, 1)
    out = [(0, context, 0)]
    scored = context
    while scored < n:
        end = min(scored + stride, n)
        begin = end - context
        out.append((begin, end, scored - begin))
        scored = end
    return out


def evaluate(model: "Model | str | Path", corpus: str | Path, split: str = "test", *, device: str = "cpu") -> dict[str, float]:
    """Bits per note, tokens per note and token accuracy of a model on one split of a folder."""
    from composer.dataset import load_tokens
    from composer.modelfile import Model, load_model
    from composer.nn import require_torch

    torch = require_torch("bits per note (composer evaluate without --samples)")

    if split not in SPLITS:
        raise EvaluationError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if not isinstance(model, Model):
        model = load_model(model)
    data = load_tokens(corpus, model.tokenizer, style=(model.training.get("train_config") or {}).get("style"))
    part = data.splits[split]
    if len(part) == 0:
        raise EvaluationError(f"{corpus}: the {split} split has no pieces")
    return score_split(model.network.to(torch.device(device)), part, model.tokenizer.pad_id, device, model.tokenizer)
