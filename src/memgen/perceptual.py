"""LPIPS set-up shared by the analyses (docs/method.md §5.1): model loading and input preparation.

Backbone weights come from the torch hub cache only (``$TORCH_HOME/hub/checkpoints``; no downloads on
compute nodes); the v0.1 linear heads ship inside the ``lpips`` package.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

NETS = ("alex", "vgg", "squeeze")
# torchvision's ImageNet checkpoints that lpips' backbones load (torchvision.models *_Weights.IMAGENET1K_V1).
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
BACKBONE_URL = "https://download.pytorch.org/models/"
MIN_SIZE = 32  # lpips.py:36-42 in the official code: smaller images are upsampled to 32x32


def backbone_checkpoint(net: str) -> Path:
    """Where torchvision looks for the backbone weights of ``net`` (honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net]


def load_lpips(net: str = "alex", pretrained_backbone: bool = True, device="cpu"):
    """lpips.LPIPS(net, v0.1 heads) in eval mode (dropout off) on ``device``.

    pretrained_backbone=False gives a random backbone (pnet_rand=True), for offline tests only.
    """
    if net not in NETS:
        raise ValueError(f"unknown LPIPS network '{net}'; choose one of {', '.join(NETS)}")
    if pretrained_backbone:
        ckpt = backbone_checkpoint(net)
        if not ckpt.is_file():
            raise FileNotFoundError(
                f"LPIPS-{net} needs the ImageNet backbone weights at {ckpt} (not found; no downloads here). "
                f"Copy {BACKBONE_URL}{BACKBONE_FILES[net]} there, or set TORCH_HOME to a directory whose "
                f"hub/checkpoints/ holds it"
            )
    import lpips  # slow import; only when needed

    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # torchvision's 'pretrained' deprecation, raised inside lpips
        model = lpips.LPIPS(
            net=net, pretrained=True, pnet_rand=not pretrained_backbone, verbose=False
        )
    return model.eval().to(device)


def prepare(x: torch.Tensor) -> torch.Tensor:
    """NCHW in [-1, 1] -> 3 channels, at least 32x32 (nearest-exact), as docs/method.md §5.1."""
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    elif x.shape[1] != 3:
        raise ValueError(f"LPIPS needs 1 or 3 channels, got {x.shape[1]}")
    if min(x.shape[-2:]) < MIN_SIZE:
        x = F.interpolate(x, size=(MIN_SIZE, MIN_SIZE), mode="nearest-exact")
    return x


@torch.no_grad()
def lpips_distance(x: torch.Tensor, y: torch.Tensor, net_model) -> torch.Tensor:
    """LPIPS of paired batches (N,) evaluated directly by the lpips package (the reference)."""
    dev = next(net_model.parameters()).device
    return net_model(prepare(x.to(dev)), prepare(y.to(dev))).flatten()
