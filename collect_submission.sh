#!/usr/bin/env bash
# Pack the coding submission into assignment4_submission.zip: src/ and the files the handout
# lists. Without src/ (or one of its modules) nothing is packed; a missing output file is named,
# the zip is made from what is there, and the exit status is non-zero either way.
#   bash collect_submission.sh [DIR]   # the output files from DIR (default: here), the zip written there
set -euo pipefail
outputs="" shown=""  # the outputs' folder, and as the user named it
if [ $# -gt 0 ]; then
  if [ ! -d "$1" ]; then
    echo "collect_submission.sh: no zip written: $1 is not a folder" >&2
    exit 1
  fi
  outputs=$(cd "$1" && pwd) shown=${1%/}/
fi
cd "$(dirname "$0")"
outputs=${outputs:-$PWD}
sources=(src/dataset.py src/model.py src/attention.py src/trainer.py src/run.py src/utils.py)
files=(
  vanilla.model.params vanilla.finetune.params rope.finetune.params
  vanilla.nopretrain.dev.predictions vanilla.nopretrain.test.predictions
  vanilla.pretrain.dev.predictions vanilla.pretrain.test.predictions
  rope.pretrain.dev.predictions rope.pretrain.test.predictions
  london_baseline_accuracy.txt
)
missing_sources=()
for f in "${sources[@]}"; do
  [ -f "$f" ] || missing_sources+=("$f")
done
if [ ${#missing_sources[@]} -gt 0 ]; then
  echo "collect_submission.sh: no zip written: the code is missing: ${missing_sources[*]}" >&2
  exit 1
fi
if ! command -v zip >/dev/null; then
  echo "collect_submission.sh: no zip written: the 'zip' program is not installed" >&2
  exit 1
fi
missing=()
present=()
for f in "${files[@]}"; do
  if [ -f "$outputs/$f" ]; then present+=("$f"); else missing+=("$f"); fi
done
rm -rf src/__pycache__
# build beside the target and rename, so an interrupted run never leaves a half-written zip
zipped=$outputs/assignment4_submission.zip
partial=$outputs/.assignment4_submission.$$.zip
trap 'rm -f "$partial"' EXIT
zip -q -r "$partial" src -x '*__pycache__*' '*.pyc'
if [ ${#present[@]} -gt 0 ]; then
  (cd "$outputs" && zip -q "$partial" "${present[@]}")
fi
mv "$partial" "$zipped"
echo "wrote ${shown}assignment4_submission.zip: src/ and ${#present[@]} of ${#files[@]} expected files"
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing${shown:+ from $shown}: ${missing[*]} (run the steps that make them, see README)" >&2
  exit 1
fi
