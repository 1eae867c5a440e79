"""GPT: a decoder-only Transformer (Radford et al., 2018), as in minGPT.

Parameter names match the assignment's, so state_dicts move freely between its code and ours.
Shapes: B batch, T time, C channels (n_embd), V vocabulary size.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from attention import CausalSelfAttention, KVCache
from dropout import Dropout


@dataclass
class GPTConfig:
    """Model hyperparameters; the assignment uses n_layer=4, n_head=8, n_embd=256, block_size=128."""
    vocab_size: int
    block_size: int
    n_layer: int = 4
    n_head: int = 8
    n_embd: int = 256
    embd_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    rope: bool = False


class Block(nn.Module):
    """A pre-LayerNorm Transformer block: x + attention(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            Dropout(config.resid_pdrop),
        )

    def forward(self, x, kv_cache=None):
        x = x + self.attn(self.ln1(x), kv_cache)  # (B, T, C)
        return x + self.mlp(self.ln2(x))  # (B, T, C)


class GPT(nn.Module):
    """Token embeddings (+ learned position embeddings unless config.rope), blocks, LM head."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.block_size = config.block_size
        self.rope = config.rope
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        if not self.rope:
            self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = Dropout(config.embd_pdrop)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        print(f"number of parameters: {sum(p.numel() for p in self.parameters())}")

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def get_block_size(self):
        return self.block_size

    def new_kv_caches(self, batch_size, max_positions):
        """Empty per-layer KV caches for decoding up to max_positions tokens."""
        c = self.config
        param = self.head.weight
        return [KVCache(batch_size, c.n_head, max_positions, c.n_embd // c.n_head, param.device, param.dtype)
                for _ in range(c.n_layer)]

    def forward(self, idx, targets=None, kv_caches=None):
        """idx (B, T) token ids -> logits (B, T, V), and the mean cross-entropy over non-pad
        targets (id 0 is ignored) when targets (B, T) are given. With kv_caches (from
        new_kv_caches), idx holds the positions after the cached ones."""
        B, T = idx.size()
        start = 0 if kv_caches is None else kv_caches[0].length
        if start + T > self.block_size:
            raise ValueError(f"cannot forward {start + T} positions: the block size is {self.block_size}")
        x = self.tok_emb(idx)  # (B, T, C)
        if not self.rope:
            x = x + self.pos_emb[:, start:start + T]  # (B, T, C)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if kv_caches is None else kv_caches[i])  # (B, T, C)
        logits = self.head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=0)
        return logits, loss
