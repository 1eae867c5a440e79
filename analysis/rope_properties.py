"""Handout 3(g) i, ii: RoPE's complex-multiplication form (Eq. 4) equals its rotation-matrix form
(Eq. 3), and the score <RoPE(q, t1), RoPE(k, t2)> depends only on t1 - t2.

    python analysis/rope_properties.py
"""
import torch

from _common import pyplot, save
from attention import apply_rotary_emb, precompute_rotary_emb


def rotation_matrix(cache, t):
    """Equation 3's block-diagonal matrix at position t."""
    cos, sin = cache[t, :, 0].double(), cache[t, :, 1].double()
    R = torch.zeros(2 * len(cos), 2 * len(cos), dtype=torch.float64)
    for j in range(len(cos)):
        R[2 * j:2 * j + 2, 2 * j:2 * j + 2] = torch.tensor([[cos[j], -sin[j]], [sin[j], cos[j]]])
    return R


def forms_differ(d=16, T=64, seed=0):
    """Largest difference between Eq. 4 (complex product), Eq. 3 (matrix) and apply_rotary_emb."""
    x = torch.randn(T, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    cache = precompute_rotary_emb(d, T).double()
    complex_form = torch.view_as_real(torch.view_as_complex(x.view(T, -1, 2).contiguous())
                                      * torch.view_as_complex(cache.contiguous())).view(T, d)
    matrix_form = torch.stack([rotation_matrix(cache, t) @ x[t] for t in range(T)])
    ours = apply_rotary_emb(x.float().view(1, 1, T, d), cache.float()).view(T, d).double()
    return (complex_form - matrix_form).abs().max().item(), (ours - matrix_form).abs().max().item()


def scores_by_offset(d=16, T=64, seed=0):
    """For q, k fixed: the score for every (t1, t2); returns (T, T) scores."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(d, generator=g), torch.randn(d, generator=g)
    cache = precompute_rotary_emb(d, T)
    rq = apply_rotary_emb(q.expand(1, 1, T, d), cache)[0, 0]  # (T, d): q at every position
    rk = apply_rotary_emb(k.expand(1, 1, T, d), cache)[0, 0]
    return rq @ rk.T  # (T, T)


def relative_spread(scores):
    """The largest spread of scores along one diagonal (fixed t1 - t2): 0 if only t1 - t2 matters."""
    T = scores.size(0)
    return max((scores.diagonal(o).max() - scores.diagonal(o).min()).item() for o in range(-T + 1, T))


def main():
    complex_vs_matrix, ours_vs_matrix = forms_differ()
    print(f"3(g)i  Eq. 4 (complex) vs Eq. 3 (matrix): max difference {complex_vs_matrix:.1e}; "
          f"apply_rotary_emb vs Eq. 3: {ours_vs_matrix:.1e}")
    scores = scores_by_offset()
    print(f"3(g)ii score spread along each diagonal t1 - t2 = const: {relative_spread(scores):.1e} "
          f"(scores themselves range {scores.min():.2f} .. {scores.max():.2f})")
    print("finding: rotating pairs is multiplying by e^(i t theta), and rotations preserve inner products "
          "up to their angle difference, so attention scores see only relative positions.")
    plt = pyplot()
    if plt:
        figure, axis = plt.subplots(figsize=(4.5, 4))
        image = axis.imshow(scores.numpy(), cmap="viridis")
        axis.set_xlabel("key position t2")
        axis.set_ylabel("query position t1")
        figure.colorbar(image)
        save(figure, "rope_scores.png")


if __name__ == "__main__":
    main()
