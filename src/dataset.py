"""Datasets of the birthplace assignment: span corruption for pretraining, name/place for finetuning.

Self-contained on purpose: an autograder imports this file alone and draws examples from it.
Randomness comes from Python's `random` module, as in the assignment (seed it to reproduce).
"""
import argparse
import random
from pathlib import Path

import torch
from torch.utils.data import Dataset

MASK_CHAR = "\u2047"  # ⁇ marks the masked span (and, in finetuning, the answer)
PAD_CHAR = "\u25A1"  # □ pads every example to a fixed length; id 0 is ignored by the loss


class ReservedCharacterError(AssertionError, ValueError):
    """The text contains ⁇ or □, which the vocabulary reserves for ids 1 and 0.

    An AssertionError for callers that follow the assignment, a ValueError for everyone else.
    """


class CharCorruptionDataset(Dataset):
    """Pretraining examples: each document, truncated, with one span cut out and moved to the end.

    Example (document truncated to "Khatchig Mouradian. Khatch", span "n. K" masked):
        Khatchig Mouradia⁇hatch⁇n. K□□□...   -> x = all but the last char, y = all but the first.
    """

    MASK_CHAR = MASK_CHAR
    PAD_CHAR = PAD_CHAR

    def __init__(self, data, block_size):
        if block_size < 5:
            raise ValueError(f"block_size must be at least 5 (got {block_size}): documents are "
                             f"truncated to between 4 and int(block_size*7/8) characters")
        if MASK_CHAR in data or PAD_CHAR in data:
            raise ReservedCharacterError(f"the text contains {MASK_CHAR!r} or {PAD_CHAR!r}, "
                                         f"which are reserved for the mask and pad tokens")
        chars = [PAD_CHAR, MASK_CHAR] + sorted(set(data))
        print(f"data has {len(data)} characters, {len(chars)} unique.")
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = {i: ch for i, ch in enumerate(chars)}
        self.block_size = block_size
        self.vocab_size = len(chars)
        self.data = data.split("\n")

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        document = self.truncated_document(idx)
        start, span = self.masked_span(document)
        prefix, masked, suffix = document[:start], document[start:start + span], document[start + span:]
        text = prefix + MASK_CHAR + suffix + MASK_CHAR + masked
        text += PAD_CHAR * (self.block_size + 1 - len(text))
        ids = torch.tensor([self.stoi[c] for c in text], dtype=torch.long)  # (block_size + 1,)
        return ids[:-1], ids[1:]


    @property
    def longest_view(self):
        """The most characters of a document that an example shows: int(block_size*7/8)."""
        return int(self.block_size * 7 / 8)

    def truncated_document(self, idx):
        """Document idx cut to a random length in [4, int(block_size*7/8)] (all of it if shorter)."""
        return self.data[idx][:random.randint(4, self.longest_view)]


    def masked_span(self, document):
        """(start, length) of the span cut out: a random length, then where it starts."""
        span = random_span_length(len(document))
        return self.span_start(document, span), span

    def span_start(self, document, span):
        """Where the masked span starts: uniformly anywhere it fits."""
        return random.randint(0, len(document) - span)


def random_span_length(n):
    """A random span length for a text of n characters: n/4 on average, at least 1 when n > 0.

    Uniform on 1 .. n//2 - 1, whose mean is n/4 for even n (and (n-1)/4 for odd n).
    """
    if n == 0:
        return 0
    return random.randint(1, max(1, n // 2 - 1))


class NameDataset(Dataset):
    """Finetuning examples `Where was NAME born?⁇PLACE⁇□□...`, with loss only on `PLACE⁇`.

    Takes the vocabulary and block size of the pretraining dataset and the TSV text
    (`question<TAB>place` per line). Non-ASCII characters are dropped, as in the assignment.
    """

    def __init__(self, pretraining_dataset, data):
        self.MASK_CHAR = pretraining_dataset.MASK_CHAR
        self.PAD_CHAR = pretraining_dataset.PAD_CHAR
        self.itos = pretraining_dataset.itos
        self.stoi = pretraining_dataset.stoi
        self.block_size = pretraining_dataset.block_size
        text = data.encode("ascii", errors="ignore").decode("ascii")
        self.data = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if line.strip():
                self._check_line(number, line)
                self.data.append(line)

    def _check_line(self, number, line):
        """Raise a ValueError naming the line if it cannot become a training example."""
        fields = line.split("\t")
        if len(fields) != 2:
            found = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs"
            raise ValueError(f"line {number}: expected 'question<TAB>place', found {found}: {line!r}")
        question, place = fields
        if not question:
            raise ValueError(f"line {number}: the question before the tab is empty")
        if not place.strip():
            raise ValueError(f"line {number}: the place after the tab is empty")
        needed = len(question) + len(place) + 2
        if needed > self.block_size:
            raise ValueError(f"line {number}: question and place take {needed} characters with "
                             f"the two {MASK_CHAR} marks, more than block_size {self.block_size}")
        unknown = sorted(set(line.replace("\t", "")) - self.stoi.keys())
        if unknown:
            raise ValueError(f"line {number}: characters not in the pretraining vocabulary: "
                             f"{''.join(unknown)!r}")

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        question, place = self.data[idx].split("\t")
        text = question + MASK_CHAR + place + MASK_CHAR
        text += PAD_CHAR * (self.block_size - len(text))
        x = text[:-1]
        y = PAD_CHAR * (len(question) - 1) + text[len(question):]
        x = torch.tensor([self.stoi[c] for c in x], dtype=torch.long)  # (block_size - 1,)
        y = torch.tensor([self.stoi[c] for c in y], dtype=torch.long)  # (block_size - 1,)
        return x, y


def _show_examples(dataset, count=4):
    """Print a few decoded (x, y) pairs."""
    for _, (x, y) in zip(range(count), dataset):
        print("x:", "".join(dataset.itos[int(i)] for i in x))
        print("y:", "".join(dataset.itos[int(i)] for i in y))


def _load(path, make):
    """make(text of the data file at path); a missing, unreadable, empty or bad file ends the
    program with one line."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except OSError as e:
        raise SystemExit(f"error: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SystemExit(f"error: {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise SystemExit(f"error: {path} is empty")
    try:
        return make(text)
    except ValueError as e:
        raise SystemExit(f"error: {path}: {e}") from None


def main():
    parser = argparse.ArgumentParser(description="Print a few examples of a dataset.")
    parser.add_argument("dataset_type", choices=["namedata", "charcorruption"])
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    corruption = _load(root / "wiki.txt", lambda text: CharCorruptionDataset(text, 128))
    if args.dataset_type == "namedata":
        _show_examples(_load(root / "birth_places_train.tsv", lambda text: NameDataset(corruption, text)))
    else:
        _show_examples(corruption)


if __name__ == "__main__":
    main()
