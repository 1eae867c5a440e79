"""Recipes: the opt-in pretraining data and settings of the command line (README "Recipes").

A recipe is a named set of run.py flag defaults per function; --augment, --mix_corpus_path and
--mix_share build the pretraining dataset, --replay_share (with --augment) the finetuning one.
Only training data may be mixed into pretraining: refuse_held_out stops a run whose mix file
brings in a dev or test question.
"""
import math
import os

from augment import (AUGMENTATIONS, AugmentedCorruptionDataset, MixedDataset, augmentation_conflict, held_out_items,
                     unknown_augmentations)
from dataset import NameDataset
from fileio import UserError, read_text, same_file
from utils import read_eval_corpus

HELD_OUT_FILES = ("birth_dev.tsv", "birth_test_inputs.tsv")  # never mixed into pretraining
TRAINING_FILE = "birth_places_train.tsv"

# Finetuning that keeps what pretraining stored: no dropout, a sixth of the handout's lr.
GENTLE_FINETUNING = dict(dropout=0.0, finetune_lr=1e-4)

# Named recipes: flag defaults per function (and, under a variant's name, that variant's own
# defaults for a function). The handout's settings stay the defaults without one.
RECIPES = {
    "laptop": {
        "about": "pretraining for a 2-core CPU (under an hour per variant): 60 bucketed epochs at batch 32 and lr "
                 "3e-3, dropout 0, documents augmented (fullname, longviews, packed), Muon for the blocks' "
                 "matrices (--optimizer muon), the cosine spread over 120 epochs so that the lr ends at half its "
                 "peak; finetuning gently (dropout 0, lr 1e-4) in micro-batches of 32",
        "pretrain": dict(dropout=0.0, batch_size=32, pretrain_lr=3e-3, max_epochs=60, cosine_epochs=120, bucket=True,
                         augment="fullname,longviews,packed", optimizer="muon"),
        "finetune": dict(GENTLE_FINETUNING, micro_batch_size=32),
    },
    "best": {
        "about": "the handout's pretraining compute (650 epochs, batch 128, lr 6e-3). RoPE: pretraining with dropout 0 "
                 "on documents augmented (fullname, longviews, packed), then finetuning gently (dropout 0, lr 1e-4), "
                 "which keeps the memory. Vanilla: the handout's pretraining (those augmentations cost it accuracy), "
                 "then the gentle finetuning with a quarter of its examples pretraining documents whose title is "
                 "worded as the question (--replay_share 0.25 --augment asktitle, in micro-batches of 32). Measured "
                 "(pretrained on an H200): RoPE 35.4% and 31.6% dev (handout's 25.4%), vanilla 38.4% and 37.8% "
                 "(handout's 22.6-24.6%)",
        "pretrain": dict(dropout=0.0, augment="fullname,longviews,packed"),
        "finetune": dict(GENTLE_FINETUNING),
        "vanilla": {
            "pretrain": {},
            "finetune": dict(GENTLE_FINETUNING, replay_share=0.25, augment="asktitle", micro_batch_size=32),
        },
    },
}


def recipe_settings(name, function, variant):
    """A recipe's flag defaults for one function and variant: the variant's own entry for that
    function where it has one, else the recipe's."""
    recipe = RECIPES[name]
    return recipe.get(variant, {}).get(function, recipe.get(function, {}))


def check_pretraining_data(args):
    """--augment and --mix_* belong to pretraining (--augment also to finetuning's replayed
    documents), --replay_share to finetuning, and they must name what exists."""
    if args.replay_share is not None:
        if args.function != "finetune":
            raise UserError(f"--replay_share replays documents while finetuning; it does not apply to {args.function}")
        if not (math.isfinite(args.replay_share) and 0 < args.replay_share < 1):
            raise UserError(f"--replay_share must be between 0 and 1 (got {args.replay_share})")
    if args.function != "pretrain":
        if args.augment is not None and args.replay_share is None:
            raise UserError(f"--augment changes pretraining data; it does not apply to {args.function} "
                            f"(except to the documents that --replay_share replays)")
        if args.mix_corpus_path is not None:
            raise UserError(f"--mix_corpus_path changes pretraining data; it does not apply to {args.function}")
    if args.augment is not None:
        unknown = unknown_augmentations(augmentation_names(args))
        if unknown or not augmentation_names(args):
            raise UserError(f"--augment {args.augment!r}: choose from {', '.join(AUGMENTATIONS)} (comma-separated)")
        conflict = augmentation_conflict(augmentation_names(args))
        if conflict:
            raise UserError(f"--augment {args.augment!r}: {conflict}")
    if args.function == "pretrain" and not (math.isfinite(args.mix_share) and 0 < args.mix_share < 1):
        raise UserError(f"--mix_share must be between 0 and 1 (got {args.mix_share})")


def augmentation_names(args):
    return [name.strip() for name in (args.augment or "").split(",") if name.strip()]


def departures(args):
    """The recipe and data options of this run, for the training line ('' for the handout's)."""
    parts = [f"recipe {args.recipe}"] if args.recipe else []
    if args.dropout is not None:
        parts.append(f"dropout {args.dropout:g}")
    if args.weight_decay is not None:
        parts.append(f"weight decay {args.weight_decay:g}")
    if args.augment is not None:
        parts.append(f"augment {','.join(augmentation_names(args))}")
    if args.function == "pretrain" and args.cosine_epochs is not None:
        parts.append(f"cosine over {args.cosine_epochs} epochs")
    if args.function == "pretrain" and args.average_last is not None:
        apart = f" {args.average_every} apart" if args.average_every > 1 else ""
        parts.append(f"last {args.average_last} epoch ends{apart} averaged")
    if args.function == "pretrain" and args.init_params_path is not None:
        parts.append(f"from {args.init_params_path}")
    if args.function == "pretrain" and args.mix_corpus_path is not None:
        parts.append(f"{args.mix_share:.0%} of examples QA items from {args.mix_corpus_path}")
    if args.function == "finetune" and args.replay_share is not None:
        parts.append(f"{args.replay_share:.0%} of examples replayed pretraining documents")
    return ", ".join(parts)


def documents(args, pretrain_dataset):
    """The assignment's span-corruption dataset, or its augmented form."""
    if args.augment is None:
        return pretrain_dataset
    try:
        return AugmentedCorruptionDataset(pretrain_dataset, augmentation_names(args))
    except ValueError as e:  # a corpus the augmentation cannot write in
        raise UserError(f"--augment {args.augment!r}: {e}") from None


def finetuning_data(args, pretrain_dataset, finetune_dataset):
    """The finetuning QA items, with pretraining documents replayed between them if asked."""
    if args.replay_share is None:
        return finetune_dataset
    return MixedDataset(finetune_dataset, documents(args, pretrain_dataset), args.replay_share)


def pretraining_data(args, pretrain_dataset):
    """The assignment's span-corruption dataset, or its augmented and/or QA-mixed form."""
    dataset = documents(args, pretrain_dataset)
    if args.mix_corpus_path is not None:
        questions, _ = read_name_dataset(args.mix_corpus_path, "mix corpus", pretrain_dataset)
        refuse_held_out(args, [tuple(line.split("\t")) for line in questions.data])
        dataset = MixedDataset(dataset, questions, args.mix_share)
    return dataset


def refuse_held_out(args, items):
    """Stop if a mixed (question, place) item brings in the dev or test set (found beside the
    corpus or in the working directory) or --eval_corpus_path: only training data may enter
    pretraining. Items of the official training file beside them are training data."""
    directories = {os.path.dirname(os.path.abspath(args.pretrain_corpus_path)), os.getcwd()}
    held_out, training = {}, []
    for path in [args.eval_corpus_path] + [os.path.join(d, name) for d in directories for name in HELD_OUT_FILES]:
        if path is not None and os.path.isfile(path) and not any(same_file(path, p) for p in held_out):
            held_out[path] = question_place_pairs(path)
    for path in {os.path.join(d, TRAINING_FILE) for d in directories}:
        if os.path.isfile(path):
            training += question_place_pairs(path)
    found = held_out_items(items, held_out, training)
    if found:
        path, leaks = next(iter(found.items()))
        raise UserError(f"mix corpus {args.mix_corpus_path!r} holds {len(leaks)} question(s) of the held-out "
                        f"file {path!r} (e.g. {leaks[0]!r}): only training data may be mixed into pretraining")


def question_place_pairs(path):
    """(question, place) per line of an eval-style TSV (place None in a questions-only file)."""
    _, questions, places = read_eval_corpus(path)
    return list(zip(questions, places or [None] * len(questions)))


def read_name_dataset(path, what, pretrain_dataset):
    """A NameDataset of the TSV at path, and its text; a problem or no usable line is a UserError."""
    text = read_text(path, what)
    try:
        dataset = NameDataset(pretrain_dataset, text)
    except ValueError as e:
        raise UserError(f"{what} {path!r}, {e}") from None
    if len(dataset) == 0:
        raise UserError(f"{what} {path!r} has no usable line once non-ASCII characters are dropped "
                        f"(as in the assignment): nothing to train on")
    return dataset, text
