"""Shared by the analysis scripts: importing src/, and saving a figure when matplotlib is there."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
FIGURES = Path(__file__).resolve().parent / "figures"


def pyplot():
    """matplotlib.pyplot on a file backend, or None (figures are optional)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print("(matplotlib is not installed: no figure)")
        return None


def save(figure, name):
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / name
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"figure: {path}")
