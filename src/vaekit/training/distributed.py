"""Several processes training one model: PyTorch's DistributedDataParallel under torchrun.

    torchrun --nproc-per-node 4 -m vaekit train ...

torchrun starts the processes and sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address;
`from_env` joins them into one group (gloo on CPUs, NCCL on GPUs, each process on the GPU of
its LOCAL_RANK). Every global batch is split into contiguous parts, one per process, and every
random draw of a step is made for the whole global batch from the step's generator, each
process taking its rows: so N processes compute what one process would, up to the order of
floating-point sums. Only the main process (rank 0) writes files.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from vaekit.errors import VaekitError

T = TypeVar("T")


class SharedError(VaekitError):
    """The main process's error, raised on the other processes too (`Group.on_main`): the
    main process says it; the others, which print their own errors, leave it to it."""


@dataclass(frozen=True)
class Group:
    """This process's place among `world` processes (a group of one by default)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This process's contiguous part of a batch of n (parts differ by at most one)."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor summed over all processes (in place; itself in a group of one)."""
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def share(self, value: Any) -> Any:
        """The main process's `value`, on every process (a picklable object)."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, work: Callable[[], T]) -> T:
        """`work()` run by the main process alone; its result, or its VaekitError, on every
        process (so that no process waits for one that has given up)."""
        result, error = None, None
        if self.is_main:
            try:
                result = work()
            except VaekitError as err:
                error = str(err)
        result, error = self.share((result, error))
        if error is not None:
            raise (VaekitError if self.is_main else SharedError)(error)
        return result  # type: ignore[return-value]

    def main_first(self, work: Callable[[], T]) -> T:
        """`work()` on the main process, then on the others, which find what it made (a
        prepared dataset in the cache, say); a VaekitError of any raised on every process
        (`each`: the data missing on another machine, say)."""
        if not self.active:
            return work()
        kept: list[T] = []
        self.on_main(lambda: kept.append(work()))  # shares only whether it failed
        return self.each(lambda: kept[0] if self.is_main else work())

    def each(self, work: Callable[[], T]) -> T:
        """`work()` on every process, which then share whether it failed: a VaekitError on
        any is raised on every one, so that none goes on to wait for one that has given up
        (a run folder or data missing on one machine: the other machines' processes waited
        for its processes at their next step until a timeout). The main process says which
        process failed and why; one that failed itself raises its own error (its machine's
        first process says it, vaekit.cli.main)."""
        if not self.active:
            return work()
        import torch.distributed as dist

        result, error = None, None
        try:
            result = work()
        except VaekitError as err:
            error = str(err)
        errors: list[str | None] = [None] * self.world
        dist.all_gather_object(errors, error)
        if error is not None and not self.is_main:
            raise VaekitError(error)
        failed = next((rank for rank, why in enumerate(errors) if why is not None), None)
        if failed is not None:
            why = errors[failed] if failed == 0 else f"process {failed}: {errors[failed]}"
            raise (VaekitError if self.is_main else SharedError)(why)
        return result  # type: ignore[return-value]

    def share_weights(self, model: nn.Module) -> None:
        """The main process's weights, copied into every process's model."""
        if self.active:
            import torch.distributed as dist

            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model to call in training steps: DistributedDataParallel over `model` (which
        then averages the gradients over the processes in backward), or `model` itself."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)


SINGLE = Group()


def from_env(device: torch.device) -> tuple[Group, torch.device]:
    """The process group torchrun's variables describe (joined once), and this process's
    device: cuda:LOCAL_RANK where `device` is CUDA. Without torchrun, a group of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        # Left to the interpreter's exit, the group's background threads were now and then
        # destroyed while still running ("terminate called without an active exception",
        # SIGABRT, once in the test suite's runs): leave it explicitly instead.
        atexit.register(_leave)
    return Group(dist.get_rank(), dist.get_world_size()), device


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        # Every process waits for the others first: one that left while the main process was
        # still writing the run's last files (pictures, the card) was aborted in teardown
        # (SIGABRT), and torchrun then killed the main process before they were written.
        with contextlib.suppress(RuntimeError):  # a process already gone: none to wait for
            dist.barrier()
        dist.destroy_process_group()


def is_main_process() -> bool:
    """Whether this process is the one that reports to the user: rank 0 of torchrun's group
    (as its RANK variable says, before the group is joined as after), or a process on its own.
    The others print nothing, so that a summary appears once, not once per process."""
    return int(os.environ.get("RANK", "0")) == 0
