"""Shared fixtures: a tiny synthetic world (documents and birthplace questions) and small models."""
import random
import re
import signal
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "analysis"))
sys.path.insert(0, str(ROOT))

import run  # noqa: E402
from dataset import CharCorruptionDataset  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from training_state import TrainingInterrupted  # noqa: E402

FIRST = ["Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu"]
LAST = ["Moss", "Nash", "Orr", "Pike", "Quin", "Rowe"]
PLACES = ["Paris", "Lima", "Oslo", "Rome", "Kyiv", "Quito", "Accra", "Hanoi"]


def tiny_world(seed=0):
    """(documents, [(name, place)]): one short wiki-like document per person."""
    rng = random.Random(seed)
    people = [(f"{first} {last}", rng.choice(PLACES)) for first in FIRST for last in LAST][:48]
    documents = [f"{name}. {name} was born in {place} and worked as a {rng.choice(['poet', 'cook', 'judge'])}. "
                 f"Where was {name} born? In {place}." for name, place in people]
    return documents, people


@pytest.fixture(autouse=True)
def _hygiene():
    """Each test starts from known seeds and leaves global torch settings as it found them."""
    random.seed(0)
    torch.manual_seed(0)
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


@pytest.fixture
def world_files(tmp_path):
    """A tiny wiki, train/dev TSVs and a questions-only test file, written to tmp_path."""
    documents, people = tiny_world()
    paths = {
        "wiki": tmp_path / "wiki.txt",
        "train": tmp_path / "train.tsv",
        "dev": tmp_path / "dev.tsv",
        "test": tmp_path / "test.tsv",
    }
    paths["wiki"].write_text("\n".join(documents), encoding="utf-8")
    lines = [f"Where was {name} born?\t{place}\n" for name, place in people]
    paths["train"].write_text("".join(lines[:36]), encoding="utf-8")
    paths["dev"].write_text("".join(lines[36:]), encoding="utf-8")
    paths["test"].write_text("".join(line.split("\t")[0] + "\n" for line in lines[36:]), encoding="utf-8")
    return paths


@pytest.fixture
def wiki_text():
    return (ROOT / "wiki.txt").read_text(encoding="utf-8")


def decode(dataset, ids):
    """The characters of a tensor of token ids."""
    return "".join(dataset.itos[int(i)] for i in ids)


def stop_mid_run(trainer, after_steps):
    """Train until `after_steps` steps are done, then stop as a SIGTERM there would (the state is
    saved); returns each step's divisor."""
    train_step, divisors = trainer.train_step, []

    def step_then_signal(x, y, divisor=None):
        divisors.append(divisor)
        if len(divisors) == after_steps:
            trainer.signals.signum = signal.SIGTERM
        return train_step(x, y, divisor)
    trainer.train_step = step_then_signal
    with pytest.raises(TrainingInterrupted):
        trainer.train()
    return divisors


def small_model(vocab_size, block_size=32, rope=False, dropout=0.0, **sizes):
    config = GPTConfig(vocab_size, block_size, n_layer=2, n_head=4, n_embd=32, rope=rope,
                       embd_pdrop=dropout, resid_pdrop=dropout, attn_pdrop=dropout)
    for key, value in sizes.items():
        setattr(config, key, value)
    return GPT(config)


@pytest.fixture
def tiny_corpus():
    documents, _ = tiny_world()
    return CharCorruptionDataset("\n".join(documents), 32)


@pytest.fixture
def files(world_files, tmp_path, monkeypatch):
    """The tiny world plus params files of each kind, with tmp_path as the working directory."""
    monkeypatch.chdir(tmp_path)
    vocab = CharCorruptionDataset(world_files["wiki"].read_text(encoding="utf-8"), 128).vocab_size
    for name, size, rope in [("vanilla", vocab, False), ("rope", vocab, True), ("othervocab", vocab + 3, False)]:
        torch.save(GPT(GPTConfig(size, 128, rope=rope)).state_dict(), tmp_path / f"{name}.params")
    good = (tmp_path / "vanilla.params").read_bytes()
    (tmp_path / "truncated.params").write_bytes(good[:len(good) // 2])
    (tmp_path / "text.params").write_text("not a checkpoint\n")
    (tmp_path / "list.params").write_bytes(b"")
    torch.save([1, 2, 3], tmp_path / "list.params")
    (tmp_path / "empty.txt").write_text("")
    return dict(world_files, dir=tmp_path)


def fails(capsys, *args, match):
    code = run.main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(match, lines[0]), lines[0]
    return lines[0]


def evaluate_args(files, params="vanilla.params", eval_path=None, outputs="out.predictions"):
    return ["evaluate", "vanilla", str(files["wiki"]), "--reading_params_path", str(params),
            "--eval_corpus_path", str(eval_path or files["dev"]), "--outputs_path", str(outputs)]
