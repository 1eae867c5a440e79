"""Benchmark: the plain reference path against our fast paths, side by side, on this machine.

    python bench/bench.py --params vanilla.finetune.params   # training steps, then evaluate over birth_dev.tsv
    python bench/bench.py --params rope.finetune.params --variant rope
    python bench/bench.py --skip_eval                        # training steps only
    python bench/bench.py --skip_eval --variant rope --init_params rope.pretrain.params  # from trained weights

Each configuration runs in a fresh process (so its peak memory is its own), --rounds times,
interleaved with the others so that a slow spell of a shared machine hits every path alike; the
table gives medians over rounds, and each ratio against the reference as the median (and range)
of the per-round ratios. Training: the median step time over whole epochs (at least ten steps)
after two warm-up steps, at the handout's batch sizes (pretrain 128, finetune 256), and non-pad
target tokens per second over those epochs, from a fresh model or from --init_params. A trained
model's sharp attention makes subnormal floats, which slow a CPU down unless flushed to zero: the
reference and `bucket_subnormals` paths keep them, as the assignment's code does. Evaluate: the
wall time of the whole process, reference (bench/reference.py) against `src/run.py evaluate`, and
whether their predictions are identical line for line.
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
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

TRAINING_PATHS = {  # TrainerConfig settings, and whether subnormal floats are flushed to zero on the CPU
    "reference": dict(trim_padding=False, fused_adamw=False, flush_subnormals=False),
    "default": {},
    "bucket": dict(bucket=True),
    "bucket_subnormals": dict(bucket=True, flush_subnormals=False),
    "compile": dict(compile=True),
}


def measure_training(phase, path, variant, init_params=None):
    """Time one epoch of training steps of one path, from a fresh model or the weights in
    init_params; returns a dict of figures."""
    import torch

    import devices
    from checkpoint import load_params
    from dataset import CharCorruptionDataset, NameDataset
    from model import GPT, GPTConfig
    from reference import use_reference_layers
    from trainer import Trainer, TrainerConfig

    random.seed(0)
    torch.manual_seed(0)
    settings = dict(TRAINING_PATHS[path])
    device = devices.choose_device()
    devices.prepare(device, flush_subnormals=settings.pop("flush_subnormals", True))
    corpus = CharCorruptionDataset((ROOT / "wiki.txt").read_text(encoding="utf-8"), 128)
    dataset = corpus
    if phase == "finetune":
        dataset = NameDataset(corpus, (ROOT / "birth_places_train.tsv").read_text(encoding="utf-8"))
    model = GPT(GPTConfig(corpus.vocab_size, 128, rope=variant == "rope")).to(device)
    if init_params:
        load_params(model, init_params)  # names a file of the other variant or size
    if path == "reference":
        use_reference_layers(model)
    batch_size = 128 if phase == "pretrain" else 256
    trainer = Trainer(model, dataset, None, TrainerConfig(batch_size=batch_size, **settings))
    model.train()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # two warm-up steps; a whole epoch when compiling, so that both batch shapes get compiled
    for step, (x, y, _) in enumerate(trainer.epoch_batches(0)):
        if step == 2 and not trainer.config.compile:
            break
        trainer.train_step(*trainer.trimmed(x, y))
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, nonpad, flops = [], 0, 0.0
    epoch = 1
    while len(times) < 10:  # whole epochs, at least ten steps
        for x, y, _ in trainer.epoch_batches(epoch):
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


def measure_evaluate(path, params, variant, eval_path):
    """Wall time, result line and predictions of one evaluate process: the reference
    (bench/reference.py) or ours (src/run.py evaluate)."""
    with tempfile.TemporaryDirectory() as tmp:
        outputs = os.path.join(tmp, "predictions")
        if path == "reference":
            command = [sys.executable, str(ROOT / "bench" / "reference.py"), variant, str(ROOT / "wiki.txt"),
                       params, eval_path, outputs]
        else:
            command = [sys.executable, str(ROOT / "src" / "run.py"), "evaluate", variant, str(ROOT / "wiki.txt"),
                       "--reading_params_path", params, "--eval_corpus_path", eval_path, "--outputs_path", outputs]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"{path} evaluate failed:\n{done.stderr}")
        accuracy = [line for line in done.stdout.splitlines() if line.startswith("Correct")]
        predictions = Path(outputs).read_text(encoding="utf-8").splitlines()
    return dict(wall_s=wall, result=accuracy[-1] if accuracy else "no gold places", predictions=predictions)


def run_isolated(path, phase, variant, init_params):
    command = [sys.executable, __file__, "--one", phase, path, "--variant", variant]
    command += ["--init_params", init_params] if init_params else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{phase} {path} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved(rounds, paths, measure):
    """{path: [result of each round]}, running every path once per round, in turn, so that a
    slow spell of the machine hits all paths alike."""
    results = {path: [] for path in paths}
    for _ in range(rounds):
        for path in paths:
            results[path].append(measure(path))
    return results


def ratio_summary(values, baselines):
    """'median x (min-max)' of the per-round ratios values[i] / baselines[i]."""
    ratios = [v / b for v, b in zip(values, baselines)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


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
    parser.add_argument("--init_params", default=None,
                        help="train from these weights of --variant (e.g. a pretrained model) instead of fresh ones")
    parser.add_argument("--eval_corpus_path", default=str(ROOT / "birth_dev.tsv"))
    parser.add_argument("--skip_eval", action="store_true")
    parser.add_argument("--skip_training", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every configuration (medians are reported)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_training(*args.one, args.variant, args.init_params)))
        return

    import torch
    print(f"machine: {machine_description()}")
    print(f"command: python bench/bench.py {' '.join(sys.argv[1:])}")
    print(f"rounds: {args.rounds} (paths interleaved; medians over rounds, ratios per round: median (min-max))")
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
            if on_cuda:
                paths.append("compile")
            elif phase == "pretrain":
                paths.append("bucket_subnormals")  # subnormals are flushed on the CPU only
            runs = interleaved(args.rounds, paths, partial(run_isolated, phase=phase, variant=args.variant,
                                                                init_params=args.init_params))
            reference_rates = [r["nonpad_per_s"] for r in runs["reference"]]
            for path in paths:
                median = {key: statistics.median(r[key] for r in runs[path])
                          for key in ("median_s", "nonpad_per_s", "gflops_per_s")}
                rates = [r["nonpad_per_s"] for r in runs[path]]
                share = f" {100 * median['gflops_per_s'] / ceiling:.0f}% |" if ceiling else ""
                print(f"| {phase} | {path} | {runs[path][0]['steps']} | {median['median_s']:.4f} | "
                      f"{median['nonpad_per_s']:,.0f} | {ratio_summary(rates, reference_rates)} | "
                      f"{median['gflops_per_s']:,.0f} |{share} {max(r['peak_mb'] for r in runs[path]):,.0f} |",
                      flush=True)
    if not args.skip_eval:
        if args.params is None:
            sys.exit("evaluate timing needs --params (a finetuned params file of --variant)")
        params, eval_path = os.path.abspath(args.params), os.path.abspath(args.eval_corpus_path)
        runs = interleaved(args.rounds, ["reference", "default"],
                           partial(measure_evaluate, params=params, variant=args.variant, eval_path=eval_path))
        walls = {path: [r["wall_s"] for r in rounds] for path, rounds in runs.items()}
        print(f"\n| evaluate ({args.variant}, {Path(eval_path).name}) | median process wall (s) | result |")
        print("|---|---|---|")
        for path, rounds in runs.items():
            print(f"| {path} | {statistics.median(walls[path]):.2f} | {rounds[-1]['result']} |")
        reference, ours = runs["reference"][-1]["predictions"], runs["default"][-1]["predictions"]
        identical = sum(a == b for a, b in zip(reference, ours))
        print(f"\nspeed-up {ratio_summary(walls['reference'], walls['default'])}; "
              f"predictions identical on {identical}/{len(reference)} lines")

if __name__ == "__main__":
    main()
