"""Fast greedy decoding for evaluation: prompts batched by length, a KV cache, early stopping.

Gives the same tokens as utils.sample run on one prompt at a time (the tests check it), in a
fraction of the time: every prompt of a batch has the same length, so each sequence keeps its
own positions (learned or RoPE) without padding, and a batch stops as soon as all its rows have
produced what the caller waits for.
"""
from collections import defaultdict

import torch

from dataset import MASK_CHAR
from utils import next_token


@torch.inference_mode()
def greedy_complete(model, prompts, steps, stop_token, stop_count=2, batch_size=512):
    """Greedy completions (prompt + up to `steps` tokens) of lists of token ids.

    A batch stops early once each of its rows holds `stop_token` `stop_count` times; up to that
    point the tokens are those of utils.sample(model, prompt, steps) for each prompt alone.
    """
    model.eval()
    device = next(model.parameters()).device
    by_length = defaultdict(list)
    for i, prompt in enumerate(prompts):
        by_length[len(prompt)].append(i)
    completions = [None] * len(prompts)
    for indices in by_length.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            x = torch.tensor([prompts[i] for i in chunk], dtype=torch.long, device=device)  # (G, P)
            for i, row in zip(chunk, _complete_batch(model, x, steps, stop_token, stop_count).tolist()):
                completions[i] = row
    return completions


def _complete_batch(model, x, steps, stop_token, stop_count):
    """Greedy-decode a batch of equal-length prompts x (G, P); returns (G, P + n), n <= steps."""
    block_size = model.get_block_size()
    seen = (x == stop_token).sum(dim=1)  # (G,)
    if (seen >= stop_count).all() or steps == 0:
        return x
    caches = model.new_kv_caches(x.size(0), block_size) if x.size(1) <= block_size else None
    logits, _ = model(x[:, -block_size:], kv_caches=caches)  # (G, P, V)
    for step in range(steps):
        token = next_token(logits[:, -1, :])  # (G, 1)
        x = torch.cat((x, token), dim=1)  # (G, P + step + 1)
        seen += (token[:, 0] == stop_token)
        if step == steps - 1 or (seen >= stop_count).all():
            break
        if caches is not None and caches[0].length < block_size:
            logits, _ = model(token, kv_caches=caches)  # (G, 1, V)
        else:  # the context outgrew the block: slide the window as sample() does, without a cache
            caches = None
            logits, _ = model(x[:, -block_size:])  # (G, block_size, V)
    return x


def clean_questions(questions, stoi):
    """Drop from each question the characters the model never saw in finetuning: non-ASCII ones
    (NameDataset drops them) and any others outside the vocabulary.

    Returns the cleaned questions and {character: [0-based indices of the questions it was in]}.
    """
    cleaned, dropped = [], defaultdict(list)
    for i, question in enumerate(questions):
        kept = "".join(c for c in question if c.isascii() and c in stoi)
        for c in sorted(set(question) - set(kept)):
            dropped[c].append(i)
        cleaned.append(kept)
    return cleaned, dict(dropped)


def predict_places(model, questions, stoi, itos, steps=32):
    """The predicted birth place for each question: the text between the first and second ⁇
    of the greedy completion of `question⁇` (to its end if there is no second ⁇)."""
    prompts = [[stoi[c] for c in question + MASK_CHAR] for question in questions]
    completions = greedy_complete(model, prompts, steps, stop_token=stoi[MASK_CHAR])
    return ["".join(itos[i] for i in ids).split(MASK_CHAR)[1] for ids in completions]
