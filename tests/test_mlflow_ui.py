"""The scratch study's MLflow store in a real browser (headless Chromium, Debian's `chromium`): the runs
table with the parent run folding its stage runs, a parent and a stage run page, artifacts and the registry.

Screenshots go to GENSTUDY_SCREENSHOTS if set, else to the test's tmp_path.
"""

import contextlib
import os
from pathlib import Path

import pytest

from tests.helpers.tracking import stage
from tools import check_mlflow_ui


def browser_or_skip():
    if check_mlflow_ui.browser() is None:
        message = "no Chromium here (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("GENSTUDY_CI"):
            pytest.fail(f"{message}: CI must run this test")
        pytest.skip(message)


def test_the_check_names_an_empty_store_instead_of_passing(store, tmp_path):
    assert check_mlflow_ui.check(store, tmp_path) == [f"{store} has no experiment 'genstudy': run `dvc repro` first"]


@pytest.mark.slow
def test_the_mlflow_ui_shows_the_study_its_runs_and_its_registry(study, tmp_path):
    browser_or_skip()
    out = Path(os.environ.get("GENSTUDY_SCREENSHOTS") or tmp_path)
    problems = check_mlflow_ui.check(f"sqlite:///{study.path / 'mlflow.db'}", out)
    assert problems == []
    shots = sorted(p.name for p in out.glob("*.png"))
    assert len(shots) == 6 and all((out / s).stat().st_size > 20_000 for s in shots), shots


@pytest.mark.parametrize(
    "dom, problem",
    [
        ("", "Chromium rendered nothing"),
        ("<h1>Page not found</h1> dvc repro 2 matching runs Child runs encode", "the page shows 'Page not found'"),
        ("<div>dvc repro</div><div>2 matching runs</div>", "'Child runs' is not on the page"),
    ],
)
def test_an_error_page_an_empty_page_or_a_missing_element_fails_the_check(store, monkeypatch, tmp_path, dom, problem):
    """The checker's verdicts, without a browser: each page renders as `dom`."""
    stage("encode", "dvc:1-2.00", monkeypatch, tmp_path)
    monkeypatch.setattr(check_mlflow_ui, "browser", lambda: "chromium")
    monkeypatch.setattr(check_mlflow_ui, "running_ui", lambda store, log: contextlib.nullcontext("http://ui"))
    monkeypatch.setattr(check_mlflow_ui, "render", lambda exe, url, screenshot: dom)
    problems = check_mlflow_ui.check(store, tmp_path / "shots")
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "text, total, ok",
    [
        ("65 matching runs", 65, True),
        ("64 matching runs", 65, False),
        ("dvc repro", 65, False),
        ("Load more 101 matching runs", 106, True),  # a page of children and their parent
        ("101 matching runs", 106, False),  # more runs than loaded, yet no way to load them
        ("Load more 99 matching runs", 106, False),
        ("Load more 107 matching runs", 106, False),
    ],
)
def test_the_run_count_allows_for_the_ui_loading_a_page_of_runs_at_a_time(text, total, ok):
    assert (check_mlflow_ui.run_count_problems(text, total) == []) is ok
