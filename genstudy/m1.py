"""M1's classifier step for one labelled subset: an SVC chosen by CV on the N labelled images only.

`features` is "m1" (VAE posterior means; also the transductive variant) or "pixels" (the
raw-pixel baseline). For N <= augment_max_n both also train on label-preserving copies of the
labelled images (genstudy.augment; for m1 the copies are encoded by the VAE). The test images
are scored once, after selection.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from genstudy import augment, svm
from genstudy.features import active_units

# The selection's fits and the transductive refits run in parallel, one thread per core (see
# svm.select): the same fits as one at a time (each is deterministic), about 1.7x faster on two cores.
N_JOBS = -1


def labelled_copies(images, n: int, transforms, max_n: int, encode=None):
    """Features of label-preserving copies of the labelled images (n, k, d), or None when off for this N.

    encode: maps (m, 784) pixel tensors to features (the VAE's means for m1); None keeps pixels.
    """
    if not transforms or n > max_n:
        return None
    extra = augment.copies(images, transforms)  # (n, k, 784), NumPy (torch only for rotate and zoom)
    flat = extra.reshape(-1, extra.shape[-1])
    if encode is not None:
        flat = encode(flat)
    return np.asarray(flat).reshape(len(images), extra.shape[1], -1)


def inactive_columns_dropped(train_features):
    """Latent dimensions whose mean has std > 0.1 over all training images (no labels needed), as in the
    official M1 code; None if none is active."""
    columns = np.flatnonzero(active_units(train_features))
    return columns if len(columns) else None


def fit(
    features: str, X, y, test_x, test_y, cfg: dict, seed: int, columns=None, copies=None, unlabelled=None
) -> tuple[dict, dict]:
    """({method: result}, {method: svm.SVMPredictor}) for the labelled images' features X and labels y.

    cfg: the svm params (kernel, C, gamma_factors, cv_folds, halving, standardize, augment, and for m1
    transductive). unlabelled: the features of the other training images (in their order), from which
    the transductive pool is drawn; never test images.
    """
    model, chosen = svm.select(
        X,
        y,
        kernel=cfg["kernel"],
        Cs=cfg["C"],
        gamma_factors=cfg["gamma_factors"],
        standardize=cfg["standardize"],
        folds=cfg["cv_folds"],
        seed=seed,
        columns=columns,
        copies=copies,
        n_jobs=N_JOBS,
        halving=cfg.get("halving", 1),
    )
    chosen["augment"] = cfg["augment"] if copies is not None else []
    chosen["training_points"] = len(X) * (1 + (0 if copies is None else copies.shape[1]))
    results = {
        features: {
            **svm.evaluate(model, test_x, test_y),
            **chosen,
            "kernel": cfg["kernel"],
            "standardize": cfg["standardize"],
            "dimensions": int(X.shape[1] if columns is None else len(columns)),
        }
    }
    models = {features: model}
    transductive = cfg.get("transductive")
    if features != "m1" or not transductive or not transductive["enabled"]:
        return results, models
    # The unlabelled pool: other training images only, never the test set.
    t = {k: v for k, v in transductive.items() if k not in ("enabled", "pool", "cv_refits")}
    size = min(transductive["pool"], len(unlabelled))
    pool = unlabelled[np.sort(np.random.default_rng(seed).choice(len(unlabelled), size, replace=False))]
    # One neighbour search over the labelled and pool points serves the transductive refit and
    # every CV fold's graph, when the SVM's space (the kept columns, no scaler) depends on no fold.
    # Not beside the selection: the search's OpenMP threads call BLAS, and the selection's own
    # limit on BLAS threads could lapse in the middle of it (measured: an N = 100 stage took 40 s,
    # with OpenBLAS's warning that it may hang).
    neighbours = None
    if not cfg["standardize"]:
        Z = model.prep.transform(np.concatenate([X, pool]), dtype=X.dtype)
        neighbours = svm.Neighbours(Z[: len(X)], Z[len(X) :], t["n_neighbors"])
    refits = min(transductive.get("cv_refits") or chosen["cv_folds"], chosen["cv_folds"])

    def refit_and_score():
        t_model, used = svm.transduce(model, X, y, pool, copies=copies, neighbours=neighbours, **t)
        return t_model, used, svm.evaluate(t_model, test_x, test_y)

    with ThreadPoolExecutor(1) as beside:
        # The refit and its test predictions beside the CV's threads (with a shared search: a refit
        # without one builds its own graph, whose search must not run beside another thread).
        job = beside.submit(refit_and_score) if neighbours is not None else None
        t_cv = svm.transductive_cv_accuracy(
            model,
            X,
            y,
            pool,
            folds=chosen["cv_folds"],
            seed=seed,
            copies=copies,
            neighbours=neighbours,
            n_jobs=N_JOBS,
            refits=refits,
            **t,
        )
        t_model, used, t_eval = job.result() if job is not None else refit_and_score()
    results["m1_transductive"] = {
        **t_eval,
        **chosen,
        "cv_accuracy": t_cv,
        "cv_refits": refits,
        "kernel": cfg["kernel"],
        "pseudo_labelled": used,
    }
    models["m1_transductive"] = t_model
    return results, models
