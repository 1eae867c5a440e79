"""Pretrain, finetune or evaluate a GPT (vanilla or RoPE) on the birthplace task.

    python src/run.py pretrain|finetune|evaluate vanilla|rope wiki.txt [flags]

The flags and defaults are the assignment's; the ones marked "extra" only add options.
"""
import argparse
import dataclasses
import math
import os
import random
import signal
import sys

import torch

import checkpoint
import devices
import distributed
from dataset import CharCorruptionDataset
from augment import AUGMENTATIONS
from decoding import clean_questions, predict_places
from fileio import UserError, atomic_write_text, check_output, read_text
from model import GPT, GPTConfig
from optimizers import OPTIMIZERS
from recipes import (RECIPES, augmentation_names, check_pretraining_data, departures, finetuning_data,
                     pretraining_data, read_name_dataset, recipe_settings)
from trainer import Trainer, TrainerConfig
from training_state import RunLock, SignalCatcher, TrainingInterrupted, digest, file_digest
from utils import read_eval_corpus, score_places, set_seed

BLOCK_SIZE = 128
MODEL_SIZE = dict(n_layer=4, n_head=8, n_embd=256)
PRETRAIN = dict(max_epochs=650, batch_size=128, warmup_tokens=512 * 20)
FINETUNE = dict(batch_size=256, warmup_tokens=512 * 20)
FINETUNE_EPOCHS_FROM_SCRATCH = 75
FINETUNE_EPOCHS_PRETRAINED = 10
MAX_SEED = 2**32 - 1  # NumPy's limit (Python and PyTorch take more)
REQUIRED = {
    "pretrain": ["writing_params_path"],
    "finetune": ["finetune_corpus_path", "writing_params_path"],
    "evaluate": ["reading_params_path", "eval_corpus_path", "outputs_path"],
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is reported as a single line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    p = OneLineParser(prog="run.py", description=__doc__.split("\n")[0])
    p.add_argument("function", choices=["pretrain", "finetune", "evaluate"], help="what to do")
    p.add_argument("variant", choices=["vanilla", "rope"], help="learned position embeddings, or RoPE")
    p.add_argument("pretrain_corpus_path", help="wiki.txt: the vocabulary is always built from it")
    p.add_argument("--reading_params_path", default=None)
    p.add_argument("--writing_params_path", default=None)
    p.add_argument("--finetune_corpus_path", default=None)
    p.add_argument("--eval_corpus_path", default=None,
                   help="evaluate: the questions; finetune (extra): also report accuracy on it at the end")
    p.add_argument("--outputs_path", default=None)
    p.add_argument("--pretrain_lr", type=float, default=6e-3)
    p.add_argument("--finetune_lr", type=float, default=6e-4)
    p.add_argument("--tb_expt_name", default="run", help="TensorBoard run name under expt/<function>/")
    extra = p.add_argument_group("extra options (the defaults are the assignment's behaviour)")
    extra.add_argument("--max_epochs", type=int, default=None,
                       help="override the epochs (pretrain 650; finetune 75, or 10 after pretraining)")
    extra.add_argument("--batch_size", type=int, default=None,
                       help="override the batch size (pretrain 128, finetune 256)")
    extra.add_argument("--micro_batch_size", type=int, default=None,
                       help="forward and backward at most this many examples at a time and add up their "
                            "gradients (gradient accumulation): the same update, less memory")
    extra.add_argument("--max_steps", type=int, default=None,
                       help="stop after this many steps (a smoke test; the lr schedule stays that of the full run)")
    extra.add_argument("--seed", type=int, default=None,
                       help="seed Python and PyTorch for a repeatable run (default: random.seed(0) only)")
    extra.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: the best available)")
    extra.add_argument("--num_workers", type=int, default=4, help="DataLoader workers on CUDA (CPU uses none)")
    extra.add_argument("--bucket", action="store_true", help="pretrain on batches of similar length (faster)")
    extra.add_argument("--bucket_weighting", choices=("batch", "character"), default="batch",
                       help="with --bucket: 'batch' gives each batch's mean loss one step's weight, so a short "
                            "view's characters weigh more than a long view's (of the handout's views, those that "
                            "hold a training person's place get 32%% of an epoch's gradient instead of 43%%; "
                            "bench/bucket_weights.py); 'character' divides each "
                            "batch's summed loss by its examples times the epoch's mean characters per example, "
                            "so every character weighs alike, as without bucketing")
    extra.add_argument("--no_trim", dest="trim_padding", action="store_false",
                       help="compute all pad columns (the plain path; trimming them is exact)")
    extra.add_argument("--amp", dest="mixed_precision", action="store_true",
                       help="bf16/fp16 autocast on CUDA, bf16 on x86 CPUs with AVX512-BF16 or AMX (elsewhere "
                            "ignored, as the training line says); bf16 pretraining at lr 6e-3 diverged in our GPU runs")
    extra.add_argument("--dropout", type=float, default=None,
                       help="embedding, attention and residual dropout (the handout's 0.1; 0 memorises faster "
                            "and lets the CPU use fused attention)")
    extra.add_argument("--weight_decay", type=float, default=None,
                       help="AdamW's decoupled weight decay of every weight but the biases (the handout's 0.1); "
                            "at 0 a 60-epoch pretraining memorised a third as much (bench/RESULTS.md, E14)")
    extra.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw",
                       help="adamw: the handout's, for every parameter. muon: Muon for the weight matrices inside "
                            "the Transformer blocks, AdamW for the rest, at the same learning rate and weight decay "
                            "(Muon's step scaled to AdamW's size); it learns rare associations faster than Adam "
                            "('Muon Outperforms Adam in Tail-End Associative Memory Learning', Wang et al., 2025), "
                            "at some cost in time per step on a CPU (src/optimizers.py)")
    extra.add_argument("--init_params_path", default=None, metavar="PARAMS",
                       help="pretrain from these params instead of random weights, e.g. a second stage on other "
                            "--augment settings (a curriculum); warmup and cosine start again over --max_epochs "
                            "(the handout always pretrains from scratch)")
    extra.add_argument("--cosine_epochs", type=int, default=None, metavar="N",
                       help="pretrain: the learning rate's cosine spans N epochs instead of --max_epochs, then stays "
                            "at its floor (10%%; the handout's cosine reaches it at 80%% of the run): a smaller N "
                            "gives more steps at the floor, and --max_epochs 75 --cosine_epochs 650 is the "
                            "handout's first 75 epochs")
    extra.add_argument("--average_last", type=int, default=None, metavar="K",
                       help="pretrain: write the mean of the weights at the ends of the last K epochs instead of "
                            "the final weights (latest weight averaging, 'Early Weight Averaging meets High "
                            "Learning Rates for LLM Pre-training', Sanyal et al., 2023: at a high lr, the mean of "
                            "points along the run lies nearer the valley's floor than any of them); the params "
                            "keep the assignment's format")
    extra.add_argument("--average_every", type=int, default=None, metavar="E",
                       help="with --average_last: take those weights every E epochs, counted back from the last "
                            "(default 1)")
    extra.add_argument("--compile", action="store_true", help="torch.compile the model for training")
    extra.add_argument("--state_interval", type=float, default=300.0,
                       help="seconds between saves of the resumable training state (default 300)")
    extra.add_argument("--fresh", action="store_true", help="ignore a saved training state and start over")
    recipe = p.add_argument_group("pretraining data and recipes (opt-in departures from the handout, "
                                  "see README 'Recipes'; the params still load in the assignment's code)")
    recipe.add_argument("--augment", default=None, metavar="LIST",
                        help=("pretrain (and replay while finetuning, see --replay_share) on augmented documents, "
                              "comma-separated: " +
                              "; ".join(f"{name}: {text}" for name, text in AUGMENTATIONS.items())).replace("%", "%%"))
    recipe.add_argument("--mix_corpus_path", default=None, metavar="TSV",
                        help="mix this TSV's question/answer items into pretraining (training data only: "
                             "questions of birth_dev.tsv, birth_test_inputs.tsv or --eval_corpus_path are refused)")
    recipe.add_argument("--mix_share", type=float, default=0.25,
                        help="share of each pretraining epoch's examples that are mixed QA items (default 0.25)")
    recipe.add_argument("--replay_share", type=float, default=None, metavar="F",
                        help="finetune: make this share of each epoch's examples pretraining documents "
                             "(span corruption of the pretraining corpus, augmented as --augment says) drawn "
                             "at random between the QA items, against forgetting what pretraining memorised "
                             "about the people it does not ask about (off in the handout; README 'Recipes')")
    recipe.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                        help=("a named set of the options above, for pretrain and finetune: " +
                              "; ".join(f"{name}: {r['about']}" for name, r in RECIPES.items()) +
                              ". Flags given explicitly win").replace("%", "%%"))
    return p


def parse_arguments(argv=None):
    """The command line, with a --recipe's settings for this function as defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.recipe is not None:
        parser.set_defaults(**recipe_settings(args.recipe, args.function, args.variant))
        args = parser.parse_args(argv)
    return args


def main(argv=None):
    """Run the command line; returns the exit status (0, 1 for bad input, 128+n on signal n)."""
    args = parse_arguments(argv)
    try:
        run(args)
        distributed.shutdown(wait_for_others=True)
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except TrainingInterrupted as e:
        print(e, file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()


def run(args):
    check_arguments(args)
    if args.function == "evaluate":
        return run_function(args)
    lock = RunLock(args.writing_params_path + ".lock", enabled=distributed.launch_rank() == 0)
    with lock.acquire(f"params file {args.writing_params_path!r}"):
        run_function(args)


def run_function(args):
    if args.seed is None:
        random.seed(0)  # the assignment's only seed
    else:
        set_seed(args.seed)
    device = devices.choose_device(args.device)
    if distributed.launched_by_torchrun():
        device = join_process_group(device)
    devices.prepare(device)
    corpus = read_text(args.pretrain_corpus_path, "pretraining corpus")
    try:
        pretrain_dataset = CharCorruptionDataset(corpus, BLOCK_SIZE)
    except ValueError as e:
        raise UserError(f"pretraining corpus {args.pretrain_corpus_path!r}: {e}") from None
    dropout = {} if args.dropout is None else {f"{where}_pdrop": args.dropout for where in ("embd", "resid", "attn")}
    config = GPTConfig(pretrain_dataset.vocab_size, BLOCK_SIZE, rope=args.variant == "rope", **MODEL_SIZE, **dropout)
    model = GPT(config).to(device)
    distributed.print0(f"Model on device: {device}")
    function = {"pretrain": pretrain, "finetune": finetune, "evaluate": evaluate}[args.function]
    function(args, model, pretrain_dataset, corpus)


def check_arguments(args):
    """Fail before any work if a flag is missing or makes no sense, or an output cannot be written."""
    for name in REQUIRED[args.function]:
        if getattr(args, name) is None:
            raise UserError(f"{args.function} needs --{name}")
    for name, value in [("--max_epochs", args.max_epochs), ("--batch_size", args.batch_size),
                        ("--micro_batch_size", args.micro_batch_size), ("--max_steps", args.max_steps),
                        ("--cosine_epochs", args.cosine_epochs), ("--average_last", args.average_last),
                        ("--average_every", args.average_every)]:
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1")
    for name, value in [("--pretrain_lr", args.pretrain_lr), ("--finetune_lr", args.finetune_lr)]:
        if not (math.isfinite(value) and value > 0):
            raise UserError(f"{name} must be a positive number (got {value})")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed must be between 0 and {MAX_SEED} (got {args.seed})")
    if math.isnan(args.state_interval) or args.state_interval < 0:
        raise UserError(f"--state_interval must be 0 or more seconds (got {args.state_interval})")
    if args.num_workers < 0:
        raise UserError(f"--num_workers must be 0 or more (got {args.num_workers})")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise UserError(f"--dropout must be at least 0 and below 1 (got {args.dropout})")
    if args.weight_decay is not None and not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise UserError(f"--weight_decay must be 0 or a positive number (got {args.weight_decay})")
    if args.bucket_weighting != "batch" and not args.bucket:
        raise UserError(f"--bucket_weighting {args.bucket_weighting} weights bucketed batches; add --bucket")
    if args.cosine_epochs is not None and args.function != "pretrain":
        raise UserError(f"--cosine_epochs sets pretraining's schedule; it does not apply to {args.function}")
    check_averaging(args)
    if args.optimizer != "adamw" and args.function == "evaluate":
        raise UserError(f"--optimizer {args.optimizer} chooses how training steps; evaluate does not train")
    if args.init_params_path is not None and args.function != "pretrain":
        raise UserError(f"--init_params_path starts a pretraining from params; {args.function} reads them "
                        f"with --reading_params_path")
    check_pretraining_data(args)
    inputs = [(args.pretrain_corpus_path, "pretraining corpus"), (args.eval_corpus_path, "eval corpus"),
              (args.mix_corpus_path, "mix corpus")]
    if args.function == "evaluate":
        inputs.append((args.reading_params_path, "params file being read"))
        check_output(args.outputs_path, "outputs file", inputs)
        return
    inputs.append((args.finetune_corpus_path, "finetuning corpus"))
    check_output(args.writing_params_path, "params file", inputs)
    if params_read(args) is not None:  # training in place is allowed, the state must not hit it
        inputs.append((params_read(args), "params file being read"))
    check_output(args.writing_params_path + ".state", "training state", inputs)
    tensorboard_directory(args, required=True)


def check_averaging(args):
    """--average_last belongs to pretraining, and must reach back no further than its first epoch.

    Then fills in --average_every's default (1), left unset until here so that it could be refused alone.
    """
    if args.average_every is not None and args.average_last is None:
        raise UserError("--average_every spaces the weights that --average_last averages; add --average_last")
    args.average_every = args.average_every or 1
    if args.average_last is None:
        return
    if args.function != "pretrain":
        raise UserError(f"--average_last averages a pretraining's weights; it does not apply to {args.function}")
    epochs = args.max_epochs or PRETRAIN["max_epochs"]
    reach = (args.average_last - 1) * args.average_every + 1
    if reach > epochs:
        raise UserError(f"--average_last {args.average_last} every {args.average_every} epochs reaches back "
                        f"{reach} epochs; this pretraining has {epochs}")


def join_process_group(device):
    """Under torchrun: one process per GPU (or several on the CPU)."""
    local_rank = distributed.init(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:  # torchrun leaves each process one thread: share the cores out instead
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_processes))
    return device


def tensorboard_directory(args, required):
    """The assignment's log directory, created now: expt/<function>/<name>_<variant>_pt_lr_<lr>_ft_lr_<lr>.

    None if it cannot be created and it is not required (evaluate's predictions do not need it)."""
    name = f"{args.tb_expt_name}_{args.variant}_pt_lr_{args.pretrain_lr:f}_ft_lr_{args.finetune_lr:f}"
    directory = os.path.join("expt", args.function, name)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        problem = f"cannot create the TensorBoard directory {directory!r}: {e.strerror or e}"
        if required:
            raise UserError(f"{problem}; choose another --tb_expt_name or run from another directory") from None
        print(f"warning: {problem}; no TensorBoard log for this run", file=sys.stderr)
        return None
    return directory


def tensorboard_writer(args, directory=None):
    """A SummaryWriter on the assignment's log directory, or on `directory` made by
    tensorboard_directory already (rank 0 only)."""
    if not distributed.is_main():
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=directory or tensorboard_directory(args, required=True))


def run_identity(args, model, corpus, finetune_text=None):
    """What defines a training run beyond the trainer's settings: a saved state resumes only a
    run with the same function, model, vocabulary and data (digests of the files' contents)."""
    mixing = None
    if args.function == "pretrain" and args.mix_corpus_path is not None:
        mixing = {"corpus": file_digest(args.mix_corpus_path), "share": args.mix_share}
    return {"function": args.function, "model": dataclasses.asdict(model.config),
            "pretraining corpus": digest(corpus), "augment": augmentation_names(args), "mix": mixing,
            "finetuning corpus": None if finetune_text is None else digest(finetune_text),
            "replay": args.replay_share,
            "params read": file_digest(params_read(args))}


def params_read(args):
    """The params a training run starts from: finetuning's --reading_params_path, pretraining's
    --init_params_path (None: random weights)."""
    return args.init_params_path if args.function == "pretrain" else args.reading_params_path


def trainer_config(args, settings, writer, identity):
    """The assignment's TrainerConfig for one function, with the extra options applied."""
    if args.weight_decay is not None:
        settings = dict(settings, weight_decay=args.weight_decay)
    return TrainerConfig(
        **settings, lr_decay=True, writer=writer, optimizer=args.optimizer,
        num_workers=args.num_workers, bucket=args.bucket, bucket_weighting=args.bucket_weighting,
        trim_padding=args.trim_padding, max_steps=args.max_steps,
        micro_batch_size=args.micro_batch_size, mixed_precision=args.mixed_precision, compile=args.compile,
        average_last=args.average_last or 0, average_every=args.average_every,
        state_path=args.writing_params_path + ".state", state_interval=args.state_interval,
        state_identity=identity, label=departures(args),
    )


def train_and_save(args, model, dataset, config):
    """Train (resuming a saved state unless --fresh), save the params atomically, drop the state.

    SIGINT/SIGTERM after the last step (the trainer saves a state for those before it) wait
    until the final save is done: the run ends with the params written, or (a full disk) with
    the training state kept."""
    if args.fresh and os.path.exists(config.state_path) and distributed.is_main():
        os.remove(config.state_path)
    trainer = Trainer(model, dataset, None, config)
    with SignalCatcher(second_quits=False).active() as signals:
        trainer.train()  # installs its own handlers while it trains, and gives these back after
        if not distributed.is_main():
            return
        try:
            checkpoint.save(model.state_dict(), args.writing_params_path)
        except UserError as e:
            kept = (f"the training state {config.state_path} is kept: free space and run the same command "
                    f"again to resume from it") if os.path.exists(config.state_path) else "no training state was saved"
            raise UserError(f"{e}; {kept}") from None
        trainer.discard_state()
    print(f"Params written to {args.writing_params_path}")
    if signals.signum is not None:
        name = signal.Signals(signals.signum).name
        raise TrainingInterrupted(signals.signum, f"{name} arrived during the final save; it was finished first: "
                                                  f"params written to {args.writing_params_path}")


def pretrain(args, model, pretrain_dataset, corpus):
    """Span-corruption pretraining on the wiki text (augmented or mixed with QA items if asked),
    from random weights or from --init_params_path."""
    if args.init_params_path is not None:
        checkpoint.load_params(model, args.init_params_path)
    dataset = pretraining_data(args, pretrain_dataset)
    settings = dict(PRETRAIN, learning_rate=args.pretrain_lr)
    settings["max_epochs"] = args.max_epochs or settings["max_epochs"]
    settings["batch_size"] = args.batch_size or settings["batch_size"]
    # the cosine ends with training (at --cosine_epochs if given); it reaches its floor at 80% of that span
    settings["final_tokens"] = (args.cosine_epochs or settings["max_epochs"]) * len(dataset) * BLOCK_SIZE
    writer = tensorboard_writer(args)
    identity = run_identity(args, model, corpus)
    train_and_save(args, model, dataset, trainer_config(args, settings, writer, identity))
    if writer is not None:
        writer.close()


def finetune(args, model, pretrain_dataset, corpus):
    """Birthplace finetuning, from scratch or from pretrained params (--reading_params_path)."""
    finetune_dataset, text = read_name_dataset(args.finetune_corpus_path, "finetuning corpus", pretrain_dataset)
    if args.reading_params_path is not None:
        checkpoint.load_params(model, args.reading_params_path)
        epochs = FINETUNE_EPOCHS_PRETRAINED
    else:
        epochs = FINETUNE_EPOCHS_FROM_SCRATCH
    settings = dict(FINETUNE, learning_rate=args.finetune_lr, max_epochs=args.max_epochs or epochs,
                    final_tokens=200 * len(pretrain_dataset) * BLOCK_SIZE)  # sic: the pretraining set's size
    settings["batch_size"] = args.batch_size or settings["batch_size"]
    writer = tensorboard_writer(args)
    identity = run_identity(args, model, corpus, text)
    dataset = finetuning_data(args, pretrain_dataset, finetune_dataset)
    train_and_save(args, model, dataset, trainer_config(args, settings, writer, identity))
    if args.eval_corpus_path is not None and distributed.is_main():
        _, total, correct = predict_and_score(args.eval_corpus_path, model, pretrain_dataset)
        if total > 0:
            report_accuracy(total, correct, writer)
    if writer is not None:
        writer.close()


def evaluate(args, model, pretrain_dataset, _corpus):
    """Predict a birth place for each line of the eval corpus; score them if places are given."""
    checkpoint.load_params(model, args.reading_params_path)
    log_directory = tensorboard_directory(args, required=False)  # the predictions do not depend on it
    predictions, total, correct = predict_and_score(args.eval_corpus_path, model, pretrain_dataset)
    atomic_write_text(args.outputs_path, "".join(p + "\n" for p in predictions))
    if total > 0:
        writer = tensorboard_writer(args, log_directory) if log_directory else None
        report_accuracy(total, correct, writer)
        if writer is not None:
            writer.close()
    else:
        print(f"Predictions written to {args.outputs_path}; no targets provided")


def report_accuracy(total, correct, writer):
    """The assignment's result line, and the same figure in TensorBoard."""
    print(f"Correct: {correct} out of {total}: {correct / total * 100}%")
    if writer is not None:
        writer.add_scalar("eval/accuracy", correct / total * 100)


def predict_and_score(eval_corpus_path, model, pretrain_dataset):
    """Predictions for the questions of an eval file (read once: a pipe works), and (total,
    correct) against its places."""
    numbers, questions, places = read_eval_corpus(eval_corpus_path)
    questions, dropped = clean_questions(questions, pretrain_dataset.stoi)
    if dropped:
        warn_dropped(dropped, numbers)
    predictions = predict_places(model, questions, pretrain_dataset.stoi, pretrain_dataset.itos)
    total, correct = score_places(places, predictions, eval_corpus_path)
    return predictions, total, correct


def warn_dropped(dropped, numbers):
    """One warning for every character left out of the prompts, and where (file line numbers)."""
    lines = sorted({numbers[i] for indices in dropped.values() for i in indices})
    shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
    print(f"warning: left out {len(dropped)} character(s) the model never saw in finetuning "
          f"({''.join(sorted(dropped))!r}; non-ASCII text is dropped as in training) from "
          f"{len(lines)} question(s), on line(s) {shown}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
