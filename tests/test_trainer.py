"""The training loop: the assignment's lr schedule and decay groups, and exact trimming/bucketing."""
import itertools
import math
import random
import types

import pytest
import torch

import progress
from conftest import small_model, tiny_world
from dataset import NameDataset
from trainer import Trainer, TrainerConfig, bucketed_batches, learning_rate_at, trim_padding, used_length


def schedule(**kwargs):
    return TrainerConfig(learning_rate=6e-3, lr_decay=True, warmup_tokens=10_240, final_tokens=1_000_000, **kwargs)


def test_trainer_config_defaults():
    c = TrainerConfig()
    assert (c.max_epochs, c.batch_size, c.learning_rate, c.betas, c.grad_norm_clip, c.weight_decay) == \
        (10, 64, 3e-4, (0.9, 0.95), 1.0, 0.1)
    assert (c.lr_decay, c.warmup_tokens, c.final_tokens, c.ckpt_path, c.num_workers, c.writer) == \
        (False, 375e6, 260e9, None, 0, None)


def test_learning_rate_schedule():
    c = schedule()
    assert learning_rate_at(c, 0) == 0.0
    assert learning_rate_at(c, 5_120) == pytest.approx(3e-3)
    assert learning_rate_at(c, 10_240) == pytest.approx(6e-3)
    middle = (10_240 + 1_000_000) / 2
    assert learning_rate_at(c, middle) == pytest.approx(6e-3 * 0.5)
    assert learning_rate_at(c, 1_000_000) == pytest.approx(6e-4)
    assert learning_rate_at(c, 5_000_000) == pytest.approx(6e-4)
    assert learning_rate_at(TrainerConfig(learning_rate=1e-3), 10**9) == 1e-3


def test_decay_groups_exclude_only_biases(tiny_corpus):
    model = small_model(tiny_corpus.vocab_size)
    trainer = Trainer(model, tiny_corpus, None, TrainerConfig())
    decayed, plain = trainer.optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all("bias" in names[id(p)] for p in plain["params"])
    decayed_names = {names[id(p)] for p in decayed["params"]}
    assert {"pos_emb", "tok_emb.weight", "ln_f.weight", "blocks.0.ln1.weight"} <= decayed_names


def test_trim_padding_keeps_used_columns():
    y = torch.tensor([[0, 5, 6, 0, 0, 0], [0, 0, 7, 8, 0, 0]])
    x = torch.arange(12).view(2, 6)
    tx, ty = trim_padding(x, y)
    assert used_length(y) == 4 and torch.equal(ty, y[:, :4]) and torch.equal(tx, x[:, :4])
    assert trim_padding(x, y, multiple=8)[0].shape == (2, 6), "never longer than the batch"
    assert trim_padding(x, torch.zeros_like(y))[0].shape == (2, 1)


@pytest.mark.parametrize("rope", [False, True])
def test_trimming_gives_the_same_gradients(tiny_corpus, rope):
    documents, people = tiny_world()
    names = NameDataset(tiny_corpus, "".join(f"Where was {n} born?\t{p}\n" for n, p in people))
    x, y = torch.stack([names[i][0] for i in range(8)]), torch.stack([names[i][1] for i in range(8)])
    assert used_length(y) < y.size(1)
    model = small_model(tiny_corpus.vocab_size, rope=rope).train()  # dropout 0: deterministic
    gradients = []
    for batch in [(x, y), trim_padding(x, y)]:
        model.zero_grad()
        _, loss = model(*batch)
        loss.backward()
        gradients.append([p.grad.clone() for p in model.parameters()])
    for full, trimmed in zip(*gradients):
        torch.testing.assert_close(trimmed, full, rtol=1e-5, atol=1e-7)


def names_dataset(corpus, copies=1):
    _, people = tiny_world()
    return NameDataset(corpus, "".join(f"Where was {n} born?\t{p}\n" for n, p in people) * copies)


def train_and_record(corpus, dataset, losses=None, steps=None, **options):
    """Two epochs of batch 16 from the same draws; returns the model, the trainer and each step's
    learning rate, and appends each step's loss to `losses` and (y, divisor) to `steps` if given."""
    random.seed(0)
    torch.manual_seed(3)
    model = small_model(corpus.vocab_size)
    trainer = Trainer(model, dataset, None, schedule(max_epochs=2, batch_size=16, progress=False, **options))
    learning_rates = []
    train_step = trainer.train_step

    def step(x, y, divisor=None):
        learning_rates.append(trainer.optimizer.param_groups[0]["lr"])
        loss = train_step(x, y, divisor)
        if losses is not None:
            losses.append(loss.item())
        if steps is not None:
            steps.append((y, divisor))
        return loss
    trainer.train_step = step
    trainer.train()
    return model, trainer, learning_rates


def test_progress_lines_keep_coming_when_epochs_are_short(tiny_corpus, monkeypatch, capsys):
    clock = itertools.count(step=4)  # each reading of the progress log's clock: 4 s later
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    model = small_model(tiny_corpus.vocab_size)
    dataset = names_dataset(tiny_corpus)  # 3 steps an epoch: each epoch about 28 s of this clock
    Trainer(model, dataset, None, schedule(max_epochs=4, batch_size=16, progress=False)).train()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len([line for line in lines if not line.startswith("epoch 4 ")]) >= 2, \
        "a line every 30 s, whatever the epochs' length: " + repr(lines)


def test_lr_and_token_count_match_the_assignment(tiny_corpus):
    dataset = names_dataset(tiny_corpus)  # 48 examples: 3 batches of 16 per epoch
    _, trainer, lrs = train_and_record(tiny_corpus, dataset)
    T = tiny_corpus.block_size - 1
    assert trainer.tokens == 2 * 48 * T and trainer.step == 6
    expected = [6e-3] + [learning_rate_at(trainer.config, 16 * T * k) for k in range(1, 6)]
    assert lrs == pytest.approx(expected), "step 1 runs at the base lr, then the schedule by untrimmed tokens"


def test_trimming_changes_nothing_but_speed(tiny_corpus):
    dataset = names_dataset(tiny_corpus)
    trimmed, t1, lrs1 = train_and_record(tiny_corpus, dataset)
    full, t2, lrs2 = train_and_record(tiny_corpus, dataset, trim_padding=False)
    assert lrs1 == lrs2 and t1.tokens == t2.tokens
    for a, b in zip(trimmed.parameters(), full.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # Adam magnifies rounding of tiny gradients


def test_micro_batches_give_the_whole_batch_update(tiny_corpus):
    """Pieces of 5, 5, 5 and 1 examples with different numbers of targets: each piece's mean is
    weighted by its targets, so the losses and the trained params are the whole batch's."""
    whole_losses, piece_losses = [], []
    whole, whole_trainer, _ = train_and_record(tiny_corpus, tiny_corpus, losses=whole_losses)
    pieces, trainer, _ = train_and_record(tiny_corpus, tiny_corpus, losses=piece_losses, micro_batch_size=5)
    assert trainer.tokens == whole_trainer.tokens and len(piece_losses) == len(whole_losses) == 2 * 3
    assert piece_losses == pytest.approx(whole_losses, rel=1e-5)
    for a, b in zip(pieces.parameters(), whole.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert "micro-batches of 5" in trainer.describe()


def test_micro_batches_are_weighted_by_their_targets(tiny_corpus):
    random.seed(0)
    x, y = torch.stack([tiny_corpus[i][0] for i in range(6)]), torch.stack([tiny_corpus[i][1] for i in range(6)])
    y[:3, 3:] = 0  # the first piece holds far fewer targets than the second
    torch.manual_seed(3)
    model = small_model(tiny_corpus.vocab_size)
    trainer = Trainer(model, tiny_corpus, None, schedule(batch_size=6, progress=False, micro_batch_size=3))
    _, whole = model(x, y)
    assert trainer.train_step(x, y).item() == pytest.approx(whole.item(), rel=1e-5)
    (_, _, first), (_, _, second) = [(a, b, (b != 0).sum()) for a, b in trainer.micro_batches(x, y)]
    assert first < second / 2, "an unweighted mean of the two pieces' losses would differ"


def test_micro_batches_group_examples_by_length(tiny_corpus):
    """Long and short examples alternate in the batch; each piece holds examples of one length, so
    trimming computes far fewer cells, and the pieces hold every example once, unchanged."""
    random.seed(1)
    x = torch.stack([tiny_corpus[i][0] for i in range(8)])  # (8, T)
    y = torch.stack([tiny_corpus[i][1] for i in range(8)])  # (8, T)
    x[:, 0] = torch.arange(8)  # an id per example
    y[0::2] = 0
    y[0::2, :4] = 5  # even rows: 4 targets; odd rows: the corpus's own (longer) lengths
    trainer = Trainer(small_model(tiny_corpus.vocab_size), tiny_corpus, None,
                      schedule(batch_size=8, progress=False, micro_batch_size=4))
    pieces = trainer.micro_batches(x, y)
    assert [tuple(yp.shape) for _, yp in pieces] == [(4, 4), (4, used_length(y))]
    assert sorted(int(i) for xp, _ in pieces for i in xp[:, 0]) == list(range(8))
    for xp, yp in pieces:
        ids = xp[:, 0]
        assert torch.equal(xp, x[ids, :xp.size(1)]) and torch.equal(yp, y[ids, :yp.size(1)])
        assert not y[ids, yp.size(1):].any(), "trimming dropped only pads"


def test_bucketed_batches_keep_sizes_and_draws(tiny_corpus):
    random.seed(9)
    plain = [tiny_corpus[i] for i in range(len(tiny_corpus))]
    random.seed(9)
    batches = list(bucketed_batches(tiny_corpus, 10, random.Random(0)))
    assert [len(x) for x, _ in batches] == [10, 10, 10, 10, 8]
    drawn = sorted(tuple(x.tolist()) for batch, _ in batches for x in batch)
    assert drawn == sorted(tuple(x.tolist()) for x, _ in plain), "the same examples, regrouped"
    lengths = [used_length(y) for _, y in batches[:-1]]
    assert sum(lengths) < 4 * tiny_corpus.block_size


def test_bucketing_trains_with_the_same_schedule(tiny_corpus):
    _, plain, lrs_plain = train_and_record(tiny_corpus, tiny_corpus)
    _, bucketed, lrs_bucketed = train_and_record(tiny_corpus, tiny_corpus, bucket=True)
    assert lrs_plain == lrs_bucketed and plain.tokens == bucketed.tokens


def test_character_weighting_weighs_every_target_alike(tiny_corpus):
    """Bucketed batches of short examples hold few targets; with batch weighting each batch's mean
    still gets one step's weight. With character weighting every step divides its summed loss by
    its examples times the epoch's mean targets per example: one target weighs the same in every
    full batch, as it would (in expectation) without bucketing."""
    steps, batch_weighted = [], []
    _, trainer, _ = train_and_record(tiny_corpus, tiny_corpus, steps=steps, bucket=True,
                                     bucket_weighting="character")
    train_and_record(tiny_corpus, tiny_corpus, steps=batch_weighted, bucket=True)
    assert all(divisor is None for _, divisor in batch_weighted)
    assert [torch.equal(a, b) for (a, _), (b, _) in zip(steps, batch_weighted)] == [True] * len(steps), \
        "the same batches: only their weights differ"
    per_epoch = trainer.batches_per_epoch()
    for epoch in range(2):
        epoch_steps = steps[epoch * per_epoch:(epoch + 1) * per_epoch]
        mean_targets = sum(int((y != 0).sum()) for y, _ in epoch_steps) / len(tiny_corpus)
        assert [divisor for _, divisor in epoch_steps] == pytest.approx([y.size(0) * mean_targets
                                                                         for y, _ in epoch_steps])
    shares = [int((y != 0).sum()) / divisor for y, divisor in steps[:per_epoch - 1]]  # full batches
    assert max(shares) > 1.5 * min(shares), "long batches now weigh more than short ones"
    assert "bucketing on (every character weighted alike)" in trainer.describe()


def test_a_divisor_scales_the_step_and_not_the_reported_loss(tiny_corpus):
    random.seed(0)
    x, y = torch.stack([tiny_corpus[i][0] for i in range(6)]), torch.stack([tiny_corpus[i][1] for i in range(6)])
    targets = int((y != 0).sum())
    gradients, losses = [], []
    for divisor in (None, 2 * targets):
        torch.manual_seed(3)
        model = small_model(tiny_corpus.vocab_size)
        config = schedule(batch_size=6, progress=False, micro_batch_size=4, grad_norm_clip=1e9)
        losses.append(Trainer(model, tiny_corpus, None, config).train_step(x, y, divisor).item())
        gradients.append([p.grad.clone() for p in model.parameters()])
    assert losses[1] == pytest.approx(losses[0], rel=1e-6), "the logged loss is the batch's mean either way"
    for whole, halved in zip(*gradients):
        torch.testing.assert_close(halved, whole / 2, rtol=1e-5, atol=1e-8)


def test_test_dataset_loss_and_ckpt_path(tiny_corpus, tmp_path, capsys):
    dataset = names_dataset(tiny_corpus)
    model = small_model(tiny_corpus.vocab_size)
    path = tmp_path / "epoch.params"
    Trainer(model, dataset, dataset, schedule(max_epochs=1, batch_size=16, ckpt_path=str(path), progress=False)).train()
    assert "epoch 1: test loss" in capsys.readouterr().out
    assert set(torch.load(path, weights_only=True)) == set(model.state_dict())


def test_tensorboard_scalars(tiny_corpus):
    class Recorder:
        def __init__(self):
            self.scalars = []

        def add_scalar(self, tag, value, step=None):
            self.scalars.append((tag, value, step))

    writer = Recorder()
    Trainer(small_model(tiny_corpus.vocab_size), names_dataset(tiny_corpus), None,
            schedule(max_epochs=1, batch_size=16, writer=writer, progress=False)).train()
    losses = [(v, s) for tag, v, s in writer.scalars if tag == "train/loss"]
    assert [s for _, s in losses] == [1, 2, 3] and all(math.isfinite(v) for v, _ in losses)
    assert len([1 for tag, _, _ in writer.scalars if tag == "train/lr"]) == 3
    assert any(tag == "train/tokens_per_sec" for tag, _, _ in writer.scalars)


def test_max_steps_stops_early_with_the_full_schedule(tiny_corpus):
    _, trainer, lrs = train_and_record(tiny_corpus, names_dataset(tiny_corpus), max_steps=4)
    _, full, full_lrs = train_and_record(tiny_corpus, names_dataset(tiny_corpus))
    assert trainer.step == 4 and lrs == full_lrs[:4]
