"""Training throughput: tokens per second of the transformer and the LSTM at their default sizes.

    python benchmarks/train_speed.py [--steps 4] [--warmup 1] [--threads N] [--quick]

Each architecture at its default config (``TransformerConfig`` / ``LSTMConfig``
defaults; the transformer's context set to the window, as ``composer train``
does), the vocabulary of the default ``Tokenizer``, and ``TrainConfig``'s
default window (512 tokens) and batch (16) does what one training step of
``composer.training.train`` does on random token batches: forward, float32
cross-entropy, backward, gradient clipping, AdamW step (the trainer's own
parameter groups), dropout on.

After ``--warmup`` untimed steps each, timed steps of the two models
alternate (transformer, LSTM, transformer, ...) so that load from other jobs on
a shared machine hits both alike; the median step counts. ``--quick`` keeps the
sizes and times fewer steps (a smoke run). Prints a Markdown table and the
ratio of the two throughputs.
"""

from __future__ import annotations

import os

# Must precede `import torch`: with OpenMP's default spin-waiting, two torch
# threads sharing one busy core can run ~100x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from composer.nn import ARCHITECTURES, build_model  # noqa: E402
from composer.tokens import Tokenizer  # noqa: E402
from composer.training import TrainConfig, build_optimizer  # noqa: E402


class Bench:
    """One architecture's model, optimiser and a step function mirroring the training loop."""

    def __init__(self, arch: str, vocab: int, config: TrainConfig) -> None:
        options = {"vocab_size": vocab}
        if arch == "transformer":
            options["context_len"] = config.seq_len  # what train() sets
        torch.manual_seed(0)
        self.arch, self.config = arch, TrainConfig(arch=arch, batch_size=config.batch_size, seq_len=config.seq_len)
        self.model = build_model(arch, options).train()
        self.optimizer = build_optimizer(self.model, self.config)
        self.vocab = vocab
        self.generator = torch.Generator().manual_seed(1)
        self.times: list[float] = []

    def step(self, timed: bool) -> None:
        c = self.config
        ids = torch.randint(3, self.vocab, (c.batch_size, c.seq_len + 1), generator=self.generator)
        start = time.perf_counter()
        logits = self.model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1), ignore_index=0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.optimizer.step()
        elapsed = time.perf_counter() - start
        if not torch.isfinite(loss):
            raise SystemExit(f"{self.arch}: loss is {loss.item()}")
        if timed:
            self.times.append(elapsed)

    @property
    def tokens_per_step(self) -> int:
        return self.config.batch_size * self.config.seq_len


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per architecture (default 4)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per architecture first (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed steps each, same sizes")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 2, 1
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--steps and --threads must be >= 1, --warmup >= 0")
    torch.set_num_threads(args.threads)

    defaults = TrainConfig()
    vocab = len(Tokenizer())
    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()} of {os.cpu_count()} cores, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; batch {defaults.batch_size} x {defaults.seq_len} tokens, "
        f"vocab {vocab}; forward + backward + clip + AdamW; {args.warmup} warm-up + {args.steps} timed steps each, alternating"
    )
    began = time.perf_counter()
    benches = [Bench(arch, vocab, defaults) for arch in ARCHITECTURES]
    for bench in benches:
        for _ in range(args.warmup):
            bench.step(timed=False)
    for _ in range(args.steps):
        for bench in benches:
            bench.step(timed=True)

    print()
    print("| arch | params | tokens/s | ms/step | ms/step min-max |")
    print("|---|---:|---:|---:|---:|")
    speed = {}
    for bench in benches:
        median = statistics.median(bench.times)
        speed[bench.arch] = bench.tokens_per_step / median
        print(
            f"| {bench.arch} | {bench.model.num_parameters():,} | {speed[bench.arch]:,.0f} | {median * 1e3:,.0f} | "
            f"{min(bench.times) * 1e3:,.0f}-{max(bench.times) * 1e3:,.0f} |"
        )
    if {"transformer", "lstm"} <= speed.keys():
        ratio = speed["transformer"] / speed["lstm"]
        print(f"\ntransformer/LSTM throughput: {ratio:.2f}x ({'transformer' if ratio >= 1 else 'LSTM'} faster)")
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
