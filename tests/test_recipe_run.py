"""bench/recipe_run.sh and bench/curve.sh: an experiment that resumes, and that stays finished.

The scripts run in a copy of the repository's layout with a stand-in for Python that only writes
the files each stage would write, so these tests take seconds and train nothing.
"""
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for Python: records its call, writes what the stage would write, fails on request.
echo "$*" >>"$CALLS"
script=$1; shift
if [ "$(basename "$script")" = recall_probe.py ]; then echo "cloze recall: 1 of 2 places (50.0%) in x"; exit 0; fi
stage=$1
if [ "${FAIL_STAGE:-}" = "$stage" ]; then exit 3; fi
if [ -n "${EDIT_WHILE_RUNNING:-}" ] && [ "$stage" = pretrain ]; then  # an edit saved in place, as editors do
  { printf '# edited while it ran %0200d\n' 0; cat "$EDIT_WHILE_RUNNING"; } >"$EDIT_WHILE_RUNNING.new"
  cat "$EDIT_WHILE_RUNNING.new" >"$EDIT_WHILE_RUNNING" && rm "$EDIT_WHILE_RUNNING.new"
fi
while [ $# -gt 0 ]; do
  case $1 in --writing_params_path) echo params >"$2" ;; --outputs_path) echo Paris >"$2" ;; esac
  shift
done
if [ "$stage" = evaluate ]; then echo "Correct: 1.0 out of 2.0: 50.0%"; fi
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture
def house(tmp_path):
    """A copy of the repository's layout holding the two scripts, and a fake Python."""
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    for script in ("recipe_run.sh", "curve.sh"):
        shutil.copy(REPO / "bench" / script, root / "bench" / script)
    (root / "src").mkdir()
    (root / "src" / "run.py").write_text("")
    for name in ("wiki.txt", "birth_places_train.tsv", "birth_dev.tsv"):
        (root / name).write_text("")
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    name = f"test_{uuid.uuid4().hex[:12]}"  # its work folder is /tmp/recipes/NAME
    yield root, fake, name
    shutil.rmtree(f"/tmp/recipes/{name}", ignore_errors=True)


def recipe_run(house, fail_stage="", pretrain_flags="--max_epochs 2", finetune_flags="--micro_batch_size 4"):
    root, fake, name = house
    env = dict(os.environ, PYTHON=str(fake), CALLS=str(root / "calls"), FAIL_STAGE=fail_stage)
    done = subprocess.run(["bash", "bench/recipe_run.sh", name, "rope", "0", pretrain_flags, finetune_flags],
                          cwd=root, env=env, capture_output=True, text=True, timeout=60)
    calls = (root / "calls").read_text().splitlines() if (root / "calls").exists() else []
    (root / "calls").unlink(missing_ok=True)
    return done, calls


def log_of(house):
    root, _, name = house
    return (root / "bench" / "results" / "recipes" / f"{name}.log").read_text()


def test_a_run_pretrains_probes_finetunes_evaluates_and_logs_the_dev_accuracy(house):
    done, calls = recipe_run(house)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Correct: 1.0 out of 2.0: 50.0%"
    assert [call.split()[1] if "run.py" in call else "probe" for call in calls] == [
        "pretrain", "probe", "finetune", "evaluate"]
    log = log_of(house)
    assert "# pretrain: from the start" in log and "pretrain wall:" in log and "finetune wall:" in log
    root, _, name = house
    assert (root / "bench" / "results" / "recipes" / f"{name}.dev.predictions").read_text() == "Paris\n"


def test_a_finished_run_stays_finished_on_a_machine_that_lost_its_work_folder(house):
    recipe_run(house)
    shutil.rmtree(f"/tmp/recipes/{house[2]}")  # a new machine: /tmp is empty, the committed log is there
    before = log_of(house)
    done, calls = recipe_run(house)
    assert done.returncode == 0
    assert done.stdout.strip() == "Correct: 1.0 out of 2.0: 50.0%"
    assert calls == []  # nothing trained again
    assert log_of(house) == before


def test_a_finished_run_is_not_taken_for_one_with_other_settings(house):
    recipe_run(house)
    done, calls = recipe_run(house, pretrain_flags="--max_epochs 3")
    assert done.returncode == 2
    assert "holds a run with other settings" in done.stderr
    assert calls == []


@pytest.mark.parametrize("other", [{"pretrain_flags": "--max_epochs 3"}, {"finetune_flags": ""}])
def test_on_a_machine_that_lost_its_work_folder_the_log_still_tells_other_settings(house, other):
    recipe_run(house)
    shutil.rmtree(f"/tmp/recipes/{house[2]}")
    before = log_of(house)
    done, calls = recipe_run(house, **other)
    assert done.returncode == 2
    assert "records a run with other settings" in done.stderr
    assert calls == [] and log_of(house) == before


def test_an_interrupted_run_whose_work_folder_is_lost_starts_again_with_the_same_settings_only(house):
    recipe_run(house, fail_stage="pretrain")
    shutil.rmtree(f"/tmp/recipes/{house[2]}")
    done, calls = recipe_run(house, pretrain_flags="--max_epochs 3")
    assert done.returncode == 2 and calls == []
    done, calls = recipe_run(house)
    assert done.returncode == 0, done.stderr
    assert log_of(house).count("# pretrain: from the start") == 2


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_log_says_dirty_only_for_uncommitted_code_not_for_its_own_lines(house):
    root = house[0]
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "house"], check=True)
    recipe_run(house, fail_stage="pretrain")
    subprocess.run([*git, "add", "-A"], check=True)  # the partial log is committed, as a session's end asks
    subprocess.run([*git, "commit", "-qm", "partial log"], check=True)
    recipe_run(house)  # resumed: appends to the committed log
    commits = [line for line in log_of(house).splitlines() if line.startswith("# git ")]
    assert len(commits) == 2 and not any(line.endswith("+dirty") for line in commits)
    (root / "src" / "run.py").write_text("# edited\n")
    shutil.rmtree(f"/tmp/recipes/{house[2]}")
    (root / "bench" / "results" / "recipes" / f"{house[2]}.log").unlink()
    recipe_run(house)
    assert log_of(house).splitlines()[1].endswith("+dirty")


def test_an_interrupted_training_fails_with_its_status_and_still_logs_its_wall_time(house):
    done, calls = recipe_run(house, fail_stage="pretrain")
    assert done.returncode == 3
    assert len(calls) == 1
    log = log_of(house)
    assert "pretrain wall:" in log and "Correct:" not in log


@pytest.mark.parametrize("script", ["recipe_run.sh", "curve.sh"])
def test_a_script_edited_while_it_runs_finishes_as_it_started(house, script):
    root, fake, name = house
    edited = root / "bench" / script
    env = dict(os.environ, PYTHON=str(fake), CALLS=str(root / "calls"), EDIT_WHILE_RUNNING=str(edited))
    if script == "recipe_run.sh":
        command = ["bash", "bench/recipe_run.sh", name, "rope", "0", "--max_epochs 2"]
    else:
        seed = str(10**6 + int(name[5:], 16) % 10**6)  # its own work folders under /tmp/recipes
        command = ["bash", "bench/curve.sh", seed]
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    finally:
        if script == "curve.sh":
            for folder in Path("/tmp/recipes").glob(f"curve_*_s{seed}"):
                shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert edited.read_text().startswith("# edited while it ran")
    if script == "recipe_run.sh":
        assert done.stdout.strip() == "Correct: 1.0 out of 2.0: 50.0%"
    else:
        assert len(done.stdout.splitlines()) == 9 + 2 + 9  # each point, the table's head, its rows
        pretrainings = [call for call in (root / "calls").read_text().splitlines() if " pretrain " in call]
        assert len(pretrainings) == 9
        assert sum("--bucket --bucket_weighting character" in call for call in pretrainings) == 1
        assert "| rope | 150 | on, by character |" in done.stdout


def test_the_curve_table_sums_the_wall_over_resumptions_but_not_over_a_lost_start_and_skips_unfinished_points(house):
    root = house[0]
    recipes = root / "bench" / "results" / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "curve_rope_ep75_bucket_s0.log").write_text(
        "# pretrain: from the start\npretrain wall: 600 s\n"  # its saved state went with a lost machine
        "# pretrain: from the start\npretrain wall: 120 s\n"  # started again, then stopped by SIGTERM
        "pretrain wall: 60 s\n"  # resumed from the saved state
        "cloze recall: 9 of 10 places (90.0%) in x\n"
        "name recall: 5 of 10 places (50.0%) written on from the title alone\n"
        "Correct: 3.0 out of 4.0: 75.0%\n")
    (recipes / "curve_vanilla_ep75_bucket_s0.log").write_text("# pretrain: from the start\nepoch 1 iter 0: ...\n")
    (recipes / "curve_rope_ep75_bucket_s1.log").write_text(
        "pretrain wall: 300 s\ncloze recall: 8 of 10 places (80.0%) in x\nCorrect: 1.0 out of 4.0: 25.0%\n")
    (recipes / "curve_rope_ep75_bucket_s0_rerun.log").write_text("Correct: 4.0 out of 4.0: 100.0%\n")

    def table(*seed):
        done = subprocess.run(["bash", "bench/curve.sh", "--table", *seed], cwd=root, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[2:]
    seed_0 = "| rope | 75 | on | 0 | 3 min | 90.0% | 50.0% | 75.0% |"  # the unfinished vanilla point left out
    seed_1 = "| rope | 75 | on | 1 | 5 min | 80.0% |  | 25.0% |"
    assert table() == [seed_0, seed_1], "every seed's row, and no rerun kept under another name"
    assert table("1") == [seed_1]
