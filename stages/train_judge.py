"""Stage `train_judge`: the Fashion-MNIST CNN classifier that scores the GANs.

Outputs models/judge.pt, metrics/judge.json (test accuracy) and metrics/judge_history.csv;
the MLflow run has the same plus the model.
"""

import time

import pandas as pd
import torch

from genstudy import judge
from genstudy.io import atomic_path, save_torch, write_json
from genstudy.pipeline import params, paths, tracking
from genstudy.pipeline.loaders import pixels
from genstudy.pipeline.stage import main


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    cfg = p.judge.dump()
    train_x, train_y = pixels("train")
    test_x, test_y = pixels("test")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        model = judge.Judge(width=cfg["width"], features=cfg["features"])
    with tracking.stage_run("train_judge", {"judge": cfg}, dataset):
        import mlflow

        start = time.time()
        history = judge.train(
            model,
            train_x,
            train_y,
            test_x,
            test_y,
            epochs=cfg["epochs"],
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            weight_decay=cfg["weight_decay"],
            seed=cfg["seed"],
            augment_images=cfg["augment"],
            on_epoch=lambda row: mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"]),
        )
        seconds = time.time() - start
        save_torch({"config": model.config(), "state_dict": model.state_dict()}, paths.JUDGE_MODEL)
        history = pd.DataFrame(history)
        with atomic_path(paths.JUDGE_HISTORY) as tmp:
            history.to_csv(tmp, index=False, float_format="%.5f")
        last = history.iloc[-1]
        summary = {
            "test_accuracy": round(float(last.test_accuracy), 5),
            "train_accuracy": round(float(last.train_accuracy), 5),
            "epochs": cfg["epochs"],
            "meets_minimum": bool(last.test_accuracy >= cfg["min_test_accuracy"]),
        }
        write_json(paths.JUDGE_METRICS, summary)
        mlflow.log_metrics({"final_test_accuracy": summary["test_accuracy"], "train_seconds": seconds})
        mlflow.log_artifact(paths.JUDGE_METRICS)
        mlflow.pytorch.log_model(
            model.eval(), name="judge", input_example=test_x[:4], pip_requirements=[f"torch=={torch.__version__}"]
        )
    print(f"judge: test accuracy {summary['test_accuracy']:.4f} after {cfg['epochs']} epochs, {seconds:.0f} s")
    if not summary["meets_minimum"]:
        print(
            f"warning: the judge's test accuracy {summary['test_accuracy']:.4f} is below "
            f"judge.min_test_accuracy = {cfg['min_test_accuracy']}; its GAN scores are less trustworthy. "
            "Fix: raise judge.epochs or judge.width in params.yaml"
        )


if __name__ == "__main__":
    run()
