"""The M1 design comparison (bench/compare_m1.py) chooses defaults on training images only."""

import importlib.util
from pathlib import Path

import numpy as np

from genstudy import data

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("compare_m1", ROOT / "bench" / "compare_m1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_split_is_outside_every_labelled_subset_and_fixed():
    bench = load_bench()
    labels = np.repeat(np.arange(10), 300)                        # a training set: 300 images per class
    counts, seeds = [10, 50, 100], [0, 1, 2]
    val = bench.validation_split(labels, counts, seeds, size=500)
    assert len(val) == len(np.unique(val)) == 500 and val.max() < len(labels)
    for n in counts:
        for seed in seeds:
            assert not set(val) & set(data.balanced_subset(labels, n, seed))
    assert np.array_equal(val, bench.validation_split(labels, counts, seeds, size=500))


def test_feature_maps_keep_active_dimensions_and_rescale_by_posterior_width():
    bench = load_bench()
    rng = np.random.default_rng(0)
    mu = np.c_[rng.normal(0, 1, 200), rng.normal(0, 0.01, 200), rng.normal(0, 2, 200)]   # dim 1 inactive
    sigma = np.tile([0.5, 1.0, 0.1], (200, 1))
    transform, plain = bench.feature_map("mu:shift", mu, sigma)
    assert np.array_equal(plain, mu[:, [0, 2]]) and np.array_equal(transform(mu), plain)
    _, snr = bench.feature_map("mu_snr", mu, sigma)
    assert np.allclose(snr, mu[:, [0, 2]] / [0.5, 0.1])
