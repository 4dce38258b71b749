"""A picture of a piece's form: the bar-by-bar self-similarity matrix of its top part.

Cell (i, j) is how alike bars i and j are (``composer.metrics.self_similarity``:
1 for a repeat, transposition allowed), so a returning section shows as a
dark diagonal stripe off the main diagonal. Drawn with matplotlib's
``Figure`` (no pyplot), as ``composer.render.pianoroll`` draws piano rolls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from composer.errors import WriteError
from composer.metrics import STRUCTURE_BARS, self_similarity
from composer.render.pianoroll import PIANO_ROLL_SUFFIXES, figure_class, save_figure
from composer.score import Score

STRUCTURE_SUFFIXES = PIANO_ROLL_SUFFIXES  # what ``write_self_similarity`` can write


def plot_self_similarity(score: Score, path: str | Path | None = None, ax: Any = None, *, bars: int = STRUCTURE_BARS, size: float = 4.0, dpi: int = 120) -> Any:
    """Draw the self-similarity matrix of the first ``bars`` bars on ``ax`` (default: a new Figure); save to ``path`` if given; return the Figure."""
    if len(score.notes) == 0:
        raise WriteError("cannot draw a self-similarity matrix: the score has no notes")
    matrix = self_similarity(score, bars)
    if ax is None:
        ax = figure_class()(figsize=(size + 0.9, size), dpi=dpi, layout="constrained").add_subplot()
    figure = ax.figure
    n = len(matrix)
    image = ax.imshow(matrix, cmap="Greys", vmin=0.0, vmax=1.0, origin="upper", extent=(0.5, n + 0.5, n + 0.5, 0.5))
    ticks = list(range(1, n + 1, max(1, n // 16)))
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("bar")
    ax.set_ylabel("bar")
    if score.title:
        ax.set_title(score.title)
    figure.colorbar(image, ax=ax, shrink=0.8, label="similarity")
    if path is not None:
        save_figure(figure, Path(path), what="the self-similarity matrix")
    return figure


def write_self_similarity(score: Score, path: str | Path, *, bars: int = STRUCTURE_BARS, force: bool = False) -> Path:
    """Write the self-similarity picture to ``path`` (PNG, or SVG/PDF by suffix) without ever leaving a half file."""
    from composer.io import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in STRUCTURE_SUFFIXES:
        raise WriteError(f"{path}: a self-similarity matrix is written as .png, .svg or .pdf, not {suffix or '(no suffix)'!r}")
    figure = plot_self_similarity(score, bars=bars)
    with atomic_path(path, force=force) as tmp:
        save_figure(figure, tmp, suffix.lstrip("."), what="the self-similarity matrix")
    return path
