"""Atomic file writes: a reader never sees a half-written output, and a failed
write leaves the previous file in place."""

import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; rename it over `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files: give the output the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it


def write_bytes(path, data: bytes):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_torch(obj, path):
    """torch.save, atomically, with the same bytes for the same object.

    Given a file name, torch.save names the zip archive's root folder after it, here the
    random temporary name; given an open file it uses a fixed name, so equal weights give
    equal files (and DVC sees an unchanged output).
    """
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def save_figure(fig, path, **kwargs):
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", bbox_inches="tight", **kwargs)
    plt.close(fig)


class LoadError(Exception):
    """A model file that cannot be used: the message names the file and the fix."""


def load_model(cls, path, stage: str):
    """A model saved as {"config": ..., "state_dict": ...} (save_torch), loaded with weights_only=True.

    `stage`: what `dvc repro` takes to build it again, e.g. `pipelines/m1/dvc.yaml:train_vae`."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = cls(**checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
    except Exception as e:  # noqa: BLE001 - unpickling refusals, zip errors, missing keys: all one answer
        raise LoadError(
            f"{path} is not a {cls.__name__} checkpoint written by {stage} ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); delete it and run `dvc repro {stage}`"
        ) from None
    return model.eval()
