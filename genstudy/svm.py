"""SVM model selection on a small labelled set, and self-training with unlabelled data.

Hyperparameters are chosen by stratified k-fold cross-validation on the labelled
images only; the test set is touched once, by `evaluate`, after selection.
"""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

KERNELS = ("rbf", "linear", "poly", "sigmoid")


def gamma_scale(X, standardize: bool) -> float:
    """sklearn's gamma='scale', 1 / (n_features * Var(X)), of the features the SVC sees."""
    Z = StandardScaler().fit_transform(X) if standardize else X
    return 1.0 / (X.shape[1] * max(float(Z.var()), 1e-12))


def build(kernel: str, standardize: bool, C: float = 1.0, gamma: float | str = "scale", seed: int = 0,
          columns=None):
    """[keep `columns`] -> [standardize] -> SVC, as one pipeline that is saved whole."""
    steps = [ColumnTransformer([("keep", "passthrough", list(columns))])] if columns is not None else []
    steps += [StandardScaler()] if standardize else []
    return make_pipeline(*steps, SVC(kernel=kernel, C=C, gamma=gamma, random_state=seed))


def select(X, y, *, kernel: str, Cs, gamma_factors, standardize: bool, folds: int, seed: int,
           columns=None, n_jobs: int = 1):
    """Grid search over C and gamma (multiples of gamma='scale') by stratified CV on (X, y).

    Returns the refitted best pipeline and a dict with the chosen values and CV accuracy.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    folds = min(folds, int(np.bincount(y).min()))
    base = gamma_scale(X if columns is None else X[:, columns], standardize)
    grid = {"svc__C": list(Cs)}
    if kernel != "linear":
        grid["svc__gamma"] = [f * base for f in gamma_factors]
    search = GridSearchCV(build(kernel, standardize, seed=seed, columns=columns), grid, n_jobs=n_jobs,
                          cv=StratifiedKFold(folds, shuffle=True, random_state=seed), scoring="accuracy")
    search.fit(X, y)
    chosen = {"C": search.best_params_["svc__C"], "cv_accuracy": float(search.best_score_),
              "cv_folds": folds}
    if "svc__gamma" in search.best_params_:
        g = search.best_params_["svc__gamma"]
        chosen.update(gamma=float(g), gamma_factor=float(g / base))
    return search.best_estimator_, chosen


def self_train(model, X, y, X_unlabelled, *, rounds: int, per_class: int):
    """Self-training around a fitted classifier (a transductive stand-in for the paper's TSVM).

    Each round predicts the unlabelled pool, takes for every class the `per_class`
    pool points predicted as that class with the largest margin between the best
    and second-best one-vs-rest decision values, adds them with their predicted
    labels, and refits a clone with the same hyperparameters. Class balance is
    kept, so one dominant class cannot swallow the pool.
    """
    from sklearn.base import clone

    X_train, y_train = X, y
    pool = np.arange(len(X_unlabelled))
    added = []
    for _ in range(rounds):
        if len(pool) == 0:
            break
        scores = model.decision_function(X_unlabelled[pool])
        top2 = np.sort(scores, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        predicted = model.classes_[scores.argmax(1)]
        take = []
        for c in model.classes_:
            members = np.flatnonzero(predicted == c)
            take.append(members[np.argsort(-margin[members], kind="stable")[:per_class]])
        take = np.concatenate(take)
        X_train = np.concatenate([X_train, X_unlabelled[pool[take]]])
        y_train = np.concatenate([y_train, predicted[take]])
        added.append(len(take))
        pool = np.delete(pool, take)
        model = clone(model).fit(X_train, y_train)
    return model, added


def evaluate(model, X, y) -> dict:
    predicted = model.predict(X)
    accuracy = float((predicted == y).mean())
    per_class = {int(c): float((predicted[y == c] == c).mean()) for c in np.unique(y)}
    return {"accuracy": accuracy, "error": 1.0 - accuracy, "per_class_accuracy": per_class}
