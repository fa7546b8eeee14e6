"""Residual MLP epsilon-network on the flattened image (the digits demo network).

The digits study (shared/notes/digits-demo-study.md) found this ~20x faster than the smallest
UNet on CPU while still showing memorization -> spurious -> generalization. It is a diffusers
``ModelMixin``/``ConfigMixin`` so ``save_pretrained``/``from_pretrained`` work exactly as for
``UNet2DModel``.
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def sinusoidal_table(num_steps: int, dim: int) -> torch.Tensor:
    """(num_steps, dim) sinusoidal embedding of the integer t, [sin, cos] halves (DDPM style)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10_000.0) * torch.arange(half, dtype=torch.float64) / max(half - 1, 1)
    )
    args = torch.arange(num_steps, dtype=torch.float64)[:, None] * freqs[None]
    table = torch.cat([args.sin(), args.cos()], dim=1)
    if dim % 2:
        table = torch.nn.functional.pad(table, (0, 1))
    return table.float()


class ResBlock(nn.Module):
    """h <- h + W2 . SiLU(W1 . LN(h) + Wt . temb), with optional dropout before W2."""

    def __init__(self, width: int, temb_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.temb = nn.Linear(temb_dim, width)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        z = nn.functional.silu(self.fc1(self.norm(h)) + self.temb(temb))
        return h + self.fc2(self.drop(z))


class ResidualMLP(ModelMixin, ConfigMixin):
    """eps_theta(x_t, t) for images of shape (C, H, W), computed on the flat C*H*W vector."""

    @register_to_config
    def __init__(
        self,
        sample_shape: tuple[int, int, int] = (1, 8, 8),
        width: int = 128,
        num_blocks: int = 3,
        time_embed_dim: int = 128,
        num_train_timesteps: int = 1000,
        dropout: float = 0.0,
    ):
        super().__init__()
        d = int(math.prod(sample_shape))
        # Precomputed table: t is always an integer index, so one gather replaces sin/cos per call.
        self.register_buffer(
            "time_table", sinusoidal_table(num_train_timesteps, time_embed_dim), persistent=False
        )
        self.time_mlp = nn.Sequential(
            nn.Linear(time_embed_dim, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.inp = nn.Linear(d, width)
        self.blocks = nn.ModuleList(ResBlock(width, width, dropout) for _ in range(num_blocks))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, d)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        b = sample.shape[0]
        t = torch.as_tensor(timestep, device=sample.device).long().reshape(-1).expand(b)
        temb = self.time_mlp(self.time_table[t])
        h = self.inp(sample.reshape(b, -1))
        for block in self.blocks:
            h = block(h, temb)
        return self.out(nn.functional.silu(self.out_norm(h))).view_as(sample)
