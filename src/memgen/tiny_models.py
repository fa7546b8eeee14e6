"""Tiny random-weight diffusers models, saved with ``save_pretrained``: what the audit and the Stable
Diffusion curvature commands read, small enough to run on a CPU in seconds.

They are built offline from diffusers' and transformers' own classes, so the folders have exactly the
layout of a real checkpoint (a ``UNet2DModel`` + ``DDPMScheduler`` folder, a ``DDPMPipeline`` folder, or a
``StableDiffusionPipeline`` folder with a CLIP text encoder, its tokenizer files and a VAE). The
tokenizer's vocabulary is the letters a-z and a few punctuation marks (no merges): any lower-case prompt
tokenizes. Tests, the README example and the benchmarks use them::

    python -m memgen.tiny_models unet DIR       # UNet2DModel + scheduler_config.json (8x8, 1 channel)
    python -m memgen.tiny_models sd DIR         # StableDiffusionPipeline (32x32 images, 4x8x8 latents)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789,.!?'-"


def tiny_unet(sample_size: int = 8, channels: int = 1, width: int = 16, seed: int = 0):
    """A two-level diffusers UNet2DModel (random weights, seeded)."""
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        layers_per_block=1,
        block_out_channels=(width, 2 * width),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )


def ddpm_scheduler(**overrides):
    """The DDPM schedule of the paper's image models (linear beta 1e-4..0.02, T = 1000, epsilon)."""
    from diffusers import DDPMScheduler

    cfg = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
               prediction_type="epsilon", clip_sample=True, variance_type="fixed_small")  # fmt: skip
    cfg.update(overrides)
    return DDPMScheduler(**cfg)


def save_unet_checkpoint(out: str | Path, unet=None, scheduler=None, pipeline: bool = False) -> Path:
    """A UNet folder (config.json + weights + scheduler_config.json side by side), or with
    ``pipeline`` a whole DDPMPipeline folder (model_index.json, unet/, scheduler/)."""
    from diffusers import DDPMPipeline

    out = Path(out)
    unet = unet if unet is not None else tiny_unet()
    scheduler = scheduler if scheduler is not None else ddpm_scheduler()
    if pipeline:
        DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(out)
    else:
        unet.save_pretrained(out)
        scheduler.save_pretrained(out)
    return out


def write_tokenizer_files(out: str | Path) -> Path:
    """vocab.json / merges.txt / tokenizer_config.json of a character-level CLIP tokenizer."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokens = [BOS, EOS] + list(LETTERS) + [c + "</w>" for c in LETTERS]
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (out / "merges.txt").write_text("#version: 0.2\n")
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"model_max_length": 16, "bos_token": BOS, "eos_token": EOS, "unk_token": EOS,
         "pad_token": EOS, "tokenizer_class": "CLIPTokenizer"}))  # fmt: skip
    return out


def save_sd_pipeline(out: str | Path, seed: int = 0, latent_size: int = 8) -> Path:
    """A StableDiffusionPipeline folder with random weights: 4-channel latents of ``latent_size``,
    images 4x larger (one VAE down-sampling level less than SD's three, to stay tiny)."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(out)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 16, 16),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=4 * latent_size,
    )
    tok_dir = write_tokenizer_files(out / "_tokenizer_src")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"),
                              model_max_length=16, pad_token=EOS)  # fmt: skip
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=16, projection_dim=32,
        bos_token_id=0, eos_token_id=1, pad_token_id=1))  # fmt: skip
    # SD v1's schedule: scaled-linear beta 0.00085..0.012 over 1000 steps, epsilon prediction.
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)  # fmt: skip
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(out)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m memgen.tiny_models", description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["unet", "ddpm-pipeline", "sd"], help="which model folder to write")
    p.add_argument("out", help="folder to write (save_pretrained layout)")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    args = p.parse_args(argv)
    if args.kind == "sd":
        save_sd_pipeline(args.out, seed=args.seed)
    else:
        save_unet_checkpoint(args.out, tiny_unet(seed=args.seed), pipeline=args.kind == "ddpm-pipeline")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
