"""pipeline.sh: which run.py commands each stage runs, with and without a recipe.

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
while [ $# -gt 0 ]; do
  case $1 in --writing_params_path | --outputs_path) echo x >"$2" ;; esac
  shift
done
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def pipeline_calls(tmp_path, *options):
    """The run.py calls of `bash pipeline.sh OPTIONS --stages "nopretrain vanilla"`, one string each."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "pipeline.sh", root)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts")
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    env = dict(os.environ, PYTHON=str(fake), CALLS=str(calls))
    done = subprocess.run(["bash", "pipeline.sh", *options, "--stages", "nopretrain vanilla"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return calls.read_text().splitlines()


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
