"""The in-memory score: numpy arrays of notes plus meter, key and tempo maps.

Time is kept in integer ticks (``ticks_per_beat`` to a quarter note, as in
MIDI), so scores read from files round-trip exactly. A *beat* is always a
quarter note here, whatever the time signature says.

Every transform in this module is a pure function that returns a new
``Score``; the arrays of a ``Score`` are read-only so nothing edits one in
place by accident.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from composer.errors import ScoreError

DEFAULT_TICKS_PER_BEAT = 480
PITCH_MIN = 0  # inclusive, MIDI note number
PITCH_MAX = 127  # inclusive
VELOCITY_MIN = 1  # inclusive; velocity 0 means note-off in MIDI
VELOCITY_MAX = 127  # inclusive
DEFAULT_VELOCITY = 80
PROGRAM_MIN = 0  # inclusive, General MIDI program number (0 = Acoustic Grand Piano)
PROGRAM_MAX = 127  # inclusive
SHARPS_MIN = -7  # inclusive: seven flats
SHARPS_MAX = 7  # inclusive: seven sharps
DEFAULT_TEMPO_QPM = 120.0
DEFAULT_TIME_SIGNATURE = (4, 4)
REPEATS_METADATA = "repeats"  # Score.metadata key: "1-4,9-12", spans of 1-based complete bars each followed by its written-out repeat (notation writes them once, between repeat signs)

NOTE_DTYPE = np.dtype(
    [
        ("start_tick", np.int64),
        ("duration_ticks", np.int64),
        ("pitch", np.int16),
        ("velocity", np.int16),
        ("part", np.int16),
    ]
)
TIME_SIGNATURE_DTYPE = np.dtype([("tick", np.int64), ("numerator", np.int32), ("denominator", np.int32)])
KEY_SIGNATURE_DTYPE = np.dtype([("tick", np.int64), ("sharps", np.int32), ("minor", np.bool_)])
TEMPO_DTYPE = np.dtype([("tick", np.int64), ("qpm", np.float64)])
MARKER_DTYPE = np.dtype([("tick", np.int64), ("kind", np.int8)])
# Score.markers kinds: where the piece's phrases end and its sections (strains) start.
PHRASE_END = 0  # a phrase ends at this tick (the end of the note under a fermata, or of a strain's last note)
SECTION_START = 1  # a new section starts at this tick (a repeat sign, double bar or rehearsal mark); never needed at tick 0
MARKER_TEXT = {PHRASE_END: "phrase", SECTION_START: "section"}  # kind -> its text in a MIDI marker meta event
MARKER_KINDS = {text: kind for kind, text in MARKER_TEXT.items()}  # MIDI marker text -> kind

def parse_time_signature(text: str) -> tuple[int, int]:
    """(numerator, denominator) from '3/4'."""
    parts = str(text).strip().split("/")
    try:
        num, den = int(parts[0]), int(parts[1])
        if len(parts) != 2 or num < 1 or den < 1 or den & (den - 1):
            raise ValueError
    except (ValueError, IndexError):
        raise ScoreError(f"time signature: expected N/D with D a power of two (e.g. 3/4, 6/8), got {text!r}") from None
    return num, den


@dataclass(frozen=True)
class Part:
    """One part (staff/instrument) of a score."""

    name: str
    program: int = 0
    is_drum: bool = False

    def __post_init__(self) -> None:
        if not PROGRAM_MIN <= self.program <= PROGRAM_MAX:
            raise ScoreError(f"part {self.name!r}: program must be {PROGRAM_MIN}..{PROGRAM_MAX}, got {self.program}")


def _structured(rows: Any, dtype: np.dtype, what: str, copy: bool = True) -> np.ndarray:
    """``rows`` as a structured array of ``dtype``; a new array unless ``copy`` is False and it already is one."""
    if rows is None:
        return np.zeros(0, dtype)
    if isinstance(rows, np.ndarray) and rows.dtype == dtype:
        return rows.copy() if copy else rows
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        out = np.zeros(len(rows), dtype)
        for name in dtype.names:
            if name not in rows.dtype.names:
                raise ScoreError(f"{what}: missing field {name!r}")
            out[name] = rows[name]
        return out
    try:
        return np.array([tuple(r) for r in rows], dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ScoreError(f"{what}: expected rows of {dtype.names}, got {rows!r:.80}") from exc


def _by_tick(events: np.ndarray) -> np.ndarray:
    """Sort events by tick; of several at one tick the last given wins.

    Events already in strictly increasing tick order (the usual case) come back as they are.
    """
    n = len(events)
    if n < 2:
        return events
    ticks = events["tick"]
    if n <= 8:  # a few rows: a Python check is cheaper than numpy calls
        t = ticks.tolist()
        if all(a < b for a, b in zip(t, t[1:])):
            return events
    elif np.count_nonzero(ticks[1:] > ticks[:-1]) == n - 1:
        return events
    order = np.argsort(ticks, kind="stable")
    events = events[order]
    keep = np.ones(len(events), bool)
    keep[:-1] = events["tick"][1:] != events["tick"][:-1]
    return events[keep]


def marker_order(markers: np.ndarray) -> np.ndarray:
    """Markers sorted by (tick, kind), each (tick, kind) once; markers already so come back as they are."""
    n = len(markers)
    if n < 2:
        return markers
    ticks, kinds = markers["tick"], markers["kind"]
    step = np.diff(ticks)
    if np.count_nonzero((step > 0) | ((step == 0) & (kinds[1:] > kinds[:-1]))) == n - 1:
        return markers
    markers = markers.take(np.lexsort((kinds, ticks)))
    keep = np.ones(n, bool)
    keep[1:] = (markers["tick"][1:] != markers["tick"][:-1]) | (markers["kind"][1:] != markers["kind"][:-1])
    return markers[keep]


def canonical_order(notes: np.ndarray, num_parts: int) -> np.ndarray:
    """Notes sorted by (start_tick, part, -pitch, duration_ticks), ties kept in the given order.

    Needs what validation guarantees: start_tick >= 0, 0 <= part < num_parts, pitch 0..127.
    """
    if len(notes) < 2:
        return notes
    start = notes["start_tick"]
    scale = 128 * max(num_parts, 1)
    if np.maximum.reduce(start) >= (2**62) // scale:
        return notes.take(np.lexsort((notes["duration_ticks"], -notes["pitch"], notes["part"], start)))
    # (start, part, -pitch) folded into one int64 that orders the same way:
    # part * 128 - pitch lies in [-127, scale - 128], less than one unit of start.
    key = start * scale
    if num_parts > 1:
        key += notes["part"].astype(np.int64) << 7
    key -= notes["pitch"]
    if np.count_nonzero(key[1:] > key[:-1]) == len(key) - 1:
        return notes  # already in order, and no two notes tie before duration
    order = key.argsort(kind="stable")
    in_order = key[order]
    if np.count_nonzero(in_order[1:] > in_order[:-1]) == len(key) - 1:
        return notes.take(order)  # no ties, so duration never decides
    return notes.take(np.lexsort((notes["duration_ticks"], key)))


def notes_array(
    start_tick: Iterable[int],
    duration_ticks: Iterable[int],
    pitch: Iterable[int],
    part: Iterable[int] | int = 0,
    velocity: Iterable[int] | int = DEFAULT_VELOCITY,
) -> np.ndarray:
    """Build a note array from columns (scalars broadcast)."""
    start = np.asarray(start_tick, np.int64)
    notes = np.zeros(start.shape[0] if start.ndim else 1, NOTE_DTYPE)
    notes["start_tick"] = start
    notes["duration_ticks"] = np.asarray(duration_ticks, np.int64)
    notes["pitch"] = np.asarray(pitch)
    notes["part"] = np.asarray(part)
    notes["velocity"] = np.asarray(velocity)
    return notes


class Score:
    """Notes (structured numpy array, ``NOTE_DTYPE``) with parts, meter/key/tempo maps and structure markers.

    Notes are kept in canonical order: by start tick, then part (top part
    first), then pitch from high to low, then duration. ``markers``
    (``MARKER_DTYPE``: tick, kind) say where phrases end (``PHRASE_END``) and
    sections start (``SECTION_START``), sorted by tick then kind, each once;
    ``phrase_end_ticks`` and ``section_start_ticks`` give their ticks.
    """

    __slots__ = ("ticks_per_beat", "notes", "parts", "time_signatures", "key_signatures", "tempos", "markers", "title", "metadata")

    def __init__(
        self,
        notes: np.ndarray | None = None,
        parts: Sequence[Part] = (),
        *,
        ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT,
        time_signatures: Any = None,
        key_signatures: Any = None,
        tempos: Any = None,
        markers: Any = None,
        title: str = "",
        metadata: dict[str, str] | None = None,
        _trusted: bool = False,
    ) -> None:
        if int(ticks_per_beat) <= 0:
            raise ScoreError(f"ticks_per_beat must be positive, got {ticks_per_beat}")
        self.ticks_per_beat = int(ticks_per_beat)
        # A trusted caller (the MIDI reader, the decoder) hands over freshly built arrays of valid
        # values: they need no defensive copy and no validation.
        copy = not _trusted
        notes = _structured(notes, NOTE_DTYPE, "notes", copy)
        parts = tuple(parts)
        time_signatures = _by_tick(_structured(time_signatures, TIME_SIGNATURE_DTYPE, "time_signatures", copy))
        key_signatures = _by_tick(_structured(key_signatures, KEY_SIGNATURE_DTYPE, "key_signatures", copy))
        tempos = _by_tick(_structured(tempos, TEMPO_DTYPE, "tempos", copy))
        markers = marker_order(_structured(markers, MARKER_DTYPE, "markers", copy))
        if len(time_signatures) == 0 or time_signatures["tick"][0] > 0:
            default = np.array([(0, *DEFAULT_TIME_SIGNATURE)], TIME_SIGNATURE_DTYPE)
            time_signatures = np.concatenate([default, time_signatures])
        if len(tempos) == 0 or tempos["tick"][0] > 0:
            tempos = np.concatenate([np.array([(0, DEFAULT_TEMPO_QPM)], TEMPO_DTYPE), tempos])
        if not _trusted:
            _validate(notes, parts, time_signatures, key_signatures, tempos, markers)
        self._store(canonical_order(notes, len(parts)), parts, time_signatures, key_signatures, tempos, markers, str(title), dict(metadata or {}))

    def _store(
        self,
        notes: np.ndarray,
        parts: tuple[Part, ...],
        time_signatures: np.ndarray,
        key_signatures: np.ndarray,
        tempos: np.ndarray,
        markers: np.ndarray,
        title: str,
        metadata: dict[str, str],
    ) -> None:
        for array in (notes, time_signatures, key_signatures, tempos, markers):
            array.flags.writeable = False
        self.notes = notes
        self.parts = parts
        self.time_signatures = time_signatures
        self.key_signatures = key_signatures
        self.tempos = tempos
        self.markers = markers
        self.title = title
        self.metadata = metadata

    @classmethod
    def assemble(
        cls,
        notes: np.ndarray,
        parts: tuple[Part, ...],
        ticks_per_beat: int,
        time_signatures: np.ndarray,
        key_signatures: np.ndarray,
        tempos: np.ndarray,
        title: str = "",
        metadata: dict[str, str] | None = None,
        markers: np.ndarray | None = None,
    ) -> "Score":
        """A Score from arrays already in the form ``__init__`` would give them, skipping its work.

        For the MIDI reader, which builds them so: new arrays of the right dtypes and valid
        values, notes in canonical order, each map sorted by tick with one event a tick, 4/4
        and 120 qpm at tick 0 where the file has none there, markers in ``marker_order``;
        a positive int resolution.
        """
        score = cls.__new__(cls)
        score.ticks_per_beat = ticks_per_beat
        markers = np.zeros(0, MARKER_DTYPE) if markers is None else markers
        score._store(notes, parts, time_signatures, key_signatures, tempos, markers, title, dict(metadata or {}))
        return score

    # -- derived views ---------------------------------------------------
    @property
    def start_beat(self) -> np.ndarray:
        return self.notes["start_tick"] / self.ticks_per_beat

    @property
    def duration_beats(self) -> np.ndarray:
        return self.notes["duration_ticks"] / self.ticks_per_beat

    @property
    def end_tick(self) -> int:
        """Tick where the last note ends (0 for an empty score)."""
        if len(self.notes) == 0:
            return 0
        return int((self.notes["start_tick"] + self.notes["duration_ticks"]).max())

    def marker_ticks(self, kind: int) -> np.ndarray:
        """The ticks of the markers of one kind (``PHRASE_END``, ``SECTION_START``), ascending."""
        if kind not in MARKER_TEXT:
            raise ScoreError(f"marker kind must be one of {sorted(MARKER_TEXT)}, got {kind!r}")
        return self.markers["tick"][self.markers["kind"] == kind]

    @property
    def phrase_end_ticks(self) -> np.ndarray:
        """Ticks where a phrase ends (``PHRASE_END`` markers), ascending."""
        return self.marker_ticks(PHRASE_END)

    @property
    def section_start_ticks(self) -> np.ndarray:
        """Ticks where a new section starts (``SECTION_START`` markers), ascending."""
        return self.marker_ticks(SECTION_START)

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    def __len__(self) -> int:
        return len(self.notes)

    def part_notes(self, part: int) -> np.ndarray:
        return self.notes[self.notes["part"] == part]

    def bar_starts(self, end_tick: int | None = None) -> np.ndarray:
        """Ticks at which bars begin, up to ``end_tick`` (default: the last note's end)."""
        return bar_starts(self.time_signatures, self.ticks_per_beat, self.end_tick if end_tick is None else end_tick)

    @property
    def num_bars(self) -> int:
        return len(self.bar_starts())

    def replace(self, **changes: Any) -> "Score":
        """A copy with some fields replaced (arrays are validated again)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        notes = fields.pop("notes")
        parts = fields.pop("parts")
        return Score(notes, parts, **fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Score):
            return NotImplemented
        return (
            self.ticks_per_beat == other.ticks_per_beat
            and self.parts == other.parts
            and np.array_equal(self.notes, other.notes)
            and np.array_equal(self.time_signatures, other.time_signatures)
            and np.array_equal(self.key_signatures, other.key_signatures)
            and np.array_equal(self.tempos, other.tempos)
            and np.array_equal(self.markers, other.markers)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = ", ".join(p.name or "?" for p in self.parts)
        ts = self.time_signatures[0]
        counts = {text: int(np.count_nonzero(self.markers["kind"] == kind)) for kind, text in MARKER_TEXT.items()}
        marks = "".join(f", {n} {text} markers" for text, n in counts.items() if n)
        return (
            f"<Score {self.title!r}: {len(self.notes)} notes, {self.num_parts} parts [{names}], "
            f"{self.num_bars} bars of {ts['numerator']}/{ts['denominator']}, {self.ticks_per_beat} ticks/beat{marks}>"
        )

    def _repr_html_(self) -> str:
        """Engraved sheet music and an audio player, for notebooks."""
        from composer.render.notebook import score_html

        return score_html(self)

    def plot(self, path: str | Path | None = None) -> Any:
        """A piano roll (matplotlib Figure); also written to ``path`` if given."""
        from composer.render.pianoroll import plot

        return plot(self, path)

    def write(self, path: str | Path, *, force: bool = False) -> Path:
        """Write to a file and return its path; the format follows the suffix (see ``composer.formats.WRITERS``)."""
        from composer.formats import write

        return write(self, path, force=force).path


def _validate(notes: np.ndarray, parts: tuple[Part, ...], ts: np.ndarray, ks: np.ndarray, tempos: np.ndarray, markers: np.ndarray) -> None:
    for part in parts:
        if not isinstance(part, Part):
            raise ScoreError(f"parts must be Part objects, got {part!r}")
    if len(notes):
        if notes["start_tick"].min() < 0:
            raise ScoreError(f"note start_tick must be >= 0, got {notes['start_tick'].min()}")
        if notes["duration_ticks"].min() <= 0:
            raise ScoreError(f"note duration_ticks must be > 0, got {notes['duration_ticks'].min()}")
        lo, hi = notes["pitch"].min(), notes["pitch"].max()
        if lo < PITCH_MIN or hi > PITCH_MAX:
            raise ScoreError(f"note pitch must be {PITCH_MIN}..{PITCH_MAX}, got {lo if lo < PITCH_MIN else hi}")
        lo, hi = notes["velocity"].min(), notes["velocity"].max()
        if lo < VELOCITY_MIN or hi > VELOCITY_MAX:
            raise ScoreError(f"note velocity must be {VELOCITY_MIN}..{VELOCITY_MAX}, got {lo if lo < VELOCITY_MIN else hi}")
        if notes["part"].min() < 0 or notes["part"].max() >= len(parts):
            raise ScoreError(f"note part must index one of the {len(parts)} parts, got {notes['part'].max()}")
    bad = (ts["numerator"] < 1) | (ts["denominator"] < 1) | ((ts["denominator"] & (ts["denominator"] - 1)) != 0)
    if bad.any():
        row = ts[bad][0]
        raise ScoreError(f"time signature must be N/D with N >= 1 and D a power of two, got {row['numerator']}/{row['denominator']}")
    if len(ks) and (ks["sharps"].min() < SHARPS_MIN or ks["sharps"].max() > SHARPS_MAX):
        raise ScoreError(f"key signature sharps must be {SHARPS_MIN}..{SHARPS_MAX}, got {ks['sharps'].tolist()}")
    if len(tempos) and not (tempos["qpm"] > 0).all():
        raise ScoreError(f"tempo must be > 0 quarter notes per minute, got {tempos['qpm'].min()}")
    unknown = ~np.isin(markers["kind"], list(MARKER_TEXT))
    if unknown.any():
        raise ScoreError(f"marker kind must be one of {sorted(MARKER_TEXT)}, got {int(markers['kind'][unknown][0])}")
    for array in (ts, ks, tempos, markers):
        if len(array) and array["tick"].min() < 0:
            raise ScoreError(f"event ticks must be >= 0, got {array['tick'].min()}")


# -- meter ---------------------------------------------------------------
def bar_ticks(numerator: int, denominator: int, ticks_per_beat: int) -> Fraction:
    """Length of one bar in ticks (a Fraction when the grid cannot hold it exactly)."""
    return Fraction(4 * int(numerator) * ticks_per_beat, int(denominator))


def bar_starts(time_signatures: np.ndarray, ticks_per_beat: int, end_tick: int) -> np.ndarray:
    """Bar start ticks for a time-signature map, covering [0, end_tick).

    A time-signature change starts a new bar at its tick, even mid-bar (the
    bar before it is then short). Always returns at least one bar (tick 0).
    """
    starts: list[np.ndarray] = []
    ticks = time_signatures["tick"].tolist()
    for i, (tick, num, den) in enumerate(zip(ticks, time_signatures["numerator"].tolist(), time_signatures["denominator"].tolist())):
        stop = ticks[i + 1] if i + 1 < len(ticks) else max(end_tick, tick + 1)
        if stop <= tick:
            continue
        length = max(1, round(bar_ticks(num, den, ticks_per_beat)))
        starts.append(np.arange(tick, stop, length, dtype=np.int64))
    return np.concatenate(starts) if starts else np.zeros(1, np.int64)


# -- pure transforms -------------------------------------------------------
def transpose(score: Score, semitones: int, *, transpose_drums: bool = False) -> Score:
    """Shift every pitched note (and the key signatures) by ``semitones``."""
    semitones = int(semitones)
    notes = score.notes.copy()
    pitched = np.ones(len(notes), bool)
    if not transpose_drums:
        drum_parts = [i for i, p in enumerate(score.parts) if p.is_drum]
        pitched = ~np.isin(notes["part"], drum_parts)
    new_pitch = notes["pitch"][pitched].astype(np.int32) + semitones
    if len(new_pitch) and (new_pitch.min() < PITCH_MIN or new_pitch.max() > PITCH_MAX):
        raise ScoreError(
            f"transposing by {semitones} semitones takes pitches to {new_pitch.min()}..{new_pitch.max()}, "
            f"outside MIDI's {PITCH_MIN}..{PITCH_MAX}"
        )
    notes["pitch"][pitched] = new_pitch
    keys = score.key_signatures.copy()
    if len(keys):
        # A semitone up is seven fifths up; fold into -5..6 sharps (F# rather than Gb).
        keys["sharps"] = (keys["sharps"] + 7 * semitones + 5) % 12 - 5
    return score.replace(notes=notes, key_signatures=keys)


def pitch_range(score: Score) -> tuple[int, int]:
    """(lowest, highest) pitch of the pitched notes; raises on an empty score."""
    drum_parts = [i for i, p in enumerate(score.parts) if p.is_drum]
    pitches = score.notes["pitch"][~np.isin(score.notes["part"], drum_parts)]
    if len(pitches) == 0:
        raise ScoreError("score has no pitched notes")
    return int(pitches.min()), int(pitches.max())


def quantize(score: Score, steps_per_beat: int) -> Score:
    """Snap note starts and ends to a grid of ``steps_per_beat`` steps a quarter note.

    A note shorter than one step keeps one step. Meter, key and tempo events
    and markers snap to the same grid. Ticks stay in the score's own resolution.
    """
    if steps_per_beat <= 0:
        raise ScoreError(f"steps_per_beat must be positive, got {steps_per_beat}")
    tpb = score.ticks_per_beat

    def snap(ticks: np.ndarray) -> np.ndarray:
        steps = np.floor(ticks.astype(np.float64) * steps_per_beat / tpb + 0.5)
        return np.round(steps * tpb / steps_per_beat).astype(np.int64)

    notes = score.notes.copy()
    start = snap(notes["start_tick"])
    end = snap(notes["start_tick"] + notes["duration_ticks"])
    min_len = max(1, round(tpb / steps_per_beat))
    notes["start_tick"] = start
    notes["duration_ticks"] = np.maximum(end - start, min_len)
    events = {}
    for name in ("time_signatures", "key_signatures", "tempos", "markers"):
        arr = getattr(score, name).copy()
        arr["tick"] = snap(arr["tick"])
        events[name] = arr
    return score.replace(notes=notes, **events)


def resample(score: Score, ticks_per_beat: int) -> Score:
    """The same score at another tick resolution (rounding to the nearest tick)."""
    if ticks_per_beat <= 0:
        raise ScoreError(f"ticks_per_beat must be positive, got {ticks_per_beat}")
    ratio = ticks_per_beat / score.ticks_per_beat

    def scale(ticks: np.ndarray) -> np.ndarray:
        return np.floor(ticks * ratio + 0.5).astype(np.int64)

    notes = score.notes.copy()
    start = scale(notes["start_tick"])
    notes["duration_ticks"] = np.maximum(scale(notes["start_tick"] + notes["duration_ticks"]) - start, 1)
    notes["start_tick"] = start
    events = {}
    for name in ("time_signatures", "key_signatures", "tempos", "markers"):
        arr = getattr(score, name).copy()
        arr["tick"] = scale(arr["tick"])
        events[name] = arr
    return score.replace(notes=notes, ticks_per_beat=ticks_per_beat, **events)


def _state_at(events: np.ndarray, tick: int) -> np.ndarray:
    """The events in force from ``tick`` on, with the one in force at ``tick`` moved onto it."""
    if len(events) == 0:
        return events
    before = np.searchsorted(events["tick"], tick, side="right") - 1
    kept = events[max(before, 0):].copy()
    if before >= 0:
        kept["tick"][0] = tick
    return kept[kept["tick"] >= tick]


def slice_bars(score: Score, start_bar: int, stop_bar: int | None = None) -> Score:
    """Bars ``start_bar`` (inclusive) to ``stop_bar`` (exclusive), counted from 0, moved to tick 0.

    Notes that start inside the slice are kept (cut at the slice's end);
    notes sounding into it from earlier bars are dropped. Markers: see ``markers_between``.
    """
    bars = score.bar_starts()
    stop_bar = len(bars) if stop_bar is None else stop_bar
    if not 0 <= start_bar < stop_bar:
        raise ScoreError(f"need 0 <= start_bar < stop_bar, got start_bar={start_bar}, stop_bar={stop_bar}")
    if start_bar >= len(bars):
        raise ScoreError(f"score has {len(bars)} bars, cannot start at bar {start_bar}")
    begin = int(bars[start_bar])
    all_bars = score.bar_starts(max(score.end_tick, begin + 1) + 1)
    end = int(all_bars[stop_bar]) if stop_bar < len(all_bars) else score.end_tick
    notes = score.notes
    keep = (notes["start_tick"] >= begin) & (notes["start_tick"] < end)
    notes = notes[keep].copy()
    notes["duration_ticks"] = np.minimum(notes["duration_ticks"], end - notes["start_tick"])
    notes["start_tick"] -= begin
    events = {}
    for name in ("time_signatures", "key_signatures", "tempos"):
        arr = _state_at(getattr(score, name), begin)
        arr = arr[arr["tick"] < max(end, begin + 1)]
        arr["tick"] -= begin
        events[name] = arr
    return score.replace(notes=notes, markers=markers_between(score.markers, begin, end), **events)


def markers_between(markers: np.ndarray, begin: int, end: int) -> np.ndarray:
    """The markers of ticks ``begin``..``end`` moved to start at tick 0: a section start at ``begin``
    is kept and one at ``end`` is not; a phrase end at ``end`` is kept and one at ``begin`` is not."""
    ticks, phrase = markers["tick"], markers["kind"] == PHRASE_END
    keep = np.where(phrase, (ticks > begin) & (ticks <= end), (ticks >= begin) & (ticks < end))
    kept = markers[keep].copy()
    kept["tick"] -= begin
    return kept


def select_parts(score: Score, parts: Sequence[int]) -> Score:
    """Only the given parts, in the given order (renumbered from 0)."""
    parts = [int(p) for p in parts]
    for p in parts:
        if not 0 <= p < score.num_parts:
            raise ScoreError(f"part index must be 0..{score.num_parts - 1}, got {p}")
    mapping = np.full(max(score.num_parts, 1), -1, np.int16)
    mapping[parts] = np.arange(len(parts))
    notes = score.notes[np.isin(score.notes["part"], parts)].copy()
    notes["part"] = mapping[notes["part"]]
    return score.replace(notes=notes, parts=tuple(score.parts[p] for p in parts))


def split_parts(score: Score) -> list[Score]:
    """One single-part score per part."""
    return [select_parts(score, [i]) for i in range(score.num_parts)]


def merge_parts(score: Score, parts: Sequence[int] | None = None, name: str | None = None) -> Score:
    """Merge the given parts (default: all) into one part, placed where the first of them was."""
    parts = list(range(score.num_parts)) if parts is None else [int(p) for p in parts]
    if not parts:
        raise ScoreError("merge_parts needs at least one part")
    for p in parts:
        if not 0 <= p < score.num_parts:
            raise ScoreError(f"part index must be 0..{score.num_parts - 1}, got {p}")
    target = min(parts)
    new_index = []
    next_index = 0
    for i in range(score.num_parts):
        if i in parts and i != target:
            new_index.append(-1)
            continue
        new_index.append(next_index)
        next_index += 1
    mapping = np.array(new_index, np.int16)
    mapping[parts] = mapping[target]
    notes = score.notes.copy()
    notes["part"] = mapping[notes["part"]]
    merged = dataclasses.replace(score.parts[target], name=name or " + ".join(score.parts[p].name for p in sorted(parts)))
    new_parts = tuple(merged if i == target else p for i, p in enumerate(score.parts) if i not in parts or i == target)
    return score.replace(notes=notes, parts=new_parts)


def stack(scores: Sequence[Score]) -> Score:
    """Put the parts of several scores (same resolution) side by side; maps come from the first, markers from all."""
    if not scores:
        raise ScoreError("stack needs at least one score")
    tpb = scores[0].ticks_per_beat
    notes, parts = [], []
    for s in scores:
        if s.ticks_per_beat != tpb:
            raise ScoreError(f"stack needs one resolution, got {tpb} and {s.ticks_per_beat} ticks per beat")
        shifted = s.notes.copy()
        shifted["part"] += len(parts)
        notes.append(shifted)
        parts.extend(s.parts)
    markers = np.concatenate([s.markers for s in scores])
    return scores[0].replace(notes=np.concatenate(notes), parts=tuple(parts), markers=markers)


_SPLIT_SUFFIX = re.compile(r" \d+$")  # "Violin1 2": a track the MIDI reader split by channel


def fit_parts(score: Score, max_parts: int) -> Score:
    """Merge parts until at most ``max_parts`` remain, keeping every note.

    Merged in stages, each only while there are too many: first the parts that
    came from one track (a MIDI track split by channel: "Violin1", "Violin1 2"),
    then parts sharing an instrument (program, or drums), then parts of one
    General MIDI family (eight programs). Drums never merge with pitched parts.
    A score with more parts than that allows is returned as it is, for the
    caller to refuse.
    """
    stages = (
        lambda p: (_SPLIT_SUFFIX.sub("", p.name), p.is_drum),
        lambda p: (p.is_drum, 0 if p.is_drum else p.program),
        lambda p: (p.is_drum, 0 if p.is_drum else p.program // 8),
    )
    for group_of in stages:
        if score.num_parts <= max_parts:
            break
        while True:  # one group at a time: merging renumbers the parts after it
            groups: dict[Any, list[int]] = {}
            for index, part in enumerate(score.parts):
                groups.setdefault(group_of(part), []).append(index)
            members = next((m for m in groups.values() if len(m) > 1), None)
            if members is None:
                break
            first = score.parts[members[0]]
            score = merge_parts(score, members, name=_SPLIT_SUFFIX.sub("", first.name) or first.name)
    return score
