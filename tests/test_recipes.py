"""Opt-in pretraining data and recipes: knowledge augmentation, mixed training, presets. The
handout's behaviour stays the default, held-out questions never enter pretraining, and a
recipe's params load in the assignment's code."""
import random
import re

import pytest
import torch

import run
from augment import (REPHRASINGS, AugmentedCorruptionDataset, MixedDataset, ask_title, full_name, held_out_items,
                     rephrase, skip_words, title_and_body)
from conftest import ROOT, decode, fails, tiny_world
from dataset import MASK_CHAR, CharCorruptionDataset, NameDataset
from recipes import recipe_settings
from starter_model import StarterGPT
from test_cli import RecordingTrainer


def read(name):
    return (ROOT / name).read_text(encoding="utf-8")


def example_text(dataset, idx):
    """Example idx's input as characters, the padding stripped: 'prefix⁇suffix⁇masked'."""
    return decode(dataset, dataset[idx][0]).rstrip(dataset.PAD_CHAR)


# --- knowledge augmentation ---------------------------------------------------------------

@pytest.mark.parametrize("document, expected", [
    ("Stanley Corrsin. Corrsin was born on 3 April 1920 in Philadelphia .",
     "Stanley Corrsin. Stanley Corrsin was born on 3 April 1920 in Philadelphia ."),
    ("Ann Lee. She was born in Leeds . Lee-Smith is not Lee .",
     "Ann Lee. Ann Lee was born in Leeds . Lee-Smith is not Ann Lee ."),
    ("John F. Kennedy. Kennedy was born in Brookline .", "John F. Kennedy. John F. Kennedy was born in Brookline ."),
    ("Khatchig Mouradian. Khatchig Mouradian is a writer born in Lebanon .",
     "Khatchig Mouradian. Khatchig Mouradian is a writer born in Lebanon ."),
    ("Plato. He was born in Athens .", "Plato. He was born in Athens ."),  # one-word names stay
    ("Tom Moss. Mossberg was born in Oslo .", "Tom Moss. Mossberg was born in Oslo ."),
])
def test_full_name(document, expected):
    assert full_name(document) == expected


def test_full_name_keeps_the_vocabulary_and_every_document(wiki_text):
    plain = CharCorruptionDataset(wiki_text, 128)
    augmented = AugmentedCorruptionDataset(plain, ["fullname"])
    assert len(augmented.data) == len(plain.data) == 2937
    assert set("".join(augmented.data)) <= set(wiki_text)
    changed = sum(a != p for a, p in zip(augmented.data, plain.data))
    assert 700 < changed < 1100  # 812 documents name the person by surname only, 25 by He/She
    assert all(a.startswith(title_and_body(p)[0] + ". ") for a, p in zip(augmented.data, plain.data))


def test_long_views_hold_the_upper_half(tiny_corpus):
    views = AugmentedCorruptionDataset(tiny_corpus, ["longviews"])
    long_document = "Ada Moss was born in Paris " * 8
    views.data = [long_document]
    random.seed(0)
    lengths = {len(views.truncated_document(0)) for _ in range(2000)}
    longest = int(views.block_size * 7 / 8)
    assert lengths == set(range(longest // 2, longest + 1))
    x, y = views[0]
    assert x.shape == y.shape == (views.block_size,)


def test_born_views_end_a_little_after_born():
    early = "Ada Moss. Ada Moss was born in Paris and " + "x" * 100
    late = "Bo Li. " + "y" * 80 + " Born in Oslo " + "z" * 40
    unborn = "Cy Ng. " + "w" * 120  # no 'born', nor in the next one: cut as longviews
    documents = [early, late, unborn, "Di Wu. A newborn reborn " + "v" * 120]
    views = AugmentedCorruptionDataset(CharCorruptionDataset("\n".join(documents), 128), ["bornviews"])
    random.seed(0)
    lengths = [{len(views.truncated_document(idx)) for _ in range(2000)} for idx in range(4)]
    born_end = early.index("born") + 4
    assert lengths[0] == set(range(born_end + 32, born_end + 57))
    assert lengths[1] == {views.longest_view}, "at most 112 characters"
    assert lengths[2] == lengths[3] == set(range(views.longest_view // 2, views.longest_view + 1))
    assert all(views.truncated_document(0).startswith(early[:born_end + 32]) for _ in range(50))


def test_tail_span_reads_the_document_in_order(tiny_corpus):
    tail = AugmentedCorruptionDataset(tiny_corpus, ["tailspan"])
    for idx in range(len(tail)):
        text = example_text(tail, idx)
        prefix, empty, masked = text.split(MASK_CHAR)
        assert empty == "" and tail.data[idx].startswith(prefix + masked[:-1])


def test_born_span_masks_what_follows_born():
    documents = ["Ada Moss. Ada Moss, a poet and a cook, was born in Paris and wrote " + "x" * 40, "Bo Li. " + "y" * 60,
                 "Cy Ng. A newborn, Cy Ng was born in Oslo"]
    spans = AugmentedCorruptionDataset(CharCorruptionDataset("\n".join(documents), 128), ["longviews", "bornspan"])
    random.seed(0)
    starts = [set(), set(), set()]
    for _ in range(300):
        for idx, document in enumerate(documents):
            text = example_text(spans, idx)
            prefix, suffix, masked = text.split(MASK_CHAR)
            assert document.startswith(prefix + masked + suffix)
            starts[idx].add(len(prefix))
    born_end = documents[0].index("born") + 4
    assert max(starts[0]) == born_end and min(starts[0]) < born_end, "after 'born'; earlier where it would not fit"
    assert len(starts[1]) > 20, "no 'born': anywhere, as the handout's"
    assert max(starts[2]) == documents[2].index(" born") + 5, "'newborn' is not an anchor"
    with pytest.raises(ValueError, match="pick one"):
        AugmentedCorruptionDataset(spans, ["tailspan", "bornspan"])


def test_born_span_never_anchors_in_a_packed_lead():
    documents = ["Ada Moss. Ada Moss was born in Paris and wrote poems", "Cy Ng. " + "z" * 110 + " born"]
    spans = AugmentedCorruptionDataset(CharCorruptionDataset("\n".join(documents), 128),
                                       ["longviews", "packed", "bornspan"])
    random.seed(0)
    offsets, leads_with_born = set(), 0
    for _ in range(300):
        text = example_text(spans, 0)
        prefix, suffix, masked = text.split(MASK_CHAR)
        lead = (prefix + masked + suffix).split("Ada Moss. ")[0]
        leads_with_born += "born" in lead
        offsets.add(len(prefix) - len(lead))
    assert leads_with_born > 50, "the test needs leads that end with 'born'"
    assert min(offsets) >= 0 and max(offsets) == documents[0].index("born") + 4, "after the view's 'born'"


def test_packed_views_follow_another_documents_end(tiny_corpus):
    packed = AugmentedCorruptionDataset(tiny_corpus, ["longviews", "packed"])
    random.seed(2)
    leads = set()
    for _ in range(40):
        for idx in range(len(packed)):
            text = packed.truncated_document(idx)
            own = min(i for i in range(len(text)) if packed.data[idx].startswith(text[i:]))
            lead = text[:own]
            assert lead.endswith(" ") and any(d.endswith(lead[:-1]) for d in packed.data)
            leads.add(len(lead))
            x, _ = packed[idx]
            assert x.shape == (packed.block_size,)
    assert leads == set(range(1, packed.block_size - packed.longest_view)), "1-15 characters before the view"
    short = AugmentedCorruptionDataset(CharCorruptionDataset("Ada. x", 128), ["packed"])
    whole = sum(short.lead() == "Ada. x " for _ in range(1500))  # all of it when 6-14 of 0-14 are kept
    assert 800 < whole < 1000


@pytest.mark.parametrize("document, before, wordings, after", [
    ("Ada Moss. Born in Paris, Ada Moss wrote . Born in Oslo", "Ada Moss. ",
     {"Born in ", "A native of ", "Hailing from ", "Coming from "}, "Paris, Ada Moss wrote . Born in Oslo"),
    ("Bo Li. Bo Li was born at Ely and was born in Rye", "Bo Li. Bo Li ",
     {"was born at ", "was a native of ", "hailed from ", "came from "}, "Ely and was born in Rye"),
    ("Cy Ng. Cy Ng (born 3 March 1950 in Lima) was born in Rye", "Cy Ng. Cy Ng (born 3 March 1950",
     {" in ", ", a native of ", ", hailing from ", ", coming from "}, "Lima) was born in Rye"),
    ("Di Wu. Di Wu (born in 1951 in Kyiv) is a poet", "Di Wu. Di Wu (born in 1951",
     {" in ", ", a native of ", ", hailing from ", ", coming from "}, "Kyiv) is a poet"),
    ("Ed Fox. Ed Fox, a poet born in Cork", "Ed Fox. Ed Fox, a poet ",
     {"born in ", "a native of ", "hailing from ", "coming from "}, "Cork"),
])
def test_rephrase_words_the_first_birth_phrase_anew(document, before, wordings, after):
    random.seed(0)
    drawn = set()
    for _ in range(200):
        view = rephrase(document)
        assert view.startswith(before) and view.endswith(after), "only the words before the place change"
        drawn.add(view[len(before):len(view) - len(after)])
    assert drawn == wordings


@pytest.mark.parametrize("document", [
    "Ada Moss. Ada Moss is a poet .",
    "Bo Li. Bo Li was born on 3 March in Rye",  # no year: not a date this rule knows
    "Cy Ng. Cy Ng was born in March 1950 .",  # a date, no place after it
    "Di Wu. A newborn in Kyiv",
])
def test_rephrase_leaves_documents_without_a_birth_phrase_alone(document):
    assert all(rephrase(document) == document for _ in range(20))


def test_rephrased_views_feed_the_assignments_examples(wiki_text):
    plain = CharCorruptionDataset(wiki_text, 128)
    views = AugmentedCorruptionDataset(plain, ["fullname", "rephrase"])
    wordings = "".join(word for choices in REPHRASINGS.values() for word in choices)
    assert set(wordings) <= set(plain.stoi), "every wording is written in the assignment's vocabulary"
    random.seed(0)
    reworded = sum(rephrase(document) != document for document in views.data)
    assert 1300 < reworded < 1600  # 1,982 documents have a birth phrase; a quarter keep their words
    for idx in range(50):
        x, y = views[idx]
        assert x.shape == y.shape == (plain.block_size,) and int(x.max()) < plain.vocab_size


@pytest.mark.parametrize("document, expected", [
    ("Stanley Corrsin. Corrsin was born in Ely .", "Where was Stanley Corrsin born? Corrsin was born in Ely ."),
    ("John F. Kennedy. Kennedy was born in Rye .", "Where was John F. Kennedy born? Kennedy was born in Rye ."),
    ("no title here", "no title here"),
])
def test_ask_title_words_the_title_as_the_question(document, expected):
    asked, body_start = ask_title(document)
    assert asked == expected
    assert asked[body_start:] == (title_and_body(document)[1] if asked != document else document)


def test_asked_views_open_with_the_finetuning_question(wiki_text):
    plain = CharCorruptionDataset(wiki_text, 128)
    views = AugmentedCorruptionDataset(plain, ["fullname", "longviews", "tailspan", "asktitle"])
    corrsin = next(i for i, d in enumerate(views.data) if d.startswith("Stanley Corrsin. "))
    question = NameDataset(plain, "Where was Stanley Corrsin born?\tPhiladelphia\n")
    asked_text = decode(plain, question[0][0]).split(MASK_CHAR)[0]  # 'Where was ... born?'
    random.seed(0)
    lengths = set()
    for _ in range(300):
        view = views.truncated_document(corrsin)
        assert view.startswith(asked_text + " Stanley Corrsin was born"), "the question as finetuning asks it"
        lengths.add(len(view) - len(asked_text + " ") + len("Stanley Corrsin. "))
    assert lengths == set(range(56, len(views.data[corrsin]) + 1)), "each view keeps its characters of the document"
    longest = max(len(views.truncated_document(i)) for i in range(200) for _ in range(3))
    assert longest == plain.block_size - 1, "up to 127 characters: the view and two marks fill the block"
    x, y = views[corrsin]
    assert x.shape == y.shape == (plain.block_size,)


def test_asked_views_fit_small_blocks_and_never_anchor_in_the_question(tiny_corpus):
    views = AugmentedCorruptionDataset(tiny_corpus, ["asktitle", "bornspan"])
    random.seed(0)
    for _ in range(20):
        for idx in range(len(views)):
            x, y = views[idx]
            assert x.shape == y.shape == (tiny_corpus.block_size,)
    with pytest.raises(ValueError, match="not in the corpus"):
        AugmentedCorruptionDataset(CharCorruptionDataset("Ada Moss. Ada Moss was born in Paris", 32), ["asktitle"])
    document = "Ada Moss. Ada Moss was born in Paris and wrote poems about the sea"
    corpus = CharCorruptionDataset(document + "\nWhere? W", 128)
    spans = AugmentedCorruptionDataset(corpus, ["asktitle", "bornspan", "longviews"])
    asked = ask_title(document)[0]
    starts = set()
    for _ in range(200):
        text = example_text(spans, 0)
        starts.add(len(text.split(MASK_CHAR)[0]))
    assert max(starts) == asked.index(" born in") + len(" born"), "after the body's 'born', not the question's"
    with pytest.raises(ValueError, match="asktitle and packed"):
        AugmentedCorruptionDataset(tiny_corpus, ["asktitle", "packed"])


def test_ask_span_writes_what_follows_born_right_after_the_question():
    documents = ["Ada Moss. Ada Moss, a poet and a cook, was born in Paris and wrote " + "x" * 40,
                 "Bo Li. Born in Oslo, Bo Li sang", "Cy Ng. " + "y" * 60, "Where? W", "untitled, born in Rye"]
    corpus = CharCorruptionDataset("\n".join(documents), 128)
    spans = AugmentedCorruptionDataset(corpus, ["longviews", "asktitle", "askspan"])
    random.seed(0)
    unborn = set()
    cases = [("Where was Ada Moss born?", " Ada Moss, a poet and a cook, was born"), ("Where was Bo Li born?", " Born")]
    for _ in range(100):
        for idx, (question, masked_words) in enumerate(cases):
            text = example_text(spans, idx)
            prefix, suffix, masked = text.split(MASK_CHAR)
            assert (prefix, masked) == (question, masked_words)
            after_born = re.split("[Bb]orn", documents[idx], maxsplit=1)[1]
            assert after_born.startswith(suffix) and suffix.startswith(" in "), "what follows 'born'"
        unborn.add(len(example_text(spans, 2).split(MASK_CHAR)[0]))
        untitled = example_text(spans, 4).replace(MASK_CHAR, "")
        assert sorted(untitled) == sorted(documents[4]), "no title: the handout's random span"
    assert len(unborn) > 20, "no 'born' in the body: the handout's random span"
    for names, message in [(["askspan"], "needs asktitle"), (["asktitle", "askspan", "tailspan"], "pick one")]:
        with pytest.raises(ValueError, match=message):
            AugmentedCorruptionDataset(corpus, names)


def test_skip_words_keeps_the_name_and_leaves_out_a_share_of_the_rest():
    name, body = "Stanley Corrsin", "Stanley Corrsin (Corrsin) was born on 3 April 1920 in Philadelphia, Pennsylvania ."
    words = body.split(" ")
    random.seed(0)
    views = [skip_words(name, body) for _ in range(400)]
    kept = 0
    for view in views:
        assert view.startswith("Stanley Corrsin. Stanley Corrsin (Corrsin) ")
        view_words = view[len(name) + 2:].split(" ")
        it = iter(words)
        assert all(word in it for word in view_words), "the body's words in their order, some left out"
        kept += len(view_words) - 3
    assert 0.62 < kept / (400 * (len(words) - 3)) < 0.78  # 70% of the other words kept
    assert len(set(views)) > 150, "every view draws afresh (9 words: 512 views)"
    assert skip_words(name, body, share=0) == f"{name}. {body}"
    assert skip_words(name, body, share=1) == f"{name}. Stanley Corrsin (Corrsin)"
    assert skip_words(None, "no title here at all", share=1) == ""


def test_skipped_word_views_feed_the_assignments_examples(tiny_corpus):
    views = AugmentedCorruptionDataset(tiny_corpus, ["fullname", "skipwords"])
    random.seed(1)
    for idx in range(len(views)):
        name = title_and_body(views.data[idx])[0]
        assert views.truncated_document(idx).startswith(name[:4])
        x, y = views[idx]
        assert x.shape == y.shape == (views.block_size,) and int(x.max()) < views.vocab_size


def test_no_augmentation_draws_what_the_assignment_draws(tiny_corpus):
    same = AugmentedCorruptionDataset(tiny_corpus, [])
    random.seed(3)
    ours = [same[i] for i in range(len(same))]
    random.seed(3)
    theirs = [tiny_corpus[i] for i in range(len(tiny_corpus))]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ours, theirs))


# --- mixed training -----------------------------------------------------------------------

def test_mixed_dataset_interleaves_qa_items_evenly(tiny_corpus):
    questions = NameDataset(tiny_corpus, "Where was Ada Moss born?\tParis\nWhere was Bo Nash born?\tLima\n")
    mixed = MixedDataset(tiny_corpus, questions, 0.25)
    assert len(mixed) == 48 + 16 and sum(mixed.is_drawn) == 16
    gaps = [i for i, drawn in enumerate(mixed.is_drawn) if drawn]
    assert max(b - a for a, b in zip(gaps, gaps[1:])) <= 5  # spread out, not bunched at the end
    documents = [mixed.base_index[i] for i in range(len(mixed)) if not mixed.is_drawn[i]]
    assert documents == list(range(48)), "every document once, in the assignment's order"
    x, y = mixed[gaps[0]]
    assert x.shape == y.shape == (tiny_corpus.block_size,)
    text = decode(tiny_corpus, x)
    assert re.match(rf"Where was (Ada Moss|Bo Nash) born\?{MASK_CHAR}(Paris|Lima){MASK_CHAR}", text)
    answer = re.match(rf".*?{MASK_CHAR}(\w+){MASK_CHAR}", text).group(1)
    assert (y != 0).sum() == len(answer) + 2  # ⁇PLACE⁇: only the answer carries loss


def test_no_dev_or_test_question_can_enter_pretraining(files, capsys):
    """The real training TSV brings in no dev or test item (3 of its people share a name with a
    dev or test person, with their own places), and the guard refuses any mix corpus that does:
    the dev file itself, or training data with one dev line slipped in."""
    train, dev = ([tuple(line.split("\t")) for line in read(n).splitlines()]
                  for n in ("birth_places_train.tsv", "birth_dev.tsv"))
    test = [(line, None) for line in read("birth_test_inputs.tsv").splitlines()]
    held_out = {"dev": dev, "test": test}
    assert held_out_items(train, held_out, train) == {}
    assert held_out_items(train, held_out) == {"dev": ["Where was George Stone born?"],
                                               "test": ["Where was Rose Prince born?", "Where was Tom Arnold born?"]}
    homonym = ("Where was George Stone born?", "London")  # the dev George Stone, not the training one
    assert held_out_items(train + [homonym], held_out, train) == {"dev": ["Where was George Stone born?"]}
    assert held_out_items(train + [dev[7]], held_out, train) == {"dev": [dev[7][0]]}
    base = ["pretrain", "vanilla", str(files["wiki"]), "--writing_params_path", "p.params", "--max_steps", "1"]
    fails(capsys, *base, "--mix_corpus_path", files["dev"], "--eval_corpus_path", files["dev"],
          match="holds 12 question.* of the held-out file")
    # birth_dev.tsv beside the corpus is held out even when no --eval_corpus_path is given
    (files["dir"] / "birth_dev.tsv").write_text(files["dev"].read_text())
    leaky = files["dir"] / "leaky.tsv"
    leaky.write_text(files["train"].read_text() + files["dev"].read_text().splitlines()[5] + "\n")
    line = fails(capsys, *base, "--mix_corpus_path", leaky, match="holds 1 question.*birth_dev.tsv")
    assert "only training data may be mixed" in line
    assert not (files["dir"] / "p.params").exists()


def test_mixed_pretraining_draws_only_training_questions(files, monkeypatch, capsys):
    seen = []
    real_getitem = MixedDataset.__getitem__

    def record(self, idx):
        x, y = real_getitem(self, idx)
        if self.is_drawn[idx]:
            seen.append(decode(self.base, x).split(MASK_CHAR)[0])
        return x, y
    monkeypatch.setattr(MixedDataset, "__getitem__", record)
    assert run.main(["pretrain", "vanilla", str(files["wiki"]), "--writing_params_path", "p.params",
                     "--mix_corpus_path", str(files["train"]), "--mix_share", "0.5", "--batch_size", "16",
                     "--max_epochs", "1", "--eval_corpus_path", str(files["dev"])]) == 0
    assert "50% of examples QA items" in capsys.readouterr().out
    train = {line.split("\t")[0] for line in files["train"].read_text().splitlines()}
    dev = {line.split("\t")[0] for line in files["dev"].read_text().splitlines()}
    assert len(seen) == 48 and set(seen) <= train and not set(seen) & dev


@pytest.mark.parametrize("flags, message", [
    (["--augment", "fullname,shuffle"],
     "--augment 'fullname,shuffle': choose from fullname, longviews, bornviews, skipwords, tailspan, bornspan, "
     "rephrase, packed, askspan, asktitle"),
    (["--augment", ","], "choose from"),
    (["--augment", "bornspan,longviews,tailspan"], "bornspan and tailspan each choose where the masked span starts"),
    (["--augment", "packed,asktitle"], "asktitle and packed both put words before the name"),
    (["--mix_share", "1"], "--mix_share must be between 0 and 1"),
    (["--mix_share", "nan"], "--mix_share must be between 0 and 1"),
])
def test_bad_recipe_options(files, capsys, flags, message):
    fails(capsys, "pretrain", "vanilla", files["wiki"], "--writing_params_path", "p.params", *flags, match=message)


def test_asktitle_needs_the_questions_characters(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wiki.txt").write_text("Ada Moss. Ada Moss was born in Paris .\n", encoding="utf-8")
    fails(capsys, "pretrain", "rope", "wiki.txt", "--writing_params_path", "p.params", "--augment", "asktitle",
          match=r"--augment 'asktitle': asktitle writes the question's characters, and '\?Weh' are not in the corpus")
    assert not (tmp_path / "p.params").exists()


def test_pretraining_options_do_not_apply_to_finetuning(files, capsys):
    finetune = ["finetune", "vanilla", files["wiki"], "--writing_params_path", "f.params", "--finetune_corpus_path",
                files["train"]]
    fails(capsys, *finetune, "--augment", "fullname", match="--augment changes pretraining")
    fails(capsys, *finetune, "--mix_corpus_path", files["train"], match="--mix_corpus_path changes pretraining")
    fails(capsys, *finetune, "--replay_share", "1", match="--replay_share must be between 0 and 1")
    fails(capsys, *finetune, "--replay_share", "inf", match="--replay_share must be between 0 and 1")
    fails(capsys, "pretrain", "vanilla", files["wiki"], "--writing_params_path", "p.params", "--replay_share", "0.5",
          match="--replay_share replays documents while finetuning; it does not apply to pretrain")


# --- replay while finetuning ----------------------------------------------------------------

def test_replay_draws_documents_between_the_qa_items(tiny_corpus):
    questions = NameDataset(tiny_corpus, "".join(f"Where was {n} born?\t{p}\n" for n, p in tiny_world()[1][:10]))
    replayed = MixedDataset(questions, tiny_corpus, 0.5)
    assert len(replayed) == 20 and sum(replayed.is_drawn) == 10
    assert [replayed.base_index[i] for i in range(20) if not replayed.is_drawn[i]] == list(range(10))
    for i in range(20):
        x, y = replayed[i]
        assert x.shape == y.shape == (tiny_corpus.block_size,)
        text = decode(tiny_corpus, x)
        if replayed.is_drawn[i]:  # a span-corruption example: loss on (nearly) every character
            assert text.count(MASK_CHAR) == 2 and not text.startswith("Where was")
            assert (y != 0).sum() >= (x != 0).sum() - 1
        else:  # the QA item, with loss on the answer only
            assert text.startswith("Where was") and (y != 0).sum() < 12


def test_finetuning_with_replay_runs_and_says_so(files, capsys):
    finetune = ["finetune", "vanilla", str(files["wiki"]), "--finetune_corpus_path", str(files["train"]),
                "--max_epochs", "1", "--batch_size", "16", "--seed", "0"]
    assert run.main([*finetune, "--writing_params_path", "plain.params"]) == 0
    plain = capsys.readouterr().out
    assert run.main([*finetune, "--writing_params_path", "r.params", "--replay_share", "0.5",
                     "--augment", "fullname"]) == 0
    out = capsys.readouterr().out
    assert "augment fullname, 50% of examples replayed pretraining documents" in out
    steps = [int(re.search(r"x (\d+) steps", text).group(1)) for text in (plain, out)]
    assert steps == [3, 5]  # 36 QA items, then 36 + 36 replayed documents, in batches of 16


# --- recipes ------------------------------------------------------------------------------

def test_recipe_sets_defaults_and_explicit_flags_win(files, monkeypatch):
    monkeypatch.setattr(run, "Trainer", RecordingTrainer)
    RecordingTrainer.configs = []
    wiki = files["wiki"]
    run.main(["pretrain", "rope", str(wiki), "--writing_params_path", "p.params", "--recipe", "laptop"])
    run.main(["pretrain", "rope", str(wiki), "--writing_params_path", "p.params", "--recipe", "laptop",
              "--max_epochs", "7"])
    run.main(["pretrain", "rope", str(wiki), "--writing_params_path", "p.params"])
    run.main(["finetune", "rope", str(wiki), "--writing_params_path", "f.params", "--recipe", "laptop",
              "--finetune_corpus_path", str(files["train"])])
    (laptop, documents), (shorter, _), (handout, _), (finetune, _) = RecordingTrainer.configs
    pretrain = run.RECIPES["laptop"]["pretrain"]
    assert laptop.max_epochs == pretrain["max_epochs"] and laptop.batch_size == pretrain["batch_size"]
    assert laptop.learning_rate == pretrain["pretrain_lr"] and laptop.bucket == pretrain["bucket"]
    assert laptop.final_tokens == pretrain["cosine_epochs"] * documents * 128  # the lr ends halfway down
    assert laptop.label == "recipe laptop, dropout 0, augment fullname,longviews,packed, cosine over 120 epochs"
    assert laptop.optimizer == "muon" and finetune.optimizer == "adamw"
    assert shorter.max_epochs == 7 and shorter.batch_size == pretrain["batch_size"]
    assert (handout.max_epochs, handout.batch_size, handout.learning_rate, handout.bucket, handout.label) == \
        (650, 128, 6e-3, False, "")
    assert handout.micro_batch_size is None
    assert (finetune.batch_size, finetune.micro_batch_size, finetune.learning_rate) == (256, 32, 1e-4)
    assert finetune.label == "recipe laptop, dropout 0"


@pytest.mark.parametrize("variant, pretraining_label, finetuning_label", [
    ("rope", "recipe best, dropout 0, augment fullname,longviews,packed", "recipe best, dropout 0"),
    ("vanilla", "recipe best",  # the handout's dropout and documents: no departure named
     "recipe best, dropout 0, augment asktitle, 25% of examples replayed pretraining documents"),
])
def test_best_recipe_keeps_the_handouts_compute_and_finetunes_gently(files, monkeypatch, variant, pretraining_label,
                                                                     finetuning_label):
    monkeypatch.setattr(run, "Trainer", RecordingTrainer)
    RecordingTrainer.configs = []
    wiki = files["wiki"]
    run.main(["pretrain", variant, str(wiki), "--writing_params_path", "p.params", "--recipe", "best"])
    run.main(["finetune", variant, str(wiki), "--writing_params_path", "f.params", "--recipe", "best",
              "--reading_params_path", "p.params", "--finetune_corpus_path", str(files["train"])])
    (pretrain, _), (finetune, _) = RecordingTrainer.configs
    assert (pretrain.max_epochs, pretrain.batch_size, pretrain.learning_rate, pretrain.bucket) == \
        (650, 128, 6e-3, False)
    assert pretrain.label == pretraining_label
    assert (finetune.max_epochs, finetune.batch_size, finetune.learning_rate) == (10, 256, 1e-4)
    assert finetune.label == finetuning_label


def test_a_variants_own_recipe_entry_wins_for_its_function_only(monkeypatch):
    monkeypatch.setitem(run.RECIPES, "trial", {"pretrain": {"dropout": 0.0}, "finetune": {"finetune_lr": 1e-4},
                                               "vanilla": {"pretrain": {"batch_size": 32}}})
    assert recipe_settings("trial", "pretrain", "rope") == {"dropout": 0.0}
    assert recipe_settings("trial", "pretrain", "vanilla") == {"batch_size": 32}
    assert recipe_settings("trial", "finetune", "vanilla") == {"finetune_lr": 1e-4}
    assert recipe_settings("trial", "evaluate", "vanilla") == {}


def test_a_recipe_run_loads_in_the_assignments_model(files, capsys):
    assert run.main(["pretrain", "rope", str(files["wiki"]), "--writing_params_path", "p.params",
                     "--recipe", "laptop", "--augment", "fullname,longviews", "--mix_corpus_path",
                     str(files["train"]), "--max_steps", "2"]) == 0
    line = "training: recipe laptop, dropout 0, augment fullname,longviews, cosine over 120 epochs, 25% of examples QA"
    assert line in capsys.readouterr().out
    state = torch.load(files["dir"] / "p.params", weights_only=True)
    vocab = state["tok_emb.weight"].size(0)
    from model import GPTConfig
    config = GPTConfig(vocab, 128, n_layer=4, n_head=8, n_embd=256, rope=True)
    StarterGPT(config).load_state_dict(state)  # strictly: the assignment's names and shapes


def test_gpu_scripts_askreplay_finetuning_is_the_best_recipes_vanilla_finetuning():
    """bench/gpu_recipes.sh spells that finetuning out as flags (to give it to RoPE as well): they
    must set what --recipe best sets for vanilla, nothing more, nothing less."""
    flags = re.search(r'^ask_replay="([^"]*)"$', read("bench/gpu_recipes.sh"), re.MULTILINE).group(1).split()
    spelled = vars(run.parse_arguments(["finetune", "rope", "wiki.txt", *flags]))
    handout = vars(run.parse_arguments(["finetune", "rope", "wiki.txt"]))
    changed = {name: value for name, value in spelled.items() if value != handout[name]}
    assert changed == recipe_settings("best", "finetune", "vanilla")
