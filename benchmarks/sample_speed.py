"""How fast do the models generate, and does the cache pay off?

    python benchmarks/sample_speed.py [--tokens 1024] [--rerun-tokens 24] [--threads 1] [--quick]

For each architecture at its default size (random weights, vocab 400, batch 1)
it prints one row:

* torch step -- the torch model's cached ``step`` in a loop, no sampling;
* numpy step -- the numpy runtime's ``step`` (``composer.nn.runtime``) on the
                same weights: what generation runs on;
* cached     -- numpy ``step`` + ``sampling.sample``: what generation costs;
* re-run     -- torch ``forward`` over the whole prefix for each new token,
                measured for a few tokens with the prefix just below 1,024
                tokens, next to the cached path's per-token cost there;

and the ratios numpy/torch step speed, cached/numpy step (sampling overhead;
target <= 1.5x) and re-run/cached per token at a 1,024-token prefix (target
>= 10x).  For the LSTM it also times torch's one-token steps with oneDNN
(mkldnn) on and off.
"""

from __future__ import annotations

import os

# Must precede `import torch`: with OpenMP's default spin-waiting, two torch
# threads sharing one busy core can run ~100x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer.nn import ARCHITECTURES, LanguageModel, build_model  # noqa: E402
from composer.nn.runtime import build_runtime  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from composer.sampling import SamplingSettings, sample  # noqa: E402

VOCAB = 400
PREFIX = 1024


def timed(fn, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


SETTINGS = SamplingSettings(temperature=0.9, top_k=40)


def torch_step_loop(model: LanguageModel, n: int) -> None:
    cache = model.new_cache(1)
    tok = torch.zeros(1, dtype=torch.long)
    for _ in range(n):
        model.step(tok, cache)


def numpy_step_loop(runtime, n: int) -> None:
    cache = runtime.new_cache(1)
    tok = np.zeros(1, np.int64)
    for _ in range(n):
        runtime.step(tok, cache)


def cached_loop(runtime, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cache = runtime.new_cache(1)
    tok = np.zeros(1, np.int64)
    out = np.empty(n, np.int64)
    for i in range(n):
        tok = sample(runtime.step(tok, cache), rng, SETTINGS)
        out[i] = tok[0]
    return out


def cached_at_prefix(runtime, prefix: np.ndarray, n: int, seed: int = 0) -> float:
    """Seconds for ``n`` cached step+sample tokens after prefilling ``prefix``."""
    rng = np.random.default_rng(seed)
    cache = runtime.new_cache(1)
    tok = sample(runtime.prefill(prefix, cache), rng, SETTINGS)
    t = time.perf_counter()
    for _ in range(n):
        tok = sample(runtime.step(tok, cache), rng, SETTINGS)
    return time.perf_counter() - t


def rerun_loop(model: LanguageModel, prefix: np.ndarray, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ids = torch.from_numpy(prefix)
    for _ in range(n):
        tok = sample(model(ids)[:, -1].numpy(), rng, SETTINGS)
        ids = torch.cat((ids, torch.from_numpy(tok)[:, None]), 1)


def lstm_step_us(model: LanguageModel, n: int, mkldnn: bool) -> float:
    """One-token LSTM steps with oneDNN on or off, bypassing step()'s own switch."""
    hc = None
    x = F.embedding(torch.zeros(1, 1, dtype=torch.long), model.embed.weight)

    def run() -> None:
        nonlocal hc
        for _ in range(n):
            y, hc = model.lstm(x, hc)
            F.linear(y[:, 0], model.head.weight, model.head.bias)

    # The attribute, not mkldnn.flags(): flags() also resets oneDNN's TF32
    # setting, which warns on CPU-only builds.
    was_enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = mkldnn
    try:
        run()  # warm-up
        return timed(run, 2) / n * 1e6
    finally:
        torch.backends.mkldnn.enabled = was_enabled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1024, help="new tokens for floor/cached")
    parser.add_argument("--rerun-tokens", type=int, default=24,
                        help="tokens timed on the re-run path (prefix just below 1,024)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (batch-1 steps are too small to gain from more)")
    parser.add_argument("--quick", action="store_true", help="256 tokens, 6 re-run tokens")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.rerun_tokens = 256, 6
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"torch {torch.__version__}, numpy {np.__version__}, torch threads={torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, batch 1, vocab {VOCAB}, "
          f"{args.tokens} new tokens (steps, cached), {args.rerun_tokens} re-run tokens "
          f"at prefix ~{PREFIX}, sampling temperature=0.9 top_k=40\n")
    print("| arch | params | torch step tok/s | numpy step tok/s | numpy/torch | cached tok/s | cached/numpy step "
          "| cached ms/tok @1024 | re-run ms/tok @1024 | re-run/cached @1024 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    lstm_model = None
    # As generate_batch: numpy's BLAS on one thread (batch-1 products are too small to share).
    with torch.inference_mode(), threadpool_limits(limits=1, user_api="blas"):
        for arch in ARCHITECTURES:
            model = build_model(arch, {"vocab_size": VOCAB}).eval()
            runtime = build_runtime(arch, model.config, {k: v.numpy() for k, v in model.state_dict().items()})
            n = args.tokens
            torch_step_loop(model, 32)  # warm-up
            cached_loop(runtime, 32)
            # Alternating, best of 2 each, so a noisy neighbour hits both alike.
            t_torch = t_numpy = t_cached = float("inf")
            for _ in range(2):
                t_torch = min(t_torch, timed(lambda: torch_step_loop(model, n)))
                t_numpy = min(t_numpy, timed(lambda: numpy_step_loop(runtime, n)))
                t_cached = min(t_cached, timed(lambda: cached_loop(runtime, n)))
            k = args.rerun_tokens
            prefix = np.random.default_rng(0).integers(0, VOCAB, (1, PREFIX - k))
            # Per-token costs with the prefix growing from 1024-k to 1024 tokens.
            ms_cached = 1e3 * min(cached_at_prefix(runtime, prefix, k) for _ in range(3)) / k
            ms_rerun = 1e3 * timed(lambda: rerun_loop(model, prefix, k)) / k
            print(f"| {arch} | {model.num_parameters():,} | {n / t_torch:.0f} | {n / t_numpy:.0f} | "
                  f"{t_torch / t_numpy:.2f}x | {n / t_cached:.0f} | {t_cached / t_numpy:.2f}x | "
                  f"{ms_cached:.2f} | {ms_rerun:.1f} | {ms_rerun / ms_cached:.0f}x |")
            if arch == "lstm":
                lstm_model = model
        if lstm_model is not None:
            n = min(args.tokens, 256)
            on = lstm_step_us(lstm_model, n, True)
            off = lstm_step_us(lstm_model, n, False)
            print(f"LSTM one-token step: mkldnn enabled {on:.0f} us, disabled {off:.0f} us "
                  f"(disabled is {on / off:.1f}x faster; step() runs with it disabled)")
    if lstm_model is not None:
        # Why generate_batch holds numpy's BLAS to one thread: the LSTM's 4h x h products are
        # big enough for OpenBLAS to split, and at batch 1 the split costs more than it saves.
        runtime = build_runtime("lstm", lstm_model.config, {k: v.numpy() for k, v in lstm_model.state_dict().items()})
        n = min(args.tokens, 256)
        one = every = float("inf")
        for _ in range(2):
            with threadpool_limits(limits=1, user_api="blas"):
                one = min(one, timed(lambda: numpy_step_loop(runtime, n)))
            every = min(every, timed(lambda: numpy_step_loop(runtime, n)))
        print(f"numpy LSTM one-token step: BLAS on one thread {one / n * 1e6:.0f} us, on its default threads "
              f"{every / n * 1e6:.0f} us (one thread is {every / one:.1f}x faster; generation uses one)")


if __name__ == "__main__":
    main()
