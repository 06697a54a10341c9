"""M1's classifier step for one labelled subset: an SVC chosen by CV on the N labelled images only.

`features` is "m1" (VAE posterior means; also the transductive variant) or "pixels" (the
raw-pixel baseline). For N <= augment_max_n both also train on label-preserving copies of the
labelled images (genstudy.augment; for m1 the copies are encoded by the VAE). The test images
are scored once, after selection.
"""

import numpy as np

from genstudy import augment, svm
from genstudy.features import active_units

# The grid search's fits run in parallel, one thread per core (see svm.select): the same
# fits as one at a time (each is deterministic), measured 1.6-1.7x faster on two cores.
N_JOBS = -1


def labelled_copies(images, n: int, transforms, max_n: int, encode=None):
    """Features of label-preserving copies of the labelled images (n, k, d), or None when off for this N.

    encode: maps (m, 784) pixel tensors to features (the VAE's means for m1); None keeps pixels.
    """
    if not transforms or n > max_n:
        return None
    import torch

    extra = augment.copies(torch.from_numpy(images), transforms)  # (n, k, 784)
    flat = extra.reshape(-1, extra.shape[-1])
    if encode is not None:
        flat = encode(flat)
    return flat.numpy().reshape(len(images), extra.shape[1], -1)


def inactive_columns_dropped(train_features):
    """Latent dimensions whose mean has std > 0.1 over all training images (no labels needed), as in the
    official M1 code; None if none is active."""
    columns = np.flatnonzero(active_units(train_features))
    return columns if len(columns) else None


def fit(
    features: str, train_x, train_y, test_x, test_y, idx, cfg: dict, seed: int, columns=None, copies=None
) -> tuple[dict, dict]:
    """({method: result}, {method: fitted pipeline}) for the labelled rows `idx` of the training set.

    cfg: the svm params (kernel, C, gamma_factors, cv_folds, standardize, augment, and for m1 transductive).
    """
    model, chosen = svm.select(
        train_x[idx],
        train_y[idx],
        kernel=cfg["kernel"],
        Cs=cfg["C"],
        gamma_factors=cfg["gamma_factors"],
        standardize=cfg["standardize"],
        folds=cfg["cv_folds"],
        seed=seed,
        columns=columns,
        copies=copies,
        n_jobs=N_JOBS,
    )
    chosen["augment"] = cfg["augment"] if copies is not None else []
    chosen["training_points"] = len(idx) * (1 + (0 if copies is None else copies.shape[1]))
    results = {
        features: {
            **svm.evaluate(model, test_x, test_y),
            **chosen,
            "kernel": cfg["kernel"],
            "standardize": cfg["standardize"],
            "dimensions": int(train_x.shape[1] if columns is None else len(columns)),
        }
    }
    models = {features: model}
    transductive = cfg.get("transductive")
    if features == "m1" and transductive and transductive["enabled"]:
        # The unlabelled pool: other training images only, never the test set.
        t = {k: v for k, v in transductive.items() if k not in ("enabled", "pool")}
        rest = np.setdiff1d(np.arange(len(train_x)), idx)
        picks = np.random.default_rng(seed).choice(rest, min(transductive["pool"], len(rest)), replace=False)
        pool = train_x[np.sort(picks)]
        t_model, used = svm.transduce(model, train_x[idx], train_y[idx], pool, copies=copies, **t)
        t_cv = svm.transductive_cv_accuracy(
            model, train_x[idx], train_y[idx], pool, folds=chosen["cv_folds"], seed=seed, copies=copies, **t
        )
        results["m1_transductive"] = {
            **svm.evaluate(t_model, test_x, test_y),
            **chosen,
            "cv_accuracy": t_cv,
            "kernel": cfg["kernel"],
            "pseudo_labelled": used,
        }
        models["m1_transductive"] = t_model
    return results, models
