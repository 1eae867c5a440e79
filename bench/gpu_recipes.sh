#!/usr/bin/env bash
# Issue 11's fourth target, for a session that is lent a GPU: the handout's recipe and
# `--recipe best` at the full budget (650 epochs, --compile), side by side in one session.
# For each VARIANT, both pretrain + finetune + evaluate on dev through bench/recipe_run.sh
# (logs and dev predictions in bench/results/recipes/gpu_*; about 3.5 min a run on an H100).
#   bash bench/gpu_recipes.sh SEED VARIANT...     # e.g. bash bench/gpu_recipes.sh 0 rope vanilla
# With OUT set (the device machine's output folder), the logs and predictions are copied there.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: bash bench/gpu_recipes.sh SEED VARIANT... (e.g. 0 rope vanilla)" >&2
  exit 2
fi
seed=$1
shift
export PYTHON=${PYTHON:-python3} PYTHONUNBUFFERED=1
for variant in "$@"; do
  bash bench/recipe_run.sh "gpu_handout_${variant}_s$seed" "$variant" "$seed" "--compile" ""
  bash bench/recipe_run.sh "gpu_best_${variant}_s$seed" "$variant" "$seed" "--recipe best --compile" "--recipe best"
done
if [ -n "${OUT:-}" ]; then
  cp bench/results/recipes/gpu_* "$OUT"/
fi
exit
}
