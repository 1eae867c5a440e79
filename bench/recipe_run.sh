#!/usr/bin/env bash
# One reduced-budget accuracy experiment: pretrain, finetune, evaluate on dev, each timed.
#   bash bench/recipe_run.sh NAME VARIANT SEED "PRETRAIN FLAGS" ["FINETUNE FLAGS"]
#   PRETRAINED=PARAMS bash bench/recipe_run.sh NAME VARIANT SEED "" "FINETUNE FLAGS"
# (the second form skips pretraining and finetunes the given pretrained params instead).
# Works in /tmp/recipes/NAME on a snapshot of src/ (edits made meanwhile do not reach the run;
# params stay out of the repo); the log goes to bench/results/recipes/NAME.log and ends with the
# dev accuracy line.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 variant=$2 seed=$3 pretrain_flags=$4 finetune_flags=${5:-}
root=$PWD work=/tmp/recipes/$name log=$root/bench/results/recipes/$name.log
PYTHON=${PYTHON:-$root/.venv/bin/python}
mkdir -p "$work" "$(dirname "$log")"
rm -rf "$work/src" && cp -r "$root/src" "$work/src"
cd "$work"
run() { "$PYTHON" "$work/src/run.py" "$@"; }
timed_run() { /usr/bin/time -f "$1 peak RSS %M KB" "$PYTHON" "$work/src/run.py" "${@:2}"; }
{
  echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "# git $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +dirty)"
  echo "# pretrain $variant seed $seed: $pretrain_flags"
  echo "# finetune: $finetune_flags"
  if [ -n "${PRETRAINED:-}" ]; then
    echo "# pretraining skipped: finetuning $PRETRAINED"
    cp "$PRETRAINED" pretrain.params
  else
    start=$SECONDS
    # shellcheck disable=SC2086  # the flags are meant to split into words
    timed_run pretrain pretrain "$variant" "$root/wiki.txt" --writing_params_path pretrain.params \
      --seed "$seed" $pretrain_flags
    echo "pretrain wall: $((SECONDS - start)) s"
    "$PYTHON" "$root/bench/recall_probe.py" pretrain.params "$variant"
  fi
  start=$SECONDS
  # shellcheck disable=SC2086
  timed_run finetune finetune "$variant" "$root/wiki.txt" --reading_params_path pretrain.params \
    --writing_params_path finetune.params --finetune_corpus_path "$root/birth_places_train.tsv" --seed "$seed" $finetune_flags
  echo "finetune wall: $((SECONDS - start)) s"
  run evaluate "$variant" "$root/wiki.txt" --reading_params_path finetune.params \
    --eval_corpus_path "$root/birth_dev.tsv" --outputs_path dev.predictions
  cp dev.predictions "$root/bench/results/recipes/$name.dev.predictions"
} >"$log" 2>&1
tail -1 "$log"
