"""The 2-D GAN stage's figure: snapshots of the discriminator, the samples and the generator's gradient field."""

import numpy as np


def figure(snapshots, losses, evaluations, w1_threshold: float, w1_floor: float, smooth: int = 100):
    """Snapshots on the top row (D(x) heat map, samples, generator push); loss and W1 curves below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    cols = len(snapshots)
    fig = plt.figure(figsize=(3.6 * cols + 0.8, 7.6))
    grid = fig.add_gridspec(
        2, cols + 1, width_ratios=[1] * cols + [0.06], height_ratios=[1.25, 1], hspace=0.32, wspace=0.12
    )
    by_epoch = {r["epoch"]: r for r in evaluations}
    for i, s in enumerate(snapshots):
        ax = fig.add_subplot(grid[0, i])
        w = s["half_width"]
        image = ax.imshow(s["d_map"], origin="lower", extent=(-w, w, -w, w), cmap="PRGn", vmin=0, vmax=1, alpha=0.85)
        ax.scatter(*s["real"].T, s=3, c="#1b7837", label="real")
        ax.scatter(*s["fake"].T, s=3, c="#762a83", label="generated")
        ax.quiver(*s["fake"].T, *s["push"].T, color="k", alpha=0.6, width=0.004, angles="xy")
        r = by_epoch.get(s["epoch"])
        stats = f"\nW1 {r['w1']:.3f}, modes {r['modes_covered']}" if r else ""
        ax.set_title(f"epoch {s['epoch']}{stats}", fontsize=10)
        ax.set_xlim(-w, w)
        ax.set_ylim(-w, w)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(loc="upper left", fontsize=7, markerscale=3, framealpha=0.8)
    bar = fig.colorbar(image, cax=fig.add_subplot(grid[0, cols]))
    bar.set_label("D(x) = P(real)")

    bottom = grid[1, :cols].subgridspec(1, 2, wspace=0.3)
    ax = fig.add_subplot(bottom[0])
    epochs = np.arange(1, len(losses) + 1)
    kernel = np.ones(min(smooth, len(losses))) / min(smooth, len(losses))
    for j, (name, colour) in enumerate([("discriminator loss L_D", "#1b7837"), ("generator loss L_G", "#762a83")]):
        ax.plot(epochs, losses[:, j], color=colour, alpha=0.15, lw=0.5)
        ax.plot(epochs[len(kernel) - 1 :], np.convolve(losses[:, j], kernel, "valid"), color=colour, label=name)
    ax.axhline(np.log(4), color="grey", ls=":", lw=1, label="L_D at equilibrium (log 4)")
    ax.axhline(np.log(2), color="grey", ls="--", lw=1, label="L_G at equilibrium (log 2)")
    ax.set_xlabel("epoch (one D step + one G step)")
    ax.set_ylabel("loss (nats)")
    ax.set_title(f"losses (faint: per epoch; solid: mean of {len(kernel)})", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(bottom[1])
    ev = [r["epoch"] for r in evaluations]
    ax.plot(ev, [r["w1"] for r in evaluations], color="k", marker=".", label="W1(generated, real)")
    ax.axhline(w1_threshold, color="tab:red", ls="--", lw=1, label=f"threshold {w1_threshold:.3f}")
    ax.axhline(w1_floor, color="grey", ls=":", lw=1, label=f"W1(real, real') = {w1_floor:.3f}")
    ax.set_yscale("log")
    values = [r["w1"] for r in evaluations] + [w1_threshold, w1_floor]
    ax.set_yticks([t for t in (0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5) if min(values) / 1.5 <= t <= max(values) * 1.5])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("epoch")
    ax.set_ylabel("W1 (exact OT)")
    modes = ax.twinx()
    modes.step(
        ev, [r["modes_covered"] for r in evaluations], where="post", color="tab:blue", alpha=0.6, label="modes covered"
    )
    modes.set_ylabel("modes covered", color="tab:blue")
    modes.set_ylim(0, max(r["modes_covered"] for r in evaluations) + 1.5)
    lines = ax.get_legend_handles_labels()
    more = modes.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
    ax.set_title("convergence: W1 to real samples and mode coverage", fontsize=10)
    ax.grid(alpha=0.3)
    return fig
