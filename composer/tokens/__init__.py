"""Event tokens: a REMI-like vocabulary, encoding ``Score -> ids`` and decoding ``ids -> Score``.

A piece reads::

    BOS Style_chorale Program_52 Program_52 Program_52 Program_52
    Bar TimeSig_4/4 Position_0 Key_G Tempo_100 Part_0 Pitch_67 Duration_1 Part_1 Pitch_62 Duration_1 ...
    Position_1 Part_0 Pitch_69 Duration_1/2 ...
    Bar Position_0 ...
    EOS

* ``Bar`` starts a bar; a ``TimeSig`` follows it in the first bar and where the meter changes.
* ``Position_x`` is the onset in quarter notes from the barline (a fraction of the grid).
* At one position notes go by part, top part first, and within a part from high
  to low; ``Part_i`` is written only when the part differs from the previous
  note's, so a melody costs three tokens a note and a chord of four parts
  three and a quarter.
* ``Duration_x`` follows each ``Pitch``; a duration no single token holds is a
  run of ``Duration`` tokens that add up.

Decoding never fails. Its rule for malformed input (what a sampled model may
emit) is: a token that does not fit where it stands is skipped. Precisely,
ids outside the vocabulary, ``PAD`` and ``BOS`` are skipped; ``EOS`` ends the
piece; ``Style`` and ``Program`` count only before the first ``Bar``;
``TimeSig`` counts only right after a ``Bar``; a ``Position`` counts only if it
lies inside the current bar and not before the current position; a ``Pitch``
makes a note only when a ``Duration`` follows it directly; a ``Duration``
after a finished note lengthens it; anything before the first ``Bar`` that
needs one opens bar 1. These rules are ``grammar.Walker``'s, the one place that
follows the grammar: decoding, seed parsing, the generation engine and style
profiles all walk tokens through it.

Modules: ``vocab`` (constants, ``TokenizerConfig``, ``ticks_to_steps``, tempo
bins), ``tokenizer`` (``Tokenizer``: the vocabulary and its JSON), ``encode``
(the reference encoder and the fast path), ``decode``, ``grammar`` (the
walker), ``document`` (the token JSON file of ``composer tokenize FILE``) and
``archive`` (the tokens.npz and tokenizer.json of ``composer tokenize FOLDER``).
"""

from composer.tokens.archive import TokenArchive, read_token_archive
from composer.tokens.document import TokenDocument, read_token_document, token_document, write_token_document
from composer.tokens.grammar import LENGTHENED, SKIPPED, Grammar, Walker
from composer.tokens.tokenizer import Tokenizer
from composer.tokens.vocab import (
    BOS,
    DEFAULT_STYLE_PART_NAMES,
    DEFAULT_STYLES,
    DEFAULT_TEMPOS_QPM,
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
    ticks_to_steps,
)

__all__ = [
    "BOS",
    "DEFAULT_STYLE_PART_NAMES",
    "DEFAULT_STYLES",
    "DEFAULT_TEMPOS_QPM",
    "DRUMS",
    "EOS",
    "Grammar",
    "K_BAR",
    "K_BOS",
    "K_DURATION",
    "K_EOS",
    "K_KEY",
    "K_PAD",
    "K_PART",
    "K_PITCH",
    "K_POSITION",
    "K_PROGRAM",
    "K_STYLE",
    "K_TEMPO",
    "K_TIMESIG",
    "KIND_NAMES",
    "LENGTHENED",
    "MAX_TIME_SIGNATURE_NUMERATOR",
    "PAD",
    "SKIPPED",
    "TIME_SIGNATURE_DENOMINATORS",
    "TOKENIZER_FORMAT",
    "TOKENIZER_FORMAT_VERSION",
    "Tokenizer",
    "TokenArchive",
    "TokenDocument",
    "TokenizerConfig",
    "Walker",
    "nearest_tempo_bins",
    "read_token_archive",
    "read_token_document",
    "ticks_to_steps",
    "token_document",
    "write_token_document",
]
