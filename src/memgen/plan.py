"""Paper-scale resource estimate: GPU-hours per image experiment (`memgen plan`).

Training: n_models x iterations / steps_per_s. Sampling: sum over K of n(K) x steps forward images,
at 3 x batch x steps_per_s images per second (a forward pass ~ 1/3 of a training step per image).
Throughput per preset: a --steps-per-s override, else measured GPU rows in benchmarks/RESULTS.md
("plan: <preset> = <x> steps/s"), else the paper's V100 reference (docs/method.md §4.4 hours / iterations).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import yaml

# iterations / (reported hours x 3600) on one V100 (docs/method.md §4.4).
PAPER_STEPS_PER_S = {
    "mnist": 400_000 / (17 * 3600), "fmnist": 400_000 / (17 * 3600),
    "cifar10_64": 500_000 / (18 * 3600), "cifar10_96": 500_000 / (20 * 3600),
    "cifar10_128": 500_000 / (22 * 3600), "church_64": 800_000 / (48 * 3600),
    "church_96": 800_000 / (56 * 3600), "church_128": 800_000 / (103 * 3600),
}  # fmt: skip
# Digits MLP on one CPU thread (benchmarks/RESULTS.md, "Images"): the demo runs on CPU, not GPU.
CPU_STEPS_PER_S = {"mlp": 115.0}


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def _section(cls, cfg: dict | None) -> dict:
    """A config section with its defaults filled in from its dataclass (the package's own
    defaults, equal to the schema's), so the plan needs no workflow files; unknown keys are an
    error, as in the stage commands."""
    return dataclasses.asdict(cls.from_dict(cfg or {}))


def measured_steps_per_s(results_md: Path | None) -> dict[str, float]:
    if results_md is None or not results_md.exists():
        return {}
    rows = re.findall(r"plan:\s*([\w]+)\s*=\s*([0-9.]+)\s*steps/s", results_md.read_text())
    return {k: float(v) for k, v in rows}


def _expand_sweeps(images: dict) -> dict:
    """Experiments with `ks: sweep` as two planned experiments: the sweep, with its sparse grid, and
    the dense grid, whose K are only known after the sweep: K1/K2 from kgrid.k1/k2 when fixed, else
    assumed at the sweep's third and sixth K (2000 and 16000 from 500, the paper's CIFAR-10 and
    LSUN values). Models of K shared with the sweep are copies (``shared``, not trained again)."""
    from memgen.kgrid import POOL_SIZES, KGridConfig, dense_grid, sparse_grid

    out = {}
    for name, exp in images.items():
        if exp.get("ks") != "sweep":
            out[name] = exp
            continue
        cfg = KGridConfig.from_dict(exp.get("kgrid") or {})
        n = cfg.pool_size or POOL_SIZES.get(exp["dataset"])
        if n is None:
            raise ValueError(f"{name}: ks: sweep on a {exp['dataset']!r} data set needs kgrid.pool_size")
        sweep = sparse_grid(n, cfg.sparse_start)
        k1 = cfg.k1 or sweep[min(2, len(sweep) - 3)]
        k2 = cfg.k2 or sweep[min(5, len(sweep) - 2)]
        grid = dense_grid(k1, k2, n, cfg.n_low, cfg.n_mid, cfg.n_high, cfg.k_min)
        out[f"{name}_sweep"] = {**exp, "ks": sweep}
        out[name] = {**exp, "ks": grid, "_shared": len(set(grid) & set(sweep)),
                     "_note": f"K grid assumed (K1={k1}, K2={k2})"}  # fmt: skip
    return out


def plan(config: dict, steps_per_s: float | None = None, measured: dict | None = None,
         experiments: list[str] | None = None) -> pd.DataFrame:  # fmt: skip
    rows = []
    for name, exp in _expand_sweeps(config.get("images") or {}).items():
        if experiments and name.removesuffix("_sweep") not in experiments and name not in experiments:
            continue
        from memgen.sample import SampleConfig
        from memgen.train import TrainConfig

        # model: only preset, kind and reuse matter here, and their defaults (none, unet, none)
        # name no throughput and no reuse either way
        model = exp.get("model") or {}
        train = _section(TrainConfig, exp.get("train"))
        sample = _section(SampleConfig, exp.get("sample"))
        key = model.get("preset") or model.get("kind")
        if steps_per_s:
            sps, source = steps_per_s, "override"
        elif key in (measured or {}):
            sps, source = measured[key], "RESULTS.md"
        elif key in PAPER_STEPS_PER_S:
            sps, source = PAPER_STEPS_PER_S[key], "paper V100"
        elif key in CPU_STEPS_PER_S:
            sps, source = CPU_STEPS_PER_S[key], "CPU measured (hours are CPU-hours)"
        else:
            raise ValueError(f"no throughput for {name} (model {key!r}); pass --steps-per-s")
        ks = list(exp["ks"])
        iters = train["iterations"]
        iters = sum(iters) if isinstance(iters, list) else iters * (len(ks) - exp.get("_shared", 0))
        batch = (
            train["batch_size"]
            if isinstance(train["batch_size"], int)
            else max(train["batch_size"])
        )
        n = [
            min(max(round(sample["ratio"] * k), sample["min"]), sample["max"] or 10**12) for k in ks
        ]
        trained = not model.get("reuse")
        train_h = iters / sps / 3600 if trained else 0.0
        sample_h = sum(n) * sample["steps"] / (3 * batch * sps) / 3600
        from memgen.snapshots import plan_cost

        n_snap, snap_h = plan_cost(exp, sample, train["iterations"], batch, sps)
        if exp.get("_note"):
            source = f"{source}; {exp['_note']}"
        rows.append({"experiment": name, "models": len(ks), "preset": key, "steps_per_s": round(sps, 3),
                     "source": source, "train_gpu_h": round(train_h, 1), "samples": sum(n),
                     "sample_gpu_h": round(sample_h, 1), "snapshots": n_snap, "snapshot_gpu_h": round(snap_h, 1),
                     "total_gpu_h": round(train_h + sample_h + snap_h, 1)})  # fmt: skip
    return pd.DataFrame(rows)


def plan_from_files(
    configs: list[Path], steps_per_s=None, results_md=None, experiments=None
) -> pd.DataFrame:
    cfg: dict = {}
    for path in configs:
        if not path.exists():
            raise FileNotFoundError(f"config file not found: {path}")
        cfg = _deep_merge(cfg, yaml.safe_load(path.read_text()) or {})
    if results_md is None:
        results_md = Path("benchmarks/RESULTS.md")
    return plan(cfg, steps_per_s, measured_steps_per_s(results_md), experiments)
