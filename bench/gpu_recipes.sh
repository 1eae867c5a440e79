#!/usr/bin/env bash
# Issue 11's fourth target, for a session that is lent a GPU: the handout's recipe and
# `--recipe best` at the full budget (650 epochs, --compile), side by side in one session.
# Each RUN is RECIPE:VARIANT:SEED; each pretrains (with --compile), finetunes and evaluates on
# dev through bench/recipe_run.sh (logs and dev predictions in bench/results/recipes/gpu_*).
# RECIPE is one of
#   handout    the handout's pretraining and finetuning
#   best       --recipe best for both
#   askreplay  the handout's pretraining, then best's vanilla finetuning (gentle, replaying a quarter
#              of documents worded as the question) for either variant
#   mixed      the handout's pretraining with a quarter of the training questions mixed in
#              (--mix_corpus_path), then askreplay's finetuning; a third more steps than the others'
#   muon       --recipe best for both, pretraining with --optimizer muon (Muon for the blocks' matrices)
# A run's step is launch-bound on the GPU (the card sits idle most of a step), so PARALLEL runs
# share it at once; runs start in the order given, a later one only while a finished run's wall
# time says it can still end by the deadline.
#   bash bench/gpu_recipes.sh [--parallel N] [--deadline SECONDS] RUN...
#   e.g. bash bench/gpu_recipes.sh --parallel 4 --deadline 560 best:rope:0 handout:rope:0
# At the deadline, runs still going are stopped (SIGTERM, their partial logs kept). With OUT set
# (the device machine's output folder), the logs and predictions go there as gpu_recipes.tar.gz,
# and the pretrained params of the first three finished runs in the order given, as NAME.pretrain.params.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")/.."
parallel=4 deadline=560
while [ $# -gt 0 ]; do
  case $1 in
    --parallel) parallel=$2; shift 2 ;;
    --deadline) deadline=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ]; then
  echo "usage: bash bench/gpu_recipes.sh [--parallel N] [--deadline SECONDS] RECIPE:VARIANT:SEED... (RECIPE: see the header)" >&2
  exit 2
fi
# best's vanilla finetuning, spelled out to give it to RoPE too (a test holds the two together)
ask_replay="--dropout 0 --finetune_lr 1e-4 --replay_share 0.25 --augment asktitle --micro_batch_size 32"
declare -A pretrain_flags=([handout]="" [best]="--recipe best" [askreplay]=""
  [mixed]="--mix_corpus_path $PWD/birth_places_train.tsv --mix_share 0.25" [muon]="--recipe best --optimizer muon")
declare -A finetune_flags=([handout]="" [best]="--recipe best" [askreplay]="$ask_replay" [mixed]="$ask_replay"
  [muon]="--recipe best")
recipes=$(printf '%s\n' "${!pretrain_flags[@]}" | sort | paste -sd '|')
for spec in "$@"; do
  if ! [[ $spec =~ ^($recipes):(vanilla|rope):[0-9]+$ ]]; then
    echo "gpu_recipes.sh: $spec is not RECIPE:VARIANT:SEED (RECIPE ${recipes//|/, }; VARIANT vanilla or rope)" >&2
    exit 2
  fi
done
export PYTHON=${PYTHON:-python3} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
start=$SECONDS longest=0 finished=()
declare -A pid_name=() began=()
name_of() { IFS=: read -r recipe variant seed <<<"$1"; echo "gpu_${recipe}_${variant}_s$seed"; }
launch() {
  local recipe variant seed name
  IFS=: read -r recipe variant seed <<<"$1"
  name=$(name_of "$1")
  local pretrain=${pretrain_flags[$recipe]}
  bash bench/recipe_run.sh "$name" "$variant" "$seed" "${pretrain:+$pretrain }--compile" "${finetune_flags[$recipe]}" &
  pid_name[$!]=$name began[$!]=$SECONDS
  echo "[$((SECONDS - start)) s] started $name"
}
reap() {  # wait for one run to end and note its wall time
  local pid
  wait -n -p pid "${!pid_name[@]}" || true
  local last
  last=$(tail -1 "bench/results/recipes/${pid_name[$pid]}.log")
  echo "[$((SECONDS - start)) s] ended ${pid_name[$pid]} ($((SECONDS - began[$pid])) s): $last"
  [[ $last == Correct:* ]] && finished+=("${pid_name[$pid]}")
  longest=$((SECONDS - began[$pid] > longest ? SECONDS - began[$pid] : longest))
  unset "pid_name[$pid]" "began[$pid]"
}
watchdog() {  # stop every run still going at the deadline
  sleep $((deadline - (SECONDS - start)))
  pkill -TERM -f "/tmp/recipes/gpu_.*/src/run.py" || true  # these runs' own, not other training
}
watchdog >/dev/null 2>&1 &  # its sleep must not hold this script's output open
watchdog_pid=$!
for spec in "$@"; do
  while [ ${#pid_name[@]} -ge "$parallel" ]; do reap; done
  if [ "$longest" -gt 0 ] && [ $((SECONDS - start + longest)) -gt "$deadline" ]; then
    echo "[$((SECONDS - start)) s] not started: $(name_of "$spec") (a run took $longest s; the deadline is $deadline s)"
    continue
  fi
  launch "$spec"
done
while [ ${#pid_name[@]} -gt 0 ]; do reap; done
pkill -P "$watchdog_pid" 2>/dev/null || true
if [ -n "${OUT:-}" ]; then
  tar -czf "$OUT/gpu_recipes.tar.gz" bench/results/recipes/gpu_*
  copied=0
  for spec in "$@"; do  # in the order given, not of finishing: put the params you want back first
    name=$(name_of "$spec")
    if [ $copied -lt 3 ] && [[ " ${finished[*]} " == *" $name "* ]]; then
      cp "/tmp/recipes/$name/pretrain.params" "$OUT/$name.pretrain.params"
      copied=$((copied + 1))
    fi
  done
fi
exit
}
