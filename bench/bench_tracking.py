"""What `tracking.stage_run` adds to a stage beyond its own MLflow run, against that run.

    python bench/bench_tracking.py [--repeats 20]

On a scratch SQLite store, with the store, the parent and the imports warm (as after a pipeline's
first stage), times per repeat:
- `run`: a bare run, as `mlflow.start_run` + `end_run` make it (the reference, same process);
- `parent`: finding the pipeline execution's parent run and setting it RUNNING, then FINISHED;
- `inputs`: logging the dataset's two splits and one label-subset file as inputs (`log_inputs`).
Prints the median seconds of each and the ratio of `parent` + `inputs` to `run`.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        os.chdir(tmp)
        import mlflow

        from genstudy.pipeline import tracking

        labels = Path(tmp) / "labels.csv"
        labels.write_text("index,label\n1,2\n")
        experiment_id = tracking.ensure_experiment()
        client, key = mlflow.MlflowClient(), "dvc:1-2.00"
        tracking.parent_run(experiment_id, key)  # created once: later stages only find it
        times = {"run": [], "parent": [], "inputs": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            run = mlflow.start_run(experiment_id=experiment_id)
            mlflow.end_run()
            times["run"].append(time.perf_counter() - start)
            start = time.perf_counter()
            parent = tracking.parent_run(experiment_id, key)
            client.update_run(parent.info.run_id, status="RUNNING")
            client.set_terminated(parent.info.run_id, "FINISHED")
            times["parent"].append(time.perf_counter() - start)
            start = time.perf_counter()
            inputs = tracking.split_inputs("fashion_mnist") + tracking.file_inputs({"labels-n10-seed0": labels})
            tracking.log_inputs(run.info.run_id, inputs)
            times["inputs"].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    for k, v in median.items():
        print(f"{k:>7}: {v * 1000:7.1f} ms (median of {args.repeats})")
    print(f"parent + inputs / run: {(median['parent'] + median['inputs']) / median['run']:.2f}")


if __name__ == "__main__":
    main()
