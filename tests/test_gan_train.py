"""The GAN loop on tiny data: determinism, resume after an interruption or a kill, failure detection and
restarts; the training config built from the params schema, and the device param."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from pydantic import ValidationError

from genstudy import schema
from genstudy.gan import checkpoint, nets, objectives
from genstudy.gan import train as gan_train
from genstudy.gan.checks import check_window, within_class_spread
from genstudy.io import save_torch
from genstudy.pipeline import loaders, params
from genstudy.pipeline.stage import StageError
from tests.helpers.gan import CRIT, FAILURE, GEN, METHODS, SHARED, config, run, same_weights, tiny_data
from tests.helpers.project import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_numbers_and_rows_per_iteration(method):
    rows = []
    a = run(config(method), rows=rows)
    b = run(config(method))
    assert same_weights(a, b) and a.history == b.history
    assert [r["iteration"] for r in rows] == list(range(1, 13))  # every iteration reaches on_rows once
    expected = {"iteration", "d_loss", "g_loss", "d_class_loss", "g_class_loss"} | {
        "dcgan": {"d_real_prob", "d_fake_prob"},
        "wgan": {"wasserstein"},
        "wgan_gp": {"wasserstein", "gradient_penalty"},
    }[method]
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


def test_snapshots_are_the_generator_that_drew_each_grid(tmp_path):
    grids = []
    result = run(config("dcgan"), grids=grids)
    assert sorted(result.snapshots) == [5, 10, 12]
    seconds = [result.snapshots[it]["seconds"] for it in (5, 10, 12)]
    assert 0 < seconds[0] < seconds[1] < seconds[2]
    # The last snapshot holds the returned generator's weights (EMA); its batch-norm statistics
    # were estimated on their own draw, as for every grid.
    final = dict(result.generator.named_parameters())
    assert final and all(torch.equal(p, result.snapshots[12]["generator"][k]) for k, p in final.items())
    # Saved and reloaded with weights_only, each snapshot redraws its grid.
    save_torch(checkpoint.snapshots(result, "tiny", "dcgan"), tmp_path / "snapshots.pt")
    saved, loaded = checkpoint.load_snapshots(tmp_path / "snapshots.pt")
    assert [it for it, _, _ in loaded] == [5, 10, 12] and saved["seconds"] == seconds
    n = nets.N_CLASSES
    z = torch.randn(n, SHARED["z_dim"], generator=torch.Generator().manual_seed(result.seed)).repeat(n, 1)
    with torch.no_grad():
        images = loaded[1][2](z, torch.arange(n).repeat_interleave(n))
    assert torch.allclose(images, grids[1][1], atol=1 / 255)


def test_a_file_that_is_not_a_snapshot_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "snapshots.pt"
    torch.save({"generator_config": {}}, bad)
    with pytest.raises(checkpoint.CheckpointError, match="not a GAN snapshot file"):
        checkpoint.load_snapshots(bad)


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
        gan_train.train(
            x, y, GEN, CRIT, config(method), checkpoint=tmp_path / "ckpt.pt", on_rows=interrupt, progress=False
        )
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["iteration"] == 8
    rows, grids = [], []
    resumed = run(config(method), checkpoint=tmp_path / "ckpt.pt", rows=rows, grids=grids)
    assert same_weights(full, resumed)
    assert resumed.history == full.history and rows == full_rows  # restored rows are passed on first
    assert [it for it, _ in grids] == [it for it, _ in full_grids]
    assert all(torch.allclose(a, b, atol=1 / 255) for (_, a), (_, b) in zip(grids, full_grids))
    assert sorted(resumed.snapshots) == sorted(full.snapshots)  # those before the kill came from the checkpoint
    for it, snap in full.snapshots.items():
        assert all(torch.equal(v, resumed.snapshots[it]["generator"][k]) for k, v in snap["generator"].items())


@pytest.mark.slow
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    """A separate process is SIGKILLed in the middle of training; the rerun resumes from its checkpoint."""
    checkpoint = tmp_path / "ckpt.pt"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import torch
        torch.set_num_threads(1)  # as in this module: bit-identical results need the same thread count
        sys.path.insert(0, {str(ROOT)!r})
        from genstudy.gan import train as gan_train
        from tests.helpers.gan import CRIT, GEN, config, tiny_data

        def kill(rows, attempt):
            if rows[-1]["iteration"] >= 10:
                os.kill(os.getpid(), signal.SIGKILL)

        x, y = tiny_data()
        gan_train.train(x, y, GEN, CRIT, config(), checkpoint={str(checkpoint)!r}, on_rows=kill, progress=False)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
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
    failure = {"warmup": 4, "check_every": 4, "patience": 2, "min_diversity": 100.0, "max_attempts": 2}
    result = run(config("dcgan", iterations=12, failure=failure))
    assert [f["iteration"] for f in result.failures] == [8, 8]  # checks at 4 and 8: two strikes
    assert [f["action"] for f in result.failures] == ["restarted", "kept: attempt limit reached"]
    assert all("mode collapse: within-class spread" in f["cause"] for f in result.failures)
    assert result.seed == 1 and not result.converged and len(result.history) == 12


def test_critic_classifier_collapse_check_needs_a_competent_classifier():
    failure = {
        "warmup": 4,
        "check_every": 4,
        "patience": 1,
        "min_diversity": 0.0,
        "max_class_fraction": 0.01,  # below 1/10: the check fires whenever the classifier is a witness
        "max_attempts": 2,
    }
    result = run(config("wgan_gp", failure={**failure, "min_classifier_accuracy": 0.0}))
    assert "the critic's classifier" in result.failures[0]["cause"] and result.failures[0]["iteration"] == 4
    # A classifier no better than chance on real images is no witness: no failure.
    assert run(config("wgan_gp", failure={**failure, "min_classifier_accuracy": 1.01})).failures == []


def test_window_checks():
    f = gan_train.FailureChecks(**{**FAILURE, "check_every": 3, "saturation_prob": 0.05, "critic_loss_limit": 100})
    rows = lambda p, g, d=1.0: [{"d_fake_prob": p, "g_loss": g, "d_loss": d}] * 3  # noqa: E731
    assert "discriminator saturated" in check_window(rows(0.5, 2) + rows(0.01, 6), "dcgan", f)
    assert check_window(rows(0.5, 6) + rows(0.01, 2), "dcgan", f) is None  # G's loss falls
    assert check_window(rows(0.5, 2) + rows(0.3, 6), "dcgan", f) is None  # D not saturated
    assert check_window(rows(0.01, 2) + rows(0.01, 6), "wgan", f) is None  # DCGAN only
    assert "critic loss blew up" in check_window(rows(0.5, 2) + rows(0.5, 2, -500.0), "wgan_gp", f)


def test_within_class_spread():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert within_class_spread(x, y, n_classes=2) == pytest.approx((5.0 + 0.0) / 2)


# --- the config: from the params schema, no defaults of its own ------------------------------


def committed():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize("method", METHODS)
def test_config_from_params_takes_every_value_from_the_method_and_train_sections(method):
    study = params.validate(committed())
    m, t = getattr(study.gan.methods, method), study.gan.train
    cfg = gan_train.TrainConfig.from_params(method, m, t)
    assert (cfg.method, cfg.iterations, cfg.critic_steps, cfg.optimizer, cfg.lr) == (
        method,
        m.iterations,
        m.critic_steps,
        m.optimizer,
        m.lr,
    )
    assert cfg.betas == (tuple(m.betas) if m.betas is not None else None)
    assert cfg.clip == (m.clip if method == "wgan" else None)
    assert cfg.gp_weight == (m.gp_weight if method == "wgan_gp" else None)
    assert (cfg.ac_weight_critic, cfg.ac_weight_generator) == (m.ac_weight_critic, m.ac_weight_generator)
    for key in ("batch_size", "z_dim", "seed", "ema_decay", "projection", "grid_every", "log_every"):
        assert getattr(cfg, key) == getattr(t, key), key
    assert cfg.checkpoint_every == t.checkpoint_every and cfg.failure == t.failure
    assert gan_train.TrainConfig.from_params(method, m, t, iterations=3, seed=7).iterations == 3


def test_config_from_the_stages_view_records_the_keys_a_training_reads(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    p = params.load(str(tmp_path / "params.yaml"))
    before = params.reads()
    cfg = gan_train.TrainConfig.from_params("wgan", p.gan.methods["wgan"], p.gan.train)
    read = params.reads() - before
    assert {"gan.methods.wgan.clip", "gan.methods.wgan.lr", "gan.train.z_dim", "gan.train.failure"} <= read
    assert not any(k.startswith(("gan.methods.dcgan", "gan.methods.wgan_gp", "gan.train.device")) for k in read)
    assert isinstance(cfg.failure, schema.FailureChecks)


def test_config_and_failure_checks_have_no_defaults_of_their_own():
    with pytest.raises(TypeError, match="missing"):
        gan_train.TrainConfig(method="wgan", iterations=3, critic_steps=1, optimizer="rmsprop", lr=1e-4)
    with pytest.raises(ValidationError, match="probe_per_class"):
        gan_train.FailureChecks(**{k: v for k, v in FAILURE.items() if k != "probe_per_class"})
    with pytest.raises(ValidationError, match="warmup"):
        gan_train.FailureChecks(**{**FAILURE, "warmup": -1})
    with pytest.raises(ValueError, match="unknown GAN method 'lsgan'"):
        dataclasses.replace(config("wgan_gp"), method="lsgan")
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        dataclasses.replace(config("wgan_gp"), optimizer="sgd")


# --- the device param --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, message", [("gpu", "use cpu, cuda, cuda:N or mps"), ("cuda", "no CUDA device"), ("tpu", "use cpu")]
)
def test_device_param_names_the_key_and_the_fix(name, message):
    if name == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the param is valid here")
    assert params.validate(committed()).gan.train.device == "cpu"  # the committed default
    assert loaders.device("cpu") == "cpu"
    with pytest.raises(StageError, match=f"^params.yaml: gan.train.device = {name!r} is invalid; .*{message}.*Fix"):
        loaders.device(name)


def test_a_device_that_is_not_a_string_is_refused_by_the_schema():
    data = committed()
    data["gan"]["train"]["device"] = 3
    with pytest.raises(StageError, match="gan.train.device = 3 is invalid; it must be a valid string"):
        params.validate(data)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_returns_cpu_networks_close_to_the_cpu_run():
    x, y = tiny_data()
    cpu = run(config("wgan_gp", iterations=3))
    cuda = gan_train.train(x, y, GEN, CRIT, config("wgan_gp", iterations=3), progress=False, device="cuda")
    assert next(cuda.generator.parameters()).device.type == "cpu"
    # Same draws from the CPU generator: the first losses agree up to float reordering on the GPU.
    assert cuda.history[0]["d_loss"] == pytest.approx(cpu.history[0]["d_loss"], rel=1e-3, abs=1e-4)
