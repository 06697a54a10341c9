"""Open a store's MLflow UI in headless Chromium: runs table, parent run, stage run, artifacts, registry.

    python tools/check_mlflow_ui.py [--store sqlite:///mlflow.db] [--out bench/out/mlflow-ui]

Starts `mlflow ui` on a free loopback port and loads six pages of the newest pipeline execution.
Each page is rendered once (Chromium's DOM after its scripts ran, and a screenshot, saved to
--out) and must show what the store holds:
1. runs table: the parent run's name, its dataset and the run count, its stage runs folded under it;
2. parent run: "Child runs" and its newest stage run;
3. stage run (train_vae, else the newest stage run): its metrics and its dataset inputs;
4. that run's artifacts;
5. the registered generators (genstudy-gan) with the alias `champion`, if the store has them;
6. the champion's version page: its source run and its signature.
One line per problem and exit status 1; exit status 2 when no browser is found. The pages open
with ?workflowType=machine_learning: MLflow 3.17's UI shows its GenAI pages otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import mlflow_server  # noqa: E402  (also when run as `python tools/check_mlflow_ui.py`)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage"]
ERRORS = ("Page not found", "Something went wrong", "Internal Server Error", "does not exist")
ML = "workflowType=machine_learning"
PAGE_SIZE = 100  # runs the UI's runs table loads at a time


def browser() -> str | None:
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


@contextlib.contextmanager
def running_ui(store: str, log: Path):
    """`mlflow ui` on the store, on loopback; its base URL once /health answers (tools/mlflow_server's
    port, health wait and stop)."""
    port = mlflow_server.free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow if mlflow.exists() else "mlflow"), "ui", "--backend-store-uri", store]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        mlflow_server._wait_healthy(url, proc, log)
        yield url
    finally:
        mlflow_server.stop_process(proc)


def render(exe: str, url: str, screenshot: Path, budget_ms: int = 20000) -> str:
    """The DOM of `url` after its scripts ran for `budget_ms` of virtual time; a screenshot as well."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1000", f"--virtual-time-budget={budget_ms}",
             f"--screenshot={screenshot}", "--dump-dom", url],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    return result.stdout


def newest_pipeline(client, experiment_id: str):
    """(the newest parent run, its stage runs newest first)."""
    from genstudy.pipeline import tracking

    parents = client.search_runs(
        [experiment_id], f"tags.`{tracking.PARENT_TAG}` != ''", order_by=["start_time DESC"], max_results=1
    )
    if not parents:
        return None, []
    parent = parents[0]
    children = client.search_runs(
        [experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", order_by=["start_time DESC"]
    )
    return parent, children


def run_count_problems(text: str, total: int) -> list[str]:
    """The runs table's "N matching runs" against the store's `total`.

    The UI fetches runs a page (PAGE_SIZE) at a time, adds the parents of the children it fetched, and
    counts what it has loaded; a larger store shows "Load more". So a store of up to a page shows its
    total, and a larger one shows at least a page and at most its total.
    """
    shown = [int(n) for n in re.findall(r"(\d+) matching runs", text)]
    if not shown:
        return ["no 'N matching runs' count on the page"]
    if total <= PAGE_SIZE and shown[0] != total:
        return [f"{shown[0]} matching runs shown, the store has {total}"]
    if total > PAGE_SIZE and not (PAGE_SIZE <= shown[0] <= total and "Load more" in text):
        return [f"{shown[0]} matching runs shown of {total}: expected {PAGE_SIZE} to {total} and 'Load more'"]
    return []


def check(store: str, out: Path) -> list[str]:
    """Problems found on the six pages (empty: all shown); screenshots in `out`."""
    import mlflow

    from genstudy import registry
    from genstudy.pipeline import tracking

    exe = browser()
    if exe is None:
        raise FileNotFoundError(f"no headless browser ({', '.join(BROWSERS)}); on Debian: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    client = mlflow.MlflowClient(store, registry_uri=store)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    if experiment is None:
        return [f"{store} has no experiment {tracking.EXPERIMENT!r}: run `dvc repro` first"]
    eid = experiment.experiment_id
    parent, children = newest_pipeline(client, eid)
    if parent is None or not children:
        return [f"{store} has no pipeline execution with stage runs: run `dvc repro` first"]
    stage = next((r for r in children if r.info.run_name == "train_vae"), children[0])
    total = len(client.search_runs([eid], max_results=5000))
    datasets = sorted({i.dataset.name for i in stage.inputs.dataset_inputs})
    parent_datasets = sorted({i.dataset.name for i in parent.inputs.dataset_inputs})  # logged by `report`
    metrics = sorted(stage.data.metrics)[:3]
    artifacts = [a.path for a in client.list_artifacts(stage.info.run_id)][:3]
    runs = f"#/experiments/{eid}/runs"
    pages = [
        ("1-runs-table", f"{runs}?{ML}", [parent.info.run_name, *parent_datasets]),
        ("2-parent-run", f"{runs}/{parent.info.run_id}?{ML}", ["Child runs", children[0].info.run_name]),
        ("3-stage-run", f"{runs}/{stage.info.run_id}?{ML}", [stage.info.run_name, *metrics, *datasets]),
        ("4-artifacts", f"{runs}/{stage.info.run_id}/artifacts?{ML}", artifacts),
    ]  # fmt: skip
    try:
        champion = client.get_model_version_by_alias(registry.GAN_MODEL, registry.CHAMPION)
    except mlflow.exceptions.MlflowException:
        champion = None
    if champion is not None:
        pages += [
            ("5-registered-model", f"#/models/{registry.GAN_MODEL}?{ML}", [registry.GAN_MODEL, registry.CHAMPION]),
            ("6-champion-version", f"#/models/{registry.GAN_MODEL}/versions/{champion.version}?{ML}",
             [f"Version {champion.version}", registry.CHAMPION, "Schema"]),
        ]  # fmt: skip
    folded = next((r.info.run_name for r in children if "@" in r.info.run_name), None)
    problems = []
    with running_ui(store, out / "mlflow-ui.log") as base:
        for name, route, expected in pages:
            dom = render(exe, f"{base}/{route}", out / f"{name}.png")
            (out / f"{name}.html").write_text(dom)
            dom = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())  # the text a reader sees
            if not dom.strip():
                problems.append(f"{name}: Chromium rendered nothing for {route}")
                continue
            problems += [f"{name}: the page shows {e!r} ({route})" for e in ERRORS if e in dom]
            problems += [f"{name}: {e!r} is not on the page ({route})" for e in expected if str(e) not in dom]
            if name == "1-runs-table":
                problems += [f"{name}: {p} ({route})" for p in run_count_problems(dom, total)]
                if folded and folded in dom:
                    problems.append(f"{name}: stage run {folded!r} is a row of its own, not folded under its parent")
    if champion is None:
        problems.append(
            f"the registry has no {registry.GAN_MODEL}@{registry.CHAMPION}: run `dvc repro register_models`"
        )
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=f"sqlite:///{ROOT / 'mlflow.db'}", help="the MLflow tracking URI")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "mlflow-ui"), help="screenshots and DOMs")
    args = parser.parse_args(argv)
    try:
        problems = check(args.store, Path(args.out))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"{'ok' if not problems else f'{len(problems)} problems'}: screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
