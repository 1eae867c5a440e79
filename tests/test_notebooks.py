"""Both notebooks run headless, top to bottom, in their quick modes; committed ones carry no outputs."""
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

pytestmark = pytest.mark.slow


def execute(path, cwd):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} is committed with outputs"
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)


def test_char_demo(monkeypatch):
    monkeypatch.setenv("MINGPT_DEMO_QUICK", "1")
    text = execute(ROOT / "mingpt-demo" / "play_char.ipynb", ROOT / "mingpt-demo")
    assert "Model on device:" in text
    sample = text.rstrip().split("\n")[-8:]
    assert sum(len(line) for line in sample) > 100, "ends with a generated sample"


def test_colab_pipeline(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSIGNMENT_QUICK", "1")
    for name in ["src", "scripts", "wiki.txt", "birth_places_train.tsv", "birth_dev.tsv", "birth_test_inputs.tsv",
                 "london_baseline.py", "collect_submission.sh", "pipeline.sh", "requirements.txt", "colab.ipynb"]:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    text = execute(tmp_path / "colab.ipynb", tmp_path)
    for name in ["London baseline", "vanilla, no pretraining", "vanilla, pretrained", "RoPE, pretrained"]:
        assert f"{name}: Correct:" in text
    assert "London baseline: Correct: 25.0 out of 500.0: 5.0%" in text
    assert "+ python src/run.py pretrain rope wiki.txt --writing_params_path quick/rope.pretrain.params" in text
    assert (tmp_path / "quick" / "assignment4_submission.zip").exists()
    assert not (tmp_path / ".venv").exists(), "the pipeline ran the kernel's Python, with nothing to install"
