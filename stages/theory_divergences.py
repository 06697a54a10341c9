"""Stage `theory_divergences`: KL, JS and W1 between P = (0, U(0,1)) and Q = (theta, U(0,1)).

Estimates all three from samples for theta on a grid in [0, 1] (0 included), beside the
closed forms, with their finite-difference slopes in theta. Outputs metrics/theory/divergences.json
(the answers, measured), metrics/theory/divergences.csv (one row per theta, for `dvc plots`)
and reports/figures/theory/divergences.png.
"""

import numpy as np
import pandas as pd
from tqdm import tqdm

from genstudy.io import atomic_path, save_figure, write_json
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import main
from genstudy.theory import answers, divergences, divergences_figure

FIGURE, METRICS, TABLE = paths.theory("divergences")


@main
def run():
    cfg = params.load().theory.divergences.dump()
    thetas = np.linspace(0.0, 1.0, cfg["theta_points"])  # 0 exactly, then up to 1
    pair = divergences.SegmentPair(max(cfg["w_samples"], cfg["hist_samples"], max(cfg["knn_sizes"])), cfg["seed"])
    with deferred_stage_run("theory_divergences", {"theory": {"divergences": cfg}}) as mlrun:
        rows = divergences.sweep(
            pair,
            thetas,
            fd_step=cfg["fd_step"],
            w_n=cfg["w_samples"],
            hist_n=cfg["hist_samples"],
            bin_widths=cfg["bin_widths"],
            knn_sizes=cfg["knn_sizes"],
            k=cfg["knn_k"],
            progress=lambda xs: tqdm(xs, desc="theta", mininterval=2),
        )
        growth = divergences.knn_growth(pair, cfg["growth_thetas"], cfg["knn_sizes"], k=cfg["knn_k"])
        summary = answers.summarise(rows, growth, cfg["bin_widths"], cfg["knn_sizes"], cfg["fd_step"])
        table = pd.DataFrame(rows)
        # Names that do not depend on the params, for dvc.yaml's top-level plots.
        table["js_hist"] = table[f"js_hist_h{min(cfg['bin_widths']):g}"]
        table["kl_knn"] = table[f"kl_knn_n{max(cfg['knn_sizes'])}"]
        with atomic_path(TABLE) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        write_json(METRICS, summary)
        save_figure(
            divergences_figure.figure(rows, growth, cfg["bin_widths"], cfg["knn_sizes"], answers.explain(summary)),
            FIGURE,
            dpi=110,
        )
        mlrun.log_metrics(
            {f"{d}.{k}": v for d in ("w", "js") for k, v in summary[d].items() if isinstance(v, float)}
            | {f"kl.knn_growth_per_ln_n.theta_{t}": v for t, v in summary["kl"]["knn_growth_per_ln_n"].items()}
        )
        for path in (FIGURE, METRICS, TABLE):
            mlrun.log_artifact(path)
    w, js = summary["w"], summary["js"]
    print(
        f"W: slope {w['fitted_slope_dW_dtheta']:.3f}, mean gradient {w['mean_gradient_theta_gt_0']:.3f}; "
        f"JS at theta > 0: log 2 within {js['max_abs_error_vs_log2_away_from_jump']:.1e}, gradient "
        f"{js['max_abs_gradient_away_from_jump']:.1e}; KL k-NN growth per ln n "
        f"{summary['kl']['knn_growth_per_ln_n']}"
    )


if __name__ == "__main__":
    run()
