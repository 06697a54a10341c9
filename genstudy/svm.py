"""SVM model selection on a small labelled set, and a transductive variant that also sees unlabelled data.

Hyperparameters are chosen by stratified k-fold cross-validation on the labelled images only,
by successive halving over the (C, gamma) grid (`select`); the test set is touched once, by
`evaluate`, after selection. A fitted SVC is kept as plain arrays (`SVMPredictor`: support
vectors, dual coefficients, intercepts, the kept columns and scaler): it predicts from its
support vectors with BLAS, and `save` / `load` write and read it as an .npz file that loads
with `np.load(allow_pickle=False)`, so reading a model runs no code.

scikit-learn is imported where it is used: a saved model loads and predicts with NumPy alone.
"""

import contextlib
import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

KERNELS = ("rbf", "linear", "poly", "sigmoid")
# The other constants of the kernels: those of sklearn's pairwise kernels, which the SVMs have
# always used (degree 3; coef0 1 for poly and sigmoid; libsvm's own default coef0 is 0).
DEGREE, COEF0 = 3, 1.0
FORMAT = "genstudy.svm/1"  # the .npz layout of `save`; `load` refuses any other
# libsvm's kernel cache for the SVMs that compute their own kernel (the transductive refits), in MB:
# sklearn's default. Measured on 11,000 latents: 50, 200, 500 and 1000 MB all fit in 0.85-0.89 s.
NATIVE_CACHE_MB = 200
# Successive halving starts from at least this many labelled images per class in a training fold
# (fewer: the first round's scores say little, and a small N's full grid is cheap anyway).
HALVING_MIN_PER_CLASS = 12


def cpu_share() -> int:
    """The CPUs this process may use: OMP_NUM_THREADS where set (the one setting that gives each of
    several processes its share, as torch and BLAS read it too), else the CPUs it may run on."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _workers(n_jobs: int) -> int:
    return cpu_share() if n_jobs is None or n_jobs < 0 else max(1, n_jobs)


@contextlib.contextmanager
def parallel(n_jobs: int):
    """Threads for independent fits (n_jobs < 0: one per CPU of cpu_share()), with BLAS at one thread meanwhile.

    libsvm and NumPy release the GIL, so the threads run at once. BLAS's own threads would only
    compete with them: measured on two busy cores, a kernel product against support vectors took
    0.5-1.0 s with two BLAS threads and 0.25 s with one. The thread count changes no result.
    """
    from threadpoolctl import threadpool_limits

    workers = _workers(n_jobs)
    with threadpool_limits(1 if workers > 1 else None, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        yield pool


# --- kernels ------------------------------------------------------------------------------------


def squared_distances(A, B=None) -> np.ndarray:
    """sklearn's euclidean_distances(A, B, squared=True) on float64 arrays, with the same operations
    in the same order (so the RBF kernel is bit for bit sklearn's rbf_kernel), in NumPy alone."""
    A = np.asarray(A, dtype=np.float64)
    same = B is None
    B = A if same else np.asarray(B, dtype=np.float64)
    AA = np.einsum("ij,ij->i", A, A)[:, None]
    BB = AA.T if same else np.einsum("ij,ij->i", B, B)[None, :]
    D = A @ B.T
    D *= -2  # in place: the same numbers as -2 * (A @ B.T), without a second matrix
    D += AA
    D += BB
    np.maximum(D, 0, out=D)
    if same:
        np.fill_diagonal(D, 0)
    return D


def kernel_of(kernel: str, gamma: float, base: np.ndarray, out=None) -> np.ndarray:
    """The kernel matrix from `base`: squared distances for rbf, dot products for the others
    (the steps of sklearn's rbf/linear/polynomial/sigmoid kernels). `out` may be `base` itself."""
    if kernel == "linear":
        if out is None:
            return base.copy()
        if out is not base:
            np.copyto(out, base)
        return out
    K = np.multiply(base, -gamma if kernel == "rbf" else gamma, out=out)
    if kernel == "rbf":
        return np.exp(K, out=K)
    K += COEF0
    if kernel == "poly":
        K **= DEGREE
        return K
    return np.tanh(K, out=K)


def gram(kernel: str, gamma: float, A, B=None) -> np.ndarray:
    """K(A, B) (B = A when None) in float64."""
    A = np.asarray(A, dtype=np.float64)
    Bm = A if B is None else np.asarray(B, dtype=np.float64)
    base = squared_distances(A, B) if kernel == "rbf" else A @ Bm.T
    return kernel_of(kernel, gamma, base, out=base)


def gamma_scale(X, standardize: bool) -> float:
    """sklearn's gamma='scale', 1 / (n_features * Var(X)), of the features the SVC sees (in X's dtype)."""
    if standardize:
        from sklearn.preprocessing import StandardScaler

        Z = StandardScaler().fit_transform(X)
    else:
        Z = np.asarray(X)
    return 1.0 / (X.shape[1] * max(float(Z.var()), 1e-12))


def _scale_of(X) -> np.ndarray:
    """StandardScaler's scale_: the std of each column, 1 where it is (nearly) 0."""
    std = np.asarray(X, dtype=np.float64).std(0)
    return np.where(std < 10 * np.finfo(np.float64).eps, 1.0, std)


# --- the fitted model as arrays ------------------------------------------------------------------


class SVMPredictor:
    """A fitted multi-class SVC (libsvm's one-vs-one) as arrays, with the columns and scaler before it.

    predict / decision_function compute the kernel against the support vectors only, with BLAS;
    the votes and their tie-break are libsvm's (a tie goes to the class listed first), and
    decision_function's default shape is sklearn's 'ovr'. Everything it needs is in ARRAYS and
    `meta()`, which `save` writes and `load` reads back into an equal predictor.
    """

    ARRAYS = ("classes", "support_vectors", "dual_coef", "intercept", "n_support", "columns", "mean", "scale")

    def __init__(
        self,
        *,
        kernel: str,
        C: float,
        gamma: float,
        classes,
        support_vectors,
        dual_coef,
        intercept,
        n_support,
        columns=None,
        mean=None,
        scale=None,
    ):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        self.kernel, self.C, self.gamma = kernel, float(C), float(gamma)
        self.classes = self.classes_ = np.asarray(classes)
        self.support_vectors = np.asarray(support_vectors, dtype=np.float64)
        self.dual_coef = np.asarray(dual_coef, dtype=np.float64)  # libsvm's sv_coef, (n_classes - 1, n_SV)
        self.intercept = np.asarray(intercept, dtype=np.float64)  # -rho, one per pair (i < j)
        self.n_support = np.asarray(n_support, dtype=np.int64)  # support vectors per class, in class order
        self.columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        m, n_sv = len(self.classes), len(self.support_vectors)
        if (
            self.n_support.shape != (m,)
            or self.n_support.sum() != n_sv
            or self.dual_coef.shape != (m - 1, n_sv)
            or self.intercept.shape != (m * (m - 1) // 2,)
            or (self.mean is None) != (self.scale is None)
        ):
            raise ValueError("inconsistent SVM arrays (classes, support vectors, coefficients or scaler)")

    @classmethod
    def from_svc(cls, svc, Z_fit, *, kernel: str, C: float, gamma: float, prep):
        """From sklearn's fitted SVC; Z_fit: its training inputs (as prep made them) if it was fitted
        on a precomputed kernel (its support vectors are then rows of Z_fit)."""
        sv = Z_fit[svc.support_] if svc.kernel == "precomputed" else svc.support_vectors_
        # The raw libsvm arrays: sklearn flips the sign of the public ones for two classes.
        return cls(
            kernel=kernel,
            C=C,
            gamma=gamma,
            classes=svc.classes_,
            support_vectors=sv,
            dual_coef=svc._dual_coef_,
            intercept=svc._intercept_,
            n_support=svc.n_support_,
            columns=prep.columns,
            mean=prep.mean,
            scale=prep.scale,
        )

    @property
    def prep(self) -> "Prep":
        return Prep(self.columns, self.mean, self.scale)

    def transform(self, X) -> np.ndarray:
        """The inputs the SVC sees: the kept columns, standardized if it was, as float64."""
        return self.prep.transform(X)

    def _pairs(self):
        """Per pair p = (i, j), i < j: where its two sums are in `_block_coef`'s columns, and its two classes."""
        m = len(self.classes)
        pairs = np.array([(i, j) for i in range(m) for j in range(i + 1, m)]).reshape(-1, 2)
        i, j = pairs[:, 0], pairs[:, 1]
        # Column c * (m - 1) + r of the block matrix: class c's support vectors with coefficient row r.
        return i * (m - 1) + (j - 1), j * (m - 1) + i, i, j

    def _block_coef(self) -> np.ndarray:
        """(n_SV, m (m - 1)): each class's dual coefficients in its own columns, zeros elsewhere, so that one
        product K @ W gives every class's sum over its own support vectors, for every coefficient row."""
        m = len(self.classes)
        W = np.zeros((len(self.support_vectors), m * (m - 1)))
        starts = np.concatenate([[0], np.cumsum(self.n_support)])
        for c in range(m):
            W[starts[c] : starts[c + 1], c * (m - 1) : (c + 1) * (m - 1)] = self.dual_coef[
                :, starts[c] : starts[c + 1]
            ].T
        return W

    def decision_values(self, X) -> np.ndarray:
        """libsvm's one-vs-one decision values (n, n_pairs), pairs (0,1), (0,2), ..., (1,2), ...:
        for pair (i, j), the sum over class i's support vectors of K * (coefficient row j - 1), plus
        that over class j's of K * (row i), plus the intercept (libsvm's -rho)."""
        W, (a, b, _, _) = self._block_coef(), self._pairs()
        out = np.empty((len(X), len(a)))
        # Rows in blocks of at most 2M kernel values (16 MB): the same memory reused block after block.
        chunk = max(1, (1 << 21) // max(1, len(self.support_vectors)))
        for lo in range(0, len(X), chunk):
            K = gram(self.kernel, self.gamma, self.transform(X[lo : lo + chunk]), self.support_vectors)
            sums = K @ W
            out[lo : lo + len(sums)] = sums[:, a] + sums[:, b] + self.intercept
        return out

    def _votes(self, dec) -> np.ndarray:
        m = len(self.classes)
        _, _, i, j = self._pairs()
        wins = dec > 0  # a vote for i, else for j
        votes = np.zeros((len(dec), m), dtype=np.int64)
        for c in range(m):
            votes[:, c] = wins[:, i == c].sum(1) + (~wins[:, j == c]).sum(1)
        return votes

    def predict(self, X) -> np.ndarray:
        return self.classes[self._votes(self.decision_values(X)).argmax(1)]  # argmax: the first of a tie

    def decision_function(self, X) -> np.ndarray:
        """sklearn's SVC.decision_function (shape 'ovr': votes plus scaled confidences; binary: (n,))."""
        dec = self.decision_values(X)
        m = len(self.classes)
        if m == 2:
            return -dec[:, 0]
        _, _, i, j = self._pairs()
        sums = np.stack([dec[:, i == c].sum(1) - dec[:, j == c].sum(1) for c in range(m)], 1)
        return self._votes(dec) + sums / (3 * (np.abs(sums) + 1))

    def meta(self) -> dict:
        return {"kernel": self.kernel, "C": self.C, "gamma": self.gamma, "degree": DEGREE, "coef0": COEF0}

    def arrays(self) -> dict:
        out = {name: getattr(self, name) for name in self.ARRAYS if getattr(self, name) is not None}
        sv = out["support_vectors"]
        if np.array_equal(sv.astype(np.float32).astype(np.float64), sv):  # pixels, latents: float32 exactly
            out["support_vectors"] = sv.astype(np.float32)
        return out


class Prep:
    """What comes before the SVC: keep `columns` (None: all), then standardize with (mean, scale) if given."""

    def __init__(self, columns=None, mean=None, scale=None):
        self.columns, self.mean, self.scale = columns, mean, scale

    @classmethod
    def fit(cls, X, columns=None, standardize: bool = False) -> "Prep":
        if not standardize:
            return cls(None if columns is None else np.asarray(columns, dtype=np.int64))
        Xc = np.asarray(X if columns is None else np.asarray(X)[:, columns], dtype=np.float64)
        return cls(None if columns is None else np.asarray(columns, dtype=np.int64), Xc.mean(0), _scale_of(Xc))

    def transform(self, X, dtype=np.float64) -> np.ndarray:
        X = np.asarray(X)
        if self.columns is not None:
            X = X[:, self.columns]
        X = np.array(X, dtype=dtype)
        if self.mean is not None:
            X -= self.mean
            X /= self.scale
        return X


def save(path, models: dict):
    """Write {name: SVMPredictor} as one .npz of plain arrays: `name.field` for each array, and
    `meta.json` (the format, each model's kernel, C and gamma) as UTF-8 bytes."""
    meta = {"format": FORMAT, "models": {name: m.meta() for name, m in models.items()}}
    arrays = {f"{name}.{field}": a for name, m in models.items() for field, a in m.arrays().items()}
    arrays["meta.json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    with open(path, "wb") as f:  # a file object: np.savez would add .npz to a name without it
        np.savez(f, **arrays)


def load(path) -> dict:
    """{name: SVMPredictor} from a file written by `save`; loading runs no code (allow_pickle=False)."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(f["meta.json"].tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file (format {meta.get('format')!r})")
        models = {}
        for name, m in meta["models"].items():
            if (m["degree"], m["coef0"]) != (DEGREE, COEF0):
                raise ValueError(f"{path}: model {name} has kernel constants this version does not compute")
            fields = {field: f[f"{name}.{field}"] for field in SVMPredictor.ARRAYS if f"{name}.{field}" in f.files}
            models[name] = SVMPredictor(kernel=m["kernel"], C=m["C"], gamma=m["gamma"], **fields)
    return models


# --- fitting -------------------------------------------------------------------------------------


def _svc(kernel: str, C: float, gamma: float, precomputed: bool):
    from sklearn.svm import SVC

    if precomputed:
        return SVC(kernel="precomputed", C=C)
    return SVC(kernel=kernel, C=C, gamma=gamma, degree=DEGREE, coef0=COEF0, cache_size=NATIVE_CACHE_MB)


def fit_predictor(
    X, y, *, kernel: str, C: float, gamma: float, columns=None, standardize: bool = False, precomputed=None
) -> SVMPredictor:
    """[keep `columns`] -> [standardize] -> SVC(kernel, C, gamma), fitted on (X, y).

    precomputed: give libsvm the whole kernel matrix (computed with BLAS), or (False) let it compute
    the kernel rows it needs itself. None decides by the shape: the kernel matrix for inputs of
    more than 100 dimensions (raw pixels: BLAS is many times faster than libsvm's per-pair loops),
    libsvm's own kernel otherwise (a 50-dim latent row is cheap, and a large training set's solver
    needs only some rows: measured 0.45 s instead of 4 s for 9,000 latents). Same model either way,
    up to the rounding of the kernel.
    """
    prep = Prep.fit(X, columns, standardize)
    Z = prep.transform(X)
    if precomputed is None:
        precomputed = Z.shape[1] > 100
    svc = _svc(kernel, C, gamma, precomputed).fit(gram(kernel, gamma, Z) if precomputed else Z, y)
    return SVMPredictor.from_svc(svc, Z, kernel=kernel, C=C, gamma=gamma, prep=prep)


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


def cv_splits(y, folds: int, seed: int):
    """Stratified k-fold splits of the labelled originals (shuffled with `seed`), as lists of indices."""
    kfold = globals().get("StratifiedKFold") or _sklearn_kfold()  # a bench may swap in another splitter
    return [(train, held_out) for train, held_out in kfold(folds, shuffle=True, random_state=seed).split(y, y)]


def _sklearn_kfold():
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold


def __getattr__(name):  # `svm.StratifiedKFold` without importing sklearn with this module
    if name == "StratifiedKFold":
        return _sklearn_kfold()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def halving_rounds(n_candidates: int, per_class: int, factor: int, min_per_class: int | None = None):
    """[(candidates kept, fraction of each training fold)] of successive halving, last round on whole folds.

    Each round keeps the best 1/factor of the candidates and trains on factor times more images,
    like sklearn's HalvingGridSearchCV; there are as many rounds as the candidates allow while the
    first round still has `min_per_class` images per class (per_class: a training fold's fewest).
    factor <= 1, or too few images: one round, the full grid.
    """
    min_per_class = HALVING_MIN_PER_CLASS if min_per_class is None else min_per_class
    rounds = 1
    if factor > 1:
        while n_candidates > factor**rounds and per_class / factor**rounds >= min_per_class:
            rounds += 1
    return [(math.ceil(n_candidates / factor**r), float(factor) ** (r - rounds + 1)) for r in range(rounds)]


LAST_SELECT_SECONDS: dict = {}  # the phases of the last `select` (bench/bench_svm.py reports them)


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
    halving: int = 1,
):
    """Choose C and gamma (multiples of gamma='scale') by stratified CV on (X, y); refit the best on all of it.

    `copies` (n, k, d), if given, are label-preserving copies of the rows of X
    (genstudy.augment): they join the training folds of their original, never a
    held-out fold, and the final refit.
    halving > 1: successive halving (`halving_rounds`): every candidate is trained on a stratified
    part of each training fold (the same images, and their copies, for every candidate), the best
    1/halving go on to a part `halving` times larger, and the last round scores the survivors on
    whole folds; halving = 1: every candidate on whole folds (a plain grid search). A part is scored
    on the held-out fold and on the fold's images left out of the part (more scored images: a
    steadier ranking; measured on this study, with the held-out fold alone the picks lost up to
    0.0045 of mean test accuracy at N = 600). The best mean CV accuracy of the last round wins, and
    is the reported one; a tie goes to the candidate first in the grid's order (C, then gamma).
    Returns the refitted SVMPredictor and a dict with the chosen values and their CV accuracy.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    X, y = np.asarray(X), np.asarray(y)
    folds = min(folds, int(np.bincount(y).min()))
    n, k = len(X), 0 if copies is None else copies.shape[1]
    X_all, y_all = stack_copies(X, y, copies)
    copy_rows = n + np.arange(n * k).reshape(n, k)
    base_gamma = gamma_scale(X if columns is None else X[:, columns], standardize)
    factors = [None] if kernel == "linear" else list(gamma_factors)
    candidates = [(float(C), f) for C in Cs for f in factors]
    gamma_of = {f: (1.0 if f is None else f * base_gamma) for f in factors}
    splits = cv_splits(y, folds, seed)
    # Each training fold's originals in a fixed random order per class: a round's part is a prefix.
    orders = []
    for fold, (train, _) in enumerate(splits):
        rng = np.random.default_rng([seed, fold])
        orders.append([rng.permutation(train[y[train] == c]) for c in np.unique(y)])
    per_class = min(len(o) for fold in orders for o in fold)
    rounds = halving_rounds(len(candidates), per_class, halving)

    # Without a scaler the SVC's inputs do not depend on the fold: one kernel base (squared distances,
    # or dot products) for all rows serves every fold, round and candidate.
    clock = [("start", time.perf_counter())]
    shared = None if standardize else _base(kernel, Prep.fit(X_all, columns).transform(X_all))
    clock.append(("kernel base", time.perf_counter()))

    def rows_for(fold: int, fraction: float):
        """(training rows, scored rows) of a fold's part: the part's originals and their copies; the
        held-out originals and the fold's originals left out of the part (trained on by no fit here)."""
        cut = [max(1, math.ceil(fraction * len(o))) for o in orders[fold]]
        kept = np.sort(np.concatenate([o[:c] for o, c in zip(orders[fold], cut)]))
        scored = np.sort(np.concatenate([splits[fold][1]] + [o[c:] for o, c in zip(orders[fold], cut)]))
        return np.concatenate([kept, copy_rows[kept].ravel()]), scored

    def fold_base(part: dict):
        """A fold's part of the shared base (training x training, scored x training), gathered by the
        first of its gammas' tasks and shared with the others; dropped once the last has taken it."""
        with part["lock"]:
            if part["base"] is None:
                train, scored = part["rows"]
                part["base"] = (shared[np.ix_(train, train)], shared[np.ix_(scored, train)])
            base, part["takers"] = part["base"], part["takers"] - 1
            if not part["takers"]:
                part["base"] = None
        return base

    def score_fold(part: dict, factor, Cs_here):
        train, scored = part["rows"]
        g = gamma_of[factor]
        if shared is not None:
            D_train, D_scored = fold_base(part)
            K_train, K_scored = kernel_of(kernel, g, D_train), kernel_of(kernel, g, D_scored)
        else:
            prep = Prep.fit(X_all[train], columns, True)
            Z_train, Z_scored = prep.transform(X_all[train]), prep.transform(X_all[scored])
            K_train, K_scored = gram(kernel, g, Z_train), gram(kernel, g, Z_scored, Z_train)
        scores = []
        for C in Cs_here:
            svc = _svc(kernel, C, g, precomputed=True).fit(K_train, y_all[train])
            scores.append(float((svc.predict(K_scored) == y_all[scored]).mean()))
        return scores

    alive = list(range(len(candidates)))
    history, fits = [], 0
    # Threads: libsvm and NumPy release the GIL, and the threads share the kernel base. Each fit is
    # deterministic, and the scores are gathered in a fixed order: the same result on any core count.
    with parallel(n_jobs) as pool:
        for keep, fraction in rounds:
            alive = alive[:keep] if len(alive) > keep else alive
            by_factor = {}
            for c in alive:
                by_factor.setdefault(candidates[c][1], []).append(c)
            jobs = {}
            for fold in range(folds):  # fold by fold: a fold's gammas run close together, sharing its base
                part = {
                    "rows": rows_for(fold, fraction),
                    "lock": threading.Lock(),
                    "base": None,
                    "takers": len(by_factor),
                }
                for f, members in by_factor.items():
                    jobs[(fold, f)] = pool.submit(score_fold, part, f, [candidates[c][0] for c in members])
            mean = {}
            for f, members in by_factor.items():
                per_fold = np.array([jobs[(fold, f)].result() for fold in range(folds)])  # (folds, len(members))
                mean.update({c: float(s) for c, s in zip(members, per_fold.mean(0))})
            fits += folds * len(alive)
            alive = sorted(alive, key=lambda c: (-mean[c], c))
            history.append({"candidates": len(mean), "fraction": round(fraction, 4)})
            clock.append((f"round {len(history)}", time.perf_counter()))
            best = alive[0]
            best_score = mean[best]
    C, factor = candidates[best]
    prep = Prep.fit(X_all, columns, standardize)
    Z = prep.transform(X_all)
    base = shared if shared is not None else _base(kernel, Z)
    svc = _svc(kernel, C, gamma_of[factor], precomputed=True).fit(kernel_of(kernel, gamma_of[factor], base), y_all)
    model = SVMPredictor.from_svc(svc, Z, kernel=kernel, C=C, gamma=gamma_of[factor], prep=prep)
    clock.append(("refit", time.perf_counter()))
    LAST_SELECT_SECONDS.clear()
    LAST_SELECT_SECONDS.update({name: t - clock[i][1] for i, (name, t) in enumerate(clock[1:])})
    chosen = {"C": C, "cv_accuracy": best_score, "cv_folds": folds, "cv_fits": fits, "cv_rounds": history}
    if factor is not None:
        chosen.update(gamma=float(gamma_of[factor]), gamma_factor=float(factor))
    return model, chosen


def _base(kernel: str, Z) -> np.ndarray:
    return squared_distances(Z) if kernel == "rbf" else Z @ Z.T


# --- transduction --------------------------------------------------------------------------------


class Neighbours:
    """The k nearest neighbours of every point of [labelled; unlabelled], found once, for any subset
    of the labelled points (a CV training fold) with all the unlabelled ones.

    `graph(rows)` is the connectivity graph that sklearn's LabelSpreading(kernel="knn") builds over
    [Z_labelled[rows]; Z_unlabelled]: each point's k nearest among those points (itself first),
    in order of distance. It is read from a search for k + extra neighbours among all points,
    leaving out the other labelled points; a point with fewer than k left is searched again
    among the subset alone.
    """

    def __init__(self, Z_labelled, Z_unlabelled, n_neighbors: int, extra: int | None = None):
        from sklearn.neighbors import NearestNeighbors

        self.Z = np.concatenate([Z_labelled, Z_unlabelled])
        self.n_labelled, self.k = len(Z_labelled), n_neighbors
        wide = min(len(self.Z), n_neighbors + (n_neighbors if extra is None else extra))
        self.index = NearestNeighbors(n_neighbors=wide).fit(self.Z).kneighbors(self.Z, return_distance=False)

    def graph(self, rows=None):
        from scipy import sparse
        from sklearn.neighbors import NearestNeighbors

        n_lab, k = self.n_labelled, self.k
        rows = np.arange(n_lab) if rows is None else np.asarray(rows)
        nodes = np.concatenate([rows, np.arange(n_lab, len(self.Z))])  # the subset's points, in its order
        local = np.full(len(self.Z), -1)
        local[nodes] = np.arange(len(nodes))
        found = local[self.index[nodes]]  # neighbours as positions in the subset; -1: left out
        kept = found >= 0
        enough = kept.sum(1) >= k
        order = np.argsort(~kept, axis=1, kind="stable")[:, :k]  # the first k kept, in distance order
        ind = np.take_along_axis(found, order, 1)
        if not enough.all():
            short = np.flatnonzero(~enough)
            ind[short] = (
                NearestNeighbors(n_neighbors=k)
                .fit(self.Z[nodes])
                .kneighbors(self.Z[nodes[short]], return_distance=False)
            )
        n = len(nodes)
        return sparse.csr_matrix((np.ones(n * k), ind.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))


def spread_labels(Z, y, n_unlabelled: int, *, n_neighbors: int, alpha: float, graph=None):
    """LabelSpreading over Z = [labelled; unlabelled] (its kNN graph, or `graph` if given):
    the spread labels of the unlabelled points and how certain each is."""
    from sklearn.semi_supervised import LabelSpreading

    kernel = "knn" if graph is None else (lambda a, b: graph)
    targets = np.concatenate([y, -np.ones(n_unlabelled, dtype=int)])
    spread = LabelSpreading(kernel=kernel, n_neighbors=n_neighbors, alpha=alpha, max_iter=100).fit(Z, targets)
    return spread.transduction_[len(y) :], spread.label_distributions_[len(y) :].max(1)


def most_certain(pseudo, certainty, classes, keep: float) -> np.ndarray:
    """Sorted indices of the `keep` fraction of each class's spread labels, most certain first."""
    chosen = []
    for c in classes:
        members = np.flatnonzero(pseudo == c)
        ranked = members[np.argsort(-certainty[members], kind="stable")]
        chosen.append(ranked[: int(round(keep * len(members)))])
    return np.sort(np.concatenate(chosen))


def _space(model: SVMPredictor, X_fit):
    """The space the graph is built in: the model's columns, and the scaler refitted on X_fit if it had one."""
    return Prep.fit(X_fit, model.columns, model.mean is not None)


def transduce(
    model: SVMPredictor,
    X,
    y,
    X_unlabelled,
    *,
    n_neighbors: int,
    alpha: float,
    keep: float,
    copies=None,
    neighbours: Neighbours | None = None,
    rows=None,
    prep: Prep | None = None,
):
    """A transductive stand-in for the paper's TSVM: the SVM also learns from unlabelled points.

    Labels are spread over a k-nearest-neighbour graph of the labelled and
    unlabelled points (Zhou et al. 2004, sklearn's LabelSpreading), in the
    feature space the SVM sees; then an SVC with `model`'s hyperparameters
    is refitted on the labelled points plus, per class, the
    `keep` fraction of unlabelled points whose spread label is most certain
    (and the labelled points' `copies`, as in `select`, if given).
    neighbours, rows: the graph from a shared search (`Neighbours`) for these labelled rows.
    prep: the feature space (default: `model`'s).
    Returns the refitted SVMPredictor and the number of pseudo-labelled points used.
    """
    prep = prep or model.prep
    X_fit, y_fit = stack_copies(X, y, copies)
    graph = None if neighbours is None else neighbours.graph(rows)
    Z = prep.transform(np.concatenate([X, X_unlabelled]), dtype=np.asarray(X).dtype)
    pseudo, certainty = spread_labels(Z, y, len(X_unlabelled), n_neighbors=n_neighbors, alpha=alpha, graph=graph)
    chosen = most_certain(pseudo, certainty, np.unique(y), keep)
    refit = fit_predictor(
        np.concatenate([X_fit, X_unlabelled[chosen]]),
        np.concatenate([y_fit, pseudo[chosen]]),
        kernel=model.kernel,
        C=model.C,
        gamma=model.gamma,
        columns=model.columns,
        standardize=model.mean is not None,
    )
    return refit, len(chosen)


def transductive_cv_accuracy(
    model: SVMPredictor,
    X,
    y,
    X_unlabelled,
    *,
    folds: int,
    seed: int,
    copies=None,
    neighbours: Neighbours | None = None,
    n_jobs: int = 1,
    refits: int | None = None,
    **kwargs,
) -> float:
    """CV accuracy of `transduce` on the labelled set (the folds of `select`): the test-free check
    that transduction helps. refits: score only the first this many folds (each is a refit on the
    fold's labelled points plus thousands of pseudo-labelled ones, the costliest step); None: all.
    Each training fold's graph is read from `neighbours` (a search over all the labelled points and
    X_unlabelled in the model's space) when the space does not depend on the fold (no scaler); the
    refits run in parallel threads."""
    folds = min(folds, int(np.bincount(y).min()))
    if neighbours is None and model.mean is None:
        Z = model.prep.transform(np.concatenate([X, X_unlabelled]), dtype=np.asarray(X).dtype)
        neighbours = Neighbours(Z[: len(X)], Z[len(X) :], kwargs["n_neighbors"])

    def one(train, held_out):
        fold_copies = None if copies is None else copies[train]
        shared = neighbours if model.mean is None else None
        prep = _space(model, stack_copies(X[train], y[train], fold_copies)[0])
        refit, _ = transduce(
            model,
            X[train],
            y[train],
            X_unlabelled,
            copies=fold_copies,
            neighbours=shared,
            rows=train,
            prep=prep,
            **kwargs,
        )
        return float((refit.predict(X[held_out]) == y[held_out]).mean())

    # In parallel threads only with a shared search: a fold's own search (ArgKmin's OpenMP threads
    # calling BLAS) must not run beside another thread's changes to the BLAS thread limit.
    with parallel(n_jobs if neighbours is not None else 1) as pool:
        scores = list(pool.map(lambda s: one(*s), cv_splits(y, folds, seed)[:refits]))
    return float(np.mean(scores))


def evaluate(model, X, y) -> dict:
    predicted = model.predict(X)
    accuracy = float((predicted == y).mean())
    per_class = {int(c): float((predicted[y == c] == c).mean()) for c in np.unique(y)}
    return {"accuracy": accuracy, "error": 1.0 - accuracy, "per_class_accuracy": per_class}
