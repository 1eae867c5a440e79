"""Bad input: one clear line on stderr, a non-zero exit, no traceback, no wrong answer."""
import os
import pickle
import re
import subprocess
import sys

import pytest
import torch

import run
from conftest import ROOT, evaluate_args, fails


@pytest.mark.parametrize("args", [["train", "vanilla", "wiki.txt"], ["evaluate", "gpt2", "wiki.txt"], ["evaluate"]])
def test_usage_errors_are_one_line(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run.main(args)
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("function, missing", [
    ("pretrain", "--writing_params_path"), ("finetune", "--finetune_corpus_path"),
    ("evaluate", "--reading_params_path")])
def test_missing_required_flag(files, capsys, function, missing):
    fails(capsys, function, "vanilla", files["wiki"], match=f"{function} needs {missing}")


def test_missing_unreadable_and_empty_corpus(files, capsys):
    rest = evaluate_args(files)[3:]
    fails(capsys, "evaluate", "vanilla", "nowhere.txt", *rest, match="cannot read pretraining corpus 'nowhere.txt'")
    fails(capsys, "evaluate", "vanilla", files["dir"], *rest, match="cannot read pretraining corpus")
    fails(capsys, "evaluate", "vanilla", "empty.txt", *rest, match="pretraining corpus 'empty.txt' is empty")
    (files["dir"] / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    fails(capsys, "evaluate", "vanilla", "latin1.txt", *rest, match="is not UTF-8 text")


@pytest.mark.parametrize("params, message", [
    ("missing.params", "cannot read params file 'missing.params'"),
    ("text.params", "is not a PyTorch checkpoint"),
    ("truncated.params", "is not a PyTorch checkpoint, or it is truncated"),
    ("list.params", "is not a state_dict"),
    ("rope.params", "was trained with the rope variant, not vanilla"),
    ("othervocab.params", "has a vocabulary of 49 characters, but the pretraining corpus gives 46"),
])
def test_bad_params_files(files, capsys, params, message):
    fails(capsys, *evaluate_args(files, params=params), match=message)


def test_bad_params_to_start_a_pretraining(files, capsys):
    pretrain = ["pretrain", "vanilla", files["wiki"], "--writing_params_path", "p.params", "--init_params_path"]
    fails(capsys, *pretrain, "missing.params", match="cannot read params file 'missing.params'")
    fails(capsys, *pretrain, "rope.params", match="was trained with the rope variant, not vanilla")
    fails(capsys, "finetune", "vanilla", files["wiki"], "--writing_params_path", "f.params", "--finetune_corpus_path",
          files["train"], "--init_params_path", "vanilla.params", match="finetune reads them with --reading_params")
    fails(capsys, *pretrain, "p.params.state", match="training state .* is the params file being read: refusing")
    assert not (files["dir"] / "p.params").exists()


def test_vanilla_params_into_rope(files, capsys):
    args = evaluate_args(files)
    args[1] = "rope"
    fails(capsys, *args, match="trained with the vanilla variant")


def test_a_pickle_carrying_code_is_refused(files, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    with open("evil.params", "wb") as f:
        pickle.dump({"tok_emb.weight": Payload()}, f)
    torch.save({"tok_emb.weight": Payload()}, "evil2.params")
    fails(capsys, *evaluate_args(files, params="evil2.params"), match="refusing to load params file .* could run code")
    # a bare pickle (not torch.save's zip) stops at its first opcode the safe loader does not know
    fails(capsys, *evaluate_args(files, params="evil.params"), match="refusing to load|is not a PyTorch checkpoint")
    assert not (files["dir"] / "pwned").exists()


def test_outputs_that_cannot_be_written(files, capsys):
    fails(capsys, *evaluate_args(files, outputs="no/such/dir/out"), match="directory .* does not exist")
    fails(capsys, *evaluate_args(files, outputs=str(files["dir"])), match="is a directory")
    fails(capsys, "pretrain", "vanilla", files["wiki"], "--writing_params_path", "missing/p.params",
          match="cannot write params file")


def test_bad_eval_files(files, capsys):
    fails(capsys, *evaluate_args(files, eval_path="nope.tsv"), match="cannot read eval corpus 'nope.tsv'")
    fails(capsys, *evaluate_args(files, eval_path="empty.txt"), match="has no lines")
    lines = files["dev"].read_text().splitlines()
    (files["dir"] / "mixed.tsv").write_text("\n".join(lines[:3] + ["Where was Ada Moss born?"] + lines[3:]) + "\n")
    fails(capsys, *evaluate_args(files, eval_path="mixed.tsv"),
          match="line 4: expected 'question<TAB>place', found 0 tab")
    (files["dir"] / "extra.tsv").write_text("\n".join(lines[:2] + [lines[2] + "\tFrance"]) + "\n")
    fails(capsys, *evaluate_args(files, eval_path="extra.tsv"), match="line 3: .* found 2 tab")


def test_bad_finetune_corpus(files, capsys):
    base = ["finetune", "vanilla", files["wiki"], "--writing_params_path", "f.params", "--finetune_corpus_path"]
    (files["dir"] / "notab.tsv").write_text("Where was Ada Moss born?\tParis\nWhere was Bo Nash born? Lima\n")
    fails(capsys, *base, "notab.tsv", match="'notab.tsv', line 2: expected 'question<TAB>place', found no tab")
    long_question = "Where was " + "Ada " * 30 + "born?"
    (files["dir"] / "long.tsv").write_text(f"{long_question}\tParis\n")
    fails(capsys, *base, "long.tsv", match="line 1: question and place take 142 characters .* block_size 128")
    fails(capsys, *base, "empty.txt", match="finetuning corpus 'empty.txt' is empty")


def test_unknown_characters_in_eval_warn_once_and_keep_one_line_each(files, capsys):
    lines = files["dev"].read_text().splitlines()
    lines[1] = lines[1].replace("Where", "Whére~")
    lines[4] = lines[4].replace("was", "wäs#")
    (files["dir"] / "odd.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run.main(evaluate_args(files, eval_path="odd.tsv")) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1
    assert "'#~äé'" in warnings[0] and "2 question(s), on line(s) 2, 5" in warnings[0]
    assert len((files["dir"] / "out.predictions").read_text(encoding="utf-8").splitlines()) == len(lines)
    assert "Correct:" in captured.out


def test_crlf_and_bom_read_like_plain_text(files, capsys):
    assert run.main(evaluate_args(files, outputs="plain.predictions")) == 0
    plain = capsys.readouterr().out
    windows = files["dir"] / "windows.tsv"
    windows.write_bytes(b"\xef\xbb\xbf" + files["dev"].read_bytes().replace(b"\n", b"\r\n"))
    assert run.main(evaluate_args(files, eval_path=windows, outputs="windows.predictions")) == 0
    assert CORRECT(capsys.readouterr().out) == CORRECT(plain)
    assert (files["dir"] / "windows.predictions").read_bytes() == (files["dir"] / "plain.predictions").read_bytes()


def CORRECT(out):
    return re.search(r"Correct: .*", out).group(0)


def test_no_traceback_from_the_program(files):
    command = [sys.executable, str(ROOT / "src" / "run.py"), *evaluate_args(files, params="text.params")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: params file 'text.params' is not a PyTorch checkpoint")
    assert "Traceback" not in done.stderr


def test_device_override(files, capsys):
    assert run.main(evaluate_args(files) + ["--device", "cpu"]) == 0
    assert "Model on device: cpu" in capsys.readouterr().out
    if not torch.cuda.is_available():
        fails(capsys, *evaluate_args(files), "--device", "cuda", match="no CUDA GPU")
    fails(capsys, *evaluate_args(files), "--device", "tpu", match="unknown device 'tpu'|unsupported device")


def test_collect_submission_names_missing_files(tmp_path):
    import shutil
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "collect_submission.sh", tmp_path)
    (tmp_path / "london_baseline_accuracy.txt").write_text("5.0\n")
    done = subprocess.run(["bash", "collect_submission.sh"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "vanilla.model.params" in done.stderr
    import zipfile
    names = zipfile.ZipFile(tmp_path / "assignment4_submission.zip").namelist()
    assert "london_baseline_accuracy.txt" in names and "src/run.py" in names
    assert not any("__pycache__" in n for n in names)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_london_baseline_bad_input(tmp_path, capsys):
    import london_baseline
    assert london_baseline.main(["--eval_corpus_path", str(tmp_path / "nope.tsv")]) == 1
    assert capsys.readouterr().err.startswith("error: cannot read eval corpus")
    (tmp_path / "questions.tsv").write_text("Where was Ada Moss born?\n")
    assert london_baseline.main(["--eval_corpus_path", str(tmp_path / "questions.tsv"),
                                 "--outputs_path", str(tmp_path / "acc.txt")]) == 1
    assert "has no gold places" in capsys.readouterr().err
