"""Stage `train_vae`: M1's VAE on all training images, without labels.

Outputs models/vae.pt, metrics/vae.json, metrics/vae_history.csv (ELBO curves)
and figures in reports/figures/vae/; the MLflow run has the same plus the model.
"""

import time

import pandas as pd
import torch

from genstudy import data, vae
from genstudy.io import atomic_path, save_figure, save_torch, write_json
from genstudy.pipeline import params, paths, tracking
from genstudy.pipeline.loaders import images
from genstudy.pipeline.stage import main
from genstudy.plots import curves, image_grid, latent_map, reconstructions


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    cfg = p.vae.dump()
    train_x, _ = images("train")
    test_x, test_y = images("test")
    torch.manual_seed(cfg["seed"])
    model = vae.VAE(784, cfg["hidden"], cfg["z_dim"])
    with tracking.stage_run("train_vae", {"vae": cfg}, dataset):
        import mlflow

        start = time.time()
        history = vae.train(
            model,
            train_x,
            test_x,
            **{k: v for k, v in cfg.items() if k not in ("hidden", "z_dim")},
            on_epoch=lambda row: mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"]),
        )
        seconds = time.time() - start

        save_torch({"config": model.config(), "state_dict": model.state_dict()}, paths.VAE_MODEL)
        history = pd.DataFrame(history)
        with atomic_path(paths.VAE_HISTORY) as tmp:
            history.to_csv(tmp, index=False, float_format="%.4f")
        last = history.iloc[-1]
        summary = {
            "train_elbo": float(last.train_elbo),
            "test_elbo": float(last.test_elbo),
            "test_kl": float(last.test_kl),
            "active_units": int(last.test_active_units),
            "epochs": cfg["epochs"],
        }
        write_json(paths.VAE_METRICS, summary)

        means = vae.encode_means(model, test_x)
        recon = torch.sigmoid(model.decoder(means)).detach()
        figures = {
            "elbo.png": curves(
                history, "epoch", ["train_elbo", "test_elbo"], "VAE evidence lower bound", "ELBO (nats per image)"
            ),
            "reconstructions.png": reconstructions(test_x, recon),
            "samples.png": image_grid(
                vae.sample(model, 100, torch.Generator().manual_seed(cfg["seed"])),
                nrow=10,
                title="samples from the prior",
            ),
            "latent_map.png": latent_map(means.numpy(), test_y, data.class_names(dataset)),
        }
        for name, fig in figures.items():
            save_figure(fig, f"{paths.VAE_FIGURES}/{name}", dpi=110)
        mlflow.log_artifacts(paths.VAE_FIGURES, "figures")
        mlflow.log_metrics({"final_" + k: v for k, v in summary.items()} | {"train_seconds": seconds})
        mlflow.log_artifact(paths.VAE_HISTORY)
        mlflow.pytorch.log_model(
            model, name="vae", input_example=test_x[:4].numpy(), pip_requirements=[f"torch=={torch.__version__}"]
        )
    print(f"VAE: test ELBO {summary['test_elbo']:.2f} nats, {summary['active_units']} active units, {seconds:.0f} s")


if __name__ == "__main__":
    run()
