"""The files that make a memgen model directory loadable by diffusers alone.

A trained model directory holds the network (``config.json`` + weights, diffusers' ``save_pretrained``
layout). This module adds, beside them:

- ``scheduler_config.json``: the noise schedule the model was trained with, as a diffusers
  ``DDPMScheduler`` config (linear beta 1e-4..0.02, T = 1000, epsilon prediction, x0 clipped to
  [-1, 1], "fixed_small" posterior variance: exactly memgen's ancestral sampler);
- ``model_index.json`` (UNets only): a ``DDPMPipeline`` index whose components live in the directory
  itself, so ``DDPMPipeline.from_pretrained(model_dir)`` loads the UNet from ``config.json`` and the
  scheduler from ``scheduler_config.json`` (diffusers falls back to the root when a component has no
  subfolder). The flat layout keeps every file where memgen's readers and the workflow expect it.

The JSON is written here rather than by ``DDPMScheduler.save_pretrained`` so that saving the residual
MLP never imports diffusers (seconds per job); a test loads the result with diffusers and compares
its ``alphas_cumprod`` with :class:`~memgen.schedules.DDPMSchedule`.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from memgen.schedules import DDPMSchedule

SCHEDULER_CONFIG = "scheduler_config.json"
PIPELINE_INDEX = "model_index.json"
# Network classes diffusers itself can instantiate (the residual MLP is memgen's own).
DIFFUSERS_NETWORKS = ("UNet2DModel",)


def _diffusers_version() -> str:
    try:
        return metadata.version("diffusers")
    except metadata.PackageNotFoundError:  # pragma: no cover - diffusers is a dependency
        return "0.0.0"


def scheduler_config(schedule: DDPMSchedule | None = None) -> dict[str, Any]:
    """memgen's DDPM schedule as a diffusers ``DDPMScheduler`` config dict."""
    s = schedule or DDPMSchedule()
    return {
        "_class_name": "DDPMScheduler",
        "_diffusers_version": _diffusers_version(),
        "num_train_timesteps": int(s.num_steps),
        "beta_start": float(s.beta_start),
        "beta_end": float(s.beta_end),
        "beta_schedule": "linear",
        "trained_betas": None,
        "variance_type": "fixed_small",
        "clip_sample": True,
        "clip_sample_range": 1.0,
        "prediction_type": "epsilon",
        "thresholding": False,
        # Strided sampling picks t = 0, T/n, 2T/n, ... like memgen's ddpm_ancestral(steps=n).
        "timestep_spacing": "leading",
        "steps_offset": 0,
        "rescale_betas_zero_snr": False,
    }


def pipeline_index() -> dict[str, Any]:
    return {
        "_class_name": "DDPMPipeline",
        "_diffusers_version": _diffusers_version(),
        "scheduler": ["diffusers", "DDPMScheduler"],
        "unet": ["diffusers", "UNet2DModel"],
    }


def write_pipeline_files(model_dir: str | Path, schedule: DDPMSchedule | None = None) -> list[Path]:
    """Write the scheduler config (and, for a diffusers UNet, the pipeline index) into ``model_dir``.

    ``model_dir`` must already hold the network's ``config.json``; returns the files written. Used on
    the temporary directory of an atomic model save, and on older model directories that lack them.
    """
    model_dir = Path(model_dir)
    net_class = json.loads((model_dir / "config.json").read_text()).get("_class_name")
    files = {SCHEDULER_CONFIG: scheduler_config(schedule)}
    if net_class in DIFFUSERS_NETWORKS:
        files[PIPELINE_INDEX] = pipeline_index()
    written = []
    for name, content in files.items():
        path = model_dir / name
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def check_scheduler_config(model_dir: str | Path, schedule: DDPMSchedule | None = None) -> None:
    """Raise ValueError if ``model_dir`` declares a noise schedule other than memgen's.

    A directory without ``scheduler_config.json`` (written before it existed) passes: memgen's own
    models always used this schedule. A foreign diffusers model with, e.g., a cosine schedule would
    otherwise be sampled and analysed with the wrong noise levels without any sign of it.
    """
    path = Path(model_dir) / SCHEDULER_CONFIG
    if not path.is_file():
        return
    found = json.loads(path.read_text())
    want = scheduler_config(schedule)
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")
    defaults = {"beta_schedule": "linear", "prediction_type": "epsilon"}
    diff = {k: found.get(k, defaults.get(k)) for k in keys if found.get(k, defaults.get(k)) != want[k]}
    if found.get("trained_betas") is not None:
        diff["trained_betas"] = "(explicit list)"
    if diff:
        raise ValueError(
            f"{path}: the model was trained with a different noise schedule ({diff}); memgen's "
            f"stages use linear beta {want['beta_start']}..{want['beta_end']} over "
            f"{want['num_train_timesteps']} steps with epsilon prediction"
        )
