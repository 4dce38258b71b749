"""Where a piece's tokens could make parallel fifths or octaves: the hazards training teaches a model to avoid.

The generation engine masks a pitch that would move in parallel fifths or octaves
with a part above (``composer.theory.VoiceMotion``, unless ``--allow-parallels``).
Training can teach the same rule to the model itself: at every token where a
model may write the pitch of a part below one that moved at this position (after
that part's ``Part`` token: at a new ``Position`` no part has moved yet),
``parallel_hazards`` lists the pitches the rule forbids there, read from the piece's own notes so far through the grammar
walker. ``TrainConfig.avoid_parallels`` weighs a loss on the probability the
model puts on them (``composer.training``).
"""

from __future__ import annotations

import numpy as np

from composer.theory import VoiceMotion
from composer.tokens.grammar import Grammar, Walker
from composer.tokens.vocab import K_PART, K_PITCH, K_POSITION


def parallel_hazards(ids: np.ndarray, grammar: Grammar, num_parts: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices [N], forbidden [N, 128] bool): the tokens of ``ids`` after a Part token whose part has a part above
    that moved there, and the pitches there that would make parallel fifths or octaves with it."""
    walker = Walker(grammar)
    motion = VoiceMotion(num_parts)
    indices: list[int] = []
    forbidden: list[np.ndarray] = []
    previous = -1
    for i, token in enumerate(np.asarray(ids).tolist()):
        if previous == K_PART:
            bad = motion.parallels(walker.part)
            if bad is not None:
                indices.append(i)
                forbidden.append(bad)
        previous = walker.feed(token)
        if previous == K_POSITION:
            motion.position()
        elif previous == K_PITCH:
            motion.note(walker.part, walker.pitch)
    masks = np.stack(forbidden) if forbidden else np.zeros((0, 128), bool)
    return np.asarray(indices, np.int64), masks


def transposed(forbidden: np.ndarray, shift: int) -> np.ndarray:
    """``forbidden`` pitch masks ([..., 128]) of a piece transposed by ``shift`` semitones (the rule is the same in any key)."""
    if not shift:
        return forbidden
    out = np.zeros_like(forbidden)
    if shift > 0:
        out[..., shift:] = forbidden[..., :-shift]
    else:
        out[..., :shift] = forbidden[..., -shift:]
    return out
