"""Causal self-attention, with learned positions handled by the model or RoPE applied here.

Shape notation: B batch, T time (sequence length), C channels (n_embd), nh heads, hs head size
(C = nh * hs), L the number of positions held in a KV cache.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from dropout import Dropout, dropout


def precompute_rotary_emb(dim, max_positions):
    """The RoPE table: cos(t·θ_i) and sin(t·θ_i) with θ_i = 10000^(-2(i-1)/dim) (Su et al., 2021).

    Returns a (max_positions, dim/2, 2) float32 tensor; [..., 0] holds cos, [..., 1] holds sin.
    Computed in float64 so that even the largest angles are exact to float32 precision.
    """
    theta = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim/2,)
    positions = torch.arange(max_positions, dtype=torch.float64)  # (max_positions,)
    angles = torch.outer(positions, theta)  # (max_positions, dim/2)
    return torch.stack([angles.cos(), angles.sin()], dim=-1).float()  # (max_positions, dim/2, 2)


def apply_rotary_emb(x, rope_cache):
    """Rotate each pair (x[2j], x[2j+1]) at position t by the angle t·θ_j (handout Eq. 3).

    x is (B, nh, T, hs) and takes the first T positions of rope_cache. This is the complex
    product of Eq. 4, (a + ib)(cos + i sin), written in real arithmetic so that it runs on
    every device (complex tensors do not work on Apple MPS).
    """
    T = x.size(-2)
    cos, sin = rope_cache[:T].unbind(-1)  # (T, hs/2) each
    real, imag = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # (B, nh, T, hs/2) each
    rotated = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)  # (B, nh, T, hs/2, 2)
    return rotated.flatten(-2).type_as(x)  # (B, nh, T, hs)


class KVCache:
    """Keys and values of the positions seen so far by one attention layer, for decoding."""

    def __init__(self, batch_size, n_head, max_positions, head_size, device, dtype):
        shape = (batch_size, n_head, max_positions, head_size)
        self.keys = torch.empty(shape, device=device, dtype=dtype)  # (B, nh, L, hs)
        self.values = torch.empty(shape, device=device, dtype=dtype)  # (B, nh, L, hs)
        self.length = 0

    def append(self, k, v):
        """Store k, v (B, nh, T, hs) after the cached positions; return all keys and values."""
        end = self.length + k.size(2)
        self.keys[:, :, self.length:end] = k
        self.values[:, :, self.length:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]  # (B, nh, L, hs) each


class CausalSelfAttention(nn.Module):
    """Multi-head masked self-attention, each position attending to itself and the past."""

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = config.n_head
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_pdrop = config.attn_pdrop
        self.resid_drop = Dropout(config.resid_pdrop)
        self.rope = config.rope
        if self.rope:
            head_size = config.n_embd // config.n_head
            assert head_size % 2 == 0, "RoPE rotates pairs of features: the head size must be even"
            self.register_buffer("rope_cache", precompute_rotary_emb(head_size, config.block_size))
        # The assignment's checkpoints carry this lower-triangular mask, so we keep it;
        # scaled_dot_product_attention(is_causal=True) applies the same mask without reading it.
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))

    def split_heads(self, t):
        """(B, T, C) -> (B, nh, T, hs)"""
        B, T, C = t.size()
        return t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

    def attend_with_dropout(self, q, k, v):
        """Causal attention with dropout on the attention weights, for training on the CPU.

        The CPU has no fused scaled_dot_product_attention kernel with dropout: it falls back to
        these same steps, drawing the mask with bernoulli_. Spelled out, they use dropout()'s
        cheaper mask instead.
        """
        T = q.size(-2)
        scores = (q * q.size(-1) ** -0.5) @ k.transpose(-2, -1)  # (B, nh, T, T)
        scores = scores.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        weights = dropout(F.softmax(scores, dim=-1), self.attn_pdrop)  # (B, nh, T, T)
        return weights @ v  # (B, nh, T, hs)

    def forward(self, x, kv_cache=None):
        """x (B, T, C) -> (B, T, C). With a kv_cache, x holds the positions after the cached ones:
        either a whole prompt (empty cache) or a single new token."""
        B, T, C = x.size()
        start = 0 if kv_cache is None else kv_cache.length
        assert start == 0 or T == 1, "a KV cache takes a whole prompt, then one token at a time"
        q = self.split_heads(self.query(x))  # (B, nh, T, hs)
        k = self.split_heads(self.key(x))  # (B, nh, T, hs)
        v = self.split_heads(self.value(x))  # (B, nh, T, hs)
        if self.rope:
            positions = self.rope_cache[start:start + T]  # (T, hs/2, 2)
            q = apply_rotary_emb(q, positions)
            k = apply_rotary_emb(k, positions)
        if kv_cache is not None:
            k, v = kv_cache.append(k, v)  # (B, nh, start + T, hs) each
        if self.training and self.attn_pdrop > 0 and kv_cache is None and x.device.type == "cpu":
            y = self.attend_with_dropout(q, k, v)  # (B, nh, T, hs)
        else:
            # scores scaled by 1/sqrt(hs), causal mask; a single new token may see every cached key
            dropout_p = self.attn_pdrop if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=T > 1)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_drop(self.proj(y))

