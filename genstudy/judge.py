"""The judge: a Fashion-MNIST CNN classifier that scores generated images.

No Inception weights can be downloaded here, so samples are judged by a classifier
trained in the pipeline:
- Frechet distance between Gaussians fitted to the judge's penultimate features of
  samples and of real test images (FID with a domain feature extractor; not comparable
  to Inception FIDs in the literature);
- the judge's accuracy on conditional samples against their conditioning labels,
  overall and per class: does the label control what is drawn?
- diversity: mean pairwise feature distance within a class, as a fraction of the same
  for real test images of that class (1 = as varied as real images; 0 = one image per class).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


class Judge(nn.Module):
    """Three conv blocks and a 128-unit penultimate layer: (B, 784) or (B, 1, 28, 28) -> (B, 10) logits."""

    def __init__(self, n_classes: int = 10, width: int = 32, features: int = 128):
        super().__init__()
        self.n_classes, self.width, self.n_features = n_classes, width, features
        w = width

        def block(cin, cout):
            # ReLU after the pool: max and ReLU commute, so the function, its gradients and the trained
            # weights are the same as ReLU-then-pool, with the ReLU on a quarter of the activations.
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.MaxPool2d(2), nn.ReLU()
            )

        self.convs = nn.Sequential(
            block(1, w),  # (B, w, 14, 14)
            block(w, 2 * w),  # (B, 2w, 7, 7)
            block(2 * w, 4 * w),
        )  # (B, 4w, 3, 3)
        self.penultimate = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 9, features), nn.ReLU())  # (B, features)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(features, n_classes)  # (B, 10)
        # Channels-last convolutions and batch norm take half the time of the default layout on CPU
        # (bench/bench_judge.py). load_state_dict copies into these tensors and keeps their layout.
        self.to(memory_format=torch.channels_last)

    def features(self, x):
        return self.penultimate(self.convs(x.reshape(len(x), 1, 28, 28).contiguous(memory_format=torch.channels_last)))

    def forward(self, x):
        return self.head(self.dropout(self.features(x)))

    def config(self) -> dict:
        return {"n_classes": self.n_classes, "width": self.width, "features": self.n_features}


def augment(x, generator):
    """Random shifts of up to 2 pixels per image: (B, 1, 28, 28) -> same.

    No flips: Fashion-MNIST draws every shoe facing one way, and a judge trained on mirrored
    shoes would call a generator's mirrored shoe real (its features could not tell them apart).
    """
    b = len(x)
    padded = F.pad(x, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (b,), generator=generator)
    dx = torch.randint(0, 5, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(28))[:, :, None].expand(b, 28, 28)  # (B, 28, 28)
    cols = (dx[:, None] + torch.arange(28))[:, None, :].expand(b, 28, 28)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols][:, None]


def train(
    model: Judge,
    train_x,
    train_y,
    test_x,
    test_y,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    augment_images: bool = True,
    on_epoch=None,
    progress: bool = True,
):
    """AdamW with a one-cycle learning rate; returns one dict of metrics per epoch.

    The test set is scored once, after the last epoch (its row's test_accuracy; NaN when test_x is
    None): nothing is chosen by it, and scoring it every epoch cost a twelfth of the training time.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(train_x).reshape(-1, 1, 28, 28).float()
    y = torch.as_tensor(train_y).long()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    history = []
    bar = tqdm(range(1, epochs + 1), desc="judge", unit="epoch", disable=not progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout draws from the global RNG: seeded, and restored afterwards
        for epoch in bar:
            model.train()
            perm = torch.randperm(len(x), generator=g)
            loss_sum = correct = 0.0
            for i in range(0, len(x), batch_size):
                idx = perm[i : i + batch_size]
                xb = augment(x[idx], g) if augment_images else x[idx]
                logits = model(xb)
                loss = F.cross_entropy(logits, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(idx)
                correct += (logits.argmax(1) == y[idx]).sum().item()
            row = {"epoch": epoch, "train_loss": loss_sum / len(x), "train_accuracy": correct / len(x)}
            if epoch == epochs:
                row["test_accuracy"] = accuracy(predict(model, test_x), test_y) if test_x is not None else float("nan")
            history.append(row)
            bar.set_postfix(train_accuracy=f"{row['train_accuracy']:.4f}")
            if on_epoch:
                on_epoch(row)
    return history


@torch.no_grad()
def embed(model: Judge, images, batch_size: int = 1000):
    """(penultimate features (n, F) float64 numpy, logits (n, 10) torch) of images in [0, 1]."""
    model.eval()
    images = torch.as_tensor(images).float()
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i : i + batch_size])
        feats.append(f)
        logits.append(model.head(f))
    return torch.cat(feats).double().numpy(), torch.cat(logits)


def predict(model: Judge, images) -> np.ndarray:
    return embed(model, images)[1].argmax(1).numpy()


def accuracy(predicted, labels) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def per_class_accuracy(predicted, labels, n_classes: int = 10) -> list:
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    return [
        float(np.mean(predicted[labels == c] == c)) if np.any(labels == c) else float("nan") for c in range(n_classes)
    ]


def gaussian(features):
    """(mean (F,), covariance (F, F)) of features (n, F), float64."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def sqrtm_psd(a):
    """Square root of a symmetric positive semi-definite matrix by its eigendecomposition."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) between two Gaussians.

    Tr (C1 C2)^(1/2) = Tr (C1^(1/2) C2 C1^(1/2))^(1/2), and the latter matrix is symmetric
    PSD, so its trace root is the sum of the square roots of its eigenvalues: no complex
    parts or failed iterations as with a general matrix square root.
    """
    mu1, mu2, cov1, cov2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, cov1, cov2))
    root1 = sqrtm_psd(cov1)
    middle = root1 @ cov2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def within_class_spread(features, labels, n_classes: int = 10, max_per_class: int = 1000) -> np.ndarray:
    """Mean pairwise Euclidean distance between features of the same class, per class (n_classes,)."""
    f = torch.as_tensor(np.asarray(features, dtype=np.float64))
    labels = np.asarray(labels)
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        members = f[np.flatnonzero(labels == c)[:max_per_class]]
        if len(members) > 1:
            out[c] = float(torch.cdist(members, members).sum() / (len(members) * (len(members) - 1)))
    return out


class Reference:
    """What samples are compared with: the judge's view of a set of real images (the test set, or
    training images where a decision must not see the test set)."""

    def __init__(self, model: Judge, images, labels):
        feats, logits = embed(model, images)
        self.mu, self.cov = gaussian(feats)
        self.spread = within_class_spread(feats, labels, model.n_classes)
        self.accuracy = accuracy(logits.argmax(1).numpy(), labels)
        self.n_classes = model.n_classes


def diversity(result: dict, reference: Reference) -> float:
    """The diversity of the images behind a `report` result, relative to another reference's real images."""
    return float(np.nanmean(np.asarray(result["within_class_spread"]) / reference.spread))


def report(model: Judge, images, labels, reference: Reference, class_names=None) -> dict:
    """All metrics of one set of images (samples or real) against the reference.

    labels are the conditioning labels (or true labels for real images); None for
    unconditional samples, which get only the Frechet distance.
    """
    feats, logits = embed(model, images)
    mu, cov = gaussian(feats)
    out = {"frechet_distance": frechet_distance(mu, cov, reference.mu, reference.cov), "n": int(len(feats))}
    if labels is None:
        return out
    labels = np.asarray(labels)
    predicted = logits.argmax(1).numpy()
    names = class_names or [str(c) for c in range(reference.n_classes)]
    per_class = per_class_accuracy(predicted, labels, reference.n_classes)
    raw_spread = within_class_spread(feats, labels, reference.n_classes)
    spread = raw_spread / reference.spread
    counts = np.bincount(predicted, minlength=reference.n_classes) / len(predicted)
    out.update(
        {
            "judge_accuracy": accuracy(predicted, labels),
            "per_class_accuracy": dict(zip(names, per_class)),
            "diversity": float(np.nanmean(spread)),
            "per_class_diversity": dict(zip(names, spread.tolist())),
            "within_class_spread": raw_spread.tolist(),  # in feature units: diversity against another reference
            "predicted_class_max_share": float(counts.max()),
        }
    )
    return out


def trained_accuracy(images, labels, test_x, test_y, cfg: dict, progress: bool = False) -> float:
    """Test accuracy of a fresh judge-like classifier trained on (images, labels) alone.

    GAN-train (Shmelkov et al. 2018): trained on generated samples, it is only as good on real test
    images as the samples are faithful and varied; trained on as many real images, it gives the
    number to compare with. cfg: the judge params (width, features, epochs, batch_size, lr,
    weight_decay, augment, seed).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        model = Judge(width=cfg["width"], features=cfg["features"])
    train(
        model,
        torch.as_tensor(images).reshape(len(images), -1).float(),
        np.asarray(labels),
        None,
        None,
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        seed=cfg["seed"],
        augment_images=cfg["augment"],
        progress=progress,
    )
    return accuracy(predict(model, test_x), test_y)
