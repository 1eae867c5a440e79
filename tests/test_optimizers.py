"""--optimizer muon: Muon steps the blocks' weight matrices and AdamW the rest; the schedule reaches
both; a run resumes bit-identically; the handout's AdamW stays the default."""
import random

import pytest
import torch

import devices
import optimizers
import run
from conftest import fails, small_model, stop_mid_run, tiny_world
from dataset import CharCorruptionDataset
from model import GPTConfig
from starter_model import StarterGPT
from trainer import Trainer, TrainerConfig

CPU = torch.device("cpu")


def parameter_names(model, optimizer):
    ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def test_the_default_is_the_assignments_adamw():
    model = small_model(40)
    optimizer = optimizers.make_optimizer(model, TrainerConfig(), CPU)
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed, plain = optimizer.param_groups
    assert [g["weight_decay"] for g in (decayed, plain)] == [0.1, 0.0]
    assert parameter_names(model, optimizer) == {name for name, _ in model.named_parameters()}
    assert optimizers.describe(optimizer) == "fused AdamW"


@pytest.mark.parametrize("rope", [False, True])
def test_muon_takes_the_blocks_matrices_and_adamw_everything_else(rope):
    model = small_model(40, rope=rope)
    pair = optimizers.make_optimizer(model, TrainerConfig(optimizer="muon", weight_decay=0.2), CPU)
    muon, adamw = pair.optimizers["muon"], pair.optimizers["adamw"]
    matrices = parameter_names(model, muon)
    assert matrices == {n for n, p in model.named_parameters() if n.startswith("blocks.") and n.endswith("weight")
                        and p.ndim == 2}
    assert {n.split(".", 2)[2] for n in matrices} == {"attn.key.weight", "attn.query.weight", "attn.value.weight",
                                                      "attn.proj.weight", "mlp.0.weight", "mlp.2.weight"}
    rest = parameter_names(model, adamw)
    assert not matrices & rest and matrices | rest == {n for n, _ in model.named_parameters()}
    assert {"tok_emb.weight", "head.weight", "blocks.0.ln1.weight"} <= rest
    assert muon.param_groups[0]["weight_decay"] == 0.2
    assert [g["weight_decay"] for g in adamw.param_groups] == [0.2, 0.0]
    precision = "bf16" if devices.cpu_has_bf16() else "fp32"
    assert optimizers.describe(pair) == f"Muon for the blocks' matrices (orthogonalised in {precision}) + fused AdamW"


def test_a_muon_step_moves_each_matrix_along_an_orthogonalised_direction():
    """Muon's update of a matrix has its singular values near one (times the step size), though the
    gradient's spread over an order of magnitude: the matrices really are Muon's."""
    torch.manual_seed(0)
    model = small_model(40)
    lr, decay = 1e-2, 0.1
    pair = optimizers.make_optimizer(model, TrainerConfig(optimizer="muon", learning_rate=lr, weight_decay=decay), CPU)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x = torch.randint(1, 40, (16, 32))
    model(x, x)[1].backward()
    gradients = {n: p.grad.clone() for n, p in model.named_parameters()}
    pair.step()
    for name in ("blocks.0.attn.value.weight", "blocks.1.mlp.0.weight"):
        weight = dict(model.named_parameters())[name].detach()
        step = 0.2 * lr * max(weight.shape) ** 0.5  # Muon's step scaled to AdamW's size
        update = torch.linalg.svdvals((before[name] * (1 - lr * decay) - weight) / step)
        gradient = torch.linalg.svdvals(gradients[name])
        assert gradient.max() > 5 * gradient.median()
        assert update.max() < 1.3 and update.median() > 0.6, (name, update)


def muon_steps(optimizer_class, steps=3, **options):
    """Parameters and momentum buffers after a few steps on fixed gradients, one tall matrix and one wide."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(48, 16)), torch.nn.Parameter(torch.randn(16, 40))]
    optimizer = optimizer_class(params, lr=1e-2, weight_decay=0.1, **options)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn_like(p)
        optimizer.step()
    return params, [optimizer.state[p]["momentum_buffer"] for p in params]


def test_our_muon_is_torchs_muon_bit_for_bit_in_bf16():
    ours = muon_steps(optimizers.Muon, matmul_dtype=torch.bfloat16)
    theirs = muon_steps(torch.optim.Muon, adjust_lr_fn="match_rms_adamw")
    assert all(torch.equal(a, b) for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]))


def test_muon_in_fp32_takes_the_same_steps_to_bf16s_precision():
    fp32_params, _ = muon_steps(optimizers.Muon, matmul_dtype=torch.float32)
    bf16_params, _ = muon_steps(optimizers.Muon, matmul_dtype=torch.bfloat16)
    for a, b in zip(fp32_params, bf16_params):
        assert not torch.equal(a, b)
        torch.testing.assert_close(a, b, rtol=0, atol=2e-3)  # steps of ~0.03, bf16 keeps 3 digits


@pytest.mark.parametrize("shape", [(64, 256), (256, 64)])
def test_orthogonalising_in_fp32_brings_every_singular_value_near_one(shape):
    torch.manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(shape[0], min(shape)))
    v, _ = torch.linalg.qr(torch.randn(shape[1], min(shape)))
    matrix = u @ torch.diag(torch.logspace(-1, 1, min(shape))) @ v.T  # singular values 0.1 to 10
    result = optimizers.orthogonalise(matrix, 5, torch.float32)
    assert result.shape == shape and result.dtype == torch.float32
    values = torch.linalg.svdvals(result)
    assert values.min() > 0.5 and values.max() < 1.5, values


@pytest.mark.parametrize("hardware", [True, False])
def test_muon_orthogonalises_in_bf16_only_where_the_hardware_multiplies_it(monkeypatch, hardware):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: hardware)
    pair = optimizers.make_optimizer(small_model(40), TrainerConfig(optimizer="muon"), CPU)
    expected = torch.bfloat16 if hardware else torch.float32
    assert pair.optimizers["muon"].matmul_dtype is expected
    assert f"(orthogonalised in {'bf16' if hardware else 'fp32'})" in optimizers.describe(pair)


def test_a_state_saved_by_torchs_muon_resumes_in_ours():
    """Training states written before Muon was ours (torch.optim.Muon) still resume."""
    params, buffers = muon_steps(torch.optim.Muon, steps=1, adjust_lr_fn="match_rms_adamw")
    theirs = torch.optim.Muon(params, lr=1e-2, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    theirs.state.update({p: {"momentum_buffer": b} for p, b in zip(params, buffers)})
    ours = optimizers.Muon(params, lr=0.5, weight_decay=0.0, matmul_dtype=torch.bfloat16)
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["lr"] == 1e-2 and ours.param_groups[0]["weight_decay"] == 0.1
    assert all(torch.equal(ours.state[p]["momentum_buffer"], b) for p, b in zip(params, buffers))
    assert ours.matmul_dtype is torch.bfloat16


def test_the_learning_rate_schedule_reaches_both(tiny_corpus):
    config = TrainerConfig(optimizer="muon", learning_rate=6e-3, lr_decay=True, max_epochs=2, batch_size=4,
                           warmup_tokens=100, final_tokens=1000, progress=False)
    trainer = Trainer(small_model(tiny_corpus.vocab_size), tiny_corpus, None, config)
    trainer.tokens = 50  # halfway through the warmup
    assert trainer._set_learning_rate() == pytest.approx(3e-3)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx([3e-3] * 3)


def test_the_pair_works_under_a_grad_scaler():
    """fp16 autocast (GPUs without bf16) scales the loss: the scaler unscales and steps the pair."""
    torch.manual_seed(0)
    model = small_model(40)
    pair = optimizers.make_optimizer(model, TrainerConfig(optimizer="muon"), CPU)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x = torch.randint(1, 40, (4, 32))
    loss = model(x, x)[1]
    scaler.scale(loss).backward()
    scaled = model.head.weight.grad.clone()
    scaler.unscale_(pair)
    assert torch.allclose(model.head.weight.grad * 1024, scaled)
    scaler.step(pair)
    scaler.update()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert {"head.weight", "blocks.0.attn.key.weight"} <= moved


def test_a_muon_run_stopped_mid_epoch_resumes_bit_identically(tmp_path):
    """Muon's momentum travels in the training state with AdamW's moments."""
    corpus = CharCorruptionDataset("\n".join(tiny_world()[0]), 32)
    state_path = tmp_path / "p.params.state"

    def trainer(saving=True):
        random.seed(0)
        torch.manual_seed(0)
        config = TrainerConfig(max_epochs=2, batch_size=4, optimizer="muon", learning_rate=6e-3,
                               state_path=str(state_path) if saving else None, progress=False)
        return Trainer(small_model(corpus.vocab_size, dropout=0.1), corpus, None, config)
    whole = trainer(saving=False)
    whole.train()
    stopped = trainer()
    stop_mid_run(stopped, after_steps=stopped.batches_per_epoch() + 2)  # two steps into the second epoch
    assert set(torch.load(state_path, weights_only=True)["optimizer"]) == {"muon", "adamw"}
    resumed = trainer()
    resumed.train()
    expected = whole.model.state_dict()
    assert all(torch.equal(p, expected[name]) for name, p in resumed.model.state_dict().items())


def pretrain(world_files, *flags):
    return ["pretrain", "rope", str(world_files["wiki"]), "--writing_params_path", "p.params", "--batch_size", "16",
            *flags]


def test_a_muon_pretraining_says_so_and_its_params_load_in_the_assignments_model(world_files, tmp_path,
                                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run.main(pretrain(world_files, "--optimizer", "muon", "--max_steps", "2")) == 0
    assert ", fp32, Muon for the blocks' matrices (orthogonalised in " in capsys.readouterr().out
    state = torch.load("p.params", weights_only=True)
    config = GPTConfig(state["tok_emb.weight"].size(0), 128, n_layer=4, n_head=8, n_embd=256, rope=True)
    StarterGPT(config).load_state_dict(state)  # strictly: the assignment's names and shapes


def test_evaluate_does_not_take_an_optimizer(files, capsys):
    fails(capsys, "evaluate", "rope", str(files["wiki"]), "--reading_params_path", "p.params", "--eval_corpus_path",
          str(files["dev"]), "--outputs_path", "out.txt", "--optimizer", "muon",
          match="--optimizer muon chooses how training steps; evaluate does not train")
