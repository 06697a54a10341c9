"""Stage `gan_reference`: the GAN table's reference rows, computed exactly as for the GANs.

metrics/gan/reference.json:
- frechet_distance_train_test: real training images (per_class of each class) vs the test set;
- judge_accuracy_test: the judge on the real test images;
- frechet_distance_vae_samples: as many samples from the M1 VAE's prior (Bernoulli means).
"""

import torch

from genstudy import data, judge, vae
from genstudy.io import load_model, write_json
from genstudy.pipeline import loaders, params, paths, tracking
from genstudy.pipeline.stage import StageError, main, require


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    ev = p.gan.evaluation.dump()
    train_x, train_y = loaders.pixels("train")
    test_x, test_y = loaders.pixels("test")
    model = load_model(judge.Judge, require(paths.JUDGE_MODEL, "train_judge"), "train_judge")
    vae_model = load_model(vae.VAE, require(paths.VAE_MODEL, "train_vae"), "train_vae")
    names = data.class_names(dataset)
    try:
        idx = data.balanced_subset(train_y, 10 * ev["per_class"], ev["seed"])
    except ValueError as e:
        raise StageError(f"params.yaml: gan.evaluation.per_class = {ev['per_class']} is invalid; {e}") from None

    with tracking.stage_run("gan_reference", {"evaluation": ev}, dataset):
        import mlflow

        reference = judge.Reference(model, test_x, test_y)
        real = judge.report(model, train_x[idx], train_y[idx], reference, names)
        samples = vae.sample(vae_model, len(idx), torch.Generator().manual_seed(ev["seed"]))
        vae_scores = judge.report(model, samples, None, reference)
        result = {
            "frechet_distance_train_test": real["frechet_distance"],
            "judge_accuracy_test": reference.accuracy,
            "frechet_distance_vae_samples": vae_scores["frechet_distance"],
            "judge_accuracy_train": real["judge_accuracy"],
            "diversity_train": real["diversity"],
            "per_class_accuracy_train": real["per_class_accuracy"],
            "n": int(len(idx)),
        }
        write_json(paths.GAN_REFERENCE, result)
        mlflow.log_metrics({k: v for k, v in result.items() if isinstance(v, float)})
        mlflow.log_artifact(paths.GAN_REFERENCE)
    print(
        f"reference: judge accuracy on test {result['judge_accuracy_test']:.4f}; Frechet distance train vs test "
        f"{result['frechet_distance_train_test']:.3f}, "
        f"VAE samples vs test {result['frechet_distance_vae_samples']:.3f}"
    )


if __name__ == "__main__":
    run()
