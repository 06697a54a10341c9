"""A 2-D GAN in the spirit of GAN Lab (Kahng et al. 2018): small MLPs on a drawn distribution.

The target is a mixture of isotropic Gaussians read from a CSV (x, y, std, weight per mode).
An "epoch" here is GAN Lab's: one discriminator update and then one generator update, each on
a fresh batch of real samples and noise. The loss is the original GAN's with the
non-saturating generator loss (Goodfellow et al. 2014):

    L_D = -log D(x) - log(1 - D(G(z))),    L_G = -log D(G(z)).

What the figure shows at each snapshot, as GAN Lab does: real and generated samples, the
discriminator's output D(x) over the plane, and for each generated point x = G(z) the vector
-dL_G/dx, the direction the generator's loss pushes that point (the generator's parameters move
so as to move the points along it, through the chain rule dL_G/dtheta = dL_G/dx dx/dtheta).

Convergence is measured, not judged by eye: every `eval_every` epochs, the exact Wasserstein-1
distance between n generated points and n fixed real points (genstudy.theory.ot), and mode
coverage: a mode is covered when at least half its expected share of generated points lies
within 3 standard deviations of its centre.
"""

import csv

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from genstudy.theory.ot import wasserstein


class Mixture:
    """A mixture of isotropic 2-D Gaussians: centres (K, 2), stds (K,), weights (K,) summing to 1."""

    def __init__(self, centres, stds, weights):
        self.centres = torch.as_tensor(centres, dtype=torch.float32)
        self.stds = torch.as_tensor(stds, dtype=torch.float32)
        weights = torch.as_tensor(weights, dtype=torch.float32)
        if (
            self.centres.ndim != 2
            or self.centres.shape[1] != 2
            or len(self.stds) != len(self.centres)
            or len(weights) != len(self.centres)
            or (self.stds <= 0).any()
            or (weights <= 0).any()
        ):
            raise ValueError("need K rows of x, y, std > 0, weight > 0")
        self.weights = weights / weights.sum()

    @classmethod
    def from_csv(cls, path):
        """Rows x,y,std,weight after a header; lines starting with # are comments."""
        with open(path) as f:
            rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
        try:
            values = [[float(r[k]) for k in ("x", "y", "std", "weight")] for r in rows]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: need columns x,y,std,weight with numbers ({e})") from None
        if not values:
            raise ValueError(f"{path}: no modes")
        a = np.array(values)
        return cls(a[:, :2], a[:, 2], a[:, 3])

    def __len__(self):
        return len(self.centres)

    def sample(self, n: int, generator=None):
        """(n, 2) points."""
        mode = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        return self.centres[mode] + self.stds[mode, None] * torch.randn(n, 2, generator=generator)

    def extent(self, margin: float = 0.75) -> float:
        """Half-width of a square around the origin that holds every mode with room to spare."""
        return float((self.centres.abs().max(1).values + 4 * self.stds).max() + margin)

    def modes(self, points, sigmas: float = 3.0) -> dict:
        """How generated points (n, 2) fall on the modes: counts per mode, share near any mode, covered modes."""
        d = torch.cdist(torch.as_tensor(points, dtype=torch.float32), self.centres) / self.stds  # (n, K) in stds
        nearest = d.min(1)
        near = nearest.values <= sigmas
        counts = torch.bincount(nearest.indices[near], minlength=len(self))  # (K,)
        covered = counts >= 0.5 * self.weights * len(points)  # at least half its expected share
        return {
            "counts": counts.tolist(),
            "near_fraction": float(near.float().mean()),
            "modes_covered": int(covered.sum()),
        }


def mlp(sizes):
    """Linear layers with LeakyReLU(0.2) between them."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class GAN2D(nn.Module):
    def __init__(self, z_dim: int = 2, hidden: int = 64, depth: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.G = mlp([z_dim] + [hidden] * depth + [2])  # (B, z) -> (B, 2)
        self.D = mlp([2] + [hidden] * depth + [1])  # (B, 2) -> (B, 1) logit of "real"

    def losses(self, real, z):
        """(L_D, L_G) on one batch; softplus(-l) = -log sigmoid(l), numerically safe."""
        fake = self.G(z)
        d_loss = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake.detach())).mean()
        g_loss = F.softplus(-self.D(fake)).mean()
        return d_loss, g_loss


def generator_gradients(model: GAN2D, points):
    """-dL_G/dx at each point x (n, 2): where the generator loss pushes a generated point."""
    x = torch.as_tensor(points, dtype=torch.float32).clone().requires_grad_(True)
    loss = F.softplus(-model.D(x)).sum()  # per-point losses, summed: each gets its own gradient
    (grad,) = torch.autograd.grad(loss, x)
    return -grad


@torch.no_grad()
def discriminator_map(model: GAN2D, half_width: float, resolution: int):
    """D(x) = P(real) on a resolution x resolution grid over [-w, w]^2: (res, res), rows are y."""
    axis = torch.linspace(-half_width, half_width, resolution)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xx.ravel(), yy.ravel()], 1)  # (res^2, 2)
    return torch.sigmoid(model.D(grid)).reshape(resolution, resolution).numpy()


def snapshot(model: GAN2D, epoch: int, real, z, half_width: float, resolution: int) -> dict:
    """Everything the figure draws at one epoch, as numpy arrays."""
    with torch.no_grad():
        fake = model.G(z)
    return {
        "epoch": epoch,
        "real": real.numpy(),
        "fake": fake.numpy(),
        "push": generator_gradients(model, fake).numpy(),
        "d_map": discriminator_map(model, half_width, resolution),
        "half_width": half_width,
    }


def train(
    model: GAN2D,
    target: Mixture,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    beta1: float,
    seed: int,
    eval_every: int,
    eval_size: int,
    snapshot_epochs=(),
    show_size: int = 400,
    resolution: int = 120,
    on_eval=None,
    progress: bool = True,
):
    """Train for `epochs` (one D and one G step each); return (per-epoch losses, evaluations, snapshots).

    Evaluations at epoch 0 and every `eval_every` epochs (and the last): mean losses since the
    previous one, W1 to a fixed real sample of `eval_size`, mode coverage. Snapshots at
    `snapshot_epochs` and the last epoch, drawn on fixed real points and fixed noise.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # nothing else draws from the global RNG
    eval_real = target.sample(eval_size, g)  # fixed references: curves move with G only
    eval_z = torch.randn(eval_size, model.z_dim, generator=g)
    show_real, show_z = eval_real[:show_size], eval_z[:show_size]
    half_width = target.extent()
    opt_d = torch.optim.Adam(model.D.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_g = torch.optim.Adam(model.G.parameters(), lr=lr, betas=(beta1, 0.999))
    wanted = set(snapshot_epochs) | {epochs}
    losses = np.zeros((epochs + 1, 2))  # row e: (L_D, L_G) of epoch e; row 0 unused
    evaluations, snapshots = [], []

    def evaluate(epoch):
        with torch.no_grad():
            fake = model.G(eval_z)
            if epoch == 0:  # before training: the losses on the fixed samples
                since = np.array([[float(loss) for loss in model.losses(eval_real, eval_z)]])
            else:  # mean over the epochs since the last evaluation
                since = losses[max(1, epoch - eval_every + 1) : epoch + 1]
        row = {
            "epoch": epoch,
            "d_loss": float(since[:, 0].mean()),
            "g_loss": float(since[:, 1].mean()),
            "w1": wasserstein(fake.numpy(), eval_real.numpy()),
        }
        modes = target.modes(fake)
        row |= {"modes_covered": modes["modes_covered"], "near_fraction": modes["near_fraction"]}
        evaluations.append(row)
        if on_eval:
            on_eval(row)

    evaluate(0)
    if 0 in wanted:
        snapshots.append(snapshot(model, 0, show_real, show_z, half_width, resolution))
    for epoch in tqdm(range(1, epochs + 1), desc="2-D GAN", disable=not progress, mininterval=2):
        d_loss, _ = model.losses(target.sample(batch_size, g), torch.randn(batch_size, model.z_dim, generator=g))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        _, g_loss = model.losses(target.sample(batch_size, g), torch.randn(batch_size, model.z_dim, generator=g))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()  # also fills D's grads; opt_d zeroes them next epoch
        opt_g.step()
        losses[epoch] = d_loss.item(), g_loss.item()
        if epoch % eval_every == 0 or epoch == epochs:
            evaluate(epoch)
        if epoch in wanted:
            snapshots.append(snapshot(model, epoch, show_real, show_z, half_width, resolution))
    return losses[1:], evaluations, snapshots


def convergence(evaluations, w1_threshold: float, n_modes: int) -> dict:
    """First evaluated epoch from which W1 <= threshold and all modes are covered at every later evaluation."""
    ok = [r["w1"] <= w1_threshold and r["modes_covered"] == n_modes for r in evaluations]
    first_hit = next((r["epoch"] for r, good in zip(evaluations, ok) if good), None)
    since = None
    for r, good in zip(reversed(evaluations), reversed(ok)):
        if not good:
            break
        since = r["epoch"]
    return {
        "converged": bool(ok[-1]),
        "converged_epoch": since,
        "first_epoch_meeting_criterion": first_hit,
        "evaluations_meeting_criterion": f"{sum(ok)}/{len(ok)}",
    }
