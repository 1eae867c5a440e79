#!/usr/bin/env bash
# Tune the finetuning step without dev data: finetune on the first 1,800 people of the training
# TSV and score the other 200 (people the finetuning never asked about, as dev's are). Also
# scores the pretrained params on them before finetuning (a mixed pretraining has seen QA items),
# and their cloze and name recall before and after finetuning (what the finetuning made the model forget).
#   bash bench/finetune_probe.sh NAME PRETRAINED_PARAMS VARIANT [FINETUNE FLAGS...]
# The split lies in /tmp/recipes/split (train1800.tsv, val200.tsv): a pretraining that mixes QA
# items in must mix train1800.tsv only, or the 200 are not held out. Log: bench/results/finetune/NAME.log
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")/.."
name=$1 params=$(realpath "$2") variant=$3
shift 3
root=$PWD split=/tmp/recipes/split work=/tmp/recipes/finetune/$name log=$root/bench/results/finetune/$name.log
PYTHON=${PYTHON:-$root/.venv/bin/python}
mkdir -p "$split" "$work" "$(dirname "$log")"
head -n 1800 birth_places_train.tsv >"$split/train1800.tsv"
tail -n +1801 birth_places_train.tsv >"$split/val200.tsv"
cd "$work"
{
  echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores; git $(git -C "$root" rev-parse --short HEAD)"
  echo "# finetune $variant from $params on train1800, scored on val200: $*"
  "$PYTHON" "$root/bench/recall_probe.py" "$params" "$variant" --tsv "$split/val200.tsv"
  echo "before finetuning:"
  "$PYTHON" "$root/src/run.py" evaluate "$variant" "$root/wiki.txt" --reading_params_path "$params" \
    --eval_corpus_path "$split/val200.tsv" --outputs_path pretrained.val200.predictions
  start=$SECONDS
  "$PYTHON" "$root/src/run.py" finetune "$variant" "$root/wiki.txt" --reading_params_path "$params" \
    --writing_params_path finetune.params --finetune_corpus_path "$split/train1800.tsv" \
    --eval_corpus_path "$split/val200.tsv" --seed 0 --state_interval inf "$@"
  echo "finetune wall: $((SECONDS - start)) s"
  echo "after finetuning:"
  "$PYTHON" "$root/bench/recall_probe.py" finetune.params "$variant" --tsv "$split/val200.tsv"
} >"$log" 2>&1
before=$(grep '^Correct' "$log" | head -1) after=$(grep '^Correct' "$log" | tail -1)
recall() { grep "^$1" "$log" | sed -n "$2p" | cut -d: -f2 | cut -d' ' -f2-5; }
echo "$name: val200 before finetuning ${before#Correct: }, after ${after#Correct: };" \
  "cloze recall $(recall cloze 1) -> $(recall cloze 2), name recall $(recall name 1) -> $(recall name 2)"
exit
}
