"""The fast evaluation path gives exactly the tokens of the one-line-at-a-time reference."""
import pytest
import torch

from conftest import small_model
from decoding import clean_questions, greedy_complete, predict_places
from utils import sample


def loud_model(vocab_size, block_size, rope):
    """A random model with large weights: its predictions differ from prompt to prompt."""
    torch.manual_seed(11)
    model = small_model(vocab_size, block_size=block_size, rope=rope)
    for name, p in model.named_parameters():
        if ".ln" not in name and not name.startswith("ln"):  # LayerNorms stay at 1 and 0
            torch.nn.init.normal_(p, std=0.5)
    return model.eval()


def prompts_of_mixed_lengths(vocab_size, count=40, low=3, high=20):
    g = torch.Generator().manual_seed(5)
    lengths = torch.randint(low, high, (count,), generator=g)
    return [torch.randint(2, vocab_size, (int(n),), generator=g).tolist() for n in lengths]


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("block_size, steps", [(64, 32), (24, 32)])  # the second outgrows the block
def test_greedy_complete_matches_sample(rope, block_size, steps):
    vocab = 30
    model = loud_model(vocab, block_size, rope)
    prompts = prompts_of_mixed_lengths(vocab)
    references = [sample(model, torch.tensor([p]), steps)[0].tolist() for p in prompts]
    # stop on a token that the references produce often, so that early stopping is exercised
    generated = [t for ref, p in zip(references, prompts) for t in ref[len(p):]]
    stop = max(set(generated), key=generated.count)
    fast = greedy_complete(model, prompts, steps, stop_token=stop, batch_size=7)
    stopped_early = 0
    for reference, completion in zip(references, fast):
        assert completion == reference[:len(completion)]
        if len(completion) < len(reference):
            stopped_early += 1
            assert completion.count(stop) >= 2
    assert stopped_early > 0
    assert len({tuple(r[len(p):]) for r, p in zip(references, prompts)}) > len(prompts) // 2


@pytest.mark.parametrize("rope", [False, True])
def test_predict_places_matches_the_plain_loop(tiny_corpus, rope):
    model = loud_model(tiny_corpus.vocab_size, tiny_corpus.block_size, rope)
    stoi, itos = tiny_corpus.stoi, tiny_corpus.itos
    questions = ["Where was Ada Moss born?", "Where was Bo born?", "Who", "Where was Cy Orr born?"]
    expected = []
    for q in questions:
        x = torch.tensor([[stoi[c] for c in q + "⁇"]])
        completion = "".join(itos[int(i)] for i in sample(model, x, 32)[0])
        expected.append(completion.split("⁇")[1])
    assert predict_places(model, questions, stoi, itos) == expected


def test_clean_questions_reports_what_it_dropped(tiny_corpus):
    cleaned, dropped = clean_questions(["Where was Adé born?", "Where was Bo born?", "Zoë~?"], tiny_corpus.stoi)
    assert cleaned == ["Where was Ad born?", "Where was Bo born?", "o?"]
    assert dropped == {"é": [0], "Z": [2], "ë": [2], "~": [2]}
