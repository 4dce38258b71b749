"""HTML for Jupyter: engraved sheet music (inline SVG) and an audio player.

``score_html(score)`` is what ``Score._repr_html_`` returns. It is kept light:
at most ``MAX_PAGES`` A4 pages of music, and audio of at most ``MAX_AUDIO_SECONDS``
at ``AUDIO_SAMPLE_RATE``, mono (fluidsynth when there, else pretty_midi's synthesis),
embedded as a base64 WAV data URI. A part that cannot be made (no audio
synthesis, a score verovio cannot engrave) is replaced by a one-line note, so
displaying a score never raises.
"""

from __future__ import annotations

import base64
import html

from composer.errors import ComposerError
from composer.score import Score, slice_bars

MAX_PAGES = 2
MAX_AUDIO_SECONDS = 120.0
AUDIO_SAMPLE_RATE = 16000
SVG_SCALE = 35  # percent: a page about 735 px wide


def _note(text: str) -> str:
    return f'<p style="color:#a00;font-family:monospace">{html.escape(text)}</p>'


def _sheet(score: Score, max_pages: int) -> str:
    from composer.render.engrave import svg_pages

    try:
        pages = svg_pages(score, max_pages=max_pages, scale=SVG_SCALE)
    except ComposerError as exc:
        return _note(f"sheet music: {exc}")
    return "\n".join(f'<div class="composer-page" style="background:white">{page}</div>' for page in pages)


def _audio(score: Score, max_seconds: float, sample_rate: int) -> str:
    from composer.render.audio import seconds_of, ticks_to_seconds, wav_data

    clipped = ""
    if seconds_of(score) > max_seconds:
        bars = score.bar_starts()
        fits = [i for i, tick in enumerate(bars.tolist()) if ticks_to_seconds(score, tick) <= max_seconds]
        stop = max(fits[-1], 1) if fits else 1
        score = slice_bars(score, 0, stop)
        clipped = f" (first {stop} bars)"
    try:
        data, backend = wav_data(score, sample_rate=sample_rate, mono=True)
    except ComposerError as exc:
        return _note(f"audio: {exc}")
    source = "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")
    label = html.escape(f"{backend}{clipped}")
    return f'<div class="composer-audio"><audio controls preload="none" src="{source}"></audio> <small>{label}</small></div>'


def score_html(score: Score, *, max_pages: int = MAX_PAGES, audio: bool = True, max_audio_seconds: float = MAX_AUDIO_SECONDS, sample_rate: int = AUDIO_SAMPLE_RATE) -> str:
    """Sheet music (first ``max_pages`` pages) and an ``<audio controls>`` player, as one HTML fragment."""
    title = html.escape(repr(score))
    if len(score.notes) == 0:
        return f'<div class="composer-score"><p>{title}</p><p>(empty score: nothing to show or play)</p></div>'
    parts = [f'<div class="composer-score"><p style="font-family:monospace">{title}</p>', _sheet(score, max_pages)]
    if audio:
        parts.append(_audio(score, max_audio_seconds, sample_rate))
    parts.append("</div>")
    return "\n".join(parts)
