"""Stage start-up: what one `sample_labels` stage costs under `dvc repro`, against an empty stage.

    python bench/bench_startup.py [--stages 10] [--repeats 3]

In a scratch copy of the project (code, params.yaml, and a link to this checkout's data/raw),
`dvc repro --force` runs a group of K stages of one kind, then a group of one; the difference over
K - 1 is the wall time one more stage adds, DVC's own per-stage work included and its one-time
start excluded. After every stage DVC parses the stage's lock file and writes it back whole, so
each group starts from a lock as large as a real one: the committed entries of
pipelines/data/dvc.lock (the lock `sample_labels` writes), or of every part's lock together (the
one lock the study had before it was split into parts). Measured in the same run:
- `empty`: `python -c pass` beside the data part's lock, the floor any stage pays;
- `sample_labels`: the real stage (argument parsing, params validation, reading the labels,
  sampling, writing the CSV, its run record and its deferred MLflow run), beside each lock.
The MLflow store is a scratch SQLite file. Prints seconds per stage (best of --repeats) and the
ratios. Needs data/raw (`dvc repro pipelines/data/dvc.yaml:download`) and the committed locks.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = list(range(100))


def dvc_yaml(k: int) -> str:
    seeds = ", ".join(str(s) for s in SEEDS[:k])
    return (
        "stages:\n"
        "  empty:\n"
        f"    matrix: {{seed: [{seeds}]}}\n"
        '    cmd: python -c "pass"\n'
        "  sample_labels:\n"
        f"    matrix: {{seed: [{seeds}]}}\n"
        "    cmd: python -m stages.sample_labels --n 100 --seed ${item.seed}\n"
        "    deps: [stages/sample_labels.py, data/raw]\n"
        "    outs:\n"
        "      - data/labels/n100-seed${item.seed}.csv\n"
        "      - reports/runs/sample_labels@100-${item.seed}.json\n"
    )


def scratch_project(directory: Path) -> Path:
    for item in ("genstudy", "stages"):
        shutil.copytree(ROOT / item, directory / item, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "params.yaml", directory / "params.yaml")
    (directory / "data").mkdir()
    (directory / "data" / "raw").symlink_to(ROOT / "data" / "raw")
    env = bench_env(directory)
    subprocess.run(["git", "init", "-q"], cwd=directory, check=True, env=env)
    subprocess.run([dvc(), "init", "-q"], cwd=directory, check=True, env=env)
    return directory


def dvc() -> str:
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else "dvc"


def bench_env(directory: Path) -> dict:
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{directory / 'mlflow.db'}")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("DVC_EXP_NAME", None)
    return env


def ballast(locks: list[Path]) -> str:
    """A dvc.lock holding the committed entries of `locks`: as large as theirs, with none of the bench's stages."""
    entries = [line for lock in locks for line in lock.read_text().splitlines(keepends=True)[2:]]
    return "schema: '2.0'\nstages:\n" + "".join(entries)


def group_seconds(directory: Path, kind: str, k: int, lock: str) -> float:
    """Wall time of `dvc repro --force` of a group of k stages of `kind`, from a lock with `lock`'s text."""
    (directory / "dvc.yaml").write_text(dvc_yaml(k))
    (directory / "dvc.lock").write_text(lock)
    start = time.perf_counter()
    result = subprocess.run(
        [dvc(), "repro", "--force", kind], cwd=directory, env=bench_env(directory), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"error: dvc repro {kind} failed in {directory}:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=10, help="stages in the large group (2-100)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not 2 <= args.stages <= len(SEEDS):
        parser.error(f"--stages must be from 2 to {len(SEEDS)}, not {args.stages}")
    if not (ROOT / "data" / "raw").is_dir():
        print("error: data/raw is missing; run `dvc repro pipelines/data/dvc.yaml:download` first", file=sys.stderr)
        return 2
    part = [ROOT / "pipelines" / "data" / "dvc.lock"]
    every = [ROOT / "dvc.lock", *sorted((ROOT / "pipelines").glob("*/dvc.lock"))]
    if not all(lock.exists() for lock in every[1:]) or len(every) < 3:
        print("error: the committed pipelines/*/dvc.lock files are missing", file=sys.stderr)
        return 2
    locks = {"the data part's lock": ballast(part), "one lock for all parts": ballast(every)}
    small, large = locks
    cases = [("empty", small), ("sample_labels", small), ("sample_labels", large)]
    k, per_stage = args.stages, {}
    with tempfile.TemporaryDirectory(prefix="genstudy-bench-startup-") as tmp:
        project = scratch_project(Path(tmp))
        group_seconds(project, "sample_labels", 1, locks[small])  # warm: file cache, bytecode, the store
        for kind, lock in cases:
            text = locks[lock]
            best = min(
                (group_seconds(project, kind, k, text) - group_seconds(project, kind, 1, text)) / (k - 1)
                for _ in range(args.repeats)
            )
            per_stage[kind, lock] = best
    print(f"one more stage under dvc repro (best of {args.repeats}, groups of {k} and 1):")
    for (kind, lock), seconds in per_stage.items():
        lines = locks[lock].count("\n")
        print(f"  {kind:14s} {seconds:6.3f} s   with {lock} ({lines:,} lines)")
    labels_small, labels_large = per_stage["sample_labels", small], per_stage["sample_labels", large]
    print(f"  sample_labels / empty, same lock:     {labels_small / per_stage['empty', small]:.1f}x")
    print(f"  sample_labels, one lock / its part's: {labels_large / labels_small:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
