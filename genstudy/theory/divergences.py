"""KL, JS and Wasserstein-1 between two parallel segments (Arjovsky et al. 2017, Example 1).

P is uniform on the segment {0} x [0, 1], Q_theta uniform on {theta} x [0, 1]. For theta != 0
the supports are disjoint, so

    KL(P || Q) = +inf,   JS(P, Q) = log 2,   W1(P, Q) = |theta|,

and all three are 0 at theta = 0. KL and JS jump at 0 and are constant elsewhere: their
gradient in theta is 0 (or undefined) wherever it exists, so a generator with parameter theta
learns nothing from them. W1 is continuous, |dW/dtheta| = 1 everywhere: a usable gradient.

Estimated from samples:
- W1: exact optimal transport between the two point clouds (genstudy.theory.ot).
- JS, KL: plug-in estimates on a 2-D histogram of bin width h (SciPy's jensenshannon and
  entropy). Once h < 2 theta the two segments fall into different bins, the histogram JS is
  exactly log 2 and the histogram KL is inf (P has mass where Q has none): the estimates
  do converge to the closed forms, and their theta-derivative is 0 away from the jump.
- KL also with the k-nearest-neighbour estimator of Wang, Kulkarni & Verdu (2009), which
  is always finite. For theta != 0 it grows like d * ln n (d = 2) without bound as the
  sample gets denser: a finite number that is not an estimate of anything finite.

All estimates for different theta use the same uniforms (common random numbers), so an
estimate is a deterministic function of theta and finite differences measure its slope,
not sampling noise.
"""

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from genstudy.theory.ot import wasserstein

LOG2 = math.log(2)


def closed_forms(theta: float) -> dict:
    """The exact KL(P || Q_theta), JS(P, Q_theta) and W1(P, Q_theta)."""
    same = theta == 0
    return {"kl": 0.0 if same else math.inf, "js": 0.0 if same else LOG2, "w": abs(theta)}


def segment(x: float, u) -> np.ndarray:
    """Points (x, u_i): uniforms u (n,) placed on the vertical segment at x, shape (n, 2)."""
    u = np.asarray(u, dtype=np.float64)
    return np.column_stack([np.full_like(u, x), u])


def histograms(p, q, bin_width: float):
    """Counts of p and q on one grid of square-ish bins, flattened; x = 0 sits at a bin centre."""
    h = bin_width
    points = np.concatenate([p, q])
    lo, hi = points[:, 0].min(), points[:, 0].max()
    x_edges = h * (np.arange(math.floor(lo / h - 0.5), math.ceil(hi / h + 0.5) + 1) + 0.5)
    y_edges = np.linspace(0.0, 1.0, max(1, math.ceil(1 / h)) + 1)
    hp = np.histogram2d(p[:, 0], p[:, 1], bins=(x_edges, y_edges))[0].ravel()
    hq = np.histogram2d(q[:, 0], q[:, 1], bins=(x_edges, y_edges))[0].ravel()
    return hp, hq


def histogram_kl(p, q, bin_width: float) -> float:
    """Plug-in KL(P || Q) of the two histograms (nats); inf when P has a bin that Q lacks."""
    hp, hq = histograms(p, q, bin_width)
    return float(entropy(hp, hq))


def histogram_js(p, q, bin_width: float) -> float:
    """Plug-in JS divergence of the two histograms (nats; SciPy returns its square root)."""
    hp, hq = histograms(p, q, bin_width)
    return float(jensenshannon(hp, hq) ** 2)


def knn_kl(p, q, k: int = 1) -> float:
    """k-NN estimate of KL(P || Q) from samples p (n, d), q (m, d) (Wang et al. 2009, eq. 5).

    D = d/n sum_i log(nu_k(i) / rho_k(i)) + log(m / (n - 1)), with rho_k(i) the distance from
    p_i to its k-th nearest other point of p and nu_k(i) to its k-th nearest point of q.
    """
    n, d = p.shape
    rho = cKDTree(p).query(p, k=k + 1)[0][:, k]  # (n,) the point itself is neighbour 0
    nu = cKDTree(q).query(p, k=[k])[0][:, 0]  # (n,)
    return float(d * np.mean(np.log(nu / rho)) + math.log(len(q) / (n - 1)))


class SegmentPair:
    """P = (0, U(0,1)) and Q_theta = (theta, U(0,1)) drawn once, shifted for each theta.

    `n` points of each distribution; an estimator on fewer points uses a prefix.
    """

    def __init__(self, n: int, seed: int):
        rng = np.random.default_rng(seed)
        self.u_p, self.u_q = rng.random(n), rng.random(n)  # independent: P and Q are not coupled

    def samples(self, theta: float, n: int):
        if n > len(self.u_p):
            raise ValueError(f"asked for {n} points, only {len(self.u_p)} drawn")
        return segment(0.0, self.u_p[:n]), segment(theta, self.u_q[:n])

    def estimates(self, theta: float, *, w_n: int, hist_n: int, bin_widths, knn_sizes, k: int = 1) -> dict:
        """Every estimate at one theta: w_ot, js_hist_h*, kl_hist_h*, kl_knn_n*."""
        out = {"w_ot": wasserstein(*self.samples(theta, w_n))}
        p, q = self.samples(theta, hist_n)
        for h in bin_widths:
            out[f"js_hist_h{h:g}"] = histogram_js(p, q, h)
            out[f"kl_hist_h{h:g}"] = histogram_kl(p, q, h)
        for n in knn_sizes:
            out[f"kl_knn_n{n}"] = knn_kl(*self.samples(theta, n), k=k)
        return out


def central_difference(lo_value: float, hi_value: float, lo: float, hi: float) -> float:
    """(f(hi) - f(lo)) / (hi - lo); nan where either value is infinite (no derivative there)."""
    if not (math.isfinite(lo_value) and math.isfinite(hi_value)):
        return math.nan
    return (hi_value - lo_value) / (hi - lo)


def sweep(pair: SegmentPair, thetas, *, fd_step: float, progress=None, **kwargs) -> list[dict]:
    """One row per theta: closed forms, estimates, and each estimate's slope d/dtheta.

    The slope is a central difference over [theta - fd_step, theta + fd_step] (forward at
    theta = 0, the grid's edge), on the same samples.
    """
    rows = []
    for theta in progress(thetas) if progress else thetas:
        theta = float(theta)
        lo, hi = max(theta - fd_step, 0.0), theta + fd_step
        est, at_lo, at_hi = (pair.estimates(t, **kwargs) for t in (theta, lo, hi))
        row = {"theta": theta} | {f"{k}_closed": v for k, v in closed_forms(theta).items()} | est
        for name in est:
            row[f"grad_{name}"] = central_difference(at_lo[name], at_hi[name], lo, hi)
        rows.append(row)
    return rows


def knn_growth(pair: SegmentPair, thetas, sizes, k: int = 1) -> dict:
    """k-NN KL at each theta for growing n, and the fitted slope d KL_hat / d ln n.

    For disjoint supports the estimate grows like d ln n (d = 2 here): it diverges with the
    resolution of the sample, as the true KL = inf says it must. At theta = 0 the slope is ~0.
    """
    out = {}
    for theta in thetas:
        values = [knn_kl(*pair.samples(theta, n), k=k) for n in sizes]
        slope = float(np.polyfit(np.log(sizes), values, 1)[0])
        out[float(theta)] = {"n": list(sizes), "kl_knn": values, "slope_per_ln_n": slope}
    return out


def column(rows, key) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=float)
