"""How much of an epoch's gradient reaches the views that hold a training person's birth place,
with and without length bucketing? No training: it draws epochs of examples and weighs them.

    python bench/bucket_weights.py [--augment LIST] [--batch_size 128] [--epochs 5]

A step's loss is the mean over its batch's target characters, so within a step each view weighs
its share of the batch's characters. Without bucketing every batch mixes lengths, and over an
epoch a view weighs about as much as its characters (a 112-character view 20 times a 4-character
one). `--bucket` batches views of like length, so every view gets about 1/batch_size of a step
whatever its length, and short views, which rarely hold a place, gain weight. `--bucket_weighting
character` divides each batch's summed loss by its examples times the epoch's mean characters per
example (src/trainer.py), so every character weighs alike again. Reads wiki.txt and the training
TSV only.
"""
import argparse
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from analyze import find_documents, person  # noqa: E402
from augment import AugmentedCorruptionDataset  # noqa: E402
from dataset import MASK_CHAR, CharCorruptionDataset  # noqa: E402
from trainer import character_weighted, length_buckets  # noqa: E402
from utils import read_eval_file  # noqa: E402

SHORT = 28  # a view of fewer characters (a quarter of the longest) seldom reaches a place


def training_places(documents, tsv):
    """The birth place of each document index whose person is in the training TSV."""
    questions, places = read_eval_file(tsv)
    place_of = {document: place for document, place in
                zip(find_documents([person(q) for q in questions], documents), places) if document is not None}
    return {i: place_of[document] for i, document in enumerate(documents) if document in place_of}


def view_text(dataset, x, y, targets):
    """The view an example was cut from: prefix + masked span + suffix, the marks removed."""
    text = dataset.itos[int(x[0])] + "".join(dataset.itos[int(t)] for t in y[:targets])
    prefix, suffix, masked = (text.split(MASK_CHAR) + ["", ""])[:3]
    return prefix + masked + suffix


def weights(targets, groups, divisors=None):
    """Each example's weight in an epoch: its targets over its step's divisor (the step's own
    targets, or the given divisor of each group)."""
    weight = torch.zeros(len(targets))
    for i, group in enumerate(groups):
        weight[group] = targets[group] / (divisors[i] if divisors else targets[group].sum())
    return weight / weight.sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--augment", default="", help="comma-separated, as run.py's --augment")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--wiki", default=str(ROOT / "wiki.txt"))
    parser.add_argument("--tsv", default=str(ROOT / "birth_places_train.tsv"))
    args = parser.parse_args()
    plain = CharCorruptionDataset(Path(args.wiki).read_text(encoding="utf-8"), 128)
    augmentations = [name for name in args.augment.split(",") if name]
    dataset = AugmentedCorruptionDataset(plain, augmentations) if augmentations else plain
    place_of = training_places(plain.data, args.tsv)
    size = args.batch_size
    rows = {"no bucketing (the handout)": [], "--bucket": [], "--bucket --bucket_weighting character": []}
    for epoch in range(args.epochs):
        random.seed(epoch)
        examples = [dataset[i] for i in range(len(dataset))]
        ys = torch.stack([y for _, y in examples])  # (N, T)
        targets = (ys != 0).sum(dim=1).float()  # (N,)
        holds = torch.tensor([i in place_of and place_of[i] in view_text(dataset, x, y, int(targets[i]))
                              for i, (x, y) in enumerate(examples)])
        short = targets < SHORT
        in_order = [list(range(i, min(i + size, len(examples)))) for i in range(0, len(examples), size)]
        buckets = length_buckets(ys, size, random.Random(epoch))
        # the trainer's divisors (it counts each batch's rows and targets, so y stands in for x)
        divisors = [divisor for _, _, divisor in character_weighted([(ys[g], ys[g]) for g in buckets], len(ys))]
        for row, weight in zip(rows.values(), [weights(targets, in_order), weights(targets, buckets),
                                                weights(targets, buckets, divisors)]):
            row.append((float(holds.float().mean()), float(weight[holds].sum()), float(weight[short].sum())))
    print(f"{args.epochs} epochs of {len(dataset)} views, batch {size}, augment {args.augment or 'none'}")
    print(f"| batching | views holding a training person's place | their share of the gradient "
          f"| the gradient on views under {SHORT} characters |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        views, share, short_share = (sum(column) / len(row) for column in zip(*row))
        print(f"| {name} | {views:.1%} | {share:.1%} | {short_share:.1%} |")


if __name__ == "__main__":
    main()
