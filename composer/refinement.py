"""Refinement: a model fine-tuned on pieces it wrote itself, kept by a person or by the project's checks.

``composer refine MODEL KEPT_FOLDER -o refined.safetensors`` (``refine``): the pieces a
user kept from earlier runs become the fine-tuning data of the model that made them,
with the fine-tuning preset and the replay guard (``composer.finetune``), so the model
moves toward what the user chose. Every kept file must say, in the metadata composer
writes into what it generates (MIDI text events, MusicXML miscellaneous fields), that
composer generated it with this very model: the model file's sha256 (``model_sha256``),
or for pieces written before that was recorded, the model's name. A folder with a
piece from another model or with no composer provenance is refused in one line,
nothing written, unless ``any_source`` (``--any-source``) says to learn from it anyway.

``composer refine MODEL --select -o OUT`` (``select``): the same loop without a person.
Each round generates ``SelectConfig.samples`` pieces of ``bars`` bars with the generation
defaults (under the voice-leading masks, ``masked``; ``masked=False`` writes them with
parallels allowed, for the checks to choose among), keeps those that pass the checks below,
writes them to ``OUT.rounds/roundN/``, fine-tunes the previous round's model on them
(``OUT.rounds/roundN.safetensors``) and reports what the round changed. The last
round's model is copied to ``OUT``. The checks (``piece_problems``):

* **voice leading** (four-part pieces): parallel fifths and octaves
  (``composer.metrics.voice_leading``) at most ``max_parallels_per_100_notes``;
* **originality**: the longest passage also found in the training corpus
  (``composer.originality``) at most ``max_copied_notes`` notes;
* **structure**: the top part ends on the tonic (``composer.metrics.ends_on_tonic``).

Besides learning the kept pieces, ``select``'s fine-tuning is taught the voice-leading rule
itself (``SELECT_TRAIN_SETTINGS``: ``TrainConfig.avoid_parallels``): wherever a lower part may
write a pitch while a part above moves, the probability the model puts on pitches that would
make parallel fifths or octaves is a loss, on the kept pieces and the replayed corpus alike;
and every round is held to the predictions of the model the rounds began from
(``SELECT_GUARD``: ``FineTuneConfig.anchor``), so that what the loss does not teach does
not drift round after round. ``benchmarks/refine.py`` measured the choice (README, "Refine").

The refined model's fine-tuning record (``composer.finetune.provenance``) gains
``refinement``: how the pieces were kept, how many, and the sha256 fingerprint of the
kept files (name and content).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.cache import file_sha256
from composer.errors import ComposerError
from composer.finetune import PROVENANCE_KEY, FineTuneConfig, provenance, replay_folder
from composer.settings import check_ranges, setting

if TYPE_CHECKING:
    from composer.modelfile import Model
    from composer.originality import CorpusIndex
    from composer.score import Score
    from composer.training import Reporter, TrainResult

REFINEMENT_KEY = "refinement"  # in a refined model's fine-tuning record
MIN_KEPT = 3  # a round that keeps fewer pieces trains nothing: two go to training, one is held out to stop early
CORPUS_SPLIT = "valid"  # the base corpus split whose bits per note a --select run reports
# What --select's fine-tuning adds to the preset: the loss on the probability put on parallel fifths and octaves
# (TrainConfig.avoid_parallels). The kept pieces alone teach the rule slowly (benchmarks/refine.py: -15% at best);
# the loss reads the rule at every place a lower part moves, on the kept pieces and the replayed corpus.
SELECT_TRAIN_SETTINGS: dict[str, Any] = {"avoid_parallels": 10.0, "learning_rate": 1e-4}
# ... and to the guard against forgetting (FineTuneConfig): a model fine-tuned on its own pieces drifts from the
# corpus's music every round; the anchor holds every round's predictions to the model the rounds began from, wherever
# the loss does not move them.
SELECT_GUARD: dict[str, Any] = {"anchor": 1.0}


def select_guard(**given: Any) -> FineTuneConfig:
    """``select``'s guard against forgetting: ``FineTuneConfig``'s defaults, then ``SELECT_GUARD``, then ``given``."""
    return FineTuneConfig(**(SELECT_GUARD | given))


class RefineError(ComposerError):
    """Refinement cannot start: the kept pieces, the model or the output are at fault."""


@dataclass
class SelectConfig:
    """What ``composer refine --select`` generates and keeps; each field's default and range live here once."""

    rounds: int = setting(2, min=1, max=20, integer=True)
    samples: int = setting(128, min=1, max=1000, integer=True)  # pieces generated a round (128 of 8 bars: about 40 s for the chorale model here)
    bars: int = setting(8, min=1, max=64, integer=True)  # bars of each generated piece
    max_parallels_per_100_notes: float = setting(3.0, min=0)  # parallel fifths and octaves a kept four-part piece may have
    max_copied_notes: int = setting(12, min=0, integer=True)  # longest passage also in the training corpus a kept piece may have
    tonic_ending: bool = True  # a kept piece's top part ends on the tonic
    # Sampling of the candidates: 1.0 samples the model's own distribution, so fine-tuning on what is kept moves the model
    # only where the checks choose; None takes the model's recommendation (chorale: top-p 0.9), which sharpens it every round.
    top_p: float | None = setting(1.0, min=0, max=1, min_open=True)
    random_seed: int = setting(0, min=0, integer=True)  # round r generates with random_seed + r - 1
    # The candidates written under the voice-leading masks (no parallel fifths or octaves, voices in order): the model
    # then learns the masks' rule from its own masked pieces, rather than from the few unmasked ones that pass by chance
    # (measured: with the loss and the anchor, unmasked candidates moved the parallels -39%, masked ones -51%).
    masked: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, RefineError)


# -- provenance of kept pieces --------------------------------------------------------
@dataclass(frozen=True)
class KeptFile:
    name: str  # relative to the kept folder
    sha256: str  # of the file's bytes
    made_by: str  # "sha256" (the model file's sha256 matched), "name" (older files: the model's name matched) or "any source"


def kept_fingerprint(files: list[KeptFile]) -> str:
    """sha256 of the kept files' names and contents, in name order: the same pieces give the same fingerprint."""
    lines = "".join(f"{f.name}\t{f.sha256}\n" for f in sorted(files, key=lambda f: f.name))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _source_problem(metadata: dict[str, str], model: Model) -> str | None:
    """Why a piece with this metadata was not made by ``model`` (None when it was)."""
    if metadata.get("generator") != "composer":
        return "no composer provenance (its metadata does not say composer generated it)"
    made_sha = metadata.get("model_sha256")
    if made_sha is not None and made_sha != model.sha256:
        return f"made by model {metadata.get('model', '?')!r} (sha256 {made_sha[:12]}), not by {model.name} (sha256 {str(model.sha256)[:12]})"
    if made_sha is None and metadata.get("model") != model.name:
        return f"made by model {metadata.get('model', '?')!r}, not by {model.name}"
    return None


def check_kept(model: Model, folder: str | Path, *, any_source: bool = False) -> list[KeptFile]:
    """The kept files of ``folder``, each checked to have been generated by ``model`` (unless ``any_source``).

    Raises the corpus's one-line error for a missing or empty folder, a ``ComposerError``
    for an unreadable file, and ``RefineError`` for a piece from elsewhere.
    """
    from composer.corpus import discover
    from composer.formats import read

    if model.sha256 is None:
        raise RefineError("refine needs a model loaded from a file (its sha256 identifies the pieces it made)")
    folder = Path(folder)
    kept = []
    for piece in discover(folder):
        metadata = {} if any_source else read(piece.path).metadata
        problem = None if any_source else _source_problem(metadata, model)
        if problem is not None:
            raise RefineError(f"{piece.path}: {problem}; refine learns from pieces {model.name} made itself (--any-source to use them anyway)")
        how = "any source" if any_source else ("sha256" if metadata.get("model_sha256") else "name")
        kept.append(KeptFile(piece.name, file_sha256(piece.path), how))
    return kept


def _refinement_record(mode: str, folder: Path, files: list[KeptFile], **extra: Any) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for f in files:
        counts[f.made_by] = counts.get(f.made_by, 0) + 1
    return {"mode": mode, "kept": {"folder": folder.name, "files": len(files), "fingerprint": kept_fingerprint(files), "identified_by": counts}, **extra}


# -- one fine-tuning run on kept pieces --------------------------------------------------
def _check_output(output: Path, force: bool) -> None:
    from composer.io.atomic import check_writable

    check_writable(output, force=force)


def _fine_tune(model: Model, folder: Path, output: Path, record: dict[str, Any], *, style: str | None, train_settings: dict[str, Any],
               finetune: FineTuneConfig, device: str, reporter: Reporter | None) -> TrainResult:
    """Fine-tune ``model`` on ``folder`` into a temporary file beside ``output``, add ``record``, then rename it to ``output``."""
    from composer.generate import default_style
    from composer.modelfile import update_training_metadata
    from composer.training import checkpoint_path, finetune_config, train

    style = style or default_style(model)
    config = finetune_config(model, **({"style": style} | train_settings))
    work = output.parent / f".{output.stem}.refining{output.suffix}"
    for stale in (work, checkpoint_path(work)):
        stale.unlink(missing_ok=True)
    try:
        result = train(folder, work, config=config, init=model, finetune=finetune, force=True, device=device, reporter=reporter)
        tuned = provenance(_read_training(work)) or {}
        update_training_metadata(work, {PROVENANCE_KEY: tuned | {REFINEMENT_KEY: record}})
        os.replace(work, output)
    finally:
        for leftover in (work, checkpoint_path(work)):
            leftover.unlink(missing_ok=True)
    return dataclasses.replace(result, model_path=output, checkpoint_path=checkpoint_path(output))


def _read_training(path: Path) -> dict[str, Any]:
    import json

    from composer.modelfile import read_header

    return json.loads(read_header(path).get("training", "{}"))


def _as_model(model: Model | str | Path) -> Model:
    from composer.modelfile import Model, load_model

    return model if isinstance(model, Model) else load_model(model)


@dataclass
class RefineResult:
    model_path: Path
    kept: int  # pieces learnt from
    fingerprint: str  # of the kept files (``kept_fingerprint``)
    train: TrainResult


def refine(model: Model | str | Path, kept: str | Path, output: str | Path, *, style: str | None = None, any_source: bool = False,
           train_settings: dict[str, Any] | None = None, finetune: FineTuneConfig | None = None, force: bool = False,
           device: str = "auto", reporter: Reporter | None = None) -> RefineResult:
    """Fine-tune ``model`` on the pieces of ``kept`` that it generated itself and write the result to ``output``.

    ``style``: the style the pieces are learnt as (default: the one the model writes
    unasked). ``train_settings`` go on top of the fine-tuning preset
    (``composer.training.finetune_config``); ``finetune`` holds the replay guard's
    settings (default: on). Refused in one line, nothing written: a piece from
    another model or without composer provenance (unless ``any_source``), an
    output that exists (unless ``force``).
    """
    model = _as_model(model)
    output, folder = Path(output), Path(kept)
    _check_output(output, force)
    files = check_kept(model, folder, any_source=any_source)
    record = _refinement_record("kept", folder, files, any_source=any_source)
    result = _fine_tune(model, folder, output, record, style=style, train_settings=train_settings or {}, finetune=finetune or FineTuneConfig(),
                        device=device, reporter=reporter)
    return RefineResult(output, len(files), record["kept"]["fingerprint"], result)


# -- the checks of --select -------------------------------------------------------------
def parallels_per_100_notes(scores: list[Score]) -> float:
    """Parallel fifths and octaves per 100 notes, pooled over the four-part pieces of ``scores`` (NaN without any)."""
    from composer.metrics import SATB_VOICES, voice_leading

    fifths = octaves = notes = 0
    for score in scores:
        if score.num_parts == len(SATB_VOICES):
            counts = voice_leading(score)
            fifths, octaves, notes = fifths + counts.parallel_fifths, octaves + counts.parallel_octaves, notes + counts.notes
    return 100.0 * (fifths + octaves) / notes if notes else float("nan")


def piece_problems(score: Score, checks: SelectConfig, index: CorpusIndex | None) -> list[str]:
    """The checks a generated piece fails ([] when it is kept): "parallels", "copied", "ending"."""
    from composer.metrics import ends_on_tonic

    problems = []
    if parallels_per_100_notes([score]) > checks.max_parallels_per_100_notes:  # NaN (not four parts) passes
        problems.append("parallels")
    if index is not None and index.check(score).longest_notes > checks.max_copied_notes:
        problems.append("copied")
    if checks.tonic_ending and ends_on_tonic(score, checks.bars) != 1.0:
        problems.append("ending")
    return problems


@dataclass
class RoundReport:
    """What one round of ``select`` did and changed."""

    round: int
    generated: int
    kept: int
    failed: dict[str, int]  # pieces failing each check (a piece may fail several)
    parallels_before: float  # per 100 notes, pooled over the round's pieces written unmasked (the model it started from)
    parallels_after: float | None  # the same over the next batch (the model it made); None until measured
    corpus_bits_before: float | None  # bits per note on the base corpus's valid split; None where the corpus is not found
    corpus_bits_after: float | None
    folder: Path  # the kept pieces
    model_path: Path | None  # the round's model; None when too few pieces were kept to train on

    def line(self) -> str:
        def fmt(value: float | None, spec: str = ".2f") -> str:
            return "-" if value is None else format(value, spec)

        failed = ", ".join(f"{k} {v}" for k, v in self.failed.items() if v) or "none"
        trained = "" if self.model_path is not None else f" (fewer than {MIN_KEPT} kept: not trained)"
        return (f"round {self.round}: kept {self.kept} of {self.generated} (failed: {failed}){trained}; "
                f"parallels per 100 notes {fmt(self.parallels_before)} -> {fmt(self.parallels_after)}; "
                f"corpus {CORPUS_SPLIT} bits per note {fmt(self.corpus_bits_before, '.3f')} -> {fmt(self.corpus_bits_after, '.3f')}")


@dataclass
class SelectResult:
    model_path: Path
    rounds: list[RoundReport] = field(default_factory=list)


def rounds_folder(output: str | Path) -> Path:
    """Where ``select`` keeps each round's pieces and model: ``OUT.rounds`` beside ``OUT``."""
    output = Path(output)
    return output.parent / f"{output.stem}.rounds"


def corpus_bits_per_note(model: Model, corpus: Path | None) -> float | None:
    """Bits per note of ``model`` on the valid split of ``corpus`` (its manifest's styles); None without a corpus."""
    if corpus is None:
        return None
    from composer.dataset import load_tokens
    from composer.evaluation import score_split

    part = load_tokens(corpus, model.tokenizer).splits[CORPUS_SPLIT]
    return float(score_split(model.network, part, model.tokenizer.pad_id, tokenizer=model.tokenizer)["bits_per_note"]) if len(part) else None


def _generate(model: Model, checks: SelectConfig, round_number: int, style: str | None) -> list[Score]:
    from composer.generate import GenerationSettings, generate_batch

    settings = GenerationSettings(bars=checks.bars, style=style, top_p=checks.top_p, allow_parallels=not checks.masked,
                                  random_seed=checks.random_seed + round_number - 1)
    return generate_batch(model, None, settings, num_samples=checks.samples)


def _keep(scores: list[Score], checks: SelectConfig, index: CorpusIndex | None, folder: Path) -> tuple[int, dict[str, int]]:
    """Write the pieces that pass the checks to ``folder``; (how many, failures by check)."""
    from composer.formats import write

    folder.mkdir(parents=True)
    failed = {"parallels": 0, "copied": 0, "ending": 0}
    kept = 0
    for i, score in enumerate(scores, 1):
        problems = piece_problems(score, checks, index)
        for problem in problems:
            failed[problem] += 1
        if not problems:
            write(score, folder / f"piece{i:03d}.mid")
            kept += 1
    return kept, failed


def select(model: Model | str | Path, output: str | Path, checks: SelectConfig | None = None, *, style: str | None = None,
           train_settings: dict[str, Any] | None = None, finetune: FineTuneConfig | None = None, force: bool = False,
           device: str = "auto", reporter: Reporter | None = None) -> SelectResult:
    """Rounds of generate, keep what passes the checks, fine-tune on it (see the module's doc); the last model goes to ``output``.

    Each round's pieces and model stay in ``rounds_folder(output)``. Round r's
    ``parallels_after`` is measured on round r+1's pieces; after the last round one
    more batch is generated, only to measure it. Progress and each round's line go to
    ``reporter`` (default: a progress bar, as training shows).
    """
    from composer.originality import index_for, shipped_index, shipped_index_path
    from composer.training import BarReporter

    checks = checks or SelectConfig()
    finetune = finetune or select_guard()
    reporter = BarReporter() if reporter is None else reporter
    model, output = _as_model(model), Path(output)
    if finetune.anchor > 0 and finetune.anchor_model is None:  # every round held to the model the rounds began from, not drifting with them
        finetune = dataclasses.replace(finetune, anchor_model=str(model.path))
    _check_output(output, force)
    folder = rounds_folder(output)
    if folder.exists():
        if not force:
            raise RefineError(f"{folder}: exists (the rounds of an earlier run; use --force to replace it)")
        shutil.rmtree(folder)
    folder.mkdir()
    corpus = replay_folder(model, FineTuneConfig(replay_corpus=finetune.replay_corpus))  # the base's corpus, where found
    index = shipped_index() if shipped_index_path() is not None else index_for(None)
    result = SelectResult(output)
    bits = corpus_bits_per_note(model, corpus)
    for number in range(1, checks.rounds + 2):
        how = "under the voice-leading masks" if checks.masked else "parallels allowed"
        reporter.message(f"round {number}: generating {checks.samples} pieces of {checks.bars} bars with {model.name} ({how})"
                         if number <= checks.rounds else f"after round {checks.rounds}: generating {checks.samples} pieces to measure the last model")
        scores = _generate(model, checks, number, style) if number <= checks.rounds else []
        # the parallels the model writes unmasked: its candidates, else as many pieces written without the masks
        unmasked = scores if scores and not checks.masked else _generate(model, dataclasses.replace(checks, masked=False), number, style)
        parallels = parallels_per_100_notes(unmasked)
        if result.rounds:
            result.rounds[-1].parallels_after = parallels
            reporter.message(result.rounds[-1].line())
        if number > checks.rounds:
            break
        report = _select_round(model, scores, checks, index, folder, number, parallels, bits, style=style, train_settings=SELECT_TRAIN_SETTINGS | (train_settings or {}),
                               finetune=finetune, device=device, reporter=reporter)
        if report.model_path is not None:
            model = _as_model(report.model_path)
            bits = report.corpus_bits_after = corpus_bits_per_note(model, corpus)
        else:
            report.corpus_bits_after = bits
        result.rounds.append(report)
    last = next((r.model_path for r in reversed(result.rounds) if r.model_path is not None), None)
    if last is None:
        raise RefineError(f"no round kept {MIN_KEPT} pieces to train on (see {folder}); loosen the checks or generate more --samples")
    _copy(last, output, force)
    return result


def _select_round(model: Model, scores: list[Score], checks: SelectConfig, index: CorpusIndex | None, folder: Path, number: int,
                  parallels: float, bits: float | None, **tune: Any) -> RoundReport:
    kept_folder = folder / f"round{number}"
    kept, failed = _keep(scores, checks, index, kept_folder)
    report = RoundReport(number, len(scores), kept, failed, parallels, None, bits, None, kept_folder, None)
    if kept >= MIN_KEPT:
        files = check_kept(model, kept_folder)
        record = _refinement_record("select", kept_folder, files, round=number, rounds=checks.rounds, generated=len(scores),
                                    checks=dataclasses.asdict(checks))
        path = folder / f"round{number}.safetensors"
        _fine_tune(model, kept_folder, path, record, **tune)
        report.model_path = path
    return report


def _copy(source: Path, output: Path, force: bool) -> None:
    from composer.io.atomic import atomic_path

    with atomic_path(output, force=force) as tmp:
        shutil.copyfile(source, tmp)


__all__ = [
    "KeptFile",
    "RefineError",
    "RefineResult",
    "RoundReport",
    "SelectConfig",
    "SelectResult",
    "check_kept",
    "corpus_bits_per_note",
    "kept_fingerprint",
    "parallels_per_100_notes",
    "piece_problems",
    "refine",
    "rounds_folder",
    "select",
    "select_guard",
]
