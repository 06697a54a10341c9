"""Stage `encode`: posterior means mu(x) of the trained VAE for every train and test image."""

import numpy as np

from genstudy import vae
from genstudy.features import active_units
from genstudy.io import atomic_path, load_model
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.loaders import images
from genstudy.pipeline.stage import main, require


@main
def run():
    dataset = params.load().data.dataset
    model = load_model(vae.VAE, require(paths.VAE_MODEL, "train_vae"), paths.target("train_vae"))
    train_x, _ = images("train")
    test_x, _ = images("test")
    with deferred_stage_run("encode", {"features": "posterior means"}, dataset) as mlrun:
        train_means = vae.encode_means(model, train_x).numpy()
        test_means = vae.encode_means(model, test_x).numpy()
        with atomic_path(paths.M1_FEATURES) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, train=train_means, test=test_means)
        active = int(active_units(train_means).sum())
        mlrun.log_metrics({"active_units": active, "latent_dim": train_means.shape[1]})
    print(
        f"{paths.M1_FEATURES}: {train_means.shape[0]} train and {test_means.shape[0]} test means, "
        f"{active} of {train_means.shape[1]} dimensions active"
    )


if __name__ == "__main__":
    run()
