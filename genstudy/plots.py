"""Figures shared by the stages and the report. Each function returns a matplotlib Figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402


def image_grid(images, nrow: int, title: str = "", row_labels=None, scale: float = 0.6):
    """Images (B, 784) or (B, 1, 28, 28) in [0, 1] as one grid, `nrow` images per row."""
    images = torch.as_tensor(images).reshape(-1, 1, 28, 28).float().clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)[0].numpy()
    rows = int(np.ceil(len(images) / nrow))
    fig, ax = plt.subplots(figsize=(nrow * scale + (1.2 if row_labels else 0), rows * scale + 0.4))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([2 + 30 * i + 14 for i in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    ax.set_title(title)
    return fig


def reconstructions(originals, reconstructed, n: int = 16):
    """Originals on the top row, their reconstructions below."""
    pairs = torch.cat([torch.as_tensor(originals[:n]), torch.as_tensor(reconstructed[:n])])
    return image_grid(
        pairs,
        nrow=n,
        title="top: test images; bottom: VAE reconstructions (Bernoulli means)",
        row_labels=["input", "recon."],
    )


def latent_map(means, labels, class_names, title="test latent means (PCA to 2-D)"):
    """2-D PCA projection of latent means, coloured by class."""
    from sklearn.decomposition import PCA

    xy = PCA(2, random_state=0).fit_transform(means)
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(class_names):
        sel = labels == c
        ax.scatter(xy[sel, 0], xy[sel, 1], s=2, alpha=0.5, color=cmap(c), label=name)
    ax.legend(markerscale=5, fontsize=8, loc="best")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    return fig


def curves(table, x: str, ys, title: str, ylabel: str):
    """Line plot of columns `ys` of a DataFrame against column `x`."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for y in ys:
        ax.plot(table[x], table[y], label=y)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
