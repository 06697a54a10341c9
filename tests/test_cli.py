"""`genstudy generate`: images from a tiny trained checkpoint, from any directory with --checkpoint or by run
name inside the repository; labels by name or index; every bad input and every bad file refused."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from genstudy import cli, data, vae
from genstudy.io import save_torch
from tests.helpers.gan import config, run, write_checkpoint
from tests.helpers.project import BIN, ROOT

PNG = b"\x89PNG\r\n\x1a\n"
RUN = ["--arch", "tiny", "--method", "wgan_gp"]  # the run inside the repository


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, one_torch_thread):
    """models/gan/tiny-wgan_gp.pt as train_gan writes it, from a tiny 3-iteration training."""
    result = run(config("wgan_gp", iterations=3, grid_every=100))
    return write_checkpoint(tmp_path_factory.mktemp("weights") / "tiny-wgan_gp.pt", result)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, checkpoint):
    """A directory like the repository root after `dvc repro train_gan@tiny-wgan_gp` alone (no params.yaml)."""
    root = tmp_path_factory.mktemp("repo")
    (root / "models/gan").mkdir(parents=True)
    shutil.copy(checkpoint, root / "models/gan/tiny-wgan_gp.pt")
    return root


@pytest.fixture
def generate(monkeypatch, capsys):
    """generate(cwd, *args) -> (exit status, stdout, stderr) of `genstudy generate ARGS` run in cwd."""

    def call(cwd, *args):
        monkeypatch.chdir(cwd)
        try:
            code = cli.main(["generate", *args])
        except SystemExit as e:  # argparse's own errors
            code = e.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_a_checkpoint_draws_from_an_empty_directory_outside_the_repository(checkpoint, tmp_path, generate):
    assert not tmp_path.is_relative_to(ROOT) and not any(tmp_path.iterdir())
    ckpt = str(checkpoint)
    args = ["--checkpoint", ckpt, "-n", "16", "--seed", "0"]
    code, out, err = generate(tmp_path, *args, "--label", "Dress", "-o", "dress.png")
    assert code == 0, err
    png = (tmp_path / "dress.png").read_bytes()
    assert png[:8] == PNG and "wrote dress.png" in out
    generate(tmp_path, *args, "--label", "3", "-o", "three.png")
    assert (tmp_path / "three.png").read_bytes() == png  # the label by index: the same images
    generate(tmp_path, "--checkpoint", ckpt, "-n", "16", "--seed", "1", "--label", "Dress", "-o", "seed1.png")
    assert (tmp_path / "seed1.png").read_bytes() != png
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dress.png", "seed1.png", "three.png"]  # nothing else


def test_arch_and_method_inside_the_repository_draw_from_models_gan(repo, checkpoint, generate):
    code, _, err = generate(repo, *RUN, "--label", "Dress", "-n", "16", "-o", "by_name.png")
    assert code == 0, err
    generate(repo, "--checkpoint", str(checkpoint), "--label", "Dress", "-n", "16", "-o", "by_path.png")
    assert (repo / "by_name.png").read_bytes() == (repo / "by_path.png").read_bytes()


@pytest.mark.parametrize(
    "label, index",
    [("ankle boot", 9), ("Ankle Boot", 9), ("T-shirt", 0), ("tshirt/top", 0), ("sneaker", 7), ("0", 0), ("9", 9)],
)
def test_labels_by_name_or_index(label, index):
    assert data.parse_label(label, data.class_names("fashion_mnist")) == index


@pytest.mark.parametrize("label", ["Hat", "10", "-1", ""])
def test_an_unknown_label_lists_the_classes(label):
    with pytest.raises(ValueError, match=f"unknown label {label!r}; use a class name or index: 0 T-shirt/top, "):
        data.parse_label(label, data.class_names("fashion_mnist"))


def test_without_a_label_every_class_gets_a_row(repo, generate):
    code, _, err = generate(repo, "--arch", "tiny", "--method", "wgan_gp", "-n", "3", "-o", "all.pdf")
    assert code == 0, err
    assert (repo / "all.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--arch", "resnet", "--method", "wgan_gp", "--label", "Dress"],
            "models/gan/resnet-wgan_gp.pt does not exist here: run this from the repository root after "
            "`dvc repro pipelines/gan/dvc.yaml:train_gan@resnet-wgan_gp`, or pass --checkpoint",
        ),
        (["--arch", "tiny", "--method", "lsgan", "--label", "Dress"], "invalid choice: 'lsgan'"),
        (
            ["--arch", "tiny", "--method", "wgan", "--label", "Dress"],
            "`dvc repro pipelines/gan/dvc.yaml:train_gan@tiny-wgan`",
        ),
        (
            ["--arch", "other", "--method", "wgan_gp", "--label", "Dress"],
            "dvc repro pipelines/gan/dvc.yaml:train_gan@other-wgan_gp",
        ),
        (
            ["--arch", "tiny", "--label", "Dress"],
            "name the generator: --checkpoint PATH, --model models:/NAME@ALIAS, or --arch and --method",
        ),
        (["--label", "Dress"], "name the generator"),
        (
            [*RUN, "--checkpoint", "models/gan/tiny-wgan_gp.pt"],
            "give one of --checkpoint, --model or --arch/--method, not --checkpoint and --arch/--method",
        ),
        (["--checkpoint", "models/gan/nowhere.pt"], "models/gan/nowhere.pt does not exist"),
        (["--model", "genstudy-gan@champion"], "is not a registered model URI: write models:/NAME@ALIAS"),
        (["--model", "models:/genstudy-gan@a b"], "is not a registered model URI"),
        (["--model", "models:/g@champion", "--checkpoint", "x.pt"], "not --checkpoint and --model"),
        ([*RUN, "--label", "Hat"], "unknown label 'Hat'; use a class name or index"),
        ([*RUN, "--label", "10"], "unknown label '10'"),
        ([*RUN, "--label", "Dress", "-n", "0"], "image count must be a whole number"),
        ([*RUN, "--label", "Dress", "-n", "-4"], "image count must be a whole number"),
        ([*RUN, "--label", "Dress", "-n", "many"], "not 'many'"),
        ([*RUN, "--label", "Dress", "-n", "20000"], "from 1 to 10000"),
        ([*RUN, "-n", "2000"], "more than 10000 images"),
        ([*RUN, "--label", "Dress", "--seed", "-1"], "seed must be a whole number"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(repo, generate, args, message):
    code, _, err = generate(repo, *args, "-o", "bad.png")
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (repo / "bad.png").exists()


def test_bad_output_format(repo, generate):
    code, _, err = generate(repo, *RUN, "--label", "Bag", "-o", "bag.txt")
    assert code == 2 and "must end in one of .png" in err


class RunsCode:
    """Pickles to a call of os.mkdir: loading it without weights_only would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_files_that_are_not_gan_checkpoints_are_refused(tmp_path, generate):
    (tmp_path / "notes.pt").write_text("not a torch file\n")
    save_torch({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    model = vae.VAE(784, 8, 2)
    save_torch({"config": model.config(), "state_dict": model.state_dict()}, tmp_path / "vae.pt")
    for name in ("notes.pt", "other.pt", "vae.pt"):
        code, _, err = generate(tmp_path, "--checkpoint", name, "--label", "Bag", "-o", "x.png")
        assert code == 2, name
        assert f"error: {name} is not a GAN checkpoint written by train_gan (" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, generate):
    marker = tmp_path / "code-ran"
    torch.save({"generator_config": RunsCode(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)  # what an unsafe load would do:
    assert marker.is_dir()
    marker.rmdir()
    code, _, err = generate(tmp_path, "--checkpoint", "evil.pt", "-n", "2", "-o", "x.png")
    assert code == 2
    assert "error: evil.pt is not a GAN checkpoint written by train_gan (UnpicklingError" in err
    assert "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_console_script_from_an_empty_directory(checkpoint, tmp_path):
    """The installed `genstudy` command (pyproject's [project.scripts]) in a directory outside the repository;
    its exit status is main()'s."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    command = [BIN / "genstudy", "generate", "--checkpoint", checkpoint, "--label", "Bag", "-n", "4", "-o", "bag.png"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bag.png").read_bytes()[:8] == PNG and "wrote bag.png" in result.stdout
    bad = subprocess.run(
        [*command[:3], tmp_path / "bag.png", "-o", "again.png"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "is not a GAN checkpoint" in bad.stderr and "Traceback" not in bad.stderr
