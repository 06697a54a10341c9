"""The divergences stage's figure: KL, JS and W1 estimates against theta beside their closed forms."""

import textwrap

import numpy as np

from genstudy.theory.divergences import LOG2, column


def figure(rows, growth: dict, bin_widths, knn_sizes, answers: dict):
    """Estimates against theta beside the closed forms, KL's growth with n, the theta-slopes, the answers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theta = column(rows, "theta")
    pos = theta > 0
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
    blues = plt.get_cmap("Blues")(np.linspace(0.4, 0.95, len(knn_sizes)))
    oranges = plt.get_cmap("Oranges")(np.linspace(0.4, 0.95, len(bin_widths)))

    ax = axes[0, 0]
    top = 1.15 * max(column(rows, f"kl_knn_n{max(knn_sizes)}").max(), 1.0)
    for n, colour in zip(knn_sizes, blues):
        ax.plot(theta, column(rows, f"kl_knn_n{n}"), marker=".", color=colour, label=f"k-NN estimate, n = {n:,}")
    finest = min(bin_widths)
    hist = column(rows, f"kl_hist_h{finest:g}")
    ax.plot(
        theta[np.isinf(hist)],
        np.full(np.isinf(hist).sum(), 0.97 * top),
        "^",
        color="tab:orange",
        label=f"histogram estimate (h = {finest:g}) = inf",
    )
    ax.plot(theta[pos], np.full(pos.sum(), top), color="k", lw=3, label="closed form: +inf for theta != 0")
    ax.plot([0], [0], "ko", ms=7, label="closed form: 0 at theta = 0")
    ax.set_ylim(-0.05 * top, 1.03 * top)
    ax.set_title("KL(P || Q_theta): infinite; the k-NN estimate grows with n", fontsize=11)
    ax.set_xlabel("theta")
    ax.set_ylabel("nats")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)

    ax = axes[0, 1]
    for theta_g, g in growth.items():
        ax.plot(
            g["n"], g["kl_knn"], marker="o", label=f"theta = {theta_g:g}: slope {g['slope_per_ln_n']:+.2f} per ln n"
        )
    ax.set_xscale("log")
    ax.set_title("k-NN KL estimate vs sample size: diverges like 2 ln n")
    ax.set_xlabel("points per distribution n (resolution ~ 1/n)")
    ax.set_ylabel("KL estimate (nats)")
    ax.legend(fontsize=8)

    ax = axes[0, 2]
    for h, colour in zip(bin_widths, oranges):
        ax.plot(theta, column(rows, f"js_hist_h{h:g}"), marker=".", color=colour, label=f"histogram, bin width {h:g}")
    ax.plot(theta[pos], np.full(pos.sum(), LOG2), color="k", lw=1.5, ls="--", label="closed form: log 2 for theta != 0")
    ax.plot([0], [0], "ko", ms=7, label="closed form: 0 at theta = 0")
    ax.set_title("JS(P, Q_theta): log 2 once the bins separate the supports", fontsize=11)
    ax.set_xlabel("theta")
    ax.set_ylabel("nats")
    ax.legend(fontsize=8, loc="center right")

    ax = axes[1, 0]
    ax.plot(theta, np.abs(theta), color="k", lw=1.5, label="closed form |theta|")
    ax.plot(theta, column(rows, "w_ot"), "o", color="tab:green", ms=5, label="exact OT between the samples")
    ax.set_title("W1(P, Q_theta) = |theta|")
    ax.set_xlabel("theta")
    ax.set_ylabel("distance")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    ax.axhline(1, color="tab:green", lw=1, label="closed form dW/dtheta = 1")
    ax.axhline(0, color="tab:orange", lw=1, label="closed form dJS/dtheta = 0 (theta != 0)")
    ax.plot(theta, column(rows, "grad_w_ot"), "o", color="tab:green", ms=5, label="d/dtheta of the OT estimate")
    ax.plot(
        theta,
        column(rows, f"grad_js_hist_h{finest:g}"),
        "s",
        color="tab:orange",
        ms=4,
        label=f"d/dtheta of the histogram JS (h = {finest:g})",
    )
    ax.plot(
        theta[pos],
        column(rows, f"grad_kl_knn_n{max(knn_sizes)}")[pos],
        ":",
        color="tab:blue",
        label="d/dtheta of the k-NN KL: ~2/theta, an artefact",
    )
    ax.set_ylim(-0.5, 5)
    ax.set_title("gradients in theta (central differences, common samples)")
    ax.set_xlabel("theta")
    ax.legend(fontsize=7, loc="upper right")

    ax = axes[1, 2]
    ax.axis("off")
    text = "\n\n".join(textwrap.fill(f"{name}: {answer}", 62) for name, answer in answers.items())
    ax.text(0, 1, text, va="top", ha="left", fontsize=9, transform=ax.transAxes)
    for ax in axes.flat:
        if ax.axison:
            ax.grid(alpha=0.3)
    fig.suptitle("P = (0, U(0,1)), Q_theta = (theta, U(0,1)): which distance gives a usable gradient?")
    fig.tight_layout()
    return fig
