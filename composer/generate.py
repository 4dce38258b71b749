"""Generation: a seed score -> token prompt -> constrained sampling loop -> Score.

Two modes share one engine:

* ``continue``: the seed's parts are kept note for note over the seed's bars
  as the top parts; the model writes the other parts under them there, and
  everything after the seed.
* ``harmonize``: the melody is kept note for note as the top part for the
  whole piece and the model writes the parts under it.
* ``accompany`` and ``infill`` (``_given_plan``): given notes of any parts are
  forced where they fall, in the grammar's part order, and the model writes
  the other parts between them: for the whole piece (accompany: some parts
  kept), or inside a range of bars (infill: everything outside it kept, the
  music after it forced as it is, so the new bars lead into it).

A form (``settings.form``, ``composer.form``) is built on top, section by section: each
new section is a ``continue`` of the piece so far, and returning sections are copies.
Without one, a piece may draw a form its style's training pieces are heard in
(``learned_form``; ``_learned_form``).
``phrase_bars`` (and ``cadence_bars``) close phrase ends with a held note in the top part.

Constraints are masks applied at sampling time, never filters afterwards:
the meter stays the requested one (no ``TimeSig`` token after the first bar
except where the seed has one), every bar holds a note, the piece stops at
the barline after ``bars`` complete bars, pitches stay inside each part's
range seen in training, and with a key every free pitch is in the key's scale
(major, or minor with its raised sixth and seventh) unless chromatic notes are
allowed. Unless parallels are allowed, a part's pitch never makes parallel
fifths or octaves (unisons and compound intervals included) with a part
above it: both moving the same way from a fifth (octave) to a fifth (octave).
From scratch, the top part does not fall silent in the first bar once it has
begun; harmonizing, the written voices keep to the melody's rhythmic grid and
sound while the melody does.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from composer import harmony as harmony_prior
from composer.errors import FormError, GenerationError
from composer.form import check_form, compose, form_text, learned_forms, parse_form, phrase_ends, pick_form, returns
from composer.lookahead import ParticleFilter
from composer.metrics import form_heard, parallels
from composer.sampling import SamplingSettings
from composer.score import SHARPS_MIN, Part, Score, parse_time_signature, resample, select_parts, transpose
from composer.settings import check_ranges, setting
from composer.theory import (Key, VoiceMotion, bars_of, between_beats, key_name, meter_beat, opening_key, parallel_pitches, parse_key, pickup_bars, scale_of,
                             seed_key, tonic_triad, transposition)
from composer.tokens.ahead import ECHO_COLUMNS, PHRASE_COLUMNS, Ahead, echo, phrase_column, phrase_end_steps, phrase_ends_by_bars
from composer.tokens import (
    K_BAR,
    K_DURATION,
    K_KEY,
    K_PART,
    K_PITCH,
    K_POSITION,
    K_PROGRAM,
    K_TEMPO,
    K_TIMESIG,
    LENGTHENED,
    Grammar,
    Tokenizer,
    Walker,
    ticks_to_steps,
)

if TYPE_CHECKING:
    from composer.modelfile import Model

MODES = ("continue", "harmonize")  # what `composer generate --mode` offers
GIVEN_MODES = ("accompany", "infill")  # given music kept note for note around what the model writes (``_given_plan``)
COMMON_METERS = ((4, 4), (3, 4), (2, 4), (6, 8), (2, 2), (3, 8), (9, 8), (12, 8), (6, 4), (3, 2))
MAX_BARS = 512  # the longest piece one request may ask for
HARMONY_WEIGHT = 5.0  # the harmonizer's (or counted prior's) default weight (benchmarks/harmonize_bach.py --harmony-weights, valid split)
MAX_TOKENS_PER_BAR = 512  # a safety stop for a model that never closes a bar
MONOPHONIC_SHARE = 0.01  # a part whose training notes overlapped one another at most this often sounds one note at a time
FORM_STREAM = 0x464F524D  # the random stream drawing a learned form, apart from the sampling
SEAM_BEATS = 4  # quarter notes each side of a copied section's join checked for parallels


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that decides a generated piece, besides the model and the seed.

    Each field's default and range are written here once; ``composer generate``
    builds its options from them. Bad values raise ``GenerationError`` (a
    ``SamplingError`` for the sampling filters, a ``ScoreError`` for a key or
    meter that does not parse): all ``ComposerError``.
    """

    bars: int = setting(16, min=1, max=MAX_BARS, integer=True)  # complete bars, seed included (a pickup comes on top); harmonize takes the melody's
    mode: str = "continue"
    style: str | None = None
    key: str | None = None  # e.g. "G", "e", "F# minor"; None keeps the seed's (or lets the model choose)
    time_signature: str | None = None  # e.g. "3/4"
    tempo_qpm: float | None = setting(None, min=10, max=400)  # quarter notes per minute
    # Sampling filters (composer.sampling.FILTERS); None takes the model's recommendation
    # (``sampling`` in its file's training metadata), else the filter is off.
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    allow_chromatic: bool = False
    allow_parallels: bool = False  # parallel fifths and octaves between parts
    free_ending: bool = False  # no cadence masks: the last bar may stop on any note, of any length
    random_seed: int = setting(0, min=0, integer=True)  # numpy's generators take no negative seeds
    # accompany: the seed's parts kept note for note for the whole piece (names, or 1-based indices)
    keep_parts: tuple[str, ...] | None = None
    # infill: the first and last bar rewritten (1-based complete bars; 0 names a pickup), and the parts rewritten there (None: all)
    infill_bars: tuple[int, int] | None = None
    infill_parts: tuple[str, ...] | None = None
    # harmonize: weight of the melody-ahead harmony prior (composer.harmony) added to the model's pitch scores; 0: off
    harmony_weight: float = setting(HARMONY_WEIGHT, min=0, max=8)
    particles: int = setting(1, min=1, max=64, integer=True)  # samples per piece weighted by the given notes ahead (composer.lookahead); 1: plain sampling
    # form (composer.form): sections such as "AABB" or "A A' B A" of section_bars each (None: bars / sections)
    form: str | None = None
    section_bars: int | None = setting(None, min=1, max=MAX_BARS, integer=True)
    repeats: str = "written"  # with a form: "signs" writes an immediately repeated section once between repeat signs in notation
    # continue without a form: draw one from the forms heard in the style's train split (its profile's "forms"; composer.form)
    learned_form: bool = True
    # continue: every phrase_bars-th bar, and the 1-based bars in cadence_bars, close on a note held to the barline
    phrase_bars: int | None = setting(None, min=1, max=MAX_BARS, integer=True)
    cadence_bars: tuple[int, ...] | None = None
    # a form's section (composer.form): the whole piece's complete bars, which the features ahead count the bars left
    # and the phrases to (None: ``bars``, the piece ends where this generation stops)
    ahead_bars: int | None = setting(None, min=1, max=MAX_BARS, integer=True)

    def __post_init__(self) -> None:
        if self.mode not in MODES + GIVEN_MODES:
            raise GenerationError(f"mode must be one of {', '.join(MODES + GIVEN_MODES)}, got {self.mode!r}")
        _check_given(self)
        check_ranges(self, GenerationError)
        for name, value in check_form(self).items():
            object.__setattr__(self, name, value)
        if self.cadence_bars is not None:
            object.__setattr__(self, "cadence_bars", _bar_list(self.cadence_bars))
        if self.key is not None:
            parse_key(self.key)
        if self.time_signature is not None:
            parse_time_signature(self.time_signature)
        self.sampling()  # the filters' values are SamplingSettings' to check

    def for_model(self, model: Model) -> "GenerationSettings":
        """These settings with the sampling filters left at None taken from ``model``'s recommendation."""
        from composer.sampling import FILTERS

        recommended = model.training.get("sampling") or {}
        chosen = {name: recommended.get(name) for name in FILTERS if getattr(self, name) is None and recommended.get(name) is not None}
        if chosen.get("temperature", self.temperature) is None:
            chosen["temperature"] = 1.0  # written out, so every file says how it was sampled
        return dataclasses.replace(self, **chosen)

    def sampling(self) -> SamplingSettings:
        return SamplingSettings(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)

    def describe(self, **in_force: object) -> str:
        """``name=value, ...`` of the fields set; ``in_force`` gives what a field came to mean in the piece
        (``bars``: a harmonization's true length; ``allow_chromatic``: True where no key kept notes in a scale)."""
        fields = {**dataclasses.asdict(self), **in_force}
        if self.form is None:
            fields.pop("repeats")  # a setting of forms only
        return ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


def _part_list(value: Any, what: str) -> tuple[str, ...] | None:
    """Part names or 1-based indices as a tuple of strings ("soprano,bass", [1, 4], ...); None stays None."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    parts = tuple(str(item).strip() for item in items)
    if not parts or any(not p for p in parts):
        raise GenerationError(f"{what} must name parts (names or 1-based numbers, comma-separated), got {value!r}")
    return parts


def _bar_list(value: Any) -> tuple[int, ...]:
    """cadence_bars as a sorted tuple of 1-based bar numbers."""
    bars = tuple(value) if isinstance(value, (tuple, list)) else None
    if bars is None or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= MAX_BARS for b in bars):
        raise GenerationError(f"cadence_bars must be 1-based bar numbers up to {MAX_BARS}, got {value!r}")
    return tuple(sorted(set(bars)))


def _check_given(settings: "GenerationSettings") -> None:
    """The accompany and infill fields: present for their mode, well formed, absent otherwise."""
    object.__setattr__(settings, "keep_parts", _part_list(settings.keep_parts, "keep_parts"))
    object.__setattr__(settings, "infill_parts", _part_list(settings.infill_parts, "infill_parts"))
    if settings.mode == "accompany" and settings.keep_parts is None:
        raise GenerationError("accompany needs the parts to keep (keep_parts, --keep)")
    if settings.mode == "infill":
        bars = settings.infill_bars
        if bars is None or len(bars) != 2 or not all(isinstance(b, int) and not isinstance(b, bool) for b in bars):
            raise GenerationError(f"infill needs the bars to rewrite as (first, last), got {bars!r}")
        if not 0 <= bars[0] <= bars[1] <= MAX_BARS:
            raise GenerationError(f"infill bars {bars[0]}-{bars[1]} are empty or out of range: need 0 <= first <= last <= {MAX_BARS}")
    if settings.mode != "accompany" and settings.keep_parts is not None:
        raise GenerationError("keep_parts applies to accompany only")
    if settings.mode != "infill" and (settings.infill_bars is not None or settings.infill_parts is not None):
        raise GenerationError("infill_bars and infill_parts apply to infill only")


@dataclass
class _Onset:
    bar: int
    pos: int  # steps from the barline
    notes: list[tuple[int, int, int]]  # (part, pitch, duration steps), in token order
    step: int = 0  # steps from the piece's start


@dataclass
class GenerationPlan:
    """What every sample of one request shares: the prompt, the forced notes, the masks (``plan`` makes it)."""

    prefix: list[int | np.ndarray]  # int = forced token, np.ndarray = allowed ids for a sampled token
    onsets: list[_Onset]
    seed_bar_ts: dict[int, int]  # bar index -> TimeSig id to force after that Bar (seed bars only)
    forced_parts: int  # parts 0..forced_parts-1 are the seed's while it lasts
    num_parts: int
    bars: int  # complete bars of the piece, as --bars counts them
    pickup: int  # 1 when the piece opens with the seed's pickup (not counted in ``bars``), else 0
    pitch_ok: list[np.ndarray]  # per part: allowed Pitch ids (bool over the vocabulary)
    style: str
    harmonize: bool  # the seed's parts stay fixed to the end, not only over the seed's bars
    allow_parallels: bool
    seed_end_step: int  # the seed's parts stay fixed while its last note sounds
    key: Key | None = None  # the key in force where no Key token says otherwise (given, the seed's, or found from its notes)
    ending: bool = False  # the last bar closes the piece: a long tonic in the top part (and bass), a held final chord
    final_onset: tuple[int, int] | None = None  # harmonize: (bar, position) of the melody's last note
    cadence: bool = False  # harmonize: the melody ends on a note of the tonic triad, so the chord under it is the tonic's
    monophonic: tuple[int, ...] = ()  # parts that sound one note at a time: none starts while another of its notes sounds
    harmony: harmony_prior.HarmonyBias | None = None  # harmonize: the melody-ahead prior's scores for the lower voices' pitches
    # continue: bar indices (pickup included) closing a phrase: the top part's last note starts by the bar's
    # half-way point (a beat before its end in odd meters) and is held to the barline, longer than the part's
    # other notes starting in the bar; the other parts join it
    cadence_bars: frozenset[int] = frozenset()
    # accompany and infill (``_given_plan``): the onsets hold every given note, of any part; the parts in
    # ``written`` write notes starting in [free_steps), each ending by ``free_until_step``. None: the rules above.
    written: tuple[int, ...] | None = None
    free_steps: tuple[int, int] = (0, 0)
    free_until_step: int = 0
    # What the model is told ahead of each token (composer.tokens.ahead): the given top part's next notes
    # (harmonize, and accompany and infill where the top part is given throughout) and the bars left.
    ahead: Ahead | None = None
    # harmonize: the steps the written voices' onsets and durations keep to, the melody's binary grid (sixteenths, or
    # finer where the melody is): no triplets under a melody without them. 1: any step.
    written_grid: int = 1

    @property
    def last_bar(self) -> int:
        """Index of the last bar; its closing Bar ends the piece."""
        return self.bars - 1 + self.pickup

    @property
    def from_scratch(self) -> bool:
        """No seed and nothing given: the model writes every note."""
        return not self.onsets and self.seed_end_step == 0 and self.written is None


@dataclass
class _Opening:
    """How the piece begins: from the seed's tokens, or from the settings alone."""

    time_signature: int | np.ndarray  # TimeSig id, or the allowed TimeSig ids (bool over the vocabulary)
    key: Key | None  # the key whose scale free notes keep to
    key_id: int | None  # the Key token to force (None: the model chooses)
    tempo_id: int | None
    bars: int
    pickup: int = 0
    onsets: list[_Onset] = field(default_factory=list)
    seed_bar_ts: dict[int, int] = field(default_factory=dict)
    seed_end_step: int = 0


class _State(Walker):
    """One sample: the grammar walker's place (bar, position, part, ...) plus what the masks track."""

    def __init__(self, grammar: Grammar, prefix: Sequence[Any], num_parts: int) -> None:
        super().__init__(grammar)
        self.queue: deque = deque(prefix)  # forced tokens (int) and masks (bool arrays) still to come
        self.tokens: list[int] = []
        self.part_at_pos = -1  # highest part that has a note at this position
        self.pitch_at_pos = 999  # last pitch of the current part at this position
        self.notes_in_bar = 0
        self.last_kind = -1
        self.last_value = 0
        self.last_forced = False  # the last token came from the prompt or a given note, not the model
        self.next_onset = 0
        self.done = False
        self.end_step = 0
        self.motion = VoiceMotion(num_parts)  # per part: its pitch before this position and at it (the parallel rule's)
        self.sounding = self.motion.sounding  # the same lists, read by the other masks
        self.current = self.motion.current
        self.ends = [0] * num_parts  # per part: the step where its latest note stops sounding
        self.required: set[int] = set()  # parts that must still write a note at this position
        self.key: Key | None = None  # from the latest Key token
        self.beat = 0  # steps of one beat of the meter in force (the engine sets it)
        self.compound = False  # the meter in force has dotted beats (6/8, 9/8, 12/8, 3/8)
        self.final_at = -1  # this bar: the step where the top part's held closing note starts (-1: not yet written)
        self.limit: int | None = None  # the longest duration the pending note may take (None: any)
        self.whole_beats = 0  # ... or, besides, a whole number of beats up to this many steps (compound meters)
        self.exact: list[int] = []  # the Duration run that makes the pending note end where it must
        self.note_steps = 0  # length so far of the latest note
        self.given_here: list[tuple[int, list[tuple[int, int, int]]]] = []  # given notes still to come here, per part (accompany, infill)
        self.top_starts: dict[tuple[int, int], int] = {}  # (bar, position) -> pitch of the top part's note started there (the echoes ahead)


class _Engine:
    def __init__(self, tokenizer: Tokenizer, plan: GenerationPlan) -> None:
        self.tok = tokenizer
        self.plan = plan
        v = len(tokenizer)
        kinds = tokenizer.kinds
        self.v = v
        self.base = tokenizer.base
        self.duration_mask = kinds == K_DURATION
        self.fine_max = tokenizer.config.fine_duration_beats * tokenizer.config.steps_per_beat
        self.part_ids = tokenizer.ids_of_kind("Part")
        self.position_base = tokenizer.base[K_POSITION]
        self.pitch_base = tokenizer.base[K_PITCH]
        self._pitch_any = kinds == K_PITCH
        self.pad_only = np.zeros(v, bool)  # what a finished sample is fed while the others go on
        self.pad_only[tokenizer.pad_id] = True
        self.bar_id = tokenizer.bar_id
        self.check_parallels = not plan.allow_parallels and plan.num_parts > 1
        self.steps_of = np.zeros(v, np.int64)  # per id: a Duration's steps (0 otherwise)
        self.steps_of[kinds == K_DURATION] = [tokenizer.durations_steps[i] for i in range(int((kinds == K_DURATION).sum()))]
        self.spb = tokenizer.config.steps_per_beat
        self.max_note = tokenizer.config.max_duration_beats * self.spb  # no run of durations makes a note longer
        meters = [_meter_beat(tokenizer.tokens[i], self.spb) for i in tokenizer.ids_of_kind("TimeSig")]
        self.beat_of = [beat for beat, _ in meters]
        self.compound_of = [compound for _, compound in meters]
        self.closing_bars = sorted(set(plan.cadence_bars) | ({plan.last_bar} if plan.ending else set()))
        self.on_grid = np.arange(int((kinds == K_POSITION).sum())) % max(plan.written_grid, 1) == 0  # per Position: on the written grid

    def _pitch_mask(self, s: _State, part: int) -> np.ndarray:
        """Allowed Pitch ids for ``part``: its range and scale, nothing above a higher part sounding here, less parallels with the parts above."""
        allowed = self._below_upper_parts(s, part, self.plan.pitch_ok[part])
        forbidden = s.motion.parallels(part) if self.check_parallels else None
        if forbidden is None:
            return allowed
        narrowed = allowed.copy()
        narrowed[self.pitch_base : self.pitch_base + 128] &= ~forbidden
        # A part with no other way to go keeps its full range rather than stall the piece.
        return narrowed if narrowed.any() else allowed

    def _below_upper_parts(self, s: _State, part: int, allowed: np.ndarray) -> np.ndarray:
        """The voices keep their order (with the parallels, a voice-leading rule ``allow_parallels`` lifts):
        ``part`` writes nothing above a higher part's note sounding at this onset (unless nothing else fits)."""
        if not self.check_parallels or part >= len(s.current):
            return allowed
        above = [s.current[q] if s.current[q] >= 0 else s.sounding[q] for q in range(part) if s.current[q] >= 0 or s.ends[q] > s.onset]
        above = [pitch for pitch in above if pitch >= 0]
        if not above:
            return allowed
        narrowed = allowed.copy()
        narrowed[self.pitch_base + min(above) + 1 : self.pitch_base + 128] = False
        return narrowed if narrowed.any() else allowed

    def bias(self, s: _State) -> np.ndarray | None:
        """Scores added to the model's before the next token is drawn: the harmony prior under a
        lower voice's pitch while the melody sounds (None: nothing to add)."""
        h = self.plan.harmony
        if h is None or s.queue or s.last_kind not in (K_PART, K_POSITION) or s.part < self.plan.forced_parts:
            return None
        if s.next_onset < 1 or s.ends[0] <= s.onset:  # the melody rests here
            return None
        scores = h.scores(s.onset, s.part - 1)
        if scores is None:
            return None
        out = np.zeros(self.v, np.float32)
        out[self.pitch_base : self.pitch_base + 128] = scores
        return out

    # -- masks -------------------------------------------------------------
    def allowed(self, s: _State) -> np.ndarray:
        """Allowed next tokens of one sample (bool over the vocabulary)."""
        if s.queue:
            head = s.queue[0]
            if isinstance(head, np.ndarray):
                return head
            mask = np.zeros(self.v, bool)
            mask[head] = True
            return mask
        p = self.plan
        if p.written is not None:
            return self._allowed_given(s)
        mask = np.zeros(self.v, bool)
        if s.last_kind == K_PITCH:
            return self._duration_mask(s)
        if s.last_kind == K_DURATION and s.last_value >= self.fine_max and not s.last_forced and s.limit is None and s.note_steps < self.max_note:
            mask |= self.duration_mask  # a long note may go on as a run of durations (a given note keeps its length)
        onset = p.onsets[s.next_onset] if s.next_onset < len(p.onsets) else None
        seed_sounding = s.bar_start + max(s.pos, 0) < p.seed_end_step
        free_from = p.forced_parts if onset is not None or p.harmonize or seed_sounding else 0
        missing = min(s.required, default=p.num_parts)  # the highest part that must still write here
        last_part = min(p.num_parts - 1, missing)
        if self._top_must_end_here(s):
            last_part = 0
        if s.last_kind == K_PART:  # a part token is followed by that part's note
            return self._part_pitches(s, s.part) if s.part < p.num_parts else self._pitch_any
        busy = self._busy_parts(s)
        if s.last_kind == K_POSITION:  # a position is followed by a note
            mask[self.part_ids[free_from : last_part + 1]] = True
            if 0 <= s.part < len(self.part_ids):
                mask[self.part_ids[s.part]] = False  # the encoder writes no Part token for an unchanged part
            if free_from <= s.part <= last_part and s.part not in busy:
                mask |= self._part_pitches(s, s.part)
            mask[self.part_ids[busy]] = False
            if mask.any():
                return mask
        if not s.required and self._bar_may_close(s, onset):
            mask[self.tok.bar_id] = True
        hi = min(self._last_position(s, onset), s.bar_len - 1)
        if self._top_keeps_sounding(s):
            hi = min(hi, s.ends[0] - s.bar_start)  # no rest in the top part: the next onset comes by the end of its note
        if self._voices_keep_sounding(s):
            hi = min(hi, min(s.ends[p.forced_parts :]) - s.bar_start)  # ... nor in a voice under the melody
        if s.pos + 1 <= hi and not s.required:
            mask[self.position_base + s.pos + 1 : self.position_base + hi + 1] = True
            if p.written_grid > 1:
                mask[self.position_base : self.position_base + s.bar_len] &= self.on_grid[: s.bar_len]
        if s.pos >= 0:
            first = max(free_from, s.part_at_pos + 1)
            if first <= last_part:
                mask[self.part_ids[first : last_part + 1]] = True
                mask[self.part_ids[busy]] = False
            if s.part >= free_from and s.part < p.num_parts and s.part >= s.part_at_pos and s.part not in busy:
                pitches = self._part_pitches(s, s.part)
                if s.part == s.part_at_pos:  # a chord within the part goes high to low
                    pitches = pitches.copy()
                    pitches[self.pitch_base + min(s.pitch_at_pos, 128) :] = False
                mask |= pitches
        if not mask.any():  # nothing fits: close the bar rather than fail
            mask[self.tok.bar_id] = True
        return mask

    def _busy_parts(self, s: _State) -> list[int]:
        """Parts that may not start a note here: one-note-at-a-time parts whose last note still sounds."""
        return [q for q in self.plan.monophonic if s.ends[q] > s.onset]

    def _ending_bar(self, s: _State) -> bool:
        return self.plan.ending and s.bar == self.plan.last_bar

    def _cutoff(self, s: _State) -> int:
        """The last position of the final bar where a note may start: half-way in a bar of an even number of beats, else a beat before its end."""
        beat = s.beat or self.spb
        beats = s.bar_len // beat
        return s.bar_len // 2 if beats % 2 == 0 and s.bar_len % beat == 0 else max(s.bar_len - beat, 0)

    def _closing_bar(self, s: _State) -> bool:
        """The top part ends this bar on a note held to the barline: the final bar (``_ending_bar``) or a phrase end (``cadence_bars``)."""
        return self._ending_bar(s) or s.bar in self.plan.cadence_bars

    def _top_must_end_here(self, s: _State) -> bool:
        """At a closing bar's last onset, with no closing note yet, only the top part's closing note may come."""
        return self._closing_bar(s) and s.final_at < 0 and s.pos >= self._cutoff(s) and s.part_at_pos < 0

    def _top_keeps_sounding(self, s: _State) -> bool:
        """From scratch, the top part sounds through the first bar once it has begun, without a rest.

        A model that learned pickups as a short first bar of their own meter otherwise opens a piece
        from scratch (a whole first bar) with the pickup's note and then falls silent for the rest of the bar.
        """
        p = self.plan
        return s.bar == 0 and p.from_scratch and s.ends[0] > 0

    def _voices_keep_sounding(self, s: _State) -> bool:
        """Harmonizing, the written voices sound while the melody does: one whose note ends writes the next at once."""
        p = self.plan
        return p.harmonize and p.forced_parts < p.num_parts and s.onset < p.seed_end_step and s.pos >= 0

    def _bar_may_close(self, s: _State, onset: _Onset | None) -> bool:
        p = self.plan
        if self._top_keeps_sounding(s) and s.ends[0] < s.bar_start + s.bar_len:
            return False
        if self._voices_keep_sounding(s) and min(s.ends[p.forced_parts :]) < min(s.bar_start + s.bar_len, p.seed_end_step):
            return False
        if self._closing_bar(s):
            return s.final_at >= 0
        if p.harmonize and onset is None:
            return True  # past the melody's last onset, bars only run out
        return (s.notes_in_bar > 0 or onset is not None) and (onset is None or onset.bar > s.bar)

    def _last_position(self, s: _State, onset: _Onset | None) -> int:
        """The latest Position the next token may name in this bar (-1: none)."""
        p = self.plan
        if self._closing_bar(s):
            return -1 if s.final_at >= 0 else self._cutoff(s)
        if onset is not None and onset.bar == s.bar:
            return onset.pos
        if p.harmonize and onset is None:
            return -1  # nothing starts after the melody's last note
        return s.bar_len - 1

    def _final_pitch_classes(self, s: _State, part: int) -> np.ndarray | None:
        """bool[12]: what ``part`` may sound where the piece must end here; None: anything."""
        p = self.plan
        if self._ending_bar(s):
            final = s.final_at >= 0 or s.pos >= self._cutoff(s)
        else:
            final = p.cadence and part >= p.forced_parts and (s.bar, s.pos) == p.final_onset
        return self._ending_classes(s, part) if final else None

    def _ending_classes(self, s: _State, part: int) -> np.ndarray | None:
        """bool[12]: the notes ``part`` may end on: the tonic in the top part and the bass, the tonic triad within."""
        key = s.key or self.plan.key
        if key is None:
            return None
        chord = tonic_triad(key)
        ok = np.zeros(12, bool)
        ok[list(chord) if 0 < part < self.plan.num_parts - 1 else [chord[0]]] = True
        return ok

    def _part_pitches(self, s: _State, part: int) -> np.ndarray:
        """``_pitch_mask`` narrowed to the final chord where the piece ends (the parallels rule wins where both cannot hold)."""
        allowed = self._pitch_mask(s, part)
        classes = self._final_pitch_classes(s, part)
        if classes is None:
            return allowed
        in_chord = np.zeros(self.v, bool)
        in_chord[self.pitch_base : self.pitch_base + 128] = np.resize(classes, 128)
        above = [pitch for pitch in s.current[:part] if pitch >= 0]
        in_order = in_chord.copy()
        if above:  # the final chord keeps its voices in order: none above a higher part's note
            in_order[self.pitch_base + min(above) + 1 : self.pitch_base + 128] = False
        for narrowed in (allowed & in_order, allowed & in_chord):
            if narrowed.any():
                return narrowed
        return allowed

    def _duration_mask(self, s: _State) -> np.ndarray:
        """Durations of the pending note: up to ``s.limit`` steps (or whole beats up to ``s.whole_beats``), or the run that ends it where it must;
        a harmonization's written voices keep to the melody's grid."""
        grid = self.plan.written_grid
        on_grid = self.duration_mask & (self.steps_of % grid == 0) if grid > 1 and s.part >= self.plan.forced_parts else self.duration_mask  # > 1: harmonizing
        if s.limit is None:
            return on_grid
        mask = on_grid & (self.steps_of <= s.limit)
        if s.whole_beats:
            mask |= self.duration_mask & (self.steps_of % s.beat == 0) & (self.steps_of <= s.whole_beats)
        if s.exact:
            mask[s.exact[0]] = True
        return mask if mask.any() else self.duration_mask

    def _meter_feel(self, s: _State, limit: int) -> tuple[int, int]:
        """A written note under given ones in a compound meter (6/8, 9/8, 12/8) keeps to its dotted beats:
        it ends by the next beat, or, starting on a beat, lasts whole beats. Returns (limit, whole_beats)."""
        p = self.plan
        free = (p.harmonize and s.part >= p.forced_parts) or (p.written is not None and s.part in p.written)
        beat = s.beat
        if not free or not s.compound or beat <= 0:
            return limit, 0
        return min(limit, beat - s.pos % beat), limit if s.pos % beat == 0 else 0

    def _note_limits(self, s: _State) -> tuple[int | None, list[int]]:
        """How long the note just pitched may be: (longest free duration or None, the run that ends it exactly)."""
        p = self.plan
        if p.written is not None:
            return self._given_note_limits(s)
        if p.harmonize and s.part >= p.forced_parts:
            return self._toward_final_chord(s, p.seed_end_step - s.onset)  # nothing sounds after the melody
        closing = next((b for b in self.closing_bars if b >= s.bar), None)
        if closing is None:
            return None, []
        cutoff = self._cutoff(s)
        if s.bar < closing:  # leave the next closing bar's last beat free (the meter assumed to hold)
            return (closing - s.bar) * s.bar_len - s.pos + cutoff, []
        to_end = self.tok.duration_ids(s.bar_len - s.pos)
        if s.final_at >= 0 or s.pos >= cutoff:
            return 0, to_end
        limit = cutoff - s.pos
        if s.part == 0 and s.bar in self.plan.cadence_bars:  # a phrase end: the top part's other notes here stay shorter than its closing one
            limit = min(limit, s.bar_len - cutoff - 1)
        if not self._ending_bar(s):
            return limit, to_end
        classes = self._ending_classes(s, s.part)
        fits = classes is None or bool(classes[s.pitch % 12])
        return limit, to_end if fits else []

    # -- state updates -------------------------------------------------------
    def new_state(self) -> _State:
        """A sample at the start of the plan's prompt."""
        s = _State(self.tok.grammar, self.plan.prefix, self.plan.num_parts)
        s.beat = self.spb
        return s

    def advance(self, s: _State, token: int) -> None:
        s.last_forced = bool(s.queue) and not isinstance(s.queue[0], np.ndarray)
        if s.queue:
            s.queue.popleft()
        elif s.given_here:
            self._take_given(s, token)
        p = self.plan
        if token == self.bar_id and s.bar == p.last_bar:
            s.done = True
            s.end_step = s.bar_start + s.bar_len
            return
        kind = s.feed(token)  # bars, positions, parts and notes: the walker's bookkeeping
        if kind == K_BAR:
            s.final_at = -1
            s.part_at_pos = -1
            s.notes_in_bar = 0
            s.required = set()
            if s.bar in p.seed_bar_ts:  # the seed's meter change, right after its Bar
                s.queue.appendleft(p.seed_bar_ts[s.bar])
        elif kind == K_TIMESIG:
            s.beat = self.beat_of[s.value]
            s.compound = self.compound_of[s.value]
        elif kind == K_KEY:
            s.key = (s.value // 2 + SHARPS_MIN, bool(s.value % 2))
        elif kind == K_POSITION:
            self._at_position(s)
        elif kind == K_PART:
            s.part_at_pos = s.part
            s.pitch_at_pos = 999
        elif kind == K_PITCH:
            if s.part > s.part_at_pos:
                s.part_at_pos = s.part
            s.pitch_at_pos = s.pitch
            s.notes_in_bar += 1
            s.required.discard(s.part)
            s.motion.note(s.part, s.pitch)
            s.limit, s.exact = self._note_limits(s)
            s.whole_beats = 0
            if s.limit and not s.exact:
                s.limit, s.whole_beats = self._meter_feel(s, s.limit)
        elif kind == K_DURATION:
            if s.part == 0:
                s.top_starts.setdefault((s.bar, s.pos), s.pitch)
            self._note_written(s, token)
        elif kind == LENGTHENED:
            kind = K_DURATION
            s.note_steps += s.value
            if s.part < len(s.ends):
                s.ends[s.part] += s.value
        s.last_kind, s.last_value = kind, s.value

    def _at_position(self, s: _State) -> None:
        p = self.plan
        s.part_at_pos = -1
        s.pitch_at_pos = 999
        s.required = set()
        s.motion.position()
        if p.written is not None:
            return self._given_onset(s)
        onset = p.onsets[s.next_onset] if s.next_onset < len(p.onsets) else None
        if self._top_keeps_sounding(s) and s.ends[0] <= s.onset:
            s.required = {0}  # the top part went silent: it sounds again here, first
        if onset is not None and onset.bar == s.bar and onset.pos == s.pos:
            s.queue.extend(self._note_tokens(s, onset.notes))
            s.next_onset += 1
            # Under a given note every free part sounds: one that is silent here writes a note
            # (at the melody's last note, every one of them, so that all end together).
            last = p.harmonize and (s.bar, s.pos) == p.final_onset
            s.required = {q for q in range(p.forced_parts, p.num_parts) if last or s.ends[q] <= s.onset}
        elif self._voices_keep_sounding(s):
            s.required = {q for q in range(p.forced_parts, p.num_parts) if s.ends[q] <= s.onset}

    def _note_written(self, s: _State, token: int) -> None:
        """A note's first Duration: when it sounds until, and whether it is the top part's final note."""
        p = self.plan
        if s.part >= len(s.ends):
            return
        if s.exact and token == s.exact[0] and not s.last_forced and (s.limit is None or s.value > s.limit or len(s.exact) == 1):
            s.queue.extendleft(reversed(s.exact[1:]))  # the rest of the run that ends the note where it must
            steps = sum(int(self.steps_of[t]) for t in s.exact)
        else:
            steps = s.value
        s.ends[s.part] = max(s.ends[s.part], s.onset + steps)
        s.note_steps = steps
        s.exact = []  # s.limit stays: a note with a limit is not lengthened
        if self._closing_bar(s) and s.part == 0 and s.final_at < 0 and s.ends[0] >= s.bar_start + s.bar_len:
            s.final_at = s.onset  # the closing chord: every part silent here joins it
            s.required = {q for q in range(1, p.num_parts) if s.ends[q] <= s.onset}

    def _note_tokens(self, s: _State, notes: list[tuple[int, int, int]]) -> list[int]:
        """Tokens of forced notes; the part token follows the encoder's rule (only on change)."""
        out = []
        part = s.part
        for note_part, pitch, duration in notes:
            if note_part != part:
                out.append(self.base[K_PART] + note_part)
                part = note_part
            out.append(self.pitch_base + pitch)
            out.extend(self.tok.duration_ids(duration))
        return out


    # -- accompany and infill: given notes of any part, the model's parts between them ------------
    def _free_here(self, s: _State) -> bool:
        return self.plan.free_steps[0] <= s.onset < self.plan.free_steps[1]

    def _given_onset(self, s: _State) -> None:
        """At a Position: the given notes here wait in ``s.given_here``, part by part; free parts silent under them must sound."""
        p = self.plan
        s.given_here = []
        onset = p.onsets[s.next_onset] if s.next_onset < len(p.onsets) else None
        if onset is None or (onset.bar, onset.pos) != (s.bar, s.pos):
            return
        s.next_onset += 1
        for note in onset.notes:
            if s.given_here and s.given_here[-1][0] == note[0]:
                s.given_here[-1][1].append(note)
            else:
                s.given_here.append((note[0], [note]))
        if self._free_here(s):
            last = (s.bar, s.pos) == p.final_onset
            busy = self._busy_parts(s)  # a one-note-at-a-time part still sounding cannot join
            s.required = {q for q in p.written if (last or s.ends[q] <= s.onset) and q not in busy}

    def _take_given(self, s: _State, token: int) -> None:
        """The first token of the next given note was chosen: the rest of its tokens follow as forced ones."""
        tokens = self._note_tokens(s, s.given_here[0][1])
        if token == tokens[0]:
            s.queue.extend(tokens[1:])
            s.given_here.pop(0)

    def _allowed_given(self, s: _State) -> np.ndarray:
        """Masks for accompany and infill: given notes in part order, the written parts' notes around them."""
        if s.last_kind == K_PITCH:
            return self._duration_mask(s)
        if s.last_kind == K_PART:
            return self._given_pitches(s, s.part)
        mask = np.zeros(self.v, bool)
        if s.pos >= 0:
            self._given_notes(s, mask)
            if s.given_here:
                return mask
        if not s.required:
            self._given_moves(s, mask)
        if not mask.any():  # nothing fits: the next given note's position, else close the bar
            onset = self.plan.onsets[s.next_onset] if s.next_onset < len(self.plan.onsets) else None
            mask[self.position_base + onset.pos if onset is not None and onset.bar == s.bar and onset.pos > s.pos else self.bar_id] = True
        return mask

    def _given_notes(self, s: _State, mask: np.ndarray) -> None:
        """Notes that may come next at this position: written parts above the next given note, then that note."""
        p = self.plan
        below = s.given_here[0][0] if s.given_here else p.num_parts  # the next given note's part
        first_required = min(s.required, default=p.num_parts)
        if self._free_here(s):
            busy = self._busy_parts(s)
            for q in p.written:
                if q < s.part_at_pos or q >= below or q > first_required or q in busy:
                    continue
                if q == s.part_at_pos:  # a chord within the part goes high to low
                    if s.last_kind == K_DURATION:
                        pitches = self._part_pitches(s, q).copy()
                        pitches[self.pitch_base + min(s.pitch_at_pos, 128) :] = False
                        mask |= pitches
                elif q == s.part:  # the encoder writes no Part token for an unchanged part
                    mask |= self._given_pitches(s, q)
                else:
                    mask[self.part_ids[q]] = True
        if s.given_here and (first_required > below or not mask.any()):  # a required part that cannot come gives way
            mask[self._note_tokens(s, s.given_here[0][1])[0]] = True

    def _given_pitches(self, s: _State, part: int) -> np.ndarray:
        """``_part_pitches``, less parallel fifths and octaves with the given notes still to come below ``part`` here."""
        allowed = self._part_pitches(s, part)
        before = s.sounding[part] if part < len(s.sounding) else -1
        if not self.check_parallels or before < 0 or not s.given_here:
            return allowed
        forbidden = np.zeros(128, bool)
        for lower, notes in s.given_here:
            if lower > part:
                forbidden |= parallel_pitches(before, s.sounding[lower], notes[0][1], other_above=False)
        if not forbidden.any():
            return allowed
        narrowed = allowed.copy()
        narrowed[self.pitch_base : self.pitch_base + 128] &= ~forbidden
        return narrowed if narrowed.any() else allowed  # a part with no other way to go keeps its notes

    def _given_moves(self, s: _State, mask: np.ndarray) -> None:
        """Positions (free ones, and the next given note's) and the closing Bar."""
        p = self.plan
        onset = p.onsets[s.next_onset] if s.next_onset < len(p.onsets) else None
        in_bar = onset is not None and onset.bar == s.bar
        lo = max(p.free_steps[0] - s.bar_start, s.pos + 1)
        hi = min(p.free_steps[1] - s.bar_start, s.bar_len, onset.pos if in_bar else s.bar_len)
        if lo < hi:
            mask[self.position_base + lo : self.position_base + hi] = True
        if in_bar and onset.pos > s.pos:
            mask[self.position_base + onset.pos] = True
        bar_end = s.bar_start + s.bar_len
        free_bar = s.bar_start < p.free_steps[1] and bar_end > p.free_steps[0] and s.onset < p.free_steps[1]
        if not in_bar and (s.notes_in_bar > 0 or not free_bar):  # a rewritten bar holds a note
            mask[self.bar_id] = True

    def _given_note_limits(self, s: _State) -> tuple[int | None, list[int]]:
        """A written note ends by ``free_until_step``; under the last given note, exactly there."""
        p = self.plan
        if s.part not in p.written or not self._free_here(s) or s.last_forced:
            return None, []
        return self._toward_final_chord(s, p.free_until_step - s.onset)

    def _toward_final_chord(self, s: _State, remaining: int) -> tuple[int, list[int]]:
        """A written note's limits where the given music ends with a last chord (harmonize; accompany and infill reaching
        the end): from that chord on, exactly ``remaining`` steps (it ends with the given music); before it, at most
        ``remaining`` and no further than the chord's start, so every written part strikes it."""
        p = self.plan
        if p.final_onset is not None and (s.bar, s.pos) >= p.final_onset:
            return 0, self.tok.duration_ids(max(remaining, 1))
        if p.final_onset is not None:
            remaining = min(remaining, p.onsets[-1].step - s.onset)
        return max(remaining, 1), []


def _meter_beat(timesig_name: str, steps_per_beat: int) -> tuple[int, bool]:
    """Steps of one beat under ``TimeSig_n/d``, and whether the meter is compound (6/8, 9/8, 12/8, 3/8: a dotted beat)."""
    num, den = (int(x) for x in timesig_name.split("_", 1)[1].split("/"))
    return meter_beat(num, den, steps_per_beat)


def _seed_for(seed: Score | None, settings: GenerationSettings) -> Score | None:
    """The seed with the requested key, meter and tempo applied."""
    if seed is None:
        return None
    if len(seed) == 0:
        raise GenerationError("the seed has no notes")
    if settings.key is not None:
        key = parse_key(settings.key)
        old = opening_key(seed)
        if old is not None:
            seed = transpose(seed, transposition(old, key))
        seed = seed.replace(key_signatures=[(0, *key)])
    if settings.time_signature is not None:
        num, den = parse_time_signature(settings.time_signature)
        seed = seed.replace(time_signatures=[(0, num, den)])
    if settings.tempo_qpm is not None:
        seed = seed.replace(tempos=[(0, float(settings.tempo_qpm))])
    return seed


def _styles(model: Model) -> dict[str, Any]:
    return model.training.get("styles") or {}


def default_style(model: Model) -> str:
    """The style a model writes when none is asked for: of the styles it was fine-tuned on (``train --from``), else of
    all it knows, the one it saw most pieces of (its tokenizer's first without that record)."""
    known = _styles(model)
    if not known:
        return model.tokenizer.config.styles[0]
    record = model.training.get("fine_tuning")
    tuned = [s for s in (record.get("styles") or {}) if s in known] if isinstance(record, dict) else []
    return max(tuned or known, key=lambda s: known[s].get("pieces", 0))


def _choose_style(model: Model, settings: GenerationSettings, seed: Score | None) -> str:
    known = _styles(model)
    style = settings.style or (seed.metadata.get("style") if seed is not None else None) or default_style(model)
    if f"Style_{style}" not in model.tokenizer.ids:
        raise GenerationError(f"unknown style {style!r}; this model knows {', '.join(known) or ', '.join(model.tokenizer.config.styles)}")
    if known and style not in known:
        raise GenerationError(f"model {model.name!r} was not trained on style {style!r}; it knows {', '.join(sorted(known))}")
    return style


def _pitch_masks(tok: Tokenizer, ranges: Sequence[Sequence[int]], num_parts: int, key: Key | None, chromatic: bool) -> list[np.ndarray]:
    pitch_ids = tok.ids_of_kind("Pitch")
    pitches = tok.values[pitch_ids]
    in_key = np.ones(128, bool) if key is None or chromatic else np.resize(scale_of(key), 128)
    masks = []
    for part in range(num_parts):
        lo, hi = ranges[part] if part < len(ranges) else (ranges[-1] if ranges else (0, 127))
        mask = np.zeros(len(tok), bool)
        ok = (pitches >= lo) & (pitches <= hi) & in_key[pitches]
        mask[pitch_ids[ok]] = True
        masks.append(mask)
    return masks


def _kept_parts(seed: Score | None, settings: GenerationSettings, style: str, num_parts: int) -> tuple[Score | None, int]:
    """The seed as it will be kept (harmonize keeps its top part only) and how many parts it fixes."""
    harmonize = settings.mode == "harmonize"
    if seed is None:
        if harmonize:
            raise GenerationError("harmonize needs a melody")
        return None, 0
    if harmonize and seed.num_parts > 1:  # the melody is the seed's top part
        seed = select_parts(seed, [0])
    if seed.num_parts > num_parts:
        raise GenerationError(f"the seed has {seed.num_parts} parts; the {style} style of this model writes {num_parts}")
    if harmonize and num_parts < 2:
        raise GenerationError(f"harmonize needs a model style with several parts; {style!r} has {num_parts}")
    return seed, seed.num_parts


def _seed_opening(tok: Tokenizer, seed: Score, style: str, settings: GenerationSettings) -> _Opening:
    """The seed's meter, key, tempo and notes, and the piece's length in bars."""
    body = tok.encode(seed, style, eos=False)[2 + seed.num_parts :]
    onsets, seed_bar_ts, key_id, tempo_id, seed_bars = _seed_events(tok, body)
    key = seed_key(seed)  # its key signature, else the key its notes are in (TinyNotation, many MIDI files)
    if key_id is None:
        key_id = tok.ids[f"Key_{key_name(*key)}"]
    pickup = pickup_bars(seed)
    if settings.mode == "harmonize":
        bars = bars_of(seed)  # every bar the melody sounds in, its last note kept whole
    else:
        bars = settings.bars
        if seed_bars - pickup > bars:
            raise GenerationError(f"the seed is {seed_bars - pickup} bars long, more than --bars {bars}")
    tpb, spb = seed.ticks_per_beat, tok.config.steps_per_beat
    return _Opening(
        time_signature=seed_bar_ts.pop(0),
        key=key,
        key_id=key_id,
        tempo_id=tempo_id,
        bars=bars,
        pickup=pickup,
        onsets=onsets,
        seed_bar_ts=seed_bar_ts,
        seed_end_step=ticks_to_steps(seed.end_tick, tpb, spb),
    )


def _fresh_opening(tok: Tokenizer, settings: GenerationSettings) -> _Opening:
    """The opening of a piece from scratch: the requested meter (else a common one), key and tempo."""
    if settings.time_signature:
        name = f"TimeSig_{settings.time_signature.strip()}"
        if name not in tok.ids:
            raise GenerationError(f"time signature {settings.time_signature} is not in this model's vocabulary")
        time_signature: int | np.ndarray = tok.ids[name]
    else:
        time_signature = np.zeros(len(tok), bool)
        for num, den in COMMON_METERS:
            time_signature[tok.ids[f"TimeSig_{num}/{den}"]] = True
    key = parse_key(settings.key) if settings.key else None
    tempo_id = None if settings.tempo_qpm is None else tok.tempo_id(settings.tempo_qpm)
    key_id = tok.ids[f"Key_{key_name(*key)}"] if key is not None else None
    return _Opening(time_signature=time_signature, key=key, key_id=key_id, tempo_id=tempo_id, bars=settings.bars)


def plan(model: Model, seed: Score | None, settings: GenerationSettings) -> GenerationPlan:
    """Turn a request into a prompt, forced notes and masks (shared by all samples)."""
    if settings.mode in GIVEN_MODES:
        return _given_plan(model, seed, settings)
    tok: Tokenizer = model.tokenizer
    style = _choose_style(model, settings, seed)
    profile = _styles(model).get(style, {})
    programs = list(profile.get("programs") or [0])
    num_parts = len(programs)
    seed, forced_parts = _kept_parts(_seed_for(seed, settings), settings, style, num_parts)
    opening = _fresh_opening(tok, settings) if seed is None else _seed_opening(tok, seed, style, settings)
    prefix: list[int | np.ndarray] = [tok.bos_id, tok.style_id(style), *(tok.base[K_PROGRAM] + p for p in programs)]
    prefix += [tok.bar_id, opening.time_signature, tok.base[K_POSITION]]
    prefix.append(opening.key_id if opening.key_id is not None else (tok.kinds == K_KEY))
    prefix.append(opening.tempo_id if opening.tempo_id is not None else (tok.kinds == K_TEMPO))
    ranges = profile.get("pitch_ranges") or [[0, 127]] * num_parts
    harmonize = settings.mode == "harmonize"
    onsets = opening.onsets
    final_onset = (onsets[-1].bar, onsets[-1].pos) if harmonize and onsets else None
    last_pitch = onsets[-1].notes[0][1] if final_onset is not None else -1
    cadence = final_onset is not None and opening.key is not None and last_pitch % 12 in tonic_triad(opening.key)
    last_bar = opening.bars - 1 + opening.pickup
    return GenerationPlan(
        prefix=prefix,
        onsets=opening.onsets,
        seed_bar_ts=opening.seed_bar_ts,
        forced_parts=forced_parts,
        num_parts=num_parts,
        bars=opening.bars,
        pickup=opening.pickup,
        pitch_ok=_pitch_masks(tok, ranges, num_parts, opening.key, settings.allow_chromatic),
        style=style,
        harmonize=harmonize,
        allow_parallels=settings.allow_parallels,
        seed_end_step=opening.seed_end_step,
        key=opening.key,
        # The last bar ends the piece unless the seed's notes reach into it (they end it as they are).
        ending=not harmonize and not settings.free_ending and all(o.bar < last_bar for o in onsets),
        final_onset=final_onset,
        cadence=cadence and not settings.free_ending,
        monophonic=_monophonic_parts(profile, num_parts),
        harmony=_harmony_bias(model, profile, settings, seed, opening.key) if harmonize else None,
        cadence_bars=_phrase_end_bars(settings, opening, harmonize),
        written_grid=_melody_grid(onsets, tok.config.steps_per_beat) if harmonize else 1,
        ahead=_ahead(tok, onsets if harmonize else None, _ahead_last_bar(settings, opening), _asked_phrase_ends(settings, opening, profile.get("phrase_bars")),
                     phrase_end_steps(seed, tok.config.steps_per_beat) if harmonize and seed is not None else None),
    )


def _ahead(tok: Tokenizer, given: list[_Onset] | None, last_bar: int, phrase_end_bars: tuple[int, ...] | None = None,
           phrase_ends: list[int] | None = None) -> Ahead:
    """The features ahead of a plan: the top part's notes among the ``given`` onsets (None: the melody is not given),
    the last bar, and the phrase ends: the steps a given melody marks, else the bars asked to close phrases (None: not given)."""
    melody = None if given is None else [(o.step, pitch, length) for o in given for part, pitch, length in o.notes if part == 0]
    return Ahead.of(melody, last_bar, tok.config.steps_per_beat, phrase_ends, None if phrase_ends is not None else phrase_end_bars)


def _melody_grid(onsets: list[_Onset], steps_per_beat: int) -> int:
    """The grid (steps) a harmonization's written voices keep to: the finest binary division the melody's onsets and
    lengths need, a sixteenth at the coarsest; where the melody moves in triplets, what both allow (near any step)."""
    sixteenth = max(steps_per_beat // 4, 1)
    grid = sixteenth
    for onset in onsets:
        grid = math.gcd(grid, onset.step, *(length for _, _, length in onset.notes))
    return max(grid, 1)


def _ahead_last_bar(settings: GenerationSettings, opening: _Opening) -> int:
    """The bar index (pickup included) the features ahead count to: the piece's last, past this generation's where
    it writes a form's section (``ahead_bars``)."""
    return max(settings.ahead_bars or 0, opening.bars) - 1 + opening.pickup


def _asked_phrase_ends(settings: GenerationSettings, opening: _Opening, style_phrase_bars: int | None = None) -> tuple[int, ...] | None:
    """Bar indices (pickup included) closing the phrases ``--phrase-bars``/``cadence_bars`` ask for, else those of
    the style's usual phrase length (its profile's ``phrase_bars``), the last bar with them; None for neither."""
    every = settings.phrase_bars or (None if settings.cadence_bars else style_phrase_bars)
    if not every and not settings.cadence_bars:
        return None
    last_bar = _ahead_last_bar(settings, opening)
    ends = {b - 1 + opening.pickup for b in phrase_ends(last_bar + 1 - opening.pickup, every, settings.cadence_bars)}
    return tuple(sorted(b for b in ends | {last_bar} if b <= last_bar))


def _harmony_bias(model: Model, profile: dict[str, Any], settings: GenerationSettings, melody: Score | None, key: Key | None) -> harmony_prior.HarmonyBias | None:
    """What harmonizing adds to the lower voices' pitch scores over the given melody (``melody``'s top part): the
    style's harmonizer where it has one, else its counted prior; None without either, a key or a melody."""
    if not settings.harmony_weight or melody is None or key is None or not ({"harmonizer", "harmony"} & set(profile)):
        return None
    try:
        if "harmonizer" in profile:
            log_probs = harmony_prior.decode_harmonizer(profile["harmonizer"]).log_probs(melody, key)
        else:
            log_probs = harmony_prior.prior_log_probs(harmony_prior.decode(profile["harmony"]), melody, key)
    except harmony_prior.HarmonyPriorError as exc:
        raise GenerationError(f"model {model.name}: {exc}") from None
    steps = model.tokenizer.config.steps_per_beat * harmony_prior.grid_step_ticks(melody.ticks_per_beat) / melody.ticks_per_beat
    return harmony_prior.HarmonyBias(log_probs, settings.harmony_weight, key, round(steps))


def _phrase_end_bars(settings: GenerationSettings, opening: _Opening, harmonize: bool) -> frozenset[int]:
    """Bar indices (pickup included) of the phrase ends the model writes: past the seed's notes, up to the last bar."""
    if harmonize:
        return frozenset()
    after_seed = max((o.bar for o in opening.onsets), default=-1)
    ends = (b - 1 + opening.pickup for b in phrase_ends(opening.bars, settings.phrase_bars, settings.cadence_bars))
    return frozenset(b for b in ends if after_seed < b <= opening.bars - 1 + opening.pickup)


def _given_plan(model: Model, seed: Score | None, settings: GenerationSettings) -> GenerationPlan:
    """accompany and infill: the seed's notes outside what the model writes, forced note for note where they fall."""
    if seed is None:
        raise GenerationError(f"{settings.mode} needs a score")
    tok: Tokenizer = model.tokenizer
    style = _choose_style(model, settings, seed)
    profile = _styles(model).get(style, {})
    programs = list(profile.get("programs") or [0])
    num_parts = len(programs)
    seed = _seed_for(seed, settings)
    places = _places(seed.num_parts, num_parts, style)
    named = {"accompany": (settings.keep_parts, "--keep"), "infill": (settings.infill_parts, "--parts")}[settings.mode]
    chosen = [places[i] for i in resolve_parts(seed, *named)] if named[0] else list(range(num_parts))
    seed = _place_parts(seed, places, num_parts)
    if settings.mode == "accompany":
        kept = chosen
        if kept == [0]:  # one given top part: a harmonization
            return plan(model, select_parts(seed, [0]), dataclasses.replace(settings, mode="harmonize", keep_parts=None))
        written = [q for q in range(num_parts) if q not in kept]
        if not written:
            raise GenerationError(f"--keep names every part of the {style} style ({num_parts}): nothing is left to write")
        start_tick, stop_tick = 0, seed.end_tick
    else:
        written = chosen
        start_tick, stop_tick = infill_ticks(seed, settings.infill_bars)
    notes = seed.notes
    rewritten = np.isin(notes["part"], written) & (notes["start_tick"] >= start_tick) & (notes["start_tick"] < stop_tick)
    given = seed.replace(notes=notes[~rewritten])
    tpb, spb = seed.ticks_per_beat, tok.config.steps_per_beat
    body = tok.encode(given, style, eos=False)[2 + num_parts :] if len(given) else np.array([tok.bar_id], np.int64)
    onsets, bar_ts, key_id, tempo_id, _ = _seed_events(tok, body)
    key = seed_key(seed)
    if key_id is None:
        key_id = tok.ids[f"Key_{key_name(*key)}"]
    if tempo_id is None:
        tempo_id = tok.tempo_id(float(seed.tempos["qpm"][0]))
    seed_end = ticks_to_steps(seed.end_tick, tpb, spb)
    free = [ticks_to_steps(start_tick, tpb, spb), ticks_to_steps(stop_tick, tpb, spb)]
    final_onset = None
    if stop_tick >= seed.end_tick and onsets:  # the region reaches the end: the last given notes close the piece
        final_onset = (onsets[-1].bar, onsets[-1].pos)
        free[1] = min(free[1], _onset_step(seed, onsets[-1], tpb, spb) + 1)
    top = [n for n in onsets[-1].notes] if onsets else []
    cadence = final_onset is not None and not settings.free_ending and bool(top) and top[0][1] % 12 in tonic_triad(key)
    ts_id = bar_ts.pop(0, None) or tok.ids[f"TimeSig_{int(seed.time_signatures['numerator'][0])}/{int(seed.time_signatures['denominator'][0])}"]
    prefix: list[int | np.ndarray] = [tok.bos_id, tok.style_id(style), *(tok.base[K_PROGRAM] + q for q in programs)]
    prefix += [tok.bar_id, ts_id, tok.base[K_POSITION], key_id, tempo_id]
    ranges = profile.get("pitch_ranges") or [[0, 127]] * num_parts
    return GenerationPlan(
        prefix=prefix,
        onsets=onsets,
        seed_bar_ts=bar_ts,
        forced_parts=0,
        num_parts=num_parts,
        bars=bars_of(seed),
        pickup=pickup_bars(seed),
        pitch_ok=_pitch_masks(tok, ranges, num_parts, key, settings.allow_chromatic),
        style=style,
        harmonize=False,
        allow_parallels=settings.allow_parallels,
        seed_end_step=seed_end,
        key=key,
        final_onset=final_onset,
        cadence=cadence,
        monophonic=_monophonic_parts(profile, num_parts),
        written=tuple(written),
        free_steps=(free[0], free[1]),
        free_until_step=min(ticks_to_steps(stop_tick, tpb, spb), seed_end),
        ahead=_ahead(tok, None if 0 in written else onsets, bars_of(seed) - 1 + pickup_bars(seed)),
    )


def _onset_step(seed: Score, onset: _Onset, tpb: int, spb: int) -> int:
    """The absolute step of an onset (bar index and position) in ``seed``'s bars."""
    return ticks_to_steps(int(seed.bar_starts()[onset.bar]), tpb, spb) + onset.pos


def _places(seed_parts: int, num_parts: int, style: str) -> list[int]:
    """Where the seed's parts go among the style's: part i stays part i; with fewer parts, the last one is the bass (a melody and a bass line)."""
    if seed_parts > num_parts:
        raise GenerationError(f"the score has {seed_parts} parts; the {style} style of this model writes {num_parts}")
    if seed_parts == num_parts or seed_parts == 1:
        return list(range(seed_parts))
    return list(range(seed_parts - 1)) + [num_parts - 1]


def _place_parts(seed: Score, places: list[int], num_parts: int) -> Score:
    """The seed with its parts renumbered to ``places`` among ``num_parts``."""
    if places == list(range(num_parts)):
        return seed
    notes = seed.notes.copy()
    notes["part"] = np.asarray(places, np.int64)[notes["part"]]
    parts = [Part(f"Part {q + 1}") for q in range(num_parts)]
    for i, q in enumerate(places):
        parts[q] = seed.parts[i]
    return seed.replace(notes=notes, parts=tuple(parts))


def resolve_parts(score: Score, names: Sequence[str] | None, option: str) -> list[int]:
    """Part names (any case) or 1-based numbers of ``score``, as sorted 0-based indices."""
    found: set[int] = set()
    known = [part.name.strip().lower() for part in score.parts]
    for name in names or ():
        key = name.strip().lower()
        if key.isdigit() and 1 <= int(key) <= score.num_parts:
            found.add(int(key) - 1)
        elif key in known:
            found.add(known.index(key))
        else:
            listed = ", ".join(f"{i + 1}={part.name or '?'}" for i, part in enumerate(score.parts))
            raise GenerationError(f"{option}: the score has no part {name!r}; its parts are {listed}")
    return sorted(found)


def infill_ticks(seed: Score, bars: tuple[int, int] | None) -> tuple[int, int]:
    """The ticks [start, stop) of bars ``first..last`` (1-based complete bars; 0 names the pickup)."""
    assert bars is not None
    first, last = bars
    pickup = pickup_bars(seed)
    total = bars_of(seed)
    if last > total or first < 1 - pickup:
        span = f"0-{total} (0 is the pickup)" if pickup else f"1-{total}"
        raise GenerationError(f"bars {first}-{last} lie outside the piece: its bars are {span}")
    if pickup and (first == 1 or last == 0):
        raise GenerationError(f"bars {first}-{last} split the pickup from bar 1, the bar it leads into: include both (from bar 0) or neither")
    starts = seed.bar_starts()
    begin, end = first - 1 + pickup, last + pickup
    return int(starts[begin]), int(starts[end]) if end < len(starts) else seed.end_tick

def _monophonic_parts(profile: dict[str, Any], num_parts: int) -> tuple[int, ...]:
    """The parts the style wrote one note at a time in training (a model file without the figures: none)."""
    shares = profile.get("overlap_shares") or []
    return tuple(q for q, share in enumerate(shares[:num_parts]) if share <= MONOPHONIC_SHARE)


def _seed_events(tok: Tokenizer, body: np.ndarray) -> tuple[list[_Onset], dict[int, int], int | None, int | None, int]:
    """Forced onsets, per-bar time signatures, the opening key and tempo, and the bar count of an encoded seed."""
    onsets: list[_Onset] = []
    bar_ts: dict[int, int] = {}
    key_id = tempo_id = None
    walker = Walker(tok.grammar)
    for token in body.tolist():
        kind = walker.feed(token)
        if kind == K_DURATION:  # a note: Pitch and its first Duration
            if not onsets or (onsets[-1].bar, onsets[-1].pos) != (walker.bar, walker.pos):
                onsets.append(_Onset(walker.bar, walker.pos, [], walker.onset))
            onsets[-1].notes.append((walker.part, walker.pitch, walker.value))
        elif kind == LENGTHENED:
            part, pitch, steps = onsets[-1].notes[-1]
            onsets[-1].notes[-1] = (part, pitch, steps + walker.value)
        elif kind == K_TIMESIG:
            bar_ts[walker.bar] = token
        elif walker.bar == 0 and walker.pos <= 0:  # the opening key and tempo
            if kind == K_KEY and key_id is None:
                key_id = token
            elif kind == K_TEMPO and tempo_id is None:
                tempo_id = token
    return onsets, bar_ts, key_id, tempo_id, walker.bar + 1


def generate_batch(model: Model, seed: Score | None = None, settings: GenerationSettings | None = None, *, num_samples: int = 1) -> list[Score]:
    """``num_samples`` pieces sampled as one batch; the same settings give the same pieces.

    Runs on the model's numpy runtime (``model.runtime``): no torch needed.
    Without a form asked for, each piece may take one of the forms heard in the style's train split
    (``learned_form``; ``_learned_form``).
    """
    settings = (settings or GenerationSettings()).for_model(model)
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise GenerationError(f"num_samples must be >= 1, got {num_samples!r}")
    if settings.form is not None:  # section by section, one piece at a time (composer.form)
        settings = dataclasses.replace(settings, style=_choose_style(model, settings, seed))
        return [_composed(model, seed, settings, i) for i in range(num_samples)]
    forms = [_learned_form(model, seed, settings, i) for i in range(num_samples)]
    plain = iter(_generate_plain(model, seed, settings, forms.count(None)) if None in forms else [])
    return [next(plain) if form is None else _composed(model, seed, form[0], i, form[1]) for i, form in enumerate(forms)]


def _composed(model: Model, seed: Score | None, settings: GenerationSettings, sample: int, given: int = 0) -> Score:
    """Piece ``sample`` in ``settings.form``: each section a plain generation (``composer.form.compose``), the joins
    into copied sections free of parallels unless they are allowed."""
    seam_ok = None if settings.allow_parallels else _no_parallels_across
    return compose(lambda piece, section: _generate_plain(model, piece, section, 1)[0], seed, settings, sample, given, seam_ok)


def _no_parallels_across(piece: Score, tick: int) -> bool:
    """No parallel fifths or octaves between the notes around ``tick`` (a bar's worth of beats each side): where a
    copied section joins what leads into it, which the masks could not see."""
    if piece.num_parts < 2:
        return True
    span = SEAM_BEATS * piece.ticks_per_beat
    notes = piece.notes
    near = notes[(notes["start_tick"] >= tick - span) & (notes["start_tick"] < tick + span)]
    return parallels(piece.replace(notes=near)) == (0, 0)


def _learned_form(model: Model, seed: Score | None, settings: GenerationSettings, sample: int) -> tuple[GenerationSettings, int] | None:
    """``settings`` with a form for piece ``sample`` drawn from the style's learned forms (``form.pick_form``), and
    how many of its sections the seed holds; None where none applies: learned forms off or absent, not continue
    mode, sections that do not divide ``bars`` or ``phrase_bars``, or a drawn form in which nothing returns (the
    model's own course). A seed longer than a section must hold whole sections; the form drawn opens with the
    form heard in them, and the model writes new music after them and the piece's last section."""
    if not settings.learned_form or settings.mode != "continue" or settings.form is not None:
        return None
    style = _choose_style(model, settings, seed)
    entry = _styles(model).get(style, {}).get("forms")
    if entry is None:
        return None
    try:
        size, patterns = learned_forms(entry)
    except FormError as exc:  # the model file's fault, not the request's
        raise GenerationError(f"model {model.name!r}: {exc}") from None
    if settings.bars % size or (settings.phrase_bars and size % settings.phrase_bars):
        return None
    seed_bars = bars_of(seed) if seed is not None else 0
    given = seed_bars // size if seed_bars > size else 0
    if given and (seed_bars % size or seed_bars >= settings.bars):
        return None
    opening = parse_form(form_heard(seed, size, seed_bars)) if given else ()
    rng = np.random.default_rng(np.random.SeedSequence([settings.random_seed, sample, FORM_STREAM]))
    sections = pick_form(patterns, settings.bars // size, rng, opening)
    if sections is None or not returns(sections) or not _writes_after(sections, given):
        return None
    return dataclasses.replace(settings, style=style, form=form_text(sections), section_bars=size), given


def _writes_after(sections: tuple[Any, ...], given: int) -> bool:
    """Past the seed's ``given`` sections the model writes something: a section not heard in the seed, the last among them."""
    heard = {s.name for s in sections[:given]}
    return sections[-1].name not in heard and any(s.name not in heard for s in sections[given:])


def _generate_plain(model: Model, seed: Score | None, settings: GenerationSettings, num_samples: int) -> list[Score]:
    """``num_samples`` pieces in one batch, without a form."""
    from threadpoolctl import threadpool_limits

    the_plan = plan(model, seed, settings)
    tok: Tokenizer = model.tokenizer
    engine = _Engine(tok, the_plan)
    rng = np.random.default_rng(settings.random_seed)
    # -- lookahead hook: several particles per piece where there are given notes to weight them by
    particles = settings.particles if the_plan.onsets and the_plan.forced_parts else 1
    tracker = ParticleFilter(num_samples, particles, the_plan.forced_parts, len(the_plan.onsets), rng) if particles > 1 else None
    # -- end of the lookahead hook
    states = [engine.new_state() for _ in range(num_samples * particles)]
    # One token at a time, BLAS threads cost more in wake-ups than they share out
    # (benchmarks/sample_speed.py: the numpy LSTM step is 1.5x faster on one thread).
    with threadpool_limits(limits=1, user_api="blas"):
        states = _sample_loop(engine, model.runtime, settings.sampling(), rng, states, the_plan, tracker)
    return [_finish(model, tok, s, the_plan, settings, seed) for s in states]


def _sample_loop(engine: "_Engine", runtime: Any, sampling: Any, rng: np.random.Generator, states: list[_State], the_plan: GenerationPlan, tracker: ParticleFilter | None = None) -> list[_State]:
    """Sample ``states`` to their ends; returns the finished samples (with a ``tracker``, its best particle per group)."""
    from composer.sampling import sample

    cache = runtime.new_cache(len(states))
    fixed = []
    for item in the_plan.prefix:
        if isinstance(item, np.ndarray):
            break
        fixed.append(item)
    columns = len(getattr(runtime.config, "ahead_sizes", ()))
    ahead = the_plan.ahead if columns else None
    rows = []
    for token in fixed:
        for s in states:
            engine.advance(s, token)
            s.tokens.append(token)
        rows.append(_ahead_rows(ahead, states, columns))
    logits = runtime.prefill(np.array([fixed] * len(states), np.int64), cache, None if ahead is None else np.stack(rows, 1))
    limit = (the_plan.last_bar + 2) * MAX_TOKENS_PER_BAR
    for _ in range(limit):
        masks = np.stack([engine.allowed(s) if not s.done else engine.pad_only for s in states])
        chosen = sample(_biased(engine, states, logits), rng, sampling, masks)
        for s, token in zip(states, chosen.tolist()):
            if not s.done:
                engine.advance(s, token)
                if not s.done:
                    s.tokens.append(token)
        if tracker is not None:  # lookahead hook: weight by the given notes, resample uneven groups
            tracker.observe(states, logits, chosen)
            states, chosen = tracker.resample(states, cache, chosen)
        if all(s.done for s in states):
            break
        logits = runtime.step(chosen, cache, _ahead_rows(ahead, states, columns))
    return tracker.best(states) if tracker is not None else states


def _ahead_rows(ahead: Ahead | None, states: list[_State], columns: int) -> np.ndarray | None:
    """Each sample's first ``columns`` features ahead of the token it just read (None for a model that takes none)."""
    if ahead is None:
        return None
    rows = ahead.at([s.onset for s in states], [s.bar for s in states])[:, :columns]
    if columns > ECHO_COLUMNS[0]:
        for row, s in zip(rows, states):
            row[list(ECHO_COLUMNS)] = echo([s.bar], [s.pos], s.top_starts)[0]
    if columns > PHRASE_COLUMNS[0] and ahead.phrase_end_bars is not None:
        for row, s in zip(rows, states):
            ends = phrase_ends_by_bars(max(s.bar, 0), s.bar_start, s.bar_len, ahead.phrase_end_bars)
            row[PHRASE_COLUMNS[0]] = phrase_column([s.onset], ends, ahead.steps_per_beat)[0]
    return rows


def _biased(engine: "_Engine", states: list[_State], logits: np.ndarray) -> np.ndarray:
    """The model's scores plus the engine's bias (the harmony prior) where it has one."""
    if engine.plan.harmony is None:
        return logits
    out = logits
    for row, s in enumerate(states):
        extra = None if s.done else engine.bias(s)
        if extra is not None:
            out = out.copy() if out is logits else out
            out[row] += extra
    return out


def _finish(model: Model, tok: Tokenizer, s: _State, the_plan: GenerationPlan, settings: GenerationSettings, seed: Score | None) -> Score:
    score = tok.decode(s.tokens + [tok.eos_id])
    if not s.done:  # the safety stop: end at the current bar's end
        s.end_step = s.bar_start + s.bar_len
    given = the_plan.harmonize or the_plan.written is not None
    end_step = min(s.end_step, the_plan.seed_end_step) if given else s.end_step  # nothing outlasts the melody
    end_tick = end_step * score.ticks_per_beat // tok.config.steps_per_beat
    notes = score.notes.copy()
    notes["duration_ticks"] = np.maximum(np.minimum(notes["duration_ticks"], end_tick - notes["start_tick"]), 1)
    in_force = {"bars": the_plan.bars, "allow_chromatic": settings.allow_chromatic or the_plan.key is None}  # no key: no scale mask
    metadata = {
        "model": model.name,
        "settings": settings.describe(**in_force),
        "seed": (seed.title or seed.metadata.get("source", "given")) if seed is not None else "none",
        "random_seed": str(settings.random_seed),
        "generator": "composer",
    }
    if model.sha256 is not None:  # which model file made it: composer refine checks it
        metadata["model_sha256"] = model.sha256
    if the_plan.harmonize:
        notes = held_not_restruck(score.replace(notes=notes), the_plan.forced_parts).notes
    return score.replace(notes=notes, metadata=metadata, title=_title(the_plan, settings, seed), markers=_seed_markers(seed, score, end_tick))


def held_not_restruck(score: Score, first_written: int) -> Score:
    """A harmonization's written voices (parts ``first_written`` on) hold a note where they would strike it again at once
    between beats under a held melody note: the second note joins the first. Under the harmonizer's pull to the
    chord tone a voice that wrote a short note would otherwise come back to the pitch it just left, stuttering in
    eighths where Bach holds the note (``benchmarks/harmonize_bach.py``: restruck)."""
    notes = score.notes
    melody_starts = notes["start_tick"][notes["part"] < first_written]
    off_beat = between_beats(score, notes["start_tick"]) & ~np.isin(notes["start_tick"], melody_starts)
    out = notes.copy()
    keep = np.ones(len(notes), bool)
    for part in range(first_written, score.num_parts):
        rows = np.flatnonzero(notes["part"] == part)
        held = -1
        for row in rows[np.argsort(notes["start_tick"][rows], kind="stable")]:
            joined = held >= 0 and out["start_tick"][held] + out["duration_ticks"][held] == notes["start_tick"][row]
            if joined and off_beat[row] and out["pitch"][held] == notes["pitch"][row]:
                out["duration_ticks"][held] += notes["duration_ticks"][row]
                keep[row] = False
            else:
                held = row
    return score.replace(notes=out[keep])


def _seed_markers(seed: Score | None, score: Score, end_tick: int) -> np.ndarray:
    """The piece's markers with the seed's phrase ends and section starts up to ``end_tick`` (a harmonized melody's
    fermatas stay where they were), at the piece's resolution."""
    if seed is None or not len(seed.markers):
        return score.markers
    kept = resample(seed, score.ticks_per_beat).markers
    return np.concatenate([score.markers, kept[kept["tick"] <= end_tick]])


def _title(the_plan: GenerationPlan, settings: GenerationSettings, seed: Score | None) -> str:
    """The seed's title with what was done to it ("Cuckoo Hill, harmonized"), else "Chorale by composer"."""
    if seed is not None and seed.title.strip():
        done = {"harmonize": "harmonized", "accompany": "accompanied", "infill": "infilled"}.get(settings.mode, "continued")
        return f"{seed.title.strip()}, {done}"
    return f"{the_plan.style.capitalize()} by composer"


def generate(model: Model, seed: Score | None = None, settings: GenerationSettings | None = None) -> Score:
    """One piece (see ``generate_batch``)."""
    return generate_batch(model, seed, settings, num_samples=1)[0]
