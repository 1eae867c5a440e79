"""Seeding, sampling from a trained GPT, and scoring predicted birth places."""
import random

import numpy as np
import torch
import torch.nn.functional as F

from fileio import UserError


def set_seed(seed):
    """Seed Python, NumPy and PyTorch (every device) so that a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def top_k_logits(logits, k):
    """Keep the k largest logits of each row (B, V); set the rest to -inf."""
    values, _ = torch.topk(logits, k)  # (B, k)
    return logits.masked_fill(logits < values[:, [-1]], float("-inf"))


def next_token(logits, temperature=1.0, sample=False, top_k=None):
    """Choose the next token (B, 1) from last-position logits (B, V): greedy, or sampled."""
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_logits(logits, top_k)
    probs = F.softmax(logits, dim=-1)  # (B, V)
    if sample:
        return torch.multinomial(probs, num_samples=1)
    return torch.topk(probs, k=1, dim=-1).indices


@torch.no_grad()
def sample(model, x, steps, temperature=1.0, sample=False, top_k=None):
    """Append `steps` tokens to x (B, T), one full forward pass each, the context cropped to the
    last block_size tokens. Greedy unless sample=True. Puts the model in eval mode, as minGPT does.

    This is the plain reference; decoding.greedy_complete is the fast path with identical output.
    """
    block_size = model.get_block_size()
    model.eval()
    for _ in range(steps):
        context = x if x.size(1) <= block_size else x[:, -block_size:]  # (B, <= block_size)
        logits, _ = model(context)  # (B, T, V)
        x = torch.cat((x, next_token(logits[:, -1, :], temperature, sample, top_k)), dim=1)
    return x


def read_lines(path):
    """The non-blank lines of a UTF-8 text file (BOM and any line ending accepted) as (number, line)."""
    with open(path, encoding="utf-8-sig") as f:
        return [(number, line.rstrip("\r\n")) for number, line in enumerate(f, start=1) if line.strip()]


def read_eval_file(path):
    """Questions and gold places of an evaluation TSV (`question<TAB>place` per line).

    A file whose first line has no tab holds questions only: places is then None.
    Raises ValueError naming the first line that does not fit the file's layout.
    """
    _, questions, places = read_numbered_eval_file(path)
    return questions, places


def read_numbered_eval_file(path):
    """read_eval_file, with the file line number of each question first: (numbers, questions, places).

    Reads the file once, so a pipe or /dev/stdin works. An empty gold place is refused: it
    would score an empty prediction as correct.
    """
    lines = read_lines(path)
    if not lines:
        raise ValueError(f"{path} has no lines")
    with_places = "\t" in lines[0][1]
    numbers, questions, places = [], [], []
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != (2 if with_places else 1):
            layout = "'question<TAB>place'" if with_places else "a question without a tab, like the first line"
            raise ValueError(f"{path}, line {number}: expected {layout}, found {len(fields) - 1} tab(s)")
        place = fields[-1].rstrip()  # the assignment strips the line's end
        if with_places and not place:
            raise ValueError(f"{path}, line {number}: the place after the tab is empty (nothing to score against)")
        numbers.append(number)
        questions.append(fields[0])
        places.append(place)
    return numbers, questions, (places if with_places else None)


def read_eval_corpus(path):
    """read_numbered_eval_file for the command line: any problem becomes a one-line UserError."""
    try:
        return read_numbered_eval_file(path)
    except OSError as e:
        raise UserError(f"cannot read eval corpus {str(path)!r}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UserError(f"eval corpus {str(path)!r} is not UTF-8 text") from None
    except ValueError as e:
        raise UserError(str(e)) from None


def evaluate_places(filepath, predicted_places):
    """Score predictions by exact match with the gold places: returns (total, correct) as floats.

    If the file has no gold places, says so and returns (0, 0).
    """
    _, places = read_eval_file(filepath)
    return score_places(places, predicted_places, filepath)


def score_places(places, predicted_places, source="the eval file"):
    """evaluate_places for places already read: (total, correct) as floats, or (0, 0) without places."""
    if places is None:
        print("No gold birth places provided; returning (0,0)")
        return (0, 0)
    if len(places) != len(predicted_places):
        raise ValueError(f"{len(predicted_places)} predictions for the {len(places)} lines of {source}")
    correct = sum(gold == predicted for gold, predicted in zip(places, predicted_places))
    return (float(len(places)), float(correct))
