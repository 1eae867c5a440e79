"""The span-corruption and name datasets, property by property, as the autograder checks them."""
import importlib.util
import random
import statistics
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, decode, tiny_world
from dataset import MASK_CHAR, PAD_CHAR, CharCorruptionDataset, NameDataset, ReservedCharacterError


def check_example(dataset, idx, x, y):
    """Assert every spec property of one example; return (truncated length, masked length)."""
    B = dataset.block_size
    assert x.dtype == torch.long and y.dtype == torch.long
    assert x.shape == (B,) and y.shape == (B,)
    assert torch.equal(x[1:], y[:-1]), "y is x shifted by one"
    text = decode(dataset, x) + dataset.itos[int(y[-1])]  # the block_size + 1 masked string
    assert len(text) == B + 1
    assert text.count(MASK_CHAR) == 2
    prefix, suffix, rest = text.split(MASK_CHAR)
    masked = rest.rstrip(PAD_CHAR)
    assert PAD_CHAR not in prefix + suffix + masked, "pads only at the end"
    assert rest == masked + PAD_CHAR * (len(rest) - len(masked))
    truncated = prefix + masked + suffix
    document = dataset.data[idx]
    assert document.startswith(truncated), "prefix + masked + suffix is the start of the document"
    n = len(truncated)
    if len(document) >= 4:
        assert n == len(document) or 4 <= n <= int(B * 7 / 8)
        assert n >= 4 and n <= int(B * 7 / 8)
    assert 1 <= len(masked) <= n or n == 0
    return n, len(masked)


@pytest.mark.parametrize("block_size", [16, 40, 128])
def test_char_corruption_spec_on_wiki(wiki_text, block_size, capsys):
    dataset = CharCorruptionDataset(wiki_text, block_size)
    assert capsys.readouterr().out.strip() == f"data has {len(wiki_text)} characters, 256 unique."
    assert len(dataset) == 2937 and dataset.vocab_size == 256
    assert dataset.stoi[PAD_CHAR] == 0 and dataset.stoi[MASK_CHAR] == 1
    assert dataset.itos == {i: c for c, i in dataset.stoi.items()}
    random.seed(1)
    lengths, fractions = [], []
    long_documents = [i for i, d in enumerate(dataset.data) if len(d) > int(block_size * 7 / 8)]
    for draw in range(4000):
        idx = long_documents[draw % len(long_documents)]
        n, masked = check_example(dataset, idx, *dataset[idx])
        lengths.append(n)
        fractions.append(masked / n)
    assert set(lengths) == set(range(4, int(block_size * 7 / 8) + 1)), "every truncation length occurs"
    assert abs(statistics.mean(fractions) - 0.25) < 0.02, "masked span is 1/4 of the text on average"
    assert statistics.pstdev(fractions) > 0.05, "the masked length varies"


def test_every_wiki_index_fetchable(wiki_text):
    dataset = CharCorruptionDataset(wiki_text, 128)
    for idx in range(len(dataset)):
        check_example(dataset, idx, *dataset[idx])


def test_char_corruption_on_synthetic_text():
    documents = ["abcd", "a" * 300, "hello world, this is a document", "xyzzy plugh " * 20]
    dataset = CharCorruptionDataset("\n".join(documents), 24)
    assert len(dataset) == 4
    for _ in range(300):
        for idx in range(len(dataset)):
            check_example(dataset, idx, *dataset[idx])


def test_randomness_follows_python_random(tiny_corpus):
    random.seed(5)
    first = [tiny_corpus[0] for _ in range(5)]
    random.seed(5)
    again = [tiny_corpus[0] for _ in range(5)]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
    assert len({tuple(x.tolist()) for x, _ in first}) > 1, "repeated draws of one index differ"


def test_reserved_characters_are_refused():
    with pytest.raises(AssertionError):
        CharCorruptionDataset(f"text with {MASK_CHAR}", 16)
    with pytest.raises(ValueError):
        CharCorruptionDataset(f"text with {PAD_CHAR}", 16)
    assert issubclass(ReservedCharacterError, AssertionError)


def test_block_size_too_small_is_refused():
    with pytest.raises(ValueError, match="block_size"):
        CharCorruptionDataset("some text", 4)


def test_name_dataset_layout(tiny_corpus):
    names = NameDataset(tiny_corpus, "Where was Ada Moss born?\tParis\nWhere was Bo Nash born?\tLima\n")
    assert len(names) == 2, "a final newline adds no example"
    x, y = names[0]
    B = tiny_corpus.block_size
    question = "Where was Ada Moss born?"
    text = question + MASK_CHAR + "Paris" + MASK_CHAR
    text += PAD_CHAR * (B - len(text))
    assert x.shape == (B - 1,) and y.shape == (B - 1,)
    assert decode(names, x) == text[:-1]
    assert decode(names, y) == PAD_CHAR * (len(question) - 1) + text[len(question):]
    assert names.MASK_CHAR == MASK_CHAR and names.PAD_CHAR == PAD_CHAR


def test_name_dataset_on_the_real_files(wiki_text):
    corpus = CharCorruptionDataset(wiki_text, 128)
    names = NameDataset(corpus, (ROOT / "birth_places_train.tsv").read_text(encoding="utf-8"))
    assert len(names) == 2000
    for idx in range(len(names)):
        x, y = names[idx]
        assert x.shape == (127,) and y.shape == (127,)
        assert all(c.isascii() for c in decode(names, x).replace(MASK_CHAR, "").replace(PAD_CHAR, ""))


def test_name_dataset_keeps_a_last_line_without_newline(tiny_corpus):
    names = NameDataset(tiny_corpus, "Where was Ada Moss born?\tParis\nWhere was Bo Nash born?\tLima")
    assert len(names) == 2


def test_name_dataset_reads_crlf_and_skips_blank_lines(tiny_corpus):
    names = NameDataset(tiny_corpus, "Where was Ada Moss born?\tParis\r\n\r\nWhere was Bo Nash born?\tLima\r\n")
    assert len(names) == 2
    assert decode(names, names[0][1]).rstrip(PAD_CHAR).endswith(f"Paris{MASK_CHAR}")


def test_name_dataset_drops_non_ascii(tiny_corpus):
    names = NameDataset(tiny_corpus, "Where was Adé Moss born?\tParís\n")
    assert decode(names, names[0][0]).startswith(f"Where was Ad Moss born?{MASK_CHAR}Pars{MASK_CHAR}")


@pytest.mark.parametrize("line, message", [
    ("Where was Ada Moss born? Paris", "line 2: expected 'question<TAB>place', found no tab"),
    ("Where was Ada Moss born?\tParis\tFrance", "line 2: .* found 2 tabs"),
    ("Where was Ada Moss born and raised?\tParis", "line 2: .* more than block_size 32"),
    ("Where was Ada Moss born?\tZ~rich", "line 2: characters not in the pretraining vocabulary"),
])
def test_name_dataset_bad_lines_are_named(tiny_corpus, line, message):
    with pytest.raises(ValueError, match=message):
        NameDataset(tiny_corpus, f"Where was Bo Nash born?\tLima\n{line}\n")


def test_dataset_module_imports_alone_without_side_effects():
    """The autograder loads src/dataset.py by itself."""
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('student_dataset', {str(ROOT / 'src' / 'dataset.py')!r})\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "d = module.CharCorruptionDataset('hello world\\nsecond document here', 16)\n"
            "x, y = d[1]; assert x.shape == (16,)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "data has 32 characters, 17 unique.\n"


@pytest.mark.parametrize("kind, source", [("namedata", "Where was"), ("charcorruption", None)])
def test_dataset_script_prints_four_examples(kind, source):
    done = subprocess.run([sys.executable, str(ROOT / "src" / "dataset.py"), kind], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    xs = [line for line in done.stdout.splitlines() if line.startswith("x: ")]
    ys = [line for line in done.stdout.splitlines() if line.startswith("y: ")]
    assert len(xs) == 4 and len(ys) == 4
    if source:
        assert all(x.startswith(f"x: {source}") for x in xs)


def test_autograder_style_import_by_path():
    spec = importlib.util.spec_from_file_location("dataset_by_path", ROOT / "src" / "dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    documents, _ = tiny_world()
    dataset = module.CharCorruptionDataset("\n".join(documents), 64)
    for idx in range(len(dataset)):
        check_example(dataset, idx, *dataset[idx])
