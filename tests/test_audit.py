"""memgen audit on tiny diffusers checkpoints built offline (random weights, save_pretrained).

Ground truths: the exact empirical-score model memorizes every sample (so the audit must report 100 %);
a tiny UNet trained on two digits memorizes them (slow test); diffusers' own DDPMScheduler gives the
alpha_bar table. Every refusal must name the problem and leave no output folder behind.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.cli import main

FAST = '{"n_samples": 24, "sampler": "ddim", "steps": 10, "n_bootstrap": 100, "batch_size": 24}'


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    imgs = (load_digits().images.astype(np.float32) / 8.0 - 1.0)[..., None]
    np.save(root / "all.npy", imgs)
    np.save(root / "four.npy", imgs[:4])
    return root


@pytest.fixture(scope="module")
def unet_dir(tmp_path_factory):
    from memgen.tiny_models import save_unet_checkpoint, tiny_unet

    return save_unet_checkpoint(tmp_path_factory.mktemp("ckpt") / "unet", tiny_unet(seed=1))


def _audit(ckpt, train, out, *extra, cfg=FAST):
    args = ["audit", "--train-images", str(train), "--audit-config", cfg, "--out-dir", str(out)]
    args += ["--checkpoint", str(ckpt)] if ckpt is not None else []
    return main(args + list(extra))


def test_audit_writes_the_tables_and_figures_of_one_k(unet_dir, digits, tmp_path):
    out = tmp_path / "audit"
    assert _audit(unet_dir, digits / "four.npy", out, "--experiment", "mine",
                  "--null-images", str(digits / "all.npy")) == 0  # fmt: skip
    for name in ("samples.npy", "nn_train.parquet", "nn_synth.parquet", "pool_null.parquet",
                 "thresholds.parquet", "classes.parquet", "fractions.parquet", "sensitivity.parquet",
                 "histograms.parquet", "summary.json"):  # fmt: skip
        assert (out / name).is_file(), name
    for stem in ("fig1b_examples_mine", "fig3_hist_mine", "fig4a_fractions_mine"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.pdf").is_file()
    assert not list(tmp_path.glob(".audit.tmp-*"))  # the staging folder is gone
    samples = np.load(out / "samples.npy")
    assert samples.shape == (24, 8, 8, 1) and np.abs(samples).max() <= 1.0
    classes = pd.read_parquet(out / "classes.parquet")
    assert len(classes) == 24 and set(classes["K"]) == {4} and set(classes["experiment"]) == {"mine"}
    th = pd.read_parquet(out / "thresholds.parquet")
    # the default rule: the 0.5 % quantile of the real images' distance to their nearest other image
    null = pd.read_parquet(out / "pool_null.parquet")
    full = null[null["n"] == null["n"].max()]["distance"].to_numpy()
    assert th["method_m"].iloc[0] == "null-quantile"
    assert th["delta_m"].iloc[0] == pytest.approx(np.quantile(full[full > 1e-4], 0.005))
    # classes follow the rule exactly
    dm, ds = th["delta_m"].iloc[0], th["delta_s"].iloc[0]
    want = np.where(classes["d_train"] <= dm, "memorized",
                    np.where(classes["d_synth"] <= ds, "spurious", "generalized"))  # fmt: skip
    assert (classes["class"].to_numpy() == want).all()
    fr = pd.read_parquet(out / "fractions.parquet").set_index("class")
    assert fr.loc[["memorized", "spurious", "generalized"], "fraction"].sum() == pytest.approx(1.0)
    assert (fr["ci_low"] <= fr["fraction"] + 1e-12).all() and (fr["fraction"] <= fr["ci_high"] + 1e-12).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["K"] == 4 and summary["layout"] == "network" and summary["scheduler"] == "DDPMScheduler"
    assert summary["fractions"]["memorized"] == pytest.approx(fr.loc["memorized", "fraction"])


def test_exact_empirical_score_model_is_100_percent_memorized(digits, tmp_path):
    cfg = '{"n_samples": 32, "sampler": "ddpm", "steps": 100, "n_bootstrap": 100}'
    out = tmp_path / "emp"
    assert _audit(None, digits / "four.npy", out, "--empirical-score", "--null-images",
                  str(digits / "all.npy"), cfg=cfg) == 0  # fmt: skip
    fr = pd.read_parquet(out / "fractions.parquet").set_index("class")
    assert fr.loc["memorized", "fraction"] == 1.0
    classes = pd.read_parquet(out / "classes.parquet")
    assert classes["d_train"].max() < 1e-3  # copies of training images
    assert set(classes["nn_train_index"]) <= {0, 1, 2, 3}


def test_pipeline_folder_and_schedule_from_diffusers(unet_dir, tmp_path):
    from memgen.diffusers_checkpoint import open_checkpoint
    from memgen.schedules import DDPMSchedule
    from memgen.tiny_models import ddpm_scheduler, save_unet_checkpoint, tiny_unet

    ck = open_checkpoint(unet_dir)
    assert ck.layout == "network" and ck.image_size == (8, 8) and ck.channels == 1
    torch.testing.assert_close(ck.schedule.alphas_cumprod, DDPMSchedule().alphas_cumprod)
    pipe = save_unet_checkpoint(tmp_path / "pipe", tiny_unet(seed=2), ddpm_scheduler(beta_schedule="squaredcos_cap_v2"),
                                pipeline=True)  # fmt: skip
    ck = open_checkpoint(pipe)
    assert ck.layout == "DDPMPipeline" and ck.net_folder == pipe / "unet"
    from diffusers import DDPMScheduler

    want = DDPMScheduler.from_pretrained(pipe / "scheduler").alphas_cumprod
    torch.testing.assert_close(ck.schedule.alphas_cumprod, want.float())
    eps = ck.load()(torch.zeros(2, 1, 8, 8), torch.tensor([5, 5]))
    assert eps.shape == (2, 1, 8, 8)


@pytest.mark.parametrize("prediction", ["sample", "v_prediction"])
def test_x0_and_v_predictions_become_epsilon(prediction):
    from memgen.diffusers_checkpoint import PredictionToEps
    from memgen.schedules import DDPMSchedule

    sched = DDPMSchedule()
    x0, eps = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([10, 200, 900])
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    target = x0 if prediction == "sample" else a.sqrt() * eps - (1 - a).sqrt() * x0

    class Oracle(torch.nn.Module):
        def forward(self, x, tt):
            return target

    got = PredictionToEps(Oracle(), prediction, sched, 1)(xt, t)
    torch.testing.assert_close(got, eps, atol=1e-4, rtol=1e-4)


def _refused(capsys, out, *needles):
    err = capsys.readouterr().err
    assert not out.exists(), "a refused audit must write nothing"
    assert not list(out.parent.glob(f".{out.name}.tmp-*"))
    for needle in needles:
        assert needle in err, err
    return err


def test_refuses_incomplete_checkpoints(unet_dir, digits, tmp_path, capsys):
    no_weights = shutil.copytree(unet_dir, tmp_path / "noweights")
    (no_weights / "diffusion_pytorch_model.safetensors").unlink()
    out = tmp_path / "out"
    assert _audit(no_weights, digits / "four.npy", out) == 2
    _refused(capsys, out, "incomplete checkpoint", "diffusion_pytorch_model.safetensors", "save_pretrained")
    no_sched = shutil.copytree(unet_dir, tmp_path / "nosched")
    (no_sched / "scheduler_config.json").unlink()
    assert _audit(no_sched, digits / "four.npy", out) == 2
    _refused(capsys, out, "incomplete checkpoint", "scheduler_config.json", "DDPMScheduler")
    assert _audit(tmp_path / "nowhere", digits / "four.npy", out) == 2
    _refused(capsys, out, "checkpoint folder not found", "save_pretrained")


def test_refuses_a_scheduler_that_is_not_ddpm_compatible(unet_dir, digits, tmp_path, capsys):
    ve = shutil.copytree(unet_dir, tmp_path / "ve")
    cfg = json.loads((ve / "scheduler_config.json").read_text())
    cfg["_class_name"] = "ScoreSdeVeScheduler"
    (ve / "scheduler_config.json").write_text(json.dumps(cfg))
    out = tmp_path / "out"
    assert _audit(ve, digits / "four.npy", out) == 2
    _refused(capsys, out, "'ScoreSdeVeScheduler' is not DDPM/DDIM-compatible", "DDPMScheduler config")


def test_refuses_mismatched_images(unet_dir, tmp_path, capsys):
    out = tmp_path / "out"
    np.save(tmp_path / "big.npy", np.zeros((4, 16, 16, 1), np.float32))
    assert _audit(unet_dir, tmp_path / "big.npy", out) == 2
    _refused(capsys, out, "image size mismatch", "8x8", "16x16", "resize")
    np.save(tmp_path / "rgb.npy", np.zeros((4, 8, 8, 3), np.uint8))
    assert _audit(unet_dir, tmp_path / "rgb.npy", out) == 2
    _refused(capsys, out, "channel mismatch", "1 channel", "have 3")


def test_refuses_unreadable_training_images(unet_dir, tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    assert _audit(unet_dir, tmp_path / "broken.npy", out) == 2
    _refused(capsys, out, "cannot read the training images", "broken.npy")
    (tmp_path / "empty").mkdir()
    assert _audit(unet_dir, tmp_path / "empty", out) == 2
    _refused(capsys, out, "cannot read the training images", "empty")
    assert _audit(unet_dir, tmp_path / "missing.npy", out) == 2
    _refused(capsys, out, "training images not found", "missing.npy")


@pytest.mark.slow
def test_tiny_unet_trained_on_two_digits_is_memorized(digits, tmp_path):
    """A model a user trained (diffusers' UNet2DModel and DDPMScheduler, a few hundred steps on two
    digits): its samples are copies, judged against the real digits' null."""
    from memgen.tiny_models import ddpm_scheduler, save_unet_checkpoint, tiny_unet

    torch.manual_seed(0)
    x0 = torch.as_tensor(np.load(digits / "all.npy")[:2]).permute(0, 3, 1, 2)
    unet, sched = tiny_unet(width=16), ddpm_scheduler()
    opt = torch.optim.Adam(unet.parameters(), lr=2e-3)
    for _ in range(300):
        x = x0[torch.randint(0, 2, (64,))]
        noise, t = torch.randn_like(x), torch.randint(0, 1000, (64,))
        loss = torch.nn.functional.mse_loss(unet(sched.add_noise(x, noise, t), t).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.save(tmp_path / "two.npy", np.load(digits / "all.npy")[:2])
    ckpt = save_unet_checkpoint(tmp_path / "trained", unet.eval(), sched)
    out = tmp_path / "audit"
    cfg = '{"n_samples": 64, "sampler": "ddpm", "steps": 50, "n_bootstrap": 200}'
    assert _audit(ckpt, tmp_path / "two.npy", out, "--null-images", str(digits / "all.npy"), cfg=cfg) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fractions"]["memorized"] >= 0.9, summary


@pytest.mark.slow
def test_basins_and_curvature_on_request(digits, tmp_path):
    """The image experiments' basin and curvature stages run on the audited model and its schedule."""
    cfg = json.dumps({"n_samples": 12, "sampler": "ddpm", "steps": 50, "n_bootstrap": 50,
                      "curvature": {"method": "jacobian", "max_points": 3},
                      "basins": {"metric": "l2", "trials": 2, "stride": 100, "max_points": 3},
                      "analysis": {"n_train_points": 2, "max_per_class": 3}})  # fmt: skip
    out = tmp_path / "an"
    assert _audit(None, digits / "four.npy", out, "--empirical-score", "--experiment", "exact", cfg=cfg) == 0
    curv = pd.read_parquet(out / "curvature.parquet")
    ok = curv[~curv["skipped"]]
    assert set(ok["class"]) == {"memorized", "training"} and ok["rank"].max() == 63
    basins = pd.read_parquet(out / "basins.parquet")
    assert "memorized" in set(basins["class"])
    for stem in ("fig5a_curvature_exact", "fig4b_basins_exact", "figC_critical_time_exact"):
        assert (out / f"{stem}.png").is_file()
