"""Opt-in pretraining data beyond the assignment's: knowledge augmentation and mixed training.

From "Physics of Language Models: Part 3.1, Knowledge Storage and Extraction" (Allen-Zhu and
Li, 2023): a fact seen in one fixed phrasing is memorised but hard to extract for people whose
questions were never trained; rephrasing the documents (the full name repeated) and mixing
question/answer items of the training people into pretraining make it extractable.

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
    "skipwords": "each word of the body except the person's own name is left out of a view with "
                 "probability 0.3 (drawn afresh for every view): the place follows the name in ever "
                 "different contexts, so that it must be recalled from the name, not from the words "
                 "around it (a cheap stand-in for the paper's several phrasings of a biography)",
    "tailspan": "the masked span is always the view's last characters, so the model reads every "
                "document in order up to it (prefix + two marks + the rest); the infilling of a middle "
                "span is dropped",
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


def unknown_augmentations(names):
    return sorted(set(names) - AUGMENTATIONS.keys())


class AugmentedCorruptionDataset(CharCorruptionDataset):
    """A CharCorruptionDataset's examples drawn from augmented documents (same vocabulary)."""

    def __init__(self, plain, augmentations):  # shares the plain dataset's vocabulary
        unknown = unknown_augmentations(augmentations)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {', '.join(unknown)}: choose from {', '.join(AUGMENTATIONS)}")
        self.stoi, self.itos = plain.stoi, plain.itos
        self.block_size, self.vocab_size = plain.block_size, plain.vocab_size
        self.augmentations = tuple(augmentations)
        self.data = plain.data
        if "fullname" in self.augmentations:
            self.data = [full_name(document) for document in self.data]
        if "skipwords" in self.augmentations:
            self.parts = [title_and_body(document) for document in self.data]

    def truncated_document(self, idx):
        """The assignment's cut to [4, 112] characters ([56, 112] with longviews), of document idx
        or (skipwords) of a view of it with words left out."""
        document = skip_words(*self.parts[idx]) if "skipwords" in self.augmentations else self.data[idx]
        longest = int(self.block_size * 7 / 8)
        shortest = longest // 2 if "longviews" in self.augmentations else 4
        return document[:random.randint(shortest, longest)]

    def span_start(self, document, span):
        if "tailspan" not in self.augmentations:
            return super().span_start(document, span)
        return len(document) - span


class MixedDataset(Dataset):
    """Pretraining documents with question/answer items interleaved at a given share.

    An epoch holds every document once, in order, and round(documents * share / (1 - share))
    QA items spread evenly between them; each QA slot draws a random item (Python's random, so a
    seeded run repeats). QA items keep NameDataset's format and loss (only the answer), padded
    to the documents' length.
    """

    def __init__(self, documents, questions, share):
        if not 0 < share < 1:
            raise ValueError(f"the QA share must be between 0 and 1 (got {share})")
        self.documents, self.questions = documents, questions
        self.qa_per_epoch = round(len(documents) * share / (1 - share))
        self.length = len(documents) + self.qa_per_epoch
        # slot i holds a QA item where the running count of QA slots, i * share, steps up
        self.is_qa = [int((i + 1) * self.qa_per_epoch / self.length) > int(i * self.qa_per_epoch / self.length)
                      for i in range(self.length)]
        self.document_index = []
        count = 0
        for qa in self.is_qa:
            self.document_index.append(None if qa else count)
            count += not qa

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        if not self.is_qa[idx]:
            return self.documents[self.document_index[idx]]
        x, y = self.questions[random.randrange(len(self.questions))]  # (block_size - 1,) each
        pad = torch.zeros(1, dtype=x.dtype)
        return torch.cat([x, pad]), torch.cat([y, pad])  # (block_size,) each; pad id 0 carries no loss


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
