"""The Kneser-Ney n-gram baseline (benchmarks/ngram_baseline.py): hand-worked counts, normalisation, a real folder."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, benchmark_module

ng = benchmark_module("ngram_baseline")

# A toy vocabulary: PAD 0, BOS 1, EOS 2, a 3, b 4.
V, BOS = 5, 1
TINY = [np.array([1, 3, 4, 2]), np.array([1, 3, 3, 2]), np.array([1, 4, 2])]
FIXED = (0.5, 1.0, 1.5)


def test_discounts_from_count_of_counts():
    # n1 = 5, n2 = 3, n3 = 2, n4 = 1 (and a 7 that only adds to "3+"):
    # Y = 5/11, D1 = 1 - 2Y*3/5 = 5/11, D2 = 2 - 3Y*2/3 = 12/11, D3+ = 3 - 4Y*1/2 = 23/11.
    counts = [1] * 5 + [2] * 3 + [3] * 2 + [4, 7]
    assert ng.estimate_discounts(counts) == pytest.approx((5 / 11, 12 / 11, 23 / 11))
    # n1 = 3, n2 = 2, n3 = 1, n4 = 2: D3+ = 3 - 4*(3/7)*2 < 0 is floored; no n1: fallbacks.
    d = ng.estimate_discounts([1, 1, 1, 2, 2, 3, 4, 4])
    assert d[0] == pytest.approx(3 / 7) and d[1] == pytest.approx(19 / 14) and d[2] == ng.MIN_DISCOUNT
    assert ng.estimate_discounts([5, 6, 7]) == ng.FALLBACK_DISCOUNTS


def test_bigram_by_hand():
    """Order 2 on TINY with D = (0.5, 1, 1.5) at both orders.

    Bigram counts (raw, the highest order): (BOS,a) 2, (BOS,b) 1, (a,b) 1, (a,a) 1, (a,EOS) 1, (b,EOS) 2.
    Unigram continuation counts (distinct left tokens): a {BOS, a} 2, b {a, BOS} 2, EOS {b, a} 2; total 6,
    all three discounted by D2 = 1, so gamma = 3 and
        p1(a) = p1(b) = p1(EOS) = (1 + 3/5) / 6 = 4/15,   p1(PAD) = p1(BOS) = (3/5) / 6 = 1/10.
    Context a: three bigrams of count 1 -> total 3, gamma = 3 * 0.5 = 1.5:
        p(b|a) = p(a|a) = p(EOS|a) = (0.5 + 1.5 * 4/15) / 3 = 3/10,   p(PAD|a) = p(BOS|a) = 1.5/10/3 = 1/20.
    Context BOS: (BOS,a) 2 and (BOS,b) 1 -> total 3, gamma = D2 + D1 = 1.5:
        p(a|BOS) = (1 + 0.4) / 3 = 7/15,  p(b|BOS) = (0.5 + 0.4) / 3 = 3/10,  p(EOS|BOS) = 0.4/3 = 2/15,  PAD, BOS 1/20.
    Context EOS was never followed by anything and PAD never seen: both fall back to p1.
    """
    model = ng.KneserNey(2, V, BOS, discounts=[FIXED, FIXED]).fit(TINY)
    p1 = [Fraction(1, 10), Fraction(1, 10), Fraction(4, 15), Fraction(4, 15), Fraction(4, 15)]
    expected = {
        (): p1,
        (3,): [Fraction(1, 20), Fraction(1, 20), Fraction(3, 10), Fraction(3, 10), Fraction(3, 10)],
        (1,): [Fraction(1, 20), Fraction(1, 20), Fraction(2, 15), Fraction(7, 15), Fraction(3, 10)],
        (2,): p1,
        (0,): p1,
        (4, 3): [Fraction(1, 20), Fraction(1, 20), Fraction(3, 10), Fraction(3, 10), Fraction(3, 10)],  # only the last token counts
    }
    for context, probs in expected.items():
        assert sum(probs) == 1
        np.testing.assert_allclose(model.distribution(context), [float(p) for p in probs], rtol=1e-12, err_msg=str(context))
    assert model.train_tokens == 8


def test_order_one_is_interpolated_unigram():
    # Raw counts of the predicted tokens: a 3, b 2, EOS 3 (total 8); D = (0.5, 1, 1.5) -> gamma = 1.5 + 1 + 1.5 = 4.
    model = ng.KneserNey(1, V, BOS, discounts=[FIXED]).fit(TINY)
    expected = np.array([0.8, 0.8, 1.5 + 0.8, 1.5 + 0.8, 1.0 + 0.8]) / 8
    for context in ([], [1], [3, 4], [0, 0, 0]):
        np.testing.assert_allclose(model.distribution(context), expected, rtol=1e-12)
    # score: every token after BOS, -log2 p, over the notes given.
    result = model.score(TINY, num_notes=4)
    bits = -sum(math.log2(expected[t]) for piece in TINY for t in piece[1:])
    assert result["bits_per_note"] == pytest.approx(bits / 4)
    assert result["tokens_per_note"] == 2.0
    # argmax: EOS and a tie at 2.3/8 and the lower id (EOS) wins; it is right for the 3 EOS of the 8 tokens.
    assert result["token_accuracy"] == pytest.approx(3 / 8)


def _reference(pieces, order, vocab, bos):
    """Straight from the formulas, with dicts: p(w | context) for any context."""
    raw = [Counter() for _ in range(order + 1)]
    for p in pieces:
        p = [int(x) for x in p]
        for i in range(1, len(p)):
            for k in range(1, order + 1):
                if i - k + 1 >= 0:
                    raw[k][tuple(p[i - k + 1 : i + 1])] += 1
    adjusted = [None] * (order + 1)
    adjusted[order] = dict(raw[order])
    for k in range(1, order):
        left = {}
        for g in raw[k + 1]:
            left.setdefault(g[1:], set()).add(g[0])
        adjusted[k] = {g: (c if g[0] == bos else len(left[g])) for g, c in raw[k].items()}
    discounts = [None] + [ng.estimate_discounts(list(adjusted[k].values())) for k in range(1, order + 1)]

    def prob(k, h, w):
        if k == 0:
            return 1.0 / vocab
        lower = prob(k - 1, h[1:], w)
        follow = {g[-1]: a for g, a in adjusted[k].items() if g[:-1] == h}
        total = sum(follow.values())
        if total == 0:
            return lower
        d = discounts[k]
        gamma = sum(d[min(a, 3) - 1] for a in follow.values())
        a = follow.get(w, 0)
        return (max(a - (d[min(a, 3) - 1] if a else 0), 0) + gamma * lower) / total

    def dist(context):
        context = tuple(int(x) for x in context)
        k = min(order, len(context) + 1)
        h = context[len(context) - (k - 1) :] if k > 1 else ()
        return np.array([prob(k, h, w) for w in range(vocab)])

    return dist, discounts[1:]


@pytest.mark.parametrize("order", [2, 3, 4, 7])
def test_matches_reference_and_sums_to_one(order):
    rng = np.random.default_rng(order)
    vocab = 12  # pieces use 2..10 with Zipf-like frequencies (sparse enough for estimated discounts); 11 is never seen
    zipf = 1 / np.arange(1, 10)
    pieces = [np.concatenate([[BOS], 2 + rng.choice(9, size=rng.integers(0, 25), p=zipf / zipf.sum()), [2]]) for _ in range(25)]
    model = ng.KneserNey(order, vocab, BOS).fit(pieces)
    ref, ref_discounts = _reference(pieces, order, vocab, BOS)
    assert np.allclose(model.discounts, ref_discounts)
    contexts = [[], [BOS], [BOS, 3], [3, 4], [BOS, 3, 4], [4, 4, 4, 4], [11, 11], [0], [5, 6, 2], [2, 2, 2], [3, 11, 3]]
    contexts += [list(p[max(0, i - order + 1) : i]) for p in pieces[:4] for i in range(1, len(p))]
    for context in contexts:
        d = model.distribution(context)
        assert d.sum() == pytest.approx(1.0, abs=1e-12)
        assert d.min() > 0
        np.testing.assert_allclose(d, ref(context), rtol=1e-10, err_msg=str(context))
    # Scoring whole pieces goes through the same numbers.
    test = [np.concatenate([[BOS], rng.integers(2, vocab, size=12), [2]]) for _ in range(3)]
    bits = -sum(math.log2(ref(p[max(0, i - order + 1) : i])[p[i]]) for p in test for i in range(1, len(p)))
    result = model.score(test, num_notes=10)
    assert result["bits_per_note"] == pytest.approx(bits / 10, rel=1e-10)
    assert result["max_sum_error"] < 1e-12 and result["min_probability"] > 0


def test_augment_keeps_the_pitch_span():
    from composer.tokens import Tokenizer

    tok = Tokenizer()
    a = tok.to_ids(["BOS", "Bar", "Pitch_60", "Duration_1", "Pitch_64", "Duration_1", "EOS"])
    b = tok.to_ids(["BOS", "Bar", "Pitch_62", "Duration_1", "Pitch_67", "Duration_1", "EOS"])
    out = ng.augmented([np.asarray(a, np.int64), np.asarray(b, np.int64)], tok)
    # span 60..67: a (60..64) moves 0..+3, b (62..67) moves -2..0.
    assert len(out) == 4 + 3
    for piece in out:
        lo, hi = tok.pitch_span(piece)
        assert 60 <= lo and hi <= 67


def test_real_folder_orders(tmp_path, monkeypatch):
    from composer.corpus import split_of

    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    files = sorted((ROOT / "midi_corpus" / "folk").glob("*.mid"))
    train = [f for f in files if split_of(f.name) == "train"][:40]
    test = [f for f in files if split_of(f.name) == "test"][:6]
    folder = tmp_path / "tunes"
    folder.mkdir()
    for f in train + test:
        shutil.copy(f, folder / f.name)
    rows = ng.evaluate(folder, orders=(1, 2, 3), splits=("test",))
    bpn = [r["bits_per_note"] for r in rows]
    assert bpn[0] > bpn[1] > bpn[2] > 0
    for r in rows:
        assert r["max_sum_error"] < 1e-9 and r["min_probability"] > 0
        assert 0 < r["token_accuracy"] < 1 and r["tokens_per_note"] > 1
    one = ng.ngram_bits_per_note(folder, order=3, split="test")
    assert one["bits_per_note"] == pytest.approx(bpn[2])
    assert set(one) >= {"bits_per_note", "tokens_per_note", "token_accuracy", "notes", "train_tokens"}
