"""Handout 1(c), 1(d): when one key's norm varies, single-head attention with q = mu_a + mu_b swings
between v_a and v_b, while two heads (q1 = mu_a, q2 = mu_b, output averaged) stay near the mean.

    python analysis/multihead_variance.py
"""
import torch

from _common import pyplot, save


def sample_outputs(samples=4000, n=5, d=16, scale=20.0, alpha=1e-6, seed=0):
    """Monte-Carlo outputs c of single-head and two-head attention, with Sigma_a = alpha I + 1/2 mu_a mu_a^T.

    Returns (single, multi, v_a, v_b): (samples, d), (samples, d), (d,), (d,). Queries are scaled by
    `scale` so that softmax selects sharply (the handout's "large scalar multiple").
    """
    g = torch.Generator().manual_seed(seed)
    mu, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=torch.float64))
    mu = mu.T  # (n, d) orthonormal means
    values = torch.randn(n, d, generator=g, dtype=torch.float64)
    a, b = 0, 1
    keys = mu.expand(samples, n, d) + alpha ** 0.5 * torch.randn(samples, n, d, generator=g, dtype=torch.float64)
    # k_a = mu_a + alpha-noise + sqrt(1/2) * z * mu_a: its norm varies along mu_a
    keys[:, a] += (0.5 ** 0.5) * torch.randn(samples, 1, generator=g, dtype=torch.float64) * mu[a]

    def attend(q):
        alpha_weights = torch.softmax(keys @ q, dim=1)  # (samples, n)
        return alpha_weights @ values  # (samples, d)

    single = attend(scale * (mu[a] + mu[b]))
    multi = 0.5 * (attend(scale * mu[a]) + attend(scale * mu[b]))
    return single, multi, values[a], values[b]


def total_variance(c):
    return c.var(dim=0).sum().item()


def main():
    single, multi, v_a, v_b = sample_outputs()
    target = (v_a + v_b) / 2
    print("1(c) single head, q = s (mu_a + mu_b):")
    print(f"  total variance of c = {total_variance(single):.4f}, mean |c - (v_a+v_b)/2| = "
          f"{(single - target).norm(dim=1).mean():.4f}")
    print("1(d) two heads, q1 = s mu_a, q2 = s mu_b, c = (c1 + c2)/2:")
    print(f"  total variance of c = {total_variance(multi):.4f}, mean |c - (v_a+v_b)/2| = "
          f"{(multi - target).norm(dim=1).mean():.4f}")
    print("finding: the varying norm of k_a flips the single head between v_a and v_b; each of the two "
          "heads keeps attending to its own key, so their average stays near (v_a + v_b)/2.")
    plt = pyplot()
    if plt:
        direction = (v_a - v_b) / (v_a - v_b).norm()
        figure, axis = plt.subplots(figsize=(5, 3.5))
        for c, label in [(single, "single head"), (multi, "two heads")]:
            axis.hist(((c - target) @ direction).numpy(), bins=60, alpha=0.6, label=label)
        axis.set_xlabel("position of c along v_a - v_b (0 = the mean of v_a and v_b)")
        axis.legend()
        save(figure, "multihead_variance.png")


if __name__ == "__main__":
    main()
