"""Loss over the first epochs of the real pretraining schedule (lr 6e-3, decay set for 650
epochs), under one precision/compile setting: how bf16 autocast was found to diverge.

    python bench/loss_probe.py EPOCHS eager-fp32|eager-bf16|compile|compile-default   # on CUDA
"""
import functools
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
import devices  # noqa: E402
from dataset import CharCorruptionDataset  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from trainer import Trainer, TrainerConfig  # noqa: E402


class EpochMeans:
    """A stand-in TensorBoard writer that prints the mean loss of every 5 epochs."""

    def __init__(self, label, steps_per_epoch):
        self.label, self.steps_per_epoch, self.losses, self.start = label, steps_per_epoch, [], time.time()

    def add_scalar(self, tag, value, step=None):
        if tag != "train/loss":
            return
        self.losses.append(value)
        if step % (5 * self.steps_per_epoch) == 0:
            print(f"{self.label} epoch {step // self.steps_per_epoch}: mean loss "
                  f"{statistics.mean(self.losses[-5 * self.steps_per_epoch:]):.4f} ({time.time() - self.start:.0f} s)",
                  flush=True)


def main():
    epochs, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "compile-default":
        torch.compile = functools.partial(torch.compile, mode=None)
    random.seed(0)
    torch.manual_seed(0)
    device = devices.choose_device()
    devices.prepare(device)
    corpus = CharCorruptionDataset((ROOT / "wiki.txt").read_text(encoding="utf-8"), 128)
    model = GPT(GPTConfig(corpus.vocab_size, 128)).to(device)
    steps_per_epoch = -(-len(corpus) // 128)
    config = TrainerConfig(max_epochs=epochs, batch_size=128, learning_rate=6e-3, lr_decay=True,
                           warmup_tokens=512 * 20, final_tokens=650 * len(corpus) * 128, num_workers=4,
                           mixed_precision=mode != "eager-fp32", compile=mode.startswith("compile"),
                           writer=EpochMeans(mode, steps_per_epoch), progress=False)
    Trainer(model, corpus, None, config).train()


if __name__ == "__main__":
    main()
