"""Latent features as NumPy arrays: which dimensions of the posterior means carry information."""

import numpy as np

# The official M1+M2 code keeps latent dimensions whose posterior mean varies by more than this.
ACTIVE_STD = 0.1


def active_units(means, threshold: float = ACTIVE_STD) -> np.ndarray:
    """Boolean mask of latent dimensions whose mean has std > threshold over the data (n, z)."""
    return np.asarray(means).std(0) > threshold
