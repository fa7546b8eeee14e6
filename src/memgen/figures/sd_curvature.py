"""Fig 5B / Fig 24: Stable Diffusion candidates (generated image, matching training image where known)
above their score-Jacobian spectra, the first singular values left out as in the paper."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memgen.palette import CLASS_COLORS


def _show(ax, img, title, color=None):
    img = (np.clip(np.asarray(img, np.float32), -1, 1) + 1) / 2
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)
    if color:
        ax.spines[:].set_color(color)
        ax.spines[:].set_linewidth(2.5)


def sd_curvature_figure(spectra: pd.DataFrame, prompts: pd.DataFrame, images: np.ndarray, experiment: str,
                        training_images: Mapping[int, np.ndarray] | None = None, skip_top: int = 50,
                        ylim: float | None = 1500.0) -> Figure:  # fmt: skip
    """One column per prompt: image of the first seed, the training image below it where given; bottom
    row: the mean spectrum over seeds (band: min-max) of every prompt, coloured by candidate class.

    ``spectra``, ``prompts``, ``images``: the ``sd-curvature`` outputs (spectra.parquet, prompts.parquet,
    images.npy: prompt x seed x H x W x C in [-1, 1]); ``training_images``: the matching training
    image of a prompt (by ``prompt_id``, in [-1, 1]) where the prompt list names one.
    """
    prompts = prompts.sort_values("prompt_id")
    training_images = training_images or {}
    n = len(prompts)
    has_train = bool(training_images)
    rows = 3 if has_train else 2
    fig = Figure(figsize=(max(6.0, 1.9 * n), 2.0 * (rows - 1) + 3.2))
    grid = fig.add_gridspec(rows, n, height_ratios=[1.0] * (rows - 1) + [1.7])
    for j, p in enumerate(prompts.itertuples()):
        color = CLASS_COLORS[p.candidate]
        text = p.prompt if len(p.prompt) <= 28 else p.prompt[:26] + "…"
        _show(fig.add_subplot(grid[0, j]), images[j, 0], f"{p.candidate}\n{text}", color)
        if has_train:
            ax = fig.add_subplot(grid[1, j])
            if p.prompt_id in training_images:
                _show(ax, training_images[p.prompt_id], "training image")
            else:
                ax.axis("off")
    ax = fig.add_subplot(grid[rows - 1, :])
    seen = set()
    for p in prompts.itertuples():
        d = spectra[spectra["prompt_id"] == p.prompt_id]
        mat = d.pivot(index="seed", columns="rank", values="singular_value").to_numpy()[:, skip_top:]
        if mat.shape[1] == 0:
            continue
        ranks = np.arange(skip_top, skip_top + mat.shape[1])
        color = CLASS_COLORS[p.candidate]
        label = p.candidate if p.candidate not in seen else None
        seen.add(p.candidate)
        ax.plot(ranks, mat.mean(0), color=color, lw=1.4, label=label)
        ax.fill_between(ranks, mat.min(0), mat.max(0), color=color, alpha=0.15, lw=0)
    if ylim is not None:
        ax.set_ylim(0, ylim)
    meta = spectra.iloc[0]
    ax.set_xlabel(f"singular value index (first {skip_top} left out)")
    ax.set_ylabel("singular value of the score Jacobian")
    ax.set_title(f"{experiment}: latent score Jacobian at t = {int(meta['t'])} (σ_t = {meta['sigma_t']:.3g}), "
                 f"top {int(spectra['rank'].max()) + 1} by {meta['solver']}", fontsize=9)  # fmt: skip
    if seen:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
