"""Stage `register_models`: the trained generators and the VAE in MLflow's model registry.

Each generator of gan.matrix becomes a version of registered model `genstudy-gan`, aliased
`<arch>-<method>`; the VAE a version of `genstudy-vae`, aliased `champion`. The generator aliased
`champion` is chosen by the study's rule (genstudy.registry.champion): among converged runs, the
lowest Fréchet distance, in the judge's features, between gan.evaluation.curve_per_class samples
per class and 10,000 training images. The test set plays no part in the choice.
Writes metrics/registry.json: each version, its aliases and its score.
"""

import json

import numpy as np
import torch

from genstudy import judge, registry, vae
from genstudy.gan import checkpoint as gan_checkpoint
from genstudy.gan import nets, serving
from genstudy.io import load_model, write_json
from genstudy.pipeline import loaders, params, paths, tracking
from genstudy.pipeline.stage import main, require

RECORD = "metrics/registry.json"
REFERENCE_IMAGES = 10_000


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    matrix = p.gan.matrix.dump()
    per_class, seed = p.gan.evaluation.curve_per_class, p.gan.evaluation.seed
    runs = [(a, m) for a in matrix["arch"] for m in matrix["method"]]
    logged = {"gan": {"matrix": matrix, "evaluation": {"curve_per_class": per_class, "seed": seed}}}
    with tracking.stage_run("register_models", logged, dataset):
        model = load_model(judge.Judge, require(paths.JUDGE_MODEL, "train_judge"), paths.target("train_judge"))
        train_x, train_y = loaders.pixels("train")
        chosen = np.random.default_rng(seed).permutation(len(train_x))[:REFERENCE_IMAGES]
        reference = judge.Reference(model, train_x[chosen], train_y[chosen])
        scores, checkpoints = {}, {}
        for arch, method in runs:
            run_name = paths.gan_run(arch, method)
            stage = paths.stage_name("train_gan", arch, method)
            path = require(paths.gan_model(arch, method), stage)
            checkpoint, g, _ = gan_checkpoint.load(path)
            labels = torch.arange(g.n_classes).repeat_interleave(per_class)
            samples = nets.sample(g, labels, torch.Generator().manual_seed(seed))
            fd = judge.report(model, samples, None, reference)["frechet_distance"]
            # The verdict of evaluate_gan (train_gan's checks plus the end-of-training check); its other,
            # test-set, scores are not read.
            evaluated = paths.gan_metrics(arch, method)
            with open(require(evaluated, paths.stage_name("evaluate_gan", arch, method))) as f:
                converged = bool(json.load(f)["converged"])
            with open(require(paths.run_record(stage), stage)) as f:
                train_run_id = json.load(f)["mlflow_run_id"]
            scores[run_name] = {"converged": converged, "train_frechet_distance": round(float(fd), 4)}
            checkpoints[run_name] = (path, g, checkpoint, train_run_id)
        best = registry.champion(scores)

        versions = {}
        for run_name, (path, g, checkpoint, train_run_id) in checkpoints.items():
            example = torch.cat(
                [torch.randn(4, g.z_dim, generator=torch.Generator().manual_seed(0)), torch.arange(4.0)[:, None]], 1
            )  # (4, z_dim + 1): noise, then the class index
            tags = {"arch": checkpoint["arch"], "method": checkpoint["method"], "train_run_id": train_run_id}
            version = registry.register(
                serving.SamplerForMlflow(g), example, path, registry.GAN_MODEL, tags | scores[run_name]
            )
            aliases = [run_name] + ([registry.CHAMPION] if run_name == best else [])
            registry.set_aliases(registry.GAN_MODEL, version, aliases)
            versions[run_name] = {"version": version, "aliases": aliases, **scores[run_name]}

        vae_model = load_model(vae.VAE, require(paths.VAE_MODEL, "train_vae"), paths.target("train_vae"))
        vae_version = registry.register(
            vae_model, torch.from_numpy(train_x[:4]), paths.VAE_MODEL, registry.VAE_MODEL, {"z_dim": vae_model.z_dim}
        )
        registry.set_aliases(registry.VAE_MODEL, vae_version, [registry.CHAMPION])

        import mlflow

        mlflow.log_metric("champion_train_frechet_distance", scores[best]["train_frechet_distance"])
        mlflow.set_tag("champion", best)
        record = {
            registry.GAN_MODEL: {"champion": best, "versions": versions},
            registry.VAE_MODEL: {"champion": vae_version},
        }
        write_json(RECORD, record)
        mlflow.log_artifact(RECORD)
    print(
        f"registered {len(versions)} generators ({registry.CHAMPION}: {best}, Fréchet distance to "
        f"training images {scores[best]['train_frechet_distance']:.2f}) and the VAE"
    )


if __name__ == "__main__":
    run()
