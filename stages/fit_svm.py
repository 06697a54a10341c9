"""Stages `fit_svm_m1@N-SEED` and `fit_svm_pixels@N-SEED`: an SVC on N labelled images, chosen by CV on those N only.

FEATURES is `m1` (VAE posterior means; also the transductive variant) or `pixels` (the
raw-pixel baseline); see genstudy.m1. The test images are used once, after selection.
"""

import argparse
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from genstudy import data, m1, svm
from genstudy.io import atomic_path, write_json
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main, require


def config(s, features: str) -> dict:
    """The svm params of `features`' stage (s: params.svm), as genstudy.m1.fit takes them."""
    cfg = {
        "kernel": s.kernel,
        "C": s.C,
        "gamma_factors": s.gamma_factors,
        "cv_folds": s.cv_folds,
        "halving": s.halving,
        "standardize": s[features].standardize,
        "augment": s.augment.transforms,
    }
    if features == "m1":
        cfg |= {"drop_inactive": s.m1.drop_inactive, "transductive": s.m1.transductive.dump()}
    return cfg


def prepare(features: str, n: int, seed: int, s) -> dict:
    """genstudy.m1.fit's inputs for one stage, read from the pipeline's files (s: params.svm)."""
    cfg = config(s, features)
    labels_file = paths.labels(n, seed)
    labelled = pd.read_csv(require(labels_file, paths.stage_name("sample_labels", n, seed)))
    raw = require(paths.RAW, "download")
    idx = labelled["index"].to_numpy()
    # Of the training images' pixels, only the labelled ones are needed (the SVM's inputs, or the
    # images whose copies the VAE encodes): converted as data.load_pixels does, for those rows alone.
    train_images, train_y = data.load_split(raw, "train")
    if not np.array_equal(train_y[idx], labelled["label"].to_numpy()):
        raise StageError(
            f"{labels_file} does not match data/raw's labels; "
            f"run `{paths.repro(paths.stage_name('sample_labels', n, seed))}`"
        )
    labelled_pixels = train_images[idx].reshape(len(idx), -1).astype(np.float32) / 255
    X, unlabelled, columns, encode = labelled_pixels, None, None, None
    if features == "m1":
        test_y = data.load_split(raw, "test")[1]
        with np.load(require(paths.M1_FEATURES, "encode")) as f:
            train_x, test_x = f["train"], f["test"]
        X, unlabelled = train_x[idx], train_x[np.setdiff1d(np.arange(len(train_x)), idx)]
        if cfg["drop_inactive"]:
            columns = m1.inactive_columns_dropped(train_x)
            if columns is None:
                raise StageError(
                    "the VAE has no active latent dimension (std of mean > 0.1); "
                    "set svm.m1.drop_inactive: false or retrain the VAE"
                )

        def encode(flat):  # torch and the VAE are loaded only where there are copies to encode
            import torch

            from genstudy.io import load_model
            from genstudy.vae import VAE, encode_means

            vae = load_model(VAE, require(paths.VAE_MODEL, "train_vae"), paths.target("train_vae"))
            with torch.no_grad():
                return encode_means(vae, torch.from_numpy(flat)).numpy()

    else:
        test_x, test_y = data.load_pixels(raw, "test")
    copies = m1.labelled_copies(labelled_pixels, n, cfg["augment"], s.augment.max_n, encode)
    return {
        "features": features,
        "X": X,
        "y": train_y[idx],
        "test_x": test_x,
        "test_y": test_y,
        "cfg": cfg,
        "seed": seed,
        "columns": columns,
        "copies": copies,
        "unlabelled": unlabelled,
        "labels_file": labels_file,
    }


def write_outputs(args, methods: dict, models: dict, mlrun):
    """The stage's outputs, logged on its MLflow run too: the models (.npz) and the metrics."""
    result = {"n": args.n, "seed": args.seed, "features": args.features, "methods": methods}
    model_file = paths.svm_model(args.features, args.n, args.seed)
    with atomic_path(model_file) as tmp:
        svm.save(tmp, models)  # plain arrays: svm.load reads them back without running code
    metrics = paths.svm_metrics(args.features, args.n, args.seed)
    write_json(metrics, result)
    for method, r in methods.items():
        mlrun.log_metrics({f"{method}.test_accuracy": r["accuracy"], f"{method}.cv_accuracy": r["cv_accuracy"]})
    mlrun.log_artifact(model_file, artifact_path="model")  # the same .npz as the DVC output
    mlrun.log_artifact(metrics)


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", choices=paths.SVM_FEATURES, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    p = params.load()
    fit_inputs = prepare(args.features, args.n, args.seed, p.svm)
    labels_file, cfg = fit_inputs.pop("labels_file"), fit_inputs["cfg"]
    name = paths.stage_name(f"fit_svm_{args.features}", args.n, args.seed)
    # The fit starts in a thread while MLflow opens the run (about 0.8 s of Python and SQLite): the
    # fit's heavy steps (BLAS, libsvm, the neighbour search) release the GIL. Its result does not
    # depend on the timing (every step is deterministic).
    with ThreadPoolExecutor(1) as background:
        fitting = background.submit(m1.fit, **fit_inputs)
        with deferred_stage_run(
            name,
            {"svm": cfg, "labels": {"n": args.n, "seed": args.seed}, "features": args.features},
            p.data.dataset,
            inputs={f"labels-n{args.n}-seed{args.seed}": labels_file},
        ) as mlrun:
            methods, models = fitting.result()
            write_outputs(args, methods, models, mlrun)
    for method, r in methods.items():
        print(
            f"{name} {method}: test accuracy {r['accuracy']:.4f} (CV {r['cv_accuracy']:.4f}, C={r['C']:g}"
            + (f", gamma={r['gamma']:.3g}" if "gamma" in r else "")
            + ")"
        )


if __name__ == "__main__":
    run()
