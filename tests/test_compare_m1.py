"""The M1 design comparison (bench/compare_m1.py) chooses defaults on training images only."""

import importlib.util

import numpy as np

from genstudy import data
from tests.helpers.project import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("compare_m1", ROOT / "bench" / "compare_m1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_split_is_outside_every_labelled_subset_and_fixed():
    bench = load_bench()
    labels = np.repeat(np.arange(10), 300)  # a training set: 300 images per class
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
    mu = np.c_[rng.normal(0, 1, 200), rng.normal(0, 0.01, 200), rng.normal(0, 2, 200)]  # dim 1 inactive
    sigma = np.tile([0.5, 1.0, 0.1], (200, 1))
    transform, plain = bench.feature_map("mu:shift", mu, sigma)
    assert np.array_equal(plain, mu[:, [0, 2]]) and np.array_equal(transform(mu), plain)
    _, snr = bench.feature_map("mu_snr", mu, sigma)
    assert np.allclose(snr, mu[:, [0, 2]] / [0.5, 0.1])


def test_randomly_shifted_training_images_move_by_at_most_one_pixel():
    import torch

    spec = importlib.util.spec_from_file_location("m1_ideas", ROOT / "bench" / "m1_ideas.py")
    ideas = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ideas)
    images = torch.zeros(400, 28, 28)
    images[:, 10:18, 12:16] = torch.rand(400, 8, 4) + 0.5  # an item away from the border
    shifted = ideas.RandomlyShifted(images.reshape(400, 784), seed=0)
    batch = shifted[torch.arange(400)].reshape(400, 28, 28)
    allowed = [(0, 0), *ideas.MOVES]
    moves = [next(m for m in allowed if torch.equal(torch.roll(images[i], m, (0, 1)), batch[i])) for i in range(400)]
    counts = {m: moves.count(m) for m in allowed}
    assert all(c > 40 for c in counts.values())  # every move (and none) drawn
    again = shifted[torch.arange(400)].reshape(400, 28, 28)
    assert not torch.equal(again, batch)  # drawn anew on every read
