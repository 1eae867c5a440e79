"""A training run's optimizer: the assignment's AdamW, or (--optimizer muon) Muon for the blocks'
weight matrices and the assignment's AdamW for every other parameter.

Muon ("Muon: An optimizer for hidden layers in neural networks", Jordan et al., 2024) steps each
matrix along its orthogonalised momentum, so that every direction of the update moves as far.
"Muon Outperforms Adam in Tail-End Associative Memory Learning" (Wang et al., 2025) finds that
this learns rare associations (a fact seen in few examples) faster than Adam, and each person's
birth place is such a fact. Its step is scaled to AdamW's size ("Muon is Scalable for LLM
Training", Liu et al., 2025), so the same learning rate and weight decay apply to both.
"""
import math

import torch

import devices

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
    muon = Muon([p for _, p in matrices], lr=config.learning_rate, weight_decay=config.weight_decay,
                matmul_dtype=devices.fast_matmul_dtype(device))
    return OptimizerPair(muon=muon, adamw=adamw)


class Muon(torch.optim.Optimizer):
    """Muon with Nesterov momentum, its step scaled to AdamW's size and decoupled weight decay: the
    arithmetic of torch.optim.Muon(adjust_lr_fn="match_rms_adamw"), whose updates these equal bit for
    bit in bf16 (tests/test_optimizers.py). Its state (one momentum buffer a matrix) is the same too.

    The orthogonalisation's matmuls run in `matmul_dtype`. torch.optim.Muon always uses bf16, which on
    a CPU without bf16 hardware is some 25x slower than fp32: there it cost ~6 s a step (bench/RESULTS.md).
    """

    def __init__(self, params, lr, weight_decay, matmul_dtype, momentum=0.95, ns_steps=5):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, ns_steps=ns_steps))
        self.matmul_dtype = matmul_dtype  # the device's, not a hyperparameter: not in the saved state

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buffer = state["momentum_buffer"]
                buffer.lerp_(p.grad, 1 - momentum)
                direction = p.grad.lerp(buffer, momentum)  # Nesterov: the gradient a momentum step ahead
                update = orthogonalise(direction, group["ns_steps"], self.matmul_dtype)
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr * (0.2 * math.sqrt(max(p.shape))))  # an update of AdamW's RMS (Liu et al.)


# The quintic's coefficients (Jordan et al.): the steepest slope at zero that still lands every
# singular value in roughly [0.5, 1.5] within five steps.
NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)


def orthogonalise(matrix, steps, dtype):
    """U V^T of the matrix's SVD U S V^T, approximately: a quintic Newton-Schulz iteration on
    X = matrix / |matrix|, X <- aX + (bXX^T + c(XX^T)^2)X, computed in `dtype`."""
    a, b, c = NEWTON_SCHULZ
    tall = matrix.size(0) > matrix.size(1)
    x = matrix.to(dtype)
    x = x.T if tall else x  # (m, n), m <= n: the Gram matrix is the smaller one
    x = x / x.norm().clamp(min=1e-7)  # every singular value <= 1
    for _ in range(steps):
        gram = x @ x.T  # (m, m)
        polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b G + c G^2
        x = torch.addmm(x, polynomial, x, beta=a)  # (m, n)
    return x.T if tall else x


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
    """'fused AdamW' (or unfused), after "Muon for the blocks' matrices (orthogonalised in bf16) + " where
    Muon steps them."""
    pair = isinstance(optimizer, OptimizerPair)
    adamw = optimizer.optimizers["adamw"] if pair else optimizer
    name = f"{'fused' if adamw.defaults.get('fused') else 'unfused'} AdamW"
    if not pair:
        return name
    precision = {torch.bfloat16: "bf16", torch.float32: "fp32"}[optimizer.optimizers["muon"].matmul_dtype]
    return f"Muon for the blocks' matrices (orthogonalised in {precision}) + {name}"
