"""Benchmark: the plain reference path against our fast paths, side by side, on this machine.

    python bench/bench.py                         # training steps, then evaluate over birth_dev.tsv
    python bench/bench.py --params vanilla.finetune.params --variant vanilla
    python bench/bench.py --skip_eval             # training steps only

Each configuration runs in a fresh process (so its peak memory is its own). Training: the
median step time over whole epochs (at least ten steps) after two warm-up steps, at the handout's batch sizes
(pretrain 128, finetune 256), and non-pad target tokens per second over those epochs. Evaluate:
the wall time of the whole process, reference (bench/reference.py) against `src/run.py evaluate`,
and whether their predictions are identical line for line.
"""
import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

TRAINING_PATHS = {
    "reference": dict(trim_padding=False, fused_adamw=False),
    "default": {},
    "bucket": dict(bucket=True),
    "compile": dict(compile=True),
}


def measure_training(phase, path, variant):
    """Time one epoch of training steps of one path; returns a dict of figures."""
    import torch

    import devices
    from dataset import CharCorruptionDataset, NameDataset
    from model import GPT, GPTConfig
    from reference import use_explicit_attention
    from trainer import Trainer, TrainerConfig

    random.seed(0)
    torch.manual_seed(0)
    device = devices.choose_device()
    devices.prepare(device)
    corpus = CharCorruptionDataset((ROOT / "wiki.txt").read_text(encoding="utf-8"), 128)
    dataset = corpus
    if phase == "finetune":
        dataset = NameDataset(corpus, (ROOT / "birth_places_train.tsv").read_text(encoding="utf-8"))
    model = GPT(GPTConfig(corpus.vocab_size, 128, rope=variant == "rope")).to(device)
    if path == "reference":
        use_explicit_attention(model)
    batch_size = 128 if phase == "pretrain" else 256
    trainer = Trainer(model, dataset, None, TrainerConfig(batch_size=batch_size, **TRAINING_PATHS[path]))
    model.train()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # two warm-up steps; a whole epoch when compiling, so that both batch shapes get compiled
    for step, (x, y) in enumerate(trainer.epoch_batches(0)):
        if step == 2 and not trainer.config.compile:
            break
        trainer.train_step(*trainer.trimmed(x, y))
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, nonpad, flops = [], 0, 0.0
    epoch = 1
    while len(times) < 10:  # whole epochs, at least ten steps
        for x, y in trainer.epoch_batches(epoch):
            nonpad += int((y != 0).sum())
            x, y = trainer.trimmed(x, y)
            flops += training_flops(model.config, *x.shape)
            synchronize()
            start = time.perf_counter()
            trainer.train_step(x, y)
            synchronize()
            times.append(time.perf_counter() - start)
        epoch += 1
    peak_mb = (torch.cuda.max_memory_allocated() if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20
    return dict(phase=phase, path=path, steps=len(times), median_s=statistics.median(times),
                nonpad_per_s=nonpad / sum(times), gflops_per_s=flops / sum(times) / 1e9, peak_mb=peak_mb,
                device=str(device))


def training_flops(config, batch, length):
    """Floating-point operations of one training step (forward + backward = 3x forward), counting
    the matmuls and the full T x T attention scores."""
    C, L = config.n_embd, config.n_layer
    per_token = 2 * (12 * C * C * L + C * config.vocab_size)
    attention = 4 * batch * length * length * C * L
    return 3 * (batch * length * per_token + attention)


def matmul_ceiling_gflops():
    """This machine's fp32 matmul rate (GFLOP/s): the best of several 2048^3 products."""
    import torch
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_evaluate(params, variant, eval_path):
    """Wall time of the reference evaluate process and of ours, and whether they agree."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "reference": [sys.executable, str(ROOT / "bench" / "reference.py"), variant, str(ROOT / "wiki.txt"),
                          params, eval_path, os.path.join(tmp, "reference")],
            "default": [sys.executable, str(ROOT / "src" / "run.py"), "evaluate", variant, str(ROOT / "wiki.txt"),
                        "--reading_params_path", params, "--eval_corpus_path", eval_path,
                        "--outputs_path", os.path.join(tmp, "default")],
        }
        for path, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
            wall = time.perf_counter() - start
            if done.returncode:
                sys.exit(f"{path} evaluate failed:\n{done.stderr}")
            accuracy = [line for line in done.stdout.splitlines() if line.startswith("Correct")]
            results[path] = dict(wall_s=wall, result=accuracy[-1] if accuracy else "no gold places")
        reference = Path(tmp, "reference").read_text(encoding="utf-8").splitlines()
        ours = Path(tmp, "default").read_text(encoding="utf-8").splitlines()
    identical = sum(a == b for a, b in zip(reference, ours))
    results["identical"] = f"{identical}/{len(reference)}"
    return results


def run_isolated(phase, path, variant):
    command = [sys.executable, __file__, "--one", phase, path, "--variant", variant]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return dict(phase=phase, path=path, error=done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine_description():
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", nargs=2, metavar=("PHASE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="vanilla", choices=["vanilla", "rope"])
    parser.add_argument("--params", default=None, help="a finetuned params file for the evaluate timing")
    parser.add_argument("--eval_corpus_path", default=str(ROOT / "birth_dev.tsv"))
    parser.add_argument("--skip_eval", action="store_true")
    parser.add_argument("--skip_training", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_training(*args.one, args.variant)))
        return

    import torch
    print(f"machine: {machine_description()}")
    print(f"command: python bench/bench.py {' '.join(sys.argv[1:])}")
    on_cuda = torch.cuda.is_available()
    if not args.skip_training:
        ceiling = None if on_cuda else matmul_ceiling_gflops()
        if ceiling:
            print(f"fp32 matmul ceiling (2048^3): {ceiling:.0f} GFLOP/s")
        print("\n| phase | path | steps | median step (s) | non-pad tokens/s | vs reference | GFLOP/s |"
              + (" % of ceiling |" if ceiling else "") + " peak memory (MiB) |")
        print("|---|---|---|---|---|---|---|" + ("---|" if ceiling else "") + "---|")
        for phase in ("pretrain", "finetune"):
            paths = ["reference", "default"] + (["bucket"] if phase == "pretrain" else [])
            paths += ["compile"] if on_cuda else []
            baseline = None
            for path in paths:
                r = run_isolated(phase, path, args.variant)
                if "error" in r:
                    print(f"| {phase} | {path} | failed: {r['error']} |")
                    continue
                baseline = baseline or r["nonpad_per_s"]
                share = f" {100 * r['gflops_per_s'] / ceiling:.0f}% |" if ceiling else ""
                print(f"| {phase} | {path} | {r['steps']} | {r['median_s']:.4f} | {r['nonpad_per_s']:,.0f} | "
                      f"{r['nonpad_per_s'] / baseline:.2f}x | {r['gflops_per_s']:,.0f} |{share} {r['peak_mb']:,.0f} |",
                      flush=True)
    if not args.skip_eval:
        if args.params is None:
            sys.exit("evaluate timing needs --params (a finetuned params file of --variant)")
        r = measure_evaluate(os.path.abspath(args.params), args.variant, os.path.abspath(args.eval_corpus_path))
        ratio = r["reference"]["wall_s"] / r["default"]["wall_s"]
        print(f"\n| evaluate ({args.variant}, {Path(args.eval_corpus_path).name}) | process wall (s) | result |")
        print("|---|---|---|")
        for path in ("reference", "default"):
            print(f"| {path} | {r[path]['wall_s']:.2f} | {r[path]['result']} |")
        print(f"\nspeed-up {ratio:.1f}x; predictions identical on {r['identical']} lines")


if __name__ == "__main__":
    main()
