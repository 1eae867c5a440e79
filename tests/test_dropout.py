"""The CPU dropout: F.dropout's distribution from a cheaper mask, and the attention that uses it."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from attention import CausalSelfAttention
from dropout import Dropout, dropout
from model import GPTConfig


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_drops_with_probability_p_and_scales_like_f_dropout(p):
    torch.manual_seed(0)
    n = 1_000_000
    out = dropout(torch.ones(n), p)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)  # five standard deviations
    reference = F.dropout(torch.ones(n), p)
    assert torch.equal(out[out != 0].unique(), reference[reference != 0].unique())  # the same 1/(1-p)


def test_masks_are_independent_of_position():
    torch.manual_seed(0)
    kept = (dropout(torch.ones(2000, 500), 0.3) != 0).float()
    for share in (kept.mean(dim=0), kept.mean(dim=1)):  # per column, per row
        assert (share - 0.7).abs().max().item() < 0.1


def test_gradient_is_the_mask():
    torch.manual_seed(0)
    x = torch.randn(64, 33, requires_grad=True)
    out = dropout(x, 0.25)
    out.backward(torch.ones_like(out))
    kept = out != 0
    assert torch.equal(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))
    assert torch.equal(x.grad[~kept], torch.zeros_like(x.grad[~kept]))


def test_same_seed_same_mask():
    x = torch.randn(100, 100)
    torch.manual_seed(3)
    first = dropout(x, 0.1)
    torch.manual_seed(3)
    assert torch.equal(first, dropout(x, 0.1))
    assert not torch.equal(first, dropout(x, 0.1))


def test_identity_when_off_and_zeros_at_p_one():
    x = torch.randn(10, 10)
    assert dropout(x, 0.1, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_module_is_an_nn_dropout():
    module = Dropout(0.1)
    assert isinstance(module, nn.Dropout) and module.p == 0.1 and not list(module.state_dict())
    x = torch.randn(5, 5)
    assert module.eval()(x) is x


def attention_layer(attn_pdrop, rope=False):
    torch.manual_seed(0)
    config = GPTConfig(10, 16, n_head=2, n_embd=8, attn_pdrop=attn_pdrop, resid_pdrop=0.0, rope=rope)
    return CausalSelfAttention(config).train()


def heads(B=3, nh=2, T=7, hs=4):
    return [torch.randn(B, nh, T, hs) for _ in range(3)]


@pytest.mark.parametrize("rope", [False, True])
def test_cpu_attention_without_dropout_is_sdpa(rope):
    layer = attention_layer(0.0, rope)
    q, k, v = heads()
    torch.testing.assert_close(layer.attend_with_dropout(q, k, v),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-5, atol=1e-6)
    x = torch.randn(3, 7, 8)
    layer.attn_pdrop = 0.1
    with torch.no_grad():
        torch.manual_seed(1)
        ours = layer(x)
        layer.attn_pdrop = 0.0
        torch.manual_seed(1)
        assert not torch.equal(ours, layer(x))  # the training forward goes through the dropout


def test_cpu_attention_with_dropout_is_unbiased_and_causal():
    layer = attention_layer(0.5)
    q, k, v = heads(B=1, nh=1)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.manual_seed(0)
    draws = torch.stack([layer.attend_with_dropout(q, k, v) for _ in range(4000)])
    torch.testing.assert_close(draws.mean(dim=0), expected, rtol=0, atol=0.1)
    later = v.clone()
    later[:, :, -1] += 100.0  # a change at the last position must not reach earlier ones
    torch.manual_seed(1)
    before = layer.attend_with_dropout(q, k, v)
    torch.manual_seed(1)
    after = layer.attend_with_dropout(q, k, later)
    assert torch.equal(before[:, :, :-1], after[:, :, :-1])
    assert not torch.equal(before[:, :, -1], after[:, :, -1])
