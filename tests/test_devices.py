"""Device preparation: subnormal floats flushed to zero on every CPU thread, before any work;
--amp's precision on the CPU (bf16 only where the CPU has bf16 hardware)."""
import itertools
import random
import subprocess
import sys

import pytest
import torch

import devices
from conftest import ROOT, small_model
from trainer import Trainer, TrainerConfig

# Run after the code under test, in the same fresh process. Each of two threads handles half of a
# tensor, so a worker thread that keeps subnormals shows in the second half: its products of
# normal floats stay subnormal (no flush to zero), and subnormal inputs made from their bits
# (no float conversion on the main thread can flush them) still compare greater than zero.
CHECK_BOTH_THREADS = """
import torch
torch.set_num_threads(2)
n = 1 << 21
products = (torch.full((n,), 1e-30) * 1e-9).view(2, -1)  # 1e-39: subnormal
subnormals = torch.ones(n, dtype=torch.int32).view(torch.float32)  # 1.4e-45, the smallest subnormal
read_as_zero = (subnormals > 0).logical_not().view(2, -1)
print("flushed halves:", [bool((half == 0).all()) for half in products], [bool(half.all()) for half in read_as_zero])
"""


def run_python(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def flushing_supported():
    supported = torch.set_flush_denormal(True)
    torch.set_flush_denormal(False)
    return supported


needs_flushing = pytest.mark.skipif(not flushing_supported(), reason="this CPU cannot flush subnormals")


@needs_flushing
@pytest.mark.parametrize("flush", [True, False])
def test_prepare_sets_subnormal_flushing_on_every_thread(flush):
    out = run_python(f"import sys, torch; sys.path.insert(0, 'src'); import devices\n"
                     f"devices.prepare(torch.device('cpu'), flush_subnormals={flush})\n{CHECK_BOTH_THREADS}")
    assert f"flushed halves: [{flush}, {flush}] [{flush}, {flush}]" in out


@needs_flushing
def test_run_py_flushes_before_its_first_multithreaded_work(world_files, tmp_path):
    """A worker thread copies the setting when the thread pool starts: run.py must set it first."""
    args = ["finetune", "vanilla", str(world_files["wiki"]), "--finetune_corpus_path", str(world_files["train"]),
            "--writing_params_path", str(tmp_path / "out.params"), "--max_steps", "1", "--state_interval", "inf"]
    out = run_python(f"import sys; sys.path.insert(0, 'src'); import run\n"
                     f"assert run.main({args!r}) == 0\n{CHECK_BOTH_THREADS}")
    assert "flushed halves: [True, True] [True, True]" in out


@needs_flushing
def test_flushing_subnormals_leaves_training_unchanged():
    """The same few training steps with and without flushing: the same losses (no subnormal arises
    in so short a run, and flushing must not change anything else)."""
    code = """
import random, sys, torch
sys.path.insert(0, 'src'); sys.path.insert(0, 'tests')
import devices
devices.prepare(torch.device('cpu'), flush_subnormals={flush})
from conftest import small_model, tiny_world
from dataset import CharCorruptionDataset
from trainer import Trainer, TrainerConfig
random.seed(0); torch.manual_seed(0)
corpus = CharCorruptionDataset("\\n".join(tiny_world()[0]), 32)
model = small_model(corpus.vocab_size, dropout=0.1)
trainer = Trainer(model, corpus, None, TrainerConfig(batch_size=16, learning_rate=6e-3))
model.train()
losses = [trainer.train_step(*trainer.trimmed(x, y)) for x, y, _ in trainer.epoch_batches(0)]
print(repr([float(loss) for loss in losses]))
"""
    flushed, kept = (run_python(code.format(flush=flush)).splitlines()[-1] for flush in (True, False))
    assert flushed == kept


@pytest.mark.parametrize("capabilities, expected", [
    ({"architecture": "x86_64", "avx512_bf16": True}, True),
    ({"architecture": "x86_64", "amx_bf16": True, "avx512_bf16": False}, True),
    ({"architecture": "x86_64", "avx2": True, "avx512_f": True}, False),
    ({"architecture": "arm64", "bf16": True}, False),  # not measured there: left in fp32
])
def test_cpu_bf16_hardware_is_read_from_the_capabilities(monkeypatch, capabilities, expected):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert devices.cpu_has_bf16() is expected


def test_a_torch_without_cpu_capabilities_means_fp32(monkeypatch):
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    assert devices.cpu_has_bf16() is False
    assert devices.autocast_dtype(torch.device("cpu"), True) is None


@pytest.mark.parametrize("hardware", [True, False])
def test_amp_on_the_cpu_is_bf16_only_with_bf16_hardware(monkeypatch, hardware):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: hardware)
    cpu = torch.device("cpu")
    assert devices.autocast_dtype(cpu, False) is None and devices.precision_note(cpu, False) == ""
    assert devices.autocast_dtype(cpu, True) is (torch.bfloat16 if hardware else None)
    assert ("no bf16 hardware" in devices.precision_note(cpu, True)) is not hardware


def cpu_training(corpus, amp, steps=4):
    """A few pretraining steps of a small model on the CPU, with or without --amp; returns the
    trainer, its losses and the model."""
    random.seed(0)
    torch.manual_seed(0)
    model = small_model(corpus.vocab_size, rope=True)
    trainer = Trainer(model, corpus, None, TrainerConfig(batch_size=16, learning_rate=6e-4, mixed_precision=amp))
    model.train()
    batches = itertools.islice(trainer.epoch_batches(0), steps)
    losses = [float(trainer.train_step(*trainer.trimmed(x, y))) for x, y, _ in batches]
    return trainer, losses, model


def test_cpu_amp_trains_in_bf16_and_keeps_fp32_weights(monkeypatch, tiny_corpus):
    """With bf16 hardware (or said to have it: bf16 runs anywhere, slowly), --amp computes the
    forward pass in bf16: the losses follow fp32's to bf16's precision but are not identical, and
    the weights and their saved copies stay fp32."""
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    amp_trainer, amp_losses, amp_model = cpu_training(tiny_corpus, amp=True)
    fp32_trainer, fp32_losses, _ = cpu_training(tiny_corpus, amp=False)
    assert "bf16 autocast" in amp_trainer.describe() and ", fp32," in fp32_trainer.describe()
    assert amp_losses != fp32_losses
    assert amp_losses == pytest.approx(fp32_losses, rel=0.02)
    assert all(p.dtype == torch.float32 for p in amp_model.state_dict().values())


def test_cpu_amp_trims_to_multiples_of_8(monkeypatch, tiny_corpus):
    """Under CPU bf16 autocast the trimmed lengths are multiples of 8 (fewer distinct shapes keep the
    heap from fragmenting); fp32 trims to the last used column."""
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    y = torch.zeros(2, 32, dtype=torch.long)
    y[0, :11] = 5  # (B, T): the last target at column 10
    x = torch.ones_like(y)
    trainers = {amp: cpu_training(tiny_corpus, amp, steps=0)[0] for amp in (True, False)}
    assert {amp: trainer.trimmed(x, y)[1].size(1) for amp, trainer in trainers.items()} == {True: 16, False: 11}
    assert "pad trimming on (to multiples of 8)," in trainers[True].describe()
    assert "pad trimming on," in trainers[False].describe()


def test_cpu_amp_without_bf16_hardware_says_so_and_stays_fp32(monkeypatch, tiny_corpus):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)
    amp_trainer, amp_losses, _ = cpu_training(tiny_corpus, amp=True, steps=2)
    _, fp32_losses, _ = cpu_training(tiny_corpus, amp=False, steps=2)
    assert amp_losses == fp32_losses
    assert "fp32 (--amp ignored: this CPU has no bf16 hardware" in amp_trainer.describe()
