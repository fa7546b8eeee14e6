"""Reverse-process samplers for the discrete VP (DDPM) schedule, SPEC §2.1.

Samplers only see an *EpsModel*: a callable ``(x (B,C,H,W), t LongTensor (B,)) -> eps``. They never
import a concrete network (diffusers UNet, MLP, or the exact empirical model all fit).

Why hand-written rather than diffusers' DDPMScheduler/DDIMScheduler: the critical-time search (SPEC §6)
needs DDIM started from an arbitrary index with the official stride rule ceil(t/n) and the final
x̂0 clamped, which the diffusers schedulers do not expose; the ancestral loop is kept next to it so
both share one schedule object. A test checks the ancestral step against diffusers' DDPMScheduler.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from memgen.schedules import DDPMSchedule

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _abar(schedule: DDPMSchedule, device, dtype) -> torch.Tensor:
    return schedule.alphas_cumprod.to(device=device, dtype=dtype)


def _t_batch(t: int, n: int, device) -> torch.Tensor:
    return torch.full((n,), int(t), dtype=torch.long, device=device)


@torch.no_grad()
def ddpm_ancestral(
    model: EpsModel,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    schedule: DDPMSchedule | None = None,
    clip: bool = True,
    progress: bool = True,
    device: str | torch.device = "cpu",
    steps: int | None = None,
) -> torch.Tensor:
    """Ancestral DDPM sampling from x_T ~ N(0, I) ("fixed_small" variance, x̂0 clipped).

    With ``steps`` < T the timesteps are evenly strided (diffusers' "leading" spacing) and the
    posterior uses the strided alpha_bar; the paper uses all T = 1000 steps.
    Returns samples in [-1, 1] (the last step outputs the clipped x̂0).
    """
    schedule = schedule or DDPMSchedule()
    T = schedule.num_steps
    steps = steps or T
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be in [1, {T}], got {steps}")
    abar_all = _abar(schedule, device, torch.float32)
    timesteps = (
        list(range(0, T, T // steps))[:steps][::-1] if steps < T else list(range(T - 1, -1, -1))
    )
    x = torch.randn(shape, generator=generator, device=device)
    iterator = tqdm(range(len(timesteps)), desc="ddpm", disable=not progress, mininterval=5)
    for i in iterator:
        t = timesteps[i]
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        abar_t = abar_all[t]
        abar_prev = abar_all[t_prev] if t_prev >= 0 else torch.tensor(1.0, device=device)
        alpha_t = abar_t / abar_prev
        beta_t = 1.0 - alpha_t
        eps = model(x, _t_batch(t, shape[0], device))
        x0 = (x - (1.0 - abar_t).sqrt() * eps) / abar_t.sqrt()
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        if t_prev < 0:
            x = x0
            break
        coef0 = abar_prev.sqrt() * beta_t / (1.0 - abar_t)
        coeft = alpha_t.sqrt() * (1.0 - abar_prev) / (1.0 - abar_t)
        mean = coef0 * x0 + coeft * x
        var = beta_t * (1.0 - abar_prev) / (1.0 - abar_t)
        noise = torch.randn(shape, generator=generator, device=device)
        x = mean + var.clamp_min(1e-20).sqrt() * noise
    return x


@torch.no_grad()
def ddim_from(
    model: EpsModel,
    x_t: torch.Tensor,
    t_start: int,
    n_steps: int = 20,
    schedule: DDPMSchedule | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DDIM from index ``t_start`` (official critical-time loop, SPEC §2.1).

    n = min(n_steps, t_start); stride Δ = ceil(t/n); while t > 0: predict x̂0, jump to t - Δ
    (alpha_bar := 1 below 0). Returns the last x̂0 clamped to [-1, 1].
    """
    schedule = schedule or DDPMSchedule()
    if t_start < 0 or t_start >= schedule.num_steps:
        raise ValueError(f"t_start must be in [0, {schedule.num_steps - 1}], got {t_start}")
    abar_all = _abar(schedule, x_t.device, x_t.dtype)
    x = x_t
    t = int(t_start)
    n = max(1, min(int(n_steps), t)) if t > 0 else 1
    stride = max(1, math.ceil(t / n))
    x0 = x
    if t == 0:
        eps = model(x, _t_batch(0, x.shape[0], x.device))
        x0 = (x - (1.0 - abar_all[0]).sqrt() * eps) / abar_all[0].sqrt()
        return x0.clamp(-1.0, 1.0)
    while t > 0:
        abar_t = abar_all[t]
        eps = model(x, _t_batch(t, x.shape[0], x.device))
        x0 = (x - (1.0 - abar_t).sqrt() * eps) / abar_t.sqrt()
        t_next = t - stride
        abar_next = (
            abar_all[t_next] if t_next >= 0 else torch.ones((), dtype=x.dtype, device=x.device)
        )
        if eta > 0:
            sigma = (
                eta
                * ((1 - abar_t / abar_next) * (1 - abar_next) / (1 - abar_t)).clamp_min(0).sqrt()
            )
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = (
                abar_next.sqrt() * x0
                + (1 - abar_next - sigma**2).clamp_min(0).sqrt() * eps
                + sigma * noise
            )
        else:
            x = abar_next.sqrt() * x0 + (1 - abar_next).sqrt() * eps
        t = t_next
    return x0.clamp(-1.0, 1.0)
