"""How much did pretraining memorise? Cloze recall of the birth place in the person's own document.

    python bench/recall_probe.py PARAMS VARIANT [--tsv birth_places_train.tsv] [--wiki wiki.txt]

For each person of the TSV whose place occurs verbatim in the first 112 characters of their
wiki.txt document, the pretrained model reads the document up to the place and continues it
greedily; recall is the share of continuations that start with the place. The prefix of a span
corruption example is plain text, so this asks the pretraining task itself, with no finetuning.
Use the training TSV (the default): dev and test are for the final evaluation only.
"""
import argparse
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from analyze import find_documents, person  # noqa: E402
from checkpoint import load_params  # noqa: E402
from dataset import CharCorruptionDataset  # noqa: E402
from decoding import greedy_complete  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from utils import read_eval_file  # noqa: E402


def cloze_prompts(questions, places, documents, block_size):
    """(document prefix up to the place, place) for every place found early in its document."""
    pairs = []
    for document, place in zip(find_documents([person(q) for q in questions], documents), places):
        start = -1 if document is None else document.find(place)
        if start >= 3 and start + len(place) <= int(block_size * 7 / 8):
            pairs.append((document[:start], place))
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("params")
    parser.add_argument("variant", choices=["vanilla", "rope"])
    parser.add_argument("--tsv", default=str(ROOT / "birth_places_train.tsv"))
    parser.add_argument("--wiki", default=str(ROOT / "wiki.txt"))
    args = parser.parse_args()
    wiki = Path(args.wiki).read_text(encoding="utf-8")
    corpus = CharCorruptionDataset(wiki, 128)
    model = GPT(GPTConfig(corpus.vocab_size, 128, rope=args.variant == "rope"))
    load_params(model, args.params)
    questions, places = read_eval_file(args.tsv)
    pairs = cloze_prompts(questions, places, wiki.split("\n"), corpus.block_size)
    prompts = [[corpus.stoi[c] for c in prefix] for prefix, _ in pairs]
    completions = greedy_complete(model, prompts, 24, stop_token=-1)
    hits = sum("".join(corpus.itos[t] for t in c[len(p):]).startswith(place)
               for c, p, (_, place) in zip(completions, prompts, pairs))
    print(f"cloze recall: {hits} of {len(pairs)} places ({100 * hits / len(pairs):.1f}%) in {args.tsv}")


if __name__ == "__main__":
    main()
