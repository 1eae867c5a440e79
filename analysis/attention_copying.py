"""Handout 1(a), 1(b): attention copies one value when the query aligns with one key far more than
with the others, and averages two values when the query is a large multiple of k_a + k_b.

    python analysis/attention_copying.py
"""
import torch

from _common import pyplot, save


def attend(q, keys, values):
    """c = sum_i alpha_i v_i with alpha = softmax(k_i . q) (handout Eqs. 1-2)."""
    alpha = torch.softmax(keys @ q, dim=0)  # (n,)
    return alpha, alpha @ values  # (n,), (d,)


def orthonormal_keys(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=torch.float64))
    return q.T  # (n, d): orthonormal rows


def copying(scales=(0.5, 2.0, 8.0, 32.0), n=6, d=16, j=2):
    """alpha_j and |c - v_j| as the query q = s * k_j grows."""
    keys = orthonormal_keys(n, d)
    values = torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rows = []
    for s in scales:
        alpha, c = attend(s * keys[j], keys, values)
        rows.append((s, alpha[j].item(), (c - values[j]).norm().item()))
    return rows


def averaging(scales=(0.5, 2.0, 8.0, 32.0), n=6, d=16, a=1, b=4):
    """alpha_a, alpha_b and |c - (v_a + v_b)/2| for q = s * (k_a + k_b)."""
    keys = orthonormal_keys(n, d)
    values = torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rows = []
    for s in scales:
        alpha, c = attend(s * (keys[a] + keys[b]), keys, values)
        rows.append((s, alpha[a].item(), alpha[b].item(), (c - (values[a] + values[b]) / 2).norm().item()))
    return rows


def main():
    print("1(a) copying: q = s * k_j with orthonormal keys")
    copy_rows = copying()
    for s, alpha_j, distance in copy_rows:
        print(f"  s = {s:5.1f}: alpha_j = {alpha_j:.4f}, |c - v_j| = {distance:.2e}")
    print("1(b) averaging: q = s * (k_a + k_b)")
    average_rows = averaging()
    for s, alpha_a, alpha_b, distance in average_rows:
        print(f"  s = {s:5.1f}: alpha_a = {alpha_a:.4f}, alpha_b = {alpha_b:.4f}, |c - (v_a+v_b)/2| = {distance:.2e}")
    print("finding: a large query aligned with one key copies its value; aligned equally with two, "
          "it averages them.")
    plt = pyplot()
    if plt:
        figure, axis = plt.subplots(figsize=(5, 3.5))
        axis.plot([r[0] for r in copy_rows], [r[1] for r in copy_rows], "o-", label="alpha_j, q = s k_j")
        axis.plot([r[0] for r in average_rows], [r[1] for r in average_rows], "s-", label="alpha_a, q = s (k_a + k_b)")
        axis.set_xscale("log")
        axis.set_xlabel("query scale s")
        axis.set_ylabel("attention weight")
        axis.legend()
        save(figure, "attention_copying.png")


if __name__ == "__main__":
    main()
