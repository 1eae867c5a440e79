"""GPT: shapes, the loss, causality, parameter names and counts, checkpoints of the assignment."""
import pytest
import torch
import torch.nn.functional as F

from conftest import small_model
from model import GPT, GPTConfig
from starter_model import StarterGPT
from utils import sample


def standard(rope=False):
    config = GPTConfig(256, 128, n_layer=4, n_head=8, n_embd=256)
    config.rope = rope
    return GPT(config)


def test_config_defaults():
    assert (GPTConfig.embd_pdrop, GPTConfig.resid_pdrop, GPTConfig.attn_pdrop, GPTConfig.rope) == (0.1, 0.1, 0.1, False)


def test_standard_parameter_count(capsys):
    assert sum(p.numel() for p in standard().parameters()) == 3_323_392
    assert "number of parameters: 3323392" in capsys.readouterr().out
    assert sum(p.numel() for p in standard(rope=True).parameters()) == 3_323_392 - 128 * 256


def test_state_dict_names():
    expected = {"tok_emb.weight", "pos_emb", "ln_f.weight", "ln_f.bias", "head.weight"}
    for i in range(4):
        expected |= {f"blocks.{i}.{name}" for name in [
            "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "attn.mask",
            "attn.key.weight", "attn.key.bias", "attn.query.weight", "attn.query.bias",
            "attn.value.weight", "attn.value.bias", "attn.proj.weight", "attn.proj.bias",
            "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"]}
    vanilla = standard().state_dict()
    assert set(vanilla) == expected
    assert vanilla["pos_emb"].shape == (1, 128, 256) and not vanilla["pos_emb"].any()
    assert torch.equal(vanilla["blocks.0.attn.mask"], torch.tril(torch.ones(128, 128)).view(1, 1, 128, 128))
    rope = standard(rope=True).state_dict()
    assert set(rope) == (expected - {"pos_emb"}) | {f"blocks.{i}.attn.rope_cache" for i in range(4)}
    assert rope["blocks.0.attn.rope_cache"].shape == (128, 16, 2)


def test_initialisation():
    model = standard()
    assert model.head.bias is None
    assert abs(model.blocks[0].attn.key.weight.std().item() - 0.02) < 0.002
    assert not model.blocks[0].attn.key.bias.any()
    assert torch.equal(model.ln_f.weight, torch.ones(256))


@pytest.mark.parametrize("rope", [False, True])
def test_logits_shape_and_pad_targets_ignored(rope):
    model = small_model(40, rope=rope).eval()
    idx = torch.randint(0, 40, (2, 20))
    targets = torch.randint(1, 40, (2, 20))
    targets[:, 12:] = 0
    logits, loss = model(idx, targets)
    assert logits.shape == (2, 20, 40)
    expected = F.cross_entropy(logits[:, :12].reshape(-1, 40), targets[:, :12].reshape(-1))
    torch.testing.assert_close(loss, expected)
    assert model(idx)[1] is None


@pytest.mark.parametrize("rope", [False, True])
def test_causality(rope):
    model = small_model(40, rope=rope).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)  # the zero pos_emb would hide position bugs
    idx = torch.randint(0, 40, (2, 32))
    changed = idx.clone()
    changed[:, 20:] = torch.randint(0, 40, (2, 12))
    logits, changed_logits = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(logits[:, :20], changed_logits[:, :20], rtol=0, atol=1e-6)
    assert not torch.allclose(logits[:, 20:], changed_logits[:, 20:])


def test_longer_than_block_is_refused():
    with pytest.raises(ValueError, match="block size is 32"):
        small_model(40)(torch.zeros(1, 33, dtype=torch.long))


@pytest.mark.parametrize("rope", [False, True])
def test_checkpoints_move_between_the_assignment_code_and_ours(rope, tmp_path):
    config = GPTConfig(60, 48, n_layer=2, n_head=4, n_embd=32, rope=rope)
    theirs, ours = StarterGPT(config).eval(), GPT(config).eval()
    torch.save(theirs.state_dict(), tmp_path / "theirs.params")
    ours.load_state_dict(torch.load(tmp_path / "theirs.params", weights_only=True))
    idx = torch.randint(0, 60, (4, 30))
    torch.testing.assert_close(ours(idx)[0], theirs(idx)[0], rtol=1e-5, atol=1e-5)
    assert torch.equal(sample(ours, idx[:, :10], 20), sample(theirs, idx[:, :10], 20))
    StarterGPT(config).load_state_dict(ours.state_dict())  # and back, strictly
