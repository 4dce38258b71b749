"""The ``composer`` command line: parse options, call the library, turn its errors into one-line messages.

Heavy modules are imported inside the commands that need them, so ``composer --help``
stays quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from composer import __version__
from composer.errors import ComposerError

DEBUG_ENV = "COMPOSER_DEBUG"  # set to 1 to see tracebacks of unexpected errors


class ComposerGroup(click.Group):
    """A group whose commands report library errors as one line (exit 1), never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ComposerError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:  # a bug: still one line, with a way to see more
            if os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)") from None


def _progress(items: Iterable[Any], length: int, label: str) -> Any:
    return click.progressbar(items, length=length, label=label, file=sys.stderr, show_pos=True)


class _LazyBars:
    """Progress bars on stderr that open with the first report (so an input that fails at once
    prints no bar), one per key; each closes when it reaches its total, all on leaving the block."""

    def __init__(self, label: Callable[[str], str]) -> None:
        self.label = label
        self.bars: dict[str, Any] = {}

    def __enter__(self) -> "_LazyBars":
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            if not bar.finished:
                bar.__exit__(None, None, None)

    def update(self, key: str, done: int, total: int) -> None:
        bar = self.bars.get(key)
        if bar is None:
            bar = self.bars[key] = click.progressbar(length=total, label=self.label(key), file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total and not bar.finished:
            bar.__exit__(None, None, None)

    def __call__(self, done: int, total: int) -> None:
        """The ``composer.progress.Progress`` callback of a single bar."""
        self.update("", done, total)


@click.group(cls=ComposerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="composer")
def cli() -> None:
    """composer: symbolic music composition from MIDI, MusicXML and ABC."""


def _input_suffixes() -> str:
    from composer.formats import READERS

    return ", ".join(sorted(READERS))


def _output_suffixes() -> str:
    from composer.formats import WRITERS

    return ", ".join(sorted(WRITERS))


def _style_option(func: Callable) -> Callable:
    from composer.tokens import DEFAULT_STYLES

    return click.option(
        "--style",
        type=click.Choice(DEFAULT_STYLES),
        default=DEFAULT_STYLES[0],
        show_default=True,
        help="Style token written at the start of the tokens.",
    )(func)


def _setting_option(settings: type, name: str, *decls: str, **kwargs: Any) -> Callable[[Callable], Callable]:
    """A click option for field ``name`` of a settings dataclass: its type, range and default come from the field.

    A value outside the field's range is a usage error (exit 2); the dataclass checks it again when
    the library is called directly. ``kwargs`` add help text or override the default.
    """
    from composer.settings import default_of, range_of

    limits = range_of(settings, name)
    if limits is not None:
        range_type = click.IntRange if limits.integer else click.FloatRange
        kwargs.setdefault("type", range_type(limits.min, limits.max, min_open=limits.min_open, max_open=limits.max_open))
    kwargs.setdefault("default", default_of(settings, name))
    kwargs.setdefault("show_default", kwargs["default"] is not None)
    return click.option(*(decls or (f"--{name.replace('_', '-')}",)), name, **kwargs)


def _sampling_options(prefix: str = "") -> Callable[[Callable], Callable]:
    """One option per filter of composer.sampling.FILTERS (--temperature, --top-k, --top-p), checked by its CHECKS entry (exit 2)."""
    from composer.sampling import CHECKS, FILTERS, VALUE_TYPES

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            return None if value is None else CHECKS[param.name](value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    def decorate(func: Callable) -> Callable:
        for name in reversed(list(FILTERS)):
            doc = (FILTERS[name].__doc__ or "").strip().splitlines()[0]
            doc = doc[:1].lower() + doc[1:] if prefix else doc
            help_text = f"{prefix}{doc} Unset: the model's recommended sampling (see `composer models`), else off."
            func = click.option(f"--{name.replace('_', '-')}", name, type=VALUE_TYPES[name], default=None, callback=check, help=help_text)(func)
        return func

    return decorate


def _piano_roll_option(func: Callable) -> Callable:
    from composer.render.pianoroll import PIANO_ROLL_SUFFIXES

    return click.option("--piano-roll", is_flag=True, help=f"For {', '.join(PIANO_ROLL_SUFFIXES)} outputs: draw a piano roll instead of engraved sheet music.")(func)


def _write_score(score: Any, path: Path, *, force: bool, piano_roll: bool = False) -> None:
    """Write one output and say what was written, with the writer's note (a piano roll, which synthesizer)."""
    from composer.formats import write

    written = write(score, path, force=force, piano_roll=piano_roll)
    click.echo(f"wrote {written.path}" + (f" ({written.note})" if written.note else ""))


# -- tokens ----------------------------------------------------------------
def _tokenize_folder(src: Path, out: Path, style: str, force: bool, jobs: int | None) -> None:
    """Every score under ``src`` into ``out/tokens.npz`` with ``out/tokenizer.json``."""
    from composer.dataset import tokenize_folder
    from composer.tokens import Tokenizer
    from composer.tokens.archive import ARCHIVE_NAME, VOCABULARY_NAME

    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"IN is a folder, so OUT must be a folder; {str(out)!r} is a file", param_hint="'-o'")
    for name in (ARCHIVE_NAME, VOCABULARY_NAME):  # before any work
        if (out / name).exists() and not force:
            raise click.ClickException(f"{out / name}: file exists (use --force to replace it)")
    with _LazyBars(lambda _: "tokenizing") as progress:
        archive, failed = tokenize_folder(src, Tokenizer(), style, jobs=jobs, progress=progress)
    total = len(archive) + len(failed)
    if total == 0:
        raise click.ClickException(f"{src}: no files with suffix {_input_suffixes()} in this folder")
    if len(archive):
        out.mkdir(parents=True, exist_ok=True)
        written, vocabulary = archive.write(out, force=force)
        click.echo(f"tokenized {len(archive)} of {total} files into {written} (vocabulary: {vocabulary})")
    for line in failed:
        click.echo(f"  failed: {line}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} of {total} files could not be tokenized" + ("" if len(archive) else "; nothing written"))


@cli.command()
@click.argument("source", metavar="IN")
@click.option("-o", "--output", "output", required=True, metavar="OUT", help="OUT.json for a file; for a folder, the folder OUT (it gets tokens.npz and tokenizer.json).")
@_style_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N", help="For a folder: processes sharing the files, this one and N-1 forked workers (default: all cores).")
@click.option("--force", is_flag=True, help="Replace output files that exist.")
def tokenize(source: str, output: str, style: str, jobs: int | None, force: bool) -> None:
    """Write the event tokens of a score (names and ids) as JSON.

    IN may be a folder: every MIDI, MusicXML and ABC file in it (and below) is
    tokenized into one archive, OUT/tokens.npz (every piece's ids, named by its
    path under IN, suffix kept), with the vocabulary in OUT/tokenizer.json.
    Files that cannot be read are listed at the end; the exit status is then 1.
    """
    from composer.formats import read
    from composer.tokens import token_document, write_token_document

    src, out = Path(source), Path(output)
    if src.is_dir():
        _tokenize_folder(src, out, style, force, jobs)
        return
    if out.suffix.lower() != ".json":
        raise click.BadParameter(f"expected a .json file name, got {output!r}", param_hint="'-o'")
    written = write_token_document(token_document(read(src), src.name, style), out, force=force)
    click.echo(f"wrote {written}")


def _detokenize_archive(source: Path, out: Path, piece: str | None, suffix: str, force: bool) -> None:
    """One piece of a token archive into the file ``out``, or (no ``piece``) every piece into the folder ``out``."""
    from composer.tokens import read_token_archive

    archive = read_token_archive(source)
    if piece is not None:
        _write_score(archive.document(piece).decode(), out, force=force)
        return
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"without --piece OUT is a folder for every piece; {str(out)!r} is a file", param_hint="'-o'")
    targets = [out / f"{name}{suffix}" for name in archive.names]  # song.abc -> song.abc.mid: names never collide
    for target in targets:
        if target.exists() and not force:
            raise click.ClickException(f"{target}: file exists (use --force to replace it)")
    from composer.formats import write

    with _progress(range(len(archive)), len(archive), "detokenizing") as bar:
        for i in bar:
            targets[i].parent.mkdir(parents=True, exist_ok=True)
            write(archive.document(i).decode(), targets[i], force=force)
    click.echo(f"wrote {len(targets)} files into {out}")


@cli.command()
@click.argument("source", metavar="TOKENS")
@click.option("-o", "--output", "output", required=True, metavar="OUT", help="Output score (the suffix picks the format); a folder for every piece of an archive.")
@click.option("--piece", default=None, metavar="NAME|INDEX", help="From an archive: the piece to write, by its name (e.g. chorales/bwv269.mid) or index.")
@click.option("--suffix", default=".mid", show_default=True, help="From an archive without --piece: the format of the files written into OUT.")
@click.option("--force", is_flag=True, help="Replace output files that exist.")
def detokenize(source: str, output: str, piece: str | None, suffix: str, force: bool) -> None:
    """Turn tokens from `composer tokenize` back into scores.

    TOKENS is a token JSON file, or a folder written by `composer tokenize FOLDER`
    (or its tokens.npz): then --piece picks one piece for OUT, and without it
    every piece is written into the folder OUT as NAME.SUFFIX (song.abc -> song.abc.mid).
    Where a JSON file's token names and ids disagree, the names win (a note says so).
    """
    from composer.formats import WRITERS
    from composer.tokens import read_token_document

    src, out = Path(source), Path(output)
    archive = src.is_dir() or src.suffix.lower() == ".npz"
    if not archive and (piece is not None or click.get_current_context().get_parameter_source("suffix") == click.core.ParameterSource.COMMANDLINE):
        raise click.UsageError("--piece and --suffix apply to a token archive (a folder from `composer tokenize FOLDER`)")
    suffix = suffix if suffix.startswith(".") else f".{suffix}"
    one_file = not archive or piece is not None
    wanted = out.suffix.lower() if one_file else suffix.lower()
    if wanted not in WRITERS:
        where = "'-o'" if one_file else "'--suffix'"
        raise click.BadParameter(f"unsupported output suffix {wanted or '(none)'!r}; expected one of {_output_suffixes()}", param_hint=where)
    if archive:
        _detokenize_archive(src, out, piece, suffix, force)
        return
    document = read_token_document(src)
    if document.note:
        click.echo(f"note: {document.note}", err=True)
    _write_score(document.decode(), out, force=force)


@cli.command()
@click.argument("source", metavar="IN")
@click.option("-o", "--output", "output", required=True, metavar="OUT", help="Output score; the suffix picks the format.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@_piano_roll_option
def convert(source: str, output: str, force: bool, piano_roll: bool) -> None:
    """Read any supported score (MIDI, MusicXML/MXL, ABC) and write it in OUT's format.

    MIDI, MusicXML/MXL, engraved sheet music (SVG, PNG, PDF) or audio (WAV).
    """
    from composer.formats import WRITERS, read

    out = Path(output)
    if out.suffix.lower() not in WRITERS:
        raise click.BadParameter(f"unsupported output suffix {out.suffix or '(none)'!r}; expected one of {_output_suffixes()}", param_hint="'-o'")
    _write_score(read(source), out, force=force, piano_roll=piano_roll)


# -- corpus ----------------------------------------------------------------
@cli.group(cls=ComposerGroup)
def corpus() -> None:
    """Build and inspect the bundled training corpus (midi_corpus/)."""


def _collection_names() -> list[str]:
    from composer.corpus import COLLECTIONS

    return list(COLLECTIONS)


@corpus.command("build")
@click.option("-o", "--output", "output", default="midi_corpus", show_default=True, help="Folder to build the corpus in.")
@click.option("--collection", "collections", multiple=True, type=click.Choice(_collection_names()), help="Build only these collections (repeatable; default the shipped ones: chorales, folk; essen is non-commercial).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--force", is_flag=True, help="Replace an existing folder that is not a composer corpus.")
def corpus_build(output: str, collections: tuple[str, ...], jobs: int | None, force: bool) -> None:
    """Convert music21's bundled corpus into MIDI files with manifests. Deterministic and rerunnable."""
    from composer.corpus import SHIPPED_COLLECTIONS, build

    with _LazyBars(lambda collection: f"building {collection}") as bars:
        summary = build(Path(output), collections=collections or SHIPPED_COLLECTIONS, jobs=jobs, progress=bars.update, force=force)
    for name, info in summary.items():
        skipped = info.get("skipped", [])
        click.echo(f"{name}: {info.get('written', 0)} files written, {len(skipped)} skipped")
        for source, reason in skipped:
            click.echo(f"  skipped {source}: {reason}")


@corpus.command("info")
@click.argument("folder", default="midi_corpus")
def corpus_info(folder: str) -> None:
    """Counts of files and notes per collection and split: of a corpus, one collection, or any folder of music."""
    from composer.corpus import info

    summary = info(Path(folder))
    click.echo(f"{'collection':<12} {'split':<6} {'files':>6} {'notes':>9}")
    for name, splits in summary.items():
        for split, counts in splits.items():
            notes = "-" if counts["notes"] is None else counts["notes"]
            click.echo(f"{name:<12} {split:<6} {counts['files']:>6} {notes:>9}")
    if any(c["notes"] is None for splits in summary.values() for c in splits.values()):
        click.echo("(no manifest: files split by the sha1 of their name, as training does; notes not counted)")


# -- models ----------------------------------------------------------------
def _BarReporter() -> Any:
    """Training progress on stderr: ``composer.training.BarReporter``, which ``composer.train`` also shows."""
    from composer.training import BarReporter

    return BarReporter(file=sys.stderr)


def _arch_names() -> list[str]:
    from composer.nn.configs import CONFIGS  # torch-free, so --help stays fast

    return list(CONFIGS)


def _train_config() -> type:
    from composer.training import TrainConfig  # no torch at import, so --help stays fast

    return TrainConfig


def _generation_settings() -> type:
    from composer.generate import GenerationSettings

    return GenerationSettings


def _repeats() -> list[str]:
    from composer.form import REPEATS

    return list(REPEATS)


def _generation_modes() -> list[str]:
    from composer.generate import MODES

    return list(MODES)


def _finetune_config() -> type:
    from composer.finetune import FineTuneConfig  # no torch at import

    return FineTuneConfig


@cli.command("train")
@click.argument("corpus_dir", metavar="CORPUS_DIR")
@click.option("-o", "--output", required=True, metavar="MODEL_PATH", help="Model file to write (.safetensors); its checkpoint goes beside it as MODEL_PATH.ckpt.")
@click.option("--from", "init", default=None, metavar="NAME|PATH", help="Fine-tune: start from this model (a name from `composer models`, or a .safetensors file), keeping its architecture and vocabulary.")
@_setting_option(_train_config(), "arch", type=click.Choice(_arch_names()))
@click.option("--layers", type=click.IntRange(min=1), default=None, help="Layers (default: the architecture's).")
@click.option("--d-model", type=click.IntRange(min=8), default=None, help="Transformer width / LSTM embedding size.")
@click.option("--heads", type=click.IntRange(min=1), default=None, help="Transformer attention heads.")
@click.option("--hidden", type=click.IntRange(min=8), default=None, help="LSTM hidden size.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=None)
@_setting_option(_train_config(), "max_steps", "--steps", help="Most optimiser steps.")
@_setting_option(_train_config(), "batch_size")
@_setting_option(_train_config(), "seq_len", help="Tokens per training window.")
@_setting_option(_train_config(), "learning_rate", "--lr")
@_setting_option(_train_config(), "warmup_steps", "--warmup")
@_setting_option(_train_config(), "eval_every")
@_setting_option(_train_config(), "checkpoint_every")
@_setting_option(_train_config(), "patience", help="Evaluations without improvement before stopping.")
@_setting_option(_train_config(), "augment", "--augment/--no-augment", help="Random transposition of training windows.")
@_setting_option(_train_config(), "ahead_share", help="Share of training windows that see each group of features ahead (the given melody, the length, the phrase ends); 0: a model without them.")
@_setting_option(_train_config(), "avoid_parallels", help="Weight of a loss on the probability put on pitches that would make parallel fifths or octaves with a part above (the rule generation masks, taught to the model); 0: none.")
@_setting_option(_train_config(), "harmonizer_epochs", help="Epochs of the harmonizer each style of several parts learns from the train split (the lower voices' pitch classes from the whole melody, which harmonize leans on); 0: none.")
@_setting_option(_train_config(), "style", help="Style token of the folder's pieces (default: a manifest's, else 'unknown'; with --from, a new style named after the folder).")
@_setting_option(_train_config(), "random_seed")
@_setting_option(_finetune_config(), "replay_share", help="With --from: share of each batch's windows replayed from the base model's corpus (the guard against forgetting; 0: none).")
@_setting_option(_finetune_config(), "replay_corpus", metavar="DIR", help="With --from: the base model's training music to replay.  [default: its corpus in ./midi_corpus or composer's checkout, where found]")
@_setting_option(_finetune_config(), "valid_fraction", help="With --from: share of the pieces held out for early stopping when the split rule holds out none.")
@_setting_option(_finetune_config(), "style_init", metavar="STYLE", help="With --from: the base style whose rows a new style starts from.  [default: the mean of the styles the base trained on]")
@_setting_option(_finetune_config(), "anchor", help="With --from: weight of the divergence from the base model's own predictions on every token (a guard against forgetting; 0: none).")
@_setting_option(_finetune_config(), "anchor_model", metavar="NAME|PATH", help="With --from and --anchor: the model (with the run's vocabulary) whose predictions the anchor holds to.  [default: the base]")
@_setting_option(_finetune_config(), "top_layers", help="With --from: train only a transformer's top N blocks and its final norm, the rest kept as the base has it (less to forget).  [default: every weight]")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run saved in MODEL_PATH.ckpt.")
@click.option("--force", is_flag=True, help="Start over, replacing MODEL_PATH and its checkpoint.")
def train_command(corpus_dir: str, output: str, init: str | None, layers: int | None, d_model: int | None, heads: int | None, hidden: int | None, dropout: float | None, device: str, resume: bool, force: bool, **settings: Any) -> None:
    """Train a model on a folder of MIDI/MusicXML/ABC files (e.g. midi_corpus/chorales), or fine-tune one (--from).

    Runs data-parallel unchanged under torchrun (gloo on CPU, NCCL on GPU).
    """
    import dataclasses

    from composer.training import TrainConfig, train

    if resume and force:
        raise click.UsageError("--resume and --force contradict each other: pick one")
    ctx = click.get_current_context()
    given = {name for name in ctx.params if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    finetune = {f.name: settings.pop(f.name) for f in dataclasses.fields(_finetune_config())}
    if init is None and given & set(finetune):
        name = sorted(given & set(finetune))[0]
        raise click.UsageError(f"--{name.replace('_', '-')} applies to fine-tuning (--from) only")
    base = _finetune_base(init) if init is not None and not resume else None
    arch = settings["arch"] if base is None or "arch" in given else base.arch
    options = {"n_layers": layers, "dropout": dropout}
    if arch == "transformer":
        options.update(d_model=d_model, n_heads=heads)
        if hidden is not None:
            raise click.BadParameter("--hidden applies to --arch lstm", param_hint="'--hidden'")
    else:
        options.update(d_embed=d_model, d_hidden=hidden)
        if heads is not None:
            raise click.BadParameter("--heads applies to --arch transformer", param_hint="'--heads'")
    options = {k: v for k, v in options.items() if v is not None}
    if base is not None:
        config = _finetune_train_config(base, settings, options, given)
    else:
        config = TrainConfig(**settings)
    reporter = _BarReporter()
    try:
        result = train(corpus_dir, output, config=config, model_options=options, resume=resume, max_steps=config.max_steps if resume and "max_steps" in given else None, force=force, device=device, reporter=reporter,
                       init=base if base is not None else init, finetune=_finetune_config()(**finetune) if init is not None else None)
    except KeyboardInterrupt:
        reporter.close()
        from composer.training import checkpoint_path

        click.echo(f"interrupted; checkpoint saved to {checkpoint_path(output)} (continue with --resume)", err=True)
        sys.exit(130)
    finally:
        reporter.close()
    test = f", test {result.test_bits_per_note:.3f}" if result.test_bits_per_note is not None else ""
    click.echo(f"{result.steps} steps in {result.seconds:.0f} s; best validation {result.best_valid_bits_per_note:.3f} bits per note{test}; model written to {result.model_path}")


def _finetune_base(init: str) -> Any:
    """The model ``--from`` names (a missing one is a one-line error, exit 1)."""
    from composer.modelfile import load_model

    return load_model(init)


def _finetune_train_config(base: Any, settings: dict[str, Any], options: dict[str, Any], given: set[str]) -> Any:
    """``--from``'s TrainConfig: the fine-tuning preset, with the options given on the command line on top.

    An architecture option that differs from the base's is a usage error (exit 2).
    """
    from composer.finetune import FineTuneError, check_architecture
    from composer.training import finetune_config

    try:
        check_architecture(base, options, settings["arch"] if "arch" in given else None)
    except FineTuneError as exc:
        raise click.UsageError(str(exc)) from None
    return finetune_config(base, **{k: v for k, v in settings.items() if k in given})


def _preset_epilog(command: click.Command) -> str:
    """The fine-tuning preset in the options' own words, for ``composer train --help``."""
    from composer.training import FINETUNE_PRESET

    flags = {p.name: p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0] for p in command.params}
    values = ", ".join(f"{flags[k]} {v:g}" if isinstance(v, float) else f"{flags[k]} {v}" for k, v in FINETUNE_PRESET.items())
    return f"With --from, options not given take the fine-tuning preset instead: {values} (--seq-len at most the base's context)."


train_command.epilog = _preset_epilog(train_command)


def _select_config() -> type:
    from composer.refinement import SelectConfig  # no torch at import

    return SelectConfig


def _select_guard() -> Any:
    from composer.refinement import select_guard  # no torch at import

    return select_guard()


def _select_avoid() -> float:
    from composer.refinement import SELECT_TRAIN_SETTINGS  # no torch at import

    return SELECT_TRAIN_SETTINGS["avoid_parallels"]


@cli.command("refine")
@click.argument("model", metavar="MODEL")
@click.argument("kept", metavar="[KEPT_FOLDER]", required=False)
@click.option("-o", "--output", required=True, metavar="MODEL_PATH", help="Refined model file to write (.safetensors).")
@click.option("--select", "select_mode", is_flag=True, help="No person: rounds of generate, keep what passes the checks, fine-tune on it (taught the parallel-fifths rule, held to MODEL's predictions); each round's pieces and model go to MODEL_PATH's stem + .rounds/.")
@_setting_option(_select_config(), "rounds", help="With --select: rounds of generate, keep, fine-tune.")
@_setting_option(_select_config(), "samples", help="With --select: pieces generated a round.")
@_setting_option(_select_config(), "bars", help="With --select: bars of each generated piece.")
@_setting_option(_select_config(), "max_parallels_per_100_notes", "--max-parallels", help="With --select: most parallel fifths and octaves per 100 notes a kept four-part piece may have.")
@_setting_option(_select_config(), "max_copied_notes", help="With --select: longest passage also in the training corpus (notes) a kept piece may have.")
@_setting_option(_select_config(), "tonic_ending", "--tonic-ending/--any-ending", help="With --select: keep only pieces whose top part ends on the tonic.")
@_setting_option(_select_config(), "top_p", help="With --select: top-p of the pieces generated (1: the model's own distribution, so only the checks' choice moves it).")
@_setting_option(_select_config(), "random_seed", help="With --select: round r generates with random seed S+r-1.")
@_setting_option(_select_config(), "masked", "--masked/--unmasked", help="With --select: write the candidates under the voice-leading masks, so the model learns their rule from its own masked pieces (the parallels reported stay those it writes unmasked), or with parallels allowed, for the checks to choose among.")
@click.option("--any-source", is_flag=True, help="Learn from the kept pieces even when they do not say this model generated them.")
@click.option("--style", default=None, metavar="STYLE", help="The style the pieces are learnt (and, with --select, generated) as.  [default: the one the model writes unasked]")
@_setting_option(_train_config(), "max_steps", "--steps", default=None, show_default=False, help="Most optimiser steps of each fine-tuning run.  [default: the fine-tuning preset's]")
@_setting_option(_train_config(), "avoid_parallels", default=None, show_default=False, help=f"Weight of the loss on the probability put on pitches that would make parallel fifths or octaves.  [default: {_select_avoid():g} with --select, else 0]")
@_setting_option(_finetune_config(), "replay_share", default=None, show_default=False, help=f"Share of each batch's windows replayed from the base model's corpus (the guard against forgetting; 0: none).  [default: {_select_guard().replay_share:g} with --select, else {_finetune_config()().replay_share:g}]")
@_setting_option(_finetune_config(), "replay_corpus", metavar="DIR", help="The base model's training music to replay.  [default: its corpus in ./midi_corpus or composer's checkout, where found]")
@_setting_option(_finetune_config(), "anchor", default=None, show_default=False, help=f"Weight of the divergence from MODEL's own predictions on every token (a guard against forgetting).  [default: {_select_guard().anchor:g} with --select, else 0]")
@_setting_option(_finetune_config(), "top_layers", help="Train only a transformer's top N blocks and its final norm, the rest kept as the model has it.  [default: every weight]")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Replace MODEL_PATH (and, with --select, its rounds folder).")
def refine_command(model: str, kept: str | None, output: str, select_mode: bool, any_source: bool, style: str | None, max_steps: int | None,
                   avoid_parallels: float | None, replay_share: float | None, replay_corpus: str | None, anchor: float | None, top_layers: int | None, device: str, force: bool, **checks: Any) -> None:
    """Fine-tune MODEL on pieces it generated and someone kept (KEPT_FOLDER), or on those its own checks keep (--select)."""
    from composer.finetune import FineTuneConfig
    from composer.modelfile import load_model
    from composer.refinement import SelectConfig, refine, select, select_guard

    ctx = click.get_current_context()
    given = {name for name in ctx.params if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if select_mode and kept is not None:
        raise click.UsageError("give KEPT_FOLDER or --select, not both")
    if not select_mode and kept is None:
        raise click.UsageError("missing KEPT_FOLDER (or --select to let the project's checks keep pieces)")
    if not select_mode and given & set(checks):
        name = {"max_parallels_per_100_notes": "max_parallels", "tonic_ending": "tonic_ending"}.get(sorted(given & set(checks))[0], sorted(given & set(checks))[0])
        raise click.UsageError(f"--{name.replace('_', '-')} applies to --select only")
    if select_mode and any_source:
        raise click.UsageError("--any-source applies to a KEPT_FOLDER only (--select keeps the model's own pieces)")
    base = load_model(model)
    train_settings = {k: v for k, v in {"max_steps": max_steps, "avoid_parallels": avoid_parallels}.items() if v is not None}
    guard = {k: v for k, v in {"replay_share": replay_share, "replay_corpus": replay_corpus, "anchor": anchor, "top_layers": top_layers}.items() if v is not None}
    finetune = select_guard(**guard) if select_mode else FineTuneConfig(**guard)
    reporter = _BarReporter()
    try:
        if select_mode:
            result = select(base, output, SelectConfig(**checks), style=style, train_settings=train_settings, finetune=finetune, force=force, device=device, reporter=reporter)
            reporter.close()
            for report in result.rounds:
                click.echo(report.line())
            click.echo(f"model written to {result.model_path}; each round's pieces and model in {result.rounds[0].folder.parent}")
        else:
            done = refine(base, kept, output, style=style, any_source=any_source, train_settings=train_settings, finetune=finetune, force=force, device=device, reporter=reporter)
            reporter.close()
            click.echo(f"refined {base.name} on {done.kept} kept pieces (fingerprint {done.fingerprint[:12]}): {done.train.steps} steps in {done.train.seconds:.0f} s; "
                       f"best validation {done.train.best_valid_bits_per_note:.3f} bits per note; model written to {done.model_path}")
    finally:
        reporter.close()


@cli.command("evaluate")
@click.argument("model", metavar="MODEL")
@click.argument("corpus_dir", metavar="CORPUS_DIR")
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="test", show_default=True)
@click.option("--samples", type=click.IntRange(min=1), default=None, metavar="N", help="Generate N pieces and compare them with the split: music metrics, form, voice leading, copied passages (instead of bits per note).")
@_setting_option(_generation_settings(), "bars", help="With --samples: bars of each piece (the split's pieces are cut to as many).")
@_setting_option(_generation_settings(), "random_seed", help="With --samples: piece i is generated with random seed S+i.")
@_setting_option(_generation_settings(), "style", help="With --samples: the style to generate (default: the one the model saw most of).")
@_sampling_options("With --samples: ")
@click.option("--allow-parallels", is_flag=True, help="With --samples: generate as `composer generate --allow-parallels` does.")
@click.option("-o", "--output", default=None, metavar="OUT", help="With --samples: also write the report to OUT.md (Markdown) or OUT.json (all figures, per piece).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def evaluate_command(model: str, corpus_dir: str, split: str, samples: int | None, output: str | None, force: bool, **settings: Any) -> None:
    """Bits per note, tokens per note and token accuracy of MODEL on one split of CORPUS_DIR.

    With --samples N: generate N pieces from scratch and compare them with the
    split's pieces (cut to --bars bars) on the metrics of composer.metrics, with
    each metric's overlap area, voice leading per 100 notes (four-part styles),
    and the longest passage of each piece also found in the training split.
    """
    ctx = click.get_current_context()
    sample_options = (*settings, "output", "force")
    given = [name for name in sample_options if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if samples is None:
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} applies to --samples N only")
        from composer.evaluation import evaluate

        metrics = evaluate(model, corpus_dir, split)
        click.echo(f"split            {split} ({int(metrics['pieces'])} pieces, {int(metrics['notes'])} notes)")
        click.echo(f"bits per note    {metrics['bits_per_note']:.4f}")
        click.echo(f"tokens per note  {metrics['tokens_per_note']:.4f}")
        click.echo(f"token accuracy   {metrics['token_accuracy']:.4f}")
        return

    from composer.evaluation import evaluate_samples
    from composer.io.atomic import check_writable, write_bytes_atomic

    out = Path(output) if output else None
    if out is not None:
        if out.suffix.lower() not in (".md", ".json"):
            raise click.BadParameter(f"expected a .md or .json file name, got {output!r}", param_hint="'-o'")
        check_writable(out, force=force)
    with _LazyBars(lambda _: "generating") as progress:  # opens with the first piece: a bad corpus fails first
        result = evaluate_samples(model, corpus_dir, samples=samples, split=split, progress=progress, **settings)
    report = result.to_markdown()
    click.echo(report, nl=False)
    if out is not None:
        write_bytes_atomic(out, (result.to_json() if out.suffix.lower() == ".json" else report).encode(), force=force)
        click.echo(f"wrote {out}", err=True)


@cli.command("originality")
@click.argument("score_path", metavar="SCORE")
@click.option("--corpus", "corpus_dir", default=None, help="A corpus folder, one collection of it, or any folder of MIDI files.  [default: midi_corpus if it is here, else the index of its train split shipped with the models]")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "valid", "test", "all"]), help="Splits of a corpus with manifests to compare against (repeatable; default train, what models learn from).")
@click.option("--seed-bars", type=click.IntRange(min=0), default=0, show_default=True, help="The first N bars of SCORE are a seed: passages inside it do not count.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def originality_command(score_path: str, corpus_dir: str | None, splits: tuple[str, ...], seed_bars: int, as_json: bool) -> None:
    """The longest passage of SCORE also in the corpus, and the share of its 8-note n-grams found there.

    Melody and rhythm are compared, not the key: a transposed copy counts as a copy.
    The corpus is indexed once and cached.
    """
    from composer.formats import read
    from composer.corpus import SPLITS
    from composer.originality import DEFAULT_SPLITS, index_for, seed_end_tick

    score = read(score_path)
    seed_end = seed_end_tick(score, seed_bars)  # a bad --seed-bars fails before the corpus is indexed
    chosen = SPLITS if "all" in splits else (splits or DEFAULT_SPLITS)
    with _LazyBars(lambda _: "indexing the corpus") as progress:
        index = index_for(corpus_dir, splits=chosen, progress=progress)
    report = index.check(score, seed_end_tick=seed_end)
    click.echo(json.dumps(report.to_dict(), indent=1) if as_json else str(report))


# -- generation ------------------------------------------------------------
def _read_seed(seed: str | None) -> Any:
    """A seed score from a file path or an inline TinyNotation string (``"tinynotation: 3/4 c4 d8 e"``)."""
    if seed is None:
        return None
    if seed.strip().lower().startswith("tinynotation:"):
        from composer.io.notation import parse_tinynotation

        score = parse_tinynotation(seed)
        source = seed.strip()
    else:
        from composer.formats import read

        score = read(seed)
        source = Path(seed).name
    return score.replace(metadata={**score.metadata, "source": source})


def _output_paths(outputs: tuple[str, ...], num_samples: int, force: bool) -> list[list[Path]]:
    """Per sample, its output files (out.mid -> out-1.mid, out-2.mid, ... for several samples); checked before any work."""
    from composer.formats import WRITERS
    from composer.io.atomic import check_writable

    if not outputs:
        raise click.UsageError("give at least one output file with -o")
    for out in outputs:
        suffix = Path(out).suffix.lower()
        if suffix not in WRITERS:
            raise click.BadParameter(f"unsupported output suffix {suffix or '(none)'!r} in {out!r}; expected one of {_output_suffixes()}", param_hint="'-o'")
    if len({str(Path(o).resolve()) for o in outputs}) != len(outputs):
        raise click.BadParameter("the same output file is given twice", param_hint="'-o'")
    per_sample = []
    for i in range(num_samples):
        paths = [Path(o) if num_samples == 1 else Path(o).with_name(f"{Path(o).stem}-{i + 1}{Path(o).suffix}") for o in outputs]
        for path in paths:
            check_writable(path, force=force)
        per_sample.append(paths)
    return per_sample


def _generation_command(mode: str, seed: str | None, outputs: tuple[str, ...], model: str, force: bool, num_samples: int, piano_roll: bool, **settings: Any) -> None:
    from composer.errors import FormError
    from composer.generate import GenerationSettings, generate_batch
    from composer.modelfile import load_model

    paths = _output_paths(outputs, num_samples, force)
    try:  # a form that cannot be read, or does not fit the other options or the seed, is a usage error (exit 2)
        config = GenerationSettings(mode=mode, **settings)
        score_seed = _read_seed(seed)
        network = load_model(model)
        pieces = generate_batch(network, score_seed, config, num_samples=num_samples)
    except FormError as exc:
        raise click.UsageError(str(exc)) from None
    for piece, targets in zip(pieces, paths):
        for path in targets:
            _write_score(piece, path, force=force, piano_roll=piano_roll)


def _generation_options(func: Callable) -> Callable:
    settings = _generation_settings()
    options = [
        click.option("-o", "--output", "outputs", multiple=True, required=True, metavar="OUT", help="Output file; the suffix picks the format. Repeat for several formats."),
        click.option("--model", default="chorale", show_default=True, help="Model name (see `composer models`) or path to a .safetensors model file."),
        _setting_option(settings, "style", help="Style token, where the model knows several (e.g. chorale, folk)."),
        _setting_option(settings, "key", help="Key, e.g. G, e (minor), 'F# minor'. Notes stay in its scale unless --allow-chromatic."),
        _setting_option(settings, "time_signature", help="Meter, e.g. 3/4."),
        _setting_option(settings, "tempo_qpm", "--tempo", help="Tempo in quarter notes per minute."),
        _setting_option(settings, "allow_chromatic", is_flag=True, show_default=False, help="Allow notes outside the key's scale."),
        _setting_option(settings, "allow_parallels", is_flag=True, show_default=False, help="Allow parallel fifths and octaves between parts (masked by default)."),
        _setting_option(settings, "free_ending", is_flag=True, show_default=False, help="No closing masks: the last bar may stop on any note (by default the top part ends on a held tonic over a held final chord, and a harmonization's last chord is the tonic's where the melody ends on its triad)."),
        _setting_option(settings, "random_seed", help="Same seed, same output, byte for byte."),
        _setting_option(settings, "harmony_weight", help="Harmonizing: weight of the melody-ahead harmony prior (the pitch class each lower voice takes under a melody note, given its neighbours, counted in the style's train split) added to the model's scores. 0: the model alone."),
        _setting_option(settings, "particles", help="Samples run side by side per piece, weighted by how likely the model finds the given notes ahead of them and redrawn (sequential Monte Carlo); the likeliest is kept. 1: plain sampling."),
        click.option("--num-samples", type=click.IntRange(1, 64), default=1, show_default=True, help="Variations, written as OUT-1, OUT-2, ... (sampled as one batch; with a form, asked for or drawn, one piece after another)."),
        click.option("--force", is_flag=True, help="Replace output files that exist."),
    ]
    for option in reversed(options):
        func = option(func)
    return _piano_roll_option(_sampling_options()(func))


@cli.command("generate")
@click.argument("seed", required=False, metavar="[SEED]")
@_setting_option(_generation_settings(), "mode", type=click.Choice(_generation_modes()), help="continue: the seed opens the piece; harmonize: the seed is the top voice throughout.")
@_setting_option(_generation_settings(), "bars", help="Complete bars in the output, seed included (a pickup comes on top). With --form and --section-bars: their product.")
@_setting_option(_generation_settings(), "form", help="Sections such as AABB, AABA, ABAC or \"A A' B A\": a new letter is new music, a letter heard before is copied note for note, a primed one varies its last bars; the sections of the first letter and the last section close on the tonic, the others on a held note.")
@_setting_option(_generation_settings(), "section_bars", help="With --form: bars per section (default: --bars divided by the sections).")
@_setting_option(_generation_settings(), "repeats", type=click.Choice(_repeats()), help="With --form: a section repeated at once (AA) written out, or written once between repeat signs in notation (MIDI always has it written out).")
@_setting_option(_generation_settings(), "phrase_bars", help="Every N-th bar closes a phrase: the top part's last note starts by the bar's half-way point, is held to the barline and is the bar's longest (unset: the model's own phrasing).")
@_setting_option(_generation_settings(), "learned_form", "--learned-form/--no-learned-form", help="Without --form: each piece takes a form drawn from those heard in the style's training pieces (sections of returning bars, as in the tunes it learned from); --no-learned-form leaves the course to the model alone.")
@_generation_options
def generate_command(seed: str | None, mode: str, **kwargs: Any) -> None:
    """Write music from a seed: a MIDI/MusicXML/ABC file or "tinynotation: 3/4 c4 d8 e" (no SEED: from scratch)."""
    if kwargs["form"] is not None and kwargs["section_bars"] is not None and _defaulted("bars"):
        kwargs["bars"] = _form_sections(kwargs["form"]) * kwargs["section_bars"]
    _generation_command(mode, seed, **kwargs)


def _defaulted(name: str) -> bool:
    """The option ``name`` of the running command was left at its default."""
    return click.get_current_context().get_parameter_source(name) == click.core.ParameterSource.DEFAULT


def _form_sections(form: str) -> int:
    from composer.errors import FormError
    from composer.form import parse_form

    try:
        return len(parse_form(form))
    except FormError as exc:
        raise click.BadParameter(str(exc), param_hint="'--form'") from None


@cli.command("harmonize")
@click.argument("melody", metavar="MELODY")
@_generation_options
def harmonize_command(melody: str, **kwargs: Any) -> None:
    """Keep MELODY note for note as the top voice and write the voices under it, as many bars as it has."""
    _generation_command("harmonize", melody, **kwargs)


@cli.command("accompany")
@click.argument("score", metavar="SCORE")
@click.option("--keep", "keep_parts", required=True, metavar="PARTS", help="Parts of SCORE kept note for note, by name or 1-based number: soprano,bass or 1,4. The model writes the others.")
@_generation_options
def accompany_command(score: str, keep_parts: str, **kwargs: Any) -> None:
    """Keep some parts of SCORE (any of them: a melody and a bass line, soprano and bass) and write the others, as many bars as it has."""
    _generation_command("accompany", score, keep_parts=keep_parts, **kwargs)


def _bar_range(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    """'5-8' or '5' as (first, last)."""
    first, _, last = value.partition("-")
    try:
        bars = (int(first), int(last or first))
    except ValueError:
        raise click.BadParameter(f"expected FIRST-LAST bar numbers such as 5-8, got {value!r}") from None
    if bars[0] > bars[1] or bars[0] < 0:
        raise click.BadParameter(f"bars {value} are an empty range: FIRST-LAST with 0 <= FIRST <= LAST")
    return bars


@cli.command("infill")
@click.argument("score", metavar="SCORE")
@click.option("--bars", "infill_bars", required=True, callback=_bar_range, metavar="FIRST-LAST", help="Bars to rewrite, 1-based and inclusive (0 names a pickup), e.g. 5-8.")
@click.option("--parts", "infill_parts", default=None, metavar="PARTS", help="Parts rewritten there, by name or 1-based number (default: all).")
@_generation_options
def infill_command(score: str, **kwargs: Any) -> None:
    """Rewrite some bars of SCORE (of all parts or some) and keep every other note; the new music joins what follows it."""
    _generation_command("infill", score, **kwargs)


@cli.command("play")
@click.argument("source", required=False, metavar="FILE")
@click.option("--port", default=None, help="MIDI output port (default: the first one).")
@click.option("--list-ports", is_flag=True, help="List the MIDI output ports and exit.")
def play_command(source: str | None, port: str | None, list_ports: bool) -> None:
    """Send a score to a MIDI output port in real time, for a synth or a DAW."""
    from composer.render.live import find_ports, play

    if list_ports:
        names, why = find_ports()
        click.echo("\n".join(names) if names else f"no MIDI output ports: {why}", err=not names)
        return
    if source is None:
        raise click.UsageError("give a FILE to play, or --list-ports")
    from composer.formats import read

    play(read(source), port)


@cli.command("models")
def models_command() -> None:
    """The models composer can find by name, with their style, size, test bits per note, recommended sampling and, for a fine-tuned one, its base."""
    from composer.modelfile import list_models

    rows, problems = [], []
    for info in list_models(problems):
        test = f"{info.test_bits_per_note:.3f}" if info.test_bits_per_note is not None else "-"
        sampling = ", ".join(f"{k}={v}" for k, v in sorted(info.sampling.items())) or "plain"
        rows.append((info.name, info.arch, ", ".join(info.styles) or "?", f"{info.size_bytes / 1e6:.1f} MB", test, sampling, info.base or "-", str(info.path)))
    for problem in problems:  # (issue 15) a bad file is flagged; the good ones are still listed
        click.echo(f"skipped {problem}", err=True)
    if not rows:
        raise click.ClickException("no models found (search path: $COMPOSER_MODELS, then composer's models/)")
    header = ("name", "arch", "styles", "size", "test bits/note", "sampling", "fine-tuned from", "path")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _exit_now(code: Any) -> None:
    """Leave as ``sys.exit(code)`` would, less the interpreter's teardown.

    Once torch is loaded that teardown is the interpreter's garbage collection
    passes over every object torch (and music21) made, then torch's operator
    registry taken apart: 1-2 s on an idle 2-core machine (perf), several on a
    busy one, all after the command's last line. Output is flushed and the
    atexit handlers run first, so only the teardown is skipped.
    """
    import atexit

    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main() -> None:
    # OpenMP's default spin-waiting makes torch threads crawl when a core is busy elsewhere.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        cli(prog_name="composer")
    except SystemExit as exc:
        if sys.modules.get("torch") is not None:
            _exit_now(exc.code)
        raise
