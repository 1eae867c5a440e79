"""Property-based tests: any documents and block sizes, every spec invariant holds."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset import MASK_CHAR, PAD_CHAR, CharCorruptionDataset, NameDataset
from test_dataset import check_example, decode

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
document_text = st.text(alphabet=st.characters(blacklist_characters=f"\n{MASK_CHAR}{PAD_CHAR}",
                                                blacklist_categories=("Cs",)), max_size=400)
documents = st.lists(st.one_of(document_text, st.sampled_from(["", "a", "ab", "abc", "   ", "é"]),
                               st.text(" ", max_size=50)), min_size=1, max_size=6)


@FUZZ
@given(documents=documents, block_size=st.integers(5, 160), seed=st.integers(0, 2**32 - 1))
def test_char_corruption_any_documents(documents, block_size, seed):
    dataset = CharCorruptionDataset("\n".join(documents), block_size)
    assert len(dataset) == len(documents)
    random.seed(seed)
    for _ in range(3):
        for idx in range(len(dataset)):
            check_example(dataset, idx, *dataset[idx])


@FUZZ
@given(block_size=st.integers(-3, 4))
def test_char_corruption_tiny_block_sizes_are_refused(block_size):
    with pytest.raises(ValueError):
        CharCorruptionDataset("some text", block_size)


ascii_field = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=90)
unicode_field = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                        max_size=90)


@FUZZ
@given(pairs=st.lists(st.tuples(st.one_of(ascii_field, unicode_field), st.one_of(ascii_field, unicode_field)),
                      min_size=1, max_size=5),
       block_size=st.integers(5, 160))
def test_name_dataset_any_pairs(pairs, block_size):
    vocabulary = "".join(chr(c) for c in range(32, 127))
    corpus = CharCorruptionDataset(vocabulary, block_size)
    text = "".join(f"{q}\t{p}\n" for q, p in pairs)
    cleaned = [(q.encode("ascii", "ignore").decode(), p.encode("ascii", "ignore").decode()) for q, p in pairs]
    kept = [(q, p) for q, p in cleaned if f"{q}\t{p}".strip()]
    unusable = [i for i, (q, p) in enumerate(cleaned)
                if f"{q}\t{p}".strip() and (not q or not p.strip() or len(q) + len(p) + 2 > block_size)]
    if unusable:
        with pytest.raises(ValueError, match=f"line {unusable[0] + 1}: "):
            NameDataset(corpus, text)
        return
    names = NameDataset(corpus, text)
    assert len(names) == len(kept)
    for (question, place), (x, y) in zip(kept, names):
        assert x.shape == (block_size - 1,) and y.shape == (block_size - 1,)
        full = question + MASK_CHAR + place + MASK_CHAR
        full += PAD_CHAR * (block_size - len(full))
        assert decode(names, x) == full[:-1]
        assert decode(names, y) == PAD_CHAR * (len(question) - 1) + full[len(question):]
