"""Run by tests/test_ddp.py under ``torchrun --nproc_per_node=2``: trains the toy model with the book's loop."""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from test_train import Squares, _model  # noqa: E402

from sambook.train.loop import fit  # noqa: E402

out = Path(sys.argv[1])
model = _model()
history = fit(model, Squares(), Squares(8, seed=1), out=out, epochs=2, batch_size=4, lr=0.1, progress=False)
rank = int(os.environ["RANK"])
torch.save(model.state_dict(), out / f"rank{rank}.pt")
print(f"rank {rank} done, {len(history)} epochs, initialised={dist.is_initialized()}")
