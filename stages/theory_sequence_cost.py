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

import torch
from tqdm import tqdm

from genstudy.io import atomic_path, save_figure, write_json
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import main
from genstudy.theory import sequence_cost as sc
from genstudy.theory import sequence_cost_figure

FIGURE, METRICS, TABLE = paths.theory("sequence_cost")


@main
def run():
    cfg = params.load().theory.sequence_cost.dump()
    torch.set_num_threads(cfg["threads"])
    arch = {k: cfg[k] for k in ("vocab", "d_model", "n_layers", "n_head")}
    lengths, fit_min = cfg["lengths"], cfg["fit_min_length"]
    flop_lengths = sorted(
        set(lengths) | {lengths[0] * 2**i for i in range(64) if lengths[0] * 2**i <= cfg["flop_max_length"]}
    )
    with deferred_stage_run("theory_sequence_cost", {"theory": {"sequence_cost": cfg}}) as mlrun:
        sc.check_flop_formulas(arch, cfg["flop_check_length"])
        timed = {
            kind: [n for n in lengths if kind != "transformer_recompute" or n <= cfg["recompute_max_length"]]
            for kind in sc.KINDS
        }
        models = {kind: sc.build(kind, max_len=max(lengths), seed=cfg["seed"], **arch) for kind in sc.KINDS}
        seconds = sc.time_grid(
            models,
            timed,
            cfg["repeats"],
            cfg["repeat_budget_s"],
            progress=lambda jobs, r: tqdm(jobs, desc=f"timing, round {r + 1}", mininterval=2),
        )
        timings, flops, slopes, table, summary = sc.analyse(
            seconds, timed, flop_lengths, fit_min, arch, cfg["flop_check_length"]
        )
        for kind in sc.KINDS:
            for n, s in zip(timed[kind], seconds[kind]):
                mlrun.log_metric(f"{kind}.seconds", s, step=n)
            mlrun.log_metrics({f"{kind}.slope_{k}": v for k, v in slopes[kind].items()})
        with atomic_path(TABLE) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        write_json(METRICS, summary)
        save_figure(sequence_cost_figure.figure(timings, flops, slopes, fit_min, arch), FIGURE, dpi=110)
        for path in (FIGURE, METRICS, TABLE):
            mlrun.log_artifact(path)
    for kind, s in slopes.items():
        print(
            f"{kind}: time slope {s['time']:.2f}, FLOP slope {s['flops_timed_range']:.2f} on the timed range, "
            f"{s['flops_large_n']:.3f} at large N (asymptotic {s['expected']})"
        )


if __name__ == "__main__":
    run()
