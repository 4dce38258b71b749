"""Play a score in real time through a MIDI output port (``composer play``), with mido.

``schedule(score)`` gives the (seconds, message) pairs that ``play`` sends, in
order, the tempo map applied; it needs no port, so it is what the tests check.
mido's port backend (python-rtmidi) is optional: without it, or without any
output port, ``list_ports`` and ``play`` raise a one-line ``WriteError``.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from composer.errors import WriteError
from composer.score import Score

NO_PORTS_HINT = "install python-rtmidi, and start a software synthesizer or connect a MIDI device"


def schedule(score: Score) -> Iterator[tuple[float, Any]]:
    """(seconds from the start, mido.Message) for every channel message, in sending order."""
    from composer.io.midi import to_midi_file

    now = 0.0
    for message in to_midi_file(score):  # mido turns ticks into seconds through the tempo changes
        now += message.time
        if message.is_meta:
            continue
        yield now, message.copy(time=0)


def _output_names() -> list[str]:
    import mido

    try:
        names = list(mido.get_output_names())
    except ImportError as exc:
        raise WriteError(f"no MIDI output ports: mido's port backend is missing ({exc}); install python-rtmidi") from exc
    except Exception as exc:  # rtmidi raises its own errors when no MIDI system is there (no ALSA, ...)
        raise WriteError(f"no MIDI output ports: {' '.join(str(exc).split())[:160] or type(exc).__name__} ({NO_PORTS_HINT})") from exc
    if not names:
        raise WriteError(f"no MIDI output ports found ({NO_PORTS_HINT})")
    return names


def list_ports() -> list[str]:
    """Names of the MIDI output ports; raises WriteError when there are none or no backend."""
    return _output_names()


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
