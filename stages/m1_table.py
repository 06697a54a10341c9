"""Stage `m1_table`: the Table 1-style summary of every fit_svm and train_m2 run.

Writes metrics/m1.json (method -> N -> mean/std of accuracy and error over seeds),
metrics/m1_accuracy.csv (for `dvc plots`), reports/m1_table.md and
reports/figures/m1/accuracy_vs_n.png.
"""

import pandas as pd

from genstudy.io import atomic_path, save_figure, write_json, write_text
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import main
from genstudy.report.m1_table import accuracy_figure, collect, markdown, summarise


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    counts, seeds = p.labels.counts, p.labels.seeds
    kernel = p.svm.kernel
    m2_features = p.m2.features
    runs = collect(counts, seeds, m2_features)
    summary = summarise(runs)
    with deferred_stage_run(
        "m1_table", {"labels": {"counts": counts, "seeds": seeds}, "m2": {"features": m2_features}}, dataset
    ) as mlrun:
        write_json(paths.M1_SUMMARY, summary)
        wide = pd.DataFrame({"n": counts})
        for method in summary:
            wide[method] = [summary[method][str(n)]["accuracy_mean"] for n in counts]
        with atomic_path(paths.M1_ACCURACY_CSV) as tmp:
            wide.to_csv(tmp, index=False)
        table = markdown(summary, runs, dataset, kernel)
        write_text(paths.M1_TABLE, table)
        save_figure(accuracy_figure(summary, dataset), paths.M1_FIGURE, dpi=110)
        for method, per_n in summary.items():
            for n, r in per_n.items():
                mlrun.log_metric(f"{method}.accuracy_mean", r["accuracy_mean"], step=int(n))
        for path in (paths.M1_SUMMARY, paths.M1_TABLE, paths.M1_FIGURE):
            mlrun.log_artifact(path)
    print(table)


if __name__ == "__main__":
    run()
