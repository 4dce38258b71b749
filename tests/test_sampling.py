"""Tests for composer.sampling: filters on hand-worked logits, masks, determinism (numpy)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.sampling import FILTERS, SamplingSettings, sample, temperature, top_k, top_p

INF = float("inf")



def logits_of(*probs: float) -> np.ndarray:
    return np.array([[math.log(p) for p in probs]], np.float32)


def kept(logits: np.ndarray) -> list[list[bool]]:
    return np.isfinite(logits).tolist()


def test_filter_table_is_the_single_source_of_names() -> None:
    assert list(FILTERS) == ["temperature", "top_k", "top_p"]
    assert [f.name for f in dataclasses.fields(SamplingSettings)] == list(FILTERS)


def test_temperature_divides() -> None:
    out = temperature(np.array([[1.0, 2.0, 4.0]], np.float32), 2.0)
    assert out.tolist() == [[0.5, 1.0, 2.0]]


def test_top_k_exact_mask() -> None:
    logits = np.array([[1.0, 5.0, 3.0, 4.0], [0.0, -1.0, 2.0, 1.0]], np.float32)
    assert top_k(logits, 2).tolist() == [[-INF, 5.0, -INF, 4.0], [-INF, -INF, 2.0, 1.0]]
    assert top_k(logits, 1).tolist() == [[-INF, 5.0, -INF, -INF], [-INF, -INF, 2.0, -INF]]
    assert np.array_equal(top_k(logits, 4), logits)
    assert np.array_equal(top_k(logits, 99), logits)


def test_top_k_keeps_ties_at_the_boundary() -> None:
    logits = np.array([[1.0, 3.0, 3.0, 0.0]], np.float32)
    assert kept(top_k(logits, 1)) == [[False, True, True, False]]
    assert kept(top_k(logits, 2)) == [[False, True, True, False]]


def test_top_p_smallest_set_reaching_p() -> None:
    # Shuffled so the result must be scattered back to vocabulary order.
    logits = logits_of(0.15, 0.5, 0.05, 0.3)
    assert kept(top_p(logits, 0.45)) == [[False, True, False, False]]  # 0.5 >= 0.45
    assert kept(top_p(logits, 0.7)) == [[False, True, False, True]]  # 0.8 >= 0.7
    assert kept(top_p(logits, 0.81)) == [[True, True, False, True]]  # 0.95 >= 0.81
    assert kept(top_p(logits, 0.99)) == [[True, True, True, True]]
    assert np.array_equal(top_p(logits, 1.0), logits)
    # Kept logits are untouched.
    assert top_p(logits, 0.7)[0, 1] == logits[0, 1]


def test_top_p_exact_boundary_and_rows_independent() -> None:
    # Uniform quarters are exact in binary floating point: two tokens reach exactly 0.5.
    logits = np.array([[0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]], np.float32)
    assert kept(top_p(logits, 0.5)) == [[True, True, False, False], [True, False, False, False]]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=12),
    st.floats(0.01, 0.99),
)
def test_top_p_property(values: list[float], p: float) -> None:
    logits = np.array([values])
    keep = np.isfinite(top_p(logits, p))[0]
    probs = np.exp(logits[0] - logits[0].max())
    probs /= probs.sum()
    kept_probs = probs[keep]
    dropped = probs[~keep]
    assert keep.any()
    # Every kept token is at least as likely as every dropped one.
    if dropped.size:
        assert kept_probs.min() >= dropped.max()
        # The kept mass reaches p, and dropping the least likely kept token would not.
        assert kept_probs.sum() >= p - 1e-6
        assert kept_probs.sum() - kept_probs.min() < p + 1e-6


def test_filters_are_pure() -> None:
    logits = np.array([[1.0, 2.0, 3.0]], np.float32)
    before = logits.copy()
    for name, fn in FILTERS.items():
        out = fn(logits, {"temperature": 0.5, "top_k": 1, "top_p": 0.5}[name])
        assert out is not logits and out.dtype == logits.dtype
    assert np.array_equal(logits, before)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("temperature", 0, "temperature must be a finite number > 0, got 0"),
        ("temperature", -1.0, "temperature must be"),
        ("temperature", float("inf"), "temperature must be"),
        ("temperature", True, "temperature must be"),
        ("temperature", "1", "temperature must be"),
        ("top_k", 0, "top_k must be an integer >= 1, got 0"),
        ("top_k", 1.5, "top_k must be an integer"),
        ("top_k", True, "top_k must be an integer"),
        ("top_p", 0, r"top_p must be a number with 0 < top_p <= 1, got 0"),
        ("top_p", 1.5, "top_p must be"),
        ("top_p", -0.1, "top_p must be"),
        ("top_p", float("nan"), "top_p must be"),
    ],
)
def test_bad_values_raise(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FILTERS[name](np.zeros((1, 3), np.float32), value)
    with pytest.raises(ValueError, match=message):
        SamplingSettings(**{name: value})


def test_settings_apply_order_temperature_then_top_k_then_top_p() -> None:
    # top_k then top_p: after top_k=2 the survivors renormalise to
    # [0.53, 0.47], so top_p=0.5 keeps one token.  (top_p first would keep two.)
    logits = logits_of(0.4, 0.35, 0.25)
    s = SamplingSettings(top_k=2, top_p=0.5)
    assert kept(s.apply(logits)) == [[True, False, False]]
    assert kept(top_k(top_p(logits, 0.5), 2)) == [[True, True, False]]
    # Temperature first: flattening to ~[0.36, 0.33, 0.31] makes top_p=0.55 keep two.
    logits = logits_of(0.6, 0.3, 0.1)
    assert kept(SamplingSettings(top_p=0.55).apply(logits)) == [[True, False, False]]
    assert kept(SamplingSettings(temperature=10.0, top_p=0.55).apply(logits)) == [[True, True, False]]
    # Defaults change nothing.
    assert np.array_equal(SamplingSettings().apply(logits), logits)


def test_sample_is_deterministic_given_generator() -> None:
    logits = np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32)
    s = SamplingSettings(temperature=0.9, top_k=10, top_p=0.9)

    def draw(seed: int) -> list[list[int]]:
        rng = np.random.default_rng(seed)
        return [sample(logits, rng, s).tolist() for _ in range(20)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_sample_shape_dtype_and_frequencies() -> None:
    logits = np.repeat(logits_of(0.7, 0.2, 0.1), 4000, axis=0)
    out = sample(logits, np.random.default_rng(0))
    assert out.shape == (4000,) and out.dtype == np.int64
    freq = np.bincount(out, minlength=3) / 4000
    np.testing.assert_allclose(freq, [0.7, 0.2, 0.1], atol=0.03, rtol=0)


def test_sample_never_draws_a_token_of_probability_zero() -> None:
    # Masked and filtered tokens sit between allowed ones, at both ends and in the middle.
    logits = np.repeat(np.array([[0.0, 5.0, 0.0, 5.0, 0.0]], np.float32), 3000, axis=0)
    mask = np.repeat(np.array([[False, True, True, True, False]]), 3000, axis=0)
    out = sample(logits, np.random.default_rng(1), SamplingSettings(top_k=2), mask=mask)
    assert set(out.tolist()) == {1, 3}


def test_sample_respects_top_k() -> None:
    logits = np.repeat(np.array([[0.0, 1.0, 2.0, 3.0]], np.float32), 500, axis=0)
    out = sample(logits, np.random.default_rng(0), SamplingSettings(top_k=2))
    assert set(out.tolist()) == {2, 3}


def test_sample_mask() -> None:
    logits = np.tile(np.array([[9.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]], np.float32), (100, 1))
    mask = np.tile(np.array([[False, True, True, False], [True, False, False, False]]), (100, 1))
    out = sample(logits, np.random.default_rng(0), mask=mask).reshape(100, 2)
    assert set(out[:, 0].tolist()) == {1, 2}
    assert set(out[:, 1].tolist()) == {0}
    # The mask applies before the filters: top_k picks among allowed tokens only.
    out = sample(logits, np.random.default_rng(0), SamplingSettings(top_k=1), mask=mask)
    assert set(out.reshape(100, 2)[:, 1].tolist()) == {0}


def test_sample_mask_errors() -> None:
    logits = np.zeros((3, 4), np.float32)
    mask = np.ones((3, 4), bool)
    mask[1] = False
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"mask allows no token in row\(s\) \[1\]"):
        sample(logits, rng, mask=mask)
    with pytest.raises(ValueError, match="mask must be a bool array of shape"):
        sample(logits, rng, mask=np.ones((3, 4)))
    with pytest.raises(ValueError, match="mask must be a bool array of shape"):
        sample(logits, rng, mask=np.ones((3, 5), bool))
    with pytest.raises(ValueError, match=r"logits must be a float array of shape \[B, V\]"):
        sample(np.zeros(4, np.float32), rng)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        sample(logits, 0)
