"""Stage `theory_sequence_cost`: time and FLOPs to generate N tokens, LSTM vs Transformer.

Times greedy generation for N on a geometric grid with an LSTM, a Transformer that
recomputes the whole prefix at every step and one with a key-value cache (same width and
depth), counts matmul FLOPs with the formulas of genstudy.theory.sequence_cost after checking
them against torch's FlopCounterMode, and fits log-log slopes. Outputs
metrics/theory/sequence_cost.json, metrics/theory/sequence_cost.csv and
reports/figures/theory/sequence_cost.png. Wall-clock numbers are measurements: they vary from
run to run (FLOPs and their slopes do not); see the library's docstring for why they differ
from the asymptotic exponents.
"""

import pandas as pd
import torch
from tqdm import tqdm

from genstudy import tracking
from genstudy.io import atomic_path, save_figure, write_json
from genstudy.theory import sequence_cost as sc
from stages.common import Params, main

FIGURE = "reports/figures/theory/sequence_cost.png"
METRICS = "metrics/theory/sequence_cost.json"
TABLE = "metrics/theory/sequence_cost.csv"


def read_params(p: Params) -> dict:
    key = "theory.sequence_cost"
    positive = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1  # noqa: E731
    cfg = {
        "vocab": p.int(f"{key}.vocab", minimum=2),
        "d_model": p.int(f"{key}.d_model"),
        "n_layers": p.int(f"{key}.n_layers"),
        "n_head": p.int(f"{key}.n_head"),
        "lengths": sorted(set(p.list(f"{key}.lengths", positive))),
        "recompute_max_length": p.int(f"{key}.recompute_max_length"),
        "fit_min_length": p.int(f"{key}.fit_min_length"),
        "flop_max_length": p.int(f"{key}.flop_max_length"),
        "flop_check_length": p.int(f"{key}.flop_check_length"),
        "repeats": p.int(f"{key}.repeats"),
        "repeat_budget_s": p.float(f"{key}.repeat_budget_s"),
        "threads": p.int(f"{key}.threads"),
        "seed": p.int(f"{key}.seed", minimum=0),
    }
    if cfg["d_model"] % cfg["n_head"]:
        raise p.bad(f"{key}.n_head", cfg["n_head"], f"it must divide d_model = {cfg['d_model']}")
    fitted = [n for n in cfg["lengths"] if n >= cfg["fit_min_length"]]
    if len([n for n in fitted if n <= cfg["recompute_max_length"]]) < 2:
        raise p.bad(f"{key}.fit_min_length", cfg["fit_min_length"],
                    "at least two timed lengths (those <= recompute_max_length too) must be >= it to fit a slope")
    if cfg["flop_max_length"] < max(cfg["lengths"]):
        raise p.bad(f"{key}.flop_max_length", cfg["flop_max_length"], f"it must be >= the longest timed length "
                    f"{max(cfg['lengths'])}")
    return cfg


def check_flop_formulas(arch: dict, up_to: int):
    """FlopCounterMode (on the meta device) must count exactly the analytic FLOPs for N = 1..up_to."""
    sizes = {k: arch[k] for k in ("vocab", "d_model", "n_layers")}
    for kind in sc.KINDS:
        counted = sc.counted_flops(kind, range(1, up_to + 1), **arch)
        for n, value in counted.items():
            expected = sc.analytic_flops(kind, n, **sizes)
            if value != expected:
                raise AssertionError(f"{kind}, N = {n}: FlopCounterMode counts {value} FLOPs, the formula {expected}")


@main
def run():
    cfg = read_params(Params.load())
    torch.set_num_threads(cfg["threads"])
    arch = {k: cfg[k] for k in ("vocab", "d_model", "n_layers", "n_head")}
    sizes = {k: cfg[k] for k in ("vocab", "d_model", "n_layers")}
    lengths, fit_min = cfg["lengths"], cfg["fit_min_length"]
    flop_lengths = sorted(set(lengths) | {lengths[0] * 2 ** i for i in range(64)
                                          if lengths[0] * 2 ** i <= cfg["flop_max_length"]})
    with tracking.stage_run("theory_sequence_cost", {"theory": {"sequence_cost": cfg}}):
        import mlflow

        check_flop_formulas(arch, cfg["flop_check_length"])
        timed = {kind: [n for n in lengths if kind != "transformer_recompute" or n <= cfg["recompute_max_length"]]
                 for kind in sc.KINDS}
        models = {kind: sc.build(kind, max_len=max(lengths), seed=cfg["seed"], **arch) for kind in sc.KINDS}
        seconds = sc.time_grid(models, timed, cfg["repeats"], cfg["repeat_budget_s"],
                               progress=lambda jobs, r: tqdm(jobs, desc=f"timing, round {r + 1}", mininterval=2))
        timings, flops, slopes = {}, {}, {}
        for kind in sc.KINDS:
            timings[kind] = {"n": timed[kind], "seconds": seconds[kind]}
            flops[kind] = {"n": flop_lengths, "flops": [sc.analytic_flops(kind, n, **sizes) for n in flop_lengths]}
            fitted = [n for n in timed[kind] if n >= fit_min]
            slopes[kind] = {
                "time": sc.loglog_slope(timed[kind], seconds[kind], fit_min),
                "flops_timed_range": sc.loglog_slope(fitted, [sc.analytic_flops(kind, n, **sizes) for n in fitted],
                                                     fit_min),
                "flops_large_n": sc.loglog_slope(flop_lengths[-3:], flops[kind]["flops"][-3:], flop_lengths[-3]),
                "expected": sc.EXPECTED_EXPONENT[kind],
            }
            for n, s in zip(timed[kind], seconds[kind]):
                mlflow.log_metric(f"{kind}.seconds", s, step=n)
            mlflow.log_metrics({f"{kind}.slope_{k}": v for k, v in slopes[kind].items()})

        table = pd.DataFrame({"n": flop_lengths})
        for kind in sc.KINDS:
            table[f"{kind}_seconds"] = table["n"].map(dict(zip(timings[kind]["n"], timings[kind]["seconds"])))
            table[f"{kind}_flops"] = flops[kind]["flops"]
        with atomic_path(TABLE) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        summary = {
            "slopes": slopes,
            "fit": {"time_min_length": fit_min, "flops_large_n_lengths": flop_lengths[-3:]},
            "seconds_at_longest": {k: {"n": t["n"][-1], "seconds": t["seconds"][-1]} for k, t in timings.items()},
            "ms_per_token": {k: {"shortest": 1e3 * t["seconds"][0] / t["n"][0],
                                 "longest": 1e3 * t["seconds"][-1] / t["n"][-1]} for k, t in timings.items()},
            "flops_at_longest_timed": {k: sc.analytic_flops(k, max(lengths), **sizes) for k in sc.KINDS},
            "flop_formulas_match_flopcounter_up_to": cfg["flop_check_length"],
            "architecture": arch,
        }
        write_json(METRICS, summary)
        save_figure(sc.figure(timings, flops, slopes, fit_min, arch), FIGURE, dpi=110)
        for path in (FIGURE, METRICS, TABLE):
            mlflow.log_artifact(path)
    for kind, s in slopes.items():
        print(f"{kind}: time slope {s['time']:.2f}, FLOP slope {s['flops_timed_range']:.2f} on the timed range, "
              f"{s['flops_large_n']:.3f} at large N (asymptotic {s['expected']})")


if __name__ == "__main__":
    run()
