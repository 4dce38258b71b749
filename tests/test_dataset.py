"""Style profiles: what generation learns about a style from its training pieces."""

from __future__ import annotations

import numpy as np

from composer.dataset import TokenSplit, style_profiles
from composer.score import Part
from composer.tokens import Tokenizer, TokenizerConfig
from conftest import make_score


def split_of(tok: Tokenizer, scores: list, style: str) -> TokenSplit:
    pieces = [tok.encode(s, style) for s in scores]
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    return TokenSplit(np.concatenate(pieces), offsets, np.array([len(s.notes) for s in scores]), [f"p{i}" for i in range(len(scores))])


def test_profiles_count_notes_that_overlap_within_a_part():
    tok = Tokenizer(TokenizerConfig(styles=("duo",)))
    # Part 0 (upper): one line, no overlaps. Part 1 (lower): a two-note chord at beat 0 and a
    # note starting under a held one at beat 2: 2 of its 4 notes start while another sounds.
    score = make_score(
        [(0, 1, 72, 0), (1, 1, 74, 0), (2, 2, 76, 0), (0, 2, 48, 1), (0, 2, 52, 1), (2, 2, 50, 1), (3, 1, 55, 1)],
        parts=(Part("Upper"), Part("Lower")),
    )
    profile = style_profiles(split_of(tok, [score], "duo"), tok)["duo"]
    assert profile["pieces"] == 1
    assert profile["pitch_ranges"] == [[72, 76], [48, 55]]
    assert profile["overlap_shares"] == [0.0, 0.5]


def test_profiles_count_the_forms_their_pieces_are_heard_in():
    from composer.io.notation import parse_tinynotation

    tok = Tokenizer(TokenizerConfig(styles=("tunes",)))
    a, b, c = "c4 d e f g1", "e4 f g a g1", "g4 f e d c1"
    tunes = [parse_tinynotation(f"tinynotation: 4/4 {text}") for text in (
        f"{a} {a} {b} {a} {a} {b} {c} {a} {a}",  # 4-bar sections (no phrase marks) aa ba ab ca, a left over: A B A' C
        f"{a} {a} {b} {a} {a} {a} {b} {a}",  # aa ba aa ba: A B A B
        f"{a} {b}",  # one section: A
    )]
    profile = style_profiles(split_of(tok, tunes, "tunes"), tok)["tunes"]
    assert profile["forms"] == {"section_bars": 4, "patterns": {"A": 1, "A B A B": 1, "A B A' C": 1}}
