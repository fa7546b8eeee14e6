"""Noise processes: one interface for the forward corruption, the training loss and the reverse steps.

Both experiments are diffusion models that differ only in their noise process:

- ``DDPMSchedule``: the discrete variance-preserving (VP) process of the image models. Linear beta
  from 1e-4 to 0.02 over T = 1000 steps, 0-based index t, alpha_bar = cumprod(1 - beta);
  x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps. The networks predict eps.
- ``VESDE``: the continuous variance-exploding (VE) process of the circle, dx = sigma dW on
  t in [0, 1], so x_t = x0 + sigma sqrt(t) eps (marginal variance s^2(t) = sigma^2 t). The network
  predicts the score.

Every process answers the same questions (:class:`NoiseProcess`): the marginal (mean scale, std)
at t, a perturbed sample, the training times, the denoising loss for what the network predicts,
and the conversions between eps, score and x0 (score = -eps / std, x0 = (x_t - std eps) / scale).
The reverse-time steps are process specific: DDPM ancestral and DDIM steps for the discrete VP
process, Euler-Maruyama and the probability-flow drift for the VE SDE; the samplers
(``memgen.samplers``, ``memgen.circle.sampler``) loop over them.

The arithmetic is written so that each quantity is computed by exactly the floating-point
operations the training loops and samplers always used (trained weights and samples are bitwise
those of earlier versions): e.g. x0 is (x - std * eps) / scale, not x / scale - std / scale * eps.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch

PREDICTIONS = ("eps", "score")


def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample (B,) value shaped to broadcast over the other dimensions of x (B, ...)."""
    return v.view(-1, *([1] * (x.dim() - 1))) if v.dim() == 1 else v


class NoiseProcess(ABC):
    """The forward process x_t | x0 ~ N(scale(t) x0, std(t)^2 I) and what follows from it.

    ``prediction`` names what the network of this process outputs ("eps" or "score");
    :meth:`score` / :meth:`eps` turn a network output into either.
    """

    prediction: str = "eps"

    @abstractmethod
    def marginal(self, t, like: torch.Tensor | None = None):
        """(mean scale, std) of x_t given x0 at time(s) ``t`` (per sample for a (B,) tensor).

        ``like``: a tensor whose device and dtype the values take when ``t`` is a number.
        """

    @abstractmethod
    def sample_times(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """``n`` training times, drawn from the process's training-time distribution."""

    @abstractmethod
    def loss(self, output: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Denoising loss of a network ``output`` at x_t = perturb(x0, t, noise) (a scalar)."""

    def perturb(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """x_t = scale(t) x0 + std(t) noise."""
        scale, std = self.marginal(t, like=x0)
        return _per_sample(scale, x0) * x0 + _per_sample(std, x0) * noise

    def score_from_eps(self, eps: torch.Tensor, t) -> torch.Tensor:
        """grad log p_t(x) = -eps / std(t)."""
        return -eps / _per_sample(self.marginal(t, like=eps)[1], eps)

    def eps_from_score(self, score: torch.Tensor, t) -> torch.Tensor:
        """eps = -std(t) score."""
        return -_per_sample(self.marginal(t, like=score)[1], score) * score

    def x0_from_eps(self, x: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
        """Tweedie's denoised estimate x0 = (x_t - std eps) / scale."""
        scale, std = self.marginal(t, like=x)
        return (x - _per_sample(std, x) * eps) / _per_sample(scale, x)

    def score(self, output: torch.Tensor, t) -> torch.Tensor:
        """The score from a network output of this process's parameterisation."""
        return output if self.prediction == "score" else self.score_from_eps(output, t)

    def eps(self, output: torch.Tensor, t) -> torch.Tensor:
        """The eps estimate from a network output of this process's parameterisation."""
        return output if self.prediction == "eps" else self.eps_from_score(output, t)


@dataclass(frozen=True)
class DDPMSchedule(NoiseProcess):
    """Discrete VP process of the image models (DDPM, linear beta, 0-based index t)."""

    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_steps: int = 1000
    # (device, dtype) -> alpha_bar: tabulated once per sampler/loop instead of once per step.
    _tables: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    prediction = "eps"

    @property
    def betas(self) -> torch.Tensor:
        # float32 linspace like diffusers' DDPMScheduler("linear"), so sigma values match diffusers.
        return torch.linspace(self.beta_start, self.beta_end, self.num_steps, dtype=torch.float32)

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        # cumulative product of (1 - beta), not of beta (the authors' energy code used the latter).
        return torch.cumprod(self.alphas, dim=0)

    @property
    def sigmas(self) -> torch.Tensor:
        """Marginal noise std sqrt(1 - alpha_bar_t) for each 0-based t."""
        return torch.sqrt(1.0 - self.alphas_cumprod)

    def abar(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """alpha_bar (T,) on ``device`` in ``dtype`` (cached; do not modify it)."""
        key = (str(torch.device(device or "cpu")), dtype)
        if key not in self._tables:
            self._tables[key] = self.alphas_cumprod.to(device=device, dtype=dtype)
        return self._tables[key]

    def _abar_at(self, t, device=None, dtype=torch.float32) -> torch.Tensor:
        """alpha_bar at an index (int; -1 = before the first step, alpha_bar = 1) or (B,) indices."""
        if isinstance(t, torch.Tensor):
            return self.abar(t.device, dtype)[t]
        if t < 0:
            return torch.ones((), dtype=dtype, device=device)
        return self.abar(device, dtype)[t]

    def marginal(self, t, like: torch.Tensor | None = None):
        if like is None:
            abar = self._abar_at(t)
        else:
            abar = self._abar_at(t, like.device, like.dtype)
        return abar.sqrt(), (1.0 - abar).sqrt()

    def sample_times(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """Indices uniform on {0, ..., T-1}."""
        return torch.randint(0, self.num_steps, (n,), device=device, generator=generator)

    def loss(self, output: torch.Tensor, noise: torch.Tensor, t=None) -> torch.Tensor:
        """DDPM's simple loss: mean squared error of the eps prediction (in float32)."""
        return torch.mean((noise - output.float()) ** 2)

    def perturb(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise.

        For (B,) indices both roots come from tables made once per device and dtype (the same
        values as a square root per step, which cost ~5 % of a small network's training step).
        """
        if not isinstance(t, torch.Tensor):
            return super().perturb(x0, t, noise)
        key = ("roots", t.device, x0.dtype)
        if key not in self._tables:
            abar = self.abar(t.device, x0.dtype)
            self._tables[key] = (abar.sqrt(), (1 - abar).sqrt())
        sqrt_abar, sqrt_1m_abar = self._tables[key]
        return _per_sample(sqrt_abar[t], x0) * x0 + _per_sample(sqrt_1m_abar[t], x0) * noise

    # ---------------------------------------------------------------------- reverse steps
    def strided_timesteps(self, steps: int) -> list[int]:
        """Descending indices of an ancestral run of ``steps`` steps ("leading" spacing below T)."""
        T = self.num_steps
        if not 1 <= steps <= T:
            raise ValueError(f"steps must be in [1, {T}], got {steps}")
        return list(range(0, T, T // steps))[:steps][::-1] if steps < T else list(range(T - 1, -1, -1))

    def ancestral_step(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        t: int,
        t_prev: int,
        generator: torch.Generator | None = None,
        clip: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDPM step from index t to t_prev ("fixed_small" posterior variance).

        Returns (x_{t_prev}, x̂0). The posterior uses alpha_bar of both indices, so strided runs
        work; t_prev = -1 is the last step and returns x̂0 itself.
        """
        abar_t = self._abar_at(t, x.device, x.dtype)
        abar_prev = self._abar_at(t_prev, x.device, x.dtype)
        alpha_t = abar_t / abar_prev
        beta_t = 1.0 - alpha_t
        x0 = (x - (1.0 - abar_t).sqrt() * eps) / abar_t.sqrt()
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        if t_prev < 0:
            return x0, x0
        coef0 = abar_prev.sqrt() * beta_t / (1.0 - abar_t)
        coeft = alpha_t.sqrt() * (1.0 - abar_prev) / (1.0 - abar_t)
        mean = coef0 * x0 + coeft * x
        var = beta_t * (1.0 - abar_prev) / (1.0 - abar_t)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return mean + var.clamp_min(1e-20).sqrt() * noise, x0

    def ddim_step(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        t: int,
        t_next: int,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM step from index t to t_next (< 0: alpha_bar = 1). Returns (x_{t_next}, x̂0)."""
        abar_t = self._abar_at(t, x.device, x.dtype)
        abar_next = self._abar_at(t_next, x.device, x.dtype)
        x0 = (x - (1.0 - abar_t).sqrt() * eps) / abar_t.sqrt()
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
        return x, x0


T_SAMPLING = ("uniform", "log_uniform")


@dataclass(frozen=True)
class VESDE(NoiseProcess):
    """Continuous VE process dx = sigma dW on [0, 1] of the circle: x_t = x0 + sigma sqrt(t) eps.

    Training times lie in [t_eps, 1], uniform (the paper) or log-uniform (weights the small times
    at which copying is learned). The network predicts the score and is trained by denoising score
    matching weighted by the marginal variance, E ||std s(x_t, t) + eps||^2 (summed over
    coordinates, averaged over the batch).
    """

    sigma: float = 1.0
    t_eps: float = 1e-5
    t_sampling: str = "uniform"

    prediction = "score"

    def __post_init__(self):
        if self.t_sampling not in T_SAMPLING:
            raise ValueError(f"t_sampling must be one of {T_SAMPLING}, got {self.t_sampling!r}")
        if not 0 < self.t_eps < 1:
            raise ValueError(f"t_eps must be in (0, 1), got {self.t_eps}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")

    def std(self, t):
        """s(t) = sigma sqrt(t) (a tensor for a tensor t, else a float)."""
        if isinstance(t, torch.Tensor):
            return self.sigma * torch.sqrt(t)
        return self.sigma * math.sqrt(t)

    def marginal(self, t, like: torch.Tensor | None = None):
        std = self.std(t)
        return (torch.ones_like(std) if isinstance(std, torch.Tensor) else 1.0), std

    def perturb(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """x_t = x0 + s(t) noise (the mean scale is 1)."""
        std = self.std(t)
        return x0 + (_per_sample(std, x0) if isinstance(std, torch.Tensor) else std) * noise

    def sample_times(self, n: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
        """t in [t_eps, 1] (drawn on the CPU generator, then moved to ``device``)."""
        u = torch.rand(n, generator=generator)
        if self.t_sampling == "uniform":
            t = self.t_eps + (1.0 - self.t_eps) * u
        else:
            t = torch.exp(math.log(self.t_eps) * (1.0 - u))
        return t.to(device)

    def loss(self, output: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E ||s(t) score + noise||^2: the eps error of the score output, variance weighted."""
        st = _per_sample(self.std(t), output)
        return ((output * st + noise) ** 2).flatten(1).sum(dim=1).mean()

    # ---------------------------------------------------------------------- reverse time
    def reverse_sde_step(
        self, x: torch.Tensor, score: torch.Tensor, dt: float, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler-Maruyama step of the reverse SDE dx = -sigma^2 s dt + sigma dW̄ over ``dt`` > 0.

        Returns (x_mean + sigma sqrt(dt) noise, x_mean) with x_mean = x + sigma^2 s dt.
        """
        x_mean = x + self.sigma**2 * score * dt
        return x_mean + self.sigma * np.sqrt(dt) * noise, x_mean

    def pf_ode_drift(self, score):
        """Drift of the probability-flow ODE, dx/dt = -sigma^2 s / 2 (tensor or array)."""
        return -0.5 * self.sigma**2 * score

    def prior_std(self) -> float:
        """Std of the marginal at t = 1 around the data (sigma)."""
        return self.sigma
