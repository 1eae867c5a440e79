"""pipeline.sh: which run.py commands each stage runs, with and without a recipe, where quick mode
writes, and which trainings a second run leaves alone.

The script runs in a copy of the repository's layout with a stand-in for Python that records its
calls and writes the files each call would write, so this takes seconds and trains nothing.
"""
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for Python: records each run.py call and writes what it would write.
[ "$1" = -c ] && exit 0  # the import and recipe checks
[ "$(basename "$1")" = run.py ] || exit 0  # london_baseline.py
shift
echo "$*" >>"$CALLS"
[ "$1" = "${FAIL:-}" ] && exit 130  # as an interrupted training does
while [ $# -gt 0 ]; do
  case $1 in --writing_params_path | --outputs_path) echo "$$ $RANDOM" >"$2" ;; esac  # new contents each call
  shift
done
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_pipeline(tmp_path, *options, fail=None):
    """`bash pipeline.sh OPTIONS --stages "nopretrain vanilla"` in tmp_path/repo (laid out on the
    first call): its run.py calls, one string each, and the finished process. With `fail`, the
    stand-in exits 130 on that function's first call."""
    root = tmp_path / "repo"
    if not root.exists():
        (root / "scripts").mkdir(parents=True)
        (root / "src").mkdir()
        (root / "src" / "run.py").write_text("# the code's digest is part of what a training read\n")
        (root / "wiki.txt").write_text("Ada Moss. Ada Moss was born in Leeds .")
        shutil.copy(REPO / "pipeline.sh", root)
        shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts")
        fake = tmp_path / "python"
        fake.write_text(FAKE_PYTHON)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    env = dict(os.environ, PYTHON=str(tmp_path / "python"), CALLS=str(calls), FAIL=fail or "")
    done = subprocess.run(["bash", "pipeline.sh", *options, "--stages", "nopretrain vanilla"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == (0 if fail is None else 130), done.stderr
    return calls.read_text().splitlines(), done


def pipeline_calls(tmp_path, *options):
    """The run.py calls of `bash pipeline.sh OPTIONS --stages "nopretrain vanilla"`, one string each."""
    return run_pipeline(tmp_path, *options)[0]


def functions(calls):
    return [call.split()[0] for call in calls]


def test_a_recipe_reaches_the_pretraining_and_its_finetuning_but_not_the_baseline(tmp_path):
    nopretrain, *_, pretrain, finetune, dev, test = pipeline_calls(tmp_path, "--recipe", "laptop")
    assert nopretrain.startswith("finetune vanilla wiki.txt --writing_params_path vanilla.model.params")
    assert "--recipe" not in nopretrain and nopretrain.endswith("--micro_batch_size 32")  # the handout's updates
    assert pretrain.startswith("pretrain vanilla") and pretrain.endswith("--recipe laptop")
    assert finetune.startswith("finetune vanilla") and finetune.endswith("--recipe laptop")
    assert "--recipe" not in dev + test  # evaluation takes no training flags


def test_without_a_recipe_every_stage_runs_the_handouts_command(tmp_path):
    calls = pipeline_calls(tmp_path)
    assert len(calls) == 7  # finetuning from scratch and its two evaluations; pretraining, finetuning, two more
    assert not any("--recipe" in call or "--micro_batch_size" in call for call in calls)


def test_a_second_run_trains_nothing_that_the_first_trained(tmp_path):
    first, _ = run_pipeline(tmp_path)
    assert functions(first) == ["finetune", "evaluate", "evaluate", "pretrain", "finetune", "evaluate", "evaluate"]
    second, done = run_pipeline(tmp_path)
    assert functions(second) == ["evaluate"] * 4  # the evaluations are cheap and run again
    assert done.stdout.count("kept (--redo trains again)") == 3
    redone, _ = run_pipeline(tmp_path, "--redo")
    assert functions(redone) == functions(first)


@pytest.mark.parametrize("change", ["the code", "the corpus", "the pretrained params", "the settings"])
def test_a_training_runs_again_when_what_it_read_or_wrote_changed(tmp_path, change):
    run_pipeline(tmp_path)
    root = tmp_path / "repo"
    options = ()
    if change == "the code":
        (root / "src" / "model.py").write_text("# a new module\n")
    elif change == "the corpus":
        (root / "wiki.txt").write_text("Ada Moss. Ada Moss was born in York .")
    elif change == "the pretrained params":
        (root / "vanilla.pretrain.params").write_text("retrained by hand\n")
    else:
        options = ("--recipe", "laptop")
    again = [call for call in run_pipeline(tmp_path, *options)[0] if not call.startswith("evaluate")]
    if change == "the pretrained params":  # the pretraining wrote other params: both trainings of vanilla again
        assert functions(again) == ["pretrain", "finetune"]
    else:
        assert functions(again) == ["finetune", "pretrain", "finetune"]


def test_an_interrupted_training_is_run_again_and_what_finished_before_it_is_kept(tmp_path):
    first, _ = run_pipeline(tmp_path, fail="pretrain")
    assert functions(first)[-1] == "pretrain"
    second, _ = run_pipeline(tmp_path)
    assert functions(second) == ["evaluate", "evaluate", "pretrain", "finetune", "evaluate", "evaluate"]


def test_quick_mode_writes_under_quick_and_leaves_a_real_runs_files_alone(tmp_path):
    run_pipeline(tmp_path)
    root = tmp_path / "repo"
    real = {path.name: path.read_text() for path in root.glob("vanilla.*")}
    calls, done = run_pipeline(tmp_path, "--quick")
    assert {path.name: path.read_text() for path in root.glob("vanilla.*")} == real
    written = [arg for call in calls for flag, arg in zip(call.split(), call.split()[1:])
               if flag in ("--writing_params_path", "--outputs_path")]
    assert len(written) == 7 and all(path.startswith("quick/") for path in written)
    assert all((root / path).exists() for path in written)
    assert all(call.endswith("--tb_expt_name quick") for call in calls)
    assert "outputs in quick/" in done.stdout
