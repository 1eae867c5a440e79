#!/usr/bin/env bash
# Score weight-space averages on val200 (the 200 training people that bench/finetune_probe.sh
# holds out of finetuning), without dev data: for each share S, the params S*FIRST + (1-S)*SECOND.
#   bash bench/average_probe.sh NAME VARIANT FIRST SECOND "S1 S2 ..."
# WiSE-FT: FIRST a finetuned params file, SECOND the pretrained params it started from.
# A soup of two finetunings: FIRST and SECOND both finetuned from the same pretrained params.
# Log: bench/results/finetune/NAME.log, one "share S: Correct: ..." line per share.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")/.."
name=$1 variant=$2 first=$(realpath "$3") second=$(realpath "$4") shares=$5
root=$PWD split=/tmp/recipes/split work=/tmp/recipes/average/$name log=$root/bench/results/finetune/$name.log
PYTHON=${PYTHON:-$root/.venv/bin/python}
[ -f "$split/val200.tsv" ] || { echo "average_probe.sh: run bench/finetune_probe.sh first (it writes $split)" >&2; exit 2; }
mkdir -p "$work" "$(dirname "$log")"
cd "$work"
{
  echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores; git $(git -C "$root" rev-parse --short HEAD)"
  echo "# share S of $first, 1-S of $second, scored on val200"
  for share in $shares; do
    "$PYTHON" "$root/bench/average_params.py" "s$share.params" "$first" "$second" \
      --weights "$share,$("$PYTHON" -c "print(1 - $share)")" >/dev/null
    accuracy=$("$PYTHON" "$root/src/run.py" evaluate "$variant" "$root/wiki.txt" --reading_params_path "s$share.params" \
      --eval_corpus_path "$split/val200.tsv" --outputs_path "s$share.predictions" | grep '^Correct')
    echo "share $share: $accuracy"
  done
} | tee "$log"
exit
}
