"""A stand-in for the assignment's own model code, written from its interface facts: nn.Sequential
blocks, explicit attention with masked_fill(-1e10), and RoPE through complex numbers. Checkpoints
must move between it and ours and give the same predictions."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from attention import precompute_rotary_emb


def complex_rotary_emb(x, rope_cache):
    """Eq. 4 literally: view pairs as complex numbers and multiply by e^{i t θ}."""
    T = x.size(2)
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())  # (B, nh, T, hs/2)
    rotation = torch.view_as_complex(rope_cache[:T].contiguous())  # (T, hs/2)
    return torch.view_as_real(pairs * rotation).flatten(-2).type_as(x)


class StarterAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        C, bs = config.n_embd, config.block_size
        self.key, self.query, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.rope = config.rope
        if self.rope:
            self.register_buffer("rope_cache", precompute_rotary_emb(C // config.n_head, bs))
        self.attn_drop = nn.Dropout(config.attn_pdrop)
        self.resid_drop = nn.Dropout(config.resid_pdrop)
        self.proj = nn.Linear(C, C)
        self.register_buffer("mask", torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs))
        self.n_head = config.n_head

    def forward(self, x):
        B, T, C = x.size()
        k = self.key(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = self.query(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = self.value(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.rope:
            q, k = complex_rotary_emb(q, self.rope_cache), complex_rotary_emb(k, self.rope_cache)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, -1e10)
        att = self.attn_drop(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))


class StarterBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(config.n_embd), nn.LayerNorm(config.n_embd)
        self.attn = StarterAttention(config)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(),
                                 nn.Linear(4 * config.n_embd, config.n_embd), nn.Dropout(config.resid_pdrop))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class StarterGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.rope = config.rope
        if not self.rope:
            self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = nn.Dropout(config.embd_pdrop)
        self.blocks = nn.Sequential(*[StarterBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.block_size = config.block_size
        for p in self.parameters():
            nn.init.normal_(p, std=0.3)  # far from the real init, so that a wrong load shows

    def get_block_size(self):
        return self.block_size

    def forward(self, idx, targets=None):
        x = self.tok_emb(idx)
        if not self.rope:
            x = x + self.pos_emb[:, :idx.size(1)]
        logits = self.head(self.ln_f(self.blocks(self.drop(x))))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=0)
        return logits, loss
