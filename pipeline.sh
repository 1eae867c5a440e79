#!/usr/bin/env bash
# The whole assignment, in the handout's order: the London baseline; finetuning without
# pretraining; pretraining + finetuning for vanilla, then RoPE; each model evaluated on the dev
# and test sets; then the submission zip. Each step prints its wall time.
#
#   bash pipeline.sh                    # the handout's settings (hours on a CPU; minutes on a GPU)
#   bash pipeline.sh --quick            # 1-2 epochs per training, every output under quick/: minutes on a CPU
#   bash pipeline.sh --pretrain_flags "--compile"          # extra run.py flags for both pretrainings
#   bash pipeline.sh --recipe laptop    # a named recipe (run.py --recipe) for both pretrainings and their finetunings
#   bash pipeline.sh --stages "baseline nopretrain vanilla"  # a subset (also: rope submission)
#
#   bash pipeline.sh --redo             # train again even what an earlier run already trained
#
# Interrupted? Run the same command again: training resumes where it stopped (see README), and a
# training that an earlier run finished from the same code, data and settings is not run again.
set -euo pipefail
{  # read to the closing brace before anything runs: an edit saved while this runs cannot reach it
cd "$(dirname "$0")"

quick=0 redo=0
recipe=""
pretrain_flags=""
stages="baseline nopretrain vanilla rope submission"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --redo) redo=1 ;;
    --pretrain_flags) pretrain_flags="$2"; shift ;;
    --recipe) recipe="--recipe $2"; shift ;;
    --stages) stages="$2"; shift ;;
    *) echo "pipeline.sh: unknown option $1 (see the comments at the top of pipeline.sh)" >&2; exit 2 ;;
  esac
  shift
done

source scripts/setup.sh
export PYTHONUNBUFFERED=1
if [ -n "$recipe" ] && ! "$PYTHON" -c "import sys; sys.path.insert(0, 'src'); import run; sys.exit(sys.argv[1] not in run.RECIPES)" "${recipe#--recipe }" 2>/dev/null; then
  echo "pipeline.sh: unknown recipe ${recipe#--recipe } (see python src/run.py --help)" >&2
  exit 2
fi

# The outputs go to $out: here, or quick/ in quick mode, so that a check never replaces a real run's files.
out="" tensorboard="" pretrain_epochs="" scratch_epochs="" pretrained_epochs=""
if [ "$quick" = 1 ]; then
  out=quick/ tensorboard="--tb_expt_name quick"  # TensorBoard logs apart from a real run's too
  mkdir -p "$out"
  echo "quick mode: 1 pretraining epoch, 2 finetuning epochs from scratch, 1 after pretraining; outputs in $out"
  pretrain_epochs="--max_epochs 1" scratch_epochs="--max_epochs 2" pretrained_epochs="--max_epochs 1"
fi
trained=${out}.pipeline_trained  # one line per finished training: what it read, then the params it wrote

timed() {  # timed NAME COMMAND...: run a step and print its wall time
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  "$@"
  echo "== $name: $((SECONDS - start)) s"
}

# shellcheck disable=SC2086  # $tensorboard is empty or two words
run() {  # run.py, after printing the command as the handout writes it
  echo "+ python src/run.py $*${tensorboard:+ $tensorboard}"
  "$PYTHON" src/run.py "$@" $tensorboard
}

if command -v sha256sum >/dev/null; then
  sha() { sha256sum "$@" | cut -d' ' -f1; }
else  # macOS
  sha() { shasum -a 256 "$@" | cut -d' ' -f1; }
fi
params_written() {  # params_written RUN.PY ARGS...: the --writing_params_path
  while [ $# -gt 1 ]; do [ "$1" = --writing_params_path ] && echo "$2"; shift; done
}
inputs_digest() {  # inputs_digest RUN.PY ARGS...: of the arguments, the code and every file they name but the params written
  local arg previous=""
  {
    printf '%s\n' "$@"
    cat src/*.py | sha
    for arg; do
      [ "$previous" != --writing_params_path ] && [ -f "$arg" ] && sha "$arg"
      previous=$arg
    done
  } | sha
}
train() {  # train RUN.PY ARGS...: run.py, unless an earlier run of this pipeline trained these params from the same inputs
  local params key
  params=$(params_written "$@")
  key=$(inputs_digest "$@")
  if [ "$redo" = 0 ] && [ -f "$params" ] && [ -f "$trained" ] && grep -qxF "$key $(sha "$params")" "$trained"; then
    echo "$params: trained by an earlier run from the same code, data and settings; kept (--redo trains again)"
    return
  fi
  run "$@"
  echo "$key $(sha "$params")" >>"$trained"
}

evaluate_both() {  # evaluate_both VARIANT PARAMS PREFIX
  timed "$3 dev" run evaluate "$1" wiki.txt --reading_params_path "$2" \
    --eval_corpus_path birth_dev.tsv --outputs_path "$out$3.dev.predictions"
  timed "$3 test" run evaluate "$1" wiki.txt --reading_params_path "$2" \
    --eval_corpus_path birth_test_inputs.tsv --outputs_path "$out$3.test.predictions"
}

pretrain_and_finetune() {  # pretrain_and_finetune VARIANT: with the recipe if one is named
  # shellcheck disable=SC2086  # the flags are meant to split into words; $recipe is empty or two words
  timed "$1 pretrain" train pretrain "$1" wiki.txt --writing_params_path "$out$1.pretrain.params" \
    $pretrain_epochs $pretrain_flags $recipe
  # shellcheck disable=SC2086
  timed "$1 finetune" train finetune "$1" wiki.txt --reading_params_path "$out$1.pretrain.params" \
    --writing_params_path "$out$1.finetune.params" --finetune_corpus_path birth_places_train.tsv $pretrained_epochs \
    $recipe
  evaluate_both "$1" "$out$1.finetune.params" "$1.pretrain"
}

for stage in $stages; do
  case "$stage" in
    baseline) timed "london baseline" "$PYTHON" london_baseline.py --outputs_path "${out}london_baseline_accuracy.txt" ;;
    nopretrain)
      # The handout's baseline under any recipe: its finetuning, in micro-batches of 32 when a recipe
      # is named (the same updates in a quarter of the memory).
      # shellcheck disable=SC2086
      timed "vanilla finetune without pretraining" train finetune vanilla wiki.txt \
        --writing_params_path "${out}vanilla.model.params" --finetune_corpus_path birth_places_train.tsv \
        $scratch_epochs ${recipe:+--micro_batch_size 32}
      evaluate_both vanilla "${out}vanilla.model.params" vanilla.nopretrain ;;
    vanilla | rope) pretrain_and_finetune "$stage" ;;
    submission) timed "collect submission" bash collect_submission.sh ${out:+"$out"} ;;
    *) echo "pipeline.sh: unknown stage $stage" >&2; exit 2 ;;
  esac
done
exit
}
