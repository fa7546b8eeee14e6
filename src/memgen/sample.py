"""Sharded, seeded, resumable synthetic-set generation for one model (docs/method.md §4.5, §10.4, §10.6).

Each shard of ``shard_size`` images uses its own seed derived from (seed, K, shard), so a
shard's content does not depend on which shards were already done; finished shards are saved
atomically under scratch and skipped on rerun, so a preempted 200 000-sample job resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from memgen.io import atomic_path, config_hash, preallocate, set_aside, write_parquet
from memgen.models import WEIGHT_FILES, check_model_dir, load_eps_model
from memgen.samplers import ddim_from, ddpm_ancestral
from memgen.schedules import DDPMSchedule
from memgen.sections import Section, section

log = logging.getLogger(__name__)


@section("images.*.sample")
@dataclass(frozen=True)
class SampleConfig(Section):
    """The ``sample`` config section (defaults = paper: 4 K samples, DDPM-1000, docs/method.md §4.5)."""

    ratio: float = 4
    min: int = 0
    max: int | None = None
    sampler: str = "ddpm"  # ddpm (ancestral) | ddim
    steps: int = 1000
    eta: float = 0
    clip: bool = True
    shard_size: int = 512
    seed: int = 3407
    grid_images: int = 64
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self):
        if self.sampler not in ("ddpm", "ddim"):
            raise ValueError(f"sample.sampler must be 'ddpm' or 'ddim', got {self.sampler!r}")

    def n_samples(self, k: int) -> int:
        """|S| = ratio x K, raised to ``min`` and capped at ``max`` (demo: min(4K, 1000))."""
        n = max(int(round(self.ratio * k)), int(self.min))
        return min(n, int(self.max)) if self.max is not None else n


def shard_seed(seed: int, k: int, shard: int) -> int:
    """Deterministic per-(seed, K, shard) seed (hash, so neighbouring shards are unrelated)."""
    digest = hashlib.sha256(f"memgen-sample/{seed}/{k}/{shard}".encode()).hexdigest()
    return int(digest[:15], 16)


def model_hash(model_dir: str | Path) -> str:
    """Content hash of a saved model (config + weights): the provenance of every sample."""
    model_dir = check_model_dir(model_dir)
    h = hashlib.sha256((model_dir / "config.json").read_bytes())
    for name in WEIGHT_FILES:
        if (model_dir / name).is_file():
            with open(model_dir / name, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 24), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def _draw(model, cfg: SampleConfig, shape, seed: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator(device=device).manual_seed(seed)
    if cfg.sampler == "ddpm":
        steps = None if cfg.steps >= 1000 else cfg.steps
        return ddpm_ancestral(model, shape, gen, DDPMSchedule(), clip=cfg.clip, progress=False,
                              device=device, steps=steps)  # fmt: skip
    x_t = torch.randn(shape, generator=gen, device=device)
    return ddim_from(model, x_t, 999, cfg.steps, DDPMSchedule(), eta=cfg.eta, generator=gen)


def sample_model(
    model_dir: str | Path,
    k: int,
    experiment: str,
    cfg: SampleConfig,
    out_npy: str | Path,
    out_manifest: str | Path,
    scratch_dir: str | Path,
    grid_png: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Generate ``cfg.n_samples(k)`` images; write samples.npy (N,H,W,C) + manifest parquet."""
    from tqdm.auto import tqdm

    from memgen.device import resolve_device

    device = resolve_device(cfg.device, "sample.device")
    model = load_eps_model(model_dir, device)
    cfg_json = dataclasses.asdict(cfg)
    mhash = model_hash(model_dir)
    n = cfg.n_samples(k)
    n_shards = math.ceil(n / cfg.shard_size)
    c, h, w = model.net.config.get("sample_shape") or (
        model.net.config.in_channels, model.net.config.sample_size, model.net.config.sample_size
    )  # fmt: skip
    # Shards of a different model or config must never be reused: key the scratch dir by both.
    numeric = {k_: v for k_, v in cfg_json.items() if k_ not in ("grid_images", "device")}
    shard_dir = (
        Path(scratch_dir) / f"sample-{config_hash({'model': mhash, 'cfg': numeric, 'K': k})}"
    )
    rows, t0 = [], time.perf_counter()
    for s in tqdm(range(n_shards), desc=f"sample K={k}", disable=not progress, mininterval=5):
        size = min(cfg.shard_size, n - s * cfg.shard_size)
        seed = shard_seed(cfg.seed, k, s)
        path = shard_dir / f"shard_{s:05d}.npy"
        if path.exists() and not _shard_ok(path, (size, h, w, c)):
            # Scratch is no Snakemake output (--forcerun would not clear it): heal it here.
            set_aside(path, f"sampling shard {path} is truncated or corrupt: regenerating it")
        if not path.exists():
            x = _draw(model, cfg, (size, c, h, w), seed, device)
            _save_npy(x.permute(0, 2, 3, 1).contiguous().float().cpu().numpy(), path)
        rows.append(pd.DataFrame({"sample": np.arange(s * cfg.shard_size, s * cfg.shard_size + size),
                                  "shard": s, "seed": seed}))  # fmt: skip
    log.info("sampled %d images for K=%d in %.1fs", n, k, time.perf_counter() - t0)

    # Consolidate into one memory-mappable array without holding every shard twice in memory.
    with atomic_path(out_npy, ".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, h, w, c))
        preallocate(tmp)
        for s in range(n_shards):
            out[s * cfg.shard_size : s * cfg.shard_size + cfg.shard_size] = np.load(
                shard_dir / f"shard_{s:05d}.npy"
            )
        out.flush()
        del out
    manifest = pd.concat(rows, ignore_index=True)
    manifest = manifest.assign(
        sampler=cfg.sampler, steps=int(cfg.steps), K=int(k), experiment=experiment
    ).astype({"sample": "int64", "shard": "int64", "seed": "int64"})
    prov = {"experiment": experiment, "K": int(k), "model_dir": str(model_dir), "model_hash": mhash,
            "n": n, "config": cfg_json, "dataset_shape": [n, h, w, c]}  # fmt: skip
    write_parquet(manifest, out_manifest, provenance=prov, sort_by=["sample"])
    samples = np.load(out_npy, mmap_mode="r")
    if grid_png is not None:
        save_grid(samples[: cfg.grid_images], grid_png)
    return samples


def _shard_ok(path: Path, shape: tuple[int, ...]) -> bool:
    """True when ``path`` is a complete float32 shard of ``shape`` (header and data size)."""
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return False
    return arr.shape == shape and arr.dtype == np.float32


def _save_npy(array: np.ndarray, path: Path) -> None:
    # Through a file handle: np.save(<path>) would append ".npy" to the temp name.
    with atomic_path(path, ".npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def save_grid(images: np.ndarray, path: str | Path, min_tile: int = 32) -> Path:
    """uint8 PNG grid of NHWC images in [-1, 1] (for looking at samples, not for analysis)."""
    from PIL import Image

    m = max(len(images), 1)
    cols = math.ceil(math.sqrt(m))
    rows = math.ceil(m / cols)
    h, w, c = images.shape[1:] if len(images) else (8, 8, 1)
    scale = max(1, math.ceil(min_tile / h))  # nearest upscaling so 8x8 digits stay visible
    canvas = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, dtype=np.uint8)
    u8 = np.clip(np.round((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(
        np.uint8
    )
    for i, img in enumerate(u8):
        r, q = divmod(i, cols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = img
    canvas = canvas.repeat(scale, 0).repeat(scale, 1)
    pil = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    with atomic_path(path, ".png") as tmp:
        pil.save(tmp, format="PNG")
    return Path(path)
