"""Opt-in training data beyond the assignment's: knowledge augmentation, mixed training, replay.

From "Physics of Language Models: Part 3.1, Knowledge Storage and Extraction" (Allen-Zhu and
Li, 2023): a fact seen in one fixed phrasing is memorised but hard to extract for people whose
questions were never trained; rephrasing the documents (the full name repeated) and mixing
question/answer items of the training people into pretraining make it extractable. Replaying
documents while finetuning is rehearsal, the classic remedy for catastrophic forgetting: what
pretraining memorised about the people finetuning never asks about fades otherwise.

Each augmentation is a documented change of CharCorruptionDataset's input; the vocabulary, the
corruption and the example format stay the assignment's, so the params load in its code.
"""
import random
import re

import torch
from torch.utils.data import Dataset

from dataset import CharCorruptionDataset

AUGMENTATIONS = {
    "fullname": "the body's bare surname and sentence-initial He/She become the full name "
                "('Corrsin was born' -> 'Stanley Corrsin was born'), so that the fact follows the name",
    "longviews": "documents are cut to a random length in the upper half, [56, 112] characters, "
                 "instead of [4, 112]: a view holds the birth place (within the first 112 characters "
                 "for 95% of the training people) more often",
    "bornviews": "documents are cut 32-56 characters after their first 'born' (at most 112 characters; "
                 "[56, 112] as longviews where there is none): for 95% of the training people whose document "
                 "has one the place ends within 40 characters of it, so 90% of their views hold the place "
                 "against longviews' 79%, at the same mean length. No labels: every document is cut alike, "
                 "whoever it is about",
    "skipwords": "each word of the body except the person's own name is left out of a view with "
                 "probability 0.3 (drawn afresh for every view): the place follows the name in ever "
                 "different contexts, so that it must be recalled from the name, not from the words "
                 "around it (a cheap stand-in for the paper's several phrasings of a biography)",
    "tailspan": "the masked span is always the view's last characters, so the model reads every "
                "document in order up to it (prefix + two marks + the rest); the infilling of a middle "
                "span is dropped",
    "bornspan": "the masked span starts where the view's first 'born' ends (earlier if the span would not fit; "
                "anywhere, as the handout's, in views without one), so the model writes what follows 'born' "
                "(mostly ' in PLACE') after a mark from the rest of the view, as the finetuned model writes the "
                "place after the question's mark; the span's length stays the handout's. No labels: every view "
                "is masked alike. Not with tailspan",
    "rephrase": "the document's first 'was born in', 'Born in', 'born in' or 'born at' (not before a "
                "date) is worded anew for every view, drawn from four phrasings that end where the place "
                "begins ('was born in' -> 'was born in', 'was a native of', 'hailed from' or 'came from'); "
                "in 'born 14 June 1936 in' only the ' in ' is reworded (', a native of', ...). The place then "
                "follows the name in several wordings: a rule-made stand-in for the paper's several phrasings "
                "of each biography. 1,982 of the 2,937 documents have such a phrase. No labels: every "
                "document is reworded alike, whoever it is about",
    "packed": "each view follows the last 0-14 characters of another document drawn at random and a "
              "space, as in the packed sequences of GPT pretraining, so that the title no longer always "
              "opens the example: a question names the person after 'Where was ', and a model that only "
              "ever saw names at the start recalls far less after other text (bench/recall_probe.py --lead)",
    "askspan": "with asktitle: the masked span runs from the question's end to the end of the body's first 'born' "
               "(the handout's random span in views without one), so the example reads 'Where was NAME born?', a "
               "mark, then what follows the body's 'born' (mostly ' in PLACE' or a date and the place), as the "
               "finetuned model writes the place after the question's mark; the rest of the view follows the "
               "second mark. No labels: every view is cut alike. Not with tailspan or bornspan",
    "asktitle": "the title 'NAME. ' is worded as the finetuning question, 'Where was NAME born? ', so that in "
                "every view the name stands between the words it stands between when asked, and what the "
                "model memorises after it is reached from the question; the view keeps its characters of the "
                "document (up to 127 in all). No labels: every title is worded alike, whoever it names. "
                "Not with packed (the block holds one lead or the other)",
}


def title_and_body(document):
    """('NAME', 'body') of a wiki.txt document 'NAME. body'; a name may hold '. ' itself
    ('John F. Kennedy. ...'): the title is the shortest one whose surname recurs in the body."""
    starts = [m.start() for m in re.finditer(r"\. ", document)]
    for start in starts:
        name, body = document[:start], document[start + 2:]
        if name.split() and re.search(rf"\b{re.escape(name.split()[-1])}\b", body):
            return name, body
    if not starts:
        return None, document
    return document[:starts[0]], document[starts[0] + 2:]


def full_name(document):
    """'fullname': the person's full name wherever the body names them by surname or pronoun."""
    name, body = title_and_body(document)
    if name is None or len(name.split()) < 2:
        return document
    surname = re.escape(name.split()[-1])
    pieces = body.split(name)  # occurrences of the full name stay as they are
    pieces = [re.sub(rf"(?<![\w-]){surname}(?![\w-])", lambda _: name, piece) for piece in pieces]
    body = name.join(pieces)
    body = re.sub(r"(^|\. )(He|She) ", lambda m: f"{m.group(1)}{name} ", body)
    return f"{name}. {body}"


SKIPPED_SHARE = 0.3
PUNCTUATION = ".,;:()'\""


def skip_words(name, body, share=SKIPPED_SHARE):
    """'skipwords': the document with each body word left out with probability `share`, except the
    words of the person's name (title_and_body's parts; name None: no title)."""
    own = set(name.split()) if name else set()
    words = [word for word in body.split(" ") if word.strip(PUNCTUATION) in own or random.random() >= share]
    body = " ".join(words)
    return body if name is None else f"{name}. {body}"


MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
BIRTH_PHRASE = re.compile(rf"\b(?:was born in|was born at|Born in|born in|born at) (?!\d|{MONTH}\b)")  # not a date
DATED_BIRTH = re.compile(rf"\bborn (?:on |in )?(?:(?:\d{{1,2}} )?{MONTH}\.? (?:\d{{1,2}}, )?)?(?:c\. )?\d{{4}}( in )")
REPHRASINGS = {  # the words as found: the wordings a view draws from (the first is the words themselves)
    "was born in ": ("was born in ", "was a native of ", "hailed from ", "came from "),
    "was born at ": ("was born at ", "was a native of ", "hailed from ", "came from "),
    "Born in ": ("Born in ", "A native of ", "Hailing from ", "Coming from "),
    "born in ": ("born in ", "a native of ", "hailing from ", "coming from "),
    "born at ": ("born at ", "a native of ", "hailing from ", "coming from "),
    " in ": (" in ", ", a native of ", ", hailing from ", ", coming from "),  # after DATED_BIRTH's date
}


def rephrase(document):
    """'rephrase': the document with the words before its birth place worded at random, at the
    first BIRTH_PHRASE or DATED_BIRTH (there only the ' in ' after the date)."""
    found = [match for match in (BIRTH_PHRASE.search(document), DATED_BIRTH.search(document)) if match]
    if not found:
        return document
    first = min(found, key=lambda match: match.start())
    group = first.lastindex or 0  # DATED_BIRTH rewords its group only
    start, end = first.span(group)
    return document[:start] + random.choice(REPHRASINGS[first.group(group)]) + document[end:]


BORN = re.compile(r"\b[Bb]orn\b")
BORN_REACH = (32, 56)  # characters a 'bornviews' view runs on after 'born'
SPAN_PLACERS = {"tailspan", "bornspan", "askspan"}
QUESTION_OPENING, QUESTION_CLOSING = "Where was ", " born? "  # NameDataset's question, then a space


def ask_title(document):
    """'asktitle': the document with its title 'NAME. ' worded as the question 'Where was NAME born? ';
    (document, 0) without a title, else (worded document, where its body starts)."""
    name, body = title_and_body(document)
    if name is None:
        return document, 0
    question = f"{QUESTION_OPENING}{name}{QUESTION_CLOSING}"
    return question + body, len(question)


def unknown_augmentations(names):
    return sorted(set(names) - AUGMENTATIONS.keys())


def augmentation_conflict(names):
    """Why these augmentations cannot go together (None if they can)."""
    placers = sorted(SPAN_PLACERS & set(names))
    if len(placers) > 1:
        return f"{' and '.join(placers)} each choose where the masked span starts: pick one"
    if "askspan" in names and "asktitle" not in names:
        return "askspan cuts the span from the question's end: it needs asktitle"
    if {"asktitle", "packed"} <= set(names):
        return "asktitle and packed both put words before the name, and the block holds one or the other: pick one"
    return None


class AugmentedCorruptionDataset(CharCorruptionDataset):
    """A CharCorruptionDataset's examples drawn from augmented documents (same vocabulary)."""

    def __init__(self, plain, augmentations):  # shares the plain dataset's vocabulary
        unknown = unknown_augmentations(augmentations)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {', '.join(unknown)}: choose from {', '.join(AUGMENTATIONS)}")
        conflict = augmentation_conflict(augmentations)
        if conflict:
            raise ValueError(conflict)
        if "asktitle" in augmentations:
            missing = sorted(set(QUESTION_OPENING + QUESTION_CLOSING) - plain.stoi.keys())
            if missing:
                raise ValueError(f"asktitle writes the question's characters, and {''.join(missing)!r} "
                                 "are not in the corpus")
        self.stoi, self.itos = plain.stoi, plain.itos
        self.block_size, self.vocab_size = plain.block_size, plain.vocab_size
        self.augmentations = tuple(augmentations)
        self.data = plain.data
        self.view_start = 0  # characters before the document's body or view (packed lead) in the latest example
        if "fullname" in self.augmentations:
            self.data = [full_name(document) for document in self.data]
        if "skipwords" in self.augmentations:
            self.parts = [title_and_body(document) for document in self.data]

    def truncated_document(self, idx):
        """The assignment's cut to [4, 112] characters ([56, 112] with longviews, or a little after
        'born' with bornviews), of document idx or (skipwords) of a view of it with words left out,
        (rephrase) its birth phrase worded anew; (packed) after another document's end; (asktitle)
        with its title worded as the question."""
        document = skip_words(*self.parts[idx]) if "skipwords" in self.augmentations else self.data[idx]
        if "rephrase" in self.augmentations:
            document = rephrase(document)
        length = self.view_length(document)
        body_start = 0
        if "asktitle" in self.augmentations:
            asked, body_start = ask_title(document)
            length = min(length + len(asked) - len(document), self.block_size - 1)  # the view and two marks fit
            document = asked
        lead = self.lead() if "packed" in self.augmentations else ""
        self.view_start = len(lead) + body_start  # where span_start looks for 'born': never in a lead or question
        return lead + document[:length]

    def view_length(self, document):
        born = BORN.search(document) if "bornviews" in self.augmentations else None
        if born:
            return min(self.longest_view, born.end() + random.randint(*BORN_REACH))
        long_views = "longviews" in self.augmentations or "bornviews" in self.augmentations
        return random.randint(self.longest_view // 2 if long_views else 4, self.longest_view)

    def lead(self):
        """'packed': the end of a document drawn at random, then a space; 1 to 15 characters, what
        the block holds beyond the longest view (the example is the view and two marks)."""
        other = self.data[random.randrange(len(self.data))]
        kept = random.randint(0, self.block_size - 2 - self.longest_view)  # 0-14 characters of it
        return other[max(0, len(other) - kept):] + " "

    def masked_span(self, document):
        """(askspan) from the question's end to the end of the body's first 'born'."""
        asked = "askspan" in self.augmentations and self.view_start > 0  # a document without a title has no question
        born = BORN.search(document, self.view_start) if asked else None
        if born:
            start = self.view_start - len(" ")  # the question's closing space opens the span
            return start, born.end() - start
        return super().masked_span(document)

    def span_start(self, document, span):
        born = BORN.search(document, self.view_start) if "bornspan" in self.augmentations else None
        if born:
            return min(born.end(), len(document) - span)
        if "tailspan" in self.augmentations:
            return len(document) - span
        return super().span_start(document, span)


class MixedDataset(Dataset):
    """Every example of `base` once per epoch, in order, with examples drawn at random from `extra`
    interleaved at a given share: round(len(base) * share / (1 - share)) of them, spread evenly.

    Pretraining mixes QA items (extra) between the documents (base): "mixed training". Finetuning
    replays documents (extra) between the QA items (base), against forgetting what pretraining
    memorised about the people it never asks about. Draws use Python's random (a
    seeded run repeats). Items keep their own format and loss; a QA item (block_size - 1 long) is
    padded to block_size with pad id 0, which carries no loss.
    """

    def __init__(self, base, extra, share):
        if not 0 < share < 1:
            raise ValueError(f"the mixed share must be between 0 and 1 (got {share})")
        self.base, self.extra, self.block_size = base, extra, base.block_size
        self.extra_per_epoch = round(len(base) * share / (1 - share))
        self.length = len(base) + self.extra_per_epoch
        # slot i holds a drawn item where the running count of drawn slots, i * share, steps up
        self.is_drawn = [int((i + 1) * self.extra_per_epoch / self.length) > int(i * self.extra_per_epoch / self.length)
                         for i in range(self.length)]
        self.base_index = []
        count = 0
        for drawn in self.is_drawn:
            self.base_index.append(None if drawn else count)
            count += not drawn

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        if self.is_drawn[idx]:
            x, y = self.extra[random.randrange(len(self.extra))]
        else:
            x, y = self.base[self.base_index[idx]]
        pad = torch.zeros(self.block_size - len(x), dtype=x.dtype)
        return torch.cat([x, pad]), torch.cat([y, pad])  # (block_size,) each


def held_out_items(items, held_out, training=()):
    """{file: [question, ...]} of the (question, place) `items` that would bring a held-out
    file's data (dev, test) into training. `held_out` maps a file name to its (question, place)
    pairs (place None in a questions-only file); `training` holds the pairs of the official
    training file, which the assignment trains on anyway: a person of the training set who shares
    a name with a dev or test person (3 do) may be mixed, a dev line may not. Compared as
    NameDataset sees them (non-ASCII dropped, spaces stripped)."""
    def clean(text):
        return text.encode("ascii", "ignore").decode("ascii").strip()
    training_pairs = {(clean(q), clean(p)) for q, p in training}
    training_questions = {q for q, _ in training_pairs}
    found = {}
    for name, pairs in held_out.items():
        questions = {clean(q) for q, _ in pairs}
        labelled = {(clean(q), clean(p)) for q, p in pairs if p is not None}
        leaks = sorted({q for q, p in ((clean(q), clean(p)) for q, p in items)
                        if (q in questions and q not in training_questions)
                        or ((q, p) in labelled and (q, p) not in training_pairs)})
        if leaks:
            found[name] = leaks
    return found
