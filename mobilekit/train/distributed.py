"""DistributedDataParallel from torchrun's environment, and a resumable epoch sampler.

`torchrun --nproc-per-node N python -m mobilekit.train ...` sets RANK / WORLD_SIZE /
LOCAL_RANK; one process per GPU (NCCL), or per CPU process with gloo.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

from mobilekit.errors import MobilekitError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(device: str, local_rank: int = 0, local_world_size: int = 1) -> torch.device:
    """The device of this process: cuda:LOCAL_RANK under torchrun. A host with fewer GPUs
    than the processes torchrun starts on it is an error on every process (not only on the
    one whose GPU is missing, which would leave the others waiting for it)."""
    if device == "auto":
        dev = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    if dev.type == "cuda":
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if gpus == 0:
            raise MobilekitError(f"--device {device} asks for a CUDA GPU but this host has none visible",
                                 "use --device cpu (or auto), or check CUDA_VISIBLE_DEVICES and the driver")
        if local_world_size > gpus and device in ("auto", "cuda"):
            raise MobilekitError(f"torchrun starts {local_world_size} processes on this host but it has {gpus} "
                                 f"GPU{'s' if gpus > 1 else ''} (one process per GPU)",
                                 f"pass --nproc-per-node {gpus} (or fewer) to torchrun")
        if dev.index >= gpus:
            raise MobilekitError(f"this process (LOCAL_RANK {local_rank}) needs cuda:{dev.index} but this host has "
                                 f"{gpus} GPU{'s' if gpus > 1 else ''}",
                                 f"pass --nproc-per-node {gpus} (or fewer) to torchrun, or --device cuda:0")
    return dev


def init_distributed(device: str = "auto") -> DistInfo:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1), else single-process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(local_rank + 1)))
    dev = pick_device(device, local_rank, local_world)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, dev)


def cleanup_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class EpochSampler(Sampler[int]):
    """Indices for one process in one epoch: a permutation seeded by (seed, epoch) when
    shuffling (like DistributedSampler), split over processes, and able to start `skip`
    samples into the epoch, so a run resumed mid-epoch sees exactly the remaining clips.

    For training (`pad=True`) every process gets the same number of indices (DDP needs
    equal steps); evaluation shards without padding so counts are exact after all_reduce.
    With `with_epoch` it yields `(epoch, index)`, so the epoch reaches datasets in persistent
    DataLoader workers.
    """

    def __init__(self, size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 pad: bool = True, with_epoch: bool = False):
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.with_epoch = with_epoch
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.pad and self.world_size > 1:
            total = math.ceil(self.size / self.world_size) * self.world_size
            order += order[: total - len(order)]
        return order[self.rank::self.world_size][self.skip:]

    def __iter__(self):
        if self.with_epoch:
            return iter([(self.epoch, i) for i in self._indices()])
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())
