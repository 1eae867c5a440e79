"""What did the model learn? Analyse birthplace predictions against the gold places and wiki.txt.

    python src/analyze.py --eval_corpus_path birth_dev.tsv \\
        --predictions vanilla.nopretrain.dev.predictions vanilla.pretrain.dev.predictions rope.pretrain.dev.predictions

For each predictions file: accuracy beside the London baseline; accuracy split by whether the
gold place appears verbatim in the person's wiki.txt document (knowledge pretraining could have
stored); the guessing level (what the same predictions, shuffled among the people, would get
right: the share of the accuracy that frequent places give without knowing the person); the
most frequent predictions against the most frequent gold places (the "default
guess" of handout 4(c)); correct and wrong examples side by side (4(b)). With several files,
where they agree and differ. With matplotlib installed, --charts DIR also writes PNG charts.
"""
import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fileio import UserError, read_text
from utils import read_eval_corpus

QUESTION_START, QUESTION_END = "Where was ", " born?"


@dataclass
class Analysis:
    name: str
    predictions: list
    correct: list  # bool per line
    in_document: list  # bool per line: the gold place occurs in the person's document

    @property
    def accuracy(self):
        return 100.0 * sum(self.correct) / len(self.correct)

    def correct_where(self, in_document=None):
        """The correct flags of the lines whose place is (True) or is not (False) in the person's
        document; every line's with None."""
        return [c for c, d in zip(self.correct, self.in_document) if in_document is None or d == in_document]


def person(question):
    """The name in 'Where was NAME born?' (the whole question if it has another form)."""
    if question.startswith(QUESTION_START) and question.endswith(QUESTION_END):
        return question[len(QUESTION_START):-len(QUESTION_END)]
    return question


def find_documents(names, documents):
    """The wiki.txt document of each person (documents start with 'NAME.'), or None."""
    by_start = {}
    for document in documents:
        by_start.setdefault(document.split(". ", 1)[0], document)
    found = []
    for name in names:
        document = by_start.get(name)
        if document is None:  # names with a period in them ("John F. Kennedy")
            document = next((d for d in documents if d.startswith(name + ".")), None)
        found.append(document)
    return found


def analyse(name, predictions, places, documents):
    correct = [p == g for p, g in zip(predictions, places)]
    in_document = [d is not None and g in d for g, d in zip(places, documents)]
    return Analysis(name, predictions, correct, in_document)


def guessing_level(predictions, places):
    """Expected correct lines if the predictions were shuffled among the people: a random
    permutation keeps how often each place is guessed and drops what is known of each person."""
    guessed, gold = Counter(predictions), Counter(places)
    return sum(count * gold[place] for place, count in guessed.items()) / len(places)


def percent(part, whole):
    return f"{100.0 * part / whole:5.1f}%" if whole else "   n/a"


def report(analysis, places, questions, london, examples):
    """Print the findings for one predictions file."""
    n = len(places)
    print(f"\n== {analysis.name}")
    print(f"accuracy {analysis.accuracy:.1f}% ({sum(analysis.correct)} of {n}); London baseline {london:.1f}%")
    for label, flag in [("in", True), ("not in", False)]:
        rows = analysis.correct_where(flag)
        print(f"  gold place {label} the person's wiki document: {len(rows):4d} lines, "
              f"accuracy {percent(sum(rows), len(rows))}")
    guessed = guessing_level(analysis.predictions, places)
    print(f"  guessing level: shuffled among the people, these predictions would be right on {guessed:.1f} "
          f"({100.0 * guessed / n:.1f}%); {max(0.0, sum(analysis.correct) - guessed):.1f} lines beyond it")
    predicted, gold = Counter(analysis.predictions).most_common(5), Counter(places).most_common(5)
    print("  most frequent predictions         most frequent gold places")
    for (p, pc), (g, gc) in zip(predicted, gold):
        print(f"  {p[:24]:<24} {pc:4d} ({percent(pc, n)})   {g[:24]:<24} {gc:4d}")
    for label, wanted in [("correct", True), ("wrong", False)]:
        rows = [i for i, c in enumerate(analysis.correct) if c == wanted][:examples]
        if rows:
            print(f"  {label} examples (person | gold | predicted):")
            for i in rows:
                print(f"    {person(questions[i])[:30]:<30} | {places[i][:20]:<20} | {analysis.predictions[i][:20]}")


def compare(analyses, questions, examples):
    """Print the files side by side (overall and by whether the place is in the document), and
    for each pair how they agree and which people only one of them gets right."""
    print("\n== side by side")
    width = max(len("predictions"), *(len(a.name) for a in analyses))  # whole names: runs often differ mid-name
    print(f"  {'predictions':<{width}} {'all':>6} {'in doc':>7} {'not in doc':>11}")
    for a in analyses:
        split = [a.correct_where(flag) for flag in (True, False)]
        print(f"  {a.name:<{width}} {a.accuracy:5.1f}% {percent(sum(split[0]), len(split[0])):>7} "
              f"{percent(sum(split[1]), len(split[1])):>11}")
    print("\n== agreement")
    for i, a in enumerate(analyses):
        for b in analyses[i + 1:]:
            same = sum(x == y for x, y in zip(a.predictions, b.predictions))
            both = sum(x and y for x, y in zip(a.correct, b.correct))
            only_a = [k for k, (x, y) in enumerate(zip(a.correct, b.correct)) if x and not y]
            only_b = [k for k, (x, y) in enumerate(zip(a.correct, b.correct)) if y and not x]
            print(f"{a.name} vs {b.name}: same prediction on {same} lines; both correct {both}, "
                  f"only the first {len(only_a)}, only the second {len(only_b)}")
            for label, rows in [("only the first", only_a), ("only the second", only_b)]:
                if rows and examples:
                    people = ", ".join(person(questions[k]) for k in rows[:examples])
                    print(f"  right {label}: {people}{', ...' if len(rows) > examples else ''}")


def pyplot():
    """matplotlib.pyplot on a file backend, or None: charts and figures are optional."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print("matplotlib is not installed: no charts or figures (pip install matplotlib)")
        return None


def charts(analyses, places, london, directory):
    """Accuracy bars (split by in-document) and prediction frequencies, as PNG files."""
    plt = pyplot()
    if plt is None:
        return []
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / 3
    for k, (label, select) in enumerate([("all lines", None), ("place in document", True),
                                         ("place not in document", False)]):
        values = []
        for a in analyses:
            rows = a.correct_where(select)
            values.append(100.0 * sum(rows) / max(1, len(rows)))
        axis.bar([i + (k - 1) * width for i in range(len(analyses))], values, width, label=label)
    axis.axhline(london, color="gray", linestyle="--", label="London baseline")
    axis.set_xticks(range(len(analyses)), [a.name for a in analyses], rotation=15, fontsize=8)
    axis.set_ylabel("accuracy (%)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    written = [directory / "accuracy.png"]
    figure.savefig(written[0], dpi=120)
    for a in analyses:
        figure, axis = plt.subplots(figsize=(7, 4))
        top = Counter(a.predictions).most_common(10)
        gold = Counter(places)
        axis.barh([p for p, _ in top][::-1], [c for _, c in top][::-1], label="predicted")
        axis.barh([p for p, _ in top][::-1], [gold[p] for p, _ in top][::-1], alpha=0.6, label="gold")
        axis.set_title(f"{a.name}: most frequent predictions")
        axis.legend()
        figure.tight_layout()
        written.append(directory / f"{Path(a.name).name}.top_predictions.png")
        figure.savefig(written[-1], dpi=120)
    plt.close("all")
    print(f"\ncharts written: {', '.join(str(p) for p in written)}")
    return written


def read_predictions(path, count):
    """One prediction per line, read as the other readers do (UTF-8, a BOM ignored, any line ending)."""
    try:
        with open(path, encoding="utf-8-sig", newline=None) as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise UserError(f"cannot read predictions {path!r}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"predictions {path!r} are not UTF-8 text ({e.reason} at byte {e.start})") from None
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != count:
        raise UserError(f"{path} has {len(lines)} predictions for {count} questions")
    return lines


def check_charts_directory(directory):
    """Fail before any work if the charts cannot go to `directory` (created if missing)."""
    if not directory:
        raise UserError("the --charts directory is empty")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UserError(f"--charts {directory!r} is a file, not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the charts directory {directory!r}: {e.strerror or e}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"cannot write charts to {directory!r}: the directory is not writable")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval_corpus_path", required=True, help="the TSV with gold places (e.g. birth_dev.tsv)")
    parser.add_argument("--predictions", nargs="+", required=True, help="one or more predictions files")
    parser.add_argument("--wiki", default="wiki.txt", help="the pretraining corpus (default wiki.txt)")
    parser.add_argument("--examples", type=int, default=5, help="correct and wrong examples to show")
    parser.add_argument("--charts", default=None, metavar="DIR", help="write PNG charts here (needs matplotlib)")
    args = parser.parse_args(argv)
    try:
        if args.charts is not None:
            check_charts_directory(args.charts)
        _, questions, places = read_eval_corpus(args.eval_corpus_path)
        if places is None:
            raise UserError(f"{args.eval_corpus_path} has no gold places to compare with")
        documents = find_documents([person(q) for q in questions], read_text(args.wiki, "wiki").split("\n"))
        london = 100.0 * sum(g == "London" for g in places) / len(places)
        analyses = [analyse(p, read_predictions(p, len(places)), places, documents) for p in args.predictions]
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    found = sum(d is not None for d in documents)
    print(f"{len(places)} questions; {found} people found in {args.wiki}; the gold place occurs in the "
          f"document for {sum(analyses[0].in_document)} of them")
    for a in analyses:
        report(a, places, questions, london, args.examples)
    if len(analyses) > 1:
        compare(analyses, questions, args.examples)
    if args.charts is not None:
        try:
            charts(analyses, places, london, args.charts)
        except OSError as e:
            print(f"error: cannot write a chart to {args.charts!r}: {e.strerror or e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader stopped early (`| head`): end quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
        sys.exit(1)
