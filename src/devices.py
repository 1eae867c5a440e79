"""Device choice in one place: CUDA, then Apple MPS, then CPU, and the precision each runs in."""
import contextlib

import torch

from fileio import UserError


def choose_device(requested=None):
    """The device to run on: `requested` ('cpu', 'cuda', 'cuda:1', 'mps') or the best available."""
    if requested is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UserError(f"unknown device {requested!r}: use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {requested} was asked for, but PyTorch sees no CUDA GPU")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {requested}: there is no such GPU (PyTorch sees {torch.cuda.device_count()}, "
                        f"numbered from 0)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps was asked for, but Apple MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device {requested!r}: use cpu, cuda, cuda:N or mps")
    return device


def prepare(device, flush_subnormals=True):
    """Turn on the exact-enough fast paths of a device: TF32 matmuls on CUDA; on the CPU, subnormal
    floats (below 1.2e-38) read and written as zero.

    x86 CPUs compute with subnormals tens of times slower than with other floats. As training
    sharpens attention, a few percent of the softmax weights fall below 1.2e-38, and every matmul
    that reads them slows down: on a 2-core CPU, bucketed pretraining steps from trained weights
    ran 2.9x slower than with them flushed to zero (bench/RESULTS.md). Each CPU thread has its own
    setting and the worker threads copy the main thread's when they start, so this must run
    before the first multi-threaded tensor operation.
    """
    if device.type == "cpu":
        torch.set_flush_denormal(flush_subnormals)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast_dtype(device, mixed_precision):
    """bf16 on CUDA GPUs that have it, fp16 (with a GradScaler) on older ones, bf16 on CPUs with
    bf16 hardware; else None (fp32).

    Other CPUs stay in fp32: without bf16 instructions, bf16 autocast is several times slower.
    """
    if not mixed_precision:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


def fast_matmul_dtype(device):
    """bf16 where its matmuls are fast (CUDA, CPUs with bf16 hardware), else fp32: elsewhere PyTorch
    multiplies bf16 some 25x slower than fp32 (bench/RESULTS.md)."""
    return torch.bfloat16 if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()) else torch.float32


def cpu_has_bf16():
    """Whether this CPU multiplies bf16 in hardware: x86 with AVX512-BF16 or AMX-BF16."""
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()  # torch >= 2.9
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def precision_note(device, mixed_precision):
    """Why --amp left this device in fp32, or '' when it did not."""
    if not mixed_precision or autocast_dtype(device, mixed_precision) is not None:
        return ""
    if device.type == "cpu":
        return "--amp ignored: this CPU has no bf16 hardware (AVX512-BF16 or AMX), where fp32 is faster"
    return f"--amp ignored: autocast is used on CUDA and on CPUs with bf16 hardware, not on {device.type}"


def autocast(device, dtype):
    """A context that runs the forward pass in `dtype`, or does nothing when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
