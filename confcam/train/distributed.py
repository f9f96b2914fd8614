"""Where training runs: one process on the CPU or a GPU, or one of several processes started by `torchrun`
(DistributedDataParallel: gloo on CPUs, nccl on GPUs), with the same `confcam train` flags either way.

--batch-size is the global batch: each of the WORLD_SIZE processes trains on its share of every batch and
DDP averages the gradients, so a run on N processes takes the same steps as one process would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from confcam.errors import ConfcamError

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: its rank, how many processes share the work, and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @staticmethod
    def start(device: str = "cpu") -> Distributed:
        """Join the process group torchrun described in the environment (WORLD_SIZE, RANK, ...), if any."""
        if device not in DEVICES:
            raise ConfcamError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfcamError("--device cuda: PyTorch sees no CUDA GPU here (a CPU build of torch, or no driver)")
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        where = torch.device("cuda", local) if device == "cuda" else torch.device("cpu")
        if device == "cuda":
            torch.cuda.set_device(where)
        if world < 2:
            return Distributed(0, 1, where)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        return Distributed(dist.get_rank(), dist.get_world_size(), where)

    @property
    def is_main(self) -> bool:
        """The process that validates, prints, writes checkpoints and exports."""
        return self.rank == 0

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise ConfcamError(f"--batch-size {batch_size} is the global batch: it must split evenly over "
                               f"{self.world} processes")

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module as the processes train it together (gradients averaged across them)."""
        if self.world < 2:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def total(self, values: list[float]) -> list[float]:
        """Each value summed over every process (for epoch statistics)."""
        if self.world < 2:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
