"""Exact empirical-score eps-model: the optimum of the DDPM loss on K training points.

For the empirical data distribution the noisy marginal at index t is the Gaussian mixture
p_t(x) = (1/K) Σ_μ N(x; √ᾱ_t ξ_μ, (1-ᾱ_t) I), so the ideal denoiser is a softmax-weighted average
of training points and ε*(x, t) = (x - √ᾱ_t x̂0(x, t)) / √(1-ᾱ_t). It must memorize: every sample
is a copy of a training point. Used as ground truth in tests and as the reference sampler.
The softmax runs in float64 because (1-ᾱ_t) is ~1e-4 at t = 0 (docs/method.md §12).
"""

from __future__ import annotations

import torch

from memgen.schedules import DDPMSchedule


class EmpiricalEpsModel(torch.nn.Module):
    def __init__(self, train: torch.Tensor, schedule: DDPMSchedule | None = None):
        super().__init__()
        if train.dim() != 4:
            raise ValueError(f"train must be (K, C, H, W), got shape {tuple(train.shape)}")
        self.schedule = schedule or DDPMSchedule()
        self.register_buffer("train_flat", train.reshape(train.shape[0], -1).double())
        self.register_buffer("abar", self.schedule.alphas_cumprod.double())

    def log_density(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log p_t(x) (exact, incl. normalisation) for x (B,C,H,W), t (B,)."""
        xf = x.reshape(x.shape[0], -1).double()
        abar = self.abar[t].unsqueeze(1)
        var = 1.0 - abar
        diff2 = (
            (xf * xf).sum(1, keepdim=True)
            - 2.0 * abar.sqrt() * xf @ self.train_flat.T
            + abar * (self.train_flat * self.train_flat).sum(1)[None, :]
        )
        d = xf.shape[1]
        logits = -diff2 / (2.0 * var)
        k = self.train_flat.shape[0]
        return (
            torch.logsumexp(logits, dim=1)
            - torch.log(torch.tensor(float(k), dtype=torch.float64))
            - 0.5 * d * torch.log(2 * torch.pi * var.squeeze(1))
        )

    def denoise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Posterior mean E[x0 | x_t] = softmax-weighted training points, (B, C, H, W) float64."""
        xf = x.reshape(x.shape[0], -1).double()
        abar = self.abar[t].unsqueeze(1)
        var = 1.0 - abar
        # -|x - √ᾱ ξ|² / 2(1-ᾱ), dropping the |x|² term that is constant over μ.
        logits = (2.0 * abar.sqrt() * xf @ self.train_flat.T - abar * (self.train_flat**2).sum(1)) / (
            2.0 * var
        )
        w = torch.softmax(logits, dim=1)
        return (w @ self.train_flat).reshape(x.shape)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = self.abar[t].view(-1, *([1] * (x.dim() - 1)))
        x0 = self.denoise(x, t)
        eps = (x.double() - abar.sqrt() * x0) / (1.0 - abar).sqrt()
        return eps.to(x.dtype)
