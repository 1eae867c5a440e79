"""bench/orthogonalise.py: a table of Muon's orthogonalisation time per step, both precisions, with
oneDNN and without, leaving oneDNN on afterwards."""
import re
import sys

import torch

import orthogonalise as bench


def test_prints_a_row_per_precision_and_restores_onednn(monkeypatch, capsys):
    monkeypatch.setattr(bench, "LAYER_SHAPES", [(16, 8)])  # tiny: the table, not the timing
    monkeypatch.setattr(sys, "argv", ["orthogonalise.py", "--repeats", "1", "--threads", "1"])
    threads = torch.get_num_threads()
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"1 threads; this CPU has bf16 hardware: (True|False); --optimizer muon orthogonalises in "
                    r"(bf16|fp32) here$", lines[0])
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| bf16", "| fp32"]
    assert all(re.fullmatch(r"\| \w+ \| [\d,]+ \| [\d,]+ \|", line) for line in lines[3:])
    assert torch.backends.mkldnn.enabled
