# Helper functions of train.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
import json

# Keys of the train section that may be given per K (a list aligned with ks).
TRAIN_PER_K = ("iterations", "batch_size", "lr", "ema_decay")
# Seconds per training step on one V100 from the paper's reported hours (SPEC §4.4); used only to size
# SLURM runtimes. The CPU entry is the digits MLP (benchmarks/RESULTS.md).
TRAIN_SEC_PER_STEP = {
    "mnist": 0.153,
    "fmnist": 0.153,
    "cifar10_64": 0.130,
    "cifar10_96": 0.144,
    "cifar10_128": 0.158,
    "church_64": 0.216,
    "church_96": 0.252,
    "church_128": 0.464,
    "mlp": 0.01,
}


def train_experiments():
    """Image experiments that train their own models (not `model.reuse` of another one)."""
    return [E for E in IMAGE_EXPS if not exp_cfg(E)["model"].get("reuse")]


def train_model_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E)["model"], sort_keys=True)


def train_section(E, k):
    """The train section of E with per-K values resolved and the device made explicit."""
    cfg = dict(exp_cfg(E)["train"])
    for key in TRAIN_PER_K:
        if key in cfg:
            cfg[key] = per_k(cfg[key], E, k, f"images.{E}.train.{key}")
    cfg["device"] = stage_device(E, "train")
    return cfg


def train_train_json(wildcards):
    return json.dumps(train_section(wildcards.E, wildcards.k), sort_keys=True)


def train_reused_from(E, k):
    """The sweep experiment whose model of this K E copies (same settings, same K), or None."""
    sweep = SWEEPS.get(E)
    return sweep if sweep and int(k) in exp_cfg(sweep)["ks"] else None


def train_reuse_params(wildcards):
    sweep = train_reused_from(wildcards.E, wildcards.k)
    if sweep is None:
        return {"model": "", "log": ""}
    return {
        "model": f"{RUN}/{sweep}/K{wildcards.k}/model",
        "log": f"{RUN}/{sweep}/K{wildcards.k}/train_log.parquet",
    }


def train_reuse_inputs(wildcards):
    sweep = train_reused_from(wildcards.E, wildcards.k)
    if sweep is None:
        return []
    return [
        f"{RUN}/{sweep}/K{wildcards.k}/{name}"
        for name in (
            "model/config.json",
            "model/diffusion_pytorch_model.safetensors",
            "train_log.parquet",
        )
    ]


def train_sec_per_step(E):
    model = exp_cfg(E)["model"]
    return TRAIN_SEC_PER_STEP.get(model.get("preset") or model.get("kind"), 0.5)


def train_runtime(wildcards, attempt):
    """Minutes for one attempt: iterations x time per step, 1.5x margin, capped at 48 h."""
    if train_reused_from(wildcards.E, wildcards.k):
        return 10 * attempt  # a copy
    iters = train_section(wildcards.E, wildcards.k)["iterations"]
    minutes = iters * train_sec_per_step(wildcards.E) / 60 * 1.5 + 10
    return int(min(2880, minutes * attempt))


def train_mem_mb(wildcards, attempt):
    return (2000 if exp_cfg(wildcards.E)["model"]["kind"] == "mlp" else 32000) * attempt


def train_gpus(wildcards):
    # also for a copy of the sweep's model: the SLURM profile picks the partition by rule
    return gpus_for(wildcards.E, "train")


def train_targets():
    return expand_per_k(
        train_experiments(),
        [
            "model/config.json",
            "model/diffusion_pytorch_model.safetensors",
            "train_log.parquet",
        ],
    )


def expand_per_k(exps, names):
    """R/E/K{k}/<name> for every experiment in exps, K in its ks and name in names."""
    return [f"{RUN}/{E}/K{k}/{name}" for E in exps for k in ks_of(E) for name in names]


def train_snapshot_steps(wildcards, input):
    """The train rule's --snapshot-steps: a JSON list, or "" (none).

    Computed from the job's input on purpose: Snakemake's params trigger does not cover such
    parameters, so adding or removing a snapshot step never reruns training (a run that is still
    going takes the new list when it starts or resumes; a step it has passed is replayed by the
    snapshot job alone).
    """
    E, k = wildcards.E, int(wildcards.k)
    if not snapshots_enabled(E) or k not in snapshot_ks(E):
        return ""
    return json.dumps(snapshot_steps(E, k))
