#!/usr/bin/env bash
# Issue 11's first target: the faithful recipe's dev accuracy against pretraining compute on a
# CPU. The handout's pretraining and finetuning, with the cosine compressed to 75, 150 and 300
# epochs under --bucket, and 150 epochs without it (does bucketing cost accuracy?), for RoPE
# and vanilla, cheapest first; each point is one bench/recipe_run.sh experiment. One more point,
# RoPE at 150 epochs with --bucket_weighting character, asks whether weighting every character
# alike (as without bucketing) takes back what bucketing costs (bench/bucket_weights.py).
#   bash bench/curve.sh [SEED]      # all points: about 22 hours of a 2-core Xeon (~40 s a bucketed epoch)
#   bash bench/curve.sh --table [SEED]   # only the table of the points finished so far (every seed's without SEED)
# Interrupted? Run it again: finished points are skipped and the interrupted one resumes.
# The finetuning runs in micro-batches of 32 (the handout's updates in a quarter of its memory).
# Ends with a table of every finished point, a row per seed.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")/.."
table_only=0 table_seeds="*"  # the table shows every seed's finished points, unless --table names one
if [ "${1:-}" = --table ]; then table_only=1 table_seeds=${2:-*}; shift; fi
seed=${1:-0}
points=(  # VARIANT EPOCHS BUCKETING (bucket, nobucket, or charbucket: --bucket_weighting character)
  "rope 75 bucket" "vanilla 75 bucket" "rope 150 bucket" "vanilla 150 bucket"
  "rope 150 nobucket" "vanilla 150 nobucket" "rope 150 charbucket" "rope 300 bucket" "vanilla 300 bucket"
)
name_of() { echo "curve_$1_ep$2_$3_s${4:-$seed}"; }
for point in "${points[@]}"; do
  [ "$table_only" = 1 ] && break
  read -r variant epochs bucket <<<"$point"
  flags="--max_epochs $epochs"
  case $bucket in
    bucket) flags="$flags --bucket" ;;
    charbucket) flags="$flags --bucket --bucket_weighting character" ;;
  esac
  name=$(name_of "$variant" "$epochs" "$bucket")
  result=$(bash bench/recipe_run.sh "$name" "$variant" "$seed" "$flags" "--micro_batch_size 32")  # stops here if it fails
  echo "$(date -u +%T) $name: $result"
done
echo "| variant | epochs | bucketing | seed | pretraining wall | cloze recall (train people) | name recall | dev |"
echo "|---|---|---|---|---|---|---|---|"
for point in "${points[@]}"; do
  read -r variant epochs bucket <<<"$point"
  # shellcheck disable=SC2231  # the seed's glob is meant to expand
  for log in bench/results/recipes/$(name_of "$variant" "$epochs" "$bucket" "$table_seeds").log; do
    log_seed=${log##*_s} log_seed=${log_seed%.log}
    [[ -f $log && $log_seed =~ ^[0-9]+$ ]] || continue  # not a rerun under another name
    # summed over resumptions; a start from scratch (a lost machine took the saved state) discards the parts before it
    wall=$(awk '/^# pretrain: from the start/ { s = 0 } /^pretrain wall:/ { s += $3; n++ } END { if (n) print s }' "$log")
    cloze=$(sed -n 's/^cloze recall: .*(\(.*%\)).*/\1/p' "$log" | head -1)
    recall=$(sed -n 's/^name recall: .*(\(.*%\)) written.*/\1/p' "$log" | head -1)
    dev=$(sed -n 's/^Correct: .*: \(.*\)%$/\1/p' "$log" | tail -1)
    [ -n "$dev" ] || continue  # still running, or interrupted
    echo "| $variant | $epochs | $(case $bucket in bucket) echo on ;; charbucket) echo "on, by character" ;; *) echo off ;; esac) | $log_seed | ${wall:+$((wall / 60)) min} | $cloze | $recall | $(printf %.1f "$dev")% |"
  done
done
exit
}
