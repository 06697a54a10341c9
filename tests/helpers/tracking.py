"""Stage runs on the scratch SQLite store of the `store` fixture (tests/conftest.py), and what they logged."""

import json
import os

from genstudy.pipeline import tracking


def client(uri):
    import mlflow

    return mlflow.MlflowClient(uri)


def stage(name, key, monkeypatch, tmp_path, **kwargs):
    """One stage_run under pipeline key `key` (None: a stage run by hand); the finished run."""
    monkeypatch.setattr(tracking, "pipeline_key", lambda: key)
    with tracking.stage_run(name, {"a": 1}, kwargs.pop("dataset", None), record=tmp_path / f"{name}.json", **kwargs):
        pass
    run_id = json.loads((tmp_path / f"{name}.json").read_text())["mlflow_run_id"]
    return client(os.environ["MLFLOW_TRACKING_URI"]).get_run(run_id)


def parents(uri, key=None):
    c = client(uri)
    experiment = c.get_experiment_by_name(tracking.EXPERIMENT)
    where = f"tags.`{tracking.PARENT_TAG}` = '{key}'" if key else f"tags.`{tracking.PARENT_TAG}` != ''"
    return c.search_runs([experiment.experiment_id], filter_string=where)
