"""Stages `fit_svm_m1@N-SEED` and `fit_svm_pixels@N-SEED`: an SVC on N labelled images, chosen by CV on those N only.

FEATURES is `m1` (VAE posterior means; also the transductive variant) or `pixels` (the
raw-pixel baseline); see genstudy.m1. The test images are used once, after selection.
"""

import argparse

import joblib
import numpy as np
import pandas as pd

from genstudy import data, m1
from genstudy.io import atomic_path, write_json
from genstudy.pipeline import params, paths, tracking
from genstudy.pipeline.stage import StageError, main, require


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", choices=paths.SVM_FEATURES, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    p = params.load()
    dataset, s = p.data.dataset, p.svm
    cfg = {
        "kernel": s.kernel,
        "C": s.C,
        "gamma_factors": s.gamma_factors,
        "cv_folds": s.cv_folds,
        "standardize": s[args.features].standardize,
        "augment": s.augment.transforms,
    }
    if args.features == "m1":
        cfg |= {"drop_inactive": s.m1.drop_inactive, "transductive": s.m1.transductive.dump()}
    labels_file = paths.labels(args.n, args.seed)
    labelled = pd.read_csv(require(labels_file, paths.stage_name("sample_labels", args.n, args.seed)))
    raw = require(paths.RAW, "download")
    train_pixels, train_y = data.load_pixels(raw, "train")
    test_x, test_y = data.load_pixels(raw, "test")
    train_x = train_pixels
    if args.features == "m1":
        with np.load(require(paths.M1_FEATURES, "encode")) as f:
            train_x, test_x = f["train"], f["test"]
    idx = labelled["index"].to_numpy()
    if not np.array_equal(train_y[idx], labelled["label"].to_numpy()):
        raise StageError(
            f"{labels_file} does not match data/raw's labels; "
            f"run `dvc repro {paths.stage_name('sample_labels', args.n, args.seed)}`"
        )
    columns = None
    if cfg.get("drop_inactive"):
        columns = m1.inactive_columns_dropped(train_x)
        if columns is None:
            raise StageError(
                "the VAE has no active latent dimension (std of mean > 0.1); "
                "set svm.m1.drop_inactive: false or retrain the VAE"
            )
    name = paths.stage_name(f"fit_svm_{args.features}", args.n, args.seed)
    with tracking.stage_run(
        name, {"svm": cfg, "labels": {"n": args.n, "seed": args.seed}, "features": args.features}, dataset
    ):
        import mlflow

        encode = None
        if args.features == "m1":
            from genstudy.io import load_model
            from genstudy.vae import VAE, encode_means

            model = load_model(VAE, require(paths.VAE_MODEL, "train_vae"), "train_vae")
            encode = lambda flat: encode_means(model, flat)  # noqa: E731
        copies = m1.labelled_copies(train_pixels[idx], args.n, cfg["augment"], s.augment.max_n, encode)
        methods, models = m1.fit(args.features, train_x, train_y, test_x, test_y, idx, cfg, args.seed, columns, copies)
        result = {"n": args.n, "seed": args.seed, "features": args.features, "methods": methods}
        with atomic_path(paths.svm_model(args.features, args.n, args.seed)) as tmp:
            joblib.dump(models, tmp)
        metrics = paths.svm_metrics(args.features, args.n, args.seed)
        write_json(metrics, result)
        for method, r in methods.items():
            mlflow.log_metrics({f"{method}.test_accuracy": r["accuracy"], f"{method}.cv_accuracy": r["cv_accuracy"]})
            mlflow.sklearn.log_model(
                models[method], name=method, serialization_format="pickle", pip_requirements=["scikit-learn"]
            )
        mlflow.log_artifact(metrics)
    for method, r in methods.items():
        print(
            f"{name} {method}: test accuracy {r['accuracy']:.4f} (CV {r['cv_accuracy']:.4f}, C={r['C']:g}"
            + (f", gamma={r['gamma']:.3g}" if "gamma" in r else "")
            + ")"
        )


if __name__ == "__main__":
    run()
