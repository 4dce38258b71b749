"""Form: do pieces repeat and breathe? Structure figures of generated pieces beside real ones.

    python benchmarks/structure.py [--models folk chorale] [--pieces 20] [--bars 16] [--corpus midi_corpus] [--quick]
        [--form AABB --section-bars 4 --phrase-bars 4 --form-models folk]
    python benchmarks/structure.py --picture examples/images/self_similarity.png


For each model, ``--pieces`` pieces of ``--bars`` bars generated from scratch
(random seeds 0..N-1), beside the first ``--bars`` bars of the first
``--pieces`` pieces of the valid split of the model's collection (never the
test split), and the same random seeds with ``--no-learned-form`` (no form drawn
from the style's learned forms: the model's own course). For each of ``--form-models``, two more rows: the same random seeds with
``--phrase-bars`` alone, and with ``--form``, ``--section-bars`` and ``--phrase-bars``
(``composer generate --form AABB --section-bars 4 --phrase-bars 4``). Each column is the mean over the pieces of
``composer.metrics.structure_metrics`` (top part; see its docstring for the
definitions of repeats and cadences). ``--quick``: 3 pieces, 8 bars, phrases of 2 bars.
``--picture``: instead, the self-similarity matrices of a real folk tune
(``PICTURE_TUNE``, valid split), of the folk model's piece of random seed 0
with ``--no-learned-form``, and of its piece of the first random seed (from 0)
whose drawn form brings a section back.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from composer.evaluation import mean_structure  # noqa: E402
from composer.metrics import STRUCTURE_LABELS  # noqa: E402
from composer.score import Score  # noqa: E402

COLLECTIONS = {"folk": "folk", "chorale": "chorales"}  # shipped model -> its corpus collection
QUICK_PIECES, QUICK_BARS, QUICK_PHRASE_BARS = 3, 8, 2
PICTURE_TUNE = "folk/aird_book2_0320.mid"  # a valid-split tune that repeats its sections (6 of its 16 bars)


def real_pieces(corpus: str | Path, collection: str, pieces: int, bars: int) -> list[Score]:
    """The first ``bars`` bars of the first ``pieces`` readable pieces of the collection's valid split."""
    from composer.corpus.reading import iter_files
    from composer.errors import ComposerError
    from composer.formats import read
    from composer.theory import opening

    out = []
    for path in iter_files(corpus, collection, "valid"):
        try:
            out.append(opening(read(path), bars))
        except ComposerError:
            continue
        if len(out) == pieces:
            break
    return out


def generated_pieces(model: object, pieces: int, bars: int, **settings: object) -> list[Score]:
    """``pieces`` pieces from scratch, random seeds 0..pieces-1, with generation ``settings`` (form, phrase_bars, ...)."""
    return [model.generate(None, bars=bars, random_seed=i, **settings) for i in range(pieces)]


def rows_for(name: str, model: object, corpus: str | Path, collection: str, pieces: int, bars: int, variants: Sequence[dict[str, object]] = ()) -> list[tuple[str, dict[str, float]]]:
    """The model's row, a row per dict of settings in ``variants``, and the real pieces' row."""
    rows = [(f"{name} model", mean_structure(generated_pieces(model, pieces, bars), bars))]
    for settings in ({"learned_form": False}, *variants):
        label = " ".join(_flag(k, v) for k, v in settings.items())
        rows.append((f"{name} model, {label}", mean_structure(generated_pieces(model, pieces, bars, **settings), bars)))
    return rows + [(f"real {collection} (valid)", mean_structure(real_pieces(corpus, collection, pieces, bars), bars))]


def _flag(name: str, value: object) -> str:
    option = name.replace("_", "-")
    return (f"--{option}" if value else f"--no-{option}") if isinstance(value, bool) else f"--{option} {value}"


def form_variants(form: str | None, section_bars: int | None, phrase_bars: int | None) -> list[dict[str, object]]:
    """--phrase-bars alone, then with the form (none without a form)."""
    if not form:
        return []
    phrased = [{"phrase_bars": phrase_bars}] if phrase_bars else []
    shaped = {"form": form, **({"section_bars": section_bars} if section_bars else {}), **({"phrase_bars": phrase_bars} if phrase_bars else {})}
    return phrased + [shaped]


def markdown_table(rows: Sequence[tuple[str, dict[str, float]]]) -> str:
    names = list(STRUCTURE_LABELS)
    lines = ["| pieces | " + " | ".join(STRUCTURE_LABELS[n] for n in names) + " |", "|---|" + "---:|" * len(names)]
    for label, values in rows:
        lines.append(f"| {label} | " + " | ".join("–" if math.isnan(values[n]) else f"{100 * values[n]:.0f}%" for n in names) + " |")
    return "\n".join(lines)


def picture(path: str | Path, model: object, corpus: str | Path, bars: int) -> None:
    """Two self-similarity matrices side by side: a real tune and a generated piece."""
    from composer.formats import read
    from composer.render.pianoroll import figure_class, save_figure
    from composer.render.structure import plot_self_similarity
    from composer.theory import opening

    real = opening(read(Path(corpus) / PICTURE_TUNE), bars).replace(title=f"real: {Path(PICTURE_TUNE).stem}")
    free = model.generate(None, bars=bars, random_seed=0, learned_form=False).replace(title="folk model, --no-learned-form, seed 0")
    seed, made = next((i, piece) for i in range(100) if (piece := model.generate(None, bars=bars, random_seed=i)).metadata.get("settings", "").count(", form="))
    form = made.metadata["settings"].split(", form=")[1].split(",")[0]
    made = made.replace(title=f"folk model, seed {seed}: drew {form}")
    figure = figure_class()(figsize=(13, 4), dpi=80, layout="constrained")
    for ax, score in zip(figure.subplots(1, 3), (real, free, made)):
        plot_self_similarity(score, ax=ax, bars=bars)
    save_figure(figure, Path(path), what="the self-similarity picture")


def main(argv: Sequence[str] | None = None) -> None:
    import composer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["folk", "chorale"],
                        help="model names, or LABEL=PATH with LABEL starting with the style (folk-before=old.safetensors) to compare files")
    parser.add_argument("--pieces", type=int, default=20)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--corpus", default="midi_corpus")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PIECES} pieces of {QUICK_BARS} bars")
    parser.add_argument("--picture", metavar="PNG", help="draw the self-similarity picture to PNG instead")
    parser.add_argument("--form", default="AABB", help="the form of the extra rows ('' for none)")
    parser.add_argument("--section-bars", type=int, default=None, help="bars per section (default: --bars divided by the sections)")
    parser.add_argument("--phrase-bars", type=int, default=4)
    parser.add_argument("--form-models", nargs="*", default=["folk"], help="the models that get the extra rows")
    args = parser.parse_args(argv)
    if args.picture:
        picture(args.picture, composer.load_model("folk"), args.corpus, args.bars)
        return
    pieces, bars = (QUICK_PIECES, QUICK_BARS) if args.quick else (args.pieces, args.bars)
    rows = []
    for entry in args.models:
        name, _, path = entry.partition("=")
        style = next((s for s in COLLECTIONS if name.startswith(s)), name)
        phrase_bars = QUICK_PHRASE_BARS if args.quick else args.phrase_bars
        variants = form_variants(args.form, args.section_bars, phrase_bars) if name in args.form_models else []
        rows += rows_for(name, composer.load_model(path or name), args.corpus, COLLECTIONS.get(style, style), pieces, bars, variants)
    print(f"{pieces} pieces of {bars} bars each, top part:\n")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
