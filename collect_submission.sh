#!/usr/bin/env bash
# Pack the coding submission into assignment4_submission.zip: src/ and the files the handout
# lists. Without src/ (or one of its modules) nothing is packed; a missing output file is named,
# the zip is made from what is there, and the exit status is non-zero either way.
set -euo pipefail
cd "$(dirname "$0")"
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
