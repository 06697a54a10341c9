"""Stage `report`: the document a reader opens first, assembled from the pipeline's outputs only.

Writes reports/report.md (figures by relative path) and reports/report.html (self-contained:
figures embedded as data URIs), and logs both with the figures to MLflow (genstudy.report.assemble).

Its own run record is reports/report_run.json, not reports/runs/report.json: the stage depends on
reports/runs as a whole, and DVC refuses an output inside a stage's own dependency.
"""

from pathlib import Path

from genstudy.io import write_text
from genstudy.pipeline import params, paths, tracking
from genstudy.pipeline.stage import main
from genstudy.report import ablation
from genstudy.report.assemble import assemble, title
from genstudy.report.html import to_html
from genstudy.report.inputs import Inputs


def headline(counts) -> dict:
    """The study's headline numbers, for the pipeline execution's parent MLflow run: the M1 table's
    test errors (%) at the smallest label count, the judge's test accuracy, each GAN's Frechet distance."""
    inp, n, out = Inputs(), min(counts), {}
    for method, cells in (inp.json(paths.M1_SUMMARY) or {}).items():
        if str(n) in cells:
            out[f"{method}.error_n{n}"] = cells[str(n)]["error_mean"]
    if (judge := inp.json(paths.JUDGE_METRICS)) and "test_accuracy" in judge:
        out["judge.test_accuracy"] = judge["test_accuracy"]
    for run, r in ((inp.json(paths.GAN_SUMMARY) or {}).get("runs") or {}).items():
        if r.get("frechet_distance") is not None:
            out[f"gan.{run}.frechet_distance"] = r["frechet_distance"]
    return out


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    counts, seeds, archs, methods = p.labels.counts, p.labels.seeds, p.gan.matrix.arch, p.gan.matrix.method
    ablation_settings = ablation.current_settings(p)
    read = {
        "labels": {"counts": counts, "seeds": seeds},
        "gan": {"matrix": {"arch": archs, "method": methods}, "ablation": ablation_settings},
    }
    md_path, html_path = Path(paths.REPORT_MD), Path(paths.REPORT_HTML)
    with tracking.stage_run("report", read, dataset, record=paths.REPORT_RECORD) as mlrun:
        import mlflow

        md = assemble(dataset, counts, seeds, archs, methods, mlrun.info.run_id, ablation_settings=ablation_settings)
        page, embedded = to_html(md, md_path.parent, title(dataset))
        write_text(md_path, md)
        write_text(html_path, page)
        for path in (md_path, html_path):
            mlflow.log_artifact(str(path))
        for src in embedded:
            mlflow.log_artifact(str(md_path.parent / src), str(Path(src).parent))
        notes = md.count("> **Missing:")
        parent = tracking.log_parent_metrics(headline(counts) | {"report.missing_notes": notes})
        if parent is not None:  # the dataset on the parent too: the runs table shows it on the folded row
            tracking.log_inputs(parent, tracking.split_inputs(dataset))
    print(
        f"wrote {md_path} and {html_path} ({len(embedded)} figures embedded, {len(page) / 1e6:.1f} MB); "
        f"{notes} missing-input note(s)"
    )


if __name__ == "__main__":
    run()
