"""The three GAN objectives of Gulrajani et al. (2017), Section 5.

dcgan    non-saturating GAN (Goodfellow et al. 2014): D minimises BCE on real=1, fake=0
         (critic outputs are logits); G minimises -log D(G(z)), not log(1 - D(G(z))).
wgan     Wasserstein critic (Arjovsky et al. 2017): D minimises E[f(fake)] - E[f(real)],
         G minimises -E[f(fake)]; f kept Lipschitz by clipping its weights to [-c, c].
wgan_gp  the same losses plus lambda * E[(||grad_x f(x_hat)||_2 - 1)^2] at random points
         x_hat between real and fake samples (one eps ~ U[0, 1] per sample).
"""

import torch
import torch.nn.functional as F

from genstudy.gan import METHODS


def _check(method):
    if method not in METHODS:
        raise ValueError(f"unknown GAN method {method!r}; choose one of {', '.join(METHODS)}")


def critic_loss(method: str, real_out, fake_out):
    """Loss the critic minimises, from its outputs on real (B,) and fake (B,) images."""
    _check(method)
    if method == "dcgan":
        return F.binary_cross_entropy_with_logits(
            real_out, torch.ones_like(real_out)
        ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
    return fake_out.mean() - real_out.mean()


def generator_loss(method: str, fake_out):
    """Loss the generator minimises, from the critic's outputs on its samples (B,)."""
    _check(method)
    if method == "dcgan":
        # Non-saturating: -log sigmoid(l) has a strong gradient exactly where D rejects the sample.
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    return -fake_out.mean()


def wasserstein_estimate(real_out, fake_out):
    """E[f(real)] - E[f(fake)]: the critic's estimate of W(P_r, P_g) (up to the Lipschitz constant)."""
    return real_out.mean() - fake_out.mean()


def interpolate(real, fake, generator=None):
    """x_hat = eps * real + (1 - eps) * fake with one eps ~ U[0, 1] per sample (not per pixel)."""
    # Drawn where `generator` lives (the CPU), then moved: the same eps for a seed on every device.
    eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), generator=generator, dtype=real.dtype).to(real.device)
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic_fn, real, fake, generator=None, eps_norm: float = 1e-12):
    """E[(||grad_x f(x_hat)||_2 - 1)^2], unweighted (the caller applies lambda, once).

    critic_fn maps images to critic values (B,). The norm is taken per sample over all
    its pixels (flattened first); `eps_norm` inside the square root keeps the gradient of
    the norm finite where the input gradient is exactly zero.
    """
    x_hat = interpolate(real.detach(), fake.detach(), generator).requires_grad_(True)
    out = critic_fn(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + eps_norm)  # (B,)
    return (norm - 1).pow(2).mean()


@torch.no_grad()
def clip_weights(parameters, c: float):
    """WGAN's Lipschitz constraint: every weight into [-c, c], in place."""
    for p in parameters:
        p.clamp_(-c, c)
