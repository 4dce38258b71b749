"""The ``composer`` command line: parse options, call the library, turn its errors into one-line messages.

Heavy modules are imported inside the commands that need them, so ``composer --help``
stays quick.
"""

from __future__ import annotations

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


@click.group(cls=ComposerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="composer")
def cli() -> None:
    """composer: symbolic music composition from MIDI, MusicXML and ABC."""


def _input_suffixes() -> str:
    from composer.io import READERS

    return ", ".join(sorted(READERS))


def _output_suffixes() -> str:
    from composer.io import WRITERS

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


# -- tokens ----------------------------------------------------------------
def _token_document(path: Path, style: str) -> dict[str, Any]:
    from composer.io import read
    from composer.tokens import Tokenizer

    score = read(path)
    tokenizer = Tokenizer()
    ids = tokenizer.encode(score, style)
    return {
        "source": path.name,
        "title": score.title,
        "parts": [part.name for part in score.parts],
        "tokenizer": {k: v for k, v in tokenizer.to_dict().items() if k != "tokens"},
        "tokens": tokenizer.to_names(ids),
        "ids": ids.tolist(),
    }


def _write_json(document: dict[str, Any], path: Path, force: bool) -> None:
    from composer.io._atomic import write_bytes_atomic

    write_bytes_atomic(path, (json.dumps(document, indent=1) + "\n").encode(), force=force)


@cli.command()
@click.argument("source", metavar="IN")
@click.option("-o", "--output", "output", required=True, metavar="OUT", help="OUT.json for a file; a folder when IN is a folder.")
@_style_option
@click.option("--force", is_flag=True, help="Replace output files that exist.")
def tokenize(source: str, output: str, style: str, force: bool) -> None:
    """Write the event tokens of a score (names and ids) as JSON.

    IN may be a folder: every MIDI, MusicXML and ABC file in it (and below) is
    tokenized into the folder OUT, keeping relative names. Files that cannot be
    read are listed at the end; the exit status is then 1.
    """
    from composer.io import READERS

    src, out = Path(source), Path(output)
    if not src.is_dir():
        if out.suffix.lower() != ".json":
            raise click.BadParameter(f"expected a .json file name, got {output!r}", param_hint="'-o'")
        _write_json(_token_document(src, style), out, force)
        return
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"IN is a folder, so OUT must be a folder; {output!r} is a file", param_hint="'-o'")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in READERS)
    if not files:
        raise click.ClickException(f"{src}: no files with suffix {_input_suffixes()} in this folder")
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    with _progress(files, len(files), "tokenizing") as bar:
        for path in bar:
            target = out / path.relative_to(src).with_suffix(".json")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_json(_token_document(path, style), target, force)
            except ComposerError as exc:
                failed.append(str(exc))
    click.echo(f"tokenized {len(files) - len(failed)} of {len(files)} files into {out}")
    if failed:
        for line in failed:
            click.echo(f"  failed: {line}", err=True)
        raise click.ClickException(f"{len(failed)} of {len(files)} files could not be tokenized")


def _read_token_document(path: Path) -> tuple[Any, list[int], list[str]]:
    from composer.errors import TokenizerError
    from composer.io import check_readable
    from composer.tokens import Tokenizer

    check_readable(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"{path}: not a token JSON file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tokenizer"), dict):
        raise TokenizerError(f"{path}: not a composer token file (no \"tokenizer\" object; write one with `composer tokenize`)")
    tokenizer = Tokenizer.from_dict(doc["tokenizer"], str(path))
    ids, names = doc.get("ids"), doc.get("tokens")
    if ids is None and names is None:
        raise TokenizerError(f"{path}: has neither \"ids\" nor \"tokens\"")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TokenizerError(f"{path}: \"tokens\" must be a list of token names")
        from_names = tokenizer.to_ids(names).tolist()
        if ids is not None and list(ids) != from_names:
            first = next((i for i, (a, b) in enumerate(zip(ids, from_names)) if a != b), min(len(ids), len(from_names)))
            raise TokenizerError(f"{path}: \"ids\" and \"tokens\" disagree at position {first}; delete one of them")
        ids = from_names
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TokenizerError(f"{path}: \"ids\" must be a list of integers")
    parts = doc.get("parts") if isinstance(doc.get("parts"), list) else []
    return tokenizer, ids, [str(p) for p in parts]


@cli.command()
@click.argument("source", metavar="TOKENS.json")
@click.option("-o", "--output", "output", required=True, metavar="OUT", help="Output score; the suffix picks the format.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def detokenize(source: str, output: str, force: bool) -> None:
    """Turn a token JSON file (from `composer tokenize`) back into a score."""
    import dataclasses

    from composer.io import WRITERS, write

    out = Path(output)
    if out.suffix.lower() not in WRITERS:
        raise click.BadParameter(f"unsupported output suffix {out.suffix or '(none)'!r}; expected one of {_output_suffixes()}", param_hint="'-o'")
    tokenizer, ids, names = _read_token_document(Path(source))
    score = tokenizer.decode(ids)
    if len(names) == score.num_parts:
        score = score.replace(parts=tuple(dataclasses.replace(p, name=n) for p, n in zip(score.parts, names)))
    write(score, out, force=force)


@cli.command()
@click.argument("source", metavar="IN")
@click.option("-o", "--output", "output", required=True, metavar="OUT", help="Output score; the suffix picks the format.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def convert(source: str, output: str, force: bool) -> None:
    """Read any supported score (MIDI, MusicXML/MXL, ABC) and write it in OUT's format."""
    from composer.io import WRITERS, read, write

    out = Path(output)
    if out.suffix.lower() not in WRITERS:
        raise click.BadParameter(f"unsupported output suffix {out.suffix or '(none)'!r}; expected one of {_output_suffixes()}", param_hint="'-o'")
    write(read(source), out, force=force)


# -- corpus ----------------------------------------------------------------
@cli.group(cls=ComposerGroup)
def corpus() -> None:
    """Build and inspect the bundled training corpus (midi_corpus/)."""


def _collection_names() -> list[str]:
    from composer.corpus import COLLECTIONS

    return list(COLLECTIONS)


@corpus.command("build")
@click.option("-o", "--output", "output", default="midi_corpus", show_default=True, help="Folder to build the corpus in.")
@click.option("--collection", "collections", multiple=True, type=click.Choice(_collection_names()), help="Build only these collections (repeatable; default all).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--force", is_flag=True, help="Replace an existing folder that is not a composer corpus.")
def corpus_build(output: str, collections: tuple[str, ...], jobs: int | None, force: bool) -> None:
    """Convert music21's bundled corpus into MIDI files with manifests. Deterministic and rerunnable."""
    from composer.corpus import COLLECTIONS, build

    bars: dict[str, Any] = {}

    def progress(collection: str, done: int, total: int) -> None:
        bar = bars.get(collection)
        if bar is None:
            bar = bars[collection] = click.progressbar(length=total, label=f"building {collection}", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    summary = build(Path(output), collections=collections or tuple(COLLECTIONS), jobs=jobs, progress=progress, force=force)
    for bar in bars.values():
        if not bar.finished:
            bar.__exit__(None, None, None)
    for name, info in summary.items():
        skipped = info.get("skipped", [])
        click.echo(f"{name}: {info.get('written', 0)} files written, {len(skipped)} skipped")
        for source, reason in skipped:
            click.echo(f"  skipped {source}: {reason}")


@corpus.command("info")
@click.argument("folder", default="midi_corpus")
def corpus_info(folder: str) -> None:
    """Counts of files and notes per collection and split."""
    from composer.corpus import info

    summary = info(Path(folder))
    click.echo(f"{'collection':<12} {'split':<6} {'files':>6} {'notes':>9}")
    for name, splits in summary.items():
        for split, counts in splits.items():
            click.echo(f"{name:<12} {split:<6} {counts['files']:>6} {counts['notes']:>9}")


def main() -> None:
    cli(prog_name="composer")
