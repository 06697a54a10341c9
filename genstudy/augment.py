"""Label-preserving copies of labelled images: small shifts and a mirror image.

Fashion-MNIST items are centred and roughly left-right symmetric, so an image moved
by a pixel or mirrored shows the same kind of item. Giving the classifier such copies
of its N labelled images tells it which changes of the input do not change the label,
which N = 100 examples cannot show by themselves. No new labels are used.
"""

import numpy as np

# Pixel moves (dy, dx) of each kind of shift.
SHIFTS = {
    "shift": ((1, 0), (-1, 0), (0, 1), (0, -1)),  # one pixel up, down, left, right
    "diagonal": ((1, 1), (1, -1), (-1, 1), (-1, -1)),  # one pixel along both axes
    "shift2": ((2, 0), (-2, 0), (0, 2), (0, -2)),  # two pixels up, down, left, right
}
# Affine changes (rotation in degrees, scale) for "rotate" and "zoom".
AFFINE = {
    "rotate": ((-10.0, 1.0), (10.0, 1.0)),
    "zoom": ((0.0, 0.9), (0.0, 1.1)),
}
TRANSFORMS = ("flip", *SHIFTS, *AFFINE)


def copies(images, transforms=TRANSFORMS, side: int = 28):
    """(n, side*side) images in [0, 1] -> (n, k, side*side) transformed copies (originals excluded).

    "flip" adds the mirror image; each kind of shift in SHIFTS adds the image moved by
    those pixel offsets (the pixels moved in are 0, the background); with "flip" the
    mirror image is shifted too. Takes and returns a NumPy array or a torch tensor; flips
    and shifts need no torch (a stage that only shifts does not import it), rotate and zoom do.
    """
    unknown = set(transforms) - set(TRANSFORMS)
    if unknown:
        raise ValueError(f"unknown augmentation {sorted(unknown)}; choose from {', '.join(TRANSFORMS)}")
    tensor = not isinstance(images, np.ndarray)
    square = images.reshape(-1, side, side)  # (n, 28, 28)
    bases = [square] + ([square.flip(-1) if tensor else square[:, :, ::-1]] if "flip" in transforms else [])
    out = bases[1:]
    moves = [move for kind, offsets in SHIFTS.items() if kind in transforms for move in offsets]
    for base in bases:
        out += [_shift(base, dy, dx) for dy, dx in moves]
        out += [
            _affine(base, angle, scale)
            for kind, changes in AFFINE.items()
            if kind in transforms
            for angle, scale in changes
        ]
    if not out:
        return (
            images.new_zeros(len(images), 0, side * side)
            if tensor
            else np.zeros((len(images), 0, side * side), images.dtype)
        )
    if tensor:
        import torch

        return torch.stack(out, 1).reshape(len(images), len(out), side * side)  # (n, k, 784)
    return np.stack(out, 1).reshape(len(images), len(out), side * side)


def _shift(square, dy: int, dx: int):
    """Move (n, h, w) images by (dy, dx) pixels, filling with zeros (NumPy array or torch tensor)."""
    moved = square.new_zeros(square.shape) if hasattr(square, "new_zeros") else np.zeros_like(square)
    h, w = square.shape[-2:]
    moved[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = square[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return moved


def _affine(square, angle: float, scale: float):
    """Rotate (degrees) and scale (n, h, w) images about their centre, bilinear, filling with zeros."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    tensor = isinstance(square, torch.Tensor)
    t = square if tensor else torch.from_numpy(np.ascontiguousarray(square))
    out = TF.affine(
        t[:, None],
        angle=angle,
        translate=[0, 0],
        scale=scale,
        shear=[0.0, 0.0],
        interpolation=TF.InterpolationMode.BILINEAR,
    )[:, 0]
    return out if tensor else out.numpy()
