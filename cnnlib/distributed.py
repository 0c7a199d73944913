"""Training on several GPUs or machines: what ``fit`` needs to run unchanged under ``torchrun``.

``torchrun --nproc_per_node=N script.py`` starts N copies of ``script.py`` (the *ranks*) and
tells each, through environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``), who it is and where to meet the others. Data-parallel training
then works like this, and ``fit`` does each step through the helpers here:

1. Every rank joins the *process group* (:func:`join`); each uses its own GPU (``cuda:LOCAL_RANK``,
   :func:`local_device`).
2. Every rank builds the same *global* batch (same seed, same shuffle, same augmentation) and
   keeps its own contiguous slice of it (:func:`shard`), so the ranks see disjoint images and
   together exactly the batch a single process would see. (Making the whole batch in every rank
   costs a few tensor operations on the device; it is what keeps the shuffle and augmentation
   those of a single process without any communication.)
3. The model is wrapped in ``DistributedDataParallel`` (:func:`wrap_model`), which averages the
   gradients of the ranks during ``backward``; every rank then takes the same optimiser step and
   the copies of the model stay identical.
4. Metrics are summed over the ranks (:meth:`World.all_reduce_sum`), so every rank knows the
   global loss and accuracy; only rank 0 writes checkpoints and shows progress.

Without ``torchrun`` (or with one process) :func:`join` returns a world of size 1 and every
helper does nothing, so the same code runs on a laptop.

Batch norm normalises each rank's slice with that slice's statistics unless the model's batch
norm layers are converted to ``SyncBatchNorm`` (``fit(..., sync_batchnorm=True)``), which
computes them over the whole global batch at the cost of one extra communication per layer.
Taught in the README section "Training on several GPUs or machines".
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the processes training together (``size`` 1: alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 is the one that writes checkpoints and prints."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Replace ``tensor`` (in place) by its sum over all ranks; return it."""
        if self.size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def check_same(self, value: int, what: str, device) -> None:
        """Raise when the ranks disagree on an integer (e.g. the epoch a checkpoint resumes at)."""
        lowest, highest = self._range(value, device)
        if highest != lowest:
            raise RuntimeError(f"the ranks disagree on {what} (from {lowest} to {highest}); "
                               f"{SAME_CHECKPOINT}")

    def check_same_state(self, digest: str, device) -> None:
        """Raise when the ranks restored different states (``digest``: a hex hash of what each
        restored, e.g. ``cnnlib.checkpoint.state_digest``): each process reads the checkpoint
        itself, after ``DistributedDataParallel`` made their weights equal, so ranks that read
        different files would otherwise train on with different models."""
        lowest, highest = self._range(int(digest[:15], 16), device)  # 60 bits: fits an int64
        if highest != lowest:
            raise RuntimeError("the ranks restored different states from their checkpoints (same "
                               f"epoch, other weights or optimizer state); {SAME_CHECKPOINT}")

    def _range(self, value: int, device) -> tuple[int, int]:
        """The lowest and highest ``value`` over the ranks."""
        if self.size == 1:
            return value, value
        both = torch.tensor([value, -value], device=device)
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        return -int(both[1]), int(both[0])


SAME_CHECKPOINT = ("with several machines the checkpoint path must be on a file system that every "
                   "machine sees (or copy the same checkpoint to the same path on each machine "
                   "before starting)")


def torchrun_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when not started by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def current_world() -> World:
    """The :class:`World` of the initialised process group; a world of one when there is none."""
    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
        return World(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))
    return World()


def join(device=None) -> World:
    """The :class:`World` of this process, joining torchrun's process group if not yet done.

    An already initialised process group (e.g. by the script itself) is used as it is. Otherwise,
    when torchrun started more than one process, the group is initialised from its environment
    variables: NCCL for GPUs, gloo for CPUs (``device`` decides; by default CUDA if present).
    """
    if (dist.is_available() and dist.is_initialized()) or torchrun_world_size() == 1:
        return current_world()
    if not dist.is_available():
        raise RuntimeError("torchrun started several processes but this torch build has no "
                           "torch.distributed; install a torch build with distributed support")
    cuda = (torch.device(device).type == "cuda") if device is not None else torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)  # before NCCL starts, so each rank talks from its GPU
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def local_device(device, world: World) -> torch.device:
    """The device this rank trains on: ``cuda`` without an index means this rank's own GPU."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and world.size > 1:
        device = torch.device("cuda", world.local_rank)
    return device


def leave() -> None:
    """Leave the process group (call once at the end of a torchrun script); harmless alone."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_bounds(n: int, world: World) -> tuple[int, int]:
    """The slice ``[start, stop)`` of a batch of ``n`` that this rank trains on.

    Contiguous, disjoint, covering the batch, and as even as possible (sizes differ by at most
    one), e.g. 10 images on 3 ranks: [0, 3), [3, 6), [6, 10). With fewer images than ranks some
    slices are empty (``fit`` does not allow that for training batches).
    """
    return n * world.rank // world.size, n * (world.rank + 1) // world.size


def shard(x: torch.Tensor, y: torch.Tensor, world: World) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's slice of the global batch ``(x, y)`` (the whole batch when alone)."""
    if world.size == 1:
        return x, y
    start, stop = shard_bounds(len(y), world)
    return x[start:stop], y[start:stop]


def broadcast_buffers(model: nn.Module, world: World) -> None:
    """Copy rank 0's buffers (batch norm's running statistics) to every rank.

    During training each rank updates them from its own slice; after an epoch this makes the
    evaluation use, in every rank, the statistics that rank 0 saves in the checkpoint.
    """
    if world.size == 1:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def wrap_model(model: nn.Module, device, world: World, *, sync_batchnorm: bool = False) -> nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` (``model`` itself when alone).

    The wrapper shares ``model``'s parameters, so training through it trains ``model``. It also
    copies rank 0's parameters and buffers to every rank first, so all ranks start equal.
    ``sync_batchnorm`` converts ``model``'s batch norm layers to ``SyncBatchNorm`` (in place);
    torch implements those for GPUs only.
    """
    device = torch.device(device)
    if world.size == 1:
        return model
    if sync_batchnorm:
        if device.type != "cuda":
            raise ValueError("sync_batchnorm=True needs CUDA GPUs: torch's SyncBatchNorm does not "
                             "run on the CPU; train with sync_batchnorm=False there")
        _convert_batchnorm_in_place(model)
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _convert_batchnorm_in_place(model: nn.Module) -> None:
    """Replace every BatchNorm child of ``model`` by an equivalent ``SyncBatchNorm``."""
    if isinstance(model, nn.modules.batchnorm._BatchNorm):
        raise ValueError("sync_batchnorm=True needs a model that contains batch norm layers, "
                         "not a lone batch norm layer")
    for name, child in model.named_children():
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(child)
        if converted is not child:
            setattr(model, name, converted)
