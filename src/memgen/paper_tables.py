"""The paper's Tables 1-3, built from a run's own outputs (``memgen tables``).

- Table 1: K1, K2 and N per experiment. K1/K2 come from the experiment's ``kgrid.parquet`` when its
  grid was derived from a sparse sweep, else from the configured ``critical_k`` (empty when neither);
  N is the pool size recorded by the split (rows of ``split.parquet``).
- Table 2: the [min, max] over K of the thresholds delta_m and delta_s (``thresholds.parquet``), per
  experiment, with the network width.
- Table 3: per experiment, the network actually trained: channels, channel multipliers, attention
  resolutions, dropout, the parameter count of the network instantiated from the saved
  ``config.json`` (on the meta device: no memory, no initialisation), batch size and iterations
  (from the model directory's training record).
Each table is written as CSV and as a Markdown table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from memgen.io import atomic_path, read_parquet

TRAIN_RECORD = "memgen_train.json"  # written by memgen train beside the weights


def _fmt_range(values: pd.Series) -> str:
    return f"[{values.min():.4g}, {values.max():.4g}]"


def table1(experiments: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows from dicts with experiment, split (path), kgrid (path or None), critical_k (list)."""
    rows = []
    for e in experiments:
        n = len(read_parquet(e["split"]))
        k1 = k2 = None
        source = "not set"
        n_models = len(e.get("ks") or [])
        if e.get("kgrid"):
            kg = read_parquet(e["kgrid"])
            k1, k2 = int(kg["K1"].iloc[0]), int(kg["K2"].iloc[0])
            overridden = "config" in set(kg["K1_source"]) | set(kg["K2_source"])
            source = "sparse sweep + config override" if overridden else "sparse sweep"
            n_models = int(kg["in_grid"].sum())
            if int(kg["N"].iloc[0]) != n:
                raise ValueError(
                    f"{e['kgrid']}: N = {int(kg['N'].iloc[0])} but the split of "
                    f"{e['experiment']} holds {n} images (stale kgrid table; rerun it)"
                )
        elif e.get("critical_k"):
            k1, k2 = (int(v) for v in e["critical_k"])
            source = "config critical_k"
        rows.append({"experiment": e["experiment"], "K1": k1, "K2": k2, "N": n,
                     "n_models": n_models, "source": source})  # fmt: skip
    df = pd.DataFrame(rows)
    for col in ("K1", "K2"):
        df[col] = df[col].astype("Int64")
    return df


def network_width(model_dir: str | Path) -> int:
    """Channels of the first UNet level (nf), or the width of the residual MLP."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    if cfg.get("_class_name") == "ResidualMLP":
        return int(cfg["width"])
    return int(cfg["block_out_channels"][0])


def table2(experiments: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows from dicts with experiment, thresholds (path) and model_dir (for the network width)."""
    rows = []
    for e in experiments:
        th = read_parquet(e["thresholds"])
        for col in ("delta_m", "delta_s"):
            if col not in th.columns:
                raise ValueError(f"{e['thresholds']}: no column {col!r}")
        rows.append({
            "experiment": e["experiment"], "width": network_width(e["model_dir"]), "n_K": len(th),
            "delta_m_min": float(th["delta_m"].min()), "delta_m_max": float(th["delta_m"].max()),
            "delta_s_min": float(th["delta_s"].min()), "delta_s_max": float(th["delta_s"].max()),
            "delta_m": _fmt_range(th["delta_m"]), "delta_s": _fmt_range(th["delta_s"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def instantiate_on_meta(net_config: Mapping[str, Any]):
    """The network described by a saved ``config.json`` dict, built on the meta device."""
    import torch

    cfg = {k: v for k, v in net_config.items() if not k.startswith("_")}
    name = net_config.get("_class_name")
    with torch.device("meta"):
        if name == "UNet2DModel":
            from diffusers import UNet2DModel

            return UNet2DModel.from_config(cfg)
        if name == "ResidualMLP":
            from memgen.models.mlp import ResidualMLP

            return ResidualMLP(**cfg)
    raise ValueError(f"unsupported network class {name!r} in the model config")


def parameter_count(net_config: Mapping[str, Any]) -> int:
    return int(sum(p.numel() for p in instantiate_on_meta(net_config).parameters()))


def _architecture(net_config: Mapping[str, Any], model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    if net_config.get("_class_name") == "ResidualMLP":
        return {"network": "residual MLP", "channels": net_config["width"],
                "channel_mult": f"{net_config['num_blocks']} blocks", "attn_resolutions": "none",
                "dropout": net_config.get("dropout", 0.0)}  # fmt: skip
    chans = list(net_config["block_out_channels"])
    nf = chans[0]
    res, attn = int(net_config["sample_size"]), []
    for block in net_config["down_block_types"]:
        if block.startswith("Attn"):
            attn.append(res)
        res = res // 2 if res % 2 == 0 else (res + 1) // 2
    mid = "mid block" if net_config.get("add_attention", True) else ""
    attn_text = ", ".join([str(r) for r in attn] + ([mid] if mid else [])) or "none"
    return {"network": f"UNet ({model_cfg.get('preset') or 'custom'})", "channels": nf,
            "channel_mult": "(" + ", ".join(str(c // nf) for c in chans) + ")",
            "attn_resolutions": attn_text, "dropout": net_config.get("dropout", 0.0)}  # fmt: skip


def table3(experiments: Sequence[Mapping[str, Any]], paper_params: Mapping[str, float]) -> pd.DataFrame:
    """Rows from dicts with experiment and model_dir (a trained model directory of the run)."""
    rows = []
    for e in experiments:
        model_dir = Path(e["model_dir"])
        net_config = json.loads((model_dir / "config.json").read_text())
        record_path = model_dir / TRAIN_RECORD
        if not record_path.is_file():
            raise FileNotFoundError(f"{record_path} not found (is {model_dir} a memgen model?)")
        record = json.loads(record_path.read_text())
        model_cfg, train_cfg = record.get("model", {}), record.get("train", {})
        n = parameter_count(net_config)
        # the paper's count applies to its preset at full width only (not to a narrowed copy)
        full_width = model_cfg.get("width_scale") in (None, 1) and model_cfg.get("nf") is None
        paper = paper_params.get(model_cfg.get("preset") or "") if full_width else None
        row = {"experiment": e["experiment"], **_architecture(net_config, model_cfg),
               "params": n, "params_M": round(n / 1e6, 2),
               "paper_params_M": round(paper / 1e6, 1) if paper else None,
               "batch_size": int(train_cfg.get("batch_size", 0)),
               "iterations": int(record.get("iterations", train_cfg.get("iterations", 0)))}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, title: str) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency: pandas' to_markdown needs tabulate)."""
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            return "—"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")

    cols = list(df.columns)
    lines = [f"**{title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(cell(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, stem: str | Path, title: str) -> list[Path]:
    """``stem``.csv and ``stem``.md, each written atomically."""
    stem = Path(stem)
    out = []
    for ext, text in ((".csv", df.to_csv(index=False)), (".md", to_markdown(df, title))):
        path = stem.with_suffix(ext)
        with atomic_path(path, ext) as tmp:
            tmp.write_text(text)
        out.append(path)
    return out
