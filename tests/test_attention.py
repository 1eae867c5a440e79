"""RoPE against the handout's equations, and fused attention against the explicit path."""
import math

import pytest
import torch

from attention import apply_rotary_emb, precompute_rotary_emb
from conftest import small_model
from reference import use_reference_layers
from rope_properties import rotation_matrix
from starter_model import complex_rotary_emb


def test_rope_cache_values():
    dim, positions = 32, 128
    cache = precompute_rotary_emb(dim, positions)
    assert cache.shape == (positions, dim // 2, 2) and cache.dtype == torch.float32
    for t in (0, 1, 7, 127):
        for i in range(1, dim // 2 + 1):  # the handout counts i from 1
            theta = 10000 ** (-2 * (i - 1) / dim)
            assert cache[t, i - 1, 0].item() == pytest.approx(math.cos(t * theta), abs=1e-6)
            assert cache[t, i - 1, 1].item() == pytest.approx(math.sin(t * theta), abs=1e-6)


def test_apply_rotary_emb_is_the_block_diagonal_rotation_of_eq3():
    B, nh, T, hs = 2, 3, 10, 8
    cache = precompute_rotary_emb(hs, 16)
    x = torch.randn(B, nh, T, hs)
    rotated = apply_rotary_emb(x, cache)
    assert rotated.shape == x.shape
    for t in range(T):
        expected = x[:, :, t].double() @ rotation_matrix(cache, t).T  # (B, nh, hs): Eq. 3
        torch.testing.assert_close(rotated[:, :, t].double(), expected, rtol=1e-5, atol=1e-6)


def test_real_form_equals_complex_form():
    x = torch.randn(4, 8, 128, 32)
    cache = precompute_rotary_emb(32, 128)
    torch.testing.assert_close(apply_rotary_emb(x, cache), complex_rotary_emb(x, cache), rtol=1e-6, atol=1e-6)


def test_rope_scores_depend_only_on_relative_position():
    hs = 16
    cache = precompute_rotary_emb(hs, 64)
    q, k = torch.randn(hs), torch.randn(hs)

    def rotated(v, t):
        return apply_rotary_emb(v.view(1, 1, 1, hs), cache[t:t + 1]).view(hs)

    for t1, t2, shift in [(5, 2, 10), (30, 30, 7), (3, 40, 20)]:
        score = rotated(q, t1) @ rotated(k, t2)
        assert score.item() == pytest.approx((rotated(q, t1 + shift) @ rotated(k, t2 + shift)).item(), abs=1e-4)
        assert score.item() == pytest.approx((rotated(q, t1 - t2 + 40) @ rotated(k, 40)).item(), abs=1e-4)


def test_rope_keeps_the_input_dtype():
    x = torch.randn(1, 2, 4, 8, dtype=torch.bfloat16)
    assert apply_rotary_emb(x, precompute_rotary_emb(8, 4)).dtype == torch.bfloat16


@pytest.mark.parametrize("rope", [False, True])
def test_fused_attention_matches_explicit(rope):
    model = small_model(50, rope=rope).eval()
    idx = torch.randint(0, 50, (3, 32))
    fused, _ = model(idx)
    explicit, _ = use_reference_layers(model)(idx)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
