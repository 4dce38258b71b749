"""Reading scores from files and strings, writing MIDI, and atomic output.

* ``composer.io.midi``: standard MIDI files (read with symusic, written with mido);
* ``composer.io.notation``: MusicXML/MXL, ABC and TinyNotation through music21 (reading only;
  the MusicXML writer is ``composer.render.musicxml``);
* ``atomic_path``, ``write_bytes_atomic``, ``save_bytes``, ``check_writable``: outputs are
  written under a temporary name and renamed, so no half-written file is ever left.

Which suffix is read or written by what is decided in ``composer.formats``; nothing
here imports ``composer.render``. Everything is imported lazily.
"""

from __future__ import annotations

from composer.lazy import lazy_exports

_API = {
    "atomic_path": "composer.io.atomic",
    "check_writable": "composer.io.atomic",
    "save_bytes": "composer.io.atomic",
    "write_bytes_atomic": "composer.io.atomic",
    "check_readable": "composer.io.checks",
    # Kept so that ``from composer.formats import read, write`` (the old home of the suffix
    # tables) goes on working; they are ``composer.formats``'s, imported on first use.
    "READERS": "composer.formats",
    "WRITERS": "composer.formats",
    "check_readable": "composer.formats",
    "read": "composer.formats",
    "write": "composer.formats",
}

__all__ = list(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
