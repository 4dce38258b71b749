"""``Tokenizer``: the vocabulary of one ``TokenizerConfig``, its lookups and its versioned JSON.

Encoding and decoding live in ``encode.py`` and ``decode.py``; the tokenizer
holds the tables they share and calls them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from composer.errors import TokenizerError
from composer.limits import check_score
from composer.score import SHARPS_MAX, SHARPS_MIN, Score, fit_parts
from composer.theory import key_name
from composer.tokens.decode import decode as _decode_ids
from composer.tokens.encode import Encoder
from composer.tokens.grammar import Grammar
from composer.tokens.vocab import (
    BOS,
    DRUMS,
    EOS,
    K_BAR,
    K_BOS,
    K_DURATION,
    K_EOS,
    K_KEY,
    K_PAD,
    K_PART,
    K_PITCH,
    K_POSITION,
    K_PROGRAM,
    K_STYLE,
    K_TEMPO,
    K_TIMESIG,
    KIND_NAMES,
    MAX_TIME_SIGNATURE_NUMERATOR,
    PAD,
    TIME_SIGNATURE_DENOMINATORS,
    TOKENIZER_FORMAT,
    TOKENIZER_FORMAT_VERSION,
    TokenizerConfig,
    nearest_tempo_bins,
    tempo_log_bins,
)


def _frac(steps: int, steps_per_beat: int) -> str:
    return str(Fraction(steps, steps_per_beat))


def _vocabulary(c: TokenizerConfig) -> tuple[list[str], list[int], list[int], list[tuple[int, int]], list[int]]:
    """Names, kinds and values of every token, in id order; the TimeSig (num, den) list; the duration table."""
    names: list[str] = []
    kinds: list[int] = []
    values: list[int] = []

    def add(kind: int, name: str, value: int = 0) -> None:
        names.append(name)
        kinds.append(kind)
        values.append(value)

    add(K_PAD, PAD)
    add(K_BOS, BOS)
    add(K_EOS, EOS)
    for i, style in enumerate(c.styles):
        add(K_STYLE, f"Style_{style}", i)
    for program in range(128):
        add(K_PROGRAM, f"Program_{program}", program)
    add(K_PROGRAM, f"Program_{DRUMS}", 128)
    add(K_BAR, "Bar")
    max_bar_steps = c.max_bar_beats * c.steps_per_beat
    timesigs: list[tuple[int, int]] = []
    for den in TIME_SIGNATURE_DENOMINATORS:
        for num in range(1, MAX_TIME_SIGNATURE_NUMERATOR + 1):
            length = Fraction(4 * num * c.steps_per_beat, den)
            if length.denominator == 1 and length <= max_bar_steps:
                add(K_TIMESIG, f"TimeSig_{num}/{den}", len(timesigs))
                timesigs.append((num, den))
    for sharps in range(SHARPS_MIN, SHARPS_MAX + 1):
        for minor in (False, True):
            add(K_KEY, f"Key_{key_name(sharps, minor)}", (sharps - SHARPS_MIN) * 2 + minor)
    for i, qpm in enumerate(c.tempos_qpm):
        add(K_TEMPO, f"Tempo_{qpm}", i)
    for step in range(max_bar_steps):
        add(K_POSITION, f"Position_{_frac(step, c.steps_per_beat)}", step)
    for part in range(c.max_parts):
        add(K_PART, f"Part_{part}", part)
    for pitch in range(128):
        add(K_PITCH, f"Pitch_{pitch}", pitch)
    fine_max = c.fine_duration_beats * c.steps_per_beat
    durations = list(range(1, fine_max + 1)) + [b * c.steps_per_beat for b in range(c.fine_duration_beats + 1, c.max_duration_beats + 1)]
    for steps in durations:
        add(K_DURATION, f"Duration_{_frac(steps, c.steps_per_beat)}", steps)
    for i, style in enumerate(c.added_styles, start=len(c.styles)):  # last: the ids above stay as they were
        add(K_STYLE, f"Style_{style}", i)
    return names, kinds, values, timesigs, durations


@dataclass
class Tokenizer:
    """Vocabulary plus encoder and decoder for one ``TokenizerConfig``."""

    config: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        c = self.config
        names, kinds, values, timesigs, durations = _vocabulary(c)
        self.max_bar_steps = c.max_bar_beats * c.steps_per_beat
        self.tokens: list[str] = names
        self.ids: dict[str, int] = {name: i for i, name in enumerate(names)}
        self.kinds = np.array(kinds, np.int8)
        self.values = np.array(values, np.int64)
        self.pad_id, self.bos_id, self.eos_id = self.ids[PAD], self.ids[BOS], self.ids[EOS]
        self.bar_id = self.ids["Bar"]
        self.base = {kind: int(np.flatnonzero(self.kinds == kind)[0]) for kind in range(len(KIND_NAMES))}
        self.durations_steps = durations
        self.fine_max_steps = c.fine_duration_beats * c.steps_per_beat  # every duration up to this is one token
        self.timesig_values: list[tuple[int, int]] = timesigs  # TimeSig index -> (numerator, denominator)
        self.timesig_steps = [4 * num * c.steps_per_beat // den for num, den in timesigs]  # TimeSig index -> bar steps
        # A bar's meter before any TimeSig: 4/4, or the first meter of a vocabulary without 4/4.
        self.default_timesig = timesigs.index((4, 4)) if (4, 4) in timesigs else 0
        self.part_names = dict(c.style_part_names)
        self.tempo_log_bins = tempo_log_bins(c.tempos_qpm)
        self.grammar = Grammar(kinds, values, self.timesig_steps, self.timesig_steps[self.default_timesig], c.max_parts)
        self._encoder = Encoder(self)

    # -- vocabulary -------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def kind_of(self, token_id: int) -> str:
        return KIND_NAMES[int(self.kinds[token_id])]

    def ids_of_kind(self, kind: str) -> np.ndarray:
        """All ids of one token family, e.g. ``ids_of_kind("Pitch")``."""
        if kind not in KIND_NAMES:
            raise TokenizerError(f"unknown token kind {kind!r}; expected one of {', '.join(KIND_NAMES)}")
        return np.flatnonzero(self.kinds == KIND_NAMES.index(kind))

    def bar_steps(self, timesig_id: int) -> int:
        """Length in grid steps of a bar under a ``TimeSig`` token."""
        return self.timesig_steps[timesig_id - self.base[K_TIMESIG]]

    def duration_ids(self, steps: int) -> list[int]:
        """The ``Duration`` tokens of a note ``steps`` long (one, or a greedy run that adds up)."""
        run = []
        table = self.durations_steps
        while steps > 0:
            pos = int(np.searchsorted(table, steps, side="right")) - 1
            run.append(self.base[K_DURATION] + pos)
            steps -= table[pos]
        return run

    def tempo_bins(self, qpm: Any) -> np.ndarray:
        """Index of the nearest tempo mark (log scale) of each tempo in ``qpm``."""
        return nearest_tempo_bins(qpm, self.tempo_log_bins)

    def tempo_id(self, qpm: float) -> int:
        """The ``Tempo`` token nearest to ``qpm`` quarter notes per minute."""
        return self.base[K_TEMPO] + int(self.tempo_bins(qpm)[0])

    def to_names(self, ids: Sequence[int]) -> list[str]:
        return [self.tokens[i] if 0 <= i < len(self.tokens) else f"<invalid {i}>" for i in np.asarray(ids).tolist()]

    def to_ids(self, names: Sequence[str]) -> np.ndarray:
        try:
            return np.array([self.ids[n] for n in names], np.int32)
        except KeyError as exc:
            raise TokenizerError(f"unknown token {exc.args[0]!r}") from None

    def style_id(self, style: str) -> int:
        token = f"Style_{style}"
        if token not in self.ids:
            raise TokenizerError(f"unknown style {style!r}; this tokenizer knows {', '.join(self.config.all_styles)}")
        return self.ids[token]

    def with_style(self, style: str) -> "Tokenizer":
        """This vocabulary with a ``Style_<style>`` token added after every other token (itself if it has one).

        Every id of this tokenizer means the same in the result, so a model's
        weights carry over row for row (``composer.finetune`` grows them by one).
        """
        if f"Style_{style}" in self.ids:
            return self
        return Tokenizer(replace(self.config, added_styles=(*self.config.added_styles, style)))

    def unfit(self, score: Score) -> str | None:
        """Why this vocabulary cannot hold ``score`` as it is, or None when it can.

        ``encode`` never refuses these, it adapts: parts beyond ``max_parts``
        are merged, and a meter without a token takes one of the same bar length,
        else 4/4 (the bars then fall elsewhere). Fine-tuning on a user's own
        pieces refuses them instead of learning something else.
        """
        c = self.config
        if score.num_parts > c.max_parts:
            return f"{score.num_parts} parts; the vocabulary holds at most {c.max_parts}"
        lengths = set(self.timesig_steps)
        ts = score.time_signatures
        for num, den in sorted(set(zip(ts["numerator"].tolist(), ts["denominator"].tolist()))):
            if (num, den) in self.timesig_values:
                continue
            length = Fraction(4 * num * c.steps_per_beat, den)
            if length.denominator != 1 or int(length) not in lengths:
                return f"time signature {num}/{den} has no token (bars of up to {c.max_bar_beats} quarter notes, numerators up to {MAX_TIME_SIGNATURE_NUMERATOR})"
        return None

    def transpose_table(self, semitones: int) -> np.ndarray:
        """An id -> id map that transposes token sequences: pitches and keys move, the rest stays.

        Pitches pushed outside 0..127 are clamped; callers that care choose
        ``semitones`` so that this cannot happen (see ``pitch_span``).
        """
        table = np.arange(len(self.tokens), dtype=np.int64)
        pitch = self.kinds == K_PITCH
        table[pitch] = self.base[K_PITCH] + np.clip(self.values[pitch] + semitones, 0, 127)
        key = self.kinds == K_KEY
        sharps = self.values[key] // 2 + SHARPS_MIN
        minor = self.values[key] % 2
        moved = (sharps + 7 * semitones + 5) % 12 - 5  # as score.transpose: fold into -5..6 sharps
        table[key] = self.base[K_KEY] + (moved - SHARPS_MIN) * 2 + minor
        return table

    def pitch_span(self, ids: np.ndarray) -> tuple[int, int] | None:
        """(lowest, highest) pitch among ``ids``, or None if it holds no Pitch token."""
        ids = np.asarray(ids)
        pitches = ids[(ids >= self.base[K_PITCH]) & (ids < self.base[K_PITCH] + 128)] - self.base[K_PITCH]
        if len(pitches) == 0:
            return None
        return int(pitches.min()), int(pitches.max())

    # -- encoding and decoding -----------------------------------------------
    def encode(self, score: Score, style: str = "unknown", *, eos: bool = True) -> np.ndarray:
        """Token ids of a score (int32), quantized to the grid; see the package docstring for the layout."""
        c = self.config
        check_score(score, "score", TokenizerError)  # a Score built in Python: no absurd lengths or bar counts
        if score.num_parts > c.max_parts:
            score = fit_parts(score, c.max_parts)  # merge tracks that share an instrument, then a family
        if score.num_parts > c.max_parts:
            raise TokenizerError(f"score has {score.num_parts} parts; this tokenizer holds at most {c.max_parts}")
        ids = self._encode_fast(score, style, eos)
        if ids is None:
            ids = self._encode_general(score, style, eos)
        return ids

    def _encode_general(self, score: Score, style: str, eos: bool) -> np.ndarray:
        """The reference encoder (``Encoder.general``); tests compare the fast path with it."""
        return self._encoder.general(score, style, eos)

    def _encode_fast(self, score: Score, style: str, eos: bool) -> np.ndarray | None:
        """The fast encoder (``Encoder.fast``): the reference's ids, or None to leave the score to it."""
        return self._encoder.fast(score, style, eos)

    def decode(self, ids: Sequence[int] | np.ndarray, *, ticks_per_beat: int | None = None) -> Score:
        """A Score from token ids. Never raises for any id sequence (see the package docstring)."""
        return _decode_ids(self, ids, ticks_per_beat)

    # -- files ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TOKENIZER_FORMAT,
            "format_version": TOKENIZER_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "tokenizer") -> "Tokenizer":
        """Rebuild a tokenizer from ``to_dict`` output, checking format, version and vocabulary."""
        if not isinstance(data, dict) or data.get("format") != TOKENIZER_FORMAT:
            raise TokenizerError(f"{source}: not a composer tokenizer (missing \"format\": \"{TOKENIZER_FORMAT}\")")
        version = data.get("format_version")
        if version != TOKENIZER_FORMAT_VERSION:
            raise TokenizerError(f"{source}: tokenizer format version {version!r} is not supported; this composer reads version {TOKENIZER_FORMAT_VERSION}")
        if not isinstance(data.get("config"), dict):
            raise TokenizerError(f"{source}: tokenizer config missing")
        tokenizer = cls(TokenizerConfig.from_dict(data["config"]))
        if "tokens" in data and list(data["tokens"]) != tokenizer.tokens:
            theirs = list(data["tokens"])
            first = next((i for i, (a, b) in enumerate(zip(theirs, tokenizer.tokens)) if a != b), min(len(theirs), len(tokenizer.tokens)))
            raise TokenizerError(
                f"{source}: vocabulary does not match its config ({len(theirs)} tokens saved, {len(tokenizer.tokens)} expected; "
                f"first difference at id {first})"
            )
        return tokenizer

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        from composer.io.atomic import write_bytes_atomic

        return write_bytes_atomic(path, json.dumps(self.to_dict(), indent=1).encode(), force=force)

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenizerError(f"{path}: not a readable tokenizer JSON file ({exc})") from None
        return cls.from_dict(data, str(path))
