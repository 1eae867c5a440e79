#!/usr/bin/env bash
# Pack the coding submission into assignment4_submission.zip: src/ and the files the handout
# lists. Names any expected file that is missing (the zip is still made from what is there).
set -euo pipefail
cd "$(dirname "$0")"
files=(
  vanilla.model.params vanilla.finetune.params rope.finetune.params
  vanilla.nopretrain.dev.predictions vanilla.nopretrain.test.predictions
  vanilla.pretrain.dev.predictions vanilla.pretrain.test.predictions
  rope.pretrain.dev.predictions rope.pretrain.test.predictions
  london_baseline_accuracy.txt
)
missing=()
present=()
for f in "${files[@]}"; do
  if [ -f "$f" ]; then present+=("$f"); else missing+=("$f"); fi
done
rm -rf src/__pycache__
# build beside the target and rename, so an interrupted run never leaves a half-written zip
partial=".assignment4_submission.$$.zip"
trap 'rm -f "$partial"' EXIT
zip -q -r "$partial" src "${present[@]}" -x '*__pycache__*' '*.pyc'
mv "$partial" assignment4_submission.zip
echo "wrote assignment4_submission.zip: src/ and ${#present[@]} of ${#files[@]} expected files"
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing (run the steps that make them, see README): ${missing[*]}" >&2
  exit 1
fi
