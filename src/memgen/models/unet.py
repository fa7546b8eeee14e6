"""diffusers ``UNet2DModel`` built from config, plus the paper's Table 3 presets (docs/method.md §4.3).

The score_sde "ddpm" UNet of the official code maps one-to-one onto ``UNet2DModel`` with the
settings below (same parameter count; only the initialisation differs), so we use diffusers
instead of re-writing the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Table 3: nf, channel multipliers, attention resolution(s), dropout, paper parameter count.
PRESETS: dict[str, dict[str, Any]] = {
    # 28 -> 14 -> 7: the attention resolution 16 is never hit, so attention is mid-block only.
    "mnist": dict(
        nf=128, ch_mult=(1, 2, 2), attn_resolutions=(16,), dropout=0.1, paper_params=24.5e6
    ),
    "fmnist": dict(
        nf=128, ch_mult=(1, 2, 2), attn_resolutions=(16,), dropout=0.1, paper_params=24.5e6
    ),
    "cifar10_64": dict(
        nf=64, ch_mult=(1, 2, 2, 2), attn_resolutions=(16,), dropout=0.1, paper_params=8.9e6
    ),
    "cifar10_96": dict(
        nf=96, ch_mult=(1, 2, 2, 2), attn_resolutions=(16,), dropout=0.1, paper_params=20.1e6
    ),
    "cifar10_128": dict(
        nf=128, ch_mult=(1, 2, 2, 2), attn_resolutions=(16,), dropout=0.1, paper_params=35.7e6
    ),
    "church_64": dict(
        nf=64, ch_mult=(1, 1, 2, 2, 4, 4), attn_resolutions=(16,), dropout=0.0, paper_params=27.4e6
    ),
    "church_96": dict(
        nf=96, ch_mult=(1, 1, 2, 2, 4, 4), attn_resolutions=(16,), dropout=0.0, paper_params=61.7e6
    ),
    "church_128": dict(
        nf=128,
        ch_mult=(1, 1, 2, 2, 4, 4),
        attn_resolutions=(16,),
        dropout=0.0,
        paper_params=109.7e6,
    ),
}
# Image shape (C, H, W) each preset was designed for (used by tests and `memgen plan`).
PRESET_SHAPES = {
    "mnist": (1, 28, 28), "fmnist": (1, 28, 28),
    "cifar10_64": (3, 32, 32), "cifar10_96": (3, 32, 32), "cifar10_128": (3, 32, 32),
    "church_64": (3, 64, 64), "church_96": (3, 64, 64), "church_128": (3, 64, 64),
}  # fmt: skip


def unet_kwargs(
    image_shape: Sequence[int],
    nf: int = 128,
    ch_mult: Sequence[int] = (1, 2, 2, 2),
    attn_resolutions: Sequence[int] = (16,),
    layers_per_block: int = 2,
    dropout: float = 0.1,
    mid_attention: bool = True,
    norm_num_groups: int = 32,
) -> dict[str, Any]:
    """``UNet2DModel`` constructor arguments reproducing the score_sde DDPM UNet (docs/method.md §4.3)."""
    c, h, w = (int(v) for v in image_shape)
    if h != w:
        raise ValueError(f"UNet expects square images, got {h}x{w}")
    down, res = [], h
    for _ in ch_mult:
        down.append("AttnDownBlock2D" if res in set(attn_resolutions) else "DownBlock2D")
        res = res // 2 if res % 2 == 0 else (res + 1) // 2  # SAME-padded stride-2 conv
    up = [d.replace("Down", "Up") for d in reversed(down)]
    return dict(
        sample_size=h,
        in_channels=c,
        out_channels=c,
        block_out_channels=tuple(int(nf * m) for m in ch_mult),
        layers_per_block=int(layers_per_block),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        attention_head_dim=None,  # one head of full width, as score_sde
        norm_num_groups=int(norm_num_groups),
        norm_eps=1e-6,
        act_fn="silu",
        dropout=float(dropout),
        time_embedding_type="positional",
        flip_sin_to_cos=False,
        freq_shift=1,
        downsample_padding=0,  # asymmetric (0,1,0,1) padding like score_sde
        resnet_time_scale_shift="default",
        add_attention=bool(mid_attention),
    )


def preset_kwargs(
    preset: str, image_shape: Sequence[int] | None = None, **overrides
) -> dict[str, Any]:
    if preset not in PRESETS:
        raise ValueError(f"unknown UNet preset {preset!r}; choose one of {sorted(PRESETS)}")
    p = {k: v for k, v in PRESETS[preset].items() if k != "paper_params"}
    p.update({k: v for k, v in overrides.items() if v is not None})
    return unet_kwargs(image_shape or PRESET_SHAPES[preset], **p)


def scale_width(kwargs: dict[str, Any], scale: float) -> dict[str, Any]:
    """``kwargs`` with every level's channels and the GroupNorm group count multiplied by ``scale``.

    Channels per group stay as in the full network (e.g. 128 / 32 = 4), so a narrow network keeps the
    architecture of its preset (levels, attention, dropout) and differs only in width; small scales
    make CPU-sized versions of the Table 3 networks.
    """
    if scale == 1:
        return kwargs
    groups = kwargs["norm_num_groups"] * scale
    chans = [c * scale for c in kwargs["block_out_channels"]]
    if not float(groups).is_integer() or groups < 1 or any(not float(c).is_integer() for c in chans):
        raise ValueError(
            f"model.width_scale {scale} gives non-integer widths (channels {chans}, "
            f"{groups} norm groups); pick a scale that is a multiple of 1/{kwargs['norm_num_groups']} "
            "and divides the base channel count"
        )
    return {
        **kwargs,
        "block_out_channels": tuple(int(c) for c in chans),
        "norm_num_groups": int(groups),
    }


def build_unet(kwargs: dict[str, Any]):
    from diffusers import UNet2DModel

    return UNet2DModel(**kwargs)
