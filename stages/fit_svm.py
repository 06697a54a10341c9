"""Stages `fit_svm_m1@N-SEED` and `fit_svm_pixels@N-SEED`: an SVC on N labelled images, chosen by CV on those N only.

FEATURES is `m1` (VAE posterior means; also the transductive variant) or
`pixels` (the raw-pixel baseline). For N <= svm.augment.max_n both also train on
label-preserving copies of the N labelled images (svm.augment.transforms; for m1
the copies are encoded by the VAE). The 10,000 test images are used once, after
selection, for the reported accuracy.
"""

import argparse

import joblib
import numpy as np
import pandas as pd

from genstudy import augment, data, svm, tracking
from genstudy.features import active_units
from genstudy.io import atomic_path, write_json
from stages.common import Params, StageError, dataset_name, main, require, stage_name
from stages.sample_labels import labels_path

FEATURES = ("m1", "pixels")
# The grid search's fits run in parallel, one thread per core (see svm.select): the same
# fits as one at a time (each is deterministic), measured 1.6-1.7x faster on two cores.
N_JOBS = -1


def result_path(features, n, seed, kind="metrics"):
    return f"metrics/svm/{features}-n{n}-seed{seed}.json" if kind == "metrics" \
        else f"models/svm/{features}-n{n}-seed{seed}.joblib"


def read_params(p: Params, features: str) -> dict:
    cfg = {
        "kernel": p.choice("svm.kernel", svm.KERNELS),
        "C": p.floats("svm.C"),
        "gamma_factors": p.floats("svm.gamma_factors"),
        "cv_folds": p.int("svm.cv_folds", minimum=2),
        "standardize": p.bool(f"svm.{features}.standardize"),
        "augment": p.get("svm.augment.transforms"),
        "augment_max_n": p.int("svm.augment.max_n", minimum=0),
    }
    if not isinstance(cfg["augment"], list) or not set(cfg["augment"]) <= set(augment.TRANSFORMS):
        raise p.bad("svm.augment.transforms", cfg["augment"],
                    f"it must be a list of {', '.join(augment.TRANSFORMS)} (or [] for none)")
    if features == "m1":
        cfg["drop_inactive"] = p.bool("svm.m1.drop_inactive")
        cfg["transductive"] = {"enabled": p.bool("svm.m1.transductive.enabled"),
                               "pool": p.int("svm.m1.transductive.pool"),
                               "n_neighbors": p.int("svm.m1.transductive.n_neighbors"),
                               "alpha": p.float("svm.m1.transductive.alpha"),
                               "keep": p.float("svm.m1.transductive.keep")}
        if not 0 < cfg["transductive"]["alpha"] < 1 or not 0 < cfg["transductive"]["keep"] <= 1:
            raise p.bad("svm.m1.transductive", cfg["transductive"], "alpha must be in (0, 1) and keep in (0, 1]")
    return cfg


def labelled_copies(features: str, images, n: int, cfg: dict):
    """Features of label-preserving copies of the labelled images (n, k, d), or None when off for this N."""
    if not cfg["augment"] or n > cfg["augment_max_n"]:
        return None
    import torch

    extra = augment.copies(torch.from_numpy(images), cfg["augment"])      # (n, k, 784)
    flat = extra.reshape(-1, extra.shape[-1])
    if features == "m1":
        from genstudy.vae import encode_means
        from stages.m1_common import load_vae

        flat = encode_means(load_vae(), flat)
    return flat.numpy().reshape(len(images), extra.shape[1], -1)


def load_features(features: str):
    """(train features, train labels, test features, test labels, train pixels)."""
    raw = require("data/raw", "download")
    train_x, train_y = data.load_pixels(raw, "train")
    test_x, test_y = data.load_pixels(raw, "test")
    if features == "pixels":
        return train_x, train_y, test_x, test_y, train_x
    with np.load(require("data/features/m1.npz", "encode")) as f:
        return f["train"], train_y, f["test"], test_y, train_x


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", choices=FEATURES, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    p = Params.load()
    dataset = dataset_name(p)
    cfg = read_params(p, args.features)
    labelled = pd.read_csv(require(labels_path(args.n, args.seed), f"sample_labels@{args.n}-{args.seed}"))
    train_x, train_y, test_x, test_y, train_pixels = load_features(args.features)
    idx = labelled["index"].to_numpy()
    if not np.array_equal(train_y[idx], labelled["label"].to_numpy()):
        raise StageError(f"{labels_path(args.n, args.seed)} does not match data/raw's labels; "
                         f"run `dvc repro sample_labels@{args.n}-{args.seed}`")
    columns = None
    if cfg.get("drop_inactive"):
        # Which latent dimensions carry information is read off all training
        # images' means (no labels needed), as in the official M1 code.
        columns = np.flatnonzero(active_units(train_x))
        if len(columns) == 0:
            raise StageError("the VAE has no active latent dimension (std of mean > 0.1); "
                             "set svm.m1.drop_inactive: false or retrain the VAE")
    name = stage_name(f"fit_svm_{args.features}", args.n, args.seed)
    with tracking.stage_run(name, {"svm": cfg, "labels": {"n": args.n, "seed": args.seed},
                                   "features": args.features}, dataset):
        import mlflow

        copies = labelled_copies(args.features, train_pixels[idx], args.n, cfg)
        model, chosen = svm.select(train_x[idx], train_y[idx], kernel=cfg["kernel"], Cs=cfg["C"],
                                   gamma_factors=cfg["gamma_factors"], standardize=cfg["standardize"],
                                   folds=cfg["cv_folds"], seed=args.seed, columns=columns, copies=copies,
                                   n_jobs=N_JOBS)
        chosen["augment"] = cfg["augment"] if copies is not None else []
        chosen["training_points"] = len(idx) * (1 + (0 if copies is None else copies.shape[1]))
        result = {args.features: {**svm.evaluate(model, test_x, test_y), **chosen,
                                  "kernel": cfg["kernel"], "standardize": cfg["standardize"],
                                  "dimensions": int(train_x.shape[1] if columns is None else len(columns))}}
        models = {args.features: model}
        if args.features == "m1" and cfg["transductive"]["enabled"]:
            # The unlabelled pool: other training images only, never the test set.
            t = dict(cfg["transductive"])
            rest = np.setdiff1d(np.arange(len(train_x)), idx)
            pool = train_x[np.sort(np.random.default_rng(args.seed).choice(rest, min(t.pop("pool"), len(rest)),
                                                                            replace=False))]
            del t["enabled"]
            t_model, used = svm.transduce(model, train_x[idx], train_y[idx], pool, copies=copies, **t)
            t_cv = svm.transductive_cv_accuracy(model, train_x[idx], train_y[idx], pool, folds=chosen["cv_folds"],
                                                seed=args.seed, copies=copies, **t)
            result["m1_transductive"] = {**svm.evaluate(t_model, test_x, test_y), **chosen, "cv_accuracy": t_cv,
                                         "kernel": cfg["kernel"], "pseudo_labelled": used}
            models["m1_transductive"] = t_model
        result = {"n": args.n, "seed": args.seed, "features": args.features, "methods": result}

        with atomic_path(result_path(args.features, args.n, args.seed, "model")) as tmp:
            joblib.dump(models, tmp)
        write_json(result_path(args.features, args.n, args.seed), result)
        for method, r in result["methods"].items():
            mlflow.log_metrics({f"{method}.test_accuracy": r["accuracy"], f"{method}.cv_accuracy": r["cv_accuracy"]})
            mlflow.sklearn.log_model(models[method], name=method, serialization_format="pickle",
                                     pip_requirements=["scikit-learn"])
        mlflow.log_artifact(result_path(args.features, args.n, args.seed))
    for method, r in result["methods"].items():
        print(f"{name} {method}: test accuracy {r['accuracy']:.4f} (CV {r['cv_accuracy']:.4f}, C={r['C']:g}"
              + (f", gamma={r['gamma']:.3g}" if "gamma" in r else "") + ")")


if __name__ == "__main__":
    run()
