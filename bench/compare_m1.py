"""M1 design choices scored on a validation split: VAE training variants x feature maps x label counts.

    nice python bench/compare_m1.py --variants free_bits_2 --snapshots 30 60 [--counts 100 1000]
                                    [--features mu mu:shift] [--transductive 20000:0.3]
                                    [--cache bench/out] [--json out.json]

Each VAE variant trains from params.yaml's vae section with the variant's keys set (same seed,
same data); at every snapshot epoch the posterior means and standard deviations of all training
images are kept (in --cache, so feature maps can be rescored without retraining). For each feature map and
each (N, seed) of params.yaml, the SVM is chosen exactly as `fit_svm_m1` chooses it (stratified
CV over the same grid on the N labelled images; a feature kind `mu:shift` also trains on the
VAE features of shifted copies of the labelled images, as svm.augment does) and scored on a
*validation split*: 10,000 training images outside every labelled subset. --transductive also
scores `svm.transduce` refits whose unlabelled pool is drawn outside the validation split.
The test set is never read: this comparison chooses the defaults, so it must not look at the
images the study is scored on.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genstudy import augment, data, features, svm, vae  # noqa: E402
from genstudy.pipeline import params  # noqa: E402

# VAE training variants: params.yaml's vae section with these keys set (epochs come from --snapshots).
VARIANTS = {
    "free_bits_1": {"free_bits": 1.0},  # the default before this comparison
    "free_bits_1.5": {"free_bits": 1.5},
    "free_bits_2": {"free_bits": 2.0},  # the default after it
    "free_bits_3": {"free_bits": 3.0},
    "cosine_lr": {"free_bits": 1.0, "lr_schedule": "cosine"},
    "free_bits_2_seed_1": {"free_bits": 2.0, "seed": 1},  # a second VAE, for an ensemble of two
}


def validation_split(labels, counts, seeds, size=10_000, seed=0):
    """Training images outside every labelled subset of the study."""
    used = np.unique(np.concatenate([data.balanced_subset(labels, n, s) for n in counts for s in seeds]))
    rest = np.setdiff1d(np.arange(len(labels)), used)
    return np.sort(np.random.default_rng(seed).choice(rest, size, replace=False))


def train_snapshots(cfg, x, snapshots, cache: Path, name: str):
    """Train one VAE to max(snapshots) epochs; returns {epoch: npz path of (mu, sigma) of x}."""
    paths = {e: cache / f"{name}-epoch{e}.npz" for e in snapshots}
    if all(p.exists() for p in paths.values()):
        return paths
    torch.manual_seed(cfg["seed"])
    model = vae.VAE(784, cfg["hidden"], cfg["z_dim"])

    def keep(row):
        if row["epoch"] in paths:
            with torch.no_grad():
                model.eval()
                mu, logvar = zip(*(model.encode(x[i : i + 2000]) for i in range(0, len(x), 2000)))
            np.savez(
                paths[row["epoch"]],
                mu=torch.cat(mu).numpy(),
                sigma=torch.cat(logvar).mul(0.5).exp().numpy(),
                test_elbo=row["test_elbo"],
            )
            torch.save(model.state_dict(), paths[row["epoch"]].with_suffix(".pt"))

    start = time.time()
    train_cfg = {k: v for k, v in cfg.items() if k not in ("hidden", "z_dim")}
    train_cfg["epochs"] = max(snapshots)
    # The ELBO printed per epoch is on a slice of the training images: the test set stays unread.
    vae.train(model, x, x[:2000], on_epoch=keep, **train_cfg)
    print(f"{name}: {max(snapshots)} epochs in {time.time() - start:.0f} s", flush=True)
    return paths


FEATURES = [
    "mu",
    "mu_snr",
    "mu:flip",
    "mu:shift",
    "mu:flip,shift",
    "mu_snr:shift",
    "mu:shift,diagonal",
    "mu:shift,shift2",
    "mu:shift,diagonal,shift2",
    "mu:shift,rotate",
    "mu:shift,zoom",
    "mu:shift,rotate,zoom",
    "mu:rotate,zoom",
]


def feature_map(kind: str, mu, sigma):
    """The features the SVM sees, from unlabelled statistics only: (map (n, z) -> (n, d), array)."""
    active = features.active_units(mu)
    scale = np.ones(mu.shape[1]) if kind.split(":")[0] == "mu" else 1 / sigma.mean(0)  # mu_snr: in posterior widths
    return (lambda m: (m * scale)[:, active]), (mu * scale)[:, active]


def augmented(kind, vae_path, cfg, x, idx, transform):
    """Features of the label-preserving copies of the labelled images x[idx], (n, k, d), or None."""
    if ":" not in kind:
        return None
    model = vae.VAE(784, cfg["hidden"], cfg["z_dim"])
    model.load_state_dict(torch.load(vae_path, weights_only=True))
    extra = augment.copies(torch.from_numpy(x[idx]), kind.split(":")[1].split(","))
    mu = vae.encode_means(model, extra.reshape(-1, 784)).numpy()
    return transform(mu).reshape(len(idx), extra.shape[1], -1)


def score(F, y, val, counts, seeds, svm_cfg, copies_of=lambda idx: None, transductive=()):
    """Validation accuracy of the SVM, and of its transductive refits for each (pool, keep) in `transductive`."""
    rows = []
    for n in counts:
        for s in seeds:
            idx = data.balanced_subset(y, n, s)
            copies = copies_of(idx)
            model, chosen = svm.select(
                F[idx],
                y[idx],
                kernel=svm_cfg["kernel"],
                Cs=svm_cfg["C"],
                gamma_factors=svm_cfg["gamma_factors"],
                standardize=False,
                folds=svm_cfg["cv_folds"],
                seed=s,
                copies=copies,
            )
            fits = {"svm": model}
            rest = np.setdiff1d(np.arange(len(y)), np.concatenate([idx, val]))  # unlabelled, outside validation
            for pool, keep in transductive:
                unlabelled = F[np.sort(np.random.default_rng(s).choice(rest, pool, replace=False))]
                fits[f"transductive pool={pool} keep={keep}"] = svm.transduce(
                    model,
                    F[idx],
                    y[idx],
                    unlabelled,
                    copies=copies,
                    keep=keep,
                    n_neighbors=svm_cfg["transductive"]["n_neighbors"],
                    alpha=svm_cfg["transductive"]["alpha"],
                )[0]
            for method, fitted in fits.items():
                rows.append(
                    {
                        "n": n,
                        "seed": s,
                        "method": method,
                        "cv_accuracy": chosen["cv_accuracy"],
                        "validation_accuracy": float((fitted.predict(F[val]) == y[val]).mean()),
                    }
                )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["free_bits_2"], choices=list(VARIANTS))
    parser.add_argument("--snapshots", nargs="+", type=int, default=None, help="epochs (default: vae.epochs)")
    parser.add_argument("--counts", nargs="+", type=int, default=[100, 1000])
    parser.add_argument("--features", nargs="+", default=["mu", "mu_snr"], choices=FEATURES)
    parser.add_argument(
        "--transductive",
        nargs="*",
        default=[],
        metavar="POOL:KEEP",
        help="also score the transductive refit with this pool size and kept fraction",
    )
    parser.add_argument("--cache", type=Path, default=Path("bench/out"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    p = params.load()
    base, svm_cfg = p.vae.dump(), {**p.svm.dump(), "transductive": p.svm.m1.transductive.dump()}
    seeds = p.labels.seeds
    x, y = data.load_pixels("data/raw", "train")
    val = validation_split(y, p.labels.counts, seeds)
    args.cache.mkdir(parents=True, exist_ok=True)
    snapshots = args.snapshots or [base["epochs"]]
    transductive = [(int(a), float(b)) for a, b in (t.split(":") for t in args.transductive)]
    table = []
    for name in args.variants:
        cfg = {**base, **VARIANTS[name]}
        for epoch, path in train_snapshots(cfg, torch.from_numpy(x), snapshots, args.cache, name).items():
            with np.load(path) as f:
                mu, sigma, elbo = f["mu"], f["sigma"], float(f["test_elbo"])
            for kind in args.features:
                transform, F = feature_map(kind, mu, sigma)
                copies_of = lambda idx: augmented(kind, path.with_suffix(".pt"), cfg, x, idx, transform)  # noqa: E731
                for r in score(F, y, val, args.counts, seeds, svm_cfg, copies_of, transductive):
                    table.append(
                        {
                            "variant": name,
                            "epoch": epoch,
                            "features": kind,
                            "dims": F.shape[1],
                            "train_slice_elbo": elbo,
                            **r,
                        }
                    )
            summary = pd.DataFrame(table).query("variant == @name and epoch == @epoch")
            print(
                summary.groupby(["features", "method", "n"])[["cv_accuracy", "validation_accuracy"]].mean().round(4),
                flush=True,
            )
    df = pd.DataFrame(table)
    out = (
        df.groupby(["variant", "epoch", "features", "method", "n"])
        .agg(
            train_slice_elbo=("train_slice_elbo", "first"),
            cv=("cv_accuracy", "mean"),
            validation=("validation_accuracy", "mean"),
            validation_std=("validation_accuracy", "std"),
        )
        .round(4)
    )
    print(out.reset_index().to_markdown(index=False))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
