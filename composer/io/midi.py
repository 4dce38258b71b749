"""Standard MIDI files: read with symusic (C++, fast), write with mido (full control of meta events).

symusic splits a type 0 file, or a track that mixes channels, into one track
per channel, so every channel becomes its own part; channel 10 (drums) always
becomes a part of its own with ``is_drum=True``.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from composer.errors import ReadError, ScoreError, WriteError
from composer.limits import MAX_MIDI_DELTA, check_score, check_size
from composer.score import (
    DEFAULT_TEMPO_QPM,
    DEFAULT_TIME_SIGNATURE,
    KEY_SIGNATURE_DTYPE,
    MARKER_DTYPE,
    MARKER_KINDS,
    MARKER_TEXT,
    NOTE_DTYPE,
    SHARPS_MAX,
    SHARPS_MIN,
    TEMPO_DTYPE,
    TIME_SIGNATURE_DTYPE,
    VELOCITY_MIN,
    Part,
    Score,
    canonical_order,
    resample,
)

DRUM_CHANNEL = 9  # zero-based; "channel 10" to musicians
MAX_TICKS_PER_BEAT = 0x7FFF  # the MIDI header holds the resolution in 15 bits
METADATA_PREFIX = "composer:"  # text meta events that carry Score.metadata

_MAJOR = {-7: "Cb", -6: "Gb", -5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#", 7: "C#"}
_MINOR = {-7: "Abm", -6: "Ebm", -5: "Bbm", -4: "Fm", -3: "Cm", -2: "Gm", -1: "Dm", 0: "Am", 1: "Em", 2: "Bm", 3: "F#m", 4: "C#m", 5: "G#m", 6: "D#m", 7: "A#m"}


def _qpm(mspq: int) -> float:
    """``np.round(60_000_000.0 / np.maximum(mspq, 1), 2)`` for one value, in plain float arithmetic.

    numpy rounds to 2 decimals as ``rint(x * 100.0) / 100.0``; ``round`` on a
    float is round-half-even like ``rint``, and its int result (< 2**53) converts
    back to float exactly, so this gives the same bits.
    """
    return round(60_000_000.0 / max(mspq, 1) * 100.0) / 100.0


_PARTS: dict[tuple[str, int, bool], Part] = {}


def _part(name: str, program: int, is_drum: bool) -> Part:
    """A Part, shared between scores: Parts are frozen, and building one costs more than a lookup."""
    part = _PARTS.get((name, program, is_drum))
    if part is None:
        if len(_PARTS) >= 1024:
            _PARTS.clear()
        part = _PARTS[(name, program, is_drum)] = Part(name=name, program=program, is_drum=is_drum)
    return part


def score_from_symusic(sm: object, source: str = "<midi>", *, title: str = "", metadata: dict[str, str] | None = None) -> Score:
    """Convert a ``symusic.Score`` (tick time) to a Score without per-note Python objects."""
    columns, parts = _tracks(sm)
    if not columns:
        raise ReadError(f"{source}: MIDI file contains no notes")
    notes = _note_array(columns, len(parts))
    time_signatures, keys, tempos = _meta_maps(sm)
    ticks_per_beat = int(sm.ticks_per_quarter)  # type: ignore[attr-defined]
    if ticks_per_beat <= 0:
        raise ScoreError(f"ticks_per_beat must be positive, got {ticks_per_beat}")
    # Every field was range-checked, the notes are in canonical order and the maps sorted with
    # their defaults in place: all that Score() would do, so the Score is assembled directly.
    return Score.assemble(
        notes,
        tuple(parts),
        ticks_per_beat,
        np.array(time_signatures, TIME_SIGNATURE_DTYPE),
        np.array(keys, KEY_SIGNATURE_DTYPE) if keys else np.zeros(0, KEY_SIGNATURE_DTYPE),
        np.array(tempos, TEMPO_DTYPE),
        title,
        metadata,
        _marker_array(sm),
    )


def _marker_array(sm: object) -> np.ndarray | None:
    """The file's marker meta events whose text names a kind (``MARKER_KINDS``), in ``marker_order``; other markers are ignored."""
    table = sm.markers  # type: ignore[attr-defined]
    if len(table) == 0:
        return None
    rows = {(row.time, MARKER_KINDS[text]) for row in (table[i] for i in range(len(table))) if (text := row.text.strip().lower()) in MARKER_KINDS}
    return np.array(sorted(rows), MARKER_DTYPE) if rows else None


def _tracks(sm: object) -> tuple[list[dict[str, np.ndarray]], list[Part]]:
    """Each track with notes: its note columns (symusic's numpy view) and its Part."""
    columns: list[dict[str, np.ndarray]] = []
    parts: list[Part] = []
    names_seen: dict[str, int] = {}
    tracks = sm.tracks  # type: ignore[attr-defined]
    for t in range(len(tracks)):  # indexing is cheaper than iterating symusic's track list
        track = tracks[t]
        track_notes = track.notes
        if len(track_notes) == 0:
            continue
        name = track.name.strip() or ("Drums" if track.is_drum else f"Part {len(parts) + 1}")
        names_seen[name] = names_seen.get(name, 0) + 1
        if names_seen[name] > 1:  # a type 0 file split by channel repeats the track name
            name = f"{name} {names_seen[name]}"
        columns.append(track_notes.numpy())
        parts.append(_part(name, int(track.program), bool(track.is_drum)))
    return columns, parts


def _note_array(columns: list[dict[str, np.ndarray]], num_parts: int) -> np.ndarray:
    """The tracks' notes as one NOTE_DTYPE array in canonical order."""
    # sanitize_data keeps pitch and velocity in 0..127; velocity 0 would mean note-off.
    # Where every track's onsets strictly increase (monophonic parts, the usual case), canonical
    # order (start, part, -pitch, duration) is just onset order, ties going to the lower part;
    # the onsets come as contiguous int32 here, cheaper to check than the Score's note fields.
    if len(columns) == 1:  # one track: no concatenation, and in order if its onsets increase
        arrays = columns[0]
        time, duration, pitch, velocity = arrays["time"], arrays["duration"], arrays["pitch"], arrays["velocity"]
        notes = np.zeros(len(time), NOTE_DTYPE)  # (zeroed: part 0)
        rising = np.count_nonzero(time[1:] > time[:-1]) == len(time) - 1  # (cheaper than .all())
        order = None
    else:
        sizes = [len(c["time"]) for c in columns]
        time = np.concatenate([c["time"] for c in columns])
        duration = np.concatenate([c["duration"] for c in columns])
        pitch = np.concatenate([c["pitch"] for c in columns])
        velocity = np.concatenate([c["velocity"] for c in columns])
        notes = np.empty(len(time), NOTE_DTYPE)
        part = notes["part"]
        step_up = time[1:] > time[:-1]
        begin = 0
        for index, size in enumerate(sizes):
            part[begin : begin + size] = index
            begin += size
            step_up[begin - 1 : begin] = True  # where this track ends and the next begins (none after the last)
        rising = np.count_nonzero(step_up) == len(step_up)
        # A stable sort by onset keeps the tracks' order (= part order) among equal onsets.
        order = time.argsort(kind="stable") if rising else None
    notes["start_tick"] = time
    notes["pitch"] = pitch
    # Clamp with a check first: copying is cheaper than np.maximum into a field, and clamping is rare.
    notes["duration_ticks"] = duration
    if np.minimum.reduce(duration) < 1:
        np.maximum(duration, 1, out=notes["duration_ticks"])
    notes["velocity"] = velocity
    if np.minimum.reduce(velocity) < VELOCITY_MIN:
        np.maximum(velocity, VELOCITY_MIN, out=notes["velocity"])
    if order is not None:
        return notes.take(order)
    return notes if rising else canonical_order(notes, num_parts)


def _meta_maps(sm: object) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Time signature, key and tempo rows, sorted by tick with one a tick, defaults at tick 0."""
    # The meta tables hold a row or two: plain Python beats numpy calls on 1-element arrays.
    table = sm.time_signatures  # type: ignore[attr-defined]
    time_signatures: list[tuple] = []
    for i in range(len(table)):
        row = table[i]
        num, den = row.numerator, row.denominator
        if num > 0 and den > 0 and den & (den - 1) == 0:
            time_signatures.append((row.time, num, den))
    time_signatures = _by_tick_rows(time_signatures)
    if not time_signatures or time_signatures[0][0] > 0:
        time_signatures.insert(0, (0, *DEFAULT_TIME_SIGNATURE))
    table = sm.key_signatures  # type: ignore[attr-defined]
    keys: list[tuple] = []
    for i in range(len(table)):
        row = table[i]
        sharps = row.key
        if SHARPS_MIN <= sharps <= SHARPS_MAX:
            keys.append((row.time, sharps, row.tonality != 0))
    keys = _by_tick_rows(keys)
    table = sm.tempos  # type: ignore[attr-defined]
    # MIDI stores whole microseconds a beat; round so 90 qpm reads back as 90, not 89.99995.
    tempos = _by_tick_rows([(row.time, _qpm(row.mspq)) for row in (table[i] for i in range(len(table)))])
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, DEFAULT_TEMPO_QPM))
    return time_signatures, keys, tempos


def _tick(row: tuple) -> int:
    return row[0]


def _by_tick_rows(rows: list[tuple]) -> list[tuple]:
    """``composer.score._by_tick`` on row tuples: sorted by tick (stably), the last of a tick kept."""
    if len(rows) > 1 and not all(a[0] < b[0] for a, b in zip(rows, rows[1:])):
        rows.sort(key=_tick)
        rows = [row for row, after in zip(rows, rows[1:]) if row[0] != after[0]] + rows[-1:]
    return rows


_parse = None  # symusic's parser, bound on first use (importing symusic is slow)


def _import_symusic() -> Any:
    """``import symusic``, less the download library its soundfont module loads at import.

    symusic's soundfont module imports pySmartDL (and with it urllib, http,
    email, ssl: about 0.1 s, more than half of symusic's import) to fetch
    soundfonts, which reading MIDI never does. While symusic loads, a stand-in
    takes pySmartDL's place; the real one is imported when anything of it is used.
    """
    if "symusic" in sys.modules or "pySmartDL" in sys.modules:
        import symusic

        return symusic
    stand_in = types.ModuleType("pySmartDL", "stands in for pySmartDL until it is used")

    def real() -> Any:
        if sys.modules.get("pySmartDL") is stand_in:
            del sys.modules["pySmartDL"]
        return importlib.import_module("pySmartDL")

    def SmartDL(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 (the name symusic imports)
        return real().SmartDL(*args, **kwargs)

    stand_in.SmartDL = SmartDL  # type: ignore[attr-defined]
    def rest(name: str) -> Any:
        if name.startswith("__"):  # the import system asks for __path__ and the like
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.__getattr__ = rest  # type: ignore[method-assign]
    sys.modules["pySmartDL"] = stand_in
    try:
        import symusic
    finally:
        if sys.modules.get("pySmartDL") is stand_in:
            del sys.modules["pySmartDL"]
    return symusic


def _parser():
    global _parse
    symusic = _import_symusic()

    # The core class is what ``symusic.Score.from_midi(data, sanitize_data=True)`` dispatches
    # to for tick time; calling it directly skips the factory's Python layer.
    core = getattr(getattr(symusic, "core", None), "ScoreTick", None)
    if core is not None:
        _parse = lambda data: core.from_midi(data, True)  # noqa: E731
    else:
        _parse = lambda data: symusic.Score.from_midi(data, sanitize_data=True)  # noqa: E731
    return _parse


def read_midi_bytes(data: bytes, source: str = "<midi>") -> Score:
    """Parse the bytes of a type 0 or type 1 standard MIDI file."""
    if len(data) == 0:
        raise ReadError(f"{source}: file is empty")
    if data[:4] != b"MThd":
        raise ReadError(f"{source}: not a MIDI file (it does not start with 'MThd')")
    try:
        sm = (_parse or _parser())(data)
    except Exception as exc:  # symusic raises RuntimeError for truncated/corrupt data
        message = str(exc).replace("MiniMidi: ", "").replace(": iostream error", "").replace("Invaild", "invalid")
        raise ReadError(f"{source}: corrupt or truncated MIDI file ({message})") from exc
    if sm.ticks_per_quarter <= 0:
        raise ReadError(f"{source}: unsupported MIDI time division (SMPTE timing or zero ticks per beat)")
    title, metadata = leading_text(data)
    return check_score(score_from_symusic(sm, source, title=title, metadata=metadata), source)


META_TRACK_NAME, META_TEXT = 0x03, 0x01


def leading_text(data: bytes) -> tuple[str, dict[str, str]]:
    """The title and ``composer:key=value`` metadata from the meta events that open the first track.

    symusic, which reads the notes, keeps no text events, and mido would parse
    the whole file; so this reads only the run of meta events at the start of
    the first track (where ``write_midi`` puts them), as UTF-8, and gives up
    quietly at anything unexpected: the notes are what a MIDI file must have.
    """
    title, metadata = "", {}
    try:
        at = 8 + int.from_bytes(data[4:8], "big")  # past the header chunk
        if data[at:at + 4] != b"MTrk":
            return title, metadata
        end = min(len(data), at + 8 + int.from_bytes(data[at + 4:at + 8], "big"))
        at += 8
        while at < end:
            _, at = _variable_int(data, at)  # delta time
            if data[at] != 0xFF:
                break  # the first event that is not a meta event ends the run
            kind = data[at + 1]
            length, at = _variable_int(data, at + 2)
            if at + length > end:
                break  # cut short
            text = data[at:at + length].decode("utf-8", errors="replace")
            at += length
            if kind == META_TRACK_NAME and not title:
                title = text
            elif kind == META_TEXT and text.startswith(METADATA_PREFIX) and "=" in text:
                key, value = text[len(METADATA_PREFIX):].split("=", 1)
                metadata[key] = value
    except IndexError:  # a truncated run: keep what was read
        pass
    return title, metadata


def _variable_int(data: bytes, at: int) -> tuple[int, int]:
    """A MIDI variable-length quantity at ``at``: (value, the offset after it)."""
    value = 0
    for _ in range(4):  # at most four bytes by the standard
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    return value, at


def read_midi(path: str | Path) -> Score:
    """Read a standard MIDI file (any resolution; tempo, meter and key changes; several tracks)."""
    path = Path(path)
    try:
        with open(path, "rb") as file:  # one open: its size checked, then read
            check_size(os.fstat(file.fileno()).st_size, str(path))
            data = file.read()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror})") from exc
    return read_midi_bytes(data, str(path))


def channels(parts: tuple[Part, ...]) -> list[int]:
    """The zero-based MIDI channel of each part: drums on ``DRUM_CHANNEL``, the others in turn on the rest."""
    melodic = [c for c in range(16) if c != DRUM_CHANNEL]
    out, i = [], 0
    for part in parts:
        if part.is_drum:
            out.append(DRUM_CHANNEL)
        else:
            out.append(melodic[i % len(melodic)])
            i += 1
    return out


def to_midi_file(score: Score) -> "mido.MidiFile":  # noqa: F821
    """Build a type 1 ``mido.MidiFile``: a conductor track, then one track per part."""
    import mido

    if score.ticks_per_beat > MAX_TICKS_PER_BEAT:
        score = resample(score, 960)
    # UTF-8 text: part names and provenance are not limited to Latin-1 (symusic reads UTF-8 back).
    mid = mido.MidiFile(type=1, ticks_per_beat=score.ticks_per_beat, charset="utf-8")

    conductor: list[tuple[int, int, object]] = []
    for row in score.time_signatures:
        conductor.append((int(row["tick"]), 0, mido.MetaMessage("time_signature", numerator=int(row["numerator"]), denominator=int(row["denominator"]))))
    for row in score.key_signatures:
        name = (_MINOR if row["minor"] else _MAJOR)[int(row["sharps"])]
        conductor.append((int(row["tick"]), 1, mido.MetaMessage("key_signature", key=name)))
    for row in score.tempos:
        conductor.append((int(row["tick"]), 2, mido.MetaMessage("set_tempo", tempo=int(round(60_000_000 / float(row["qpm"]))))))
    for tick, kind in score.markers.tolist():
        conductor.append((tick, 3, mido.MetaMessage("marker", text=MARKER_TEXT[kind])))
    head = [mido.MetaMessage("track_name", name=score.title)] if score.title else []
    head += [mido.MetaMessage("text", text=f"{METADATA_PREFIX}{k}={v}") for k, v in sorted(score.metadata.items())]
    mid.tracks.append(_track(head, conductor))

    notes = score.notes
    for index, (part, channel) in enumerate(zip(score.parts, channels(score.parts))):
        mine = notes[notes["part"] == index]
        head = [mido.MetaMessage("track_name", name=part.name)]
        if not part.is_drum:
            head.append(mido.Message("program_change", channel=channel, program=part.program))
        starts = mine["start_tick"].tolist()
        ends = (mine["start_tick"] + mine["duration_ticks"]).tolist()
        pitches = mine["pitch"].tolist()
        velocities = mine["velocity"].tolist()
        events: list[tuple[int, int, object]] = []
        for start, end, pitch, velocity in zip(starts, ends, pitches, velocities):
            # Sort key 0 puts note-offs before note-ons at the same tick, so repeated pitches re-strike.
            events.append((end, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
            events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        mid.tracks.append(_track(head, events))
    return mid


def _track(head: list, events: list[tuple[int, int, object]]) -> "mido.MidiTrack":  # noqa: F821
    import mido

    track = mido.MidiTrack(head)
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, message in events:
        if tick - now > MAX_MIDI_DELTA:
            raise ScoreError(f"{tick - now:,} ticks between two events; a MIDI file holds at most {MAX_MIDI_DELTA:,} (2^28-1)")
        track.append(message.copy(time=tick - now))  # type: ignore[attr-defined]
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def write_midi(score: Score, path: str | Path) -> None:
    """Write a type 1 MIDI file: named parts with General MIDI programs, tempo, meter, key and markers.

    Each of ``Score.markers`` is a marker meta event on the conductor track, its text ``MARKER_TEXT[kind]``
    ("phrase", "section"); the reader turns those back into markers and ignores markers of other texts.
    """
    try:
        to_midi_file(score).save(str(path))
    except (OSError, ValueError) as exc:
        raise WriteError(f"{path}: cannot write MIDI ({exc})") from exc
