"""M1's variational autoencoder (Kingma et al. 2014) and its training loop.

q(z|x) = N(mu(x), diag sigma^2(x)), p(x|z) = Bernoulli(decoder(z)), p(z) = N(0, I);
both networks are two-hidden-layer softplus MLPs. Pixels in [0, 1] are re-binarized
stochastically at every minibatch, as in the paper.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from genstudy.features import active_units

LR_SCHEDULES = ("constant", "cosine")


def mlp(sizes):
    """Linear layers with softplus between them (none after the last)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Softplus())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    def __init__(self, x_dim: int = 784, hidden: int = 600, z_dim: int = 50):
        super().__init__()
        self.x_dim, self.hidden, self.z_dim = x_dim, hidden, z_dim
        self.encoder = nn.Sequential(mlp([x_dim, hidden, hidden]), nn.Softplus())  # (B, hidden)
        self.mu = nn.Linear(hidden, z_dim)  # (B, z)
        self.logvar = nn.Linear(hidden, z_dim)  # (B, z)
        self.decoder = mlp([z_dim, hidden, hidden, x_dim])  # (B, 784) logits
        # The official code's init: N(0, 1/fan_in) weights, zero biases.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=1 / math.sqrt(m.in_features))
                nn.init.zeros_(m.bias)

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x):
        """The M1 feature map: posterior means mu(x), (B, 784) -> (B, z)."""
        return self.encode(x)[0]

    def config(self) -> dict:
        return {"x_dim": self.x_dim, "hidden": self.hidden, "z_dim": self.z_dim}


def negative_elbo(model: VAE, x_binary, generator=None, kl_weight: float = 1.0, free_bits: float = 0.0):
    """Per-image reconstruction NLL and KL (nats), and the loss to minimise.

    free_bits > 0 (Kingma et al. 2016) charges each latent dimension at least
    that many nats of batch-mean KL, so the optimiser gains nothing by shutting
    a dimension below it: a guard against posterior collapse. The returned
    per-image terms are always the true ELBO's.
    """
    mu, logvar = model.encode(x_binary)
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + eps * torch.exp(0.5 * logvar)
    logits = model.decoder(z)
    rec = F.binary_cross_entropy_with_logits(logits, x_binary, reduction="none").sum(1)
    kl_dims = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)  # (B, z)
    kl_charged = kl_dims.mean(0).clamp(min=free_bits).sum() if free_bits else kl_dims.sum(1).mean()
    return rec, kl_dims.sum(1), rec.mean() + kl_weight * kl_charged


@torch.no_grad()
def encode_means(model: VAE, images, batch_size: int = 2000):
    """Posterior means mu(x) of images in [0, 1], shape (n, 784) -> (n, z)."""
    model.eval()
    return torch.cat([model.encode(images[i : i + batch_size])[0] for i in range(0, len(images), batch_size)])


def train(
    model: VAE,
    train_x,
    test_x,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
    kl_warmup_epochs: int = 0,
    free_bits: float = 0.0,
    lr_schedule: str = "constant",
    on_epoch=None,
    progress: bool = True,
):
    """Maximise the ELBO on train_x (n, 784) in [0, 1]; returns one dict of metrics per epoch.

    kl_warmup_epochs > 0 anneals the KL weight linearly from 0 to 1 over those
    epochs (Sonderby et al. 2016): early on the encoder is free to use many latent
    dimensions before the prior pulls unused ones shut. From then on the loss is
    the plain negative ELBO. lr_schedule "cosine" decays the learning rate to 0
    over all steps (Loshchilov & Hutter 2017) instead of keeping it constant.
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule {lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
    g = torch.Generator().manual_seed(seed)
    test_g = torch.Generator()
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay)
    n = len(train_x)
    steps_per_epoch = math.ceil(n / batch_size)
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch) if lr_schedule == "cosine" else None
    )
    history = []
    bar = tqdm(range(1, epochs + 1), desc="vae", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        totals = torch.zeros(3)
        perm = torch.randperm(n, generator=g)
        for step in range(steps_per_epoch):
            idx = perm[step * batch_size : (step + 1) * batch_size]
            progress_frac = (
                ((epoch - 1) * steps_per_epoch + step + 1) / (kl_warmup_epochs * steps_per_epoch)
                if kl_warmup_epochs
                else 1.0
            )
            kl_weight = min(1.0, progress_frac)
            x = torch.bernoulli(train_x[idx], generator=g)
            rec, kl, loss = negative_elbo(model, x, g, kl_weight, free_bits)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                schedule.step()
            totals += torch.stack([rec.sum(), kl.sum(), torch.tensor(float(len(idx)))]).detach()
        row = {
            "epoch": epoch,
            "kl_weight": kl_weight,
            "train_elbo": -(totals[0] + totals[1]).item() / totals[2].item(),
            "train_kl": totals[1].item() / totals[2].item(),
        }
        row.update(evaluate(model, test_x, test_g.manual_seed(seed + 1), prefix="test_"))
        history.append(row)
        bar.set_postfix(
            train_elbo=f"{row['train_elbo']:.1f}", test_elbo=f"{row['test_elbo']:.1f}", active=row["test_active_units"]
        )
        if on_epoch:
            on_epoch(row)
    return history


@torch.no_grad()
def evaluate(model: VAE, x, generator, prefix="", batch_size: int = 2000) -> dict:
    """ELBO and KL per image on one fixed binarization of x, and the active-unit count."""
    model.eval()
    rec_sum = kl_sum = 0.0
    means = []
    for i in range(0, len(x), batch_size):
        xb = torch.bernoulli(x[i : i + batch_size], generator=generator)
        rec, kl, _ = negative_elbo(model, xb, generator)
        rec_sum += rec.sum().item()
        kl_sum += kl.sum().item()
        means.append(model.encode(x[i : i + batch_size])[0])
    n = len(x)
    return {
        f"{prefix}elbo": -(rec_sum + kl_sum) / n,
        f"{prefix}kl": kl_sum / n,
        f"{prefix}active_units": int(active_units(torch.cat(means)).sum()),
    }


@torch.no_grad()
def sample(model: VAE, n: int, generator) -> torch.Tensor:
    """Bernoulli means p(x|z) for z from the prior, shape (n, 784)."""
    model.eval()
    return torch.sigmoid(model.decoder(torch.randn(n, model.z_dim, generator=generator)))
