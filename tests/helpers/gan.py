"""A tiny class-conditional GAN on the tiny dataset: every setting spelled out, trained in about a second.

TrainConfig and FailureChecks have no defaults (params.yaml is the one source of the study's values);
these are the tests' own, small enough for tiny tensors and independent of params.yaml.
"""

import torch

from genstudy import data
from genstudy.data import FILES
from genstudy.gan import checkpoint
from genstudy.gan import train as gan_train
from genstudy.io import save_torch
from tests.helpers.tiny_data import tiny_arrays

GEN = {"type": "conv", "depth": 4, "filters": 4, "nonlinearity": "relu", "batch_norm": True}
CRIT = {"depth": 4, "filters": 4, "nonlinearity": "leaky_relu", "norm": "batch"}

# Each method's optimizer and critic steps (the paper's), and the settings only it has.
METHODS = {
    "dcgan": dict(optimizer="adam", lr=2e-4, betas=(0.5, 0.999), critic_steps=1, clip=None, gp_weight=None),
    "wgan": dict(optimizer="rmsprop", lr=5e-5, betas=None, critic_steps=2, clip=0.01, gp_weight=None),
    "wgan_gp": dict(optimizer="adam", lr=1e-4, betas=(0.5, 0.9), critic_steps=2, clip=None, gp_weight=10.0),
}

# The failed-convergence checks, off until iteration 1000 (the tiny runs are 12 iterations long).
FAILURE = dict(
    max_attempts=3,
    warmup=1000,
    check_every=100,
    patience=2,
    saturation_prob=0.02,
    critic_loss_limit=1000.0,
    min_diversity=0.1,
    max_class_fraction=0.6,
    min_classifier_accuracy=0.7,
    probe_per_class=20,
)

SHARED = dict(
    iterations=12,
    batch_size=16,
    z_dim=8,
    seed=0,
    ema_decay=0.9,
    ac_weight_critic=1.0,
    ac_weight_generator=0.1,
    projection=True,
    grid_every=5,
    log_every=3,
    checkpoint_every=4,
    standing_samples=64,
)


def tiny_data():
    """(training images (300, 784) in [0, 1], labels (300,)) of the tiny dataset."""
    arrays = tiny_arrays()
    x = torch.from_numpy(arrays[FILES["train_images"]].reshape(-1, 784)).float() / 255
    return x, torch.from_numpy(arrays[FILES["train_labels"]]).long()


def config(method="wgan_gp", **overrides) -> gan_train.TrainConfig:
    """The tiny TrainConfig of `method`; `failure={...}` overrides single failure checks."""
    failure = gan_train.FailureChecks(**{**FAILURE, **overrides.pop("failure", {})})
    return gan_train.TrainConfig(method=method, failure=failure, **{**SHARED, **METHODS[method], **overrides})


def run(cfg, checkpoint=None, rows=None, grids=None, generator=GEN, critic=CRIT) -> gan_train.Result:
    """Train on the tiny data; per-iteration rows and sample grids are appended to `rows` and `grids`."""
    x, y = tiny_data()
    return gan_train.train(
        x,
        y,
        generator,
        critic,
        cfg,
        checkpoint=checkpoint,
        progress=False,
        on_rows=(lambda r, a: rows.extend(r)) if rows is not None else None,
        on_grid=(lambda it, img: grids.append((it, img))) if grids is not None else None,
    )


def same_weights(a, b) -> bool:
    """Both results' generators and critics have identical state dicts (asserts key by key)."""
    for module_a, module_b in ((a.generator, b.generator), (a.critic, b.critic)):
        sa, sb = module_a.state_dict(), module_b.state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    return True


def write_checkpoint(path, result, arch="tiny", method="wgan_gp", dataset="fashion_mnist"):
    """The model file train_gan writes for `result` (genstudy.gan.checkpoint.contents, saved atomically)."""
    names = data.class_names(dataset)
    save_torch(checkpoint.contents(result, arch, method, dataset, names, ema=True), path)
    return path
