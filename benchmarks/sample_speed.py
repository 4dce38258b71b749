"""How fast do the models generate, and does the cache pay off?

    python benchmarks/sample_speed.py [--tokens 1024] [--rerun-tokens 32] [--threads 1] [--quick]

For each architecture at its default size (random weights, vocab 400, batch 1)
it prints one row:

* floor     -- bare ``model.step`` in a loop (no sampling): the network's cost;
* cached    -- ``step`` + ``sampling.sample``: what generation costs;
* re-run    -- ``forward`` over the whole prefix for each new token, measured
               for a few tokens with the prefix just below 1,024 tokens, next
               to the cached path's per-token cost at the same prefix;

and the ratios cached/floor (sampling overhead; target <= 1.5x) and
re-run/cached per token at a 1,024-token prefix (target >= 10x).  For the
LSTM it also times one-token steps with oneDNN (mkldnn) on and off.
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

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer.nn import ARCHITECTURES, LanguageModel, build_model  # noqa: E402
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


def floor_loop(model: LanguageModel, n: int) -> None:
    cache = model.new_cache(1)
    tok = torch.zeros(1, dtype=torch.long)
    for _ in range(n):
        model.step(tok, cache)


def cached_loop(model: LanguageModel, n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    settings = SamplingSettings(temperature=0.9, top_k=40)
    cache = model.new_cache(1)
    tok = torch.zeros(1, dtype=torch.long)
    out = torch.empty(n, dtype=torch.long)
    for i in range(n):
        tok = sample(model.step(tok, cache), gen, settings)
        out[i] = tok[0]
    return out


def cached_at_prefix(model: LanguageModel, prefix: torch.Tensor, n: int, seed: int = 0) -> float:
    """Seconds for ``n`` cached step+sample tokens after prefilling ``prefix``."""
    gen = torch.Generator().manual_seed(seed)
    settings = SamplingSettings(temperature=0.9, top_k=40)
    cache = model.new_cache(1)
    tok = sample(model.prefill(prefix, cache), gen, settings)
    t = time.perf_counter()
    for _ in range(n):
        tok = sample(model.step(tok, cache), gen, settings)
    return time.perf_counter() - t


def rerun_loop(model: LanguageModel, prefix: torch.Tensor, n: int, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    settings = SamplingSettings(temperature=0.9, top_k=40)
    ids = prefix
    for _ in range(n):
        tok = sample(model(ids)[:, -1], gen, settings)
        ids = torch.cat((ids, tok[:, None]), 1)


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

    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, batch 1, vocab {VOCAB}, "
          f"{args.tokens} new tokens (cached, floor), {args.rerun_tokens} re-run tokens "
          f"at prefix ~{PREFIX}, sampling temperature=0.9 top_k=40")
    header = (f"{'':<12}{'':>11}{'floor':>9}{'cached':>9}{'cached/':>9}"
              f"{'cached':>9}{'re-run':>9}{'re-run':>9}{'re-run/':>9}\n"
              f"{'arch':<12}{'params':>11}{'tok/s':>9}{'tok/s':>9}{'floor':>9}"
              f"{'ms/tok':>9}{'ms/tok':>9}{'tok/s':>9}{'cached':>9}\n"
              f"{'':<12}{'':>11}{'':>9}{'':>9}{'':>9}{'@1024':>9}{'@1024':>9}{'@1024':>9}{'@1024':>9}")
    rows = []
    lstm_model = None
    with torch.inference_mode():
        for arch in ARCHITECTURES:
            model = build_model(arch, {"vocab_size": VOCAB}).eval()
            n = args.tokens
            floor_loop(model, 32)  # warm-up
            cached_loop(model, 32)
            t_floor = timed(lambda: floor_loop(model, n), 2)
            t_cached = timed(lambda: cached_loop(model, n), 2)
            k = args.rerun_tokens
            prefix = torch.randint(0, VOCAB, (1, PREFIX - k))
            # Per-token costs with the prefix growing from 1024-k to 1024 tokens.
            ms_cached = 1e3 * min(cached_at_prefix(model, prefix, k) for _ in range(3)) / k
            ms_rerun = 1e3 * timed(lambda: rerun_loop(model, prefix, k)) / k
            rows.append(
                f"{arch:<12}{model.num_parameters():>11,}{n / t_floor:>9.0f}{n / t_cached:>9.0f}"
                f"{t_cached / t_floor:>8.2f}x{ms_cached:>9.2f}{ms_rerun:>9.1f}"
                f"{1e3 / ms_rerun:>9.2f}{ms_rerun / ms_cached:>8.0f}x"
            )
            if arch == "lstm":
                lstm_model = model
        print(header)
        print("\n".join(rows))
        if lstm_model is not None:
            n = min(args.tokens, 256)
            on = lstm_step_us(lstm_model, n, True)
            off = lstm_step_us(lstm_model, n, False)
            print(f"LSTM one-token step: mkldnn enabled {on:.0f} us, disabled {off:.0f} us "
                  f"(disabled is {on / off:.1f}x faster; step() runs with it disabled)")


if __name__ == "__main__":
    main()
