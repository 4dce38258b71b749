"""Interpolated modified Kneser-Ney n-gram baseline over composer's event tokens.

    python benchmarks/ngram_baseline.py --corpus midi_corpus/chorales midi_corpus/folk \\
        --order 3 4 5 --split valid test [--augment] [--json]

The model sees exactly the token ids the neural models see (``load_tokens``
with the default ``Tokenizer``), is trained on the train split and is scored
with the definition of ``composer.evaluation.score_split``: for every piece, every
token after BOS is predicted from its left context (the context restarts at
each piece's BOS; a token with fewer than ``order - 1`` tokens before it uses
the orders its context allows), and

* bits per note = total -log2 p over those tokens / the split's number of notes,
* tokens per note = predicted tokens / notes,
* token accuracy = share of tokens that are the argmax of the model's
  distribution. The argmax is exact: the whole distribution over the
  vocabulary (965 ids) is built for every position, in chunks of rows, and
  ties go to the lowest id (``np.argmax``). The same dense rows give the
  probabilities scored, and the largest deviation of a row's sum from 1 is
  reported as ``max_sum_error``.

The model (Chen & Goodman 1998, "An empirical study of smoothing techniques
for language modeling", interpolated modified Kneser-Ney; counts as in KenLM):

    p_k(w | h) = [max(a_k(hw) - D_k(a_k(hw)), 0) + gamma_k(h) p_{k-1}(w | h')] / a_k(h.)
    gamma_k(h) = D_k1 N1(h.) + D_k2 N2(h.) + D_k3+ N3+(h.)
    p_0(w)     = 1 / V   (uniform over the vocabulary: no probability is ever 0)

where h' is h without its first token, a_k(h.) = sum_w a_k(hw), N_j(h.) is
the number of w with a_k(hw) = j (N3+: >= 3), and a context never seen at
order k (a_k(h.) = 0) passes p_{k-1} through unchanged. The adjusted count
a_k is the raw count for the highest order and for n-grams that start with
BOS (they can have no left context); otherwise it is the continuation count,
the number of distinct tokens seen before the n-gram. The three discounts of
each order come from that order's count-of-counts n_1..n_4 of adjusted counts:

    Y = n1 / (n1 + 2 n2),  D1 = 1 - 2Y n2/n1,  D2 = 2 - 3Y n3/n2,  D3+ = 3 - 4Y n4/n3

clipped to [MIN_DISCOUNT, j] (a count-of-count of 0 makes a formula
undefined; then the discount is FALLBACK_DISCOUNTS[j], also clipped). The
floor keeps gamma > 0 for every seen context, hence p > 0 everywhere.

``--augment`` adds every training piece transposed by -5..+6 semitones
(``Tokenizer.transpose_table``), each shift only where the transposed piece
stays inside the pitch span of the untransposed training split (pieces with
drums are not transposed); validation and test pieces are never transposed.

Implementation: n-grams are integer ids built order by order (the id of a
k-gram is its index among the sorted keys ``id(prefix (k-1)-gram) * V + last
token``), so counting is ``np.unique`` / ``np.bincount`` and any order works.
Importable: ``ngram_bits_per_note(folder, order=5, split="test")``.

The table's ``seconds`` is fitting plus scoring that split. Orders: with about
3.3 tokens a note, order 5 sees little more than one note back; on the bundled
corpora validation bits per note keep falling up to order ~16 (more so with
``--augment``), so choose the order on valid when the n-gram is a baseline to beat.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

MIN_DISCOUNT = 0.01
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
TRANSPOSE_RANGE = range(-5, 7)  # -5..+6 semitones
CHUNK_ROWS = 2048  # positions per dense block of distributions (2048 x 965 float64 = 16 MB)


def estimate_discounts(counts: np.ndarray) -> tuple[float, float, float]:
    """(D1, D2, D3+) from the count-of-counts of ``counts`` (Chen & Goodman), clipped as the module docstring says."""
    counts = np.asarray(counts)
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == j)) for j in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else None
    raw = [
        1 - 2 * y * n2 / n1 if y is not None else None,
        2 - 3 * y * n3 / n2 if y is not None and n3 > 0 else None,
        3 - 4 * y * n4 / n3 if y is not None and n3 > 0 else None,
    ]
    out = []
    for j, d in enumerate(raw, start=1):
        d = FALLBACK_DISCOUNTS[j - 1] if d is None or not np.isfinite(d) else d
        out.append(float(min(max(d, MIN_DISCOUNT), j)))
    return out[0], out[1], out[2]


class KneserNey:
    """Interpolated modified Kneser-Ney language model over integer token ids 0..vocab_size-1."""

    def __init__(
        self,
        order: int,
        vocab_size: int,
        bos_id: int,
        discounts: Sequence[Sequence[float]] | None = None,
    ) -> None:
        """``discounts``: optional fixed (D1, D2, D3+) per order 1..order instead of the estimates."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if discounts is not None and len(discounts) != order:
            raise ValueError(f"discounts: expected {order} triples (orders 1..{order}), got {len(discounts)}")
        self.order, self.vocab_size, self.bos_id = order, vocab_size, bos_id
        self.fixed_discounts = None if discounts is None else [tuple(float(x) for x in d) for d in discounts]
        self.discounts: list[tuple[float, float, float]] = []
        self.train_tokens = 0
        # Per order k (list index k-1). Per gram: its sorted key (k >= 2: id of the prefix (k-1)-gram * V + last
        # token), last token, and mass max(a - D, 0) / a(h.). Per context h (a (k-1)-gram id): where its grams
        # start among the keys, and its back-off weight gamma(h) / a(h.) (-1 where a(h.) = 0: pass p_{k-1} through).
        self._keys: list[np.ndarray] = []
        self._last: list[np.ndarray] = []
        self._mass: list[np.ndarray] = []
        self._ctx_start: list[np.ndarray] = []
        self._ctx_weight: list[np.ndarray] = []
        self._unigram: np.ndarray | None = None

    # -- training ------------------------------------------------------------
    def fit(self, pieces: Iterable[np.ndarray]) -> "KneserNey":
        V, N = self.vocab_size, self.order
        seqs = [np.asarray(p, np.int64) for p in pieces]
        seqs = [s for s in seqs if len(s)]
        tokens = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= V):
            raise ValueError(f"token ids must lie in 0..{V - 1}")
        pos = _positions([len(s) for s in seqs])
        self.train_tokens = int(np.count_nonzero(pos >= 1))  # predicted tokens (BOS is never predicted)

        keys = np.arange(V, dtype=np.int64)  # order 1: the id is the token
        first = keys  # the first token of each gram
        gid = tokens  # the id of the gram of the current order ending at each position (-1: none)
        for k in range(2, N + 1):
            idx = np.flatnonzero(pos >= k - 1)
            uniq, inv = np.unique(gid[idx - 1] * V + tokens[idx], return_inverse=True)
            gid_next = np.full(len(tokens), -1, np.int64)
            gid_next[idx] = inv.reshape(-1)
            # Order k-1 is complete once the k-grams (its left extensions) are known.
            self._finish_order(k - 1, keys, gid, gid_next, pos, first)
            keys, first, gid = uniq, first[uniq // V], gid_next
        self._finish_order(N, keys, gid, None, pos, first)
        return self

    def _finish_order(self, k: int, keys: np.ndarray, gid: np.ndarray, gid_next: np.ndarray | None, pos: np.ndarray, first: np.ndarray) -> None:
        V, N = self.vocab_size, self.order
        n_grams = len(keys)
        raw = np.bincount(gid[pos >= max(1, k - 1)], minlength=n_grams)
        if k == N:
            adjusted = raw
        else:  # continuation counts: distinct (k+1)-grams ending in this k-gram
            idx = np.flatnonzero(pos >= k)
            _, first_at = np.unique(gid_next[idx], return_index=True)
            cont = np.bincount(gid[idx[first_at]], minlength=n_grams)
            adjusted = np.where(first == self.bos_id, raw, cont)
        adjusted = adjusted.astype(np.float64)
        d = self.fixed_discounts[k - 1] if self.fixed_discounts else estimate_discounts(adjusted[adjusted > 0])
        self.discounts.append(tuple(d))  # orders finish in order 1, 2, ...
        table = np.array([0.0, *d])
        d_of = table[np.minimum(adjusted, 3).astype(np.int64)]  # 0 for unseen grams
        discounted = np.maximum(adjusted - d_of, 0.0)
        if k == 1:
            ctx = np.zeros(n_grams, np.int64)
            n_ctx = 1
            starts = np.array([0, n_grams], np.int64)
        else:
            ctx = keys // V
            n_ctx = int(ctx.max()) + 1 if n_grams else 0
            starts = np.searchsorted(keys, np.arange(n_ctx + 1, dtype=np.int64) * V)
        total = np.bincount(ctx, weights=adjusted, minlength=n_ctx)
        gamma = np.bincount(ctx, weights=d_of, minlength=n_ctx)
        safe_total = np.where(total > 0, total, 1.0)
        if k == 1:
            uniform = 1.0 / V
            self._unigram = (discounted + gamma[0] * uniform) / total[0] if total[0] > 0 else np.full(V, uniform)
        self._keys.append(keys)
        self._last.append((keys % V).astype(np.int32))
        self._mass.append(discounted / safe_total[ctx])
        self._ctx_start.append(starts)
        self._ctx_weight.append(np.where(total > 0, gamma / safe_total, -1.0))

    # -- lookup ----------------------------------------------------------------
    def _context_ids(self, tokens: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
        """Per order k >= 2 (list index k-2): the id of each position's order-k context, -1 if unseen or too short."""
        V = self.vocab_size
        out = []
        gid_prev = tokens  # ids of the (k-1)-grams ending at each position in the train tables
        for k in range(2, self.order + 1):
            ctx = np.full(len(tokens), -1, np.int64)
            idx = np.flatnonzero(pos >= k - 1)
            prev = gid_prev[idx - 1]
            ctx[idx] = prev  # a token (k = 2) or a (k-1)-gram id, -1 if unseen
            out.append(ctx)
            if k == self.order:
                break
            keys = self._keys[k - 1]
            gid = np.full(len(tokens), -1, np.int64)
            known = prev >= 0
            probe = prev[known] * V + tokens[idx[known]]
            j = np.searchsorted(keys, probe)
            j_safe = np.minimum(j, max(len(keys) - 1, 0))
            hit = (j < len(keys)) & (keys[j_safe] == probe) if len(keys) else np.zeros(len(probe), bool)
            gid[idx[known]] = np.where(hit, j_safe, -1)
            gid_prev = gid
        return out

    def _dense(self, contexts: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """Distributions [len(rows), V] for the given positions (``contexts`` from ``_context_ids``)."""
        P = np.tile(self._unigram, (len(rows), 1))
        for k in range(2, self.order + 1):
            c = contexts[k - 2][rows]
            weight, starts = self._ctx_weight[k - 1], self._ctx_start[k - 1]
            seen = c >= 0
            seen[seen] = c[seen] < len(weight)
            r = np.flatnonzero(seen)
            r = r[weight[c[r]] >= 0]  # contexts followed by something at this order
            if len(r) == 0:
                continue
            cc = c[r]
            P[r] = P[r] * weight[cc][:, None]
            lo = starts[cc]
            length = starts[cc + 1] - lo
            rep_rows = np.repeat(r, length)
            offsets = np.repeat(lo - (np.cumsum(length) - length), length) + np.arange(int(length.sum()))
            P[rep_rows, self._last[k - 1][offsets]] += self._mass[k - 1][offsets]
        return P

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(. | context) over the vocabulary; only the last ``order - 1`` tokens of the context count.

        A context shorter than ``order - 1`` uses the orders it allows, as at the start of a piece.
        """
        context = np.asarray(list(context)[-(self.order - 1):] if self.order > 1 else [], np.int64)
        tokens = np.concatenate([context, [0]])
        pos = np.arange(len(tokens), dtype=np.int64)
        return self._dense(self._context_ids(tokens, pos), np.array([len(tokens) - 1]))[0]

    # -- scoring -----------------------------------------------------------------
    def score(self, pieces: Sequence[np.ndarray], num_notes: int) -> dict[str, float]:
        """``score_split``'s metrics for whole pieces: every token after each piece's first (BOS)."""
        seqs = [np.asarray(p, np.int64) for p in pieces]
        tokens = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        pos = _positions([len(s) for s in seqs])
        contexts = self._context_ids(tokens, pos)
        targets = np.flatnonzero(pos >= 1)
        bits = 0.0
        correct = 0
        max_err = 0.0
        min_p = 1.0
        for start in range(0, len(targets), CHUNK_ROWS):
            rows = targets[start : start + CHUNK_ROWS]
            P = self._dense(contexts, rows)
            p = P[np.arange(len(rows)), tokens[rows]]
            bits -= float(np.log2(p).sum())
            correct += int(np.count_nonzero(P.argmax(axis=1) == tokens[rows]))
            max_err = max(max_err, float(np.abs(P.sum(axis=1) - 1.0).max()))
            min_p = min(min_p, float(p.min()))
        notes = max(int(num_notes), 1)
        return {
            "bits_per_note": bits / notes,
            "tokens_per_note": len(targets) / notes,
            "token_accuracy": correct / max(len(targets), 1),
            "pieces": float(len(seqs)),
            "notes": float(num_notes),
            "max_sum_error": max_err,
            "min_probability": min_p,
        }


def _positions(lengths: Sequence[int]) -> np.ndarray:
    """Position of every token within its piece, for pieces laid back to back."""
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


# -- corpora ---------------------------------------------------------------------
def split_pieces(split: Any) -> list[np.ndarray]:
    return [np.asarray(split.piece(i), np.int64) for i in range(len(split))]


def augmented(pieces: list[np.ndarray], tokenizer: Any) -> list[np.ndarray]:
    """The pieces and their transpositions by -5..+6 semitones, each inside the pieces' overall pitch span."""
    span = tokenizer.pitch_span(np.concatenate(pieces)) if pieces else None
    if span is None:
        return list(pieces)
    low, high = span
    tables = {k: tokenizer.transpose_table(k) for k in TRANSPOSE_RANGE if k}
    drum = tokenizer.ids["Program_Drums"]
    out = []
    for piece in pieces:
        out.append(piece)
        own = tokenizer.pitch_span(piece)
        if own is None or drum in piece[:64]:
            continue
        for k, table in tables.items():
            if low <= own[0] + k and own[1] + k <= high:
                out.append(table[piece])
    return out


def evaluate(
    folder: str | Path,
    orders: Sequence[int] = (5,),
    splits: Sequence[str] = ("test",),
    *,
    augment: bool = False,
    tokenizer: Any = None,
) -> list[dict[str, Any]]:
    """One result row per (order, split): train on the folder's train split, score the given splits."""
    from composer.dataset import load_tokens
    from composer.tokens import Tokenizer

    tokenizer = tokenizer or Tokenizer()
    data = load_tokens(folder, tokenizer)
    train = split_pieces(data.splits["train"])
    if not train:
        raise ValueError(f"{folder}: the train split is empty")
    if augment:
        train = augmented(train, tokenizer)
    rows = []
    for order in orders:
        t0 = time.perf_counter()
        model = KneserNey(order, len(tokenizer), tokenizer.bos_id).fit(train)
        fit_seconds = time.perf_counter() - t0
        for split in splits:
            t1 = time.perf_counter()
            part = data.splits[split]
            metrics = model.score(split_pieces(part), part.num_notes)
            rows.append(
                {
                    "corpus": str(folder),
                    "split": split,
                    "order": order,
                    "augment": augment,
                    **metrics,
                    "train_tokens": model.train_tokens,
                    "train_pieces": len(train),
                    "discounts": [list(d) for d in model.discounts],
                    "fit_seconds": fit_seconds,
                    "seconds": fit_seconds + time.perf_counter() - t1,
                }
            )
    return rows


def ngram_bits_per_note(folder: str | Path, order: int = 5, split: str = "test", *, augment: bool = False) -> dict[str, Any]:
    """Bits per note (and the rest of ``score_split``'s metrics) of a Kneser-Ney n-gram trained on the folder's train split."""
    return evaluate(folder, (order,), (split,), augment=augment)[0]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| corpus | split | order | augment | bits/note | tokens/note | token acc. | train tokens | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {Path(r['corpus']).name} | {r['split']} | {r['order']} | {'yes' if r['augment'] else 'no'} | "
            f"{r['bits_per_note']:.3f} | {r['tokens_per_note']:.3f} | {r['token_accuracy']:.3f} | "
            f"{r['train_tokens']:,} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", type=Path, default=[root / "midi_corpus" / "chorales"], help="corpus folder(s)")
    parser.add_argument("--order", nargs="+", type=int, default=[5], help="n-gram order(s), default 5")
    parser.add_argument("--split", nargs="+", default=["test"], choices=["train", "valid", "test"], help="split(s) to score")
    parser.add_argument("--augment", action="store_true", help="add the training pieces transposed by -5..+6 semitones")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if min(args.order) < 1:
        parser.error("--order must be >= 1")
    rows = []
    for corpus in args.corpus:
        rows += evaluate(corpus, args.order, args.split, augment=args.augment)
        if not args.json:
            print(f"{corpus}: done", file=sys.stderr)
    print(json.dumps(rows, indent=1) if args.json else markdown_table(rows))


if __name__ == "__main__":
    main()
