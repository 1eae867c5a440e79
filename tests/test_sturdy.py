"""What hostile but fair users do: odd paths, pipes, odd numbers, stale or foreign state, signals
at the worst moment. Each ends in one clear line and a non-zero exit, before any work where it
can be known up front, and no file is damaged."""
import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import zipfile

import pytest
import torch

import checkpoint
import fileio
import run
from conftest import ROOT, evaluate_args, fails
from model import GPT, GPTConfig
from training_state import RunLock

TINY = ["--batch_size", "8", "--max_steps", "2", "--max_epochs", "1"]


def pretrain_args(files, params="p.params", *extra):
    return ["pretrain", "vanilla", str(files["wiki"]), "--writing_params_path", str(params), *TINY, *extra]


def finetune_args(files, corpus, params="f.params", *extra):
    return ["finetune", "vanilla", str(files["wiki"]), "--writing_params_path", str(params),
            "--finetune_corpus_path", str(corpus), *TINY, *extra]


def no_work_done(capsys_out):
    """Nothing was built: the error came before the model (and any training)."""
    return "number of parameters" not in capsys_out


# --- output paths -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["", "newdir/", "existing_dir", "existing_dir/"])
def test_output_paths_that_name_directories_or_nothing(files, capsys, path):
    (files["dir"] / "existing_dir").mkdir(exist_ok=True)
    fails(capsys, *pretrain_args(files, path), match="is empty|directory")
    fails(capsys, *evaluate_args(files, outputs=path), match="is empty|directory")
    assert no_work_done(capsys.readouterr().out)
    assert not (files["dir"] / "newdir").exists()


def test_outputs_that_are_the_runs_own_inputs(files, capsys):
    before = {k: files[k].read_bytes() for k in ("wiki", "dev", "train")}
    fails(capsys, *evaluate_args(files, outputs=files["dev"]), match="is the eval corpus")
    fails(capsys, *evaluate_args(files, outputs=files["wiki"]), match="is the pretraining corpus")
    fails(capsys, *evaluate_args(files, outputs="vanilla.params"), match="is the params file being read")
    fails(capsys, *pretrain_args(files, files["wiki"]), match="is the pretraining corpus")
    fails(capsys, *finetune_args(files, files["train"], files["train"]), match="is the finetuning corpus")
    os.symlink(files["dev"], files["dir"] / "alias.tsv")
    fails(capsys, *evaluate_args(files, outputs="alias.tsv"), match="is the eval corpus")
    assert {k: files[k].read_bytes() for k in before} == before


def test_finetuning_in_place_is_allowed(files, capsys):
    shutil.copy(files["dir"] / "vanilla.params", files["dir"] / "inplace.params")
    original = torch.load(files["dir"] / "inplace.params", weights_only=True)
    assert run.main(finetune_args(files, files["train"], "inplace.params",
                                  "--reading_params_path", "inplace.params")) == 0
    tuned = torch.load(files["dir"] / "inplace.params", weights_only=True)
    assert not torch.equal(original["head.weight"], tuned["head.weight"])


def test_symlinked_output_is_written_through(files, capsys):
    target = files["dir"] / "real.predictions"
    target.write_text("old\n")
    os.symlink(target, files["dir"] / "link.predictions")
    assert run.main(evaluate_args(files, outputs="link.predictions")) == 0
    assert (files["dir"] / "link.predictions").is_symlink()
    assert len(target.read_text().splitlines()) == 12


def test_fifo_and_device_outputs_are_never_replaced(files, capsys):
    os.mkfifo(files["dir"] / "pipe")
    fails(capsys, *evaluate_args(files, outputs="pipe"), match="is a FIFO")
    assert stat.S_ISFIFO(os.stat(files["dir"] / "pipe").st_mode)
    fails(capsys, *evaluate_args(files, outputs="/dev/null"), match="is a character device")
    fails(capsys, *pretrain_args(files, "/dev/null"), match="is a character device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    import london_baseline
    assert london_baseline.main(["--eval_corpus_path", str(files["dev"]), "--outputs_path", "/dev/null"]) == 1
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_london_baseline_and_analyze_outputs(files, capsys):
    import analyze
    import london_baseline
    dev = str(files["dev"])
    for path in ["", "somewhere/", str(files["dir"])]:
        assert london_baseline.main(["--eval_corpus_path", dev, "--outputs_path", path]) == 1
    assert london_baseline.main(["--eval_corpus_path", dev, "--outputs_path", dev]) == 1
    assert "is the eval corpus" in capsys.readouterr().err
    (files["dir"] / "a.predictions").write_text("Paris\n" * 12)
    common = ["--eval_corpus_path", dev, "--wiki", str(files["wiki"]), "--predictions", "a.predictions"]
    assert analyze.main(common + ["--charts", ""]) == 1
    assert analyze.main(common + ["--charts", dev]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "is empty" in err[0] and "is a file" in err[1]


def test_tensorboard_directory_that_cannot_be_created(files, capsys):
    (files["dir"] / "expt").write_text("a file where the log directory goes")
    fails(capsys, *pretrain_args(files), match="cannot create the TensorBoard directory")
    assert no_work_done(capsys.readouterr().out)
    (files["dir"] / "expt").unlink()
    fails(capsys, *pretrain_args(files, "p.params", "--tb_expt_name", "x" * 300), match="TensorBoard directory")
    shutil.rmtree(files["dir"] / "expt")
    (files["dir"] / "expt").write_text("again")
    assert run.main(evaluate_args(files)) == 0  # evaluate's predictions do not need the log
    captured = capsys.readouterr()
    assert "Correct:" in captured.out and captured.err.count("warning: cannot create the TensorBoard") == 1
    assert len((files["dir"] / "out.predictions").read_text().splitlines()) == 12


def full_disk(monkeypatch, only=None):
    """Every atomic write (or only the one to a path ending in `only`) fails with ENOSPC."""
    real_replace = os.replace

    def replace(source, target):
        if only is None or str(target).endswith(only):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(source, target)
    monkeypatch.setattr(fileio.os, "replace", replace)


def test_a_full_disk_names_the_file_and_leaves_the_old_one(files, capsys, monkeypatch):
    (files["dir"] / "out.predictions").write_text("previous\n")
    full_disk(monkeypatch)
    fails(capsys, *evaluate_args(files), match="cannot write 'out.predictions': No space left on device")
    assert (files["dir"] / "out.predictions").read_text() == "previous\n"
    assert not [p for p in files["dir"].iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_at_the_final_save_keeps_the_training_state(files, capsys, monkeypatch):
    with monkeypatch.context() as patch:
        full_disk(patch, only="/p.params")  # the state fits, the params do not
        line = fails(capsys, *pretrain_args(files, "p.params", "--state_interval", "0"),
                     match="cannot write 'p.params': No space left on device; the training state p.params.state "
                           "is kept")
    assert "run the same command again" in line
    assert (files["dir"] / "p.params.state").exists() and not (files["dir"] / "p.params").exists()
    assert run.main(pretrain_args(files, "p.params", "--state_interval", "0")) == 0
    assert "Resuming from p.params.state" in capsys.readouterr().out


# --- inputs that are not plain files ------------------------------------------------------

def test_eval_corpus_from_a_fifo_is_read_once(files, capsys):
    fifo = files["dir"] / "dev.fifo"
    os.mkfifo(fifo)
    text = files["dev"].read_bytes()

    def feed():
        with open(fifo, "wb") as f:  # blocks until the run opens it; a second open would hang
            f.write(text)
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert run.main(evaluate_args(files, eval_path=fifo)) == 0
    assert "Correct:" in capsys.readouterr().out and " out of 12.0" in capsys.readouterr().out + " out of 12.0"
    writer.join(timeout=5)
    assert len((files["dir"] / "out.predictions").read_text().splitlines()) == 12


@pytest.mark.slow
def test_eval_corpus_from_stdin(files):
    command = [sys.executable, str(ROOT / "src" / "run.py"), *evaluate_args(files, eval_path="/dev/stdin")]
    done = subprocess.run(command, input=files["dev"].read_text(), capture_output=True, text=True,
                          cwd=files["dir"], timeout=120)
    assert done.returncode == 0, done.stderr
    assert "out of 12.0" in done.stdout


def test_analyze_predictions_with_a_bom_or_not_utf8(files, capsys):
    import analyze
    places = [line.split("\t")[1] for line in files["dev"].read_text().splitlines()]
    (files["dir"] / "bom.predictions").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(places).encode() + b"\r\n")
    common = ["--eval_corpus_path", str(files["dev"]), "--wiki", str(files["wiki"]), "--predictions"]
    assert analyze.main(common + ["bom.predictions"]) == 0
    assert "accuracy 100.0%" in capsys.readouterr().out
    (files["dir"] / "latin1.predictions").write_bytes("Z\xfcrich\n".encode("latin-1") * 12)
    assert analyze.main(common + ["latin1.predictions"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not UTF-8" in err[0] or "are not UTF-8" in err[0]


@pytest.mark.parametrize("setup, message", [
    ({}, "cannot read .*wiki.txt"),
    ({"wiki.txt": b"caf\xe9"}, "wiki.txt is not UTF-8"),
    ({"wiki.txt": "A \u2047 B".encode()}, "wiki.txt: the text contains"),
    ({"wiki.txt": b"abc", "birth_places_train.tsv": b"no tab here\n"}, "birth_places_train.tsv: line 1"),
])
def test_dataset_script_with_missing_or_bad_data(tmp_path, setup, message):
    (tmp_path / "src").mkdir()
    shutil.copy(ROOT / "src" / "dataset.py", tmp_path / "src")
    for name, data in setup.items():
        (tmp_path / name).write_bytes(data)
    kind = "namedata" if "birth_places_train.tsv" in setup else "charcorruption"
    done = subprocess.run([sys.executable, str(tmp_path / "src" / "dataset.py"), kind],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(message, done.stderr.strip().splitlines()[-1]), done.stderr


# --- numbers that make no sense -----------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--pretrain_lr", "nan"], "--pretrain_lr must be a positive number"),
    (["--pretrain_lr", "inf"], "--pretrain_lr must be a positive number"),
    (["--pretrain_lr=-inf"], "--pretrain_lr must be a positive number"),
    (["--pretrain_lr", "-inf"], "expected one argument"),  # argparse reads it as a flag: still one line
    (["--pretrain_lr", "0"], "--pretrain_lr must be a positive number"),
    (["--finetune_lr=-1e-4"], "--finetune_lr must be a positive number"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--seed", str(2**32)], "--seed must be between"),
    (["--state_interval", "nan"], "--state_interval must be 0 or more"),
    (["--state_interval", "-5"], "--state_interval must be 0 or more"),
    (["--num_workers", "-1"], "--num_workers must be 0 or more"),
    (["--dropout", "1"], "--dropout must be"),
    (["--weight_decay=-0.1"], "--weight_decay must be 0 or a positive number"),
    (["--weight_decay", "nan"], "--weight_decay must be 0 or a positive number"),
    (["--cosine_epochs", "0"], "--cosine_epochs must be at least 1"),
    (["--bucket_weighting", "character"], "--bucket_weighting character weights bucketed batches; add --bucket"),
    (["--bucket", "--bucket_weighting", "tokens"], "invalid choice: 'tokens'"),
    (["--device", "cuda:99"], "cuda"),
])
def test_numbers_that_make_no_sense(files, capsys, flags, message):
    try:
        fails(capsys, *pretrain_args(files), *flags, match=message)
    except SystemExit as e:  # argparse's own one-line usage error
        assert e.code == 2 and re.search(message, capsys.readouterr().err)
    assert no_work_done(capsys.readouterr().out)


def test_a_finetune_corpus_with_no_usable_line(files, capsys):
    (files["dir"] / "accents.tsv").write_text("\u00c9\u00e9\u00e8\t\u00e0\u00e7\n\u65e5\u672c\t\u6771\u4eac\n",
                                              encoding="utf-8")
    fails(capsys, *finetune_args(files, "accents.tsv"), match="no usable line")
    assert not (files["dir"] / "f.params").exists()


def test_an_empty_gold_place_is_never_scored(files, capsys):
    lines = files["dev"].read_text().splitlines()
    lines[3] = lines[3].split("\t")[0] + "\t"
    (files["dir"] / "hole.tsv").write_text("\n".join(lines) + "\n")
    fails(capsys, *evaluate_args(files, eval_path="hole.tsv"), match="line 4: the place after the tab is empty")
    fails(capsys, *finetune_args(files, "hole.tsv"), match="line 4: the place after the tab is empty")
    import london_baseline
    assert london_baseline.main(["--eval_corpus_path", "hole.tsv", "--outputs_path", "l.txt"]) == 1


def test_warnings_name_the_file_line(files, capsys):
    lines = files["dev"].read_text().splitlines()
    lines[2] = lines[2].replace("Where", "Wh\u00e9re")
    (files["dir"] / "gaps.tsv").write_text("\n\n" + "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")
    assert run.main(evaluate_args(files, eval_path="gaps.tsv")) == 0
    assert "on line(s) 6" in capsys.readouterr().err


# --- checkpoints and state ----------------------------------------------------------------

def test_a_state_from_another_corpus_is_refused_up_front(files, capsys, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(run.Trainer, "discard_state", lambda self: None)  # keep the state after the run
        assert run.main(pretrain_args(files, "p.params", "--state_interval", "0")) == 0
    capsys.readouterr()
    text = files["wiki"].read_text()
    files["wiki"].write_text(text.replace("Paris", "Par\u00efs", 1))  # same line count, one new character
    line = fails(capsys, *pretrain_args(files, "p.params"), match="belongs to a run with other settings")
    assert "pretraining corpus" in line and "model.vocab_size" in line and "size mismatch" not in line


def odd_state_dict(kind):
    state = GPT(GPTConfig(46, 128)).state_dict()
    if kind == "sparse":
        state["head.weight"] = state["head.weight"].to_sparse()
    elif kind == "meta":
        state["head.weight"] = torch.empty(state["head.weight"].shape, device="meta")
    elif kind == "integer keys":
        state = {i: v for i, v in enumerate(state.values())}
    elif kind == "integer tensor":
        state["head.weight"] = state["head.weight"].long()
    elif kind == "narrow":
        state = GPT(GPTConfig(46, 128, n_embd=128)).state_dict()
    elif kind == "shallow":
        state = GPT(GPTConfig(46, 128, n_layer=2)).state_dict()
    elif kind == "nan":
        state["blocks.1.mlp.0.weight"][3, 3] = float("nan")
    elif kind == "inf":
        state["ln_f.bias"][0] = float("inf")
    return state


@pytest.mark.parametrize("kind, message", [
    ("sparse", "head.weight is a sparse tensor"),
    ("meta", "head.weight is on the meta device"),
    ("integer keys", "is not a state_dict"),
    ("integer tensor", "holds torch.int64 values"),
    ("narrow", r"another model size \(n_embd 128 vs 256"),
    ("shallow", r"n_layer 2 vs 4"),
    ("nan", "holds NaN or infinite values .*blocks.1.mlp.0.weight"),
    ("inf", "holds NaN or infinite values"),
])
def test_odd_params_files(files, capsys, kind, message):
    torch.save(odd_state_dict(kind), files["dir"] / "odd.params")
    line = fails(capsys, *evaluate_args(files, params="odd.params"), match=message)
    assert "vocabulary" not in line
    if kind in ("nan", "narrow"):
        fails(capsys, *finetune_args(files, files["train"], "g.params", "--reading_params_path", "odd.params"),
              match=message)
    assert not (files["dir"] / "out.predictions").exists()


def test_a_signal_during_the_final_save_still_leaves_the_params(files, capsys, monkeypatch):
    real_save = checkpoint.save

    def save_under_fire(obj, path):
        if str(path) == "p.params":
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the params are being written
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(obj, path)
    monkeypatch.setattr(checkpoint, "save", save_under_fire)
    code = run.main(pretrain_args(files, "p.params", "--state_interval", "0"))
    err = capsys.readouterr().err
    assert code == 128 + signal.SIGTERM and "Traceback" not in err
    assert "SIGTERM arrived during the final save" in err and "params written to p.params" in err
    assert torch.load(files["dir"] / "p.params", weights_only=True)["tok_emb.weight"].shape[0] == 46
    assert not [p for p in files["dir"].iterdir() if p.name.endswith(".tmp")]
    assert not (files["dir"] / "p.params.state").exists() and not (files["dir"] / "p.params.lock").exists()


def test_a_second_run_on_the_same_params_is_refused(files, capsys):
    with RunLock(str(files["dir"] / "p.params.lock")).acquire("first run"):
        line = fails(capsys, *pretrain_args(files, "p.params"), match="is in use by another run")
        assert f"pid {os.getpid()}" in line
        assert no_work_done(capsys.readouterr().out)
    assert not (files["dir"] / "p.params.lock").exists()
    assert run.main(pretrain_args(files, "p.params")) == 0


def test_a_filesystem_without_locks_trains_with_a_warning(files, capsys, monkeypatch):
    import training_state

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(training_state.fcntl, "flock", no_locks)
    assert run.main(pretrain_args(files, "p.params")) == 0
    err = capsys.readouterr().err
    assert "this filesystem has no file locks" in err and "Traceback" not in err
    assert (files["dir"] / "p.params").exists() and not (files["dir"] / "p.params.lock").exists()


@pytest.mark.slow
def test_two_processes_on_the_same_params(files):
    command = [sys.executable, str(ROOT / "src" / "run.py"), "pretrain", "vanilla", str(files["wiki"]),
               "--writing_params_path", "p.params", "--batch_size", "4", "--max_epochs", "50", "--state_interval", "0"]
    first = subprocess.Popen(command, cwd=files["dir"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            if (files["dir"] / "p.params.state").exists():
                break
            threading.Event().wait(0.05)
        second = subprocess.run(command, cwd=files["dir"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and f"pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert (files["dir"] / "p.params.state").exists(), "the first run's state is intact"


# --- packaging ----------------------------------------------------------------------------

@pytest.fixture
def submission_dir(tmp_path):
    """A checkout with the code, the packing script and one of the ten expected outputs."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "collect_submission.sh", tmp_path)
    (tmp_path / "london_baseline_accuracy.txt").write_text("5.0\n")
    return tmp_path


@pytest.mark.parametrize("remove", ["src", "src/model.py"])
def test_collect_submission_without_the_code(submission_dir, remove):
    tmp_path = submission_dir
    target = tmp_path / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    done = subprocess.run(["bash", "collect_submission.sh"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "src/model.py" in done.stderr and "wrote" not in done.stdout
    assert not (tmp_path / "assignment4_submission.zip").exists()


def test_collect_submission_reports_only_what_the_zip_holds(submission_dir):
    tmp_path = submission_dir
    done = subprocess.run(["bash", "collect_submission.sh"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "1 of 10 expected files" in done.stdout
    names = zipfile.ZipFile(tmp_path / "assignment4_submission.zip").namelist()
    assert [n for n in names if not n.startswith("src/")] == ["london_baseline_accuracy.txt"]
