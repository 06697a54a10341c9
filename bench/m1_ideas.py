"""More ways to raise M1 + SVM at N = 100, each scored against the default on the validation split.

    nice python bench/m1_ideas.py [--ideas tta wide_grid ...] [--counts 100] [--cache bench/out]

The default: the VAE of params.yaml (trained and cached by bench/compare_m1.py's `train_snapshots`),
its posterior means on the active dimensions, and one-pixel shifted copies of the labelled images
(svm.augment), with the SVM chosen as `fit_svm_m1` chooses it. Each idea changes one thing:

  tta          the test image's four one-pixel shifts also vote: SVM decisions averaged over the five
  wide_grid    C from 0.1 and gamma factors from 0.03 (the default grid's lowest C, 1, is often chosen)
  std_all      each latent mean divided by its std over all training images
  pca_white    the latent means PCA-whitened on all training images
  posterior    four more copies per labelled image, drawn from q(z|x): mu + 0.5 sigma eps
  repeated_cv  the 5-fold CV of the selection repeated 10 times (a less noisy choice of C and gamma)
  log_sigma    the features are [mu, 0.5 log sigma]: the posterior's width as well as its centre
  two_vaes     a second VAE (seed 1): features concatenated, or the two SVMs' decisions averaged
  shifted_vae  the VAE trained on images moved at random by up to one pixel (each batch anew)

Like compare_m1, the validation split is 10,000 training images outside every labelled subset;
the test set is never read.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import RepeatedStratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare_m1 import VARIANTS, train_snapshots, validation_split  # noqa: E402
from genstudy import augment, data, features, svm, vae  # noqa: E402
from genstudy.pipeline import params  # noqa: E402

IDEAS = ("tta", "wide_grid", "std_all", "pca_white", "posterior", "repeated_cv", "log_sigma", "two_vaes", "shifted_vae")
MOVES = augment.SHIFTS["shift"]


class RandomlyShifted:
    """Training images that `vae.train` reads moved by one of MOVES or not at all, drawn anew per read."""

    def __init__(self, images: torch.Tensor, seed: int):
        self.images, self.g = images, torch.Generator().manual_seed(seed)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        batch = self.images[idx].reshape(-1, 28, 28)
        choice = torch.randint(len(MOVES) + 1, (len(batch),), generator=self.g)  # 0: not moved
        out = batch.clone()
        for j, (dy, dx) in enumerate(MOVES, start=1):
            out[choice == j] = augment._shift(batch[choice == j], dy, dx)
        return out.reshape(-1, 784)


class Encoder:
    """One trained VAE: its means (and widths) on the active dimensions, of any images."""

    def __init__(self, npz: Path, cfg: dict):
        with np.load(npz) as f:
            self.mu, self.sigma = f["mu"], f["sigma"]
        self.active = features.active_units(self.mu)
        self.model = vae.VAE(784, cfg["hidden"], cfg["z_dim"])
        self.model.load_state_dict(torch.load(npz.with_suffix(".pt"), weights_only=True))

    def train_features(self, log_sigma=False):
        f = self.mu[:, self.active]
        return np.concatenate([f, 0.5 * np.log(self.sigma[:, self.active])], 1) if log_sigma else f

    def shifted(self, images, log_sigma=False):
        """Features of the four one-pixel shifts of images (n, 784): (n, 4, d)."""
        extra = augment.copies(torch.from_numpy(images), ["shift"]).reshape(-1, 784)
        with torch.no_grad():
            self.model.eval()
            mu, logvar = self.model.encode(extra)
        f = mu.numpy()[:, self.active]
        if log_sigma:
            f = np.concatenate([f, 0.25 * logvar.numpy()[:, self.active]], 1)
        return f.reshape(len(images), 4, -1)


def shifted_vae(cfg, x, cache: Path) -> Path:
    """Train (or reuse) the VAE of params.yaml on randomly shifted images; the npz of its means of x."""
    path = cache / f"shifted_training-epoch{cfg['epochs']}.npz"
    if not path.exists():
        torch.manual_seed(cfg["seed"])
        model = vae.VAE(784, cfg["hidden"], cfg["z_dim"])
        train_cfg = {k: v for k, v in cfg.items() if k not in ("hidden", "z_dim")}
        vae.train(model, RandomlyShifted(x, cfg["seed"] + 1), x[:2000], **train_cfg)
        with torch.no_grad():
            model.eval()
            mu, logvar = model.encode(x)
        np.savez(path, mu=mu.numpy(), sigma=logvar.mul(0.5).exp().numpy())
        torch.save(model.state_dict(), path.with_suffix(".pt"))
    return path


def fit(F, y, idx, copies, s_cfg, seed, Cs=None, gamma_factors=None):
    return svm.select(
        F[idx],
        y[idx],
        kernel=s_cfg["kernel"],
        Cs=Cs or s_cfg["C"],
        gamma_factors=gamma_factors or s_cfg["gamma_factors"],
        standardize=False,
        folds=s_cfg["cv_folds"],
        seed=seed,
        copies=copies,
        n_jobs=-1,
    )[0]


def accuracy(decision, model, y):
    return float((model.classes_[decision.argmax(1)] == y).mean())


def scores(idea, enc, x, y, idx, val, s_cfg, seed, extra, base, copies):
    """{row name: validation accuracy} of one idea for one labelled subset.

    `base` is the default's SVM for this subset, fitted once and shared by every idea,
    and `copies` the VAE features of the labelled images' shifted copies it trained on.
    """
    F = enc.train_features()
    row = {}
    if idea == "tta":
        shifts = extra["val_shifts"]
        decision = base.decision_function(F[val]) + sum(base.decision_function(shifts[:, j]) for j in range(4))
        row["tta"] = accuracy(decision, base, y[val])
    elif idea == "wide_grid":
        m = fit(F, y, idx, copies, s_cfg, seed, [0.1, 0.3, 1, 3, 10, 30, 100], [0.03, 0.1, 0.3, 1, 3])
        row[idea] = float((m.predict(F[val]) == y[val]).mean())
    elif idea in ("std_all", "pca_white"):
        scale = (lambda f: f / F.std(0)) if idea == "std_all" else PCA(whiten=True, random_state=0).fit(F).transform
        G = scale(F)
        copies = scale(copies.reshape(-1, F.shape[1])).reshape(len(idx), 4, -1)
        m = fit(G, y, idx, copies, s_cfg, seed)
        row[idea] = float((m.predict(G[val]) == y[val]).mean())
    elif idea == "posterior":
        eps = np.random.default_rng(seed).standard_normal((len(idx), 4, F.shape[1]))
        drawn = F[idx][:, None] + 0.5 * enc.sigma[idx][:, enc.active][:, None] * eps
        m = fit(F, y, idx, np.concatenate([copies, drawn], 1), s_cfg, seed)
        row[idea] = float((m.predict(F[val]) == y[val]).mean())
    elif idea == "repeated_cv":
        original = svm.StratifiedKFold
        svm.StratifiedKFold = lambda k, shuffle, random_state: RepeatedStratifiedKFold(
            n_splits=k, n_repeats=10, random_state=random_state
        )
        try:
            m = fit(F, y, idx, copies, s_cfg, seed)
        finally:
            svm.StratifiedKFold = original
        row[idea] = float((m.predict(F[val]) == y[val]).mean())
    elif idea == "log_sigma":
        G = enc.train_features(log_sigma=True)
        m = fit(G, y, idx, enc.shifted(x[idx], log_sigma=True), s_cfg, seed)
        row[idea] = float((m.predict(G[val]) == y[val]).mean())
    elif idea == "two_vaes":
        other = extra["second"]
        F2 = other.train_features()
        m2 = fit(F2, y, idx, other.shifted(x[idx]), s_cfg, seed)
        row["second VAE alone"] = float((m2.predict(F2[val]) == y[val]).mean())
        both = np.concatenate([F, F2], 1)
        copies = np.concatenate([copies, other.shifted(x[idx])], 2)
        m = fit(both, y, idx, copies, s_cfg, seed)
        row["two VAEs, features concatenated"] = float((m.predict(both[val]) == y[val]).mean())
        row["two VAEs, decisions averaged"] = accuracy(
            base.decision_function(F[val]) + m2.decision_function(F2[val]), base, y[val]
        )
    elif idea == "shifted_vae":
        other = extra["shifted"]
        G = other.train_features()
        m = fit(G, y, idx, other.shifted(x[idx]), s_cfg, seed)
        row[idea] = float((m.predict(G[val]) == y[val]).mean())
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", nargs="+", default=list(IDEAS), choices=IDEAS)
    parser.add_argument("--counts", nargs="+", type=int, default=[100])
    parser.add_argument("--cache", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)

    p = params.load()
    cfg, s_cfg, seeds = p.vae.dump(), {**p.svm.dump(), "transductive": p.svm.m1.transductive.dump()}, p.labels.seeds
    x, y = data.load_pixels("data/raw", "train")
    val = validation_split(y, p.labels.counts, seeds)
    args.cache.mkdir(parents=True, exist_ok=True)
    X = torch.from_numpy(x)
    snapshot = lambda name: train_snapshots({**cfg, **VARIANTS[name]}, X, [cfg["epochs"]], args.cache, name)  # noqa: E731
    enc = Encoder(snapshot("free_bits_2")[cfg["epochs"]], cfg)
    extra = {"val_shifts": enc.shifted(x[val])}
    if "two_vaes" in args.ideas:
        extra["second"] = Encoder(snapshot("free_bits_2_seed_1")[cfg["epochs"]], cfg)
    if "shifted_vae" in args.ideas:
        extra["shifted"] = Encoder(shifted_vae(cfg, X, args.cache), cfg)
    rows, F = [], enc.train_features()
    for n in args.counts:
        for s in seeds:
            idx = data.balanced_subset(y, n, s)
            copies = enc.shifted(x[idx])
            base = fit(F, y, idx, copies, s_cfg, s)
            rows.append(
                {
                    "idea": "default",
                    "n": n,
                    "seed": s,
                    "row": "default",
                    "validation_accuracy": float((base.predict(F[val]) == y[val]).mean()),
                }
            )
            for idea in args.ideas:
                for name, acc in scores(idea, enc, x, y, idx, val, s_cfg, s, extra, base, copies).items():
                    rows.append({"idea": idea, "n": n, "seed": s, "row": name, "validation_accuracy": acc})
            print(pd.DataFrame(rows).query("n == @n and seed == @s").round(4).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).groupby(["idea", "n", "row"], sort=False)["validation_accuracy"].agg(["mean", "std"])
    print(table.round(4).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
