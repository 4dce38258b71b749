"""Harmony chosen by the melody ahead: sequential Monte Carlo over the free parts.

Tokens go position by position with the given part first, so when the model
writes the lower parts at a beat it has seen the melody only up to that beat.
But the model also predicts the melody: the probability it gives the next
given note, after the harmony written so far, says how well that harmony leads
into the melody that follows. A ``ParticleFilter`` runs ``particles`` samples
of each request side by side in one batch, weights each by the model's
log-probability of the given notes' tokens, and when the weights grow uneven
(effective sample size below ``RESAMPLE_ESS``) draws the particles again in
proportion to them (systematic resampling, from the request's seeded
generator: the same seed gives the same piece). Particles run a different
number of tokens per note, so weights are compared only over notes that every
particle of the group has finished. At the end each group keeps the particle
whose given notes had the highest total log-probability.

The runtime's cache is reindexed with its ``select`` (a copied particle takes
its parent's keys and values or LSTM state), and a sample's walker state is
copied container by container (``clone_state``).
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Any, Sequence

import numpy as np

from composer.tokens import K_DURATION, K_PART, K_PITCH

RESAMPLE_ESS = 0.5  # resample when the effective sample size falls below this share of the particles
_GIVEN_KINDS = (K_PART, K_PITCH, K_DURATION)  # a given note's tokens (a lengthening Duration reads as K_DURATION)


def clone_state(state: Any) -> Any:
    """A copy of a sample's state that shares nothing mutable with it (containers copied, their items shared)."""
    twin = copy.copy(state)
    for name, value in vars(state).items():
        if isinstance(value, (list, set, dict, deque)):
            setattr(twin, name, copy.copy(value))
    return twin


def systematic_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn in proportion to ``weights`` (summing to 1) with one uniform: each i about K * w_i times, sorted."""
    k = len(weights)
    points = (rng.random() + np.arange(k)) / k
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0  # no index past the end from rounding
    return np.searchsorted(cumulative, points, side="right").astype(np.int64)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class ParticleFilter:
    """``groups`` requests of ``particles`` samples each, laid out group after group in one batch."""

    def __init__(self, groups: int, particles: int, given_parts: int, num_onsets: int, rng: np.random.Generator) -> None:
        self.groups = groups
        self.particles = particles
        self.given_parts = given_parts
        self.num_onsets = num_onsets
        self.rng = rng
        self.note_logp = np.zeros((groups * particles, num_onsets))  # per sample: log-prob of each given note's tokens
        self.log_weight = np.zeros(groups * particles)  # since the group's last resampling
        self.synced = [0] * groups  # notes every particle of the group had finished at its last weighting
        self.resamplings = 0

    def observe(self, states: Sequence[Any], logits: np.ndarray, chosen: np.ndarray) -> None:
        """After the step that fed ``chosen`` (sampled from ``logits``) and advanced ``states``: credit given notes' tokens."""
        rows = [i for i, s in enumerate(states) if self._given_token(s)]
        if not rows:
            return
        logp = log_softmax(logits[rows].astype(np.float64))
        for row, i in enumerate(rows):
            self.note_logp[i, states[i].next_onset - 1] += logp[row, chosen[i]]

    def _given_token(self, s: Any) -> bool:
        return not s.done and s.last_forced and s.next_onset > 0 and s.part < self.given_parts and s.last_kind in _GIVEN_KINDS

    def finished_notes(self, s: Any) -> int:
        """Given notes this sample has written in full (one still in its queue is not)."""
        if s.done:
            return self.num_onsets
        return s.next_onset - 1 if s.queue else s.next_onset

    def resample(self, states: list[Any], cache: Any, chosen: np.ndarray) -> tuple[list[Any], np.ndarray]:
        """Weight each group over the notes all its particles have finished; redraw a group whose weights grew uneven.

        Returns the states and the tokens to feed next, reordered as the runtime's ``cache`` now is.
        """
        order = np.arange(len(states))
        for g in range(self.groups):
            lo, hi = g * self.particles, (g + 1) * self.particles
            reached = min(self.finished_notes(states[i]) for i in range(lo, hi))
            if reached <= self.synced[g]:
                continue
            self.log_weight[lo:hi] += self.note_logp[lo:hi, self.synced[g]:reached].sum(axis=1)
            self.synced[g] = reached
            w = np.exp(self.log_weight[lo:hi] - self.log_weight[lo:hi].max())
            w /= w.sum()
            if 1.0 / float(np.sum(w * w)) < RESAMPLE_ESS * self.particles:
                order[lo:hi] = lo + systematic_resample(w, self.rng)
                self.log_weight[lo:hi] = 0.0
                self.resamplings += 1
        if np.array_equal(order, np.arange(len(states))):
            return states, chosen
        cache.select(order)
        self.note_logp = self.note_logp[order]
        seen: set[int] = set()
        out = []
        for i in order.tolist():
            out.append(states[i] if i not in seen else clone_state(states[i]))
            seen.add(i)
        return out, chosen[order]

    def best(self, states: Sequence[Any]) -> list[Any]:
        """Per group, the particle whose given notes the model found likeliest in all (the first of equals)."""
        totals = self.note_logp.sum(axis=1)
        return [states[g * self.particles + int(np.argmax(totals[g * self.particles:(g + 1) * self.particles]))] for g in range(self.groups)]
