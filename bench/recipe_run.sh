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
# A finished run (its log ends with the dev accuracy) only prints that line again, on any machine.
# A NAME reused with other settings is refused (exit 2), by its work folder or by its log.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")/.."
name=$1 variant=$2 seed=$3 pretrain_flags=$4 finetune_flags=${5:-}
root=$PWD work=/tmp/recipes/$name log=$root/bench/results/recipes/$name.log
PYTHON=${PYTHON:-$root/.venv/bin/python}
# A run's settings, in two lines: the work folder's identity file holds them, and so does the
# log, so that a machine whose /tmp is gone still tells a NAME reused with other settings.
if [ -n "${PRETRAINED:-}" ]; then
  pretrain_header="# pretraining skipped: finetuning $PRETRAINED ($variant, seed $seed)"
else
  pretrain_header="# pretrain $variant seed $seed: $pretrain_flags"
fi
finetune_header="# finetune: $finetune_flags"
identity="$pretrain_header
$finetune_header"
if [ -f "$work/identity" ] && [ "$(cat "$work/identity")" != "$identity" ]; then
  echo "recipe_run.sh: $work holds a run with other settings ($(paste -sd ' ' "$work/identity")); choose another NAME (or remove it)" >&2
  exit 2
fi
in_log() { grep -qxF -- "$1" "$log"; }
finished() { tail -1 "$log" | grep -q '^Correct: '; }
if [ -f "$log" ] && grep -qE '^# (pretrain [a-z]+ seed |pretraining skipped: )' "$log" \
  && ! { in_log "$pretrain_header" && { ! finished || in_log "$finetune_header"; }; }; then
  echo "recipe_run.sh: $log records a run with other settings; choose another NAME" >&2
  exit 2
fi
# Finished, perhaps on another machine whose /tmp is gone: the committed log is the record.
if [ -f "$log" ] && finished; then
  tail -1 "$log"
  exit 0
fi
mkdir -p "$work" "$(dirname "$log")"
[ -d "$work/src" ] || cp -r "$root/src" "$work/src"  # a resumed run keeps its snapshot
echo "$identity" >"$work/identity"
cd "$work"
run() { "$PYTHON" "$work/src/run.py" "$@"; }
timed_run() {  # with its peak memory where GNU time is installed
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "$1 peak RSS %M KB" "$PYTHON" "$work/src/run.py" "${@:2}"
  else
    run "${@:2}"
  fi
}
train() {  # train pretrain|finetune ARGS...: writes $1.params, unless an earlier run of this command did
  if [ -f "$1.params" ] && [ ! -f "$1.params.state" ]; then  # params written, no state left to resume
    echo "# $1: done by an earlier run of this command"
    return
  fi
  [ -f "$1.params.state" ] || echo "# $1: from the start"  # curve.sh's wall sum restarts here
  local start=$SECONDS status=0
  timed_run "$1" "$1" "$variant" "$root/wiki.txt" --writing_params_path "$1.params" --seed "$seed" "${@:2}" \
    || status=$?
  echo "$1 wall: $((SECONDS - start)) s"  # an interrupted part's too: curve.sh sums them over resumptions
  return "$status"
}
{
  echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc --all) cores${OMP_NUM_THREADS:+ (OMP_NUM_THREADS=$OMP_NUM_THREADS)}, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  # +dirty: uncommitted changes in the code this run uses (not in the logs, its own included)
  echo "# git $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src bench/recipe_run.sh \
    bench/recall_probe.py || echo +dirty)"
  echo "$pretrain_header"
  if [ -n "${PRETRAINED:-}" ]; then
    cp "$PRETRAINED" pretrain.params
  else
    # shellcheck disable=SC2086  # the flags are meant to split into words
    train pretrain $pretrain_flags
  fi
  if [ -z "${PRETRAINED:-}" ] && [ ! -f pretrain.recall ]; then
    "$PYTHON" "$root/bench/recall_probe.py" pretrain.params "$variant" --by_position \
      --lead 'Where was {name} born? ' >pretrain.recall.part
    mv pretrain.recall.part pretrain.recall && cat pretrain.recall
  fi
  echo "$finetune_header"
  # shellcheck disable=SC2086
  train finetune --reading_params_path pretrain.params --finetune_corpus_path "$root/birth_places_train.tsv" $finetune_flags
  run evaluate "$variant" "$root/wiki.txt" --reading_params_path finetune.params \
    --eval_corpus_path "$root/birth_dev.tsv" --outputs_path dev.predictions
  cp dev.predictions "$root/bench/results/recipes/$name.dev.predictions"
} >>"$log" 2>&1
tail -1 "$log"
exit
}
