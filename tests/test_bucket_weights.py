"""bench/bucket_weights.py: how each batching weighs the views of an epoch."""
import re
import sys

import pytest
import torch

import bucket_weights
from conftest import tiny_world
from dataset import CharCorruptionDataset


def test_weights_per_batching():
    targets = torch.tensor([4.0, 4.0, 100.0, 100.0])
    by_targets = (targets / targets.sum()).tolist()
    assert bucket_weights.weights(targets, [[0, 1], [2, 3]]).tolist() == [0.25] * 4, \
        "batches of like length: every view weighs the same, whatever its length"
    per_example = float(targets.mean())
    assert bucket_weights.weights(targets, [[0, 1], [2, 3]], [2 * per_example, 2 * per_example]).tolist() == \
        pytest.approx(by_targets), "character weighting: every character weighs the same"
    assert bucket_weights.weights(targets, [[0, 2], [1, 3]]).tolist() == pytest.approx(by_targets)


def test_view_text_is_the_truncated_document():
    documents, _ = tiny_world()
    dataset = CharCorruptionDataset("\n".join(documents), 128)
    for i in range(len(documents)):
        x, y = dataset[i]
        targets = int((y != 0).sum())
        view = bucket_weights.view_text(dataset, x, y, targets)
        assert documents[i].startswith(view) and len(view) == targets - 1


def test_the_table(world_files, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bucket_weights.py", "--wiki", str(world_files["wiki"]),
                                      "--tsv", str(world_files["train"]), "--batch_size", "16", "--epochs", "2"])
    bucket_weights.main()
    rows = re.findall(r"^\| (.+?) \| ([\d.]+)% \| ([\d.]+)% \| ([\d.]+)% \|$", capsys.readouterr().out, re.M)
    (plain, *plain_shares), (bucketed, *bucketed_shares), (weighted, *weighted_shares) = rows
    assert (plain, bucketed, weighted) == ("no bucketing (the handout)", "--bucket",
                                           "--bucket --bucket_weighting character")
    views, bucketed_share, _ = map(float, bucketed_shares)
    plain_share, weighted_share = float(plain_shares[1]), float(weighted_shares[1])
    assert 0 < views <= bucketed_share < weighted_share, \
        "views that reach a place are the longer ones; bucketed, each weighs about 1/48"
    assert abs(weighted_share - plain_share) < abs(bucketed_share - plain_share)
