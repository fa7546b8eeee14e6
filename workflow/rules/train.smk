# Training stage (SPEC §2.1, §4.3-4.4): one eps-model per (experiment E, training-set size K).
#   R/E/K{k}/model/            diffusers save_pretrained dir of the EMA weights (config.json + safetensors)
#   R/E/K{k}/train_log.parquet step, loss, lr, ema_decay, steps_per_s
#   R/E/K{k}/scratch/train/    resumable checkpoint: NOT an output, so a killed, timed-out or preempted job
#                              keeps it and the retry (or the next run) resumes from it.
# A complete model dir of the same config is not retrained (memgen train returns at once). SLURM runtime
# is capped at 48 h per attempt; longer runs (LSUN-128, ~100 GPU-h) finish over retries, each resuming.

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


def train_sec_per_step(E):
    model = exp_cfg(E)["model"]
    return TRAIN_SEC_PER_STEP.get(model.get("preset") or model.get("kind"), 0.5)


def train_runtime(wildcards, attempt):
    """Minutes for one attempt: iterations x time per step, 1.5x margin, capped at 48 h."""
    iters = train_section(wildcards.E, wildcards.k)["iterations"]
    minutes = iters * train_sec_per_step(wildcards.E) / 60 * 1.5 + 10
    return int(min(2880, minutes * attempt))


def train_mem_mb(wildcards, attempt):
    return (2000 if exp_cfg(wildcards.E)["model"]["kind"] == "mlp" else 32000) * attempt


def train_gpus(wildcards):
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


rule train:
    input:
        pool=f"{RUN}/{{E}}/train_pool.npy",
    output:
        config=f"{RUN}/{{E}}/K{{k}}/model/config.json",
        weights=f"{RUN}/{{E}}/K{{k}}/model/diffusion_pytorch_model.safetensors",
        log=f"{RUN}/{{E}}/K{{k}}/train_log.parquet",
    log:
        f"{RUN}/logs/train/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/train/{{E}}_K{{k}}.tsv"
    retries: 3
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=train_gpus,
    params:
        model=train_model_json,
        train=train_train_json,
        model_dir=f"{RUN}/{{E}}/K{{k}}/model",
        scratch=f"{RUN}/{{E}}/K{{k}}/scratch/train",
    shell:
        "memgen train --pool {input.pool} --k {wildcards.k} --experiment {wildcards.E}"
        " --model-config {params.model:q} --train-config {params.train:q}"
        " --model-dir {params.model_dir} --log {output.log} --scratch {params.scratch}"
        " > {log} 2>&1"
