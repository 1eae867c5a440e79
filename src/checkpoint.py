"""Saving and loading parameters safely: plain state_dicts, atomic writes, clear errors."""
import io
import pickle
import warnings

import torch

from fileio import UserError, atomic_write

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # added by DataParallel/DDP and torch.compile


def save(obj, path):
    """torch.save, atomically: a crash never leaves a truncated file where a good one was.

    Serialised in memory first, so that a full disk is an OSError from the write (one clear line).
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))


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

    Names the problem when the file is not a plain state_dict of dense tensors, belongs to
    another variant, vocabulary or model size (saying which: "n_embd 128 vs 256"), or holds
    NaN or infinite values.
    """
    state = read_state_dict(path)
    expected = model.state_dict()
    _check_variant(state, model, path)
    (vocab, *sizes), (wanted_vocab, *wanted_sizes) = architecture(state), architecture(expected)
    changed = [f"{name} {found} vs {wanted}" for name, found, wanted in
               zip(ARCHITECTURE[1:], sizes, wanted_sizes) if found != wanted]
    if changed:
        raise UserError(f"params file {path!r} was trained with another model size "
                        f"({', '.join(changed)}; the file's vs this model's)")
    if vocab != wanted_vocab:
        raise UserError(f"params file {path!r} has a vocabulary of {vocab} characters, but the "
                        f"pretraining corpus gives {wanted_vocab}: it was trained with another corpus")
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise UserError(f"params file {path!r} does not match this model: "
                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise UserError(f"params file {path!r} holds {key} of shape {tuple(value.shape)}, but this "
                            f"model has {tuple(expected[key].shape)}: another model size")
    broken = [key for key, value in state.items() if not torch.isfinite(value).all()]
    if broken:
        raise UserError(f"params file {path!r} holds NaN or infinite values (in {', '.join(broken[:3])}"
                        f"{', ...' if len(broken) > 3 else ''}): the training that wrote it diverged")
    model.load_state_dict(state)


def read_state_dict(path):
    """A params file's plain state_dict of dense floating point tensors, a DDP or torch.compile
    key prefix removed; a UserError names what else the file holds."""
    state = load(path)
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise UserError(f"params file {path!r} is not a state_dict (a dict of named tensors)")
    for key, value in state.items():
        problem = _tensor_problem(value)
        if problem:
            raise UserError(f"params file {path!r} is not a plain state_dict: {key} {problem}")
    for prefix in WRAPPER_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            print(f"note: {path} was saved from a wrapped model; removing the {prefix!r} key prefix")
            state = {key[len(prefix):]: value for key, value in state.items()}
    return state


ARCHITECTURE = ("vocabulary size", "n_embd", "n_layer", "block_size")


def architecture(state):
    """(vocabulary size, n_embd, n_layer, block_size) read off a state_dict's shapes (None if absent)."""
    embedding = state.get("tok_emb.weight")
    mask = state.get("blocks.0.attn.mask")
    layers = {key.split(".")[1] for key in state if key.startswith("blocks.")}
    return (None if embedding is None or embedding.dim() != 2 else embedding.size(0),
            None if embedding is None or embedding.dim() != 2 else embedding.size(1),
            len(layers),
            None if mask is None or mask.dim() != 4 else mask.size(-1))


def _tensor_problem(value):
    """Why a state_dict entry cannot be loaded as a parameter, or None."""
    if not isinstance(value, torch.Tensor):
        return f"is a {type(value).__name__}, not a tensor"
    if value.layout != torch.strided:
        return f"is a sparse tensor ({value.layout})"
    if value.is_meta:
        return "is on the meta device (it holds no values)"
    if not value.is_floating_point():
        return f"holds {value.dtype} values, not floating point"
    return None


def _check_variant(state, model, path):
    """vanilla checkpoints hold pos_emb, rope checkpoints hold rope_cache buffers: say which it is."""
    if "pos_emb" in state and model.rope:
        raise UserError(f"params file {path!r} was trained with the vanilla variant "
                        f"(learned position embeddings), not rope")
    if any(key.endswith("attn.rope_cache") for key in state) and not model.rope:
        raise UserError(f"params file {path!r} was trained with the rope variant, not vanilla")
