"""The theory questions: estimators against closed forms, FLOP formulas against torch's counter,
slope fitting on synthetic data, the 2-D GAN on a few hundred epochs, and the three stages under DVC."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy.stats import wasserstein_distance, wasserstein_distance_nd

from genstudy.pipeline import params, paths
from genstudy.pipeline.stage import StageError
from genstudy.theory import answers, gan2d, gan2d_figure
from genstudy.theory import divergences as dv
from genstudy.theory import sequence_cost as sc
from genstudy.theory.ot import wasserstein
from tests.helpers.project import ROOT, ran_stages
from tests.helpers.study import flush_pending, mlflow_query, rerun_back, stale

# Tiny matrices: with two threads on a busy machine each step waits on the other thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- optimal transport -------------------------------------------------------------------


def test_exact_ot_matches_scipys_linear_program_and_1d_closed_form():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 2)), rng.normal(1.0, 2.0, size=(60, 2))
    assert wasserstein(x, y) == pytest.approx(wasserstein_distance_nd(x, y), rel=1e-9)
    a, b = rng.random(200), rng.random(200) + 0.3
    on_a_line = lambda v: np.column_stack([v, np.zeros_like(v)])  # noqa: E731
    assert wasserstein(on_a_line(a), on_a_line(b)) == pytest.approx(wasserstein_distance(a, b), rel=1e-9)
    with pytest.raises(ValueError):
        wasserstein(x, y[:10])


# --- question 1: divergences between two segments ------------------------------------------


def test_closed_forms():
    assert dv.closed_forms(0.0) == {"kl": 0.0, "js": 0.0, "w": 0.0}
    assert dv.closed_forms(0.3) == {"kl": math.inf, "js": pytest.approx(math.log(2)), "w": 0.3}


def test_histogram_estimates_reach_the_closed_forms_once_bins_separate_the_segments():
    pair = dv.SegmentPair(20000, seed=0)
    p, q = pair.samples(0.3, 20000)
    assert dv.histogram_js(p, q, 0.1) == pytest.approx(math.log(2), abs=1e-12)
    assert dv.histogram_kl(p, q, 0.1) == math.inf
    # Bins wider than twice the gap hold both segments: the coarse histogram cannot see theta.
    assert dv.histogram_js(p, q, 1.0) < 0.01
    p0, q0 = pair.samples(0.0, 20000)
    assert dv.histogram_js(p0, q0, 0.1) < 0.01
    assert dv.histogram_kl(p0, q0, 0.1) < 0.01


def test_knn_kl_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(1)
    p, q = rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + [1.0, 0.0]
    assert dv.knn_kl(p, q) == pytest.approx(0.5, abs=0.1)  # KL(N(0,I) || N(mu,I)) = |mu|^2 / 2
    assert abs(dv.knn_kl(p, rng.normal(size=(5000, 2)))) < 0.1


def test_knn_kl_diverges_like_2_ln_n_for_disjoint_segments_only():
    growth = dv.knn_growth(dv.SegmentPair(10000, seed=0), [0.0, 0.5], [100, 1000, 10000])
    assert growth[0.5]["slope_per_ln_n"] == pytest.approx(2.0, abs=0.15)
    assert abs(growth[0.0]["slope_per_ln_n"]) < 0.15


def test_sweep_only_wasserstein_has_a_gradient():
    pair = dv.SegmentPair(2000, seed=0)
    rows = dv.sweep(
        pair, [0.0, 0.25, 0.5, 1.0], fd_step=0.01, w_n=300, hist_n=2000, bin_widths=[0.05], knn_sizes=[200, 2000]
    )
    for row in rows[1:]:
        assert row["w_ot"] == pytest.approx(row["theta"], abs=0.02)
        assert row["grad_w_ot"] == pytest.approx(1.0, abs=0.05)
        assert row["js_hist_h0.05"] == pytest.approx(math.log(2)) and row["grad_js_hist_h0.05"] == 0
        assert row["kl_hist_h0.05"] == math.inf and math.isnan(row["grad_kl_hist_h0.05"])
    assert rows[0]["w_ot"] < 0.1 and rows[0]["js_hist_h0.05"] < 0.05
    summary = answers.summarise(rows, dv.knn_growth(pair, [0.0, 0.5], [200, 2000]), [0.05], [200, 2000], 0.01)
    assert summary["w"]["fitted_slope_dW_dtheta"] == pytest.approx(1.0, abs=0.05)
    assert summary["js"]["max_abs_gradient_away_from_jump"] == 0
    assert summary["kl"]["histogram_inf_fraction_theta_gt_0"]["0.05"] == 1.0
    assert summary["answers"]["W"] == "|theta|"
    assert f"{summary['w']['fitted_slope_dW_dtheta']:.3f}" in answers.explain(summary)["W"]
    assert answers.json_safe({"a": {"b": math.inf}, "c": 1.0}) == {"a": {"b": "inf"}, "c": 1.0}


def test_same_seed_same_estimates():
    kwargs = dict(fd_step=0.01, w_n=100, hist_n=500, bin_widths=[0.1], knn_sizes=[100, 500])
    first = dv.sweep(dv.SegmentPair(500, seed=3), [0.0, 0.5], **kwargs)
    assert first == dv.sweep(dv.SegmentPair(500, seed=3), [0.0, 0.5], **kwargs)
    assert first != dv.sweep(dv.SegmentPair(500, seed=4), [0.0, 0.5], **kwargs)


# --- question 2: sequence generation cost ---------------------------------------------------

ARCH = dict(vocab=16, d_model=32, n_layers=2, n_head=4)
SIZES = dict(vocab=16, d_model=32, n_layers=2)


@pytest.mark.parametrize("kind", sc.KINDS)
def test_flop_formulas_match_torchs_flop_counter(kind):
    counted = sc.counted_flops(kind, range(1, 7), **ARCH)
    assert counted == {n: sc.analytic_flops(kind, n, **SIZES) for n in range(1, 7)}


def test_kv_cache_generates_the_same_tokens_as_recomputing():
    model = sc.build("transformer_kv_cache", max_len=40, **ARCH)
    cached = sc.generate(model, "transformer_kv_cache", 40)
    assert cached.shape == (1, 40)
    assert torch.equal(cached, sc.generate(model, "transformer_recompute", 40))
    lstm = sc.build("lstm", max_len=40, **ARCH)
    assert torch.equal(sc.generate(lstm, "lstm", 20), sc.generate(lstm, "lstm", 20))


def test_loglog_slope_recovers_exponents_and_needs_large_n():
    ns = np.array([16, 32, 64, 128, 256, 512, 1024])
    assert sc.loglog_slope(ns, 3.0 * ns**2.5, 16) == pytest.approx(2.5)
    # A fixed per-step cost bends the small-N end: fitting the large-N end gets closer to 3.
    cost = 1e-3 * ns + 1e-7 * ns**3  # crossover at N = 100
    assert sc.loglog_slope(ns, cost, 16) < 2.5 < 2.9 < sc.loglog_slope(ns, cost, 512) < 3
    with pytest.raises(ValueError):
        sc.loglog_slope(ns, cost, 1024)


def test_flop_slopes_approach_the_asymptotic_exponents():
    big = [2**15, 2**16]
    for kind, exponent in sc.EXPECTED_EXPONENT.items():
        slope = sc.loglog_slope(
            big, [sc.analytic_flops(kind, n, vocab=64, d_model=64, n_layers=2) for n in big], big[0]
        )
        assert slope == pytest.approx(exponent, abs=0.05)


def test_timing_grid_keeps_the_best_run_and_skips_long_ones():
    models = {kind: sc.build(kind, max_len=16, **ARCH) for kind in ("lstm", "transformer_kv_cache")}
    lengths = {"lstm": [4, 16], "transformer_kv_cache": [8]}
    rounds = []
    best = sc.time_grid(models, lengths, repeats=3, progress=lambda jobs, r: rounds.append(len(jobs)) or jobs)
    assert {k: len(v) for k, v in best.items()} == {"lstm": 2, "transformer_kv_cache": 1}
    assert all(0 < s < 1 for v in best.values() for s in v) and rounds == [3, 3, 3]
    rounds.clear()
    sc.time_grid(models, lengths, repeats=3, budget_s=0.0, progress=lambda jobs, r: rounds.append(len(jobs)) or jobs)
    assert rounds == [3, 0, 0]


# --- question 3: the 2-D GAN ---------------------------------------------------------------

RING = ROOT / "genstudy/theory/ring8.csv"


def test_ring_target_is_eight_modes_of_radius_two():
    target = gan2d.Mixture.from_csv(RING)
    assert len(target) == 8
    assert torch.allclose(target.centres.norm(dim=1), torch.full((8,), 2.0), atol=1e-5)
    real = target.sample(4000, torch.Generator().manual_seed(0))
    modes = target.modes(real)
    assert modes["modes_covered"] == 8 and modes["near_fraction"] > 0.98
    one_mode = target.centres[0] + 0.1 * torch.randn(1000, 2)
    assert target.modes(one_mode)["modes_covered"] == 1


def test_bad_target_file_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,std,weight\n0,0,-1,1\n")
    with pytest.raises(ValueError):
        gan2d.Mixture.from_csv(bad)


def test_generator_gradient_is_the_non_saturating_loss_gradient():
    model = gan2d.GAN2D(z_dim=2, hidden=8, depth=0)  # D(x) = w.x + b: a closed form
    w, b = model.D[0].weight.detach()[0], model.D[0].bias.detach()[0]
    x = torch.randn(5, 2)
    # -d/dx softplus(-(w.x + b)) = sigmoid(-(w.x + b)) w
    expected = torch.sigmoid(-(x @ w + b))[:, None] * w
    assert torch.allclose(gan2d.generator_gradients(model, x), expected, atol=1e-6)


def train_small(seed=0, epochs=300):
    target = gan2d.Mixture.from_csv(RING)
    torch.manual_seed(seed)
    model = gan2d.GAN2D(2, 32, 2)
    return gan2d.train(
        model,
        target,
        epochs=epochs,
        batch_size=128,
        lr=1e-3,
        beta1=0.5,
        seed=seed,
        eval_every=100,
        eval_size=200,
        snapshot_epochs=[0, 100],
        resolution=20,
        progress=False,
    )


def test_gan_learns_and_is_deterministic():
    losses, evaluations, snapshots = train_small()
    assert losses.shape == (300, 2) and np.isfinite(losses).all()
    assert [r["epoch"] for r in evaluations] == [0, 100, 200, 300]
    assert evaluations[-1]["w1"] < evaluations[0]["w1"] - 0.5  # the generator moves towards the ring
    assert [s["epoch"] for s in snapshots] == [0, 100, 300]
    s = snapshots[-1]
    assert s["fake"].shape == s["push"].shape == (200, 2) and s["d_map"].shape == (20, 20)
    assert ((0 <= s["d_map"]) & (s["d_map"] <= 1)).all()
    again = train_small()
    assert again[1] == evaluations and np.array_equal(again[0], losses)
    assert train_small(seed=1)[1] != evaluations
    fig = gan2d_figure.figure(snapshots, losses, evaluations, 0.3, 0.15)
    assert len(fig.axes) >= 5


def test_convergence_requires_the_criterion_to_hold_to_the_end():
    ev = lambda e, w, m: {"epoch": e, "w1": w, "modes_covered": m}  # noqa: E731
    history = [ev(0, 2.0, 0), ev(100, 0.2, 8), ev(200, 0.5, 8), ev(300, 0.2, 8), ev(400, 0.1, 8)]
    result = gan2d.convergence(history, 0.3, 8)
    assert result == {
        "converged": True,
        "converged_epoch": 300,
        "first_epoch_meeting_criterion": 100,
        "evaluations_meeting_criterion": "3/5",
    }
    result = gan2d.convergence(history + [ev(500, 0.1, 7)], 0.3, 8)
    assert not result["converged"] and result["converged_epoch"] is None


# --- parameter errors: the schema names the key -------------------------------------------------------


def theory_params(edit) -> dict:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(data["theory"])
    return data


BAD_THEORY = [
    (lambda t: t["sequence_cost"].update(n_head=5), "theory.sequence_cost.n_head = 5 is invalid; it must divide"),
    (lambda t: t["sequence_cost"].update(fit_min_length=10**6), "theory.sequence_cost.fit_min_length = 1000000"),
    (lambda t: t["divergences"].update(fd_step=0.5), "theory.divergences.fd_step = 0.5 is invalid"),
    (lambda t: t["divergences"].update(growth_thetas=[2]), "theory.divergences.growth_thetas.0 = 2 is invalid"),
    (lambda t: t["gan2d"].update(snapshot_epochs=[10**9]), "theory.gan2d.snapshot_epochs = [1000000000]"),
    (lambda t: t["gan2d"].update(lr=0), "theory.gan2d.lr = 0 is invalid; it must be greater than 0"),
]


@pytest.mark.parametrize("edit, message", BAD_THEORY, ids=[m.split(" =")[0] for _, m in BAD_THEORY])
def test_bad_params_name_the_key(edit, message):
    with pytest.raises(StageError, match="^params.yaml: " + re.escape(message)):
        params.validate(theory_params(edit))


def test_flop_formulas_are_checked_against_the_counter_before_timing(monkeypatch):
    sc.check_flop_formulas(ARCH, 6)
    monkeypatch.setattr(sc, "analytic_flops", lambda kind, n, **sizes: 1)
    with pytest.raises(AssertionError, match="lstm, N = 1: FlopCounterMode counts .* FLOPs, the formula 1"):
        sc.check_flop_formulas(ARCH, 6)


def test_analysis_fits_slopes_of_measured_seconds_and_analytic_flops():
    timed = {"lstm": [16, 32, 64], "transformer_recompute": [16, 32], "transformer_kv_cache": [16, 32, 64]}
    seconds = {k: [1e-4 * n ** sc.EXPECTED_EXPONENT[k] for n in ns] for k, ns in timed.items()}
    flop_lengths = [16, 32, 64, 2**14, 2**15, 2**16]
    arch = dict(SIZES, n_head=4)
    _, flops, slopes, table, summary = sc.analyse(seconds, timed, flop_lengths, 16, arch, 6)
    for kind, exponent in sc.EXPECTED_EXPONENT.items():
        assert slopes[kind]["time"] == pytest.approx(exponent) and slopes[kind]["expected"] == exponent
        assert slopes[kind]["flops_large_n"] == pytest.approx(exponent, abs=0.05)
        assert flops[kind]["flops"] == [sc.analytic_flops(kind, n, **SIZES) for n in flop_lengths]
    assert list(table["n"]) == flop_lengths and table["transformer_recompute_seconds"].isna().sum() == 4
    assert summary["seconds_at_longest"]["transformer_recompute"]["n"] == 32
    assert summary["flop_formulas_match_flopcounter_up_to"] == 6 and summary["architecture"] == arch


# --- the three stages under DVC, in the shared study -----------------------------------------------


THEORY = ("theory_divergences", "theory_sequence_cost", "theory_gan2d")


@pytest.mark.slow
def test_theory_stages_under_dvc(study):
    project = study.path
    assert set(THEORY) <= ran_stages(study.first_output)
    for name in ("divergences", "sequence_cost", "gan2d"):
        assert (project / f"reports/figures/theory/{name}.png").stat().st_size > 10000
        assert json.loads((project / f"metrics/theory/{name}.json").read_text())
    slopes = json.loads((project / "metrics/theory/sequence_cost.json").read_text())["slopes"]
    assert slopes["lstm"]["flops_large_n"] == pytest.approx(1.0)
    divergences = json.loads((project / "metrics/theory/divergences.json").read_text())
    assert divergences["w"]["fitted_slope_dW_dtheta"] == pytest.approx(1.0, abs=0.05)
    assert {"js_hist", "kl_knn"} <= set(pd.read_csv(project / "metrics/theory/divergences.csv"))  # dvc.yaml's plots

    def runs():
        names = [name for (name,) in mlflow_query(project, "select name from runs")]
        return {stage: names.count(stage) for stage in THEORY}

    before = runs()
    assert all(n >= 1 for n in before.values())
    # Nothing reruns; forced reruns give byte-identical metrics (timings aside), one MLflow run each.
    assert stale(study) == {}
    assert ran_stages(study.dvc("repro", *map(paths.target, THEORY)).stdout) == set()
    kept = {
        p: (project / p).read_bytes()
        for p in ("metrics/theory/divergences.json", "metrics/theory/gan2d.json", "metrics/theory/gan2d_history.csv")
    }
    study.dvc("repro", "--force", "--single-item", *map(paths.target, ["theory_divergences", "theory_gan2d"]))
    for path, content in kept.items():
        assert (project / path).read_bytes() == content, path
    after = {stage: before[stage] + (stage != "theory_sequence_cost") for stage in THEORY}
    assert flush_pending(study) == 2, "their runs were deferred"
    assert runs() == after
    assert rerun_back(study) == {"report"}  # new run records: the report follows
