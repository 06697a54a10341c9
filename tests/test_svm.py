"""SVM model selection never sees the test set; the saved model is arrays that predict exactly as the fitted one;
self-training keeps classes balanced."""

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


@pytest.mark.parametrize("classes", [2, 3, 10])
@pytest.mark.parametrize("kernel", svm.KERNELS)
def test_the_predictor_from_arrays_predicts_as_sklearns_svc(classes, kernel):
    from sklearn.svm import SVC

    rng = np.random.default_rng(classes)
    X, y, X_new = rng.normal(size=(200, 4)), rng.integers(0, classes, 200), rng.normal(size=(300, 4))
    theirs = SVC(kernel=kernel, C=3.0, gamma=0.2, degree=svm.DEGREE, coef0=svm.COEF0).fit(X, y)
    native = svm.fit_predictor(X, y, kernel=kernel, C=3.0, gamma=0.2, precomputed=False)
    assert np.array_equal(native.predict(X_new), theirs.predict(X_new))
    assert np.allclose(native.decision_function(X_new), theirs.decision_function(X_new), atol=1e-9)
    # From a precomputed kernel: the support vectors are rows of X; libsvm is given the same kernel.
    ours = svm.fit_predictor(X, y, kernel=kernel, C=3.0, gamma=0.2, precomputed=True)
    pre = SVC(kernel="precomputed", C=3.0).fit(svm.gram(kernel, 0.2, X), y)
    assert np.array_equal(ours.predict(X_new), pre.predict(svm.gram(kernel, 0.2, X_new, X)))
    assert np.allclose(ours.decision_function(X_new), pre.decision_function(svm.gram(kernel, 0.2, X_new, X)), atol=1e-9)


def test_rbf_gram_is_bit_for_bit_sklearns():
    from sklearn.metrics.pairwise import rbf_kernel

    X, _ = blobs(dim=6)
    X_new, _ = blobs(seed=5, dim=6)
    assert np.array_equal(svm.gram("rbf", 0.37, X), rbf_kernel(X, gamma=0.37))
    assert np.array_equal(svm.gram("rbf", 0.37, X_new, X), rbf_kernel(X_new, X, gamma=0.37))


def test_a_saved_model_loads_without_pickle_and_predicts_exactly_the_same(tmp_path):
    X, y = blobs(dim=6)
    X_new, _ = blobs(seed=4, dim=6)
    model, _ = svm.select(
        X, y, kernel="rbf", Cs=[1, 10], gamma_factors=[1], standardize=True, folds=3, seed=0, columns=[0, 2, 5]
    )
    pixels_like = svm.fit_predictor(np.round(X * 8) / 8, y, kernel="linear", C=1.0, gamma=1.0)
    path = tmp_path / "model.npz"
    svm.save(path, {"a": model, "b": pixels_like})
    with np.load(path, allow_pickle=False) as f:  # every member is a plain array
        assert all(f[name].dtype != object for name in f.files)
        assert f["b.support_vectors"].dtype == np.float32  # float32 values: stored as such, exactly
    loaded = svm.load(path)
    assert set(loaded) == {"a", "b"}
    for name, original in (("a", model), ("b", pixels_like)):
        assert np.array_equal(loaded[name].predict(X_new), original.predict(X_new))
        assert np.array_equal(loaded[name].decision_function(X_new), original.decision_function(X_new))
    assert loaded["a"].C == model.C and loaded["a"].gamma == model.gamma
    assert np.array_equal(loaded["a"].columns, [0, 2, 5]) and loaded["a"].mean is not None


def test_inconsistent_arrays_are_refused():
    X, y = blobs(dim=3)
    model = svm.fit_predictor(X, y, kernel="rbf", C=1.0, gamma=0.5)
    arrays = model.arrays()
    arrays["dual_coef"] = arrays["dual_coef"][:, :-1]
    with pytest.raises(ValueError, match="inconsistent SVM arrays"):
        svm.SVMPredictor(kernel="rbf", C=1.0, gamma=0.5, **arrays)


def test_a_file_of_another_format_is_refused(tmp_path):
    import json

    path = tmp_path / "other.npz"
    np.savez(path, **{"meta.json": np.frombuffer(json.dumps({"format": "x/9"}).encode(), dtype=np.uint8)})
    with pytest.raises(ValueError, match="not a genstudy.svm/1 file"):
        svm.load(path)


def test_a_full_grid_chooses_as_sklearns_grid_search():
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    X, y = blobs(n_per_class=12, dim=4, seed=3)
    X = X + np.random.default_rng(7).normal(0, 2.5, X.shape)  # overlapping classes: the grid matters
    Cs, factors = [0.3, 1, 10], [0.3, 1, 3]
    model, chosen = svm.select(X, y, kernel="rbf", Cs=Cs, gamma_factors=factors, standardize=False, folds=4, seed=1)
    base = svm.gamma_scale(X, False)
    search = GridSearchCV(
        SVC(kernel="rbf"),
        {"C": Cs, "gamma": [f * base for f in factors]},
        cv=StratifiedKFold(4, shuffle=True, random_state=1),
    ).fit(X, y)
    assert (chosen["C"], chosen["gamma"]) == (search.best_params_["C"], search.best_params_["gamma"])
    assert chosen["cv_accuracy"] == pytest.approx(search.best_score_, abs=1e-12)
    assert chosen["cv_fits"] == 9 * 4 and chosen["cv_rounds"] == [{"candidates": 9, "fraction": 1.0}]
    assert np.array_equal(model.predict(X), search.best_estimator_.predict(X))


def test_halving_rounds():
    # 20 candidates, 80 images per class in a training fold: 20 on a ninth, the best 7 on a third, 3 on all.
    assert svm.halving_rounds(20, 80, 3, min_per_class=8) == [(20, 1 / 9), (7, 1 / 3), (3, 1.0)]
    assert svm.halving_rounds(20, 48, 3, min_per_class=8) == [(20, 1 / 3), (7, 1.0)]  # a ninth: too few per class
    assert svm.halving_rounds(20, 8, 3, min_per_class=8) == [(20, 1.0)]
    assert svm.halving_rounds(20, 80, 1) == [(20, 1.0)]  # halving off: the full grid
    assert svm.halving_rounds(3, 800, 3, min_per_class=8) == [(3, 1.0)]  # nothing to halve


def test_halving_scores_fewer_fits_and_its_winner_on_whole_folds():
    X, y = blobs(n_per_class=60, dim=4, seed=2)  # 45 per class in a training fold: two rounds
    X = X + np.random.default_rng(8).normal(0, 2.0, X.shape)
    kwargs = dict(kernel="rbf", Cs=[0.3, 1, 3, 10, 30], gamma_factors=[0.3, 1, 3], standardize=False, folds=4, seed=0)
    full, all_scores = svm.select(X, y, **kwargs)
    halved, chosen = svm.select(X, y, **kwargs, halving=3, n_jobs=2)
    again, chosen_again = svm.select(X, y, **kwargs, halving=3, n_jobs=1)  # the same on any thread count
    assert chosen == chosen_again and np.array_equal(halved.decision_values(X), again.decision_values(X))
    assert [r["candidates"] for r in chosen["cv_rounds"]] == [15, 5]
    assert chosen["cv_fits"] == 4 * (15 + 5) and chosen["cv_rounds"][-1]["fraction"] == 1.0
    # The winner's CV accuracy is its whole-fold one, as a full grid scores it.
    refit, scored = svm.select(X, y, **{**kwargs, "Cs": [chosen["C"]], "gamma_factors": [chosen["gamma_factor"]]})
    assert chosen["cv_accuracy"] == scored["cv_accuracy"] and chosen["cv_accuracy"] <= all_scores["cv_accuracy"]


def test_transduction_uses_unlabelled_points_and_keeps_classes_balanced():
    X, y = blobs(n_per_class=3)
    X_pool, y_pool = blobs(n_per_class=60, seed=2)
    model, _ = svm.select(X, y, kernel="rbf", Cs=[1], gamma_factors=[1], standardize=True, folds=3, seed=0)
    refit, used = svm.transduce(model, X, y, X_pool, n_neighbors=5, alpha=0.2, keep=0.5)
    assert used == 90  # half of the 60 spread to each of the three classes
    assert (refit.C, refit.gamma) == (model.C, model.gamma)
    assert svm.evaluate(refit, X_pool, y_pool)["accuracy"] > 0.9
    cv = svm.transductive_cv_accuracy(model, X, y, X_pool, folds=3, seed=0, n_neighbors=5, alpha=0.2, keep=0.5)
    assert 0.5 < cv <= 1.0


def test_one_neighbour_search_gives_each_folds_graph_as_label_spreading_builds_it():
    from sklearn.neighbors import NearestNeighbors

    X, y = blobs(n_per_class=10, dim=3)
    X_pool, _ = blobs(n_per_class=30, dim=3, seed=2)
    shared = svm.Neighbours(X, X_pool, n_neighbors=6, extra=2)  # few extra: some rows are searched again
    for train, _ in svm.cv_splits(y, 3, seed=0):
        Z = np.concatenate([X[train], X_pool])
        expected = NearestNeighbors(n_neighbors=6).fit(Z).kneighbors_graph(Z, 6, mode="connectivity")
        assert (shared.graph(train) != expected).nnz == 0
    # The transductive refit is the same with the shared search as with LabelSpreading's own.
    model, _ = svm.select(X, y, kernel="rbf", Cs=[1], gamma_factors=[1], standardize=False, folds=3, seed=0)
    t = dict(n_neighbors=6, alpha=0.2, keep=0.5)
    a, used_a = svm.transduce(model, X, y, X_pool, **t)
    b, used_b = svm.transduce(model, X, y, X_pool, neighbours=svm.Neighbours(X, X_pool, 6), **t)
    assert used_a == used_b and np.array_equal(a.decision_values(X_pool), b.decision_values(X_pool))


def test_the_transductive_cv_check_scores_the_first_refits_folds():
    X, y = blobs(n_per_class=6)
    X_pool, _ = blobs(n_per_class=30, seed=2)
    model, _ = svm.select(X, y, kernel="rbf", Cs=[1], gamma_factors=[1], standardize=False, folds=3, seed=0)
    t = dict(folds=3, seed=0, n_neighbors=5, alpha=0.2, keep=0.5)
    scores = []
    for train, held_out in svm.cv_splits(y, 3, 0):
        refit, _ = svm.transduce(model, X[train], y[train], X_pool, n_neighbors=5, alpha=0.2, keep=0.5)
        scores.append(float((refit.predict(X[held_out]) == y[held_out]).mean()))
    assert svm.transductive_cv_accuracy(model, X, y, X_pool, **t) == pytest.approx(np.mean(scores), abs=1e-12)
    assert svm.transductive_cv_accuracy(model, X, y, X_pool, refits=2, **t) == pytest.approx(
        np.mean(scores[:2]), abs=1e-12
    )


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
    # The refit is the chosen SVC on the originals and all their copies.
    X_all, y_all = svm.stack_copies(X, y, copies)
    alone = svm.fit_predictor(X_all, y_all, kernel="rbf", C=chosen["C"], gamma=chosen["gamma"], precomputed=True)
    assert np.array_equal(model.decision_values(X), alone.decision_values(X))
    pool = blobs(n_per_class=20, seed=2)[0]
    refit, used = svm.transduce(model, X, y, pool, n_neighbors=5, alpha=0.2, keep=0.5, copies=copies)
    cv = svm.transductive_cv_accuracy(
        model, X, y, pool, folds=3, seed=0, copies=copies, n_neighbors=5, alpha=0.2, keep=0.5
    )
    assert 0 < used <= len(pool) and 0.8 < cv <= 1


def test_the_fit_threads_follow_omp_num_threads_the_one_share_setting(monkeypatch):
    import os

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what `make queue JOBS=2` gives each worker on 2 cores
    assert svm.cpu_share() == 1 and svm._workers(-1) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert svm._workers(-1) == 3 and svm._workers(2) == 2, "an explicit count wins"
    for unset in ("", "0", "two"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert svm.cpu_share() == len(os.sched_getaffinity(0)), "else: the CPUs this process may run on"
