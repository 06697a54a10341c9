"""Stage `train_gan@ARCH-METHOD`: one class-conditional GAN (architecture preset x objective).

Outputs models/gan/ARCH-METHOD.pt (G with EMA weights, D, their configs),
models/gan/snapshots/ARCH-METHOD.pt (the sampled G every gan.train.grid_every iterations, with
the wall-clock seconds of training so far: evaluate_gan scores them),
metrics/gan/train/ARCH-METHOD.json (attempts, failure causes, final losses),
metrics/gan/history/ARCH-METHOD.csv (one row per generator iteration) and
reports/figures/gan/ARCH-METHOD/ (fixed-noise grids, one row per class; loss curves).
A killed run resumes from checkpoints/gan/ARCH-METHOD.pt when the stage runs again.

MLflow: per-iteration metrics (a restarted attempt's under `attemptK.`), the grids,
the metrics file, and G and D as models.
"""

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from genstudy import data
from genstudy.gan import METHODS, checkpoint, serving
from genstudy.gan import train as gan_train
from genstudy.gan.config import TrainConfig
from genstudy.io import atomic_path, save_figure, save_torch, write_json
from genstudy.pipeline import loaders, params, paths, tracking
from genstudy.pipeline.stage import main
from genstudy.plots import curves, image_grid


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--method", required=True, choices=METHODS)
    args = parser.parse_args(argv)
    p = params.load()
    dataset = p.data.dataset
    arch = p.gan.architectures[args.arch]
    generator, critic = arch.generator.dump(), arch.critic.dump()
    cfg = TrainConfig.from_params(args.method, p.gan.methods[args.method], p.gan.train)
    device = loaders.device(p.gan.train.device)
    x, y = loaders.pixels("train")
    names = data.class_names(dataset)
    name = paths.stage_name("train_gan", args.arch, args.method)
    figures = Path(paths.gan_run_figures(args.arch, args.method))
    resume = Path(paths.gan_checkpoint(args.arch, args.method))
    logged = {"generator": generator, "critic": critic, "train": vars(cfg) | {"failure": cfg.failure.model_dump()}}

    run_params = {"gan": {"arch": args.arch, "method": args.method, **logged, "device": device}}
    with tracking.stage_run(name, run_params, dataset) as mlrun:
        import mlflow

        def on_grid(iteration, images):
            path, title = (
                figures / f"grid_{iteration:06d}.png",
                f"{name}: iteration {iteration} (fixed noise per column)",
            )
            save_figure(image_grid(images, nrow=10, row_labels=names, title=title), path, dpi=100)
            mlflow.log_artifact(str(path), "grids")

        def on_rows(rows, attempt):
            tracking.log_step_rows(mlrun.info.run_id, rows, "iteration", "" if attempt == 1 else f"attempt{attempt}.")

        start = time.time()
        try:
            images, labels = torch.from_numpy(x), torch.from_numpy(y)
            hooks = {"on_rows": on_rows, "on_grid": on_grid, "device": device}
            result = gan_train.train(images, labels, generator, critic, cfg, resume, **hooks)
        except gan_train.TrainingFailed as e:
            fix = f"lower gan.methods.{args.method}.lr or raise gan.train.failure.max_attempts in params.yaml"
            raise SystemExit(f"error: {name}: {e}. Fix: {fix}") from None
        seconds = time.time() - start

        trained_with = {"generator": generator, "critic": critic, "train": logged["train"]}
        weights = checkpoint.contents(result, args.arch, args.method, dataset, names, cfg.ema_decay > 0, trained_with)
        save_torch(weights, paths.gan_model(args.arch, args.method))
        save_torch(checkpoint.snapshots(result, args.arch, args.method), paths.gan_snapshots(args.arch, args.method))
        history = pd.DataFrame(result.history)
        with atomic_path(paths.gan_history(args.arch, args.method)) as tmp:
            history.to_csv(tmp, index=False, float_format="%.5g")
        record = checkpoint.training_record(result, cfg.iterations, args.arch, args.method)
        write_json(paths.gan_train_record(args.arch, args.method), record)
        losses = [k for k in ("d_loss", "g_loss", "wasserstein", "gradient_penalty") if k in history]
        title = f"{name}: losses per generator iteration"
        save_figure(curves(history, "iteration", losses, title, "loss"), figures / "losses.png", dpi=100)

        mlflow.log_artifact(str(figures / "losses.png"))
        mlflow.log_artifact(paths.gan_train_record(args.arch, args.method))
        timing = {"train_seconds": seconds, "seconds_per_iteration": seconds / cfg.iterations}
        mlflow.log_metrics({"failed_attempts": record["failed_attempts"], **timing})
        serving.log_models(result.generator, result.critic, cfg.z_dim, x, y)
    resume.unlink(missing_ok=True)  # the outputs are written: a rerun must start afresh
    attempts = f"{record['failed_attempts']} failed attempt(s), final seed {result.seed}"
    print(f"{name}: {cfg.iterations} generator iterations in {seconds:.0f} s, {attempts}")


if __name__ == "__main__":
    run()
