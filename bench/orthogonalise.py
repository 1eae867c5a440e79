"""How long Muon's orthogonalisations take per optimizer step, in bf16 and in fp32, with PyTorch's
oneDNN matmuls and without them (as on a CPU without AVX-512, AMX or ARM bf16, where PyTorch's own
bf16 kernels run). Tells whether this CPU should orthogonalise in bf16 (src/devices.py decides).

    python bench/orthogonalise.py [--repeats 5] [--threads N]

The matrices are the handout model's 24 block matrices (4 layers of 4 attention 256x256 and the
MLP's 1024x256 and 256x1024), random, five Newton-Schulz steps each, as `--optimizer muon` runs.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import devices  # noqa: E402
from optimizers import orthogonalise  # noqa: E402

LAYER_SHAPES = [(256, 256)] * 4 + [(1024, 256), (256, 1024)]


def step_seconds(matrices, dtype, repeats):
    """The median time of orthogonalising every matrix once (one optimizer step), after a warm-up."""
    def one_step():
        start = time.perf_counter()
        for matrix in matrices:
            orthogonalise(matrix, 5, dtype)
        return time.perf_counter() - start
    one_step()
    return statistics.median(one_step() for _ in range(repeats))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    matrices = [torch.randn(shape) for _ in range(4) for shape in LAYER_SHAPES]
    chosen = devices.fast_matmul_dtype(torch.device("cpu"))
    print(f"{args.threads} threads; this CPU has bf16 hardware: {devices.cpu_has_bf16()}; "
          f"--optimizer muon orthogonalises in {'bf16' if chosen == torch.bfloat16 else 'fp32'} here")
    print("| matmuls | with oneDNN (ms per step) | without oneDNN (ms per step) |")
    print("|---|---|---|")
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        cells = []
        for onednn in (True, False):
            torch.backends.mkldnn.enabled = onednn
            cells.append(f"{step_seconds(matrices, dtype, args.repeats) * 1000:,.0f}")
        print(f"| {name} | {' | '.join(cells)} |")
    torch.backends.mkldnn.enabled = True


if __name__ == "__main__":
    main()
