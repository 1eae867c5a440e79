#!/usr/bin/env bash
# GPU probe: training-step benchmark, then a short pretraining to time whole epochs.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
export PYTHONUNBUFFERED=1
python3 - <<'PY'
import sys, json; sys.argv=['bench.py']; sys.path.insert(0,'bench')
import functools, torch, bench
for mode in [None, "default", "reduce-overhead"]:
    if mode: 
        orig = torch.compile
        torch.compile = functools.partial(orig, mode=mode)
    for phase in ["pretrain"]:
        r = bench.measure_training(phase, "compile" if mode else "default", "vanilla")
        print(mode, json.dumps(r), flush=True)
    if mode: torch.compile = orig
PY
echo "== pretrain 100 epochs --compile"
time python3 src/run.py pretrain vanilla wiki.txt --writing_params_path /tmp/probe.params --max_epochs 100 --compile 2>&1 | tail -2
exit
}
