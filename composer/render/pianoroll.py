"""Piano-roll pictures with matplotlib: one colour a part, bar lines, pitch names on the y axis.

matplotlib is imported inside the functions, and figures are built with
``matplotlib.figure.Figure`` (no pyplot), so nothing depends on, or changes,
the process's matplotlib backend; files are drawn with Agg.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import numpy as np

from composer.errors import WriteError
from composer.score import Score

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
PIANO_ROLL_SUFFIXES = (".png", ".svg", ".pdf")  # what ``write_piano_roll`` (and ``--piano-roll``) can write
ALL_NAMES_UP_TO = 24  # label every pitch when the range spans at most this many semitones, else every C


def pitch_name(pitch: int) -> str:
    """'C4' for 60 (middle C), 'F#3' for 54."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


@functools.cache
def figure_class() -> type:
    """A Figure that shows itself in a notebook as a PNG: built without pyplot, it has no inline backend to do it."""
    from matplotlib.figure import Figure

    class PianoRollFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return PianoRollFigure


def plot(score: Score, path: str | Path | None = None, ax: Any = None, *, width: float | None = None, height: float | None = None, dpi: int = 120) -> Any:
    """Draw the piano roll on ``ax`` (default: a new Figure); save it to ``path`` if given; return the Figure.

    The x axis counts quarter notes, with bar numbers at the bar lines.
    """
    # matplotlib.figure first, as matplotlib's own modules import it: taking matplotlib.patches
    # first once failed with a circular import inside a Jupyter kernel.
    new_figure = figure_class()
    from matplotlib.patches import Patch

    if len(score.notes) == 0:
        raise WriteError("cannot draw a piano roll: the score has no notes")
    tpb = score.ticks_per_beat
    notes = score.notes
    lo, hi = int(notes["pitch"].min()), int(notes["pitch"].max())
    end_beats = score.end_tick / tpb
    if ax is None:
        figure_width = width or float(np.clip(3 + end_beats * 0.18, 6, 24))
        figure_height = height or float(np.clip(1.5 + (hi - lo + 3) * 0.14, 3, 12))
        figure = new_figure(figsize=(figure_width, figure_height), dpi=dpi, layout="constrained")
        ax = figure.add_subplot()
    figure = ax.figure

    handles = []
    for index in range(max(score.num_parts, 1)):
        mine = notes[notes["part"] == index]
        if len(mine) == 0:
            continue
        colour = COLOURS[index % len(COLOURS)]
        ax.barh(
            mine["pitch"],
            mine["duration_ticks"] / tpb,
            left=mine["start_tick"] / tpb,
            height=0.8,
            color=colour,
            edgecolor="black",
            linewidth=0.3,
            align="center",
        )
        name = score.parts[index].name if index < score.num_parts else f"Part {index + 1}"
        handles.append(Patch(facecolor=colour, edgecolor="black", linewidth=0.3, label=name or f"Part {index + 1}"))

    bars = score.bar_starts() / tpb
    ax.vlines([*bars.tolist(), end_beats], 0, 1, transform=ax.get_xaxis_transform(), colors="0.55", linewidth=0.6, zorder=0)
    step = max(1, int(np.ceil(len(bars) / 32)))  # at most about 32 bar numbers
    ax.set_xticks(bars[::step], [str(i + 1) for i in range(0, len(bars), step)])
    ax.set_xlabel("bar")

    if hi - lo <= ALL_NAMES_UP_TO:
        ticks = list(range(lo, hi + 1))
    else:
        ticks = [p for p in range(lo, hi + 1) if p % 12 == 0] or [lo]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.set_yticks(range(lo, hi + 1), minor=True)
    ax.set_ylim(lo - 1, hi + 1)
    ax.set_xlim(0, max(end_beats, float(bars[-1]) if len(bars) else 0.0) or 1.0)
    ax.grid(axis="y", color="0.9", linewidth=0.5, zorder=0)
    ax.set_axisbelow(True)
    if score.title:
        ax.set_title(score.title)
    if len(handles) > 1:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize="small", frameon=False)
    if path is not None:
        save_figure(figure, Path(path))
    return figure


def save_figure(figure: Any, path: Path, format: str | None = None, what: str = "the piano roll") -> None:
    """Save a matplotlib figure on white; a failure is a ``WriteError`` naming ``path`` and ``what`` it is."""
    format = format or path.suffix.lower().lstrip(".") or "png"
    try:
        figure.savefig(path, format=format, facecolor="white")
    except (OSError, ValueError) as exc:
        raise WriteError(f"{path}: cannot write {what} ({exc})") from exc


def write_piano_roll(score: Score, path: str | Path, *, force: bool = False) -> Path:
    """Write the piano roll to ``path`` (PNG, or SVG/PDF by suffix) without ever leaving a half file."""
    from composer.io import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PIANO_ROLL_SUFFIXES:
        raise WriteError(f"{path}: a piano roll is written as .png, .svg or .pdf, not {suffix or '(no suffix)'!r}")
    figure = plot(score)  # draw first: a score that cannot be drawn leaves nothing behind
    with atomic_path(path, force=force) as tmp:
        save_figure(figure, tmp, suffix.lstrip("."))
    return path
