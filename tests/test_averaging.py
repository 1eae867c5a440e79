"""--average_last: the written weights are the mean of those at the ends of the last epochs."""
import random

import pytest
import torch

import run
from averaging import WeightAverage
from conftest import fails, small_model, stop_mid_run
from dataset import CharCorruptionDataset
from model import GPT, GPTConfig
from trainer import Trainer, TrainerConfig


def test_the_epochs_averaged_count_back_from_the_last():
    assert WeightAverage(3, 2, 10).epochs == [5, 7, 9]
    assert WeightAverage(1, 5, 10).epochs == [9]
    assert WeightAverage(4, 1, 4).epochs == [0, 1, 2, 3]


def test_a_run_cut_short_keeps_its_final_weights():
    model = torch.nn.Linear(2, 2)
    average = WeightAverage(2, 1, 3)
    average.after_epoch(model, 1)  # epoch 2 of 3 ended, then --max_steps stopped the run
    with torch.no_grad():
        model.weight.add_(1.0)
    final = model.weight.detach().clone()
    assert not average.apply(model)
    assert torch.equal(model.weight, final)


def make_trainer(corpus, state_path=None, **settings):
    random.seed(0)
    torch.manual_seed(0)
    config = TrainerConfig(max_epochs=4, batch_size=4, learning_rate=6e-3, progress=False,
                           state_path=state_path, **settings)
    return Trainer(small_model(corpus.vocab_size, dropout=0.1), corpus, None, config)


def params_at_epoch_ends(trainer):
    """Train, and return the parameters at the end of every epoch."""
    ends, run_epoch = [], trainer._run_epoch

    def recording(*args):
        run_epoch(*args)
        ends.append({name: p.detach().clone() for name, p in trainer.model.named_parameters()})
    trainer._run_epoch = recording
    trainer.train()
    return ends


def test_the_written_weights_are_the_mean_of_the_chosen_epochs(tiny_corpus, capsys):
    plain = make_trainer(tiny_corpus)
    plain_ends = params_at_epoch_ends(plain)
    averaged = make_trainer(tiny_corpus, average_last=2, average_every=2)
    ends = params_at_epoch_ends(averaged)
    for a, b in zip(plain_ends, ends):
        assert all(torch.equal(a[name], b[name]) for name in a), "averaging does not change the training"
    for name, p in averaged.model.named_parameters():
        torch.testing.assert_close(p.detach(), (ends[1][name] + ends[3][name]) / 2, rtol=0, atol=1e-7)
    assert not all(torch.equal(p, ends[3][name]) for name, p in averaged.model.named_parameters())
    buffers = dict(plain.model.named_buffers())
    assert all(torch.equal(buffer, buffers[name]) for name, buffer in averaged.model.named_buffers())
    assert "weights: the mean of the weights at the ends of epochs 2, 4" in capsys.readouterr().out


def test_an_averaging_run_stopped_mid_epoch_resumes_bit_identically(tiny_corpus, tmp_path):
    """The snapshots taken before the stop travel in the training state."""
    whole = make_trainer(tiny_corpus, average_last=3)
    whole.train()
    state_path = tmp_path / "p.params.state"
    stopped = make_trainer(tiny_corpus, state_path=str(state_path), average_last=3)
    stop_mid_run(stopped, after_steps=2 * stopped.batches_per_epoch() + 3)  # in epoch 3, after its snapshot of 2
    assert list(torch.load(state_path, weights_only=True)["averaged"]) == [1]
    resumed = make_trainer(tiny_corpus, state_path=str(state_path), average_last=3)
    resumed.train()
    assert list(resumed.average.snapshots) == [1, 2, 3]
    expected = whole.model.state_dict()
    assert all(torch.equal(p, expected[name]) for name, p in resumed.model.state_dict().items())


def pretrain(world_files, *flags):
    return ["pretrain", "rope", str(world_files["wiki"]), "--writing_params_path", "p.params", *flags]


def test_the_flags_reach_the_trainer_and_the_params_load_in_the_assignment_model(world_files, tmp_path,
                                                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run.main(pretrain(world_files, "--batch_size", "16", "--max_epochs", "3", "--average_last", "2")) == 0
    out = capsys.readouterr().out
    assert "training: last 2 epoch ends averaged, 3 epochs x" in out
    assert "weights: the mean of the weights at the ends of epochs 2, 3" in out
    vocab = CharCorruptionDataset(world_files["wiki"].read_text(encoding="utf-8"), 128).vocab_size
    GPT(GPTConfig(vocab, 128, rope=True)).load_state_dict(torch.load("p.params", weights_only=True))
    assert run.main(pretrain(world_files, "--max_epochs", "10", "--average_last", "4", "--average_every", "3",
                             "--max_steps", "1")) == 0, "reaching back to the first epoch exactly"
    assert "training: last 4 epoch ends 3 apart averaged, 10 epochs x" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--average_last", "0"], "--average_last must be at least 1"),
    (["--average_last", "2", "--average_every", "0"], "--average_every must be at least 1"),
    (["--average_every", "2"], "--average_every spaces the weights that --average_last averages; add --average_last"),
    (["--max_epochs", "9", "--average_last", "4", "--average_every", "3"],
     "--average_last 4 every 3 epochs reaches back 10 epochs; this pretraining has 9"),
    (["--average_last", "651"], "--average_last 651 every 1 epochs reaches back 651 epochs; this pretraining has 650"),
])
def test_averaging_flags_that_make_no_sense(world_files, tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    fails(capsys, *pretrain(world_files, *flags), match=message)
    assert not (tmp_path / "p.params").exists() and not (tmp_path / "expt").exists(), "checked before any work"


def test_averaging_is_for_pretraining(world_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fails(capsys, "finetune", "rope", str(world_files["wiki"]), "--writing_params_path", "f.params",
          "--finetune_corpus_path", str(world_files["train"]), "--average_last", "2",
          match="--average_last averages a pretraining's weights; it does not apply to finetune")
