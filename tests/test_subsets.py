"""Balanced label subsets: balance, nesting, determinism, and refusal of bad N."""

import numpy as np
import pytest

from genstudy.data import balanced_subset

LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(10), 400))


@pytest.mark.parametrize("n", [10, 100, 600, 1000, 3000])
def test_exactly_n_over_10_per_class(n):
    idx = balanced_subset(LABELS, n, seed=3)
    assert len(idx) == len(np.unique(idx)) == n
    assert np.bincount(LABELS[idx], minlength=10).tolist() == [n // 10] * 10


def test_nested_for_one_seed():
    subsets = [set(balanced_subset(LABELS, n, seed=1)) for n in (100, 600, 1000, 3000)]
    assert all(a < b for a, b in zip(subsets, subsets[1:]))


def test_deterministic_and_order_independent():
    first = balanced_subset(LABELS, 600, seed=2)
    balanced_subset(LABELS, 100, seed=7)  # other draws in between change nothing
    assert np.array_equal(first, balanced_subset(LABELS, 600, seed=2))
    assert not np.array_equal(first, balanced_subset(LABELS, 600, seed=3))


@pytest.mark.parametrize("n", [0, -10, 15, 105, 2.5])
def test_not_a_positive_multiple_of_10_is_refused(n):
    with pytest.raises(ValueError, match="positive multiple"):
        balanced_subset(LABELS, n, seed=0)


def test_more_than_a_class_holds_is_refused():
    with pytest.raises(ValueError, match="has only 400"):
        balanced_subset(LABELS, 4010, seed=0)


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        balanced_subset(LABELS, 100, seed=-1)
