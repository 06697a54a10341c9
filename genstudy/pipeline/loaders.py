"""Upstream data as the stages read it (errors name the stage making it), and the torch device to use."""

import torch

from genstudy import data
from genstudy.pipeline import paths
from genstudy.pipeline.stage import StageError, require


def pixels(split: str):
    """(pixels (n, 784) float32 in [0, 1], labels) of a split of data/raw."""
    return data.load_pixels(require(paths.RAW, "download"), split)


def images(split: str) -> tuple[torch.Tensor, "object"]:
    """pixels() with the images as a torch tensor."""
    x, y = pixels(split)
    return torch.from_numpy(x), y


def device(name: str, key: str = "gan.train.device") -> str:
    """A torch device this machine has; StageError naming the param otherwise."""
    allowed = "use cpu, cuda, cuda:N or mps"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        dev = None
    problem = None if dev is not None and dev.type in ("cpu", "cuda", "mps") else allowed
    if dev is not None and dev.type == "cuda" and not torch.cuda.is_available():
        problem = "this torch build or machine has no CUDA device; use cpu"
    if dev is not None and dev.type == "mps" and not torch.backends.mps.is_available():
        problem = "this machine has no MPS device; use cpu"
    if problem:
        raise StageError(
            f"params.yaml: {key} = {name!r} is invalid; {problem}. "
            f"Fix: edit {key} in params.yaml or pass -S {key}=... to dvc exp run"
        )
    return str(dev)
