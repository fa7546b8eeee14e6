"""Audit one diffusion model: how many of its samples are memorized, spurious or generalized.

The paper's analysis for one model (one K) that the user trained: generate a synthetic set from the
checkpoint, find each sample's exact nearest training image and nearest other sample, take the
thresholds from the real-image null (memgen.null, memgen.thresholds: the default rule), classify
(memgen.classify), and write the tables and figures of a paper experiment for that one K. Basins and
curvature of each class are computed on request with the image experiments' own stages.

Everything is checked before any work and nothing is written when an input is refused: the checkpoint
(memgen.diffusers_checkpoint), the training images (readable, same size and channels as the model) and
the settings. Outputs are made in a temporary folder beside ``out_dir`` and moved into it at the end, so
an interrupted audit leaves no partial tables.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from memgen.sections import Section, section

log = logging.getLogger(__name__)

ARRAY = "array"  # training images given as one .npy (memgen.data.load_image_array)
TABLES = ("samples.npy", "nn_train.parquet", "nn_synth.parquet", "pool_null.parquet",
          "thresholds.parquet", "classes.parquet", "fractions.parquet", "sensitivity.parquet",
          "histograms.parquet", "summary.json")  # fmt: skip
FIGURES = ("fig1b_examples", "fig3_hist", "fig4a_fractions")


@section("audit.*.options")
@dataclass(frozen=True)
class AuditConfig(Section):
    """Settings of one audit (defaults: the paper's choices where it has one)."""

    n_samples: int = 1024  # size of the synthetic set
    sampler: str = "ddpm"  # ddpm (ancestral, the paper's) | ddim
    steps: int = 1000  # sampler steps (ddpm: <= the schedule's length; strided when fewer)
    eta: float = 0.0  # ddim only
    seed: int = 3407
    batch_size: int = 256  # samples per network call
    metric: str = "l2"  # l2 | lpips-alex | lpips-vgg (LPIPS needs its weights in $TORCH_HOME)
    neighbors: int = 5  # neighbours kept per sample
    null_alpha: float = 0.005  # threshold = this quantile of real images' distance to their nearest other
    delta_m: float | None = None  # fixed thresholds instead of the null rule (both or neither)
    delta_s: float | None = None
    n_bootstrap: int = 1000
    confidence: float = 0.95
    examples_per_class: int = 2
    basins: dict[str, Any] | None = None  # the images.<E>.basins keys; None = no basins
    curvature: dict[str, Any] | None = None  # the images.<E>.curvature keys; None = no curvature
    analysis: dict[str, Any] = field(default_factory=dict)  # the images.<E>.analysis keys (points per class)
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self):
        from memgen.metrics import METRICS

        if self.sampler not in ("ddpm", "ddim"):
            raise ValueError(f"audit sampler must be 'ddpm' or 'ddim', got {self.sampler!r}")
        if self.metric not in METRICS:
            raise ValueError(f"audit metric must be one of {METRICS}, got {self.metric!r}")
        for name in ("n_samples", "steps", "batch_size", "neighbors"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"audit {name} must be >= 1, got {getattr(self, name)}")
        if self.n_samples < 2:
            raise ValueError("audit n_samples must be >= 2 (a sample's nearest other sample is needed)")
        if (self.delta_m is None) != (self.delta_s is None):
            raise ValueError("give both audit delta_m and delta_s, or neither (the null rule)")
        if not 0 < self.null_alpha < 1:
            raise ValueError(f"audit null_alpha must be in (0, 1), got {self.null_alpha}")


# ----------------------------------------------------------------------------------------- inputs
def read_images(path: str | Path, dataset: str | None = None, limit: int | None = None,
                what: str = "training images") -> np.ndarray:  # fmt: skip
    """Images (N, H, W, C) float32 in [-1, 1] from a .npy array or any memgen data set reader.

    ``dataset`` None: a ``.npy`` file is an array, a folder of images is ``folder``. For the named data
    sets (mnist, cifar10, ...) ``path`` is their data root.
    """
    from memgen.data import DATASETS, load_dataset, load_image_array

    path = Path(path)
    dataset = dataset or (ARRAY if path.suffix == ".npy" else "folder")
    if dataset != ARRAY and dataset not in DATASETS:
        raise ValueError(f"unknown {what} format {dataset!r}; choose {ARRAY} or one of {sorted(DATASETS)}")
    if not path.exists() and dataset != "digits":
        raise FileNotFoundError(f"{what} not found: {path} (a .npy array, an image folder or a data root)")
    try:
        if dataset == ARRAY:
            arr = load_image_array(path)
            arr = arr[:limit] if limit else arr
        elif dataset == "folder":
            arr = load_dataset("folder", path, None, limit)
        else:
            arr = load_dataset(dataset, path, None, limit)
    except (OSError, ValueError, EOFError) as err:
        raise type(err)(f"cannot read the {what} ({dataset} at {path}): {err}") from err
    if arr.ndim != 4:
        raise ValueError(f"{what} {path}: shape {arr.shape}; the audit needs images (N, H, W, C)")
    if arr.shape[0] < 2:
        raise ValueError(f"{what} {path}: {arr.shape[0]} image; the real-image null needs at least 2")
    return np.ascontiguousarray(arr, dtype=np.float32)


@dataclass
class AuditInputs:
    model: torch.nn.Module  # an EpsModel: eps = model(x (B,C,H,W), t (B,))
    schedule: Any  # alphas_cumprod / sigmas / num_steps (memgen.schedules or diffusers_checkpoint)
    train: np.ndarray  # (K, H, W, C) in [-1, 1]: what the model was trained on
    null_images: np.ndarray  # real images of the null (the training images unless given)
    clip: bool = True
    source: dict = field(default_factory=dict)  # provenance: checkpoint, data paths


def checkpoint_inputs(checkpoint, train_images, dataset=None, limit=None, null_images=None,
                      null_dataset=None, device="cpu") -> AuditInputs:  # fmt: skip
    """Check a diffusers checkpoint against its training images, then load it."""
    from memgen.diffusers_checkpoint import open_checkpoint

    ckpt = open_checkpoint(checkpoint)
    train = read_images(train_images, dataset, limit)
    ckpt.check_images(train.shape, f"the training images {train_images}")
    null = train
    if null_images is not None:
        null = read_images(null_images, null_dataset, None, "null images")
        if null.shape[1:] != train.shape[1:]:
            raise ValueError(f"null images {null_images} are {null.shape[1:]}, training images {train.shape[1:]}")
    source = {"checkpoint": str(checkpoint), "layout": ckpt.layout, "network": ckpt.net_config.get("_class_name"),
              "scheduler": ckpt.scheduler_config.get("_class_name"),
              "prediction_type": ckpt.scheduler_config.get("prediction_type", "epsilon"),
              "train_images": str(train_images), "dataset": dataset, "null_images": str(null_images or train_images)}  # fmt: skip
    return AuditInputs(ckpt.load(device), ckpt.schedule, train, null, ckpt.clip, source)


def empirical_inputs(train_images, dataset=None, limit=None, null_images=None, null_dataset=None,
                     device="cpu") -> AuditInputs:  # fmt: skip
    """The exact empirical-score model of the training images (the optimum of the training loss): a
    reference that memorizes every sample."""
    from memgen.data import to_nchw
    from memgen.models.empirical import EmpiricalEpsModel
    from memgen.schedules import DDPMSchedule

    train = read_images(train_images, dataset, limit)
    null = train if null_images is None else read_images(null_images, null_dataset, None, "null images")
    model = EmpiricalEpsModel(torch.as_tensor(np.array(to_nchw(train)))).to(device)
    source = {"checkpoint": "exact empirical-score model", "train_images": str(train_images),
              "dataset": dataset, "null_images": str(null_images or train_images)}  # fmt: skip
    return AuditInputs(model, DDPMSchedule(), train, null, True, source)


# ------------------------------------------------------------------------------------------ stages
def generate(inputs: AuditInputs, cfg: AuditConfig, device) -> np.ndarray:
    """cfg.n_samples images (N, H, W, C) in [-1, 1], in batches with per-batch seeds (seed, batch)."""
    from memgen.samplers import ddim_from, ddpm_ancestral

    _, h, w, c = inputs.train.shape
    T = inputs.schedule.num_steps
    if cfg.sampler == "ddpm" and cfg.steps > T:
        raise ValueError(f"audit steps {cfg.steps} exceed the schedule's {T} steps")
    out = np.empty((cfg.n_samples, h, w, c), np.float32)
    for b, start in enumerate(range(0, cfg.n_samples, cfg.batch_size)):
        n = min(cfg.batch_size, cfg.n_samples - start)
        gen = torch.Generator(device=device).manual_seed(int(cfg.seed) * 1_000_003 + b)
        if cfg.sampler == "ddpm":
            x = ddpm_ancestral(inputs.model, (n, c, h, w), gen, inputs.schedule, clip=inputs.clip,
                               progress=False, device=device, steps=None if cfg.steps >= T else cfg.steps)  # fmt: skip
        else:
            x_t = torch.randn((n, c, h, w), generator=gen, device=device)
            x = ddim_from(inputs.model, x_t, T - 1, cfg.steps, inputs.schedule, eta=cfg.eta, generator=gen)
        out[start : start + n] = x.permute(0, 2, 3, 1).float().cpu().numpy()
    return np.clip(out, -1.0, 1.0)


def classify_samples(train, samples, null_images, cfg: AuditConfig, experiment: str, device="cpu"):
    """Neighbour tables, pool null, thresholds and classes of one synthetic set (all DataFrames)."""
    from memgen.classify import classify_table, nearest_distance
    from memgen.neighbors import search
    from memgen.null import PoolNull, ladder_sizes, pool_null_table
    from memgen.thresholds import NullConfig, choose_thresholds

    k = int(train.shape[0])
    kn = min(cfg.neighbors, k)
    nn_train, _ = search(train, samples, cfg.metric, kn, device=device, progress=False)
    nn_synth, _ = search(samples, None, cfg.metric, min(cfg.neighbors, len(samples) - 1), exclude_self=True,
                         device=device, progress=False)  # fmt: skip
    null_tab = pool_null_table(null_images, cfg.metric, ladder_sizes(len(null_images)), device=device,
                               progress=False)  # fmt: skip
    for df in (nn_train, nn_synth, null_tab):
        df["metric"] = cfg.metric
        df["experiment"] = experiment
    nn_train["K"] = k
    nn_synth["K"] = k
    manual = cfg.delta_m is not None
    rows = choose_thresholds(
        {k: nearest_distance(nn_train, "training").to_numpy()},
        {k: nearest_distance(nn_synth, "sample").to_numpy()},
        cfg.delta_m if manual else "auto", cfg.delta_s if manual else "auto",
        method="null-quantile", null=PoolNull.from_table(null_tab), null_cfg=NullConfig(cfg.null_alpha),
    )  # fmt: skip
    thresholds = pd.DataFrame(rows)
    thresholds.insert(0, "experiment", experiment)
    dm, ds = float(thresholds["delta_m"].iloc[0]), float(thresholds["delta_s"].iloc[0])
    classes = classify_table(nn_train, nn_synth, dm, ds)
    classes.insert(0, "K", k)
    classes.insert(0, "experiment", experiment)
    return nn_train, nn_synth, null_tab, thresholds, classes


def summary_tables(classes: pd.DataFrame, cfg: AuditConfig, experiment: str, bins: int = 60):
    """fractions (with bootstrap CIs and the gap-ratio row), sensitivity and histogram bins."""
    from memgen.classify import (
        fractions_with_ci,
        gap_fraction,
        histogram_rows,
        n_groups,
        sensitivity,
    )

    k = int(classes["K"].iloc[0])
    groups = n_groups(classes["duplicate_group"])
    frac = [{"K": k, **r, "groups": groups if r["class"] == "spurious" else -1}
            for r in fractions_with_ci(classes["class"], cfg.n_bootstrap, cfg.confidence, cfg.seed)]  # fmt: skip
    frac.append({"K": k, **gap_fraction(classes, cfg.n_bootstrap, cfg.confidence, cfg.seed), "groups": -1})
    sens = [{"K": k, **r} for r in sensitivity(classes)]
    logd = np.log10(np.maximum(classes[["d_train", "d_synth"]].to_numpy(float), 1e-4))
    edges = np.linspace(logd.min() - 0.05, logd.max() + 0.05, bins + 1)
    hist = [{"K": k, **r} for r in histogram_rows(classes, edges)]
    out = []
    for rows in (frac, sens, hist):
        df = pd.DataFrame(rows)
        df.insert(0, "experiment", experiment)
        out.append(df)
    return tuple(out)


def draw_figures(tabs: dict, samples, train, experiment: str, out_dir: Path, per_class: int, dpi: int = 150):
    """Fig 3 (histograms), Fig 4A (fractions, one K) and Fig 1B (examples) of the audited model."""
    import matplotlib.pyplot as plt

    from memgen.figures import classify as F
    from memgen.io import save_figure

    k = int(tabs["classes"]["K"].iloc[0])
    save_figure(F.histograms_figure(tabs["histograms"], tabs["thresholds"], experiment, ks=[k],
                                    null=tabs["pool_null"]), out_dir / f"fig3_hist_{experiment}", dpi=dpi)  # fmt: skip
    save_figure(F.fractions_figure(tabs["fractions"], experiment, k_log=False),
                out_dir / f"fig4a_fractions_{experiment}", dpi=dpi)  # fmt: skip
    ex = F.collect_examples({k: tabs["classes"]}, {k: tabs["nn_train"]}, {k: tabs["nn_synth"]}, {k: samples},
                            train, per_class)  # fmt: skip
    save_figure(F.examples_figure(ex, experiment), out_dir / f"fig1b_examples_{experiment}", dpi=dpi)
    plt.close("all")


def analyses(inputs: AuditInputs, samples, classes, cfg: AuditConfig, experiment, out_dir: Path, device,
             dpi: int = 150):  # fmt: skip
    """Basins and curvature tables (and figures) when requested; returns the files written."""
    from memgen.io import save_figure, write_parquet
    from memgen.selection import AnalysisConfig

    written = []
    k = int(inputs.train.shape[0])
    acfg = AnalysisConfig.from_dict(cfg.analysis)
    if cfg.basins is not None:
        from memgen.basins import BasinConfig, basins_table, make_distance
        from memgen.figures.basins import critical_time_figure, log_volume_figure

        bcfg = BasinConfig.from_dict({**cfg.basins, "metric": cfg.basins.get("metric", cfg.metric)})
        with torch.no_grad():
            df = basins_table(inputs.model, inputs.train, samples, classes, k, experiment, acfg, bcfg,
                              make_distance(bcfg.metric, device), schedule=inputs.schedule, device=device)  # fmt: skip
        written.append(write_parquet(df, out_dir / "basins.parquet", provenance={"experiment": experiment, "K": k}))
        save_figure(log_volume_figure(df, experiment, k_log=False), out_dir / f"fig4b_basins_{experiment}", dpi=dpi)
        save_figure(critical_time_figure(df, experiment, k_log=False),
                    out_dir / f"figC_critical_time_{experiment}", dpi=dpi)  # fmt: skip
    if cfg.curvature is not None:
        from memgen.curvature import CurvatureConfig, curvature_table
        from memgen.figures.curvature import curvature_figure

        ccfg = CurvatureConfig.from_dict(dict(cfg.curvature))
        df = curvature_table(inputs.model, inputs.train, samples, classes, k, experiment, acfg, ccfg,
                             schedule=inputs.schedule, device=device)  # fmt: skip
        written.append(write_parquet(df, out_dir / "curvature.parquet", provenance={"experiment": experiment, "K": k}))
        save_figure(curvature_figure(df, experiment, drop_top=ccfg.drop_top, fixed_ks=ccfg.figure_ks),
                    out_dir / f"fig5a_curvature_{experiment}", dpi=dpi)  # fmt: skip
    return written


def run_audit(inputs: AuditInputs, cfg: AuditConfig, out_dir: str | Path, experiment: str = "audit",
              device="cpu", dpi: int = 150) -> dict:  # fmt: skip
    """Sample, classify and draw; write everything into ``out_dir`` (moved in at the end). Returns the
    summary (fractions per class, thresholds, counts)."""
    from memgen.io import save_npy, write_json, write_parquet

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with torch.no_grad():
        samples = generate(inputs, cfg, device)
    t_sample = time.perf_counter() - t0
    nn_train, nn_synth, null_tab, thresholds, classes = classify_samples(
        inputs.train, samples, inputs.null_images, cfg, experiment, device)  # fmt: skip
    fractions, sens, hist = summary_tables(classes, cfg, experiment)
    tabs = {"nn_train": nn_train, "nn_synth": nn_synth, "pool_null": null_tab, "thresholds": thresholds,
            "classes": classes, "fractions": fractions, "sensitivity": sens, "histograms": hist}  # fmt: skip
    k = int(inputs.train.shape[0])
    prov = {"experiment": experiment, "K": k, "config": cfg.to_dict(), **inputs.source}
    fr = fractions.set_index("class")
    summary = {
        "experiment": experiment, "K": k, "n_samples": int(len(samples)),
        "fractions": {c: float(fr.loc[c, "fraction"]) for c in ("memorized", "spurious", "generalized")},
        "ci": {c: [float(fr.loc[c, "ci_low"]), float(fr.loc[c, "ci_high"])] for c in ("memorized", "spurious", "generalized")},
        "delta_m": float(thresholds["delta_m"].iloc[0]), "delta_s": float(thresholds["delta_s"].iloc[0]),
        "threshold_method": str(thresholds["method"].iloc[0]), "metric": cfg.metric,
        "sampling_seconds": t_sample, **inputs.source,
    }  # fmt: skip
    sort = {"nn_train": ["query", "rank"], "nn_synth": ["query", "rank"], "pool_null": ["n", "query"],
            "classes": ["sample"], "fractions": ["class"], "histograms": ["distance", "log10_lo"]}  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        save_npy(samples, tmp / "samples.npy")
        for name, df in tabs.items():
            write_parquet(df, tmp / f"{name}.parquet", provenance=prov, sort_by=sort.get(name))
        draw_figures(tabs, samples, inputs.train, experiment, tmp, cfg.examples_per_class, dpi)
        analyses(inputs, samples, classes, cfg, experiment, tmp, device, dpi)
        summary["seconds"] = time.perf_counter() - t0
        write_json(summary, tmp / "summary.json")
        out_dir.mkdir(exist_ok=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("audit %s (K = %d, %d samples): %s", experiment, k, len(samples),
             ", ".join(f"{c} {v:.1%}" for c, v in summary["fractions"].items()))  # fmt: skip
    return summary
