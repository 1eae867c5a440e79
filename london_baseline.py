"""Accuracy of predicting "London" for every dev line: the bar a model must clear.

    python london_baseline.py [--eval_corpus_path birth_dev.tsv] [--outputs_path london_baseline_accuracy.txt]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from fileio import UserError, atomic_write_text, check_output  # noqa: E402
from utils import read_eval_corpus, score_places  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval_corpus_path", default="birth_dev.tsv")
    parser.add_argument("--outputs_path", default="london_baseline_accuracy.txt")
    args = parser.parse_args(argv)
    try:
        check_output(args.outputs_path, "outputs file", [(args.eval_corpus_path, "eval corpus")])
        _, questions, places = read_eval_corpus(args.eval_corpus_path)  # read once: a pipe works
        if places is None:
            raise UserError(f"{args.eval_corpus_path} has no gold places to score against")
        total, correct = score_places(places, ["London"] * len(questions), args.eval_corpus_path)
        accuracy = correct / total * 100
        atomic_write_text(args.outputs_path, f"{accuracy}\n")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Correct: {correct} out of {total}: {accuracy}%")
    print(f"London baseline accuracy written to {args.outputs_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
