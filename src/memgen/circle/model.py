"""Score networks for the circle (docs/method.md §3.2): the paper's residual MLP and the official code's MLP.

Both predict the score of the VE process (:class:`memgen.noise.VESDE`, σ = 1) as
s_θ(x, t) = h_θ(x, t) / sqrt(t): the output h is an eps-scale quantity divided by the marginal std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from memgen.sections import Section, section

ARCHS = ("paper", "official")


@section("circle.model")
@dataclass(frozen=True)
class CircleModelConfig(Section):
    """The ``circle.model`` section: the score network's architecture."""

    arch: str = "paper"
    width: int = 256
    encoder_blocks: int = 4
    decoder_blocks: int = 4
    fourier_features: int = 64
    fourier_scale: float = 16.0

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"circle.model.arch must be one of {ARCHS}, got {self.arch!r}")
        if self.width < 1 or self.fourier_features < 1:
            raise ValueError("circle.model.width and fourier_features must be >= 1")
        if self.encoder_blocks < 0 or self.decoder_blocks < 0:
            raise ValueError("circle.model.encoder_blocks/decoder_blocks must be >= 0")


class GaussianFourierFeatures(nn.Module):
    """[cos 2π f t, sin 2π f t] with fixed f ~ N(0, scale²) (a buffer, saved in the state dict)."""

    def __init__(self, n: int, scale: float):
        super().__init__()
        self.register_buffer("freqs", torch.randn(n) * scale)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        arg = 2.0 * math.pi * t[:, None] * self.freqs[None, :]
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


class ResidualBlock(nn.Module):
    """Pre-activation residual block h + L2(SiLU(L1(SiLU(h))))."""

    def __init__(self, width: int):
        super().__init__()
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.l2(nn.functional.silu(self.l1(nn.functional.silu(h))))


class PaperScoreNet(nn.Module):
    """Paper arch: [x, FRF(t)] -> Linear(width) -> encoder blocks -> decoder blocks -> Linear(2)."""

    def __init__(self, cfg: CircleModelConfig):
        super().__init__()
        self.embed = GaussianFourierFeatures(cfg.fourier_features, cfg.fourier_scale)
        self.inp = nn.Linear(2 + 2 * cfg.fourier_features, cfg.width)
        self.encoder = nn.Sequential(*[ResidualBlock(cfg.width) for _ in range(cfg.encoder_blocks)])
        self.decoder = nn.Sequential(*[ResidualBlock(cfg.width) for _ in range(cfg.decoder_blocks)])
        self.out = nn.Linear(cfg.width, 2)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.inp(torch.cat([x, self.embed(t)], dim=-1))
        h = self.decoder(self.encoder(h))
        return self.out(h) / torch.sqrt(t)[:, None]


class OfficialScoreNet(nn.Module):
    """The official code's MLP (toy_example.py:349-396); its hidden width is fixed at 128."""

    hidden = 128

    def __init__(self, cfg: CircleModelConfig):
        super().__init__()
        h = self.hidden
        self.embed = GaussianFourierFeatures(cfg.fourier_features, cfg.fourier_scale)
        self.t_mlp = nn.Sequential(
            nn.Linear(2 * cfg.fourier_features, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU()
        )
        self.net = nn.Sequential(
            nn.Linear(h + 2, h),
            *[m for _ in range(3) for m in (nn.Linear(h, h), nn.SiLU())],
            nn.Linear(h, 2),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, self.t_mlp(self.embed(t))], dim=-1)
        return self.net(h) / torch.sqrt(t)[:, None]


def build_model(cfg: CircleModelConfig, seed: int) -> nn.Module:
    """Deterministically initialised score network (weights and Fourier frequencies from ``seed``)."""
    torch.manual_seed(seed)
    net = PaperScoreNet(cfg) if cfg.arch == "paper" else OfficialScoreNet(cfg)
    return net.to(torch.float32)


def load_model(path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Load a model.pt written by circle-train; returns (model in eval mode, metadata).

    Tensors and plain containers only (``weights_only``): a model file cannot run code.
    """
    from memgen.checkpoint import load_tensors

    blob = load_tensors(path, map_location=device)
    net = build_model(CircleModelConfig.from_dict(blob["model_config"]), seed=0)
    net.load_state_dict(blob["state_dict"])
    net.eval().to(device)
    return net, blob


def score_fn(net: nn.Module, process=None):
    """Wrap a network as a score function s(x: (N, 2) tensor, t: float) -> (N, 2) tensor.

    The process (default: the circle's VE SDE) turns the network's output into the score.
    """
    from memgen.noise import VESDE

    process = process or VESDE()

    def fn(x: torch.Tensor, t: float) -> torch.Tensor:
        tt = torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
        return process.score(net(x, tt), tt)

    return fn
