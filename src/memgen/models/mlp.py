"""Residual MLP epsilon-network on the flattened image (the digits demo network).

The digits feasibility study (docs/method.md §13.2) found this ~20x faster than the smallest
UNet on CPU while still showing memorization -> spurious -> generalization. It saves and loads in
diffusers' on-disk layout (``config.json`` with ``_class_name`` + ``diffusion_pytorch_model.safetensors``)
through ``save_pretrained``/``from_pretrained`` of the same signature as ``UNet2DModel``'s.

Why not diffusers' ``ModelMixin``: importing ``diffusers`` costs ~2.5 s per process (it imports
``torch._dynamo`` and scans every installed package's metadata), a third of each digits-demo analysis
job, while the MLP only needs a JSON config and a safetensors file, which ``safetensors`` writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

CONFIG_NAME = "config.json"
SAFE_WEIGHTS = "diffusion_pytorch_model.safetensors"
BIN_WEIGHTS = "diffusion_pytorch_model.bin"


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


class ResidualMLP(nn.Module):
    """eps_theta(x_t, t) for images of shape (C, H, W), computed on the flat C*H*W vector."""

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
        # The constructor arguments, as diffusers' ``model.config`` (read by samplers and saved to config.json).
        self.config = dict(
            sample_shape=tuple(int(v) for v in sample_shape), width=int(width), num_blocks=int(num_blocks),
            time_embed_dim=int(time_embed_dim), num_train_timesteps=int(num_train_timesteps),
            dropout=float(dropout),
        )
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

    def save_pretrained(self, save_directory, safe_serialization: bool = True) -> None:
        """Write config.json and the weights (safetensors, or torch .bin) into ``save_directory``."""
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        cfg = {"_class_name": type(self).__name__, **self.config, "sample_shape": list(self.config["sample_shape"])}
        (out / CONFIG_NAME).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        if safe_serialization:
            from safetensors.torch import save_file

            save_file(state, str(out / SAFE_WEIGHTS), metadata={"format": "pt"})
        else:
            torch.save(state, out / BIN_WEIGHTS)

    @classmethod
    def from_pretrained(cls, model_dir, **_ignored) -> ResidualMLP:
        """Rebuild from ``model_dir`` (also reads directories written by the diffusers-based version)."""
        model_dir = Path(model_dir)
        cfg = json.loads((model_dir / CONFIG_NAME).read_text())
        net = cls(**{k: v for k, v in cfg.items() if not k.startswith("_")})
        if (model_dir / SAFE_WEIGHTS).is_file():
            from safetensors.torch import load_file

            state = load_file(str(model_dir / SAFE_WEIGHTS))
        else:
            state = torch.load(model_dir / BIN_WEIGHTS, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        return net.eval()
