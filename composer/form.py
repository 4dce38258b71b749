"""Form: a piece built in sections that return (``AABB``, ``AABA``, ``ABAC``, ``A A' B A``).

``parse_form`` reads a pattern and ``check_form`` checks it against the other settings
(``GenerationSettings`` calls it once). ``compose`` builds one piece over a function that
continues a score by some bars (``composer.generate`` with one section's settings), so the
masks, the seed rules and the endings of plain generation hold in every section:

* the first occurrence of a letter is new music continuing everything so far (B answers A);
* a section heard before (same letter, same primes) is copied note for note, every part;
* a primed letter (``A'``, ``A''``) is its letter's first section with its last quarter of
  bars (at least one; more where a note is tied over that barline or a rest ends the bar
  before it) written anew and closed again, like a second ending;
* sections of the form's first letter, and the section that ends the form (wherever it is
  first heard: both Bs of AABB), close on the tonic (the ending masks of a piece's last bar:
  a held tonic over a held tonic chord); the others close on a note held to the barline
  (``cadence_bars``), free in pitch, so a half cadence can come.

Imports the score and theory layers only: the continuing function comes in as an argument.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from composer.errors import FormError
from composer.score import REPEATS_METADATA, Score, bar_ticks
from composer.theory import bars_of, pickup_bars

REPEATS = ("written", "signs")  # how a repeated section is notated in MusicXML (MIDI always has it written out)
_PATTERN = re.compile(r"(?:[A-Z]'*)+")
_SECTION = re.compile(r"[A-Z]'*")

Continue = Callable[[Score | None, Any], Score]  # (the piece so far or a seed, one section's settings) -> the piece with the section
SeamCheck = Callable[[Score, int], bool]  # (a piece, the tick where a copied section joins it) -> is the join sound?
SEAM_TRIES = 8  # writings of a section that leads into a copy, until the join passes the seam check


@dataclass(frozen=True)
class Section:
    letter: str
    primes: int = 0

    @property
    def name(self) -> str:
        return self.letter + "'" * self.primes


def parse_form(text: Any) -> tuple[Section, ...]:
    """``"AABB"``, ``"A A' B A"`` -> its sections; anything else is a FormError naming the pattern."""
    compact = "".join(text.split()) if isinstance(text, str) else ""
    if not _PATTERN.fullmatch(compact):
        raise FormError(f"form {text!r}: expected capital letters A-Z, each optionally primed, such as AABB, ABAC or \"A A' B A\"")
    sections = tuple(Section(m[0], len(m) - 1) for m in _SECTION.findall(compact))
    seen: set[str] = set()
    for section in sections:
        if section.primes and section.letter not in seen:
            raise FormError(f"form {text!r}: {section.name} comes before any {section.letter}, the section it varies")
        seen.add(section.letter)
    return sections


def form_text(sections: tuple[Section, ...]) -> str:
    """The canonical spelling: ``AABB``, or space-separated where a letter is primed (``A A' B A``)."""
    names = [s.name for s in sections]
    return " ".join(names) if any(s.primes for s in sections) else "".join(names)


def check_form(settings: Any) -> dict[str, Any]:
    """The form fields of ``settings`` checked against one another: the canonical form and the section length to store."""
    form, section_bars, phrase_bars, repeats = settings.form, settings.section_bars, settings.phrase_bars, settings.repeats
    if repeats not in REPEATS:
        raise FormError(f"repeats must be one of {', '.join(REPEATS)}, got {repeats!r}")
    if (phrase_bars is not None or settings.cadence_bars is not None) and settings.mode != "continue":
        raise FormError(f"phrase_bars and cadence_bars (--phrase-bars) apply to generate's continue mode, not {settings.mode}")
    if form is None:
        if section_bars is not None or repeats != "written":
            raise FormError("section_bars and repeats (--section-bars, --repeats) apply with a form (--form) only")
        return {}
    sections = parse_form(form)
    if settings.mode != "continue":
        raise FormError(f"form (--form) applies to generate's continue mode, not {settings.mode}")
    count, bars = len(sections), settings.bars
    if count > bars:
        raise FormError(f"form {form_text(sections)} has {count} sections, more than --bars {bars} allows (a bar each at least)")
    if section_bars is None:
        if bars % count:
            raise FormError(f"form {form_text(sections)}: {count} sections do not divide --bars {bars} into whole bars; give --section-bars")
        section_bars = bars // count
    elif count * section_bars != bars:
        raise FormError(f"form {form_text(sections)}: {count} sections of --section-bars {section_bars} make {count * section_bars} bars, not --bars {bars}")
    if phrase_bars is not None and section_bars % phrase_bars:
        raise FormError(f"--phrase-bars {phrase_bars} does not divide the sections of {section_bars} bars into whole phrases")
    return {"form": form_text(sections), "section_bars": section_bars}


LEARNED_SECTIONS = 8  # a style's forms are heard over its pieces' first sections, this many at most
LEARNED_SECTION_MAX_BARS = 4  # a learned section is the style's phrase, halved until at most this many bars


def learned_section_bars(phrase_bars: int | None) -> int:
    """The section length a style's forms are heard in: its usual phrase (``phrase_bars`` of its profile), halved
    until at most ``LEARNED_SECTION_MAX_BARS`` bars (the half phrases of an 8-bar strain); that many without phrase marks."""
    bars = phrase_bars or LEARNED_SECTION_MAX_BARS
    while bars > LEARNED_SECTION_MAX_BARS:
        bars //= 2
    return max(1, bars)


def learned_forms(profile_forms: Any) -> tuple[int, dict[tuple[Section, ...], int]]:
    """A style profile's ``forms`` entry (``{"section_bars": 4, "patterns": {"A A' B C": 228, ...}}``, counted over
    a train split by ``composer.dataset.style_profiles``) checked: its section length and each form heard, parsed,
    with its count."""
    entry = profile_forms if isinstance(profile_forms, dict) else {}
    size, patterns = entry.get("section_bars"), entry.get("patterns")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= LEARNED_SECTION_MAX_BARS or not isinstance(patterns, dict):
        raise FormError(f"a style's learned forms must hold section_bars (1-{LEARNED_SECTION_MAX_BARS}) and patterns, got {str(profile_forms)[:80]!r}")
    forms: dict[tuple[Section, ...], int] = {}
    for pattern, count in sorted(patterns.items(), key=lambda item: str(item[0])):
        try:
            heard = parse_form(pattern)
        except FormError as exc:
            raise FormError(f"a style's learned form is not a form: {exc}") from None
        if not isinstance(count, int) or isinstance(count, bool) or count < 1 or len(heard) > LEARNED_SECTIONS:
            raise FormError(f"a style's learned form {str(pattern)[:40]!r} must have at most {LEARNED_SECTIONS} sections and a count >= 1, got {count!r}")
        forms[heard] = forms.get(heard, 0) + count
    return size, forms


def pick_form(forms: dict[tuple[Section, ...], int], sections: int, rng: np.random.Generator, given: tuple[Section, ...] = ()) -> tuple[Section, ...] | None:
    """A form of ``sections`` sections drawn from learned ``forms`` (``learned_forms``) by their counts: the openings
    of those at least that long (an opening of a form is a form) that open with the ``given`` sections; None where none is."""
    counts: dict[tuple[Section, ...], int] = {}
    for heard, count in forms.items():
        if len(heard) >= sections and heard[: len(given)] == given:
            opening = heard[:sections]
            counts[opening] = counts.get(opening, 0) + count
    if not counts:
        return None
    forms = list(counts)
    weights = np.array([counts[f] for f in forms], float)
    return forms[int(rng.choice(len(forms), p=weights / weights.sum()))]


def returns(sections: tuple[Section, ...]) -> bool:
    """Does any section come back (a letter heard twice)?"""
    return len({s.letter for s in sections}) < len(sections)


def phrase_ends(bars: int, phrase_bars: int | None, extra: tuple[int, ...] | None = ()) -> tuple[int, ...]:
    """1-based bars closing a phrase: every ``phrase_bars``-th bar up to ``bars``, and ``extra``."""
    every = range(phrase_bars, bars + 1, phrase_bars) if phrase_bars else ()
    return tuple(sorted({*every, *(extra or ())}))


def compose(write: Continue, seed: Score | None, settings: Any, sample: int = 0, given: int = 0, seam_ok: SeamCheck | None = None) -> Score:
    """One piece in ``settings.form``; ``sample`` picks the random seeds of its sections (the same ones every run).

    ``given``: the form's first sections that the seed holds whole (a learned form drawn to agree with the seed's
    own); else the seed must fit in the first section. ``seam_ok``: where a copied section (or a primed one's
    shared opening) follows a written one, the join is checked, and the written section written again with other
    random seeds, ``SEAM_TRIES`` times at most, until it passes (the copy cannot change; what leads into it can).
    """
    sections = parse_form(settings.form)
    size = settings.section_bars
    if seed is not None and bars_of(seed) > max(size, given * size):
        raise FormError(f"the seed is {bars_of(seed)} bars long, longer than the form's first section ({size} bars)")
    first_bar: dict[str, int] = {}  # section name -> its first bar (0-based, complete bars)
    piece, opening = seed, None
    for i, section in enumerate(sections):
        start = i * size
        if i < given:  # the seed's own
            first_bar.setdefault(section.name, start)
            continue
        if section.name in first_bar:
            piece = copy_bars(piece, first_bar[section.name], start, size)
            continue
        first_bar[section.name] = start
        if section.primes:
            piece = _shared_opening(piece, first_bar[section.letter], start, size)
        tonic = section.letter == sections[0].letter or section.name == sections[-1].name  # the last section's copies close the piece
        follow = _follower(sections[i + 1], first_bar, start + size, size) if i + 1 < len(sections) and seam_ok is not None else None
        for attempt in range(SEAM_TRIES if follow is not None else 1):
            written = write(piece, _section_settings(settings, start + size, tonic, sample, i, attempt))
            if follow is None or seam_ok(follow(written), bar_tick(written, start + size)):
                break
        piece = written
        opening = opening or piece  # its title and seed name the piece
    assert piece is not None and opening is not None
    return _finished(piece, opening, seed, settings, sections)


def _follower(following: Section, first_bar: dict[str, int], start: int, size: int) -> Callable[[Score], Score] | None:
    """The piece with what comes next at bar ``start`` where it is already decided: a copy of a section heard
    before, or a primed section's shared opening; None where the next section is new music."""
    if following.name in first_bar:
        return lambda piece: copy_bars(piece, first_bar[following.name], start, size)
    if following.primes:
        return lambda piece: _shared_opening(piece, first_bar[following.letter], start, size) or piece
    return None


def _section_settings(settings: Any, end_bar: int, tonic: bool, sample: int, index: int, attempt: int = 0) -> Any:
    """Plain generation settings writing up to ``end_bar``, closing on the tonic or on a held note, with the
    whole piece's length and phrase ends in view; ``attempt`` > 0 draws other random seeds."""
    size = settings.section_bars
    random_seed = int(np.random.SeedSequence([settings.random_seed, sample, index, *([attempt] if attempt else [])]).generate_state(1)[0])
    return dataclasses.replace(
        settings,
        form=None,
        section_bars=None,
        repeats="written",
        bars=end_bar,
        ahead_bars=settings.bars,  # the model knows the piece goes on past the section
        random_seed=random_seed,
        free_ending=settings.free_ending or not tonic,
        # every section's end closes a phrase: the masks hold those up to end_bar, the features ahead show the rest
        cadence_bars=phrase_ends(settings.bars, settings.phrase_bars, (*(settings.cadence_bars or ()), *range(size, settings.bars + 1, size))),
    )


def bar_tick(piece: Score, bar: int) -> int:
    """The tick where complete bar ``bar`` (0-based; a pickup comes before bar 0) starts; past the last note, in the meter in force."""
    index = bar + pickup_bars(piece)
    starts = piece.bar_starts(piece.end_tick + 1)
    if index < len(starts):
        return int(starts[index])
    meter = piece.time_signatures[-1]
    length = round(bar_ticks(int(meter["numerator"]), int(meter["denominator"]), piece.ticks_per_beat))
    return int(starts[-1]) + (index - len(starts) + 1) * length


def copy_bars(piece: Score | None, source: int, start: int, count: int) -> Score:
    """``piece`` with its bars ``source..source+count-1`` (0-based complete bars) copied note for note to bar ``start``."""
    assert piece is not None
    begin, end, to = bar_tick(piece, source), bar_tick(piece, source + count), bar_tick(piece, start)
    notes = piece.notes
    copied = notes[(notes["start_tick"] >= begin) & (notes["start_tick"] < end)].copy()
    copied["duration_ticks"] = np.minimum(copied["duration_ticks"], end - copied["start_tick"])
    copied["start_tick"] += to - begin
    kept = notes[notes["start_tick"] < to]
    return piece.replace(notes=np.concatenate([kept, copied]))


def _shared_opening(piece: Score | None, source: int, start: int, size: int) -> Score | None:
    """The piece with a primed section's shared bars copied in: all but its last quarter (at least one bar), fewer
    where a note crosses that barline or a rest ends the bar before it (neither can be shared note for note)."""
    assert piece is not None
    for shared in range(size - max(1, size // 4), 0, -1):
        begin, cut = bar_tick(piece, source), bar_tick(piece, source + shared)
        notes = piece.notes[(piece.notes["start_tick"] >= begin) & (piece.notes["start_tick"] < cut)]
        ends = notes["start_tick"] + notes["duration_ticks"]
        if len(notes) and int(ends.max()) == cut:  # nothing sounds past the cut, something up to it
            return copy_bars(piece, source, start, shared)
    return piece


def _finished(piece: Score, opening: Score, seed: Score | None, settings: Any, sections: tuple[Section, ...]) -> Score:
    """The whole piece's title and metadata (its settings and random seed, the first section's seed), and the repeats to sign where asked."""
    metadata = {**piece.metadata, "random_seed": str(settings.random_seed), "seed": opening.metadata.get("seed", "none")}
    no_key = settings.key is None and seed is None  # the first section had no scale mask
    metadata["settings"] = settings.describe(allow_chromatic=settings.allow_chromatic or no_key)
    if settings.repeats == "signs":
        spans = repeated_spans(sections, settings.section_bars)
        if spans:
            metadata[REPEATS_METADATA] = ",".join(f"{a}-{b}" for a, b in spans)
    return piece.replace(metadata=metadata, title=opening.title)


def repeated_spans(sections: tuple[Section, ...], size: int) -> list[tuple[int, int]]:
    """1-based (first, last) bars of each section heard again at once (AA: bars 1-size), to write once between repeat signs."""
    spans = []
    i = 0
    while i < len(sections):
        if i + 1 < len(sections) and sections[i + 1] == sections[i]:
            spans.append((i * size + 1, (i + 1) * size))
            i += 2
        else:
            i += 1
    return spans
