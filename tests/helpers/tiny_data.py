"""Tiny generated IDX datasets: the real code paths, no network, seconds to run."""

import gzip
import hashlib
from pathlib import Path

import numpy as np

from genstudy.data import FILES


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_arrays(per_class_train=30, per_class_test=10, seed=0):
    """Ten classes, each a bright horizontal band at its own height plus noise."""
    rng = np.random.default_rng(seed)

    def make(per_class):
        labels = np.repeat(np.arange(10), per_class)
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(len(labels), 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c : 5 + 2 * c, 4:24] = rng.integers(180, 256)
        return images.astype(np.uint8), labels.astype(np.uint8)

    (train_x, train_y), (test_x, test_y) = make(per_class_train), make(per_class_test)
    return {
        FILES["train_images"]: train_x,
        FILES["train_labels"]: train_y,
        FILES["test_images"]: test_x,
        FILES["test_labels"]: test_y,
    }


def write_tiny(directory: Path, gz: bool = True, **kwargs) -> dict:
    """Write the tiny dataset's four files into `directory`; return {file name: MD5 of the IDX bytes}."""
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, array in tiny_arrays(**kwargs).items():
        raw = idx_bytes(array)
        checksums[name] = hashlib.md5(raw).hexdigest()
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return checksums
