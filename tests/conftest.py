"""Shared fixtures: one torch thread for tiny tensors, tiny IDX sources, and one scratch study.

`study` is the whole pipeline on tiny generated data, run once per test session by the real DVC
and stages (tests.helpers.project). Tests that change its params restore them before they end.
"""

import pytest

from tests.helpers.project import BIN, make_project, run
from tests.helpers.tiny_data import write_tiny


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors run faster on one thread, and far faster on a machine shared with other work."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_source(tmp_path):
    """(directory of gzipped tiny IDX files, their checksums)."""
    directory = tmp_path / "source"
    return directory, write_tiny(directory)


class Study:
    """The scratch project after its first `dvc repro`, and what that run printed."""

    def __init__(self, path, first_output: str):
        self.path, self.first_output = path, first_output

    def run(self, *args, **kwargs):
        return run(self.path, *args, **kwargs)

    def dvc(self, *args, **kwargs):
        return run(self.path, BIN / "dvc", *args, **kwargs)


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("study") / "project")
    first = run(project, BIN / "dvc", "repro")
    return Study(project, first.stdout)
