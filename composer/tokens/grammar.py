"""The token grammar, walked once: bars, positions, parts and pending notes as tokens arrive.

``Walker.feed`` takes one id at a time and applies the decoding rules of the
package docstring: a token that does not fit where it stands is skipped
(``SKIPPED``), ``EOS`` ends the piece (every later token is skipped). What a
counted token did is read off the walker's attributes right after; ``feed``
returns the token's kind, or ``LENGTHENED`` for a ``Duration`` that lengthens
the note before it. Decoding, seed parsing, the generation engine and style
profiles all follow the grammar through this one class, so it is plain
Python and cheap per token (the engine feeds it inside the sampling loop).
"""

from __future__ import annotations

from dataclasses import dataclass

from composer.tokens.vocab import (
    K_BAR,
    K_DURATION,
    K_EOS,
    K_KEY,
    K_PART,
    K_PITCH,
    K_POSITION,
    K_PROGRAM,
    K_STYLE,
    K_TEMPO,
    K_TIMESIG,
    KIND_NAMES,
)

SKIPPED = -1  # what ``feed`` returns for a token that does not fit where it stands
LENGTHENED = len(KIND_NAMES)  # what ``feed`` returns for a Duration that lengthens the note before it


@dataclass(frozen=True)
class Grammar:
    """The tables a walker reads, built once per tokenizer (``Tokenizer.grammar``)."""

    kinds: list[int]  # per id: its K_* kind
    values: list[int]  # per id: its value (pitch, steps, part, TimeSig index, ...)
    bar_steps: list[int]  # per TimeSig index: the bar's length in steps
    default_bar_steps: int  # a bar's length before any TimeSig (4/4 where the vocabulary has it)
    max_programs: int  # Program tokens counted in the header


class Walker:
    """Where a token sequence stands: header, bar, position, part and the note being written.

    Attributes (read them after ``feed``):
    ``style`` (Style index or None) and ``programs`` from the header;
    ``bar`` (index, -1 before the first), ``bar_start`` and ``bar_len`` (steps);
    ``pos`` (steps from the barline, -1 before the bar's first Position);
    ``onset`` (absolute step of the current position); ``part``;
    ``pitch`` (of the latest Pitch); ``value`` (of the latest counted token);
    ``ended`` (an EOS arrived).
    """

    def __init__(self, grammar: Grammar) -> None:
        self._kinds = grammar.kinds
        self._values = grammar.values
        self._size = len(grammar.kinds)
        self._bar_steps = grammar.bar_steps
        self._max_programs = grammar.max_programs
        self.style: int | None = None
        self.programs: list[int] = []
        self.in_header = True
        self.bar = -1
        self.bar_start = 0
        self.bar_len = grammar.default_bar_steps
        self.ts_open = False  # right after a Bar: a TimeSig counts
        self.pos = -1
        self.onset = 0
        self.part = 0
        self.pitch = -1
        self.value = 0
        self.pending = False  # a Pitch waits for its Duration
        self.note_open = False  # the latest token finished a note: a Duration lengthens it
        self.ended = False

    def feed(self, token: int) -> int:
        """Follow one token; returns its kind, ``LENGTHENED`` or ``SKIPPED``."""
        if token < 0 or token >= self._size:  # (_size is 0 once ended)
            self.pending = False
            return SKIPPED
        kind = self._kinds[token]
        value = self._values[token]
        if kind == K_DURATION:
            if self.pending:
                self.pending = False
                self.note_open = True
                self.value = value
                return K_DURATION
            if self.note_open:
                self.value = value
                return LENGTHENED
            return SKIPPED
        self.note_open = False
        if kind == K_PITCH:  # the commonest token after Duration: its own short path
            self.pending = True
            self.ts_open = False
            self.pitch = self.value = value
            if self.bar < 0:
                self.in_header = False
                self.bar = 0
            return K_PITCH
        self.pending = False
        if kind >= K_KEY:  # Key, Tempo, Position, Part: inside a bar
            self.ts_open = False
            if self.bar < 0:  # before any Bar: open bar 1
                self.in_header = False
                self.bar = 0
            if kind == K_PART:
                self.part = value
            elif kind == K_POSITION:
                if not self.pos <= value < self.bar_len:
                    return SKIPPED
                self.pos = value
                self.onset = self.bar_start + value
            self.value = value
            return kind
        if kind == K_BAR:
            if self.bar >= 0:
                self.bar_start += self.bar_len
            self.in_header = False
            self.bar += 1
            self.pos = -1
            self.onset = self.bar_start
            self.ts_open = True
            return K_BAR
        if kind == K_TIMESIG:
            if not self.ts_open:
                return SKIPPED
            self.ts_open = False
            self.bar_len = self._bar_steps[value]
        elif kind == K_STYLE:
            if not self.in_header or self.style is not None:
                return SKIPPED
            self.style = value
        elif kind == K_PROGRAM:
            if not self.in_header or len(self.programs) >= self._max_programs:
                return SKIPPED
            self.programs.append(value)
        elif kind == K_EOS:
            self.ended = True
            self._size = 0  # every later token is skipped
            return K_EOS
        else:  # PAD, BOS
            return SKIPPED
        self.value = value
        return kind


assert K_KEY < K_TEMPO < K_POSITION < K_PART < K_PITCH < K_DURATION  # feed's "inside a bar" test relies on it
assert K_BAR < K_KEY and K_TIMESIG < K_KEY and K_STYLE < K_KEY and K_PROGRAM < K_KEY and K_EOS < K_KEY
