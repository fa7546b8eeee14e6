"""Epsilon-prediction networks for the image experiments and their loading.

- ``build_model(model_cfg, image_shape)``: a fresh diffusers model (``UNet2DModel`` or
  :class:`~memgen.models.mlp.ResidualMLP`) from the validated ``model`` config section.
- ``load_eps_model(model_dir, device)``: the saved EMA model as an :class:`EpsModel`, the
  callable ``(x (B,C,H,W), t LongTensor (B,)) -> eps`` every sampler and analysis uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def model_kwargs(model_cfg: Mapping[str, Any], image_shape: Sequence[int]) -> dict[str, Any]:
    """Constructor arguments of the model described by ``model_cfg`` for images (C, H, W)."""
    kind = model_cfg.get("kind", "unet")
    if kind == "mlp":
        return dict(
            sample_shape=tuple(int(v) for v in image_shape),
            width=int(model_cfg.get("width", 128)),
            num_blocks=int(model_cfg.get("blocks", 3)),
            time_embed_dim=int(model_cfg.get("time_embed_dim", 128)),
            dropout=float(model_cfg.get("dropout") or 0.0),
        )
    if kind != "unet":
        raise ValueError(f"unknown model kind {kind!r}; use 'unet' or 'mlp'")
    from memgen.models.unet import preset_kwargs, scale_width, unet_kwargs

    keys = ("nf", "ch_mult", "attn_resolutions", "layers_per_block", "dropout", "mid_attention")
    given = {k: model_cfg.get(k) for k in keys}
    if model_cfg.get("preset"):
        # Explicit (non-null) keys override the preset, so a config can vary one thing (e.g. nf).
        kwargs = preset_kwargs(model_cfg["preset"], image_shape, **given)
    else:
        kwargs = unet_kwargs(image_shape, **{k: v for k, v in given.items() if v is not None})
    return scale_width(kwargs, float(model_cfg.get("width_scale", 1)))


def build_model(model_cfg: Mapping[str, Any], image_shape: Sequence[int]) -> nn.Module:
    """A freshly initialised epsilon-network (diffusers ModelMixin) for images (C, H, W)."""
    kwargs = model_kwargs(model_cfg, image_shape)
    if model_cfg.get("kind", "unet") == "mlp":
        from memgen.models.mlp import ResidualMLP

        return ResidualMLP(**kwargs)
    from memgen.models.unet import build_unet

    return build_unet(kwargs)


class EpsModel(nn.Module):
    """Uniform EpsModel interface over a diffusers network: ``eps = model(x, t)``.

    Gradients are not disabled here (curvature/energy analyses differentiate through it);
    the weights are frozen and the network is in eval mode (no dropout).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).long().reshape(-1).expand(x.shape[0])
        out = self.net(x, t)
        return out.sample if hasattr(out, "sample") else out

    def train(self, mode: bool = True):  # always inference: keep dropout off
        return super().train(False)


def check_model_dir(model_dir: str | Path) -> Path:
    """Raise FileNotFoundError naming what is missing unless ``model_dir`` is a complete model."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(
            f"model directory not found: {model_dir} (run `memgen train` first)"
        )
    missing = []
    if not (model_dir / "config.json").is_file():
        missing.append("config.json")
    if not any((model_dir / w).is_file() for w in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise FileNotFoundError(
            f"incomplete model directory {model_dir}: missing {', '.join(missing)} "
            "(an interrupted save? delete it and rerun `memgen train`)"
        )
    return model_dir


def load_net(model_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The raw diffusers network saved in ``model_dir`` (class from its config.json)."""
    model_dir = check_model_dir(model_dir)
    from memgen.models.pipeline_files import check_scheduler_config

    check_scheduler_config(model_dir)
    cls_name = json.loads((model_dir / "config.json").read_text()).get("_class_name")
    if cls_name == "ResidualMLP":
        from memgen.models.mlp import ResidualMLP as cls
    elif cls_name == "UNet2DModel":
        from diffusers import UNet2DModel as cls
    else:
        raise ValueError(f"{model_dir}/config.json: unsupported model class {cls_name!r}")
    # low_cpu_mem_usage=False: the default needs `accelerate` (not a dependency) and only warns.
    try:
        net = cls.from_pretrained(model_dir, low_cpu_mem_usage=False)
    except Exception as err:  # safetensors/diffusers raise their own types for a damaged file
        weights = next((model_dir / w for w in WEIGHT_FILES if (model_dir / w).is_file()), model_dir)
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise ValueError(
            f"cannot load the model {weights} ({detail}): the file is truncated, corrupt or not a "
            f"memgen model; delete {model_dir} and retrain it (snakemake --forcerun {weights})"
        ) from err
    return net.to(device)


def load_eps_model(model_dir: str | Path, device: str | torch.device = "cpu") -> EpsModel:
    """Load the trained (EMA) model of ``model_dir`` as an :class:`EpsModel` on ``device``."""
    return EpsModel(load_net(model_dir, device))
