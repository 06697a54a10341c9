"""The three objectives against hand-computed values."""

import math

import pytest
import torch
from torch import nn

from genstudy.gan import nets, objectives

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_dcgan_losses_match_bce_and_are_non_saturating():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2, 1.0])
    bce = nn.BCELoss()
    expected = bce(torch.sigmoid(real), torch.ones(3)) + bce(torch.sigmoid(fake), torch.zeros(3))
    assert objectives.critic_loss("dcgan", real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    # G minimises -log D(G(z)) (non-saturating), not log(1 - D(G(z))).
    expected_g = -torch.log(torch.sigmoid(fake)).mean()
    assert objectives.generator_loss("dcgan", fake).item() == pytest.approx(expected_g.item(), rel=1e-6)
    # where D confidently rejects a sample, the non-saturating gradient stays large
    logit = torch.tensor([-10.0], requires_grad=True)
    objectives.generator_loss("dcgan", logit).backward()
    assert logit.grad.abs().item() > 0.99


@pytest.mark.parametrize("method", ["wgan", "wgan_gp"])
def test_wasserstein_losses(method):
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5, 1.0, 2.0])
    assert objectives.critic_loss(method, real, fake).item() == pytest.approx(0.75 - 2.0)
    assert objectives.generator_loss(method, fake).item() == pytest.approx(-0.75)
    assert objectives.wasserstein_estimate(real, fake).item() == pytest.approx(1.25)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown GAN method 'lsgan'"):
        objectives.critic_loss("lsgan", torch.zeros(1), torch.zeros(1))


def test_interpolation_uses_one_eps_per_sample():
    real, fake = torch.ones(4, 1, 28, 28), torch.zeros(4, 1, 28, 28)
    x_hat = objectives.interpolate(real, fake, torch.Generator().manual_seed(0))
    eps = torch.rand(4, generator=torch.Generator().manual_seed(0))
    for i in range(4):
        assert torch.allclose(x_hat[i], torch.full((1, 28, 28), eps[i].item()))  # constant within a sample
    assert len(set(x_hat[:, 0, 0, 0].tolist())) == 4  # different between samples


def test_gradient_penalty_of_a_linear_critic_is_hand_computed():
    # f(x) = <w, x>: grad = w everywhere, so the penalty is (||w|| - 1)^2 whatever eps is.
    w = torch.arange(784, dtype=torch.float32).reshape(1, 28, 28) / 1000
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    penalty = objectives.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_gradient_penalty_is_per_sample_over_all_pixels():
    # f(x) = sum(x^2) / 2: grad = x_hat, so the penalty is mean_i (||x_hat_i|| - 1)^2 with each
    # norm over all 784 pixels of sample i (a per-pixel or per-batch norm gives other numbers).
    real, fake = torch.rand(5, 1, 28, 28), torch.rand(5, 1, 28, 28)
    critic = lambda x: x.pow(2).flatten(1).sum(1) / 2  # noqa: E731
    penalty = objectives.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(1))
    eps = torch.rand(5, generator=torch.Generator().manual_seed(1)).view(5, 1, 1, 1)
    x_hat = eps * real + (1 - eps) * fake
    expected = sum((math.sqrt((x_hat[i] ** 2).sum().item()) - 1) ** 2 for i in range(5)) / 5
    assert penalty.item() == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_trains_the_critic_and_is_finite_at_zero_gradient():
    d = nets.Critic(filters=4, norm="layer")
    y = torch.arange(4)
    real, fake = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    penalty = objectives.gradient_penalty(lambda x: d(x, y)[0], real, fake, torch.Generator().manual_seed(0))
    penalty.backward()
    grads = [p.grad for p in d.critic_parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    # a constant critic has zero input gradient: penalty 1, and a finite (zero) gradient thanks to eps_norm
    const = torch.zeros(1, requires_grad=True)
    pen = objectives.gradient_penalty(lambda x: const * x.flatten(1).sum(1), real, fake)
    pen.backward()
    assert pen.item() == pytest.approx(1.0, abs=1e-5) and torch.isfinite(const.grad).all()


def test_clipping_keeps_every_critic_weight_in_range():
    torch.manual_seed(0)
    d = nets.Critic(filters=4, norm="batch")
    for p in d.parameters():
        with torch.no_grad():
            p.mul_(100)
    objectives.clip_weights(d.critic_parameters(), 0.01)
    for p in d.critic_parameters():
        assert p.abs().max() <= 0.01
    assert d.classifier.weight.abs().max() > 0.01  # the auxiliary classifier is no part of f
    # values inside the range are untouched
    p = nn.Parameter(torch.tensor([-0.02, -0.005, 0.0, 0.004, 0.5]))
    objectives.clip_weights([p], 0.01)
    assert p.tolist() == pytest.approx([-0.01, -0.005, 0.0, 0.004, 0.01])
