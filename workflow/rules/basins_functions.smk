# Input/param/resource functions of the basin rules (basins.smk); kept apart so the rule file has rules only.
import json


def basins_experiments():
    return [E for E in IMAGE_EXPS if exp_cfg(E)["basins"].get("enabled", True)]


def basins_model_exp(E):
    """Experiment whose models E analyses (model.reuse, e.g. Fig 9's 8 x K set)."""
    return exp_cfg(E)["model"].get("reuse") or E


def basins_model_config(wildcards):
    return f"{RUN}/{basins_model_exp(wildcards.E)}/K{wildcards.k}/model/config.json"


def basins_model_weights(wildcards):
    M = basins_model_exp(wildcards.E)
    return f"{RUN}/{M}/K{wildcards.k}/model/diffusion_pytorch_model.safetensors"


def basins_model_dir(wildcards):
    return f"{RUN}/{basins_model_exp(wildcards.E)}/K{wildcards.k}/model"


def basins_section(E, k):
    """The basins section with per-K delta resolved and the device made explicit."""
    cfg = dict(exp_cfg(E)["basins"])
    cfg["delta"] = per_k(cfg["delta"], E, k, f"images.{E}.basins.delta")
    cfg["device"] = stage_device(E, "basins")
    return cfg


def basins_json(wildcards):
    return json.dumps(basins_section(wildcards.E, wildcards.k), sort_keys=True)


def basins_analysis_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E)["analysis"], sort_keys=True)


def basins_runtime(wildcards, attempt):
    """Minutes: points x trials x ~300 model evals per search, per-image cost as in sample.smk, 1.5x."""
    E = wildcards.E
    a, b = exp_cfg(E)["analysis"], basins_section(E, wildcards.k)
    per_class = min(a["max_per_class"], b["max_points"] or a["max_per_class"])
    points = min(a["n_train_points"], int(wildcards.k)) + 3 * per_class
    batch = exp_cfg(basins_model_exp(E))["train"]["batch_size"]
    batch = batch if isinstance(batch, int) else max(batch)
    per_eval = train_sec_per_step(basins_model_exp(E)) / batch / 3
    minutes = points * b["trials"] * 300 * per_eval / 60 * 1.5 + 10
    return int(min(2880, minutes * attempt))


def basins_mem_mb(wildcards, attempt):
    return (
        2000
        if exp_cfg(basins_model_exp(wildcards.E))["model"]["kind"] == "mlp"
        else 16000
    ) * attempt


def basins_gpus(wildcards):
    return gpus_for(wildcards.E, "basins")


def basins_tables(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/basins.parquet" for k in ks_of(wildcards.E)]


def basins_targets():
    return [
        f"{RUN}/{E}/K{k}/basins.parquet" for E in basins_experiments() for k in ks_of(E)
    ]


def basins_figures():
    return [
        f"{RUN}/figures/{name}_{E}.{ext}"
        for E in basins_experiments()
        for name in ("fig4b_basins", "figC_critical_time")
        for ext in ("png", "pdf")
    ]
