"""Data-parallel helpers: who am I among the processes that torchrun started."""
import os

import torch
import torch.distributed as dist


def world_size():
    return dist.get_world_size() if dist.is_initialized() else 1


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def is_main():
    """True in the process that prints, logs and saves (rank 0, or the only process)."""
    return rank() == 0


def print0(*args, **kwargs):
    if is_main():
        print(*args, **kwargs)


def launch_rank():
    """This process's rank as torchrun set it (0 without torchrun), before the group is joined."""
    return int(os.environ.get("RANK", 0))


def launched_by_torchrun():
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(device_type):
    """Join the process group torchrun set up (NCCL on GPUs, Gloo on CPU); return the local rank."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return local_rank


def shutdown(wait_for_others=False):
    """Leave the process group. After success, wait for every process first: one that exits while
    another is still tearing down can abort it (seen with Gloo). After an error, do not wait."""
    if dist.is_initialized():
        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensor):
    """Sum a tensor over all processes, in place (nothing to do in a single process)."""
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_process(flag, device):
    """True on every process if `flag` is true on any of them (so that all stop together)."""
    if not dist.is_initialized():
        return flag
    return bool(all_reduce_sum(torch.tensor([int(flag)], device=device)).item())
