"""Samplers and the exact empirical model against ground truth (diffusers, closed forms)."""

import numpy as np
import torch
from diffusers import DDPMScheduler

from memgen.models.empirical import EmpiricalEpsModel
from memgen.samplers import ddim_from, ddpm_ancestral
from memgen.schedules import DDPMSchedule

torch.set_num_threads(1)


def test_alpha_bar_is_cumprod_of_one_minus_beta():
    s = DDPMSchedule()
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(s.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-5)
    # docs/method.md §2.1 table (0-based index)
    np.testing.assert_allclose(s.sigmas[[0, 1, 5, 10, 25, 100, 500]].numpy(),
                               [0.0100, 0.0148, 0.0300, 0.0468, 0.0951, 0.324, 0.960], atol=6e-4)
    assert abs(float(s.alphas_cumprod[999]) - 4.04e-5) < 1e-6


class _LinearEps(torch.nn.Module):
    def forward(self, x, t):
        return 0.3 * x + 0.001 * t.view(-1, 1, 1, 1).float()


def test_ddpm_ancestral_matches_diffusers_scheduler():
    model = _LinearEps()
    gen = torch.Generator().manual_seed(0)
    ours = ddpm_ancestral(model, (3, 1, 4, 4), generator=gen, progress=False)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True)
    sched.set_timesteps(1000)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((3, 1, 4, 4), generator=gen)
    for t in sched.timesteps:
        eps = model(x, torch.full((3,), int(t)))
        x = sched.step(eps, t, x, generator=gen).prev_sample
    torch.testing.assert_close(ours, x, atol=1e-4, rtol=1e-4)


def test_empirical_model_memorizes_with_ddpm_and_ddim():
    gen = torch.Generator().manual_seed(1)
    train = torch.rand((3, 1, 4, 4), generator=gen) * 2 - 1
    model = EmpiricalEpsModel(train)
    samples = ddpm_ancestral(model, (20, 1, 4, 4), generator=gen, progress=False)
    d = torch.cdist(samples.flatten(1), train.flatten(1)).min(1).values
    assert (d < 1e-3).float().mean() == 1.0
    # DDIM from an intermediate noise level goes back to the nearest training point
    x_t = DDPMSchedule().perturb(train, torch.full((3,), 50), torch.randn(train.shape, generator=gen))
    rec = ddim_from(model, x_t, 50, 20)
    torch.testing.assert_close(rec, train, atol=1e-3, rtol=0)


def test_empirical_log_density_matches_mixture():
    train = torch.tensor([[[[0.5, -0.5]]], [[[-0.2, 0.1]]]])  # K=2, d=2
    model = EmpiricalEpsModel(train)
    x = torch.tensor([[[[0.1, 0.2]]]])
    t = torch.tensor([100])
    abar = DDPMSchedule().alphas_cumprod.double()[100]
    var = 1 - abar
    comps = [torch.distributions.MultivariateNormal(abar.sqrt() * xi.flatten().double(),
                                                    var * torch.eye(2, dtype=torch.float64))
             for xi in train]
    ref = torch.logsumexp(torch.stack([c.log_prob(x.flatten().double()) for c in comps]), 0) - np.log(2)
    torch.testing.assert_close(model.log_density(x, t)[0], ref)
