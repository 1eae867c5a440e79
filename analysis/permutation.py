"""Handout 2(a), 2(b): a self-attention + feed-forward layer without position embeddings is
permutation equivariant (Z_perm = P Z); adding sinusoidal position embeddings breaks it; and the
sinusoidal embeddings of different positions never coincide in the handout's range.

    python analysis/permutation.py
"""
import math

import torch

from _common import pyplot, save


def layer(X, W):
    """The handout's layer: H = softmax(Q K^T / sqrt(d)) V, then Z = ReLU(H W1 + b1) W2 + b2."""
    d = X.size(1)
    Q, K, V = X @ W["Q"], X @ W["K"], X @ W["V"]
    H = torch.softmax(Q @ K.T / math.sqrt(d), dim=-1) @ V
    return torch.relu(H @ W["1"] + W["b1"]) @ W["2"] + W["b2"]


def sinusoidal(T, d):
    """Phi[t, 2i] = sin(t / 10000^(2i/d)), Phi[t, 2i+1] = cos(t / 10000^(2i/d))."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    rates = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    phi = torch.empty(T, d, dtype=torch.float64)
    phi[:, 0::2], phi[:, 1::2] = torch.sin(t * rates), torch.cos(t * rates)
    return phi


def equivariance_errors(T=10, d=8, seed=0):
    """|layer(PX) - P layer(X)| without and with position embeddings added to the input."""
    g = torch.Generator().manual_seed(seed)
    W = {k: torch.randn(d, d, generator=g, dtype=torch.float64) for k in ("Q", "K", "V", "1", "2")}
    W |= {k: torch.randn(1, d, generator=g, dtype=torch.float64) for k in ("b1", "b2")}
    X = torch.randn(T, d, generator=g, dtype=torch.float64)
    P = torch.eye(T, dtype=torch.float64)[torch.randperm(T, generator=g)]
    phi = sinusoidal(T, d)
    without = (layer(P @ X, W) - P @ layer(X, W)).abs().max().item()
    with_positions = (layer(P @ X + phi, W) - P @ layer(X + phi, W)).abs().max().item()
    return without, with_positions


def closest_positions(T=512, d=256):
    """The smallest distance between the embeddings of two different positions below T."""
    phi = sinusoidal(T, d)
    distances = torch.cdist(phi, phi) + torch.eye(T, dtype=torch.float64) * 1e9
    return distances.min().item()


def main():
    without, with_positions = equivariance_errors()
    print(f"2(a) max |Z(PX) - P Z(X)| without position embeddings: {without:.2e} (equivariant)")
    print(f"2(b) with sinusoidal embeddings added:                 {with_positions:.2e} (order now matters)")
    for T, d in [(128, 256), (512, 256), (2048, 64)]:
        distance = closest_positions(T, d)
        print(f"2(b)ii smallest distance between two positions' embeddings, T={T}, d={d}: {distance:.4f}")
    print("finding: without positions the layer cannot tell word orders apart; sinusoidal embeddings "
          "make positions distinct (the slowest pair of frequencies has a period of about 2*pi*10000).")
    plt = pyplot()
    if plt:
        figure, axis = plt.subplots(figsize=(5, 3.5))
        axis.imshow(sinusoidal(128, 64).numpy(), aspect="auto", cmap="RdBu")
        axis.set_xlabel("dimension")
        axis.set_ylabel("position t")
        save(figure, "sinusoidal_embeddings.png")


if __name__ == "__main__":
    main()
