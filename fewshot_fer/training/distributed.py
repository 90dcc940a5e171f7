"""Data-parallel episodic training with ``torch.distributed`` (gloo on CPUs, NCCL on GPUs).

Started by ``torchrun``, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address. Every rank trains on its own episode stream (sampler stream = rank), gradients are
averaged with one ``all_reduce`` per step, and only rank 0 logs and writes files.

Gradients are averaged by hand rather than by wrapping the learner in
``DistributedDataParallel``: learners are trained through ``episode_loss`` (not ``forward``)
and MAML differentiates through its own inner loop, both of which DDP's forward hooks do not
see. One flat all-reduce per step is what DDP does for a model this size anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job; ``DistContext()`` is a single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group when started by ``torchrun`` with more than one process.

    ``device`` is the device asked for; on CUDA each rank takes ``cuda:LOCAL_RANK``. Returns the
    context and the device this rank computes on.
    """
    if not launched_by_torchrun():
        return DistContext(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} has no GPU: this machine has "
                             f"{torch.cuda.device_count()}; lower --nproc_per_node.")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"distributed training runs on cpu (gloo) or cuda (nccl), not {device}.")
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world)
    return DistContext(rank, world, local_rank, backend), device


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def main_process_first(ctx: DistContext) -> Iterator[None]:
    """Rank 0 runs the block first (it fills the decoded-image cache), the others after it."""
    if ctx.enabled and not ctx.is_main:
        dist.barrier()
    yield
    if ctx.enabled and ctx.is_main:
        dist.barrier()


def barrier(ctx: DistContext) -> None:
    """Every rank waits here until all have come (files rank 0 wrote are then there to read)."""
    if ctx.enabled:
        dist.barrier()


def broadcast_object(ctx: DistContext, value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not ctx.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(ctx: DistContext, value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` on every rank."""
    if not ctx.enabled:
        return [value]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def broadcast_module(ctx: DistContext, module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if ctx.enabled:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients(ctx: DistContext, params: Sequence[nn.Parameter], extra: torch.Tensor) -> torch.Tensor:
    """Average the gradients of ``params`` and the values ``extra`` (e.g. loss and accuracy)
    over the ranks with one all-reduce; a parameter without a gradient counts as zero.

    Returns ``extra`` averaged. A no-op on a single process.
    """
    if not ctx.enabled:
        return extra
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [extra.to(grads[0]).reshape(-1)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        update = flat[offset: offset + n].view(g.shape)
        if p.grad is None:
            p.grad = update.clone()
        else:
            p.grad.copy_(update)
        offset += n
    return flat[offset:].to(extra)


def average_buffers(ctx: DistContext, module: nn.Module) -> None:
    """Average floating-point buffers (batch-norm running statistics) over the ranks, so every
    rank validates and checkpoints the same model."""
    if ctx.enabled:
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer.data, op=dist.ReduceOp.SUM)
                buffer.data /= ctx.world_size


def weights_fingerprint(module: nn.Module | dict[str, torch.Tensor]) -> str:
    """SHA-256 of every parameter and buffer, in state-dict order: equal iff the weights are
    bit-identical."""
    state = module.state_dict() if isinstance(module, nn.Module) else module
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
