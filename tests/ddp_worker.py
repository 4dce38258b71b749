"""Helper for tests/test_train.py: one rank of a data-parallel run under torchrun.

    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py CORPUS OUTPUT REPORT_DIR STEPS

Calls ``composer.training.train`` (gloo on CPU), then writes REPORT_DIR/rank{N}.json
with the sha256 of the rank's final weights, its step count and losses, and the
model files / checkpoints that the rank itself wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import composer.training as T


def main() -> None:
    corpus, output, report_dir, steps = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    rank = int(os.environ["RANK"])
    writes: list[str] = []
    networks: list = []

    def spy(name, func):
        def wrapper(*args, **kwargs):
            writes.append(name)
            return func(*args, **kwargs)

        return wrapper

    T.save_model = spy("model", T.save_model)  # every model file write of this rank (best + final)
    T._save_checkpoint = spy("checkpoint", T._save_checkpoint)
    make_optimizer = T.build_optimizer

    def keep_network(network, config):  # remember the (unwrapped) network to hash it afterwards
        networks.append(network)
        return make_optimizer(network, config)

    T.build_optimizer = keep_network
    config = T.TrainConfig(arch="transformer", max_steps=steps, batch_size=4, seq_len=32, warmup_steps=2, eval_every=4, checkpoint_every=4, learning_rate=3e-3)
    result = T.train(corpus, output, config=config, model_options={"n_layers": 1, "d_model": 32, "n_heads": 2}, device="cpu")
    digest = hashlib.sha256()
    for name, tensor in sorted(networks[0].state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    report = {"rank": rank, "world": int(os.environ["WORLD_SIZE"]), "steps": result.steps, "losses": result.losses, "weights_sha256": digest.hexdigest(), "writes": writes}
    (report_dir / f"rank{rank}.json").write_text(json.dumps(report))

    import torch.distributed as td

    if td.is_initialized():
        td.destroy_process_group()


if __name__ == "__main__":
    main()
