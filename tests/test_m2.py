"""M2 and M1 + M2 (genstudy.m2): the bounds against their definitions, the data split, determinism,
and the train_m2 stages in the shared tiny study."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from genstudy import m2
from genstudy.data import balanced_subset
from genstudy.io import load_model
from tests.helpers.project import ran_stages
from tests.helpers.study import edited_params, set_key, stale


@pytest.fixture
def model(one_torch_thread):
    torch.manual_seed(0)
    return m2.M2(x_dim=6, hidden=8, z_dim=3, likelihood="gaussian", classes=10)


def test_softplus_matches_torch_in_value_and_gradient(one_torch_thread):
    x = torch.cat([torch.linspace(-30, 30, 601), torch.randn(1000) * 5]).double().requires_grad_()
    assert torch.autograd.gradcheck(m2.softplus, (x[:50],))
    m2.softplus(x).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    F.softplus(x).sum().backward()
    assert torch.allclose(m2.softplus(x), F.softplus(x), atol=1e-12)
    assert torch.allclose(ours, x.grad, atol=1e-12)
    xf = x.detach().float()
    assert (m2.softplus(xf) - F.softplus(xf)).abs().max() < 1e-6  # float32, as M2 trains


def test_unlabelled_bound_is_the_weighted_sum_of_the_ten_labelled_bounds_plus_the_entropy(model):
    x = torch.randn(4, 6)
    eps = torch.randn(10, 4, 3)
    u, bounds = model.unlabelled_bound(x, eps)
    q = F.softmax(model(x), dim=1)
    explicit = torch.zeros(4)
    for k in range(10):
        y = F.one_hot(torch.full((4,), k), 10).float()
        l_k = model.labelled_bound(x, y, eps[k])
        assert torch.allclose(bounds[:, k], l_k, atol=1e-5)
        explicit += q[:, k] * l_k
    entropy = -(q * q.log()).sum(1)
    assert torch.allclose(u, explicit + entropy, atol=1e-5)


def test_labelled_bound_is_log_likelihood_plus_log_prior_minus_kl(model):
    """L(x, y) with the encoder's noise set to zero: z = mu, so the bound is checked term by term."""
    x, y = torch.randn(3, 6), F.one_hot(torch.tensor([1, 4, 9]), 10).float()
    h = F.softplus(model.encoder_x(x) + model.encoder_y(y))
    mu, logvar = model.mu(h), model.logvar(h)
    mean, log_var_x = model.decoder(torch.cat([mu, y], 1)).chunk(2, dim=1)
    log_px = torch.distributions.Normal(mean, torch.exp(0.5 * log_var_x)).log_prob(x).sum(1)
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), torch.distributions.Normal(0.0, 1.0)
    ).sum(1)
    expected = log_px - math.log(10) - kl
    assert torch.allclose(model.labelled_bound(x, y, torch.zeros(3, 3)), expected, atol=1e-4)


def test_the_classifier_learns_from_unlabelled_images(model):
    """U(x) alone sends a gradient to q(y|x): the unlabelled images shape the classifier."""
    u, _ = model.unlabelled_bound(torch.randn(5, 6), torch.randn(10, 5, 3))
    u.sum().backward()
    grads = [p.grad for p in model.classifier.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_the_classification_weight_is_alpha_times_total_over_labelled(model):
    """Same noise, alpha 0.1 vs 0.2: the objectives differ by exactly 0.1 x the labelled cross-entropy."""
    x_l, y_l, x_u = torch.randn(2, 6), torch.tensor([0, 3]), torch.randn(2, 6)
    loss_a, *_ = m2.objective(model, x_l, y_l, x_u, 10, 90, alpha=0.1, generator=torch.Generator().manual_seed(0))
    loss_b, *_ = m2.objective(model, x_l, y_l, x_u, 10, 90, alpha=0.2, generator=torch.Generator().manual_seed(0))
    ce = F.cross_entropy(model(x_l), y_l)
    # J / N_total gains N_l * beta * mean log q = alpha * N_total * mean log q per unit of alpha, over N_total.
    assert (loss_b - loss_a).item() == pytest.approx(0.1 * ce.item(), rel=1e-4)


def test_bernoulli_m2_on_pixels_has_a_finite_bound(one_torch_thread):
    torch.manual_seed(0)
    net = m2.M2(x_dim=784, hidden=16, z_dim=4, likelihood="bernoulli")
    u, bounds = net.unlabelled_bound(torch.rand(3, 784), torch.randn(10, 3, 4))
    assert torch.isfinite(u).all() and bounds.shape == (3, 10) and (bounds < 0).all()


def test_an_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood 'poisson'"):
        m2.M2(x_dim=4, likelihood="poisson")


def _train(seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(120, 6), torch.randint(0, 10, (120,))
    net = m2.M2(x_dim=6, hidden=8, z_dim=3)
    history, state = m2.train(
        net, x, torch.full_like(x, 0.1), y, torch.arange(20), torch.arange(40, 120), x[20:40], y[20:40],
        epochs=2, batch_unlabelled=20, batch_labelled=10, lr=1e-3, alpha=0.1, generator=gen,
    )  # fmt: skip
    return history, state


def test_same_seed_same_numbers(one_torch_thread):
    (h1, s1), (h2, s2) = _train(3), _train(3)
    assert h1 == h2
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    h3, _ = _train(4)
    assert h3 != h1


def test_validation_lies_outside_every_labelled_subset():
    labels = np.repeat(np.arange(10), 100)
    valid = m2.validation_split(labels, [20, 50], [0, 1], size=300, seed=0)
    assert len(valid) == len(set(valid)) == 300
    for seed in (0, 1):
        for n in (20, 50):
            assert not set(valid) & set(balanced_subset(labels, n, seed))
    free = 1000 - len(set(balanced_subset(labels, 50, 0)) | set(balanced_subset(labels, 50, 1)))
    assert len(m2.validation_split(labels, [50], [0, 1], size=free, seed=0)) == free
    with pytest.raises(ValueError, match=f"only {free} training images"):
        m2.validation_split(labels, [50], [0, 1], size=free + 1, seed=0)


# --- the stages, in the shared tiny study (tests/conftest.py) --------------------------------


@pytest.mark.slow
def test_train_m2_stages_run_for_every_label_subset(study):
    project = study.path
    runs = [(n, s) for n in (20, 50) for s in (0,)]
    assert {f"train_m2@m1-{n}-{s}" for n, s in runs} <= ran_stages(study.first_output)
    for n, s in runs:
        result = json.loads((project / f"metrics/m2/m1-n{n}-seed{s}.json").read_text())
        assert 0 <= result["accuracy"] <= 1 and result["error"] == pytest.approx(
            100 * (1 - result["accuracy"]), abs=0.01
        )
        assert result["labelled"] == n and result["validation"] == 50
        assert result["labelled"] + result["unlabelled"] + result["validation"] == 300  # every training image once
        history = pd.read_csv(project / f"metrics/m2_history/m1-n{n}-seed{s}.csv")
        assert list(history.epoch) == [1, 2] and history.valid_accuracy.max() == pytest.approx(
            result["valid_accuracy"], abs=1e-4
        )
        model = load_model(m2.M2, project / f"models/m2/m1-n{n}-seed{s}.pt", "train_m2")
        assert model.likelihood == "gaussian"
        saved = torch.load(project / f"models/m2/m1-n{n}-seed{s}.pt", weights_only=True)
        assert {"columns", "shift", "scale"} <= set(saved)
    table = (project / "reports/m1_table.md").read_text()
    assert "| M1 + M2 |" in table and "paper (MNIST): M1+M2" in table  # the paper's MNIST column beside ours
    summary = json.loads((project / "metrics/m1.json").read_text())
    assert set(summary["m1_m2"]) == {"20", "50"}


@pytest.mark.slow
def test_an_m2_param_stales_only_the_m2_stages(study):
    with edited_params(study, lambda p: set_key(p, "m2.epochs", 3)):
        status = stale(study)
    assert set(status) == {"train_m2@m1-20-0", "train_m2@m1-50-0"}
    assert stale(study) == {}
