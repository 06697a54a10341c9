"""The shared-conditioning ablation (bench/shared_conditioning.py): both arms trained, scored on training
images, reproducible, and read by the report under DVC."""

import json
import shutil
import subprocess
import sys

import pytest

from genstudy.report import ablation
from tests.helpers.project import ROOT, ran_stages
from tests.helpers.study import rerun_back

BENCH = ROOT / "bench" / "shared_conditioning.py"


def test_an_unknown_run_is_refused_with_the_runs_that_exist():
    out = subprocess.run(
        [sys.executable, BENCH, "--runs", "dcgan-wgangp"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode != 0
    assert "unknown run 'dcgan-wgangp'" in out.stderr and "dcgan-wgan_gp" in out.stderr


@pytest.mark.slow
def test_both_arms_are_trained_reproducibly_and_the_report_reads_them(study, tmp_path):
    out = tmp_path / "ablation.json"
    study.run(sys.executable, BENCH, "--per-class", "5", "--out", out)
    results = json.loads(out.read_text())
    rows = results["rows"]
    # The tiny study's methods are DCGAN and WGAN-GP; only DCGAN's weight changed (1.0 -> the shared 0.5).
    assert [(r["run"], r["arm"], r["class_weight"]) for r in rows] == [
        ("dcgan-dcgan", "shared", 0.5),
        ("dcgan-dcgan", "earlier", 1.0),
        ("mlp_g-dcgan", "shared", 0.5),
        ("mlp_g-dcgan", "earlier", 1.0),
    ]
    assert (
        results["reference"].endswith("training images") and results["settings"]["methods"]["dcgan"]["iterations"] == 6
    )

    # Same params and seed, same numbers.
    again = tmp_path / "again.json"
    study.run(sys.executable, BENCH, "--runs", "mlp_g-dcgan", "--per-class", "5", "--out", again)
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [drop(r) for r in json.loads(again.read_text())["rows"]] == [drop(r) for r in rows[2:]]

    # --merge retrains the runs named and keeps the other runs' rows, in the matrix's order.
    merged = tmp_path / "merged.json"
    shutil.copy(again, merged)
    study.run(sys.executable, BENCH, "--runs", "dcgan-dcgan", "--per-class", "5", "--merge", "--out", merged)
    assert [drop(r) for r in json.loads(merged.read_text())["rows"]] == [drop(r) for r in rows]
    # Results scored another way are refused, and left as they were.
    before_refusal = merged.read_bytes()
    refused = study.run(
        sys.executable, BENCH, "--runs", "dcgan-dcgan", "--per-class", "6", "--merge", "--out", merged, check=False
    )
    assert refused.returncode != 0 and "per_class: 5 there, 6 now" in refused.stderr
    assert merged.read_bytes() == before_refusal

    # The report is a DVC dependant of the results: new results rerun it, and it shows them, not stale.
    committed = study.path / ablation.RESULTS
    before = committed.read_bytes()
    shutil.copy(out, committed)
    try:
        assert "report" in ran_stages(study.dvc("repro", "report").stdout)
        md = (study.path / "reports/report.md").read_text()
        section = md[md.index(ablation.TITLE) :]
        assert "| `mlp_g-dcgan` | earlier | 1.00 | 6 |" in section
        assert "Stale" not in section and "**Which conclusion survives.**" in section
    finally:
        committed.write_bytes(before)
        rerun_back(study)
