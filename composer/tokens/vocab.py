"""The vocabulary's constants and settings, and the two conversions every path shares.

``ticks_to_steps`` (ticks to grid steps, rounding half up) and ``nearest_tempo_bins``
(a tempo to its nearest metronome mark, on a log scale) are written here once; the
encoders, generation and anything else that quantizes call them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from composer.errors import TokenizerError

if TYPE_CHECKING:
    import numpy as np

TOKENIZER_FORMAT = "composer-tokenizer"
TOKENIZER_FORMAT_VERSION = 1

PAD, BOS, EOS = "PAD", "BOS", "EOS"
DRUMS = "Drums"
TIME_SIGNATURE_DENOMINATORS = (1, 2, 4, 8, 16, 32)
MAX_TIME_SIGNATURE_NUMERATOR = 32  # inclusive
# The classic metronome (Maelzel) marks; a tempo takes the nearest on a log scale.
DEFAULT_TEMPOS_QPM = (40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 63, 66, 69, 72, 76, 80, 84, 88, 92, 96, 100, 104, 108,
                      112, 116, 120, 126, 132, 138, 144, 152, 160, 168, 176, 184, 192, 200, 208)
DEFAULT_STYLES = ("unknown", "chorale", "folk")
DEFAULT_STYLE_PART_NAMES = (("chorale", ("Soprano", "Alto", "Tenor", "Bass")), ("folk", ("Melody",)))

# Token kinds, one small integer per family, for the decoder's table lookups.
(K_PAD, K_BOS, K_EOS, K_STYLE, K_PROGRAM, K_BAR, K_TIMESIG, K_KEY, K_TEMPO, K_POSITION, K_PART, K_PITCH, K_DURATION) = range(13)
KIND_NAMES = ("PAD", "BOS", "EOS", "Style", "Program", "Bar", "TimeSig", "Key", "Tempo", "Position", "Part", "Pitch", "Duration")

# The fast encoder (encode.py) works in plain int64 / Python int arithmetic that cannot overflow below these
# bounds; a score beyond them (or whose general-path sort keys would overflow) takes the general path.
FAST_TICK_LIMIT = 2**40
FAST_KEY_LIMIT = 2**62
CACHE_LIMIT = 4096  # entries in each per-tokenizer memo (meter maps, single tempos, duration runs)


@dataclass(frozen=True)
class TokenizerConfig:
    """Settings that fix the vocabulary. Saved with every token file and model."""

    steps_per_beat: int = 24  # grid a quarter note: 16ths = 6 steps, 32nds = 3, 8th triplets = 8, 16th triplets = 4
    max_bar_beats: int = 16  # longest bar in quarter notes, inclusive
    max_parts: int = 16  # Part_0 .. Part_{max_parts-1}
    fine_duration_beats: int = 4  # every grid duration up to this many quarters (inclusive) is one token
    max_duration_beats: int = 16  # whole-quarter durations up to this (inclusive) are one token; longer ones add up
    tempos_qpm: tuple[int, ...] = DEFAULT_TEMPOS_QPM
    styles: tuple[str, ...] = DEFAULT_STYLES
    style_part_names: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_STYLE_PART_NAMES
    # Styles added to a finished vocabulary (fine-tuning a model on a new style): their Style tokens
    # come after every other token, so each id of the vocabulary they extend stays what it was.
    added_styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise TokenizerError(f"tokenizer config: {message}")

        need(isinstance(self.steps_per_beat, int) and 1 <= self.steps_per_beat <= 96, f"steps_per_beat must be 1..96, got {self.steps_per_beat!r}")
        need(isinstance(self.max_bar_beats, int) and 1 <= self.max_bar_beats <= 32, f"max_bar_beats must be 1..32, got {self.max_bar_beats!r}")
        need(isinstance(self.max_parts, int) and 1 <= self.max_parts <= 64, f"max_parts must be 1..64, got {self.max_parts!r}")
        need(1 <= self.fine_duration_beats <= self.max_duration_beats, f"need 1 <= fine_duration_beats <= max_duration_beats, got {self.fine_duration_beats} and {self.max_duration_beats}")
        need(len(self.tempos_qpm) >= 1 and all(t > 0 for t in self.tempos_qpm) and list(self.tempos_qpm) == sorted(set(self.tempos_qpm)), "tempos_qpm must be positive and increasing")
        need(len(self.styles) >= 1 and len(set(self.all_styles)) == len(self.all_styles), f"styles must be distinct names, got {self.all_styles!r}")
        need(all(isinstance(s, str) and s.isidentifier() for s in self.all_styles), f"style names must be identifiers, got {self.all_styles!r}")

    @property
    def all_styles(self) -> tuple[str, ...]:
        """Every style, in the order of their ``Style`` tokens' values: ``styles``, then ``added_styles``."""
        return tuple(self.styles) + tuple(self.added_styles)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenizerConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TokenizerError(f"tokenizer config: unknown settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        for name in ("tempos_qpm", "styles", "added_styles"):
            if name in data:
                data[name] = tuple(data[name])
        if "style_part_names" in data:
            data["style_part_names"] = tuple((str(s), tuple(names)) for s, names in data["style_part_names"])
        try:
            return cls(**data)
        except TypeError as exc:
            raise TokenizerError(f"tokenizer config: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        if not self.added_styles:  # a vocabulary nothing was added to reads (and caches) as before the field existed
            del data["added_styles"]
        return data


def ticks_to_steps(ticks: Any, ticks_per_beat: int, steps_per_beat: int, *, out: "np.ndarray | None" = None) -> Any:
    """Ticks to grid steps, rounding half up: ``(ticks * steps_per_beat * 2 + ticks_per_beat) // (2 * ticks_per_beat)``.

    Works on Python ints and int64 arrays alike (int64 wraps around just as the
    expression does). With ``out`` (an int64 array holding the ticks) it works in
    place and returns ``out``.
    """
    if out is None:
        return (ticks * steps_per_beat * 2 + ticks_per_beat) // (2 * ticks_per_beat)
    out *= 2 * steps_per_beat  # == ticks * spb * 2 modulo 2**64
    out += ticks_per_beat
    out //= 2 * ticks_per_beat
    return out


def tempo_log_bins(tempos_qpm: Sequence[float]) -> "np.ndarray":
    """The tempo marks on the log scale ``nearest_tempo_bins`` measures in."""
    import numpy as np

    return np.log(np.asarray(tempos_qpm, np.float64))


def nearest_tempo_bins(qpm: Any, log_bins: "np.ndarray") -> "np.ndarray":
    """Index of the nearest tempo mark (on a log scale) for each tempo in ``qpm`` (see ``tempo_log_bins``)."""
    import numpy as np

    qpm = np.atleast_1d(np.asarray(qpm, np.float64))
    return np.abs(np.log(qpm)[:, None] - log_bins[None, :]).argmin(axis=1)
