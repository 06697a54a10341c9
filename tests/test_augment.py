"""Label-preserving copies of labelled images: the right moves, nothing else changed."""

import numpy as np
import pytest
import torch

from genstudy import augment


def dot(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 28, 28)
    image[0, row, col] = 1.0
    return image.reshape(1, 784)


def where(images: torch.Tensor):
    return [divmod(int(i), 28) for i in images.reshape(-1, 784).argmax(1)]


def test_shifts_move_every_pixel_by_one_and_keep_the_originals_out():
    copies = augment.copies(dot(10, 20), ["shift"])
    assert copies.shape == (1, 4, 784)
    assert where(copies[0]) == [(11, 20), (9, 20), (10, 21), (10, 19)]
    assert torch.all(copies.sum(-1) == 1)  # nothing lost, nothing added


def test_pixels_shifted_out_of_the_frame_are_dropped_and_zeros_come_in():
    copies = augment.copies(dot(0, 0), ["shift"])
    assert copies[0, 1].sum() == 0 and copies[0, 3].sum() == 0  # moved up / left: off the image
    assert where(copies[0, [0, 2]]) == [(1, 0), (0, 1)]


def test_flip_mirrors_and_with_shifts_the_mirror_is_shifted_too():
    copies = augment.copies(dot(5, 3), ["flip", "shift"])
    assert copies.shape == (1, 9, 784)  # mirror + 4 shifts of each
    assert where(copies[0])[:2] == [(5, 24), (6, 3)]
    assert (5 + 1, 24) in where(copies[0])


def test_diagonal_and_two_pixel_shifts_and_affine_copies_keep_the_range():
    images = torch.rand(3, 784)
    copies = augment.copies(images, ["diagonal", "shift2", "rotate", "zoom"])
    assert copies.shape == (3, 12, 784)
    assert copies.min() >= 0 and copies.max() <= 1
    assert augment.copies(images, []).shape == (3, 0, 784)


def test_unknown_transform_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown augmentation.*'twist'.*shift"):
        augment.copies(torch.rand(1, 784), ["twist"])


def test_numpy_images_get_the_same_copies_as_tensors_without_torch_for_shifts_and_flips():
    images = torch.rand(3, 784)
    for transforms in (["shift"], ["flip", "shift", "diagonal", "shift2"], ["rotate", "zoom"], []):
        from_numpy = augment.copies(images.numpy(), transforms)
        assert isinstance(from_numpy, np.ndarray)
        assert np.array_equal(from_numpy, augment.copies(images, transforms).numpy())


def test_shifting_numpy_images_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from genstudy import augment; "
        "augment.copies(np.zeros((2, 784), np.float32), ['flip', 'shift']); print('torch' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
