"""Shared by the analysis scripts: importing src/, and saving a figure when matplotlib is there."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
FIGURES = Path(__file__).resolve().parent / "figures"

from analyze import pyplot  # noqa: E402,F401  (the scripts import it from here)


def save(figure, name):
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / name
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"figure: {path}")
