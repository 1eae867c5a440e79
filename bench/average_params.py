"""Average params files into one: weight-space ensembles that still load as a plain state_dict.

    python bench/average_params.py OUT.params A.params B.params [...] [--weights 0.5,0.5]

Two uses, each from a paper:
- WiSE-FT ("Robust fine-tuning of zero-shot models", Wortsman et al., 2022): a finetuned model
  averaged with the pretrained params it started from, e.g. `--weights 0.7,0.3`, keeps more of
  what pretraining memorised than the finetuned model alone.
- A model soup ("Model soups: averaging weights of multiple fine-tuned models improves accuracy
  without increasing inference time", Wortsman et al., 2022): several finetunings of the same
  pretrained params, averaged.
Measured on the 2-core CPU (bench/RESULTS.md, "Weight averaging"): neither beat the finetuned
params alone, so it is an experiment tool here, not a run.py option.
Averaging is only meaningful between params that share their start (one pretraining and its
finetunings); params of unrelated runs average into noise.

The weights (default: equal) are normalised to sum to 1. Entries equal in every file (RoPE's
cos/sin cache, the causal mask) are copied from the first, so they stay exact.
"""
import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
import checkpoint  # noqa: E402
from fileio import UserError, check_output  # noqa: E402


def average_state_dicts(states, weights):
    """The weighted average of state_dicts with the same keys and shapes; weights sum to 1."""
    first = states[0]
    averaged = {}
    for key, value in first.items():
        values = [state[key] for state in states]
        if all(torch.equal(value, other) for other in values[1:]):
            averaged[key] = value.clone()
        else:
            averaged[key] = sum(weight * other for weight, other in zip(weights, values)).to(value.dtype)
    return averaged


def read_states(paths):
    """Read params files (checkpoint.read_state_dict) and check that they can be averaged: not empty,
    finite, the same keys and shapes."""
    states = []
    for path in paths:
        state = checkpoint.read_state_dict(path)
        if not state:
            raise UserError(f"params file {path!r} is not a state_dict (a dict of named tensors)")
        for key, value in state.items():
            if not torch.isfinite(value).all():
                raise UserError(f"params file {path!r} holds NaN or infinite values (in {key})")
        states.append(state)
    for path, state in zip(paths[1:], states[1:]):
        differ = sorted(states[0].keys() ^ state.keys())
        if differ:
            raise UserError(f"params files {paths[0]!r} and {path!r} hold different entries ({', '.join(differ[:3])}): "
                            f"another variant or model")
        for key, value in state.items():
            if value.shape != states[0][key].shape:
                raise UserError(f"params files {paths[0]!r} and {path!r} differ in the shape of {key} "
                                f"({tuple(states[0][key].shape)} vs {tuple(value.shape)}): another model size")
    return states


def parse_weights(text, count):
    """'0.7,0.3' -> [0.7, 0.3], normalised to sum to 1; equal weights for None."""
    if text is None:
        return [1.0 / count] * count
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--weights must be numbers separated by commas (got {text!r})") from None
    if len(weights) != count:
        raise UserError(f"--weights gives {len(weights)} weight(s) for {count} params files")
    if not all(math.isfinite(weight) and weight >= 0 for weight in weights) or sum(weights) == 0:
        raise UserError(f"--weights must be finite numbers, 0 or more, and not all 0 (got {text!r})")
    return [weight / sum(weights) for weight in weights]


def build_parser():
    p = argparse.ArgumentParser(prog="average_params.py", description=__doc__.split("\n")[0])
    p.add_argument("output", help="the averaged params file to write")
    p.add_argument("inputs", nargs="+", metavar="params", help="two or more params files of the same variant")
    p.add_argument("--weights", default=None, help="comma-separated, one per input (default: equal)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if len(args.inputs) < 2:
            raise UserError("give two or more params files to average")
        weights = parse_weights(args.weights, len(args.inputs))
        check_output(args.output, "averaged params file")
        states = read_states(args.inputs)
        checkpoint.save(average_state_dicts(states, weights), args.output)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    shares = ", ".join(f"{weight:g} {path}" for weight, path in zip(weights, args.inputs))
    print(f"Params written to {args.output}: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
