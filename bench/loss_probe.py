"""Loss trajectory of the first epochs of the real pretraining schedule under one configuration.

    python bench/loss_probe.py EPOCHS eager-fp32|eager-bf16|compile|compile-default
"""
import functools
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from dataset import CharCorruptionDataset  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from trainer import Trainer, TrainerConfig  # noqa: E402

epochs, mode = int(sys.argv[1]), sys.argv[2]
if mode == "compile-default":
    torch.compile = functools.partial(torch.compile, mode=None)
random.seed(0)
torch.manual_seed(0)
torch.backends.cuda.matmul.allow_tf32 = True
corpus = CharCorruptionDataset((ROOT / "wiki.txt").read_text(encoding="utf-8"), 128)
model = GPT(GPTConfig(corpus.vocab_size, 128)).cuda()
config = TrainerConfig(max_epochs=1, batch_size=128, learning_rate=6e-3, lr_decay=True, warmup_tokens=512 * 20,
                       final_tokens=650 * len(corpus) * 128, num_workers=4,
                       mixed_precision=mode != "eager-fp32", compile=mode.startswith("compile"), progress=False)
trainer = Trainer(model, corpus, None, config)
start = time.time()
losses = []
for epoch in range(epochs):
    for x, y in trainer._epoch_batches(epoch):
        losses.append(trainer.train_step(*trainer.trimmed(x, y)))
        trainer.tokens += y.numel()
        trainer._set_learning_rate()
    if (epoch + 1) % 5 == 0:
        recent = torch.stack(losses[-23 * 5:]).mean().item()
        print(f"{mode} epoch {epoch + 1}: mean loss {recent:.4f} ({time.time() - start:.0f} s)", flush=True)
