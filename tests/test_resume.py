"""Runs survive interruption: resumed runs end bit-identical to uninterrupted ones; writes are atomic."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, small_model, stop_mid_run, tiny_world
from dataset import CharCorruptionDataset
from fileio import UserError, atomic_write, atomic_write_text
from trainer import Trainer, TrainerConfig

pytestmark = pytest.mark.slow


def pretrain(world_files, params, *extra):
    return [sys.executable, str(ROOT / "src" / "run.py"), "pretrain", "vanilla", str(world_files["wiki"]),
            "--writing_params_path", str(params), "--batch_size", "4", "--max_epochs", "3", "--seed", "7",
            "--state_interval", "0", *extra]


def run_to_end(command, cwd):
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def interrupt_mid_run(command, cwd, state, signum, saves=15):
    """Start a run, let it save its state `saves` times (mid-epoch of epoch 2), then signal it."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, deadline = set(), time.monotonic() + 120
    while len(seen) < saves and time.monotonic() < deadline and process.poll() is None:
        if state.exists():
            seen.add(state.stat().st_mtime_ns)
        time.sleep(0.005)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Params of the run that nothing stopped (computed once)."""
    from conftest import tiny_world
    tmp = tmp_path_factory.mktemp("uninterrupted")
    documents, _ = tiny_world()
    (tmp / "wiki.txt").write_text("\n".join(documents), encoding="utf-8")
    run_to_end(pretrain({"wiki": tmp / "wiki.txt"}, tmp / "p.params"), tmp)
    return torch.load(tmp / "p.params", weights_only=True)


def assert_identical(a, b):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs from the uninterrupted one"


@pytest.mark.parametrize("signum, expected_code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130),
                                                   (signal.SIGTERM, 143)])
def test_interrupted_run_resumes_bit_identically(world_files, tmp_path, uninterrupted, signum, expected_code):
    params, state = tmp_path / "p.params", tmp_path / "p.params.state"
    code, err = interrupt_mid_run(pretrain(world_files, params), tmp_path, state, signum)
    assert code == expected_code, err
    if signum != signal.SIGKILL:
        assert f"interrupted by {signal.Signals(signum).name}: training state saved to" in err
        assert "Traceback" not in err
    assert state.exists() and not params.exists(), "stopped mid-run, with its state saved"
    saved = torch.load(state, weights_only=True)
    assert 0 < saved["step"] < 36
    done = run_to_end(pretrain(world_files, params), tmp_path)
    assert f"Resuming from {state}" in done.stdout
    assert not state.exists()
    assert_identical(torch.load(params, weights_only=True), uninterrupted)


def test_state_from_other_settings_is_not_resumed(world_files, tmp_path):
    params, state = tmp_path / "p.params", tmp_path / "p.params.state"
    interrupt_mid_run(pretrain(world_files, params), tmp_path, state, signal.SIGKILL, saves=3)
    assert state.exists()
    done = subprocess.run(pretrain(world_files, params, "--pretrain_lr", "1e-3"), capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("belongs to a run with other settings (learning_rate 0.006 vs 0.001); "
                                        "restore them to resume, or add --fresh to start afresh")
    done = run_to_end(pretrain(world_files, params, "--pretrain_lr", "1e-3", "--fresh"), tmp_path)
    assert "Resuming" not in done.stdout and params.exists() and not state.exists()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "result.txt"
    atomic_write_text(path, "good\n")

    def broken(f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="cannot write '.*result.txt': No space left on device"):
        atomic_write(path, broken)
    assert path.read_text() == "good\n"
    assert os.listdir(tmp_path) == ["result.txt"], "no temporary file left behind"


@pytest.mark.parametrize("setting, recorded_later, other", [("weight_decay", 0.1, 0.0),
                                                            ("bucket_weighting", "batch", "character"),
                                                            ("average_last", 0, 2), ("average_every", 1, 2),
                                                            ("optimizer", "adamw", "muon")])
def test_a_state_saved_before_a_setting_was_recorded_resumes_that_settings_old_value_only(
        tmp_path, setting, recorded_later, other):
    corpus = CharCorruptionDataset("\n".join(tiny_world()[0]), 32)

    def trainer(value):
        config = TrainerConfig(max_epochs=1, batch_size=4, bucket=True, state_path=str(tmp_path / "p.params.state"),
                               **{setting: value})
        return Trainer(small_model(corpus.vocab_size), corpus, None, config)
    old = trainer(recorded_later)
    del old.state.fingerprint[setting]  # as the code before it wrote states
    old.state.save(old, 0, 2, random.getstate())
    new = trainer(recorded_later)
    assert new.state.load(new).batches_done == 2
    changed = trainer(other)
    with pytest.raises(UserError, match=rf"\({setting} {recorded_later} vs {other}\)"):
        changed.state.load(changed)


def test_a_character_weighted_bucketed_run_resumes_mid_epoch_bit_identically(tmp_path):
    """The step divisors come from the whole epoch's draws: a run stopped mid-epoch must compute
    them again from the replayed epoch, not from the batches left."""
    corpus = CharCorruptionDataset("\n".join(tiny_world()[0]), 32)
    state_path = tmp_path / "p.params.state"

    def trainer(saving=True):
        random.seed(0)
        torch.manual_seed(0)
        config = TrainerConfig(max_epochs=2, batch_size=4, bucket=True, bucket_weighting="character",
                               learning_rate=6e-3, state_path=str(state_path) if saving else None, progress=False)
        return Trainer(small_model(corpus.vocab_size, dropout=0.1), corpus, None, config)
    whole = trainer(saving=False)
    whole.train()
    stopped = trainer()
    divisors = stop_mid_run(stopped, after_steps=stopped.batches_per_epoch() + 2)  # two steps into epoch 2
    assert state_path.exists() and None not in divisors, "character weighting gave every step its divisor"
    resumed = trainer()
    resumed.train()
    assert_identical(resumed.model.state_dict(), whole.model.state_dict())
