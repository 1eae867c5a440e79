"""src/run.py end to end on tiny corpora, and the handout's settings reaching the trainer."""
import re
import subprocess
import sys

import pytest
import torch

import run
from conftest import ROOT, small_model
from dataset import CharCorruptionDataset
from trainer import Trainer
from training_state import file_digest

CORRECT_LINE = re.compile(r"^Correct: (\d+)\.0 out of (\d+)\.0: ([\d.]+)%$", re.M)
SMALL = ["--batch_size", "16", "--max_epochs", "1"]


def cli(*args):
    return run.main([str(a) for a in args])


@pytest.mark.parametrize("variant", ["vanilla", "rope"])
def test_pretrain_finetune_evaluate(world_files, tmp_path, monkeypatch, capsys, variant):
    monkeypatch.chdir(tmp_path)
    wiki = world_files["wiki"]
    assert cli("pretrain", variant, wiki, "--writing_params_path", "p.params", *SMALL) == 0
    assert cli("finetune", variant, wiki, "--reading_params_path", "p.params", "--writing_params_path", "f.params",
               "--finetune_corpus_path", world_files["train"], *SMALL) == 0
    out = capsys.readouterr().out
    assert "Model on device: cpu" in out
    state = torch.load("f.params", weights_only=True)
    assert ("pos_emb" in state) == (variant == "vanilla") and "tok_emb.weight" in state
    assert not (tmp_path / "f.params.state").exists(), "the training state goes once the params are saved"
    assert (tmp_path / "expt" / "pretrain" / f"run_{variant}_pt_lr_0.006000_ft_lr_0.000600").is_dir()

    assert cli("evaluate", variant, wiki, "--reading_params_path", "f.params",
               "--eval_corpus_path", world_files["dev"], "--outputs_path", "dev.predictions") == 0
    match = CORRECT_LINE.search(capsys.readouterr().out)
    assert match and match.group(2) == "12"
    assert float(match.group(3)) == pytest.approx(int(match.group(1)) / 12 * 100)
    assert len((tmp_path / "dev.predictions").read_text(encoding="utf-8").splitlines()) == 12

    assert cli("evaluate", variant, wiki, "--reading_params_path", "f.params",
               "--eval_corpus_path", world_files["test"], "--outputs_path", "test.predictions") == 0
    out = capsys.readouterr().out
    assert "No gold birth places provided; returning (0,0)\n" \
           "Predictions written to test.predictions; no targets provided\n" in out
    dev = (tmp_path / "dev.predictions").read_text(encoding="utf-8").splitlines()
    test = (tmp_path / "test.predictions").read_text(encoding="utf-8").splitlines()
    assert test == dev, "a test line (no tab) gets the prompt of the same dev question"


def test_finetune_without_pretraining_and_eval_report(world_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli("finetune", "vanilla", world_files["wiki"], "--writing_params_path", "m.params",
               "--finetune_corpus_path", world_files["train"], "--eval_corpus_path", world_files["dev"], *SMALL) == 0
    assert CORRECT_LINE.search(capsys.readouterr().out)


class RecordingTrainer:
    """Stands in for Trainer to capture the configuration run.py builds."""
    configs = []

    def __init__(self, model, dataset, test_dataset, config):
        self.dataset = dataset
        RecordingTrainer.configs.append((config, len(dataset)))

    def train(self):
        pass

    def discard_state(self):
        pass


def test_handout_hyperparameters(world_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run, "Trainer", RecordingTrainer)
    RecordingTrainer.configs = []
    wiki, train = world_files["wiki"], world_files["train"]
    cli("pretrain", "vanilla", wiki, "--writing_params_path", "p.params")
    cli("finetune", "vanilla", wiki, "--writing_params_path", "m.params", "--finetune_corpus_path", train)
    cli("finetune", "vanilla", wiki, "--writing_params_path", "f.params", "--finetune_corpus_path", train,
        "--reading_params_path", "p.params", "--finetune_lr", "1e-4")
    (pre, n_docs), (scratch, _), (tuned, n_lines) = RecordingTrainer.configs
    assert n_docs == 48 and n_lines == 36
    assert (pre.max_epochs, pre.batch_size, pre.learning_rate, pre.lr_decay, pre.warmup_tokens, pre.final_tokens,
            pre.num_workers) == (650, 128, 6e-3, True, 512 * 20, 650 * 48 * 128, 4)
    assert (scratch.max_epochs, scratch.batch_size, scratch.learning_rate, scratch.final_tokens) == \
        (75, 256, 6e-4, 200 * 48 * 128)
    assert (tuned.max_epochs, tuned.learning_rate, tuned.warmup_tokens) == (10, 1e-4, 512 * 20)
    assert not pre.mixed_precision and not pre.bucket and not pre.compile
    assert pre.weight_decay == scratch.weight_decay == tuned.weight_decay == 0.1


def test_weight_decay_reaches_the_optimizer_and_the_fingerprint(world_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run, "Trainer", RecordingTrainer)
    RecordingTrainer.configs = []
    cli("pretrain", "vanilla", world_files["wiki"], "--writing_params_path", "p.params", "--weight_decay", "0.25")
    (config, _), = RecordingTrainer.configs
    assert config.weight_decay == 0.25 and config.label == "weight decay 0.25"
    corpus = CharCorruptionDataset(world_files["wiki"].read_text(encoding="utf-8"), 32)
    trainer = Trainer(small_model(corpus.vocab_size), corpus, None, config)
    assert [group["weight_decay"] for group in trainer.optimizer.param_groups] == [0.25, 0.0]  # weights, biases
    assert trainer.fingerprint()["weight_decay"] == 0.25  # a state saved at another decay is not resumed


def test_cosine_epochs_sets_where_the_pretraining_schedule_ends(world_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run, "Trainer", RecordingTrainer)
    RecordingTrainer.configs = []
    cli("pretrain", "rope", world_files["wiki"], "--writing_params_path", "p.params", "--max_epochs", "75",
        "--cosine_epochs", "650")
    (config, n_docs), = RecordingTrainer.configs
    assert config.max_epochs == 75 and config.final_tokens == 650 * n_docs * 128, "the handout's first 75 epochs"
    assert config.label == "cosine over 650 epochs"
    assert cli("finetune", "rope", world_files["wiki"], "--writing_params_path", "f.params",
               "--finetune_corpus_path", world_files["train"], "--cosine_epochs", "5") == 1, "pretraining's only"


def test_pretraining_starts_from_params_only_when_asked(world_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wiki = world_files["wiki"]
    assert cli("pretrain", "rope", wiki, "--writing_params_path", "p.params", "--max_steps", "2", *SMALL) == 0
    starts = []

    class StartRecordingTrainer(RecordingTrainer):
        def __init__(self, model, dataset, test_dataset, config):
            super().__init__(model, dataset, test_dataset, config)
            starts.append({key: value.clone() for key, value in model.state_dict().items()})

    monkeypatch.setattr(run, "Trainer", StartRecordingTrainer)
    RecordingTrainer.configs = []
    cli("pretrain", "rope", wiki, "--writing_params_path", "q.params", "--init_params_path", "p.params",
        "--augment", "packed", "--max_epochs", "3")
    cli("pretrain", "rope", wiki, "--writing_params_path", "r.params", "--reading_params_path", "p.params")
    first_stage = torch.load("p.params", weights_only=True)
    assert all(torch.equal(starts[0][key], value) for key, value in first_stage.items())
    assert not torch.equal(starts[1]["tok_emb.weight"], first_stage["tok_emb.weight"]), \
        "pretraining ignores --reading_params_path, as the handout's does"
    (stage, _), (handout, _) = RecordingTrainer.configs
    assert stage.label == "augment packed, from p.params" and stage.max_epochs == 3
    assert stage.final_tokens == 3 * 48 * 128, "the schedule starts again over this stage's epochs"
    assert stage.state_identity["params read"] == file_digest("p.params"), "a state of another start is not resumed"
    assert handout.state_identity["params read"] is None and handout.label == ""


def test_parser_matches_the_handout():
    args = run.build_parser().parse_args(["evaluate", "rope", "wiki.txt"])
    assert (args.pretrain_lr, args.finetune_lr, args.tb_expt_name) == (6e-3, 6e-4, "run")
    assert args.reading_params_path is args.writing_params_path is args.outputs_path is None
    assert args.finetune_corpus_path is args.eval_corpus_path is None


def test_the_script_runs_as_a_program(world_files, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "src" / "run.py"), "finetune", "vanilla", world_files["wiki"],
                           "--writing_params_path", "m.params", "--finetune_corpus_path", world_files["train"],
                           *SMALL], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Params written to m.params" in done.stdout
