"""How much did pretraining memorise, and can it be recalled from the name alone?

    python bench/recall_probe.py PARAMS VARIANT [--tsv birth_places_train.tsv] [--wiki wiki.txt]

Asks the pretraining task itself, with no finetuning (the prefix of a span corruption example is
plain text), for each person of the TSV whose place occurs verbatim in the first 112 characters
of their wiki.txt document:
- cloze recall: the model reads the document up to the place and continues it greedily; a hit
  is a continuation that starts with the place. It measures memorisation, whatever the cue.
- name recall: the model reads only the document's title ('NAME. ') and writes on greedily up
  to 112 characters; a hit is a continuation that holds the place anywhere. The question of the
  finetuned model names the person and nothing else, so this is closer to what it can extract.
  The chance level beside it counts continuations that hold the place of the next person on
  the list instead (common places such as London come up unasked).
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


def probe_people(questions, places, documents, longest):
    """(document, title 'NAME. ', place start, place) for every place that ends by character
    `longest` of its document."""
    names = [person(q) for q in questions]
    people = []
    for name, document, place in zip(names, find_documents(names, documents), places):
        start = -1 if document is None else document.find(place)
        if start >= 3 and start + len(place) <= longest:
            people.append((document, document[:len(name) + 2], start, place))
    return people


def cloze_prompts(people):
    """(document prefix up to the place, place) of each probed person."""
    return [(document[:start], place) for document, _, start, place in people]


def name_recall_hits(continuations, places):
    """(hits, chance hits): continuations holding their own place, and holding the next person's."""
    hits = sum(place in text for text, place in zip(continuations, places))
    chance = sum(place in text for text, place in zip(continuations, places[1:] + places[:1]))
    return hits, chance


def continue_greedily(model, corpus, texts, steps, length=None):
    """The greedy continuation of each text: `steps` characters, cut where the whole reaches `length`."""
    prompts = [[corpus.stoi[c] for c in text] for text in texts]
    completions = greedy_complete(model, prompts, steps, stop_token=-1)
    return ["".join(corpus.itos[t] for t in completion[len(prompt):length])
            for completion, prompt in zip(completions, prompts)]


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
    longest = corpus.longest_view
    people = probe_people(questions, places, wiki.split("\n"), longest)
    count = len(people)
    pairs = cloze_prompts(people)
    continuations = continue_greedily(model, corpus, [prefix for prefix, _ in pairs], 24)
    hits = sum(text.startswith(place) for text, (_, place) in zip(continuations, pairs))
    print(f"cloze recall: {hits} of {count} places ({100 * hits / count:.1f}%) in {args.tsv}")
    titles = [title for _, title, _, _ in people]
    continuations = continue_greedily(model, corpus, titles, longest - min(map(len, titles)), longest)
    hits, chance = name_recall_hits(continuations, [place for *_, place in people])
    print(f"name recall: {hits} of {count} places ({100 * hits / count:.1f}%) written on from the title alone "
          f"(another person's place: {chance}, {100 * chance / count:.1f}%)")


if __name__ == "__main__":
    main()
