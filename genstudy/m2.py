"""M2, the generative semi-supervised model (Kingma et al. 2014, section 3.1.2, equations 6-9).

p(y) = uniform over K classes, p(z) = N(0, I), p(x|y, z) = a softplus MLP of [z, y]:
Gaussian for M1 + M2 (x is M1's latent z1), Bernoulli for M2 on pixels.
q(z|x, y) = N(mu(x, y), diag sigma^2(x, y)) and q(y|x) = Cat(pi(x)), both softplus MLPs;
q(y|x) is the classifier.

    L(x, y) = E_q(z|x,y)[log p(x|y, z)] + log p(y) - KL(q(z|x, y) || p(z))     (labelled bound)
    U(x)    = sum_y q(y|x) L(x, y) + H(q(y|x))                                  (unlabelled bound)
    J       = sum_labelled [L(x, y) + beta log q(y|x)] + sum_unlabelled U(x),  beta = alpha N_total / N_labelled

as in dpkingma/nips14-ssl: the KL of z is analytic, one sample of z per (x, y), and U(x) sums
over the ten labels explicitly rather than sampling y.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LIKELIHOODS = ("gaussian", "bernoulli")
LOG_2PI = math.log(2 * math.pi)


class _Softplus(torch.autograd.Function):
    """softplus(x) = max(x, 0) + log(1 + exp(-|x|)), and its gradient sigmoid(x).

    The same function as F.softplus to within 1e-6, about twice as fast forward and backward on CPU:
    F.softplus and log1p run scalar code there, exp, log and sigmoid are vectorised. Softplus was a
    third of M2's training time (bench/bench_m2.py).
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(-x.abs()).add_(1).log_().add_(F.relu(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(x)


softplus = _Softplus.apply


class Softplus(nn.Module):
    def forward(self, x):
        return softplus(x)


def mlp(sizes):
    """Linear layers with softplus between them (none after the last)."""
    layers = [nn.Linear(sizes[0], sizes[1])]
    for a, b in zip(sizes[1:-1], sizes[2:]):
        layers += [Softplus(), nn.Linear(a, b)]
    return nn.Sequential(*layers)


class M2(nn.Module):
    def __init__(self, x_dim: int, hidden: int = 500, z_dim: int = 50, likelihood: str = "gaussian", classes: int = 10):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood {likelihood!r}: use one of {', '.join(LIKELIHOODS)}")
        self.x_dim, self.hidden, self.z_dim, self.likelihood, self.classes = x_dim, hidden, z_dim, likelihood, classes
        out = 2 * x_dim if likelihood == "gaussian" else x_dim
        self.classifier = mlp([x_dim, hidden, classes])  # (B, K) logits of q(y|x)
        # q(z|x, y)'s hidden layer on [x, y], split in two so that U(x) computes the x part once for all K labels.
        self.encoder_x = nn.Linear(x_dim, hidden)  # (B, hidden)
        self.encoder_y = nn.Linear(classes, hidden, bias=False)  # (K, hidden): one row per label
        self.mu = nn.Linear(hidden, z_dim)  # (B, z)
        self.logvar = nn.Linear(hidden, z_dim)  # (B, z)
        self.decoder = mlp([z_dim + classes, hidden, out])  # (B, 2 x) mean and log-variance, or (B, x) logits
        # The official code's init: N(0, 1/fan_in) weights (fan_in of [x, y] for the split layer), zero biases.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=1 / math.sqrt(m.in_features))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in (self.encoder_x, self.encoder_y):
            nn.init.normal_(m.weight, std=1 / math.sqrt(x_dim + classes))

    def config(self) -> dict:
        return {
            "x_dim": self.x_dim,
            "hidden": self.hidden,
            "z_dim": self.z_dim,
            "likelihood": self.likelihood,
            "classes": self.classes,
        }

    def forward(self, x):
        """Class logits of q(y|x), (B, x) -> (B, K): the classifier."""
        return self.classifier(x)

    def log_px(self, x, decoded):
        """log p(x|y, z) per row, summed over x's dimensions."""
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(decoded, x, reduction="none").sum(1)
        mean, logvar = decoded.chunk(2, dim=1)
        return -0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar)).sum(1)

    def _bound(self, x, hx, y_onehot, eps):
        """L(x, y) per row, given the x part of q(z|x, y)'s hidden layer."""
        h = softplus(hx + self.encoder_y(y_onehot))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + eps * torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        log_py = -math.log(self.classes)
        return self.log_px(x, self.decoder(torch.cat([z, y_onehot], 1))) + log_py - kl

    def labelled_bound(self, x, y_onehot, eps):
        """L(x, y) per row: (B, x), (B, K), noise (B, z) -> (B,)."""
        return self._bound(x, self.encoder_x(x), y_onehot, eps)

    def unlabelled_bound(self, x, eps):
        """U(x) per row, (B,), and the K bounds L(x, y) it weighs, (B, K).

        One batched pass over the K labels: every row repeated K times; eps is (K, B, z).
        """
        B, K = len(x), self.classes
        y = torch.eye(K, dtype=x.dtype).repeat_interleave(B, dim=0)  # (K B, K): label k for rows k B .. (k+1) B
        hx = self.encoder_x(x).repeat(K, 1)  # (K B, hidden)
        bounds = self._bound(x.repeat(K, 1), hx, y, eps.reshape(K * B, -1)).reshape(K, B).T  # (B, K)
        log_q = F.log_softmax(self.classifier(x), dim=1)  # (B, K)
        q = log_q.exp()
        return (q * (bounds - log_q)).sum(1), bounds


def objective(model: M2, x_l, y_l, x_u, n_labelled: int, n_unlabelled: int, alpha: float, generator=None):
    """-J / N_total for one minibatch, with its labelled and unlabelled bounds (means per image).

    Each batch term is scaled to its whole set (N_l / B_l, N_u / B_u), as the official code does.
    """
    z = model.z_dim
    eps_l = torch.randn(len(x_l), z, generator=generator)
    eps_u = torch.randn(model.classes, len(x_u), z, generator=generator)
    y_onehot = F.one_hot(y_l, model.classes).to(x_l.dtype)
    bound_l = model.labelled_bound(x_l, y_onehot, eps_l)
    log_qy = -F.cross_entropy(model.classifier(x_l), y_l, reduction="none")
    bound_u, _ = model.unlabelled_bound(x_u, eps_u)
    n_total = n_labelled + n_unlabelled
    beta = alpha * n_total / n_labelled
    j = n_labelled * (bound_l + beta * log_qy).mean() + n_unlabelled * bound_u.mean()
    return -j / n_total, bound_l.mean().item(), bound_u.mean().item()


@torch.no_grad()
def predict(model: M2, x, batch_size: int = 10_000) -> torch.Tensor:
    """argmax q(y|x) for each row of x."""
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    model.train()
    return out


def train(
    model: M2,
    mean,
    std,
    y,
    labelled,
    unlabelled,
    valid_x,
    valid_y,
    epochs: int,
    batch_unlabelled: int,
    batch_labelled: int,
    lr: float,
    alpha: float,
    generator,
    lr_schedule: str = "constant",
    on_epoch=None,
):
    """Adam on -J; returns (history rows, the state dict of the epoch with the best validation accuracy).

    mean, std: (n, x) per training image. With std given, every minibatch draws a fresh x ~ N(mean, std^2)
    (M1 + M2 on samples of z1, as the official code); std None uses mean as it is (pixels, or z1 means).
    labelled / unlabelled: index tensors into the rows; an epoch is one pass over the unlabelled rows, the
    labelled ones cycled alongside. The validation rows score the classifier q(y|x) after each epoch.
    lr_schedule "cosine" decays the learning rate to 0 over all steps.
    """
    from tqdm import tqdm

    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)  # one kernel per op for all tensors
    n_l, n_u = len(labelled), len(unlabelled)
    b_l, steps = min(batch_labelled, n_l), max(1, n_u // batch_unlabelled)
    if lr_schedule == "cosine":
        total = epochs * steps
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / total)))
    elif lr_schedule == "constant":
        schedule = None
    else:
        raise ValueError(f"lr_schedule {lr_schedule!r}: use constant or cosine")

    def draw(i):
        if std is None:
            return mean[i]
        return mean[i] + std[i] * torch.randn(len(i), mean.shape[1], generator=generator)

    history, best_state, best = [], None, -1.0
    for epoch in tqdm(range(1, epochs + 1), desc="M2 epochs", unit="epoch", leave=False):
        order_u = unlabelled[torch.randperm(n_u, generator=generator)]
        order_l = labelled[torch.randperm(n_l, generator=generator)].repeat(1 + steps * b_l // n_l)
        sums = torch.zeros(3)
        for step in range(steps):
            iu = order_u[step * batch_unlabelled : (step + 1) * batch_unlabelled]
            il = order_l[step * b_l : (step + 1) * b_l]
            loss, bound_l, bound_u = objective(model, draw(il), y[il], draw(iu), n_l, n_u, alpha, generator)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                schedule.step()
            sums += torch.tensor([loss.item(), bound_l, bound_u])
        accuracy = (predict(model, valid_x) == valid_y).double().mean().item()
        row = {
            "epoch": epoch,
            "loss": sums[0].item() / steps,
            "labelled_bound": sums[1].item() / steps,
            "unlabelled_bound": sums[2].item() / steps,
            "valid_accuracy": accuracy,
        }
        history.append(row)
        if on_epoch:
            on_epoch(row)
        if accuracy > best:  # the first epoch reaching the best accuracy
            best = accuracy
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return history, best_state


def validation_split(train_labels, counts, seeds, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` training images outside every labelled subset of counts x seeds.

    For one seed smaller subsets are prefixes of larger ones (data.balanced_subset), so the
    largest count per seed covers them all. Raises ValueError when too few images are left.
    """
    from genstudy.data import balanced_subset

    taken = np.zeros(len(train_labels), bool)
    for s in seeds:
        taken[balanced_subset(train_labels, max(counts), s)] = True
    free = np.flatnonzero(~taken)
    if size > len(free):
        raise ValueError(f"m2.validation.size = {size} but only {len(free)} training images lie outside every subset")
    return np.sort(np.random.default_rng(seed).choice(free, size, replace=False))
