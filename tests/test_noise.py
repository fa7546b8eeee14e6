"""The noise processes against ground truth: diffusers' schedulers (VP) and closed forms (VE)."""

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from memgen.noise import VESDE, DDPMSchedule

torch.set_num_threads(1)
VP = DDPMSchedule()


def _diffusers_ddpm() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True)


def test_vp_perturb_is_diffusers_add_noise():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand((6, 1, 4, 4), generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 1, 17, 250, 500, 999])
    ref = _diffusers_ddpm().add_noise(x0, noise, t)
    torch.testing.assert_close(VP.perturb(x0, t, noise), ref, atol=1e-6, rtol=0)
    # a scalar index gives the same values as the per-sample path
    torch.testing.assert_close(VP.perturb(x0[3:4], 250, noise[3:4]), ref[3:4], atol=1e-6, rtol=0)


def test_vp_marginal_is_sqrt_alpha_bar_and_sigma():
    abar = _diffusers_ddpm().alphas_cumprod
    scale, std = VP.marginal(torch.arange(1000))
    torch.testing.assert_close(scale, abar.sqrt(), atol=1e-7, rtol=0)
    torch.testing.assert_close(std, (1 - abar).sqrt(), atol=1e-7, rtol=0)
    assert VP.marginal(-1)[0] == 1.0 and VP.marginal(-1)[1] == 0.0  # before the first step


@pytest.mark.parametrize("sigma", [1.0, 0.5, 3.0])
def test_ve_marginal_std_is_sigma_sqrt_t(sigma):
    process = VESDE(sigma=sigma)
    t = torch.tensor([1e-5, 0.01, 0.25, 1.0], dtype=torch.float64)
    scale, std = process.marginal(t)
    torch.testing.assert_close(std, sigma * torch.sqrt(t))
    assert (scale == 1).all()
    assert process.std(0.25) == pytest.approx(sigma * 0.5)
    # the perturbed sample has exactly that spread around x0
    x0 = torch.tensor([[0.6, -0.8]], dtype=torch.float64).expand(200_000, 2)
    tt = torch.full((200_000,), 0.25, dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xt = process.perturb(x0, tt, noise)
    torch.testing.assert_close(xt, x0 + sigma * 0.5 * noise)
    assert xt.std(0).numpy() == pytest.approx([sigma * 0.5] * 2, rel=0.01)


@pytest.mark.parametrize("process", [VP, VESDE(sigma=2.0)], ids=["vp", "ve"])
def test_eps_score_conversions_round_trip_and_match_the_gaussian_score(process):
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randn((5, 2), generator=gen, dtype=torch.float64)
    noise = torch.randn((5, 2), generator=gen, dtype=torch.float64)
    t = torch.tensor([3, 40, 200, 600, 999]) if process is VP else torch.rand(5, generator=gen)
    xt = process.perturb(x0, t, noise)
    score = process.score_from_eps(noise, t)
    scale, std = process.marginal(t, like=xt)
    # grad_x log N(x; scale x0, std^2) at x_t
    truth = -(xt - scale[:, None] * x0) / std[:, None] ** 2
    torch.testing.assert_close(score, truth)
    torch.testing.assert_close(process.eps_from_score(score, t), noise)
    torch.testing.assert_close(process.x0_from_eps(xt, noise, t), x0)
    # the network-output view: eps for VP, score for VE
    out = noise if process.prediction == "eps" else score
    torch.testing.assert_close(process.score(out, t), score)
    torch.testing.assert_close(process.eps(out, t), noise)
    # the denoising loss of a perfect prediction is zero, of a wrong one positive
    assert float(process.loss(out, noise, t)) == pytest.approx(0.0, abs=1e-12)
    assert float(process.loss(out + 0.1, noise, t)) > 0


def test_ve_loss_is_the_variance_weighted_score_matching_loss():
    process = VESDE()
    gen = torch.Generator().manual_seed(3)
    out, noise, t = torch.randn((8, 2), generator=gen), torch.randn((8, 2), generator=gen), torch.rand(8)
    ref = ((out * torch.sqrt(t)[:, None] + noise) ** 2).sum(1).mean()
    assert torch.equal(process.loss(out, noise, t), ref)


@pytest.mark.parametrize("steps", [1000, 50])
def test_one_ancestral_step_is_diffusers_ddpm_step(steps):
    sched = _diffusers_ddpm()
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn((3, 1, 4, 4), generator=gen)
    eps = torch.randn((3, 1, 4, 4), generator=gen)
    ts = sched.timesteps.tolist()
    assert ts == VP.strided_timesteps(steps)
    t, t_prev = ts[10], ts[11]
    ref = sched.step(eps, t, x, generator=torch.Generator().manual_seed(5))
    ours, x0 = VP.ancestral_step(x, eps, t, t_prev, torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours, ref.prev_sample, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x0, ref.pred_original_sample, atol=1e-5, rtol=1e-5)
    # the last step returns the clipped Tweedie estimate, without noise
    last, _ = VP.ancestral_step(x, eps, 0, -1)
    ref_last = sched.step(eps, 0, x, generator=torch.Generator().manual_seed(6)).prev_sample
    torch.testing.assert_close(last, ref_last, atol=1e-5, rtol=1e-5)


def test_one_ddim_step_is_diffusers_ddim_step():
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                          set_alpha_to_one=True)  # fmt: skip
    sched.set_timesteps(20)
    gen = torch.Generator().manual_seed(7)
    x, eps = torch.randn((2, 3), generator=gen), torch.randn((2, 3), generator=gen)
    for t in (sched.timesteps[3].item(), sched.timesteps[-1].item()):  # the last one goes to t < 0
        ref = sched.step(eps, t, x, eta=0.0)
        ours, x0 = VP.ddim_step(x, eps, t, t - 1000 // 20)
        torch.testing.assert_close(ours, ref.prev_sample, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(x0, ref.pred_original_sample, atol=1e-5, rtol=1e-5)


def test_ve_reverse_step_and_probability_flow_drift():
    process = VESDE(sigma=2.0)
    gen = torch.Generator().manual_seed(8)
    x, s, z = (torch.randn((4, 2), generator=gen, dtype=torch.float64) for _ in range(3))
    dt = 0.01
    x_next, x_mean = process.reverse_sde_step(x, s, dt, z)
    torch.testing.assert_close(x_mean, x + 4.0 * s * dt)
    torch.testing.assert_close(x_next, x_mean + 2.0 * math.sqrt(dt) * z)
    np.testing.assert_allclose(process.pf_ode_drift(np.array([1.0, -2.0])), [-2.0, 4.0])
    assert process.prior_std() == 2.0


def test_ve_exact_score_denoises_a_point_mass_in_one_step():
    """For data at one point a, the score is -(x - a) / (sigma^2 t); one reverse step with
    dt = t (to time 0) lands exactly on a: the Tweedie denoiser."""
    process = VESDE(sigma=1.5)
    a = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    x = a + process.std(0.2) * torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    score = -(x - a) / process.std(0.2) ** 2
    _, x_mean = process.reverse_sde_step(x, score, 0.2, torch.zeros_like(x))
    torch.testing.assert_close(x_mean, a)


def test_bad_ve_settings_are_errors():
    with pytest.raises(ValueError, match="t_sampling"):
        VESDE(t_sampling="beta")
    with pytest.raises(ValueError, match="t_eps"):
        VESDE(t_eps=0.0)
    with pytest.raises(ValueError, match="steps must be in"):
        VP.strided_timesteps(0)
