"""Noise schedules (pure functions / small frozen objects, no models).

- ``DDPMSchedule``: the discrete VP schedule of the image experiments (SPEC §2.1): linear
  beta from 1e-4 to 0.02 over T = 1000 steps, 0-based index, alpha_bar = cumprod(1 - beta).
- The toy circle uses a VE SDE with s^2(t) = sigma^2 t (SPEC §2.2); see ``ve_std``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DDPMSchedule:
    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_steps: int = 1000

    @property
    def betas(self) -> torch.Tensor:
        # float32 linspace like diffusers' DDPMScheduler("linear"), so sigma values match SPEC's table.
        return torch.linspace(self.beta_start, self.beta_end, self.num_steps, dtype=torch.float32)

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        # cumulative product of (1 - beta): the official code's energy path used cumprod(beta) (defect D2).
        return torch.cumprod(self.alphas, dim=0)

    @property
    def sigmas(self) -> torch.Tensor:
        """Marginal noise std sqrt(1 - alpha_bar_t) for each 0-based t."""
        return torch.sqrt(1.0 - self.alphas_cumprod)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward marginal x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (t: LongTensor (B,))."""
        abar = self.alphas_cumprod.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


def ve_std(t: torch.Tensor | float, sigma: float = 1.0):
    """Marginal std of the toy VE SDE dx = sigma dW: s(t) = sigma * sqrt(t)."""
    return sigma * (t**0.5)
