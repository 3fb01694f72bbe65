"""Multi-process training with PyTorch's own engine (chapter `training_runs`): ``torchrun`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; the loop then wraps the model in DistributedDataParallel and shards each epoch with a
DistributedSampler. Without those variables everything is a single process. Backend: NCCL on GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler


@dataclass
class Dist:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup() -> Dist:
    """Join the process group when launched by torchrun; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world_size, device)


def wrap(model: nn.Module, dist: Dist) -> nn.Module:
    """DistributedDataParallel around ``model`` when several processes train it (frozen decoder outputs such as
    SAM's unused hypernetworks receive no gradient, hence ``find_unused_parameters``)."""
    if not dist.enabled:
        return model
    device_ids = [dist.device.index] if dist.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


def sampler(dataset: Dataset, dist: Dist, seed: int) -> DistributedSampler | None:
    """Each process's shard of the epoch, shuffled with ``seed`` (None in a single process)."""
    if not dist.enabled:
        return None
    return DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed)


def barrier(dist: Dist) -> None:
    if dist.enabled:
        torch_dist.barrier()


def teardown(dist: Dist) -> None:
    if dist.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
