"""bench/recall_probe.py: who is probed, and the two recalls count what the model writes."""
import re
import sys

import torch

import recall_probe
from conftest import ROOT, small_model
from dataset import CharCorruptionDataset
from model import GPT, GPTConfig

DOCUMENTS = ["Ada Moss. Ada Moss was born in Paris.", "Bo Nash. Bo Nash was born in Lima.",
             "Cy Orr. Cy Orr, a cook from Oslo.", "Dee Pike. Dee Pike was a judge."]
PLACES = ["Paris", "Lima", "Oslo", "Rome"]
QUESTIONS = [f"Where was {d.split('.')[0]} born?" for d in DOCUMENTS]


def test_probe_people_are_those_whose_place_opens_their_document():
    people = recall_probe.probe_people(QUESTIONS, PLACES, DOCUMENTS, longest=112)
    assert [(title, start, place) for _, title, start, place in people] == [
        ("Ada Moss. ", 31, "Paris"), ("Bo Nash. ", 29, "Lima"), ("Cy Orr. ", 28, "Oslo")]  # Rome is not in Dee's
    assert recall_probe.cloze_prompts(people)[1] == ("Bo Nash. Bo Nash was born in ", "Lima")
    late = recall_probe.probe_people(QUESTIONS[:1], PLACES[:1], DOCUMENTS[:1], longest=35)
    assert late == []  # Paris ends at character 36
    assert len(recall_probe.probe_people(QUESTIONS[:1], PLACES[:1], DOCUMENTS[:1], longest=36)) == 1


def test_asked_prompts_word_the_document_as_asktitle_does():
    documents = ["Ada Moss. Moss was born in Paris.", "Bo Nash. Bo Nash was born in Lima."]
    people = recall_probe.probe_people(QUESTIONS[:2], PLACES[:2], documents, longest=112)
    assert recall_probe.asked_prompts(people) == [
        ("Where was Ada Moss born? Ada Moss was born in ", "Where was Ada Moss born?", "Paris"),
        ("Where was Bo Nash born? Bo Nash was born in ", "Where was Bo Nash born?", "Lima")]


def test_cloze_hits_are_counted_by_where_the_place_ends():
    people = recall_probe.probe_people(QUESTIONS, PLACES, DOCUMENTS, longest=112)  # places end at 36, 33, 32
    assert recall_probe.cloze_hits_by_place_end(people, [True, False, True], edges=(0, 33, 40, 50)) == [
        (0, 33, 1, 1), (33, 40, 1, 2), (40, 50, 0, 0)]  # Cy ends at 32; Ada (36, hit) and Bo (33, miss)


def test_answers_are_split_by_recall_and_by_the_places_distance_from_the_title():
    people = recall_probe.probe_people(QUESTIONS, PLACES, DOCUMENTS, longest=112)  # gaps: 21, 20, 20
    split = recall_probe.answered_by_gap(people, recalled=[True, True, False], right=[True, False, True],
                                         edges=(0, 21, 30))
    assert split == [(0, 21, 2, 1, 1), (21, 30, 1, 1, 1)]  # Bo and Cy (Cy answered unrecalled); Ada


def test_probed_questions_are_those_of_the_probed_people():
    asked = recall_probe.probe_questions(QUESTIONS, PLACES, DOCUMENTS, longest=112)
    assert [question for question, _ in asked] == QUESTIONS[:3]
    assert [probed for _, probed in asked] == recall_probe.probe_people(QUESTIONS, PLACES, DOCUMENTS, longest=112)


def test_name_recall_counts_own_places_and_the_chance_level():
    continuations = ["Ada Moss was born in Lima.", "Bo Nash was born in Oslo.", "Cy Orr of Oslo"]
    assert recall_probe.name_recall_hits(continuations, ["Paris", "Lima", "Oslo"]) == (1, 2)  # own: Cy; next: Ada, Bo


def test_a_model_that_memorised_the_documents_recalls_them_from_the_name():
    corpus = CharCorruptionDataset("\n".join(DOCUMENTS), 48)
    model = small_model(corpus.vocab_size, block_size=48)
    rows = torch.tensor([[corpus.stoi[c] for c in d.ljust(48, corpus.PAD_CHAR)] for d in DOCUMENTS[:2]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):  # learn the two documents by heart
        _, loss = model(rows[:, :-1], rows[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    titles = ["Ada Moss. ", "Bo Nash. "]
    continuations = recall_probe.continue_greedily(model, corpus, titles, 30)
    assert [len(text) for text in continuations] == [30, 30]
    assert continuations[0].startswith("Ada Moss was born in Paris.")
    assert continuations[1].startswith("Bo Nash was born in Lima.")
    assert recall_probe.name_recall(model, corpus, titles, ["Paris", "Lima"], longest=39) == (2, 0)


def test_a_lead_goes_before_each_title_and_the_budget_stays_the_titles(monkeypatch):
    prompts = []

    def fake_continue(model, corpus, texts, steps):
        prompts.extend(texts)
        return [" was born in Paris and died in Lima"[:steps]] * len(texts)

    monkeypatch.setattr(recall_probe, "continue_greedily", fake_continue)
    titles, places = ["Ada Moss. ", "Bo Nash. "], ["Paris", "Lima"]
    model = type("Model", (), {"block_size": 128})
    assert recall_probe.name_recall(model, None, titles, places, 30, lead="Where was {name} born? ") == (1, 1)
    assert prompts == ["Where was Ada Moss born? Ada Moss. ", "Where was Bo Nash born? Bo Nash. "]
    # Ada's 20 characters hold Paris; Bo's 21 hold no Lima, but Paris, the chance hit
    model.block_size = 40  # the continuations stop at the block: 5 and 7 characters, no place
    assert recall_probe.name_recall(model, None, titles, places, 30, lead="Where was {name} born? ") == (0, 0)


def test_each_text_is_continued_as_far_as_its_budget_and_no_further():
    corpus = CharCorruptionDataset("\n".join(DOCUMENTS + QUESTIONS), 48)
    torch.manual_seed(0)
    model = small_model(corpus.vocab_size, block_size=48)  # untrained: any continuation will do
    texts = ["Ada Moss. ", "Cy Orr. ", "Where was Bo Nash born? Bo Nash. ", "Dee Pike. "]
    budgets = [30, 40, 15, 30]
    each = recall_probe.continue_each_greedily(model, corpus, texts, budgets)
    assert [len(text) for text in each] == budgets
    # the same characters as one continuation as long as the longest budget, cut to each budget
    # (for the question, that one runs past the 48-character block and slides its window)
    longest = recall_probe.continue_greedily(model, corpus, texts, max(budgets))
    assert each == [text[:budget] for text, budget in zip(longest, budgets)]


def test_name_recall_never_asks_for_characters_past_the_block(monkeypatch):
    asked = []

    def record_continue(model, corpus, texts, steps):
        asked.extend((text, steps) for text in texts)
        return ["x" * steps] * len(texts)

    monkeypatch.setattr(recall_probe, "continue_greedily", record_continue)
    titles = ["Al Li. ", "Bo Nash. ", "Maximilian Oberhollenzer. "]
    model = type("Model", (), {"block_size": 60})
    recall_probe.name_recall(model, None, titles, ["Paris", "Lima", "Oslo"], 112, lead="Where was {name} born? ")
    assert sorted(asked) == sorted([("Where was Al Li born? Al Li. ", 31), ("Where was Bo Nash born? Bo Nash. ", 27),
                                    ("Where was Maximilian Oberhollenzer born? Maximilian Oberhollenzer. ", 0)])


def test_the_probe_prints_both_recalls(tmp_path, monkeypatch, capsys):
    wiki = (ROOT / "wiki.txt").read_text(encoding="utf-8")
    corpus = CharCorruptionDataset(wiki, 128)
    params = tmp_path / "random.params"
    torch.save(GPT(GPTConfig(corpus.vocab_size, 128)).state_dict(), params)  # untrained: the format is checked
    tsv = tmp_path / "three.tsv"
    tsv.write_text("".join((ROOT / "birth_places_train.tsv").read_text(encoding="utf-8").splitlines(True)[:3]))
    monkeypatch.setattr(sys, "argv", ["recall_probe.py", str(params), "vanilla", "--tsv", str(tsv),
                                      "--lead", "Where was {name} born? ", "--by_position", "--asked", "--answered"])
    recall_probe.main()
    out = capsys.readouterr().out
    assert re.search(r"^cloze recall: \d of 3 places \(\d+\.\d%\) in .*three\.tsv$", out, re.M)
    assert re.search(r"^name recall: \d of 3 places \(\d+\.\d%\) written on from the title alone "
                     r"\(another person's place: \d, \d+\.\d%\)$", out, re.M)
    assert re.search(r"^name recall after 'Where was \{name\} born\? ': \d of 3 places \(\d+\.\d%\) "
                     r"\(another person's place: \d, \d+\.\d%\)$", out, re.M)
    assert re.search(r"^asked cloze recall: \d of 3 places \(\d+\.\d%\) in the document worded by fullname,asktitle$",
                     out, re.M)
    for after in (" ", "\u2047"):
        assert re.search(rf"^recall after 'Where was \{{name\}} born\?{after}': \d of 3 places \(\d+\.\d%\) "
                         r"\(another person's place: \d, \d+\.\d%\)$", out, re.M), after
    assert re.search(r"^answered: \d of 3 \(\d+\.\d%\); of the \d recalled from the title, \d; of the other \d, \d$",
                     out, re.M)
    gaps = re.findall(r"^  place \[(\d+), (\d+)\) characters after the title: (\d) people, \d recalled, \d answered$",
                      out, re.M)
    assert sum(int(people) for *_, people in gaps) == 3
    assert re.search(r"^  wrong answers that are a place of birth_places_train\.tsv: \d of \d$", out, re.M)
    bins = re.findall(r"^  place ends at character \[(\d+), (\d+)\): (\d) of (\d) ", out, re.M)
    assert [(int(lo), int(hi)) for lo, hi, _, _ in bins] == list(zip(recall_probe.PLACE_END_BINS,
                                                                     recall_probe.PLACE_END_BINS[1:]))
    assert sum(int(people) for *_, people in bins) == 3
