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
- with --by_position, cloze recall by where the place ends in the document: views reach a late
  place less often, and a place right after the title ('NAME. Born in ') has no cue but the name.
- with --lead TEXT, name recall again with TEXT before each title ({name} in it becomes the
  person's name): pretraining puts every title at the start of its example, a question does not;
  does the model still recall the place once the name stands after other text? (The continuation
  stops at the block's 128 characters, lead included.)
- with --asked, the same for a model pretrained with `--augment fullname,asktitle`, whose views
  open with 'Where was NAME born? ': cloze recall of the document as those augmentations word
  it, and recall from the question alone, followed by a space (the view's opening) or by the
  mark (finetuning's); a hit holds the place anywhere in the continuation, up to the block.
- with --answered, for a finetuned model: its answer to each probed person's question (as
  evaluate predicts it) beside its name recall of that person, split by how far the place stands
  from the title. Can the question reach what the model still recites from the name?
Use the training TSV (the default): dev and test are for the final evaluation only.
"""
import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import devices  # noqa: E402
from analyze import find_documents, person  # noqa: E402
from augment import ask_title, full_name  # noqa: E402
from checkpoint import load_params  # noqa: E402
from dataset import CharCorruptionDataset  # noqa: E402
from decoding import clean_questions, greedy_complete, predict_places  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from recipes import TRAINING_FILE  # noqa: E402
from utils import read_eval_file  # noqa: E402


def probe_people(questions, places, documents, longest):
    """(document, title 'NAME. ', place start, place) for every place that ends by character
    `longest` of its document."""
    return [probed for _, probed in probe_questions(questions, places, documents, longest)]


def probe_questions(questions, places, documents, longest):
    """(question, probe_people's tuple) for every probed person."""
    names = [person(q) for q in questions]
    people = []
    for question, name, document, place in zip(questions, names, find_documents(names, documents), places):
        start = -1 if document is None else document.find(place)
        if start >= 3 and start + len(place) <= longest:
            people.append((question, (document, document[:len(name) + 2], start, place)))
    return people


def cloze_prompts(people):
    """(document prefix up to the place, place) of each probed person."""
    return [(document[:start], place) for document, _, start, place in people]


def asked_prompts(people):
    """(document worded by fullname and asktitle up to its place, the question 'Where was NAME born?', place)
    of each probed person whose place survives the wording."""
    prompts = []
    for document, _, _, place in people:
        asked, body_start = ask_title(full_name(document))
        start = asked.find(place, body_start)
        if start >= 0:
            prompts.append((asked[:start], asked[:body_start - 1], place))
    return prompts


def cloze_hits(model, corpus, pairs):
    """Whether the greedy continuation of each (prefix, place) starts with the place."""
    continuations = continue_greedily(model, corpus, [prefix for prefix, _ in pairs], 24)
    return [text.startswith(place) for text, (_, place) in zip(continuations, pairs)]


PLACE_END_BINS = (0, 40, 56, 70, 84, 98, 113)  # [0, 40), [40, 56), ..., [98, 113): characters


def cloze_hits_by_place_end(people, hits, edges=PLACE_END_BINS):
    """[(lo, hi, hits, people)] for each bin [lo, hi) of the character where the place ends."""
    ends = [start + len(place) for _, _, start, place in people]
    return [(lo, hi, sum(hit for hit, end in zip(hits, ends) if lo <= end < hi), sum(lo <= end < hi for end in ends))
            for lo, hi in zip(edges, edges[1:])]


def name_recall_hits(continuations, places):
    """(hits, chance hits): continuations holding their own place, and holding the next person's."""
    hits = sum(place in text for text, place in zip(continuations, places))
    chance = sum(place in text for text, place in zip(continuations, places[1:] + places[:1]))
    return hits, chance


def name_recall(model, corpus, titles, places, longest, lead=""):
    """(hits, chance hits) of the greedy continuations of the titles, each preceded by `lead`
    ({name} in it: the person's name) and as long as it would be within `longest` characters
    of a document, or shorter where the lead would push it past the model's block."""
    return name_recall_hits(title_continuations(model, corpus, titles, longest, lead), places)


def title_continuations(model, corpus, titles, longest, lead=""):
    """What name_recall reads: the greedy continuation of each title after its lead."""
    prompts = [lead.format(name=title[:-2]) + title for title in titles]
    budgets = [max(0, min(longest - len(title), model.block_size - len(prompt)))
               for title, prompt in zip(titles, prompts)]
    return continue_each_greedily(model, corpus, prompts, budgets)


TITLE_GAP_BINS = (0, 10, 30, 50, 113)  # characters between the title's end and the place


def answered_by_gap(people, recalled, right, edges=TITLE_GAP_BINS):
    """[(lo, hi, people, recalled, answered right)] for each bin [lo, hi) of the characters
    between the title and the place."""
    gaps = [start - len(title) for _, title, start, _ in people]
    return [(lo, hi, sum(lo <= gap < hi for gap in gaps),
             sum(r for r, gap in zip(recalled, gaps) if lo <= gap < hi),
             sum(a for a, gap in zip(right, gaps) if lo <= gap < hi)) for lo, hi in zip(edges, edges[1:])]


def continue_each_greedily(model, corpus, texts, budgets):
    """The greedy continuation of each text, as many characters as its budget: the texts that share
    a budget are decoded together, so that none runs on past its own (beyond the block, decoding
    slides its window without a KV cache, a whole block's forward for every character)."""
    by_budget = defaultdict(list)
    for i, budget in enumerate(budgets):
        by_budget[budget].append(i)
    continuations = [None] * len(texts)
    for budget, indices in by_budget.items():
        for i, text in zip(indices, continue_greedily(model, corpus, [texts[i] for i in indices], budget)):
            continuations[i] = text
    return continuations


def continue_greedily(model, corpus, texts, steps):
    """The greedy continuation of each text: `steps` characters."""
    prompts = [[corpus.stoi[c] for c in text] for text in texts]
    completions = greedy_complete(model, prompts, steps, stop_token=-1)
    return ["".join(corpus.itos[t] for t in completion[len(prompt):])
            for completion, prompt in zip(completions, prompts)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("params")
    parser.add_argument("variant", choices=["vanilla", "rope"])
    parser.add_argument("--tsv", default=str(ROOT / TRAINING_FILE))
    parser.add_argument("--wiki", default=str(ROOT / "wiki.txt"))
    parser.add_argument("--by_position", action="store_true",
                        help="also print cloze recall by the character where the place ends")
    parser.add_argument("--asked", action="store_true",
                        help="also probe in the frame of --augment fullname,asktitle (cloze; from the question)")
    parser.add_argument("--answered", action="store_true",
                        help="also, for a finetuned model: its answers to the questions beside its name recall")
    parser.add_argument("--lead", help="also probe name recall with this text before each title "
                                       "({name}: the person's name), e.g. 'Where was {name} born? '")
    args = parser.parse_args()
    devices.prepare(torch.device("cpu"))  # subnormals flushed, as run.py evaluates
    wiki = Path(args.wiki).read_text(encoding="utf-8")
    corpus = CharCorruptionDataset(wiki, 128)
    model = GPT(GPTConfig(corpus.vocab_size, 128, rope=args.variant == "rope"))
    load_params(model, args.params)
    questions, places = read_eval_file(args.tsv)
    longest = corpus.longest_view
    asked_people = probe_questions(questions, places, wiki.split("\n"), longest)
    people = [probed for _, probed in asked_people]
    count = len(people)
    hits_by_person = cloze_hits(model, corpus, cloze_prompts(people))
    hits = sum(hits_by_person)
    print(f"cloze recall: {hits} of {count} places ({100 * hits / count:.1f}%) in {args.tsv}")
    if args.by_position:
        for lo, hi, bin_hits, people_in_bin in cloze_hits_by_place_end(people, hits_by_person):
            share = f"{100 * bin_hits / people_in_bin:.1f}%" if people_in_bin else "-"
            print(f"  place ends at character [{lo}, {hi}): {bin_hits} of {people_in_bin} ({share})")
    titles = [title for _, title, _, _ in people]
    places = [place for *_, place in people]
    continuations = title_continuations(model, corpus, titles, longest)
    hits, chance = name_recall_hits(continuations, places)
    print(f"name recall: {hits} of {count} places ({100 * hits / count:.1f}%) written on from the title alone "
          f"(another person's place: {chance}, {100 * chance / count:.1f}%)")
    if args.lead is not None:
        hits, chance = name_recall(model, corpus, titles, places, longest, args.lead)
        print(f"name recall after {args.lead!r}: {hits} of {count} places ({100 * hits / count:.1f}%) "
              f"(another person's place: {chance}, {100 * chance / count:.1f}%)")
    if args.asked:
        asked_recall(model, corpus, people)
    if args.answered:
        answered_recall(model, corpus, [question for question, _ in asked_people], people, continuations)


def asked_recall(model, corpus, people):
    """Print the --asked recalls: cloze in the asked wording, and from the question alone."""
    prompts = asked_prompts(people)
    count, places = len(prompts), [place for *_, place in prompts]
    hits = sum(cloze_hits(model, corpus, [(prefix, place) for prefix, _, place in prompts]))
    print(f"asked cloze recall: {hits} of {count} places ({100 * hits / count:.1f}%) in the document worded "
          f"by fullname,asktitle")
    for after in (" ", corpus.MASK_CHAR):
        questions = [question + after for _, question, _ in prompts]
        budgets = [model.block_size - len(question) for question in questions]
        hits, chance = name_recall_hits(continue_each_greedily(model, corpus, questions, budgets), places)
        print(f"recall after 'Where was {{name}} born?{after}': {hits} of {count} places ({100 * hits / count:.1f}%) "
              f"(another person's place: {chance}, {100 * chance / count:.1f}%)")


def answered_recall(model, corpus, questions, people, title_texts):
    """Print the --answered split: right answers among the people recalled from the title (what it
    wrote on from each, `title_texts`) and the others, by the place's distance from the title, and
    how many wrong answers are training places."""
    places = [place for *_, place in people]
    recalled = [place in text for text, place in zip(title_texts, places)]
    answers = predict_places(model, clean_questions(questions, corpus.stoi)[0], corpus.stoi, corpus.itos)
    right = [answer == place for answer, place in zip(answers, places)]
    count, kept = len(people), sum(recalled)
    print(f"answered: {sum(right)} of {count} ({100 * sum(right) / count:.1f}%); of the {kept} recalled from the "
          f"title, {sum(r and a for r, a in zip(recalled, right))}; of the other {count - kept}, "
          f"{sum(a and not r for r, a in zip(recalled, right))}")
    for lo, hi, in_bin, recalled_in_bin, right_in_bin in answered_by_gap(people, recalled, right):
        print(f"  place [{lo}, {hi}) characters after the title: {in_bin} people, {recalled_in_bin} recalled, "
              f"{right_in_bin} answered")
    training_places = set(read_eval_file(ROOT / TRAINING_FILE)[1])
    wrong = [answer for answer, r in zip(answers, right) if not r]
    print(f"  wrong answers that are a place of {TRAINING_FILE}: {sum(a in training_places for a in wrong)} "
          f"of {len(wrong)}")


if __name__ == "__main__":
    main()
