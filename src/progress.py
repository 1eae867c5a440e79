"""Training progress: a tqdm bar on a terminal, a line every 30 s elsewhere, TensorBoard scalars."""
import sys
import time

import torch
from tqdm import tqdm

import distributed


class ProgressLog:
    """Progress of one epoch: a tqdm bar on a terminal, a line every 30 s otherwise, and
    TensorBoard scalars for every step (read back from the GPU in batches, not every step)."""

    def __init__(self, trainer, epoch, first, printed=None):
        """`printed`: when the previous epoch's log last printed a line (None: nothing yet), so that
        lines stay 30 s apart across epochs and epochs shorter than that still show progress."""
        self.trainer, self.epoch = trainer, epoch
        self.main = distributed.is_main()
        wanted = trainer.config.progress
        self.bar_on = self.main and (sys.stderr.isatty() if wanted is None else wanted)
        self.bar = tqdm(total=trainer.batches_per_epoch(), initial=first, disable=not self.bar_on,
                        dynamic_ncols=True)
        self.pending = []  # (step, iteration, loss tensor, lr)
        self.nonpad = 0
        self.flushed = time.monotonic()
        self.printed = self.flushed if printed is None else printed
        self.flush_every = 0.0 if trainer.device.type == "cpu" else 1.0
        self.last_line = None

    def record(self, it, loss, lr, nonpad):
        if not self.main:
            return
        self.pending.append((self.trainer.step, it, loss, lr))
        self.nonpad += nonpad
        self.bar.update(1)
        if time.monotonic() - self.flushed >= self.flush_every:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        now = time.monotonic()
        losses = torch.stack([p[2] for p in self.pending]).float().tolist()  # one device sync
        tokens_per_sec = self.nonpad / max(now - self.flushed, 1e-9)
        writer = self.trainer.config.writer
        for (step, _, _, lr), loss in zip(self.pending, losses):
            if writer is not None:
                writer.add_scalar("train/loss", loss, step)
                writer.add_scalar("train/lr", lr, step)
        if writer is not None:
            writer.add_scalar("train/tokens_per_sec", tokens_per_sec, self.pending[-1][0])
        _, it, _, lr = self.pending[-1]
        line = f"epoch {self.epoch + 1} iter {it}: train loss {losses[-1]:.5f}. lr {lr:e}"
        self.bar.set_description(line, refresh=False)
        self.last_line = f"{line}. {tokens_per_sec:,.0f} non-pad tokens/s"
        if not self.bar_on and now - self.printed >= 30.0:
            print(self.last_line, flush=True)
            self.printed = now
        self.pending, self.nonpad, self.flushed = [], 0, now

    def close(self):
        if self.main:
            self.flush()
            self.bar.close()
            if not self.bar_on and self.last_line and self.epoch + 1 == self.trainer.config.max_epochs:
                print(self.last_line, flush=True)
