"""Dependency truth: every stage declares the code it imports and the params it reads, nothing less.

`dvc repro` reruns a stage only when a declared dependency changes, so an undeclared import or
param leaves committed results stale while `dvc status` says "up to date".
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from genstudy.pipeline import paths
from genstudy.schema import NOT_PARAMS
from tests.helpers import dependencies as deps
from tests.helpers.project import READS, ROOT

pytestmark = pytest.mark.slow


def flat_keys(node, prefix=""):
    if isinstance(node, dict) and node:
        return [k for key, value in node.items() for k in flat_keys(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def test_each_stage_is_in_the_pipeline_file_that_paths_names():
    """Error messages name `dvc repro FILE:STAGE` targets from genstudy.pipeline.paths: they must be DVC's."""
    stage_list = deps.stages(ROOT)
    assert {st.name: st.file for st in stage_list} == {st.name: paths.dvc_file(st.name) for st in stage_list}
    files = {st.file for st in stage_list}
    assert files == {"dvc.yaml", *(f"pipelines/{part}/dvc.yaml" for part in paths.PIPELINES)}, "no empty part"
    assert sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("pipelines/**/dvc.yaml")) == sorted(files - {"dvc.yaml"})


def test_every_stage_declares_the_project_files_it_imports():
    assert deps.undeclared_imports(ROOT, deps.stages(ROOT)) == {}


def test_every_stage_declares_the_params_it_reads(study):
    records = deps.recorded_reads(study.path / READS)
    stage_list = deps.stages(study.path)
    ran = {tuple(r["argv"]) for r in records}
    assert {st.name for st in stage_list if tuple(deps.shlex.split(st.cmd)[1:]) in ran} == {
        st.name for st in stage_list
    }, "every stage of the tiny study recorded its reads"
    assert deps.undeclared_reads(stage_list, records) == {}


def test_settings_are_not_params_and_no_stage_depends_on_the_whole_params_file(study):
    stage_list = deps.stages(ROOT)
    assert deps.declared_non_params(stage_list) == {}
    all_keys = flat_keys(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert deps.whole_file_params(stage_list, deps.recorded_reads(study.path / READS), all_keys) == {}
    assert set(NOT_PARAMS) <= {k for key in all_keys for k in NOT_PARAMS if key.startswith(k)}


def test_editing_a_setting_reruns_nothing(study):
    params = study.path / "params.yaml"
    before = params.read_text()
    edited = yaml.safe_load(before)
    edited["gan"]["train"]["log_every"] += 1
    edited["data"]["timeout_s"] += 1
    try:
        params.write_text(yaml.safe_dump(edited, sort_keys=False))
        assert "Data and pipelines are up to date" in study.dvc("status").stdout
    finally:
        params.write_text(before)


# --- the checks catch what they are for -------------------------------------------------------


def test_a_planted_undeclared_import_is_caught(tmp_path):
    for item in ("genstudy", "stages", "dvc.yaml", "pipelines", "params.yaml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    stage = tmp_path / "stages/download.py"
    stage.write_text(stage.read_text().replace("from genstudy import data\n", "from genstudy import data, judge\n"))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".dvc").mkdir()
    problems = deps.undeclared_imports(tmp_path, deps.stages(tmp_path))
    assert problems == {"download": ["genstudy/judge.py"]}


def test_a_planted_undeclared_param_is_caught(study):
    stage_list = deps.stages(study.path)
    records = deps.recorded_reads(study.path / READS)
    encode = next(r for r in records if r["argv"][:2] == ["-m", "stages.encode"])
    planted = [dict(encode, reads=encode["reads"] + ["vae.epochs"])]
    assert deps.undeclared_reads(stage_list, planted) == {"encode": ["vae.epochs"]}


def test_a_whole_params_file_dependency_is_caught(study):
    stage_list = deps.stages(study.path)
    report = next(st for st in stage_list if st.name == "report")
    report.deps.append("params.yaml")
    problems = deps.whole_file_params(stage_list, deps.recorded_reads(study.path / READS), ["vae.epochs"])
    assert list(problems) == ["report"]


def test_import_scan_follows_function_level_and_relative_imports(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "pkg/b.py").write_text("import pkg.c\n")
    (tmp_path / "pkg/c.py").write_text("")
    assert deps.closure(tmp_path, "pkg.a") == {Path(f"pkg/{n}.py") for n in ("__init__", "a", "b", "c")}
