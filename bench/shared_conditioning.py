"""The shared-conditioning ablation: is a GAN's result its objective's, or its class weight's?

    nice python bench/shared_conditioning.py [--runs dcgan-dcgan mlp_g-wgan] [--iterations N] [--merge]
                                             [--per-class 1000] [--out bench/results/shared_conditioning.json]

The three methods used to weigh the generator's class loss differently (EARLIER_WEIGHTS); the study
now shares params.yaml's weight across them, so that only the objective and its optimiser differ.
For every run of gan.matrix whose method had another weight, this trains two arms at the default
length and seed, one attempt each with the in-training checks off (every arm is scored as it ends):
the shared weight from params.yaml, and the method's earlier weight. The trained judge scores each
arm's EMA samples (`--per-class` per class, fixed noise and labels) against 10,000 *training*
images, never the test set: judge accuracy, Fréchet distance, diversity, and evaluate_gan's
end-of-training verdict (gan.evaluation.min_diversity). Both arms of a run train on this machine
in the same process, so they compare with each other, not with the committed test-set scores.

`--merge` retrains only `--runs` and keeps the other runs' rows of the existing `--out`: after a
change to one method's params, only its runs need training again. It refuses a file scored by
another judge, or with another sample count, reference or threshold.

The report (`dvc repro report`) reads the JSON, with the params it was made with, and says which
conclusion survives; it flags the results as stale once those params change. Needs
`dvc repro train_judge` first; the default runs take about 45 minutes on 2 cores.
"""

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genstudy import data, judge  # noqa: E402
from genstudy.gan import nets, verdict  # noqa: E402
from genstudy.gan import train as gan_train  # noqa: E402
from genstudy.gan.config import TrainConfig  # noqa: E402
from genstudy.io import atomic_path, load_model  # noqa: E402
from genstudy.pipeline import params, paths  # noqa: E402
from genstudy.report.assemble import machine  # noqa: E402

# The generator's class-loss weight of each method before the weights were shared.
EARLIER_WEIGHTS = {"dcgan": 1.0, "wgan": 0.1, "wgan_gp": 0.5}
REFERENCE_SIZE = 10_000  # training images the arms are scored against
OUT = Path("bench/results/shared_conditioning.json")


def ablated_runs(p) -> list[str]:
    """ARCH-METHOD of every run in gan.matrix whose earlier class weight differs from today's."""
    return [
        f"{arch}-{method}"
        for arch in p.gan.matrix.arch
        for method in p.gan.matrix.method
        if EARLIER_WEIGHTS[method] != p.gan.methods[method].ac_weight_generator
    ]


def settings(p, methods, iterations: int | None = None) -> dict:
    """What the results depend on in params.yaml: the report compares it with the current params."""
    return {
        "methods": {
            m: {
                "iterations": iterations or p.gan.methods[m].iterations,
                "shared_weight": p.gan.methods[m].ac_weight_generator,
            }
            for m in methods
        },
        "earlier_weights": {m: EARLIER_WEIGHTS[m] for m in methods},
        "seed": p.gan.train.seed,
    }


def parse_run(name: str, p) -> tuple[str, str]:
    arch, _, method = name.partition("-")
    if arch not in p.gan.matrix.arch or method not in p.gan.matrix.method:
        known = ", ".join(f"{a}-{m}" for a in p.gan.matrix.arch for m in p.gan.matrix.method)
        raise SystemExit(f"error: unknown run {name!r}; runs are ARCH-METHOD from params.yaml's gan: {known}")
    return arch, method


def mergeable(path: Path, scoring: dict, seed: int, runs: set) -> dict:
    """The results at `path` whose other runs' rows `--merge` keeps; refused unless scored like these,
    with the same training seed."""
    if not path.is_file():
        raise SystemExit(f"error: --merge needs the existing results {path}; run without --merge to write them")
    old = json.loads(path.read_text())
    there = {k: old.get(k) for k in scoring} | {"seed": old["settings"].get("seed")}
    now = scoring | {"seed": seed}
    if differ := [f"{k}: {there[k]!r} there, {now[k]!r} now" for k in now if there[k] != now[k]]:
        raise SystemExit(
            f"error: --merge: {path} was made differently ({'; '.join(differ)}); rerun every run without --merge"
        )
    for row in old["rows"]:
        row.setdefault("git_commit", old.get("git_commit"))  # rows written before each row named its commit
    old["rows"] = [r for r in old["rows"] if r["run"] not in runs]
    return old


def merged_rows(kept: dict, new: list, p) -> list:
    """Kept and new rows in gan.matrix order (arch, then method), each run's shared arm first."""
    archs, methods, arms = p.gan.matrix.arch, p.gan.matrix.method, ["shared", "earlier"]
    return sorted(
        kept["rows"] + new, key=lambda r: (archs.index(r["arch"]), methods.index(r["method"]), arms.index(r["arm"]))
    )


def merged_settings(old: dict, new: dict) -> dict:
    return {
        "methods": old["methods"] | new["methods"],
        "earlier_weights": old["earlier_weights"] | new["earlier_weights"],
        "seed": new["seed"],
    }


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() or "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", help="ARCH-METHOD runs (default: every run whose weight changed)")
    parser.add_argument("--iterations", type=int, help="generator iterations of every arm (default: params.yaml's)")
    parser.add_argument("--per-class", type=int, default=1000, help="samples per class scored")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--merge", action="store_true", help="keep the other runs' rows of the existing --out")
    args = parser.parse_args(argv)

    p = params.load()
    runs = args.runs or ablated_runs(p)
    pairs = [parse_run(r, p) for r in runs]
    judge_path = Path(paths.JUDGE_MODEL)
    if not judge_path.exists():
        raise SystemExit(f"error: {judge_path} is missing; build it first with `dvc repro train_judge`")
    model = load_model(judge.Judge, judge_path, paths.target("train_judge"))
    x, y = data.load_pixels(paths.RAW, "train")
    held = np.random.default_rng(0).choice(len(x), min(REFERENCE_SIZE, len(x)), replace=False)
    reference = judge.Reference(model, x[held], y[held])
    labels = torch.arange(nets.N_CLASSES).repeat_interleave(args.per_class)
    min_diversity = p.gan.evaluation.min_diversity
    judge_md5 = hashlib.md5(judge_path.read_bytes()).hexdigest()
    scoring = {
        "reference": f"{len(held):,} training images",
        "per_class": args.per_class,
        "min_diversity": min_diversity,
        "judge_md5": judge_md5,
    }
    kept = mergeable(args.out, scoring, p.gan.train.seed, set(runs)) if args.merge else None

    commit = git_commit()
    rows = []
    arms = [(arch, method, arm) for arch, method in pairs for arm in ("shared", "earlier")]
    for arch, method, arm in tqdm(arms, desc="arms", unit="arm"):
        a, m = p.gan.architectures[arch], p.gan.methods[method]
        weight = m.ac_weight_generator if arm == "shared" else EARLIER_WEIGHTS[method]
        iterations = args.iterations or m.iterations
        base = TrainConfig.from_params(method, m, p.gan.train)
        failure = base.failure.model_copy(update={"warmup": iterations + 1})  # score every arm as it ends
        cfg = dataclasses.replace(
            base,
            ac_weight_generator=weight,
            iterations=iterations,
            grid_every=iterations,
            log_every=iterations,
            failure=failure,
        )
        start = time.perf_counter()
        result = gan_train.train(
            torch.from_numpy(x), torch.from_numpy(y), a.generator.dump(), a.critic.dump(), cfg, progress=False
        )
        seconds = time.perf_counter() - start
        samples = nets.sample(result.generator, labels, torch.Generator().manual_seed(p.gan.evaluation.seed))
        scores = judge.report(model, samples, labels.numpy(), reference)
        cause = verdict.final_check(scores["diversity"], min_diversity)
        rows.append(
            {
                "run": f"{arch}-{method}",
                "arch": arch,
                "method": method,
                "arm": arm,
                "class_weight": weight,
                "iterations": iterations,
                "seconds": round(seconds, 1),
                "judge_accuracy": round(scores["judge_accuracy"], 4),
                "frechet_distance": round(scores["frechet_distance"], 2),
                "diversity": round(scores["diversity"], 3),
                "collapsed": cause is not None,
                "git_commit": commit,
            }
        )
        tqdm.write(json.dumps(rows[-1]))

    new_settings = settings(p, sorted({method for _, method in pairs}), args.iterations)
    if kept is not None:
        rows = merged_rows(kept, rows, p)
        new_settings = merged_settings(kept["settings"], new_settings)
    result = {
        "settings": new_settings,
        **scoring,
        "machine": f"{machine()}, torch on {torch.get_num_threads()} threads",
        "git_commit": commit,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}: {len(rows)} arms")


if __name__ == "__main__":
    main()
