"""Run by tests/test_train.py under ``torchrun --nproc_per_node=2`` (CPU, gloo).

Each rank trains the same tiny model with ``train.fit`` and writes its final weights and history.
"""

import json
import sys
from pathlib import Path

import torch
from torch import nn

from tutorial_lib.train import distributed_env, fit

out = Path(sys.argv[1])
torch.set_num_threads(1)
world, rank, _ = distributed_env()
torch.manual_seed(100 + rank)  # different initial weights per rank: DDP must broadcast rank 0's
x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
y = x @ torch.linspace(-1, 1, 8) + 0.5
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


def step(net, batch):
    xb, yb = batch
    return nn.functional.mse_loss(net(xb).squeeze(1), yb)


history = fit(model, step, (x, y), epochs=3, lr=0.02, batch_size=32, device="cpu", progress=False,
              checkpoint_dir=out / "ckpt")
torch.save(model.state_dict(), out / f"rank{rank}.pt")
(out / f"rank{rank}.json").write_text(json.dumps({"world": world, "losses": history.losses}))
