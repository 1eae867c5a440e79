"""Saving and loading parameters safely: plain state_dicts, atomic writes, clear errors."""
import pickle
import warnings

import torch

from fileio import UserError, atomic_write

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # added by DataParallel/DDP and torch.compile


def save(obj, path):
    """torch.save, atomically: a crash never leaves a truncated file where a good one was."""
    atomic_write(path, lambda f: torch.save(obj, f))


def load(path, what="params file"):
    """torch.load with weights_only=True (a file from a stranger cannot run code), to the CPU."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise UserError(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e):  # the pickle names a Python callable: what malicious files do
            raise UserError(f"refusing to load {what} {path!r}: it holds Python objects, not only "
                            f"tensors, and could run code; only plain state_dicts are loaded") from None
        raise UserError(f"{what} {path!r} is not a PyTorch checkpoint") from None
    except Exception:  # torch reports damaged files as RuntimeError, EOFError, KeyError, ...
        raise UserError(f"{what} {path!r} is not a PyTorch checkpoint, or it is truncated") from None


def load_params(model, path):
    """Load a params file (a state_dict, ours or the assignment's) into `model`.

    Names the problem when the file is not a state_dict or belongs to another variant,
    vocabulary or model size.
    """
    state = load(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"params file {path!r} is not a state_dict (a dict of tensors)")
    for prefix in WRAPPER_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            print(f"note: {path} was saved from a wrapped model; removing the {prefix!r} key prefix")
            state = {key[len(prefix):]: value for key, value in state.items()}
    expected = model.state_dict()
    _check_variant(state, model, path)
    if "tok_emb.weight" in state and state["tok_emb.weight"].shape != expected["tok_emb.weight"].shape:
        found, wanted = state["tok_emb.weight"].size(0), expected["tok_emb.weight"].size(0)
        raise UserError(f"params file {path!r} has a vocabulary of {found} characters, but the "
                        f"pretraining corpus gives {wanted}: it was trained with another corpus")
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise UserError(f"params file {path!r} does not match this model: "
                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise UserError(f"params file {path!r} holds {key} of shape {tuple(value.shape)}, but this "
                            f"model has {tuple(expected[key].shape)}: another model size")
    model.load_state_dict(state)


def _check_variant(state, model, path):
    """vanilla checkpoints hold pos_emb, rope checkpoints hold rope_cache buffers: say which it is."""
    if "pos_emb" in state and model.rope:
        raise UserError(f"params file {path!r} was trained with the vanilla variant "
                        f"(learned position embeddings), not rope")
    if any(key.endswith("attn.rope_cache") for key in state) and not model.rope:
        raise UserError(f"params file {path!r} was trained with the rope variant, not vanilla")
