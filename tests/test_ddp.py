"""The same loop under torchrun with two CPU processes (gloo): it trains, and DDP keeps the ranks identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch


def test_two_process_ddp_on_cpu(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29517",
            str(worker),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0 done, 2 epochs" in result.stdout and "rank 1 done, 2 epochs" in result.stdout
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for key in ranks[0]:
        torch.testing.assert_close(ranks[0][key], ranks[1][key], rtol=0, atol=0)
    history = json.loads((tmp_path / "metrics.json").read_text())  # written by rank 0 only
    assert [row["epoch"] for row in history] == [1, 2] and "val_dice" in history[-1]
