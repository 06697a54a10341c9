"""`genstudy generate`: images from a tiny trained checkpoint, labels by name or index, and every bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from genstudy import cli, data
from genstudy.gan import train as gan_train
from stages.train_gan import weights
from tests.test_gan_train import config, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"generator": {"type": "conv", "depth": 4, "filters": 4, "nonlinearity": "relu", "batch_norm": True},
        "critic": {"depth": 4, "filters": 4, "nonlinearity": "leaky_relu", "norm": "batch"}}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A directory like the repository root: params.yaml with a `tiny` preset, weights of tiny-wgan_gp only."""
    root = tmp_path_factory.mktemp("cli")
    params = {"data": {"dataset": "fashion_mnist"}, "gan": {"architectures": {"tiny": TINY, "other": TINY}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    cfg = config("wgan_gp", iterations=3, grid_every=100)
    result: gan_train.Result = run(cfg, generator=TINY["generator"], critic=TINY["critic"])
    (root / "models/gan").mkdir(parents=True)
    torch.save(weights(result, "tiny", "wgan_gp", "fashion_mnist", data.class_names("fashion_mnist"), True),
               root / "models/gan/tiny-wgan_gp.pt")
    return root


def generate(project, monkeypatch, capsys, *args):
    monkeypatch.chdir(project)
    try:
        code = cli.main(["generate", *args])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_writes_a_grid_and_the_same_seed_gives_the_same_file(project, monkeypatch, capsys):
    code, out, err = generate(project, monkeypatch, capsys, "--arch", "tiny", "--method", "wgan_gp",
                              "--label", "Dress", "-n", "16", "--seed", "0", "-o", "out/dress.png")
    assert code == 0, err
    png = (project / "out/dress.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and "wrote out/dress.png" in out
    generate(project, monkeypatch, capsys, "--arch", "tiny", "--method", "wgan_gp", "--label", "3",
             "-n", "16", "--seed", "0", "-o", "out/three.png")
    assert (project / "out/three.png").read_bytes() == png  # the label by index: the same images
    generate(project, monkeypatch, capsys, "--arch", "tiny", "--method", "wgan_gp", "--label", "Dress",
             "-n", "16", "--seed", "1", "-o", "out/seed1.png")
    assert (project / "out/seed1.png").read_bytes() != png


@pytest.mark.parametrize("label, index", [("ankle boot", 9), ("Ankle Boot", 9), ("T-shirt", 0), ("tshirt/top", 0),
                                          ("sneaker", 7), ("0", 0), ("9", 9)])
def test_labels_by_name_or_index(label, index):
    assert cli.parse_label(label, data.class_names("fashion_mnist")) == index


def test_without_a_label_every_class_gets_a_row(project, monkeypatch, capsys):
    code, _, err = generate(project, monkeypatch, capsys, "--arch", "tiny", "--method", "wgan_gp", "-n", "3",
                            "-o", "all.pdf")
    assert code == 0, err
    assert (project / "all.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("args, message", [
    (["--arch", "resnet", "--method", "wgan_gp", "--label", "Dress"], "unknown architecture 'resnet'; presets"),
    (["--arch", "tiny", "--method", "lsgan", "--label", "Dress"], "unknown GAN method 'lsgan'"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "Hat"], "unknown label 'Hat'; use a class name or index"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "10"], "unknown label '10'"),
    (["--arch", "tiny", "--method", "wgan", "--label", "Dress"],
     "missing upstream output models/gan/tiny-wgan.pt; run `dvc repro train_gan@tiny-wgan` first"),
    (["--arch", "other", "--method", "wgan_gp", "--label", "Dress"], "dvc repro train_gan@other-wgan_gp"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "Dress", "-n", "0"], "image count must be a whole number"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "Dress", "-n", "-4"], "image count must be a whole number"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "Dress", "-n", "many"], "not 'many'"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "Dress", "-n", "20000"], "from 1 to 10000"),
    (["--arch", "tiny", "--method", "wgan_gp", "-n", "2000"], "more than 10000 images"),
    (["--arch", "tiny", "--method", "wgan_gp", "--label", "Dress", "--seed", "-1"], "seed must be a whole number"),
])
def test_bad_input_exits_2_with_a_clear_message(project, monkeypatch, capsys, args, message):
    code, _, err = generate(project, monkeypatch, capsys, *args, "-o", "bad.png")
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (project / "bad.png").exists()


def test_bad_output_format(project, monkeypatch, capsys):
    code, _, err = generate(project, monkeypatch, capsys, "--arch", "tiny", "--method", "wgan_gp", "--label", "Bag",
                            "-o", "bag.txt")
    assert code == 2 and "must end in one of .png" in err


def test_console_script(project):
    """The installed `genstudy` command (pyproject's [project.scripts]); its exit status is main()'s."""
    exe = Path(sys.executable).parent / "genstudy"
    result = subprocess.run([exe, "generate", "--arch", "tiny", "--method", "wgan_gp", "--label", "Bag", "-n", "4",
                             "-o", "bag.png"], cwd=project, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    assert (project / "bag.png").exists() and "wrote bag.png" in result.stdout
