"""The training loop (minGPT's Trainer): AdamW, gradient clipping, and a learning rate that warms
up and then decays along a cosine as tokens are seen. It knows nothing about GPT or birthplaces.

Beyond the assignment, all exact or opt-in: pad columns trimmed, optional length bucketing,
mixed precision (GPUs, CPUs with bf16 hardware), fused AdamW, data parallelism under torchrun,
and a resumable training state written atomically at intervals and on SIGINT/SIGTERM.
"""
import contextlib
import math
import os
import random
import signal
from dataclasses import dataclass, field

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from averaging import WeightAverage
import checkpoint
import devices
import distributed
import optimizers
from fileio import UserError
from progress import ProgressLog
from training_state import SignalCatcher, TrainingInterrupted, TrainingState


@dataclass
class TrainerConfig:
    # the assignment's settings and defaults
    max_epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-4
    betas: tuple = (0.9, 0.95)
    grad_norm_clip: float = 1.0
    weight_decay: float = 0.1  # applied to every parameter whose name lacks "bias"
    optimizer: str = "adamw"  # or "muon": Muon for the blocks' weight matrices (src/optimizers.py)
    lr_decay: bool = False
    warmup_tokens: float = 375e6
    final_tokens: float = 260e9
    ckpt_path: str = None  # params saved here after every epoch
    num_workers: int = 0  # DataLoader workers, used on CUDA only (on CPU they only cost start-up)
    writer: object = None  # a TensorBoard SummaryWriter
    # exact speed-ups (the results keep their meaning) and opt-in extras
    trim_padding: bool = True  # skip trailing columns where every target is a pad
    bucket: bool = False  # group each epoch's examples by length (changes which examples share a batch)
    # with bucket: "batch" gives each batch's mean loss one step's weight, so a short view's characters
    # weigh more than a long view's; "character" weights every target alike, as without bucketing
    bucket_weighting: str = "batch"
    # bf16/fp16 autocast on CUDA, bf16 on CPUs with bf16 hardware. Off by default: at the assignment's
    # pretraining lr (6e-3), bf16 pretraining diverged after ~25 epochs in our H100 runs while fp32
    # (TF32 matmuls) kept improving
    mixed_precision: bool = False
    fused_adamw: bool = None  # None: fused where it is faster (CUDA, CPU)
    compile: bool = False  # torch.compile the model for training (full-length batches, no trimming)
    state_path: str = None  # resumable training state; resumed from if it exists
    state_interval: float = 300.0  # seconds between training-state saves (0: after every step)
    state_identity: dict = field(default_factory=dict)  # what else defines the run (data digests, model size)
    progress: bool = None  # tqdm bars; None: only when stderr is a terminal
    max_steps: int = None  # stop after this many steps in all (smoke tests); the schedule is unchanged
    micro_batch_size: int = None  # forward/backward at most this many examples at a time (gradient
    # accumulation): the same update as the whole batch up to float rounding, less memory
    # write the mean of the weights at the ends of the last average_last epochs, average_every apart
    # (src/averaging.py), instead of the final weights; 0: the final weights, as the assignment
    average_last: int = 0
    average_every: int = 1
    label: str = ""  # what else the run changes (a recipe, its data), shown first in the training line


def learning_rate_at(config, tokens):
    """The assignment's schedule: linear warmup over warmup_tokens, then a cosine down to 10%
    of the learning rate at final_tokens (and 10% after it)."""
    if not config.lr_decay:
        return config.learning_rate
    if tokens < config.warmup_tokens:
        multiplier = float(tokens) / float(max(1, config.warmup_tokens))
    else:
        progress = float(tokens - config.warmup_tokens) / float(max(1, config.final_tokens - config.warmup_tokens))
        multiplier = max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return config.learning_rate * multiplier


def example_lengths(y):
    """One past the last non-pad target of each row of y (B, T); 0 for a row without targets."""
    columns = torch.arange(1, y.size(1) + 1, device=y.device)  # (T,)
    return ((y != 0) * columns).amax(dim=1)  # (B,)


def used_length(y):
    """One past the last column of y (B, T) that holds a non-pad target (at least 1)."""
    return max(1, int(example_lengths(y).max()))


def trim_padding(x, y, multiple=1):
    """Drop the trailing columns whose targets are all pads, keeping a multiple of `multiple`.

    Exact: those columns carry no loss, and causal attention lets no position see later ones.
    """
    length = min(y.size(1), -(-used_length(y) // multiple) * multiple)
    return x[:, :length], y[:, :length]


def length_buckets(y, batch_size, rng):
    """The indices of the examples whose targets are the rows of y (N, T), sorted by length and cut
    into batches. The batch sizes keep their order (full batches, then the remainder), so the token
    count and the learning rate at every step are unchanged; `rng` shuffles the order of the full
    batches."""
    lengths = example_lengths(y).clamp(min=1).tolist()  # used_length of each
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    remainder = len(order) % batch_size
    batches = [order[i:i + batch_size] for i in range(remainder, len(order), batch_size)]
    rng.shuffle(batches)
    if remainder:
        batches.append(order[:remainder])
    return batches


def bucketed_batches(dataset, batch_size, rng):
    """One epoch of batches whose examples have similar lengths, so that trimming removes more.

    Every example is drawn in order, as without bucketing (the same random draws), then grouped
    by `length_buckets`.
    """
    examples = [dataset[i] for i in range(len(dataset))]
    for batch in length_buckets(torch.stack([y for _, y in examples]), batch_size, rng):
        yield (torch.stack([examples[i][0] for i in batch]),  # (B, T)
               torch.stack([examples[i][1] for i in batch]))  # (B, T)


def character_weighted(batches, examples):
    """The (x, y) batches of an epoch of `examples` examples, each with its loss divisor: its
    examples times the epoch's mean targets per example. Every target character then weighs alike
    across batches of different lengths, as without bucketing (`--bucket_weighting character`)."""
    targets_per_example = sum(int((y != 0).sum()) for _, y in batches) / examples
    return [(x, y, x.size(0) * targets_per_example) for x, y in batches]


def _ignore_sigint(_worker_id):
    """DataLoader workers leave Ctrl-C to the main process, which saves the training state."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Trainer:
    """Trains `model` on `train_dataset` (items are (x, y) pairs of token ids, pad id 0)."""

    def __init__(self, model, train_dataset, test_dataset, config):
        self.model = model
        self.train_dataset = train_dataset
        self.test_dataset = test_dataset
        self.config = config
        self.device = next(model.parameters()).device
        self.world_size = distributed.world_size()
        if config.batch_size % self.world_size:
            raise UserError(f"batch size {config.batch_size} does not split evenly over {self.world_size} processes")
        if config.bucket and self.world_size > 1:
            raise UserError("length bucketing is not available with several processes")
        self.local_batch_size = config.batch_size // self.world_size
        self.tokens = 0  # target positions seen, pads included: drives the learning rate
        self.step = 0
        self.average = (WeightAverage(config.average_last, config.average_every, config.max_epochs)
                        if config.average_last else None)
        self.amp_dtype = devices.autocast_dtype(self.device, config.mixed_precision)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.optimizer = optimizers.make_optimizer(model, config, self.device)
        self.train_model = self._wrap_model()
        # Trimmed lengths in multiples of 8 where it pays: tensor cores want them, and under CPU bf16 autocast
        # the fewer distinct shapes let glibc reuse freed blocks (bench/RESULTS.md: 0.86x the time, half the
        # memory). Plain fp32 on a CPU trims to the column: multiples of 8 cost it ~5% for ~20% less memory.
        self.trim_multiple = 8 if self.device.type == "cuda" or self.amp_dtype is not None else 1
        self._loader = None
        self.state = TrainingState(config.state_path, config.state_interval, self.fingerprint())
        self.signals = SignalCatcher("saving the training state after this step (send it again to quit at once)")

    def _wrap_model(self):
        model = self.model
        if self.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None  # a CPU model takes none
            model = DistributedDataParallel(model, device_ids=device_ids)
        if self.config.compile:
            # on CUDA, CUDA graphs replay each step's many small kernels in one launch
            model = torch.compile(model, mode="reduce-overhead" if self.device.type == "cuda" else None)
        return model

    # --- data ---------------------------------------------------------------------------

    def _workers(self):
        if self.device.type != "cuda":
            return 0
        return min(self.config.num_workers, max(0, (os.cpu_count() or 1) - 1))

    def _train_loader(self):
        if self._loader is None:
            workers = self._workers()
            sampler = None
            if self.world_size > 1:
                sampler = DistributedSampler(self.train_dataset, num_replicas=self.world_size,
                                             rank=distributed.rank(), shuffle=False)
            self._loader = DataLoader(self.train_dataset, batch_size=self.local_batch_size, shuffle=False,
                                      sampler=sampler, num_workers=workers,
                                      pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                                      worker_init_fn=_ignore_sigint if workers else None)
        return self._loader

    def epoch_batches(self, epoch):
        """The (x, y, divisor) CPU batches of one epoch, in the assignment's order (no shuffling).

        `divisor` is what train_step divides the batch's summed loss by: None (the batch's own
        targets) but for bucketing with character weighting (`character_weighted`)."""
        if self.config.bucket:
            batches = bucketed_batches(self.train_dataset, self.local_batch_size, random.Random(epoch))
            if self.config.bucket_weighting == "character":
                return iter(character_weighted(list(batches), len(self.train_dataset)))
            return ((x, y, None) for x, y in batches)
        loader = self._train_loader()
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        return ((x, y, None) for x, y in loader)

    def batches_per_epoch(self):
        return math.ceil(len(self.train_dataset) / self.world_size / self.local_batch_size)

    # --- one step -----------------------------------------------------------------------

    def trimmed(self, x, y):
        """The batch without its all-pad target columns, if trimming is on. A compiled model keeps
        the full length: every new shape would cost a recompilation."""
        if self.config.trim_padding and not self.config.compile:
            return trim_padding(x, y, self.trim_multiple)
        return x, y

    def micro_batches(self, x, y):
        """The batch in pieces of at most micro_batch_size examples, each trimmed on its own.

        The examples are put in order of length first (a stable sort), so that short ones share a
        piece and trimming removes more of it: finetuning with replayed documents mixes ~50-character
        questions with 128-character documents. Which examples share a piece does not change the
        update (train_step weights every piece by its targets)."""
        size = self.config.micro_batch_size
        if not size or size >= x.size(0):
            return [self.trimmed(x, y)]
        order = torch.argsort(example_lengths(y), stable=True)
        x, y = x[order], y[order]  # (B, T) each
        return [self.trimmed(x[i:i + size], y[i:i + size]) for i in range(0, x.size(0), size)]

    def train_step(self, x, y, divisor=None):
        """Forward, backward, clip, optimizer step on one (CPU) batch; returns the batch's mean loss
        (a 0-d tensor).

        The objective is the mean over the batch's non-pad targets (over all processes under DDP),
        or their summed loss over `divisor` if one is given. A batch cut into micro-batches weights
        each piece's mean by its share of that, so the gradients add up to the whole batch's."""
        pieces = [(x_piece, y_piece, int((y_piece != 0).sum())) for x_piece, y_piece in self.micro_batches(x, y)]
        pieces = [piece for piece in pieces if piece[2] > 0] or pieces[:1]  # an all-pad piece adds nothing
        local = sum(count for _, _, count in pieces)
        counted = max(local, 1)  # a batch without targets divides by one, not zero
        total = counted
        if divisor:  # one process: bucketing is refused under DDP
            total = divisor
        elif self.world_size > 1:
            total = distributed.all_reduce_sum(torch.tensor(float(local), device=self.device))  # no sync
        self.optimizer.zero_grad(set_to_none=True)
        batch_loss = 0.0
        for i, (x_piece, y_piece, count) in enumerate(pieces):
            x_piece = x_piece.to(self.device, non_blocking=True)  # (b, t)
            y_piece = y_piece.to(self.device, non_blocking=True)  # (b, t)
            weight = count * self.world_size / total  # 1.0 for a whole batch; DDP averages over processes
            last = i == len(pieces) - 1
            with contextlib.nullcontext() if last or self.world_size == 1 else self.train_model.no_sync():
                with devices.autocast(self.device, self.amp_dtype):
                    _, loss = self.train_model(x_piece, y_piece)
                objective = loss * weight
                (self.scaler.scale(objective) if self.scaler is not None else objective).backward()
            batch_loss = batch_loss + loss.detach() * (count / counted)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_norm_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return batch_loss.clone()  # a copy survives the next step (CUDA graphs reuse outputs)

    def _set_learning_rate(self):
        lr = learning_rate_at(self.config, self.tokens)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    # --- the loop -----------------------------------------------------------------------

    def train(self):
        """Run max_epochs epochs, resuming from config.state_path if a training state is there."""
        with self.signals.active() if self.config.state_path else contextlib.nullcontext():
            resume = self.state.load(self)
            if resume:
                self._set_learning_rate()
            distributed.print0(self.describe())
            self.model.train()
            self.progress_printed = None  # when the last progress line was printed
            for epoch in range(resume.epoch if resume else 0, self.config.max_epochs):
                if self._out_of_steps():
                    break
                if resume:
                    random.setstate(resume.python_rng)
                epoch_rng = random.getstate()
                batches = self.epoch_batches(epoch)
                first = 0
                if resume:
                    first = TrainingState.replay(batches, resume, self.device)
                    resume = None
                self._run_epoch(epoch, batches, first, epoch_rng)
                if self.test_dataset is not None:
                    distributed.print0(f"epoch {epoch + 1}: test loss {self.test_loss():.5f}")
                if self.average:
                    self.average.after_epoch(self.model, epoch)
                if self.config.ckpt_path and distributed.is_main():
                    checkpoint.save(self.model.state_dict(), self.config.ckpt_path)
            if self.average and self.average.apply(self.model):
                distributed.print0(f"weights: {self.average.describe()}")

    def describe(self):
        """One line saying how training will run, fast paths included."""
        c = self.config
        precision = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[self.amp_dtype]
        note = devices.precision_note(self.device, c.mixed_precision)
        precision += f" ({note})" if note else ""
        trimming = "off" if c.compile or not c.trim_padding else "on"
        trimming += f" (to multiples of {self.trim_multiple})" if trimming == "on" and self.trim_multiple > 1 else ""
        label = f"{c.label}, " if c.label else ""
        micro = c.micro_batch_size and c.micro_batch_size < self.local_batch_size
        return (f"training: {label}{c.max_epochs} epochs x {self.batches_per_epoch()} steps, batch {c.batch_size}"
                f"{f' ({self.world_size} processes)' if self.world_size > 1 else ''}"
                f"{f' in micro-batches of {c.micro_batch_size}' if micro else ''}, {precision}, "
                f"{optimizers.describe(self.optimizer)}, "
                f"pad trimming {trimming}, bucketing {self._bucketing()}, "
                f"compile {'on' if c.compile else 'off'}, "
                f"{self._workers()} DataLoader workers")

    def _bucketing(self):
        if not self.config.bucket:
            return "off"
        return "on" if self.config.bucket_weighting == "batch" else "on (every character weighted alike)"

    def _run_epoch(self, epoch, batches, first, epoch_rng):
        log = ProgressLog(self, epoch, first, self.progress_printed)
        for it, (x, y, divisor) in enumerate(batches, start=first):
            tokens = y.numel() * self.world_size  # every target position, pads included, as in the assignment
            nonpad = int((y != 0).sum())
            loss = self.train_step(x, y, divisor)
            self.tokens += tokens
            lr = self._set_learning_rate()
            self.step += 1
            log.record(it, loss, lr, nonpad)
            stop = distributed.any_process(self.signals.signum is not None, self.device)
            if stop or self.state.due():
                self.state.save(self, epoch, it + 1, epoch_rng, must_succeed=stop)
            if stop:
                log.close()
                signum = self.signals.signum or signal.SIGTERM
                raise TrainingInterrupted(signum, f"interrupted by {signal.Signals(signum).name}: training state "
                                                  f"saved to {self.config.state_path}; run the same command "
                                                  f"again to resume")
            if self._out_of_steps():
                break
        log.close()
        self.progress_printed = log.printed

    def _out_of_steps(self):
        return self.config.max_steps is not None and self.step >= self.config.max_steps

    @torch.no_grad()
    def test_loss(self):
        """Mean loss over test_dataset, in eval mode."""
        self.model.eval()
        loader = DataLoader(self.test_dataset, batch_size=self.local_batch_size, shuffle=False)
        losses = []
        for x, y in loader:
            with devices.autocast(self.device, self.amp_dtype):
                _, loss = self.model(x.to(self.device), y.to(self.device))
            losses.append(loss.float())
        self.model.train()
        return torch.stack(losses).mean().item()

    # --- resumable state (src/training_state.py) ---------------------------------------

    def fingerprint(self):
        """What defines this run: a saved state resumes only a run with the same fingerprint."""
        c = self.config
        return {**c.state_identity, "max_epochs": c.max_epochs, "max_steps": c.max_steps,
                "batch_size": c.batch_size, "learning_rate": c.learning_rate, "lr_decay": c.lr_decay,
                "weight_decay": c.weight_decay, "optimizer": c.optimizer,
                "warmup_tokens": float(c.warmup_tokens), "final_tokens": float(c.final_tokens),
                "bucket": c.bucket, "bucket_weighting": c.bucket_weighting,
                "average_last": c.average_last, "average_every": c.average_every,
                "examples": len(self.train_dataset), "world_size": self.world_size}

    def discard_state(self):
        """Remove the training state once the final params are safely written."""
        self.state.discard()
