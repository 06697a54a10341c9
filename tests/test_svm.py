"""SVM model selection never sees the test set; self-training keeps classes balanced."""

import numpy as np
import pytest

from genstudy import svm


def blobs(n_per_class=20, classes=3, dim=5, seed=0):
    centers = np.random.default_rng(100).normal(0, 3, size=(classes, dim))  # shared by every draw
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    return centers[y] + rng.normal(size=(len(y), dim)), y


def test_selection_by_cv_and_evaluation():
    X, y = blobs()
    X_test, y_test = blobs(seed=1)
    model, chosen = svm.select(
        X, y, kernel="rbf", Cs=[0.1, 1, 10], gamma_factors=[0.5, 1, 2], standardize=True, folds=5, seed=0
    )
    assert chosen["C"] in (0.1, 1, 10) and chosen["gamma_factor"] in (0.5, 1, 2)
    assert 0 <= chosen["cv_accuracy"] <= 1
    result = svm.evaluate(model, X_test, y_test)
    assert result["accuracy"] > 0.9 and abs(result["error"] + result["accuracy"] - 1) < 1e-12


def test_selection_is_deterministic_and_columns_are_kept_in_the_model():
    X, y = blobs(dim=6)
    a, ca = svm.select(
        X, y, kernel="rbf", Cs=[1, 10], gamma_factors=[1], standardize=True, folds=3, seed=0, columns=[0, 2, 4]
    )
    b, cb = svm.select(
        X, y, kernel="rbf", Cs=[1, 10], gamma_factors=[1], standardize=True, folds=3, seed=0, columns=[0, 2, 4]
    )
    assert ca == cb
    assert np.array_equal(a.decision_function(X), b.decision_function(X))
    assert a.predict(X).shape == (len(X),)  # takes all columns, uses three


def test_unknown_kernel_is_refused():
    X, y = blobs()
    with pytest.raises(ValueError, match="unknown kernel 'cubic'"):
        svm.select(X, y, kernel="cubic", Cs=[1], gamma_factors=[1], standardize=False, folds=3, seed=0)


def test_kernel_svc_matches_sklearns_svc():
    from sklearn.svm import SVC

    X, y = blobs(dim=4)
    ours = svm.KernelSVC("rbf", C=3.0, gamma=0.2).fit(X, y)
    theirs = SVC(kernel="rbf", C=3.0, gamma=0.2).fit(X, y)
    X_new, _ = blobs(seed=5, dim=4)
    assert np.allclose(ours.decision_function(X_new), theirs.decision_function(X_new), atol=1e-6)


def test_cached_rbf_gram_is_bit_for_bit_sklearns_and_reused():
    from sklearn.metrics.pairwise import rbf_kernel

    X, _ = blobs(dim=6)
    X_new, _ = blobs(seed=5, dim=6)
    model = svm.KernelSVC("rbf", gamma=0.37)
    svm._DISTANCES.clear()
    for A, B in [(X, X), (X_new, X), (X_new.copy(), X.copy())]:  # the copies: same content, new arrays
        assert np.array_equal(model._gram(A, B), rbf_kernel(A, B, gamma=0.37))
    assert len(svm._DISTANCES) == 2  # the third pair was a cache hit
    assert np.array_equal(model._gram(X, X + 1e-9), rbf_kernel(X, X + 1e-9, gamma=0.37))
    assert len(svm._DISTANCES) == 3  # different content, new entry


def test_transduction_uses_unlabelled_points_and_keeps_classes_balanced():
    X, y = blobs(n_per_class=3)
    X_pool, y_pool = blobs(n_per_class=60, seed=2)
    model, _ = svm.select(X, y, kernel="rbf", Cs=[1], gamma_factors=[1], standardize=True, folds=3, seed=0)
    refit, used = svm.transduce(model, X, y, X_pool, n_neighbors=5, alpha=0.2, keep=0.5)
    assert used == 90  # half of the 60 spread to each of the three classes
    assert len(refit[-1].X_fit_) == len(X) + used
    assert svm.evaluate(refit, X_pool, y_pool)["accuracy"] > 0.9
    cv = svm.transductive_cv_accuracy(model, X, y, X_pool, folds=3, seed=0, n_neighbors=5, alpha=0.2, keep=0.5)
    assert 0.5 < cv <= 1.0


def test_copies_join_only_the_training_folds_of_their_original():
    n, k = 12, 3
    splits = [(np.arange(0, 8), np.arange(8, 12)), (np.arange(4, 12), np.arange(0, 4))]
    for (train, held_out), (train_c, held_out_c) in zip(splits, svm.folds_with_copies(splits, n, k)):
        assert np.array_equal(held_out_c, held_out)  # held-out images are scored as they are
        copies_used = train_c[train_c >= n]
        assert set((copies_used - n) // k) == set(train)  # every copy of a training image, no other
        assert len(copies_used) == k * len(train)
    X, y = np.arange(n * 2.0).reshape(n, 2), np.arange(n) % 3
    copies = X[:, None, :] + np.arange(1, k + 1)[None, :, None] * 100  # copy j of row i: X[i] + 100 (j + 1)
    X_all, y_all = svm.stack_copies(X, y, copies)
    assert np.array_equal(X_all[n + 2 * k + 1], X[2] + 200) and y_all[n + 2 * k + 1] == y[2]


def test_selection_with_copies_is_scored_on_originals_and_refits_on_all():
    X, y = blobs(n_per_class=10)
    copies = X[:, None, :] + np.random.default_rng(3).normal(0, 0.1, size=(len(X), 2, X.shape[1]))
    model, chosen = svm.select(
        X, y, kernel="rbf", Cs=[1, 10], gamma_factors=[1], standardize=False, folds=5, seed=0, copies=copies
    )
    assert len(model[-1].X_fit_) == 3 * len(X)
    refit, used = svm.transduce(
        model, X, y, blobs(n_per_class=20, seed=2)[0], n_neighbors=5, alpha=0.2, keep=0.5, copies=copies
    )
    assert len(refit[-1].X_fit_) == 3 * len(X) + used
    cv = svm.transductive_cv_accuracy(
        model,
        X,
        y,
        blobs(n_per_class=20, seed=2)[0],
        folds=3,
        seed=0,
        copies=copies,
        n_neighbors=5,
        alpha=0.2,
        keep=0.5,
    )
    assert 0.8 < cv <= 1
