"""Multi-process training under ``torchrun``: process group, device, and the few collectives we need.

``edge-age train`` runs unchanged in one process; launched by ``torchrun`` (which sets ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK``) it joins a process group -- gloo on CPU, nccl on GPUs -- and wraps the
model in DistributedDataParallel. Each global batch is split across the processes by rows, and only
rank 0 writes files. Nothing here is module-level state: :func:`setup` returns a :class:`Context`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this process created the group, so it tears it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def rows(self, n: int) -> slice:
        """This process's rows of an ``n``-row global batch (interleaved, so sizes differ by at most one)."""
        return slice(self.rank, n, self.world)

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over processes (identity in one process)."""
        if not self.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def share_buffers(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's buffers of ``module`` (identity in one process). DDP does this for
        the model it wraps at each forward; a copy it does not wrap (the ``--ema`` average) needs it done."""
        if self.distributed:
            for b in module.buffers():
                dist.broadcast(b, src=0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def setup(use_cuda: bool = True) -> Context:
    """Join the ``torchrun`` process group if there is one; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    cuda = use_cuda and torch.cuda.is_available()
    device = torch.device("cuda", local_rank % torch.cuda.device_count()) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        owns = True
    return Context(rank, world, local_rank, local_world, device, owns)
