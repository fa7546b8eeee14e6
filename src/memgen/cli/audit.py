"""memgen audit / sd-curvature / sd-curvature-figure: the analysis of a user's own diffusion model.

``audit`` classifies the samples of one local diffusers checkpoint against its training images and
writes a paper experiment's tables and figures for that one K; ``sd-curvature`` runs the Stable Diffusion
curvature case study on a local Stable Diffusion folder and a prompt list.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from memgen.cli.common import (
    add_plots_argument,
    add_section_argument,
    apply_plots,
    section_arg,
)

log = logging.getLogger("memgen.audit")


def _audit(args: argparse.Namespace) -> int:
    from memgen.audit import AuditConfig, checkpoint_inputs, empirical_inputs, run_audit
    from memgen.train import resolve_device

    cfg = section_arg(args, "audit", AuditConfig)
    plots = apply_plots(args)
    if (args.checkpoint is None) == (not args.empirical_score):
        raise ValueError("give --checkpoint DIR (a diffusers model folder) or --empirical-score, not both")
    device = resolve_device(cfg.device)
    common = dict(train_images=args.train_images, dataset=args.dataset, limit=args.limit,
                  null_images=args.null_images, null_dataset=args.null_dataset, device=device)  # fmt: skip
    # Every input is checked (and the model loaded) before anything is written.
    if args.empirical_score:
        inputs = empirical_inputs(**common)
    else:
        inputs = checkpoint_inputs(args.checkpoint, **common)
    summary = run_audit(inputs, cfg, args.out_dir, args.experiment, device.type, plots.dpi)
    fr = summary["fractions"]
    print(f"{args.experiment}: K = {summary['K']}, {summary['n_samples']} samples: "
          + ", ".join(f"{c} {fr[c]:.1%} [{lo:.1%}, {hi:.1%}]" for c, (lo, hi) in summary["ci"].items())
          + f" (delta_m = {summary['delta_m']:.4g}, delta_s = {summary['delta_s']:.4g}); wrote {args.out_dir}")  # fmt: skip
    return 0


def _sd_curvature(args: argparse.Namespace) -> int:
    from memgen.sd_curvature import SDCurvatureConfig, run

    cfg = section_arg(args, "sd-curvature", SDCurvatureConfig)
    paths = run(args.model, args.prompts, cfg, args.out_dir, args.experiment)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _training_image(path):
    """A training image of the prompt list as the figure shows images: RGB in [-1, 1]."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 127.5 - 1.0


def _sd_figure(args: argparse.Namespace) -> int:
    import numpy as np

    from memgen.figures.sd_curvature import sd_curvature_figure
    from memgen.io import read_parquet, save_figure
    from memgen.sd_curvature import SDCurvatureConfig

    cfg = section_arg(args, "sd-curvature", SDCurvatureConfig)
    plots = apply_plots(args)
    folder = Path(args.inputs)
    prompts = read_parquet(folder / "prompts.parquet")
    training = {int(p.prompt_id): _training_image(p.training_image) for p in prompts.itertuples()
                if isinstance(p.training_image, str) and p.training_image}  # fmt: skip
    fig = sd_curvature_figure(read_parquet(folder / "spectra.parquet"), prompts,
                              np.load(folder / "images.npy", mmap_mode="r"), args.experiment, training,
                              skip_top=cfg.skip_top, ylim=cfg.ylim)  # fmt: skip
    save_figure(fig, args.out, plots.dpi)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "audit",
        help="classify the samples of your own diffusers checkpoint (memorized / spurious / generalized)",
        description="Generate a synthetic set from a local diffusers checkpoint (a UNet2DModel folder with its "
        "scheduler_config.json, or a DDPMPipeline / DDIMPipeline folder), find each sample's exact nearest "
        "training image and nearest other sample, take the thresholds from the real images' leave-one-out "
        "distances (the default rule of `memgen thresholds`), classify, and write the tables (parquet) and "
        "figures (histograms, fractions with confidence intervals, examples; basins and curvature on request) "
        "into --out-dir. Inputs are checked first: an incomplete checkpoint, a size or channel mismatch, a "
        "non-DDPM/DDIM scheduler or unreadable images stop it with nothing written.",
    )
    p.add_argument("--checkpoint", default=None,
                   help="diffusers model folder (save_pretrained), or a repository id already in the HF cache")  # fmt: skip
    p.add_argument("--empirical-score", action="store_true",
                   help="audit the exact empirical-score model of the training images instead (memorizes all)")  # fmt: skip
    p.add_argument("--train-images", required=True,
                   help="the model's training images: a .npy (N, H, W, C), an image folder, or a data root")  # fmt: skip
    p.add_argument("--dataset", default=None,
                   help="format of --train-images: array, folder, mnist, fmnist, cifar10, lsun_church, digits "
                   "(default: array for .npy, else folder)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (K = N)")
    p.add_argument("--null-images", default=None,
                   help="real images for the threshold null (default: the training images; more is better)")  # fmt: skip
    p.add_argument("--null-dataset", default=None, help="format of --null-images (as --dataset)")
    p.add_argument("--experiment", default="audit", help="name in tables and figure files")
    add_section_argument(p, "audit", "audit options (n_samples, sampler, steps, metric, ...)", required=False)
    add_plots_argument(p)
    p.add_argument("--out-dir", required=True, help="output folder (tables, figures, summary.json)")
    p.set_defaults(func=_audit)

    q = subparsers.add_parser(
        "sd-curvature",
        help="Stable Diffusion case study: score-Jacobian spectra of candidate memorized/spurious/generalized prompts",
        description="Generate each prompt with DDIM from fixed seeds on a local Stable Diffusion folder, and compute "
        "the top singular values of the latent score Jacobian at a small time by a matrix-free solver "
        "(Jacobian-vector products; Lanczos or randomized). Writes spectra.parquet, prompts.parquet, "
        "latents.npy and images.npy into --out-dir.",
    )
    q.add_argument("--model", required=True, help="Stable Diffusion folder (save_pretrained) or cached repository id")
    q.add_argument("--prompts", required=True,
                   help="CSV/TSV/YAML with columns prompt, candidate (memorized|spurious|generalized), "
                   "optional training_image (path relative to the list) and name")  # fmt: skip
    q.add_argument("--experiment", default="sd", help="name in tables and figure files")
    add_section_argument(q, "sd-curvature", "Stable Diffusion case study options", required=False)
    q.add_argument("--out-dir", required=True, help="output folder")
    q.set_defaults(func=_sd_curvature)

    f = subparsers.add_parser(
        "sd-curvature-figure",
        help="Fig 5B / 24: Stable Diffusion candidates and their singular-value spectra",
        description="Images of each prompt (with the matching training image where given) above the spectra, "
        "first skip_top singular values left out, y-axis up to ylim (the sd-curvature options).",
    )
    f.add_argument("--inputs", required=True, help="the sd-curvature output folder")
    f.add_argument("--experiment", default="sd", help="name in the title")
    add_section_argument(f, "sd-curvature", "Stable Diffusion case study options (skip_top, ylim)", required=False)
    add_plots_argument(f)
    f.add_argument("--out", required=True, help="output stem (.png and .pdf are written)")
    f.set_defaults(func=_sd_figure)

