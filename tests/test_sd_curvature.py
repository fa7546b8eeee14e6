"""Stable Diffusion curvature case study on a tiny random-weight StableDiffusionPipeline (CLIP text encoder,
tokenizer files, VAE; built offline with diffusers' and transformers' classes, saved with save_pretrained).

Ground truth for the matrix-free spectrum: the dense SVD of the latent score Jacobian, formed with
torch.func.jacrev on a latent small enough (4 x 8 x 8) to hold the 256 x 256 matrix.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.cli import main


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    from memgen.tiny_models import save_sd_pipeline

    return save_sd_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd", seed=0)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("prompts")
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(root / "orig.png")
    path = root / "prompts.csv"
    path.write_text("prompt,candidate,training_image\na red car,memorized,orig.png\na lake,generalized,\n")
    return path


def _operator(sd_dir, top_k):
    from memgen.sd_curvature import (
        SDCurvatureConfig,
        jacobian_operator,
        load_sd_pipeline,
        text_embeddings,
    )

    pipe = load_sd_pipeline(sd_dir, torch.device("cpu"))
    cfg = SDCurvatureConfig(steps=2, seeds=1, top_k=top_k, t=10)
    z0 = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(0))
    op, sigma = jacobian_operator(pipe, z0, text_embeddings(pipe, "a red car", 1.0), cfg)
    # the dense Jacobian by reverse mode only: row i = e_i^T J, all rows in one batched call
    rows = torch.func.vjp(op.f, op.x.expand(op.d, -1).clone())[1](torch.eye(op.d))[0]
    return pipe, op, sigma, rows.detach()


def test_latent_score_jacobian_products_are_the_dense_matrix(sd_dir):
    """Forward mode (reference attention) and reverse mode (fused attention) give the dense J's products."""
    pipe, op, sigma, dense = _operator(sd_dir, 2)
    assert dense.shape == (256, 256)
    v = torch.randn(3, 256, dtype=torch.float32, generator=torch.Generator().manual_seed(1))
    # float32 products of 256 terms (entries up to ~1): agreement to float32 rounding
    torch.testing.assert_close(op.matmat(v), v @ dense.T, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(op.rmatmat(v), v @ dense, atol=1e-4, rtol=1e-4)
    assert sigma == pytest.approx(float((1 - pipe.scheduler.alphas_cumprod[10]) ** 0.5))
    # the fused attention is back after the forward-mode products
    assert all(type(p).__name__ != "AttnProcessor" for p in pipe.unet.attn_processors.values())


@pytest.mark.slow
def test_matrix_free_top_k_matches_the_dense_svd_on_tiny_sd(sd_dir):
    from memgen.spectrum import lanczos_topk, randomized_topk

    _, op, _, dense = _operator(sd_dir, 6)
    want = torch.linalg.svdvals(dense.double()).numpy()[:6]
    np.testing.assert_allclose(lanczos_topk(op, 6), want, rtol=1e-4)
    op.batch_size = 64
    np.testing.assert_allclose(randomized_topk(op, 6, oversample=58, power_iterations=6), want, rtol=1e-4)


def test_sd_curvature_end_to_end_and_figure(sd_dir, prompts, tmp_path):
    out = tmp_path / "sd"
    cfg = json.dumps({"steps": 2, "seeds": 1, "top_k": 3, "solver": "randomized", "batch_size": 5,
                      "oversample": 2, "power_iterations": 1, "skip_top": 1, "ylim": None})  # fmt: skip
    assert main(["sd-curvature", "--model", str(sd_dir), "--prompts", str(prompts), "--experiment", "tiny",
                 "--sd-curvature-config", cfg, "--out-dir", str(out)]) == 0  # fmt: skip
    spectra = pd.read_parquet(out / "spectra.parquet")
    assert len(spectra) == 2 * 1 * 3  # prompts x seeds x top_k
    assert set(spectra["candidate"]) == {"memorized", "generalized"} and set(spectra["seed"]) == {0}
    for _, d in spectra.groupby(["prompt_id", "seed"]):
        sv = d.sort_values("rank")["singular_value"].to_numpy()
        assert (np.diff(sv) <= 1e-9).all() and sv[-1] > 0
    assert spectra["estimator"].str.contains("substitute").all()
    latents = np.load(out / "latents.npy")
    assert latents.shape == (2, 1, 4, 8, 8)
    images = np.load(out / "images.npy")
    assert images.shape == (2, 1, 32, 32, 3) and np.abs(images).max() <= 1
    # fixed seed: the same prompt and seed give the same latent
    from memgen.sd_curvature import SDCurvatureConfig, generate, load_sd_pipeline

    pipe = load_sd_pipeline(sd_dir, torch.device("cpu"))
    z0, _ = generate(pipe, "a lake", 0, SDCurvatureConfig(steps=2))
    np.testing.assert_allclose(z0[0].numpy(), latents[1, 0], atol=1e-5)
    stem = tmp_path / "fig5b_sd_tiny"
    assert main(["sd-curvature-figure", "--inputs", str(out), "--experiment", "tiny", "--sd-curvature-config",
                 '{"skip_top": 1, "ylim": 50}', "--out", str(stem)]) == 0  # fmt: skip
    assert (tmp_path / "fig5b_sd_tiny.png").stat().st_size > 5000 and (tmp_path / "fig5b_sd_tiny.pdf").is_file()


def test_refuses_incomplete_or_incompatible_sd_folders(sd_dir, prompts, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["sd-curvature", "--prompts", str(prompts), "--out-dir", str(out), "--model"]
    broken = shutil.copytree(sd_dir, tmp_path / "broken")
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    assert main(args + [str(broken)]) == 2
    err = capsys.readouterr().err
    assert "incomplete checkpoint" in err and "unet" in err and "save_pretrained" in err
    broken = shutil.copytree(sd_dir, tmp_path / "ve")
    sched = broken / "scheduler" / "scheduler_config.json"
    sched.write_text(json.dumps({**json.loads(sched.read_text()), "_class_name": "ScoreSdeVeScheduler"}))
    assert main(args + [str(broken)]) == 2
    assert "not DDPM/DDIM-compatible" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,candidate\na cat,famous\n")
    assert main(["sd-curvature", "--model", str(sd_dir), "--prompts", str(bad), "--out-dir", str(out)]) == 2
    assert "candidate must be one of" in capsys.readouterr().err
    assert not out.exists()


def test_figure_is_drawn_from_the_tables():
    """The figure function takes the case study's tables and images and returns the figure (no files)."""
    from matplotlib.figure import Figure

    from memgen.figures.sd_curvature import sd_curvature_figure

    sv = np.array([[9.0, 4.0, 3.0, 1.0], [7.0, 6.0, 1.0, 0.5]])  # seeds x ranks of prompt 0
    spectra = pd.DataFrame([
        {"prompt_id": p, "seed": s, "rank": r, "singular_value": sv[s, r] * (p + 1), "t": 10, "sigma_t": 0.1,
         "solver": "lanczos"}
        for p in (0, 1) for s in (0, 1) for r in range(4)
    ])  # fmt: skip
    prompts = pd.DataFrame({"prompt_id": [1, 0], "prompt": ["a lake", "a red car"],
                            "candidate": ["generalized", "memorized"], "training_image": [None, "orig.png"]})  # fmt: skip
    images = np.zeros((2, 2, 8, 8, 3), np.float32)
    fig = sd_curvature_figure(spectra, prompts, images, "tiny", {0: np.ones((8, 8, 3), np.float32)}, skip_top=1,
                              ylim=None)  # fmt: skip
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 + 2 + 1  # generated images, training images (one blank), the spectra
    image0, train0, image1, train1 = fig.axes[:4]  # per prompt in prompt_id order: its image, its training image
    assert [ax.get_title().split("\n")[0] for ax in (image0, image1)] == ["memorized", "generalized"]
    assert train0.get_title() == "training image" and not train1.axison
    lines = fig.axes[-1].get_lines()
    assert len(lines) == 2
    for p, line in enumerate(lines):  # the mean over seeds, the first skip_top values left out
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(line.get_ydata(), sv[:, 1:].mean(0) * (p + 1))
    assert len(sd_curvature_figure(spectra, prompts, images, "tiny").axes) == 2 + 1  # no training row
