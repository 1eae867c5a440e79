"""A training run's optimizer: the assignment's AdamW, or (--optimizer muon) Muon for the blocks'
weight matrices and the assignment's AdamW for every other parameter.

Muon ("Muon: An optimizer for hidden layers in neural networks", Jordan et al., 2024) steps each
matrix along its orthogonalised momentum, so that every direction of the update moves as far.
"Muon Outperforms Adam in Tail-End Associative Memory Learning" (Wang et al., 2025) finds that
this learns rare associations (a fact seen in few examples) faster than Adam, and each person's
birth place is such a fact. Its step is scaled to AdamW's size ("Muon is Scalable for LLM
Training", Liu et al., 2025), so the same learning rate and weight decay apply to both.
"""
import torch

OPTIMIZERS = ("adamw", "muon")


def make_optimizer(model, config, device):
    """The optimizer `config.optimizer` names, over the model's parameters."""
    matrices, rest = [], []
    for name, parameter in model.named_parameters():
        to_muon = config.optimizer == "muon" and is_hidden_matrix(name, parameter)
        (matrices if to_muon else rest).append((name, parameter))
    adamw = assignment_adamw(rest, config, device)
    if not matrices:
        return adamw
    muon = torch.optim.Muon([p for _, p in matrices], lr=config.learning_rate, weight_decay=config.weight_decay,
                            adjust_lr_fn="match_rms_adamw")
    return OptimizerPair(muon=muon, adamw=adamw)


def is_hidden_matrix(name, parameter):
    """A weight matrix inside a Transformer block (attention and MLP), not an embedding or the head."""
    return name.startswith("blocks.") and parameter.ndim == 2


def assignment_adamw(named, config, device):
    """AdamW with the assignment's groups: weight decay on every parameter but biases."""
    groups = [
        {"params": [p for n, p in named if "bias" not in n], "weight_decay": config.weight_decay},
        {"params": [p for n, p in named if "bias" in n], "weight_decay": 0.0},
    ]
    fused = config.fused_adamw
    if fused is None:
        fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas, fused=fused)


class OptimizerPair:
    """Several optimizers over disjoint parameters, stepped and saved as one: what the trainer and
    a GradScaler use of an optimizer (param_groups, zero_grad, step, state_dict, load_state_dict)."""

    def __init__(self, **optimizers):
        self.optimizers = optimizers

    @property
    def param_groups(self):
        return [group for optimizer in self.optimizers.values() for group in optimizer.param_groups]

    def zero_grad(self, set_to_none=True):
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self):
        for optimizer in self.optimizers.values():
            optimizer.step()

    def state_dict(self):
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state):
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[name])


def describe(optimizer):
    """'fused AdamW' (or unfused), after 'Muon for the blocks' matrices + ' where Muon steps them."""
    pair = isinstance(optimizer, OptimizerPair)
    adamw = optimizer.optimizers["adamw"] if pair else optimizer
    name = f"{'fused' if adamw.defaults.get('fused') else 'unfused'} AdamW"
    return f"Muon for the blocks' matrices + {name}" if pair else name
