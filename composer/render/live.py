"""Play a score in real time through a MIDI output port (``composer play``), with mido.

``schedule(score)`` gives the (seconds, message) pairs that ``play`` sends, in
order, the tempo map applied; it needs no port, so it is what the tests check.
mido's port backend (python-rtmidi) is optional: without it, ``find_ports``,
``list_ports`` and ``play`` raise a one-line ``WriteError`` that says to
install it. With it but without any output port (no MIDI device, no software
synthesizer, or no MIDI sequencer at all, as in most containers), ``find_ports``
says why in one line and ``play`` raises that line. The line the ALSA library
prints on stderr when it finds no sequencer is caught and folded into that
reason, not left on the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from composer.errors import WriteError
from composer.score import Score

BACKEND_HINT = "install python-rtmidi (pip install 'composer[live]')"
NO_PORTS_HINT = "start a software synthesizer (such as FluidSynth) or connect a MIDI device"
_ALSA_PREFIX = re.compile(r"^ALSA lib [^ ]*\([^)]*\) ")  # "ALSA lib seq_hw.c:466:(snd_seq_hw_open) open /dev/snd/seq failed: ..."


def schedule(score: Score) -> Iterator[tuple[float, Any]]:
    """(seconds from the start, mido.Message) for every channel message, in sending order."""
    from composer.io.midi import to_midi_file

    now = 0.0
    for message in to_midi_file(score):  # mido turns ticks into seconds through the tempo changes
        now += message.time
        if message.is_meta:
            continue
        yield now, message.copy(time=0)


@contextmanager
def _c_stderr() -> Iterator[list[str]]:
    """Catch what C libraries (ALSA) print on file descriptor 2 meanwhile; the lines land in the list yielded."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to borrow: leave it alone
        yield lines
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines += [line.strip() for line in caught.read().decode("utf-8", "replace").splitlines() if line.strip()]


def find_ports() -> tuple[list[str], str | None]:
    """(names of the MIDI output ports, why there are none: None when there are some).

    Raises WriteError when mido's port backend (python-rtmidi) is not installed.
    """
    import mido

    with _c_stderr() as printed:
        try:
            names, error = list(mido.get_output_names()), None
        except ImportError as exc:
            raise WriteError(f"no MIDI output ports: mido's port backend is missing ({exc}); {BACKEND_HINT}") from exc
        except Exception as exc:  # rtmidi raises its own errors when no MIDI system is there (no ALSA sequencer, ...)
            names, error = [], exc
    if names:
        return names, None
    said = [_ALSA_PREFIX.sub("ALSA: ", line) for line in printed]
    if error is None and not said:
        return [], f"no MIDI device is connected and no software synthesizer is running; {NO_PORTS_HINT}"
    detail = said[0] if said else " ".join(str(error).split()) or type(error).__name__
    return [], f"the MIDI system could not be opened ({detail[:160]}); {NO_PORTS_HINT}"


def list_ports() -> list[str]:
    """Names of the MIDI output ports ([] when there are none: ``find_ports`` says why); raises WriteError without a backend."""
    return find_ports()[0]


def _output_names() -> list[str]:
    names, why = find_ports()
    if not names:
        raise WriteError(f"no MIDI output ports: {why}")
    return names


def open_port(port_name: str | None = None) -> Any:
    """Open an output port: ``port_name`` (exact, else the only port whose name contains it), or the first."""
    import mido

    names = _output_names()
    if port_name is None:
        chosen = names[0]
    elif port_name in names:
        chosen = port_name
    else:
        matches = [n for n in names if port_name.lower() in n.lower()]
        if len(matches) != 1:
            shown = ", ".join(repr(n) for n in names)
            what = "matches several" if matches else "matches none"
            raise WriteError(f"MIDI port {port_name!r} {what} of the output ports: {shown}")
        chosen = matches[0]
    try:
        return mido.open_output(chosen)
    except Exception as exc:
        raise WriteError(f"cannot open MIDI port {chosen!r} ({' '.join(str(exc).split())[:160]})") from exc


def play(
    score: Score,
    port_name: str | None = None,
    *,
    port: Any = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Send the score to a MIDI output port in real time; returns the seconds it took.

    ``port`` (anything with ``send``) is used instead of opening ``port_name``.
    On any exit, Ctrl-C included, all notes are switched off before the
    exception goes on.
    """
    if len(score.notes) == 0:
        raise WriteError("cannot play: the score has no notes")
    events = list(schedule(score))
    owned = port is None
    if owned:
        port = open_port(port_name)
    start = clock()
    try:
        for at, message in events:
            wait = start + at - clock()
            if wait > 0:
                sleep(wait)
            port.send(message)
    finally:
        try:
            if hasattr(port, "reset"):
                port.reset()  # all notes off, controllers reset, on every channel
        finally:
            if owned:
                port.close()
    return clock() - start
