"""Stage `gan_reference`: the GAN table's reference rows, computed exactly as for the GANs.

metrics/gan/reference.json:
- frechet_distance_train_test: real training images (per_class of each class) vs the test set;
- judge_accuracy_test: the judge on the real test images;
- gan_train_accuracy_real: a fresh classifier built as the judge and trained with its recipe for
  gan.evaluation.gan_train_epochs, on those training images alone, tested on the test set (the
  GAN-train accuracy of real images);
- frechet_distance_vae_samples: as many samples from the M1 VAE's prior (Bernoulli means);
- frechet_distance_mirrored_shoes: the same training images with every shoe (Sandal, Sneaker,
  Ankle boot) mirrored left to right. Fashion-MNIST draws all shoes facing one way, so a judge
  that sees orientation scores these worse than the unmirrored images (absent for datasets
  without shoes).
"""

import numpy as np
import torch

from genstudy import data, judge, vae
from genstudy.io import load_model, write_json
from genstudy.pipeline import loaders, params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main, require

SHOES = ("Sandal", "Sneaker", "Ankle boot")


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    ev = p.gan.evaluation.dump()
    judge_cfg = p.judge.dump()
    train_x, train_y = loaders.pixels("train")
    test_x, test_y = loaders.pixels("test")
    model = load_model(judge.Judge, require(paths.JUDGE_MODEL, "train_judge"), paths.target("train_judge"))
    vae_model = load_model(vae.VAE, require(paths.VAE_MODEL, "train_vae"), paths.target("train_vae"))
    names = data.class_names(dataset)
    try:
        idx = data.balanced_subset(train_y, 10 * ev["per_class"], ev["seed"])
    except ValueError as e:
        raise StageError(f"params.yaml: gan.evaluation.per_class = {ev['per_class']} is invalid; {e}") from None

    with deferred_stage_run("gan_reference", {"evaluation": ev, "judge": judge_cfg}, dataset) as mlrun:
        reference = judge.Reference(model, test_x, test_y)
        real = judge.report(model, train_x[idx], train_y[idx], reference, names)
        samples = vae.sample(vae_model, len(idx), torch.Generator().manual_seed(ev["seed"]))
        vae_scores = judge.report(model, samples, None, reference)
        # GAN-train's reference: the classifier evaluate_gan trains on samples, trained on real images.
        gan_train_cfg = {**judge_cfg, "epochs": ev["gan_train_epochs"]}  # as evaluate_gan's
        real_trained = judge.trained_accuracy(train_x[idx], train_y[idx], test_x, test_y, gan_train_cfg)
        shoes = [names.index(name) for name in SHOES if name in names]
        if shoes:
            images = train_x[idx].reshape(-1, 28, 28).copy()
            flip = np.isin(train_y[idx], shoes)
            images[flip] = images[flip][:, :, ::-1]
            mirrored = judge.report(model, images.reshape(-1, 784), train_y[idx], reference, names)
        result = {
            "frechet_distance_train_test": real["frechet_distance"],
            "judge_accuracy_test": reference.accuracy,
            "frechet_distance_vae_samples": vae_scores["frechet_distance"],
            "judge_accuracy_train": real["judge_accuracy"],
            "diversity_train": real["diversity"],
            "per_class_accuracy_train": real["per_class_accuracy"],
            "gan_train_accuracy_real": real_trained,
            "n": int(len(idx)),
        }
        if shoes:
            result["frechet_distance_mirrored_shoes"] = mirrored["frechet_distance"]
            result["judge_accuracy_mirrored_shoes"] = mirrored["judge_accuracy"]
        write_json(paths.GAN_REFERENCE, result)
        mlrun.log_metrics({k: v for k, v in result.items() if isinstance(v, float)})
        mlrun.log_artifact(paths.GAN_REFERENCE)
    print(
        f"reference: judge accuracy on test {result['judge_accuracy_test']:.4f}; Frechet distance train vs test "
        f"{result['frechet_distance_train_test']:.3f}, "
        f"VAE samples vs test {result['frechet_distance_vae_samples']:.3f}"
        + (
            f", the same with mirrored shoes {result['frechet_distance_mirrored_shoes']:.3f}"
            if shoes
            else " (no shoe classes: no mirrored-shoe check)"
        )
    )


if __name__ == "__main__":
    run()
