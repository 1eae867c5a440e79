#!/usr/bin/env bash
# One reduced-budget accuracy experiment: pretrain, finetune, evaluate on dev, each timed.
#   bash bench/recipe_run.sh NAME VARIANT SEED "PRETRAIN FLAGS" ["FINETUNE FLAGS"]
#   PRETRAINED=PARAMS bash bench/recipe_run.sh NAME VARIANT SEED "" "FINETUNE FLAGS"
# (the second form skips pretraining and finetunes the given pretrained params instead).
# Works in /tmp/recipes/NAME on a snapshot of src/ (edits made meanwhile do not reach the run;
# params stay out of the repo); the log goes to bench/results/recipes/NAME.log and ends with the
# dev accuracy line.
# Interrupted (a session's end, Ctrl-C)? Run the same command again: a stage whose output is
# there is skipped, an interrupted training resumes from its state, and the log is appended to.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 variant=$2 seed=$3 pretrain_flags=$4 finetune_flags=${5:-}
root=$PWD work=/tmp/recipes/$name log=$root/bench/results/recipes/$name.log
PYTHON=${PYTHON:-$root/.venv/bin/python}
mkdir -p "$work" "$(dirname "$log")"
identity="$variant seed $seed; pretrain: ${PRETRAINED:-$pretrain_flags}; finetune: $finetune_flags"
if [ -f "$work/identity" ] && [ "$(cat "$work/identity")" != "$identity" ]; then
  echo "recipe_run.sh: $work holds a run with other settings ($(cat "$work/identity")); choose another NAME (or remove it)" >&2
  exit 2
fi
[ -d "$work/src" ] || cp -r "$root/src" "$work/src"  # a resumed run keeps its snapshot
echo "$identity" >"$work/identity"
cd "$work"
run() { "$PYTHON" "$work/src/run.py" "$@"; }
timed_run() { /usr/bin/time -f "$1 peak RSS %M KB" "$PYTHON" "$work/src/run.py" "${@:2}"; }
done_training() { [ -f "$1" ] && [ ! -f "$1.state" ]; }  # params written, no state left to resume
{
  echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc --all) cores${OMP_NUM_THREADS:+ (OMP_NUM_THREADS=$OMP_NUM_THREADS)}, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "# git $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +dirty)"
  if [ -n "${PRETRAINED:-}" ]; then
    echo "# pretraining skipped: finetuning $PRETRAINED ($variant, seed $seed)"
    cp "$PRETRAINED" pretrain.params
  elif done_training pretrain.params; then
    echo "# pretraining done by an earlier run of this command"
  else
    echo "# pretrain $variant seed $seed: $pretrain_flags"
    start=$SECONDS
    # shellcheck disable=SC2086  # the flags are meant to split into words
    timed_run pretrain pretrain "$variant" "$root/wiki.txt" --writing_params_path pretrain.params \
      --seed "$seed" $pretrain_flags
    echo "pretrain wall: $((SECONDS - start)) s"
  fi
  if [ -z "${PRETRAINED:-}" ] && [ ! -f pretrain.recall ]; then
    "$PYTHON" "$root/bench/recall_probe.py" pretrain.params "$variant" >pretrain.recall.part
    mv pretrain.recall.part pretrain.recall && cat pretrain.recall
  fi
  echo "# finetune: $finetune_flags"
  if done_training finetune.params; then
    echo "# finetuning done by an earlier run of this command"
  else
    start=$SECONDS
    # shellcheck disable=SC2086
    timed_run finetune finetune "$variant" "$root/wiki.txt" --reading_params_path pretrain.params \
      --writing_params_path finetune.params --finetune_corpus_path "$root/birth_places_train.tsv" --seed "$seed" $finetune_flags
    echo "finetune wall: $((SECONDS - start)) s"
  fi
  run evaluate "$variant" "$root/wiki.txt" --reading_params_path finetune.params \
    --eval_corpus_path "$root/birth_dev.tsv" --outputs_path dev.predictions
  cp dev.predictions "$root/bench/results/recipes/$name.dev.predictions"
} >>"$log" 2>&1
tail -1 "$log"
