# Helper functions of sample.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def sample_model_exp(E):
    return exp_cfg(E)["model"].get("reuse") or E


def sample_model_config(wildcards):
    return f"{RUN}/{sample_model_exp(wildcards.E)}/K{wildcards.k}/model/config.json"


def sample_model_weights(wildcards):
    M = sample_model_exp(wildcards.E)
    return f"{RUN}/{M}/K{wildcards.k}/model/diffusion_pytorch_model.safetensors"


def sample_model_dir(wildcards):
    return f"{RUN}/{sample_model_exp(wildcards.E)}/K{wildcards.k}/model"


def sample_section(E):
    cfg = dict(exp_cfg(E)["sample"])
    cfg["device"] = stage_device(E, "sample")
    return cfg


def sample_json(wildcards):
    return json.dumps(sample_section(wildcards.E), sort_keys=True)


def sample_count(E, k):
    cfg = sample_section(E)
    n = max(int(round(cfg["ratio"] * int(k))), cfg["min"])
    return min(n, cfg["max"]) if cfg["max"] is not None else n


def sample_runtime(wildcards, attempt):
    """Minutes: N x steps forward passes, 1.5x margin, capped at 48 h (shards resume over retries).

    One image through one sampler step ~ a third of a training step per image (forward only), from the
    V100 reference in train.smk; this only sizes SLURM runtimes.
    """
    E = wildcards.E
    batch = exp_cfg(sample_model_exp(E))["train"]["batch_size"]
    batch = batch if isinstance(batch, int) else max(batch)
    per_image_step = train_sec_per_step(sample_model_exp(E)) / batch / 3
    cfg = sample_section(E)
    minutes = (
        sample_count(E, wildcards.k) * cfg["steps"] * per_image_step / 60 * 1.5 + 10
    )
    return int(min(2880, minutes * attempt))


def sample_mem_mb(wildcards, attempt):
    return (
        2000
        if exp_cfg(sample_model_exp(wildcards.E))["model"]["kind"] == "mlp"
        else 16000
    ) * attempt


def sample_gpus(wildcards):
    return gpus_for(wildcards.E, "sample")


def sample_targets():
    return expand_per_k(
        IMAGE_EXPS, ["samples.npy", "samples.parquet", "samples_grid.png"]
    )
