"""Critical time and basin log-volume per image (docs/method.md §6, Algorithm 1 per image, §10.8).

For each image x and candidate time t ∈ {1, 1+Δt, ...} < T (increasing): perturb n trials with the
forward process, denoise each with deterministic DDIM (n_d = min(20, t) steps), call a trial
recovered when dist(x, x̂) ≤ δ_c. The search stops *for that image* when the recovery probability
drops below p (the official code stopped a whole batch together, docs/method.md §10.8); T_c[j] is the last t at which
trial j was still alive. T_c is floored at the first candidate, and ``failed_at_first`` flags images
that never passed it. Images and trials are batched together only for speed: every image draws its
noise from its own generator, so its result does not depend on its batch mates.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from memgen.per_class import TableSpec, per_class_table
from memgen.samplers import ddim_from
from memgen.schedules import DDPMSchedule
from memgen.sections import Section, section

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@section("images.*.basins")
@dataclass(frozen=True)
class BasinConfig(Section):
    """The ``basins`` config section (defaults = the official code's values)."""

    enabled: bool = True
    metric: str = "lpips-vgg"  # lpips-vgg | l2
    delta: float = 0.1
    trials: int = 10
    stride: int = 25
    first_t: int = 1
    ddim_steps: int = 20
    stop_prob: float = 0.9
    radius: str = "code"  # code (fresh perturbation per trial) | rms
    max_points: int | None = None
    batch_size: int = 256
    seed: int = 3407
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self) -> None:
        if self.metric not in ("lpips-vgg", "l2"):
            raise ValueError(f"basins.metric must be 'lpips-vgg' or 'l2', got {self.metric!r}")
        if self.radius not in ("code", "rms"):
            raise ValueError(f"basins.radius must be 'code' or 'rms', got {self.radius!r}")


def candidate_times(stride: int, first: int = 1, num_steps: int = 1000) -> list[int]:
    """{first, first+Δt, ...} < T (0-based; {1, 26, ..., 976} = 40 values for the defaults)."""
    return list(range(first, num_steps, stride))


def ddim_evals(t: int, n_steps: int) -> int:
    """Model evaluations of one ``ddim_from(t, n_steps)`` call (same stride rule as the sampler)."""
    if t <= 0:
        return 1
    n = max(1, min(n_steps, t))
    return len(range(t, 0, -math.ceil(t / n)))


def log_ball_volume(r, d: int):
    """log V_d(r) = (d/2) log π + d log r − lgamma(d/2 + 1) (natural log; finite for d = 12 288)."""
    if isinstance(r, torch.Tensor):
        r = r.double()
        return 0.5 * d * math.log(math.pi) + d * torch.log(r) - math.lgamma(d / 2 + 1)
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 0.5 * d * math.log(math.pi) + d * np.log(r) - math.lgamma(d / 2 + 1)


def l2_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image Euclidean distance on the flattened [-1, 1] images."""
    return (x - y).flatten(1).double().norm(dim=1)


def make_distance(metric: str, device: str | torch.device = "cpu") -> Distance:
    """The recovery distance: ``l2`` or ``lpips-vgg`` (memgen.perceptual, docs/method.md §5.1 preprocessing)."""
    if metric == "l2":
        return l2_distance
    if metric == "lpips-vgg":
        from memgen.perceptual import load_lpips, lpips_distance

        net = load_lpips("vgg", device=device)
        return lambda x, y: lpips_distance(x, y, net_model=net).reshape(-1).double().to(x.device)
    raise ValueError(f"unknown basins metric {metric!r}; use 'lpips-vgg' or 'l2'")


def _image_generator(seed: int, image_id: int, t: int, device) -> torch.Generator:
    # One stream per (seed, image, t): noise is independent of batching and of other images.
    key = hashlib.sha256(f"{seed}:{image_id}:{t}".encode()).digest()
    return torch.Generator(device=device).manual_seed(
        int.from_bytes(key[:8], "little") & (2**63 - 1)
    )


@dataclass
class CriticalTimes:
    t_c: np.ndarray  # (N, n) int, per trial
    failed_at_first: np.ndarray  # (N,) bool
    stopped_at: np.ndarray  # (N,) first candidate where p̂ < p (-1 if never)
    evals: np.ndarray  # (N,) model evaluations spent on each image


@torch.no_grad()
def critical_times(
    model,
    x: torch.Tensor,
    distance: Distance,
    cfg: BasinConfig,
    schedule: DDPMSchedule | None = None,
    ids: np.ndarray | None = None,
) -> CriticalTimes:
    """Algorithm 1 for images x (N, C, H, W) in [-1, 1]; ``ids`` seed each image's noise."""
    schedule = schedule or DDPMSchedule()
    n_img, n = x.shape[0], cfg.trials
    ids = np.arange(n_img) if ids is None else np.asarray(ids)
    abar = schedule.alphas_cumprod.to(x.device, x.dtype)
    times = candidate_times(cfg.stride, cfg.first_t, schedule.num_steps)
    t_c = np.full((n_img, n), times[0], dtype=np.int64)
    alive = np.ones((n_img, n), dtype=bool)
    active = np.ones(n_img, dtype=bool)
    stopped_at = np.full(n_img, -1, dtype=np.int64)
    evals = np.zeros(n_img, dtype=np.int64)
    for t in times:
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        noise = torch.cat(
            [
                torch.randn(
                    (n, *x.shape[1:]),
                    generator=_image_generator(cfg.seed, int(ids[i]), t, x.device),
                    device=x.device,
                    dtype=x.dtype,
                )
                for i in idx
            ]
        )
        x0 = x[torch.as_tensor(idx, device=x.device)].repeat_interleave(n, dim=0)
        xt = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * noise
        err = torch.cat(
            [
                distance(
                    x0[s : s + cfg.batch_size],
                    ddim_from(model, xt[s : s + cfg.batch_size], t, cfg.ddim_steps, schedule),
                )
                for s in range(0, xt.shape[0], cfg.batch_size)
            ]
        )
        ok = (err <= cfg.delta).reshape(idx.size, n).cpu().numpy()
        evals[idx] += n * ddim_evals(t, cfg.ddim_steps)
        stop = ok.mean(axis=1) < cfg.stop_prob
        stopped_at[idx[stop]] = t
        active[idx[stop]] = False
        go = idx[~stop]
        alive[go] &= ok[~stop]
        t_c[go] = np.where(alive[go], t, t_c[go])
    return CriticalTimes(t_c, stopped_at == times[0], stopped_at, evals)


def radii(
    x: torch.Tensor, t_c: np.ndarray, cfg: BasinConfig, schedule: DDPMSchedule, ids: np.ndarray
) -> np.ndarray:
    """Radius per trial at T_c[j]: ‖x − x'‖ of a fresh perturbation (code) or the rms radius."""
    abar = schedule.alphas_cumprod.double()[torch.as_tensor(t_c)]  # (N, n)
    xf = x.flatten(1).double().cpu()
    d = xf.shape[1]
    if cfg.radius == "rms":
        sq = (xf**2).sum(1, keepdim=True)
        return ((1 - abar.sqrt()) ** 2 * sq + (1 - abar) * d).sqrt().numpy()
    out = np.empty(t_c.shape)
    for i in range(x.shape[0]):
        # Separate stream from the search (t = -1) so radii do not reuse the recovery noises.
        g = _image_generator(cfg.seed, int(ids[i]), -1, "cpu")
        eps = torch.randn((t_c.shape[1], d), generator=g, dtype=torch.float64)
        a = abar[i].unsqueeze(1)
        xp = a.sqrt() * xf[i] + (1 - a).sqrt() * eps
        out[i] = (xf[i] - xp).norm(dim=1).numpy()
    return out


def basin_rows(
    model,
    x: torch.Tensor,
    ids: np.ndarray,
    distance: Distance,
    cfg: BasinConfig,
    schedule: DDPMSchedule,
) -> pd.DataFrame:
    """One row per (point, trial): critical_time, radius, log_volume, failed_at_first, model_evals."""
    ct = critical_times(model, x, distance, cfg, schedule, ids)
    r = radii(x, ct.t_c, cfg, schedule, ids)
    d = int(np.prod(x.shape[1:]))
    n_img, n = ct.t_c.shape
    return pd.DataFrame(
        {
            "point": np.repeat(ids, n),
            "trial": np.tile(np.arange(n), n_img),
            "critical_time": ct.t_c.reshape(-1),
            "radius": r.reshape(-1),
            "log_volume": log_ball_volume(r.reshape(-1), d),
            "failed_at_first": np.repeat(ct.failed_at_first, n),
            "model_evals": np.repeat(ct.evals, n),
        }
    )


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, K, class): mean/std/SE of log-volume and critical time over points × trials."""
    done = df[~df["skipped"]] if "skipped" in df else df
    g = done.groupby(["experiment", "K", "class"], sort=True)
    out = g.agg(
        log_volume_mean=("log_volume", "mean"),
        log_volume_std=("log_volume", "std"),
        critical_time_mean=("critical_time", "mean"),
        critical_time_std=("critical_time", "std"),
        n_rows=("log_volume", "size"),
        n_points=("point", "nunique"),
        failed_at_first_frac=("failed_at_first", "mean"),
    ).reset_index()
    root = np.sqrt(out["n_rows"].clip(lower=1))
    out["log_volume_se"] = out["log_volume_std"].fillna(0) / root
    out["critical_time_se"] = out["critical_time_std"].fillna(0) / root
    return out


BASINS = TableSpec(
    "basins",
    constants=(pa.field("metric", pa.string()), pa.field("delta", pa.float64())),
    per_point=(
        pa.field("point", pa.int64()),
        pa.field("trial", pa.int64()),
        pa.field("critical_time", pa.int64()),
        pa.field("radius", pa.float64()),
        pa.field("log_volume", pa.float64()),
        pa.field("failed_at_first", pa.bool_()),
        pa.field("model_evals", pa.int64()),
    ),
)


def basins_table(
    model,
    pool: np.ndarray,
    samples: np.ndarray,
    classes: pd.DataFrame,
    k: int,
    experiment: str,
    acfg,
    cfg: BasinConfig,
    distance: Distance,
    schedule: DDPMSchedule | None = None,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """The basins.parquet rows of one (E, K): every selected point × trial, plus skipped classes
    (schema ``BASINS``).

    ``pool``/``samples`` are NHWC float arrays in [-1, 1]; ``acfg`` an AnalysisConfig.
    """
    from memgen.selection import gather_images

    schedule = schedule or DDPMSchedule()

    def point_rows(sel) -> pd.DataFrame:
        imgs = torch.as_tensor(
            np.ascontiguousarray(gather_images(sel, pool, samples).transpose(0, 3, 1, 2))
        )
        # Noise streams keyed by (source, index): a training point and a sample never share one.
        offset = 0 if sel.source == "pool" else 1 << 40
        rows = basin_rows(model, imgs.to(device), sel.index + offset, distance, cfg, schedule)
        rows["point"] = rows["point"] - offset
        return rows

    constants = {"experiment": experiment, "metric": cfg.metric, "delta": float(cfg.delta)}
    return per_class_table(BASINS, classes, k, acfg, cfg.max_points, constants, point_rows)
