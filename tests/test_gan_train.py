"""The GAN loop on tiny data: determinism, resume after an interruption or a kill, failure detection and restarts."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from genstudy.data import FILES
from genstudy.gan import objectives
from genstudy.gan import train as gan_train
from tests.conftest import tiny_arrays
from tests.scratch import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GEN = {"type": "conv", "depth": 4, "filters": 4, "nonlinearity": "relu", "batch_norm": True}
CRIT = {"depth": 4, "filters": 4, "nonlinearity": "leaky_relu", "norm": "batch"}


METHODS = {"dcgan": dict(optimizer="adam", lr=2e-4, betas=(0.5, 0.999), critic_steps=1),
           "wgan": dict(optimizer="rmsprop", lr=5e-5, critic_steps=2, clip=0.01),
           "wgan_gp": dict(optimizer="adam", lr=1e-4, betas=(0.5, 0.9), critic_steps=2, gp_weight=10.0)}


def tiny_data():
    arrays = tiny_arrays()
    x = torch.from_numpy(arrays[FILES["train_images"]].reshape(-1, 784)).float() / 255
    return x, torch.from_numpy(arrays[FILES["train_labels"]]).long()


def config(method="wgan_gp", **overrides):
    failure = overrides.pop("failure", {})
    kw = dict(method=method, iterations=12, batch_size=16, z_dim=8, seed=0, ema_decay=0.9, grid_every=5,
              log_every=3, checkpoint_every=4, standing_samples=64,
              failure=gan_train.FailureChecks(**{"warmup": 1000, **failure}))
    return gan_train.TrainConfig(**{**kw, **METHODS[method], **overrides})


def run(cfg, checkpoint=None, rows=None, grids=None, generator=GEN, critic=CRIT):
    x, y = tiny_data()
    return gan_train.train(x, y, generator, critic, cfg, checkpoint=checkpoint, progress=False,
                           on_rows=(lambda r, a: rows.extend(r)) if rows is not None else None,
                           on_grid=(lambda it, img: grids.append((it, img))) if grids is not None else None)


def same_weights(a, b):
    for module_a, module_b in ((a.generator, b.generator), (a.critic, b.critic)):
        sa, sb = module_a.state_dict(), module_b.state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    return True


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_numbers_and_rows_per_iteration(method):
    rows = []
    a = run(config(method), rows=rows)
    b = run(config(method))
    assert same_weights(a, b) and a.history == b.history
    assert [r["iteration"] for r in rows] == list(range(1, 13))  # every iteration reaches on_rows once
    expected = {"iteration", "d_loss", "g_loss", "d_class_loss", "g_class_loss"} | {
        "dcgan": {"d_real_prob", "d_fake_prob"}, "wgan": {"wasserstein"},
        "wgan_gp": {"wasserstein", "gradient_penalty"}}[method]
    assert set(rows[0]) == expected
    assert a.failures == [] and a.converged and a.seed == 0
    if method == "wgan_gp":
        assert run(config(method, seed=5)).history != a.history


def test_wgan_critic_weights_stay_clipped():
    result = run(config("wgan", lr=1e-2))
    for p in result.critic.critic_parameters():
        assert p.abs().max() <= 0.01


def test_grids_have_a_row_per_class_at_intervals():
    grids = []
    run(config("dcgan"), grids=grids)
    assert [it for it, _ in grids] == [5, 10, 12]
    assert all(img.shape == (100, 1, 28, 28) and 0 <= img.min() and img.max() <= 1 for _, img in grids)


class Stop(Exception):
    pass


@pytest.mark.parametrize("method", METHODS)
def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, method):
    full_rows, full_grids = [], []
    full = run(config(method), rows=full_rows, grids=full_grids)

    def interrupt(rows, attempt):
        if rows[-1]["iteration"] >= 9:  # after the checkpoint at 8, before the one at 12
            raise Stop

    x, y = tiny_data()
    with pytest.raises(Stop):
        gan_train.train(x, y, GEN, CRIT, config(method), checkpoint=tmp_path / "ckpt.pt", on_rows=interrupt,
                        progress=False)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["iteration"] == 8
    rows, grids = [], []
    resumed = run(config(method), checkpoint=tmp_path / "ckpt.pt", rows=rows, grids=grids)
    assert same_weights(full, resumed)
    assert resumed.history == full.history and rows == full_rows  # restored rows are passed on first
    assert [it for it, _ in grids] == [it for it, _ in full_grids]
    assert all(torch.allclose(a, b, atol=1 / 255) for (_, a), (_, b) in zip(grids, full_grids))


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    """A separate process is SIGKILLed in the middle of training; the rerun resumes from its checkpoint."""
    checkpoint = tmp_path / "ckpt.pt"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import torch
        torch.set_num_threads(1)  # as in this module: bit-identical results need the same thread count
        sys.path.insert(0, {str(ROOT)!r})
        from genstudy.gan import train as gan_train
        from tests.test_gan_train import CRIT, GEN, config, tiny_data

        def kill(rows, attempt):
            if rows[-1]["iteration"] >= 10:
                os.kill(os.getpid(), signal.SIGKILL)

        x, y = tiny_data()
        gan_train.train(x, y, GEN, CRIT, config(), checkpoint={str(checkpoint)!r}, on_rows=kill, progress=False)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == -9, result.stderr
    assert torch.load(checkpoint, weights_only=True)["iteration"] == 8
    resumed = run(config(), checkpoint=checkpoint)
    assert same_weights(run(config()), resumed)


def test_a_checkpoint_for_other_params_is_ignored(tmp_path):
    run(config(iterations=8), checkpoint=tmp_path / "ckpt.pt")
    other = run(config(lr=3e-4), checkpoint=tmp_path / "ckpt.pt")
    assert same_weights(other, run(config(lr=3e-4)))


def test_forced_nan_restarts_at_the_next_seed(monkeypatch):
    real_loss, calls = objectives.generator_loss, []

    def nan_once(method, fake_out):
        calls.append(1)
        loss = real_loss(method, fake_out)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(objectives, "generator_loss", nan_once)
    rows = []
    result = run(config(), rows=rows)
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert (failure["attempt"], failure["seed"], failure["iteration"], failure["action"]) == (1, 0, 5, "restarted")
    assert failure["cause"].startswith("non-finite") and "g_loss = nan" in failure["cause"]
    assert result.seed == 1 and result.converged
    monkeypatch.setattr(objectives, "generator_loss", real_loss)
    # The restart is exactly a fresh run at seed 1.
    clean = run(config(seed=1))
    assert same_weights(result, clean) and result.history == clean.history


def test_nan_in_every_attempt_gives_up_with_every_cause(monkeypatch):
    monkeypatch.setattr(objectives, "critic_loss", lambda method, r, f: (r.mean() - f.mean()) * float("inf"))
    with pytest.raises(gan_train.TrainingFailed, match="all 2 attempts failed") as info:
        run(config(failure={"max_attempts": 2}))
    assert [f["seed"] for f in info.value.failures] == [0, 1]
    assert [f["action"] for f in info.value.failures] == ["restarted", "gave up"]


def test_collapse_checks_restart_then_keep_the_last_attempt():
    # An impossible diversity bar flags every attempt once the warm-up is over.
    cfg = config("dcgan", iterations=12, failure={"warmup": 4, "check_every": 4, "patience": 2,
                                                   "min_diversity": 100.0, "max_attempts": 2})
    result = run(cfg)
    assert [f["iteration"] for f in result.failures] == [8, 8]  # checks at 4 and 8: two strikes
    assert [f["action"] for f in result.failures] == ["restarted", "kept: attempt limit reached"]
    assert all("mode collapse: within-class spread" in f["cause"] for f in result.failures)
    assert result.seed == 1 and not result.converged and len(result.history) == 12


def test_critic_classifier_collapse_check_needs_a_competent_classifier():
    failure = {"warmup": 4, "check_every": 4, "patience": 1, "min_diversity": 0.0, "max_class_fraction": 0.0,
               "max_attempts": 2}
    result = run(config("wgan_gp", failure={**failure, "min_classifier_accuracy": 0.0}))
    assert "the critic's classifier" in result.failures[0]["cause"] and result.failures[0]["iteration"] == 4
    # A classifier no better than chance on real images is no witness: no failure.
    assert run(config("wgan_gp", failure={**failure, "min_classifier_accuracy": 1.01})).failures == []


def test_window_checks():
    f = gan_train.FailureChecks(check_every=3, saturation_prob=0.05, critic_loss_limit=100)
    rows = lambda p, g, d=1.0: [{"d_fake_prob": p, "g_loss": g, "d_loss": d}] * 3  # noqa: E731
    assert "discriminator saturated" in gan_train.check_window(rows(0.5, 2) + rows(0.01, 6), "dcgan", f)
    assert gan_train.check_window(rows(0.5, 6) + rows(0.01, 2), "dcgan", f) is None   # G's loss falls
    assert gan_train.check_window(rows(0.5, 2) + rows(0.3, 6), "dcgan", f) is None    # D not saturated
    assert gan_train.check_window(rows(0.01, 2) + rows(0.01, 6), "wgan", f) is None   # DCGAN only
    assert "critic loss blew up" in gan_train.check_window(rows(0.5, 2) + rows(0.5, 2, -500.0), "wgan_gp", f)


def test_within_class_spread():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert gan_train.within_class_spread(x, y, n_classes=2) == pytest.approx((5.0 + 0.0) / 2)


@pytest.mark.parametrize("name, message", [("gpu", "use cpu, cuda, cuda:N or mps"),
                                           ("cuda", "no CUDA device"), (3, "use cpu, cuda, cuda:N or mps")])
def test_device_param_names_the_key_and_the_fix(name, message):
    import yaml

    from stages import gan_common
    from stages.common import Params, StageError

    if name == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the param is valid here")
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert gan_common.device(Params(data)) == "cpu"  # the committed default
    data["gan"]["train"]["device"] = name
    with pytest.raises(StageError, match=f"gan.train.device = {name!r} is invalid; .*{message}"):
        gan_common.device(Params(data))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_returns_cpu_networks_close_to_the_cpu_run():
    x, y = tiny_data()
    cpu = run(config("wgan_gp", iterations=3))
    cuda = gan_train.train(x, y, GEN, CRIT, config("wgan_gp", iterations=3), progress=False, device="cuda")
    assert next(cuda.generator.parameters()).device.type == "cpu"
    # Same draws from the CPU generator: the first losses agree up to float reordering on the GPU.
    assert cuda.history[0]["d_loss"] == pytest.approx(cpu.history[0]["d_loss"], rel=1e-3, abs=1e-4)
