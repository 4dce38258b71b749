"""The rendering layer: a Score to notation, engraved sheet music, audio, pictures and live MIDI.

Through ``composer.formats.write`` (``composer.write``, ``Score.write``) the output suffix decides
(``.mid``/``.midi`` are written by ``composer.io.midi``):

=============  ===========================================================  ==============================
suffix         what                                                         module
=============  ===========================================================  ==============================
.musicxml      MusicXML 4.0 (schema-valid, MuseScore-clean)                 ``composer.render.musicxml``
.mxl           compressed MusicXML                                          ``composer.render.musicxml``
.svg           sheet music, one SVG file (all systems on one tall page)    ``composer.render.engrave``
.png           sheet music, one PNG image (the same tall page)              ``composer.render.engrave``
.pdf           sheet music, A4 pages in one PDF                             ``composer.render.engrave``
.wav           audio: fluidsynth + GM soundfont, else pretty_midi           ``composer.render.audio``
=============  ===========================================================  ==============================

Also: ``to_music21`` (``notation``: a Score as a music21 stream, which the
MusicXML writer exports), ``write_piano_roll`` / ``plot`` (``pianoroll``), ``write_self_similarity`` /
``plot_self_similarity`` (``structure``: a piece's form at a glance), ``score_html`` for
Jupyter (``notebook``), and ``play`` / ``list_ports`` / ``schedule`` for live
MIDI output (``live``). Everything is imported lazily: ``import composer.render``
loads neither music21, verovio nor matplotlib.
"""

from __future__ import annotations

from composer.lazy import lazy_exports

_API = {
    "to_music21": "composer.render.notation",
    "to_musicxml": "composer.render.musicxml",
    "write_musicxml": "composer.render.musicxml",
    "write_mxl": "composer.render.musicxml",
    "choose_clef": "composer.render.musicxml",
    "svg_pages": "composer.render.engrave",
    "to_svg": "composer.render.engrave",
    "to_png": "composer.render.engrave",
    "to_pdf": "composer.render.engrave",
    "write_svg": "composer.render.engrave",
    "write_png": "composer.render.engrave",
    "write_pdf": "composer.render.engrave",
    "render_wav": "composer.render.audio",
    "write_wav": "composer.render.audio",
    "find_soundfont": "composer.render.audio",
    "plot": "composer.render.pianoroll",
    "write_piano_roll": "composer.render.pianoroll",
    "plot_self_similarity": "composer.render.structure",
    "write_self_similarity": "composer.render.structure",
    "score_html": "composer.render.notebook",
    "play": "composer.render.live",
    "list_ports": "composer.render.live",
    "schedule": "composer.render.live",
}

__all__ = list(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
