"""SVM model selection on a small labelled set, and a transductive variant that also sees unlabelled data.

Hyperparameters are chosen by stratified k-fold cross-validation on the labelled
images only; the test set is touched once, by `evaluate`, after selection.
"""

import hashlib
import threading
from collections import OrderedDict

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics.pairwise import check_pairwise_arrays, euclidean_distances, pairwise_kernels
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
from sklearn.svm import SVC

KERNELS = ("rbf", "linear", "poly", "sigmoid")

# Squared distances between recent pairs of arrays, keyed by their content. A grid search fits
# each CV fold once per (C, gamma): the distances are the same every time, and on 784-pixel
# inputs they were 60 % of the search (measured: N = 1000 with shifted copies, 22 of 38 s).
_DISTANCES: OrderedDict = OrderedDict()
_DISTANCES_LOCK = threading.Lock()
DISTANCE_CACHE_BYTES = 1 << 30  # per process; least recently used pairs go first
_DISTANCE_MAX_BYTES = 1 << 28  # larger matrices (one-off test predictions) are not kept


def _fingerprint(a: np.ndarray) -> tuple:
    return a.shape, a.dtype.str, hashlib.sha1(np.ascontiguousarray(a).data).digest()


def squared_distances(A, B) -> np.ndarray:
    """sklearn's euclidean_distances(A, B, squared=True), computed once per pair of contents.

    The same call as sklearn's rbf_kernel makes, so the kernel is bit for bit the same;
    the result is shared: do not modify it.
    """
    A, B = check_pairwise_arrays(A, B)
    key = (_fingerprint(A), None if B is A else _fingerprint(B))
    with _DISTANCES_LOCK:  # the grid search's threads share the cache
        D = _DISTANCES.get(key)
        if D is not None:
            _DISTANCES.move_to_end(key)
            return D
    D = euclidean_distances(A, B, squared=True)
    if D.nbytes <= _DISTANCE_MAX_BYTES:
        with _DISTANCES_LOCK:
            _DISTANCES[key] = D
            while sum(d.nbytes for d in _DISTANCES.values()) > DISTANCE_CACHE_BYTES:
                _DISTANCES.popitem(last=False)
    return D


class KernelSVC(ClassifierMixin, BaseEstimator):
    """sklearn's SVC on a Gram matrix computed by sklearn's pairwise_kernels.

    The same model as SVC(kernel=...), but the kernel is evaluated with BLAS
    instead of libsvm's per-pair loops: about 4x faster on 784-pixel inputs
    (measured: 5-fold grid search at N=3000, 230 s -> 60 s; 10,000 test
    predictions, 29 s -> 4 s). The training inputs are kept to evaluate the
    kernel against new points. RBF distances are cached by content (`squared_distances`),
    so a grid search computes each fold's once instead of once per (C, gamma).
    """

    def __init__(self, kernel: str = "rbf", C: float = 1.0, gamma: float = 1.0):
        self.kernel, self.C, self.gamma = kernel, C, gamma

    def _gram(self, A, B):
        if self.kernel != "rbf":
            return pairwise_kernels(A, B, metric=self.kernel, filter_params=True, gamma=self.gamma)
        K = squared_distances(A, B) * -self.gamma  # the steps of sklearn's rbf_kernel
        return np.exp(K, out=K)

    def fit(self, X, y):
        self.X_fit_ = np.asarray(X, dtype=np.float64)
        self.svc_ = SVC(kernel="precomputed", C=self.C).fit(self._gram(self.X_fit_, self.X_fit_), y)
        self.classes_ = self.svc_.classes_
        return self

    def decision_function(self, X):
        return self.svc_.decision_function(self._gram(np.asarray(X, dtype=np.float64), self.X_fit_))

    def predict(self, X):
        return self.svc_.predict(self._gram(np.asarray(X, dtype=np.float64), self.X_fit_))


def gamma_scale(X, standardize: bool) -> float:
    """sklearn's gamma='scale', 1 / (n_features * Var(X)), of the features the SVC sees."""
    Z = StandardScaler().fit_transform(X) if standardize else X
    return 1.0 / (X.shape[1] * max(float(Z.var()), 1e-12))


def build(kernel: str, standardize: bool, C: float = 1.0, gamma: float = 1.0, columns=None) -> Pipeline:
    """[keep `columns`] -> [standardize] -> SVC, as one pipeline that is saved whole."""
    steps = [ColumnTransformer([("keep", "passthrough", list(columns))])] if columns is not None else []
    steps += [StandardScaler()] if standardize else []
    return make_pipeline(*steps, KernelSVC(kernel=kernel, C=C, gamma=gamma))


def stack_copies(X, y, copies=None):
    """Originals (n, d) followed by their label-preserving copies (n, k, d), each with its original's label.

    Copy j of original i becomes row n + i*k + j.
    """
    if copies is None or not copies.shape[1]:
        return X, y
    n, k = copies.shape[:2]
    return np.concatenate([X, copies.reshape(n * k, -1)]), np.concatenate([y, np.repeat(y, k)])


def folds_with_copies(splits, n: int, k: int):
    """CV splits over n originals -> splits over `stack_copies` rows.

    A training fold gains the copies of its originals; a held-out fold stays the
    originals alone: a held-out image is scored as it is, and no copy of it is trained on.
    """
    rows = n + np.arange(n * k).reshape(n, k)
    return [(np.concatenate([train, rows[train].ravel()]), held_out) for train, held_out in splits]


def select(
    X,
    y,
    *,
    kernel: str,
    Cs,
    gamma_factors,
    standardize: bool,
    folds: int,
    seed: int,
    columns=None,
    copies=None,
    n_jobs: int = 1,
):
    """Grid search over C and gamma (multiples of gamma='scale') by stratified CV on (X, y).

    `copies` (n, k, d), if given, are label-preserving copies of the rows of X
    (genstudy.augment): they join the training folds of their original, never a
    held-out fold, and the final refit.
    Returns the refitted best pipeline and a dict with the chosen values and CV accuracy.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    folds = min(folds, int(np.bincount(y).min()))
    base = gamma_scale(X if columns is None else X[:, columns], standardize)
    grid = {"kernelsvc__C": list(Cs)}
    if kernel != "linear":
        grid["kernelsvc__gamma"] = [f * base for f in gamma_factors]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    if copies is not None and copies.shape[1]:
        cv = folds_with_copies(cv.split(X, y), *copies.shape[:2])
        X, y = stack_copies(X, y, copies)
    search = GridSearchCV(
        build(kernel, standardize, gamma=base, columns=columns), grid, n_jobs=n_jobs, cv=cv, scoring="accuracy"
    )
    # Threads, not processes: libsvm releases the GIL while it trains, and threads share the
    # distance cache (a process pool would compute every fold's distances once per worker and
    # restart workers whose memory grows). Measured at N = 1000 with copies, two cores:
    # M1 features 26 s one at a time -> 16 s; pixels 22 s -> 13 s. Same fits, same scores.
    with joblib.parallel_config(backend="threading"):
        search.fit(X, y)
    chosen = {"C": search.best_params_["kernelsvc__C"], "cv_accuracy": float(search.best_score_), "cv_folds": folds}
    if "kernelsvc__gamma" in search.best_params_:
        g = search.best_params_["kernelsvc__gamma"]
        chosen.update(gamma=float(g), gamma_factor=float(g / base))
    return search.best_estimator_, chosen


def transduce(model: Pipeline, X, y, X_unlabelled, *, n_neighbors: int, alpha: float, keep: float, copies=None):
    """A transductive stand-in for the paper's TSVM: the SVM also learns from unlabelled points.

    Labels are spread over a k-nearest-neighbour graph of the labelled and
    unlabelled points (Zhou et al. 2004, sklearn's LabelSpreading), in the
    feature space the SVM sees; then a clone of `model`, with the same
    hyperparameters, is refitted on the labelled points plus, per class, the
    `keep` fraction of unlabelled points whose spread label is most certain
    (and the labelled points' `copies`, as in `select`, if given).
    Returns the refitted pipeline and the number of pseudo-labelled points used.
    """
    prep = model[:-1] if len(model) > 1 else None
    Z = np.concatenate([X, X_unlabelled])
    Z = prep.transform(Z) if prep is not None else Z
    targets = np.concatenate([y, -np.ones(len(X_unlabelled), dtype=int)])
    spread = LabelSpreading(kernel="knn", n_neighbors=n_neighbors, alpha=alpha, max_iter=100).fit(Z, targets)
    pseudo = spread.transduction_[len(X) :]
    certainty = spread.label_distributions_[len(X) :].max(1)
    chosen = []
    for c in np.unique(y):
        members = np.flatnonzero(pseudo == c)
        ranked = members[np.argsort(-certainty[members], kind="stable")]
        chosen.append(ranked[: int(round(keep * len(members)))])
    chosen = np.sort(np.concatenate(chosen))
    X_fit, y_fit = stack_copies(X, y, copies)
    refit = clone(model).fit(np.concatenate([X_fit, X_unlabelled[chosen]]), np.concatenate([y_fit, pseudo[chosen]]))
    return refit, len(chosen)


def transductive_cv_accuracy(
    model: Pipeline, X, y, X_unlabelled, *, folds: int, seed: int, copies=None, **kwargs
) -> float:
    """CV accuracy of `transduce` on the labelled set: the test-free check that transduction helps."""
    folds = min(folds, int(np.bincount(y).min()))
    scores = []
    for train, held_out in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        fold_copies = None if copies is None else copies[train]
        fitted = clone(model).fit(*stack_copies(X[train], y[train], fold_copies))
        refit, _ = transduce(fitted, X[train], y[train], X_unlabelled, copies=fold_copies, **kwargs)
        scores.append(float((refit.predict(X[held_out]) == y[held_out]).mean()))
    return float(np.mean(scores))


def evaluate(model, X, y) -> dict:
    predicted = model.predict(X)
    accuracy = float((predicted == y).mean())
    per_class = {int(c): float((predicted[y == c] == c).mean()) for c in np.unique(y)}
    return {"accuracy": accuracy, "error": 1.0 - accuracy, "per_class_accuracy": per_class}
