"""Reverse-process samplers of the discrete VP (DDPM) process: loops over its steps.

Samplers only see an *EpsModel*: a callable ``(x (B,C,H,W), t LongTensor (B,)) -> eps``. They never
import a concrete network (diffusers UNet, MLP, or the exact empirical model all fit). The step
arithmetic lives in the noise process (:class:`memgen.noise.DDPMSchedule`).

Why hand-written rather than diffusers' DDPMScheduler/DDIMScheduler: the critical-time search
needs DDIM started from an arbitrary index with the authors' stride rule ceil(t/n) and the final
x̂0 clamped, which the diffusers schedulers do not expose; the ancestral loop is kept next to it so
both share one process object. Tests check the ancestral step and loop against diffusers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from memgen.noise import DDPMSchedule

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
    process = schedule or DDPMSchedule()
    timesteps = process.strided_timesteps(steps or process.num_steps)
    x = torch.randn(shape, generator=generator, device=device)
    iterator = tqdm(range(len(timesteps)), desc="ddpm", disable=not progress, mininterval=5)
    for i in iterator:
        t = timesteps[i]
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        eps = model(x, _t_batch(t, shape[0], device))
        x, _ = process.ancestral_step(x, eps, t, t_prev, generator, clip=clip)
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
    """DDIM from index ``t_start`` (the authors' critical-time loop).

    n = min(n_steps, t_start); stride Δ = ceil(t/n); while t > 0: predict x̂0, jump to t - Δ
    (alpha_bar := 1 below 0). Returns the last x̂0 clamped to [-1, 1].
    """
    process = schedule or DDPMSchedule()
    if t_start < 0 or t_start >= process.num_steps:
        raise ValueError(f"t_start must be in [0, {process.num_steps - 1}], got {t_start}")
    x = x_t
    t = int(t_start)
    if t == 0:
        eps = model(x, _t_batch(0, x.shape[0], x.device))
        return process.x0_from_eps(x, eps, 0).clamp(-1.0, 1.0)
    stride = max(1, math.ceil(t / max(1, min(int(n_steps), t))))
    x0 = x
    while t > 0:
        eps = model(x, _t_batch(t, x.shape[0], x.device))
        x, x0 = process.ddim_step(x, eps, t, t - stride, eta, generator)
        t -= stride
    return x0.clamp(-1.0, 1.0)
