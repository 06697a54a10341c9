"""Speed and accuracy of the SVM stages (`fit_svm_m1`, `fit_svm_pixels`) without DVC or MLflow.

    python bench/bench_svm.py accuracy [--features m1 pixels] [--counts 100 600] [--seeds 0 1]
                                       [--halving 3] [--min-per-class 8] [--cv-refits 2] [--tag NAME]
    python bench/bench_svm.py phases --features m1 --n 1000 --seed 0

`accuracy` fits each (features, N, seed) exactly as the stage does (stages.fit_svm.prepare, then
genstudy.m1.fit), with params.yaml's svm params unless overridden, and prints per N the mean test
accuracy over the seeds next to a baseline: the committed metrics/svm/*.json (git HEAD), or
--baseline FILE (an earlier `accuracy` output). The test set only scores: nothing here selects.
Results go to bench/out/svm-TAG.json.

`phases` runs the stage itself in this process, MLflow included, and prints the seconds of its
phases (imports, MLflow's run, the copies, the selection, the transductive steps, the test scores).
Run from the repository root; the machine's other load shows in every number, so compare runs
made together.
"""

import argparse
import contextlib
import functools
import json
import subprocess
import sys
import time
from pathlib import Path

T0 = time.time()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def committed(features: str, n: int, seed: int) -> dict | None:
    path = f"metrics/svm/{features}-n{n}-seed{seed}.json"
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, text=True)
    return json.loads(shown.stdout)["methods"] if shown.returncode == 0 else None


def accuracy(args):
    import numpy as np

    from genstudy import m1, svm
    from genstudy.pipeline import params
    from stages import fit_svm

    p = params.load()
    if args.min_per_class is not None:
        svm.HALVING_MIN_PER_CLASS = args.min_per_class
    rows = []
    for features in args.features:
        for n in args.counts or p.labels.counts:
            for seed in args.seeds or p.labels.seeds:
                t = time.time()
                inputs = fit_svm.prepare(features, n, seed, p.svm)
                inputs.pop("labels_file")
                cfg = inputs["cfg"]
                if args.halving is not None:
                    cfg["halving"] = args.halving
                if args.cv_refits is not None and "transductive" in cfg:
                    cfg["transductive"]["cv_refits"] = args.cv_refits
                t_fit = time.time()
                methods, _ = m1.fit(**inputs)
                done = time.time()
                for method, r in methods.items():
                    rows.append(
                        {
                            "features": features,
                            "n": n,
                            "seed": seed,
                            "method": method,
                            "accuracy": r["accuracy"],
                            "cv_accuracy": r["cv_accuracy"],
                            "C": r["C"],
                            "gamma_factor": r.get("gamma_factor"),
                            "cv_fits": r.get("cv_fits"),
                            "select_seconds": round(sum(svm.LAST_SELECT_SECONDS.values()), 2),
                            "fit_seconds": round(done - t_fit, 2),
                            "inputs_seconds": round(t_fit - t, 2),
                        }
                    )
                print(
                    f"{features} n={n} seed={seed}: fit {done - t_fit:.1f} s (inputs {t_fit - t:.1f} s); "
                    + ", ".join(
                        f"{m} {r['accuracy']:.4f} (C={r['C']:g}, gf={r.get('gamma_factor')})"
                        for m, r in methods.items()
                    ),
                    flush=True,
                )
    out = Path("bench/out") / f"svm-{args.tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")
    report(rows, json.loads(Path(args.baseline).read_text()) if args.baseline else None, np)


def report(rows, baseline, np):
    """Per (method, N): mean test accuracy over seeds, next to the baseline's on the same seeds."""
    base = {}
    if baseline is None:
        for r in rows:
            methods = committed(r["features"], r["n"], r["seed"])
            if methods and r["method"] in methods:
                base[(r["method"], r["n"], r["seed"])] = (methods[r["method"]]["accuracy"], methods[r["method"]]["C"])
    else:
        base = {(r["method"], r["n"], r["seed"]): (r["accuracy"], r["C"]) for r in baseline}
    print(f"\n{'method':16} {'N':>5} {'seeds':>5} {'mean':>7} {'baseline':>8} {'diff':>7} {'same C,g':>8} {'fit s':>6}")
    keys = sorted({(r["method"], r["n"]) for r in rows})
    for method, n in keys:
        group = [r for r in rows if (r["method"], r["n"]) == (method, n)]
        mean = np.mean([r["accuracy"] for r in group])
        known = [base[(method, n, r["seed"])] for r in group if (method, n, r["seed"]) in base]
        b = np.mean([a for a, _ in known]) if len(known) == len(group) else float("nan")
        same = sum(
            abs(r["accuracy"] - base[(method, n, r["seed"])][0]) < 1e-12
            for r in group
            if (method, n, r["seed"]) in base
        )
        seconds = np.mean([r["fit_seconds"] for r in group])
        print(
            f"{method:16} {n:>5} {len(group):>5} {mean:7.4f} {b:8.4f} {mean - b:+7.4f} "
            f"{same:>5}/{len(group)} {seconds:6.1f}"
        )


def phases(args):
    marks = []

    def mark(name):
        marks.append((name, time.time()))

    import numpy  # noqa: F401

    mark("python, numpy")
    import mlflow  # noqa: F401

    mark("import mlflow")
    import sklearn.svm  # noqa: F401

    mark("import sklearn")
    from genstudy import m1, svm
    from genstudy.pipeline import tracking
    from stages import fit_svm

    mark("import genstudy")

    def timed(owner, name, label=None):
        f = getattr(owner, name)

        @functools.wraps(f)
        def wrapper(*a, **k):
            t = time.time()
            result = f(*a, **k)
            mark(f"{label or name} ({time.time() - t:.2f} s)")
            return result

        setattr(owner, name, wrapper)

    for name in ("select", "transductive_cv_accuracy", "evaluate", "save"):
        timed(svm, name, f"svm.{name}")
    timed(m1, "labelled_copies", "m1.labelled_copies")
    timed(m1, "fit", "m1.fit")
    timed(fit_svm, "prepare", "fit_svm.prepare")
    search = svm.Neighbours.__init__

    def neighbours(self, *a, **k):
        t = time.time()
        search(self, *a, **k)
        mark(f"svm.Neighbours ({time.time() - t:.2f} s)")

    svm.Neighbours.__init__ = neighbours
    stage_run = tracking.stage_run

    @contextlib.contextmanager
    def run(*a, **k):
        t = time.time()
        with stage_run(*a, **k) as r:
            mark(f"tracking.stage_run starts ({time.time() - t:.2f} s)")
            yield r
            t = time.time()
        mark(f"tracking.stage_run ends ({time.time() - t:.2f} s)")

    tracking.stage_run = run
    fit_svm.run(["--features", args.features, "--n", str(args.n), "--seed", str(args.seed)])
    mark("end")
    previous = T0
    for name, t in marks:
        print(f"{t - T0:7.2f}  +{t - previous:5.2f}  {name}")
        previous = t
    print({k: round(v, 2) for k, v in svm.LAST_SELECT_SECONDS.items()})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--features", nargs="+", default=["m1", "pixels"], choices=["m1", "pixels"])
    a.add_argument("--counts", nargs="+", type=int)
    a.add_argument("--seeds", nargs="+", type=int)
    a.add_argument("--halving", type=int, help="svm.halving (default: params.yaml's)")
    a.add_argument("--min-per-class", type=int, help="svm.HALVING_MIN_PER_CLASS")
    a.add_argument("--cv-refits", type=int, help="svm.m1.transductive.cv_refits")
    a.add_argument("--baseline", help="an earlier accuracy output to compare with (default: git HEAD's metrics)")
    a.add_argument("--tag", default="latest")
    ph = sub.add_parser("phases")
    ph.add_argument("--features", choices=["m1", "pixels"], required=True)
    ph.add_argument("--n", type=int, required=True)
    ph.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    accuracy(args) if args.command == "accuracy" else phases(args)


if __name__ == "__main__":
    main()
