"""Model directories written by `memgen train` load and sample with diffusers alone."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from memgen.models import load_eps_model
from memgen.models.pipeline_files import (
    PIPELINE_INDEX,
    SCHEDULER_CONFIG,
    check_scheduler_config,
)
from memgen.schedules import DDPMSchedule
from memgen.train import TrainConfig, train_model

torch.set_num_threads(1)

TINY_UNET = {"kind": "unet", "nf": 32, "ch_mult": [1, 2], "attn_resolutions": [4],
             "dropout": 0.0}  # fmt: skip
TINY_TRAIN = TrainConfig(iterations=3, batch_size=4, checkpoint_every=3, log_every=3, device="cpu")

# Runs in a fresh interpreter that never imports memgen: what a diffusers user would type.
DIFFUSERS_ONLY = r"""
import json, sys
import numpy as np, torch
from diffusers import DDPMPipeline, DDPMScheduler
model_dir, out = sys.argv[1], sys.argv[2]
assert "memgen" not in sys.modules
pipe = DDPMPipeline.from_pretrained(model_dir)
images = pipe(batch_size=2, num_inference_steps=5, generator=torch.Generator().manual_seed(0),
              output_type="np").images
sched = DDPMScheduler.from_pretrained(model_dir)
np.savez(out, images=images, pipe_abar=pipe.scheduler.alphas_cumprod.numpy(),
         abar=sched.alphas_cumprod.numpy(), timesteps=pipe.scheduler.timesteps.numpy())
print(json.dumps({"unet": type(pipe.unet).__name__, "scheduler": type(pipe.scheduler).__name__,
                  "memgen_imported": "memgen" in sys.modules}))
"""


def train_tiny(tmp_path, model_cfg, shape=(8, 1, 8, 8)):
    data = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return train_model(
        data, model_cfg, TINY_TRAIN, tmp_path / "model", tmp_path / "log.parquet",
        tmp_path / "scratch", provenance={"experiment": "t"}, progress=False,
    )  # fmt: skip


def diffusers_sample(model_dir, tmp_path):
    out = tmp_path / "diffusers_out.npz"
    proc = subprocess.run([sys.executable, "-c", DIFFUSERS_ONLY, str(model_dir), str(out)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out)


def test_trained_unet_loads_and_samples_with_ddpm_pipeline(tmp_path):
    model_dir = train_tiny(tmp_path, TINY_UNET)
    assert (model_dir / SCHEDULER_CONFIG).is_file() and (model_dir / PIPELINE_INDEX).is_file()
    info, res = diffusers_sample(model_dir, tmp_path)
    assert info == {"unet": "UNet2DModel", "scheduler": "DDPMScheduler", "memgen_imported": False}
    images = res["images"]
    assert images.shape == (2, 8, 8, 1)  # DDPMPipeline returns NHWC in [0, 1]
    assert np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0
    # the schedule diffusers rebuilt from the directory is memgen's, to float32 precision
    abar = DDPMSchedule().alphas_cumprod.numpy()
    np.testing.assert_allclose(res["abar"], abar, rtol=1e-6, atol=0)
    np.testing.assert_allclose(res["pipe_abar"], abar, rtol=1e-6, atol=0)
    # 5 strided steps t = 800, 600, ..., 0: the same timesteps memgen's ddpm_ancestral(steps=5) uses
    assert res["timesteps"].tolist() == [800, 600, 400, 200, 0]
    # and memgen's own reader still loads the new directory
    eps = load_eps_model(model_dir)
    assert eps(torch.zeros(1, 1, 8, 8), 10).shape == (1, 1, 8, 8)


def test_mlp_dir_holds_scheduler_config_but_no_pipeline_index(tmp_path):
    from diffusers import DDPMScheduler

    model_dir = train_tiny(tmp_path, {"kind": "mlp", "width": 16, "blocks": 1})
    assert not (model_dir / PIPELINE_INDEX).exists()  # diffusers cannot build memgen's MLP
    sched = DDPMScheduler.from_pretrained(model_dir)
    np.testing.assert_allclose(sched.alphas_cumprod.numpy(), DDPMSchedule().alphas_cumprod.numpy(),
                               rtol=1e-6)  # fmt: skip
    assert sched.config.clip_sample and sched.config.variance_type == "fixed_small"
    assert sched.config.prediction_type == "epsilon"


def test_old_dirs_without_scheduler_files_still_load(tmp_path):
    model_dir = train_tiny(tmp_path, {"kind": "mlp", "width": 16, "blocks": 1})
    (model_dir / SCHEDULER_CONFIG).unlink()
    eps = load_eps_model(model_dir)
    assert eps(torch.zeros(2, 1, 8, 8), 3).shape == (2, 1, 8, 8)


def test_foreign_schedule_is_refused(tmp_path):
    model_dir = train_tiny(tmp_path, {"kind": "mlp", "width": 16, "blocks": 1})
    cfg = json.loads((model_dir / SCHEDULER_CONFIG).read_text())
    cfg["beta_schedule"] = "squaredcos_cap_v2"
    (model_dir / SCHEDULER_CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="different noise schedule.*squaredcos_cap_v2"):
        check_scheduler_config(model_dir)
    with pytest.raises(ValueError, match="different noise schedule"):
        load_eps_model(model_dir)


def test_paper_mini_models_load_and_sample_with_ddpm_pipeline(request, tmp_path):
    """The models of the miniature paper run (Table 3 UNet presets, narrowed) in diffusers alone."""
    run = request.getfixturevalue("paper_mini_run") / "results" / "paper_mini"
    abar = DDPMSchedule().alphas_cumprod.numpy()
    for exp, k, shape in (("cifar10", 8, (2, 32, 32, 3)), ("church", 8, (2, 64, 64, 3)),
                          ("mnist", 8, (2, 28, 28, 1))):  # fmt: skip
        model_dir = run / exp / f"K{k}" / "model"
        info, res = diffusers_sample(model_dir, tmp_path)
        assert info["unet"] == "UNet2DModel" and not info["memgen_imported"], (exp, info)
        images = res["images"]
        assert images.shape == shape, (exp, images.shape)
        assert np.isfinite(images).all() and 0.0 <= images.min() and images.max() <= 1.0
        np.testing.assert_allclose(res["abar"], abar, rtol=1e-6, atol=0)
        preset = json.loads((model_dir / "memgen_train.json").read_text())["model"]["preset"]
        assert preset in {"cifar10_128", "church_128", "mnist"}, preset
