"""Data-parallel helpers: who am I among the processes that torchrun started."""
import os
from datetime import timedelta

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


# The rendezvous store that torchrun's agent keeps: it outlives the process group, so that the
# processes can still meet after tearing the group down (shutdown).
_store = None


def init(device_type):
    """Join the process group torchrun set up (NCCL on GPUs, Gloo on CPU); return the local rank."""
    global _store
    _store, rank, size = next(dist.rendezvous("env://"))
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", store=_store, rank=rank,
                            world_size=size)
    return int(os.environ.get("LOCAL_RANK", 0))


def shutdown(wait_for_others=False):
    """Leave the process group. After an error, at once. After success, all together: a process that
    exits while another is still tearing Gloo down can abort it ("terminate called without an active
    exception": 2 of 12 two-process runs under load, bench/RESULTS.md). So every process waits at a
    barrier, tears down, then waits in the store until all have torn down (at most a minute: one
    that never comes has failed, and torchrun reports it)."""
    if not dist.is_initialized():
        return
    me, size = dist.get_rank(), dist.get_world_size()
    if wait_for_others:
        dist.barrier()
    dist.destroy_process_group()
    if wait_for_others:
        try:
            _store.set(f"left/{me}", "1")
            _store.wait([f"left/{r}" for r in range(size)], timedelta(seconds=60))
        except dist.DistError:  # a process never came (it failed), or the store's host left after all came
            pass


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
