"""Loading what the M1 stages pass between them: images as float tensors, the trained VAE."""

import torch

from genstudy import data
from genstudy.vae import VAE
from stages.common import StageError, require

VAE_PATH = "models/vae.pt"


def images(split: str) -> tuple[torch.Tensor, "object"]:
    """(pixels (n, 784) float in [0, 1], labels int64 array) of a split of data/raw."""
    x, y = data.load_pixels(require("data/raw", "download"), split)
    return torch.from_numpy(x), y


def load_vae(path=VAE_PATH) -> VAE:
    checkpoint = torch.load(require(path, "train_vae"), map_location="cpu", weights_only=True)
    try:
        model = VAE(**checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise StageError(f"{path} is not a VAE checkpoint written by train_vae ({e}); "
                         "delete it and run `dvc repro train_vae`") from None
    return model.eval()
