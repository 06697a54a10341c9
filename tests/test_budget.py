"""bench/budget.py: each part of the study against its minutes, on run records."""

import json
import subprocess
import sys

import pytest

from genstudy import budget
from tests.helpers.project import ROOT

BUDGET = {
    "total_minutes": 10,
    "parts": [
        {"name": "data", "minutes": 1, "stages": ["download", "sample_labels@*"]},
        {"name": "GANs", "minutes": 8, "stages": ["train_gan@*"]},
        {"name": "report", "minutes": 1, "stages": ["report"]},
    ],
}


def write(tmp_path, records: dict, budget_file=BUDGET):
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    for stage, seconds in records.items():
        (runs / f"{stage}.json").write_text(json.dumps({"stage": stage, "seconds": seconds, "git_commit": "x"}))
    path = tmp_path / "budget.yaml"
    path.write_text(json.dumps(budget_file))  # JSON is YAML
    return runs, path


def run_script(runs, path, *extra):
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "budget.py"), "--records", str(runs), "--budget", str(path), *extra],
        capture_output=True,
        text=True,
    )


def test_parts_within_budget_pass_and_sum_their_stages(tmp_path):
    runs, path = write(tmp_path, {"download": 20, "sample_labels@100-0": 10, "train_gan@a-b": 240})
    result = run_script(runs, path, "--report-record", str(tmp_path / "none.json"))
    assert result.returncode == 0, result.stderr
    table, problems = budget.check(budget.read_budget(path), budget.read_records(runs))
    assert problems == []
    assert list(table.minutes.round(3)) == [0.5, 4.0, 0.0, 4.5]
    assert "| report | 0 | 0.0 | 1 | no record yet |" in result.stdout


def test_a_planted_over_budget_record_fails_naming_the_part(tmp_path):
    runs, path = write(tmp_path, {"download": 20, "train_gan@a-b": 240, "train_gan@c-d": 300})
    result = run_script(runs, path)
    assert result.returncode == 1
    assert "over budget: GANs: 9.0 min against a budget of 8 min" in result.stderr
    assert "| GANs | 2 | 9.0 | 8 | **over** |" in result.stdout


def test_the_whole_study_over_its_total_fails_even_when_each_part_holds(tmp_path):
    tight = dict(BUDGET, total_minutes=4)
    runs, path = write(tmp_path, {"download": 50, "train_gan@a-b": 230}, tight)
    assert run_script(runs, path).returncode == 1
    _, problems = budget.check(budget.read_budget(path), budget.read_records(runs))
    assert problems == ["whole study: 4.7 min against a budget of 4 min"]


def test_a_stage_outside_every_part_is_an_error(tmp_path):
    runs, path = write(tmp_path, {"download": 1, "train_svm@1": 1})
    result = run_script(runs, path)
    assert result.returncode == 1 and "stage train_svm@1 belongs to no part" in result.stderr


def test_the_report_record_outside_the_records_folder_counts(tmp_path):
    runs, path = write(tmp_path, {"download": 1})
    report = tmp_path / "report_run.json"
    report.write_text(json.dumps({"stage": "report", "seconds": 90}))
    result = run_script(runs, path, "--report-record", str(report))
    assert result.returncode == 1 and "| report | 1 | 1.5 | 1 | **over** |" in result.stdout
    report.write_text(json.dumps({"stage": "report", "seconds": 30}))
    result = run_script(runs, path, "--report-record", str(report))
    assert result.returncode == 0 and "| report | 1 | 0.5 | 1 | within |" in result.stdout


@pytest.mark.parametrize("content", ["parts: [", "{}", '{"total_minutes": 1, "parts": [{"name": "x"}]}'])
def test_a_broken_budget_file_is_refused_with_the_fix(tmp_path, content):
    runs, path = write(tmp_path, {"download": 1})
    path.write_text(content)
    result = run_script(runs, path)
    assert result.returncode == 2 and "not a budget file" in result.stderr and "Fix:" in result.stderr


def test_the_committed_budget_file_covers_every_committed_record():
    table, problems = budget.check(budget.read_budget(ROOT / budget.BUDGET), budget.read_records(ROOT / "reports/runs"))
    assert not [p for p in problems if "belongs to" in p]
    assert table.iloc[-1].budget == 120 and table.budget.iloc[:-1].sum() <= 120
