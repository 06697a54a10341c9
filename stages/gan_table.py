"""Stage `gan_table`: the summary of every evaluate_gan run with the reference rows.

Writes reports/gan_table.md, metrics/gan_summary.json, metrics/gan_table.csv (for
`dvc plots`) and reports/figures/gan_per_class_accuracy.png.
"""

import json

from genstudy import data
from genstudy.io import atomic_path, save_figure, write_json, write_text
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import main, require
from genstudy.report.gan_table import collect, done_check, markdown, per_class_figure


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    archs, methods = p.gan.matrix.arch, p.gan.matrix.method
    runs, per_class = collect(archs, methods)
    with open(require(paths.GAN_REFERENCE, "gan_reference")) as f:
        reference = json.load(f)
    names = data.class_names(dataset)
    check = done_check(runs, reference)
    with deferred_stage_run("gan_table", {"gan": {"matrix": {"arch": archs, "method": methods}}}, dataset) as mlrun:
        summary = {
            "runs": {
                r.run: {
                    "judge_accuracy": round(r.judge_accuracy, 5),
                    "frechet_distance": round(r.frechet_distance, 5),
                    "diversity": round(r.diversity, 5),
                    "failed_attempts": int(r.failed_attempts),
                }
                for r in runs.itertuples()
            },
            "reference": {k: v for k, v in reference.items() if not isinstance(v, dict)},
            "gan_bar": check,
        }
        write_json(paths.GAN_SUMMARY, summary)
        with atomic_path(paths.GAN_TABLE_CSV) as tmp:
            runs[["run", "judge_accuracy", "frechet_distance", "diversity", "failed_attempts"]].to_csv(
                tmp, index=False, float_format="%.5f"
            )
        table = markdown(runs, per_class, reference, check, dataset, names)
        write_text(paths.GAN_TABLE, table)
        save_figure(per_class_figure(per_class, names), paths.GAN_PER_CLASS_FIGURE, dpi=110)
        for path in (paths.GAN_SUMMARY, paths.GAN_TABLE, paths.GAN_PER_CLASS_FIGURE):
            mlrun.log_artifact(path)
    print(table)


if __name__ == "__main__":
    run()
