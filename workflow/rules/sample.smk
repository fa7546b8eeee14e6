# Sampling stage (SPEC §2.1, §4.5, D4, D6): the synthetic set of each (E, K) from the EMA model.
#   R/E/K{k}/samples.npy      (N, H, W, C) float32 in [-1, 1], N = ratio x K clamped to [min, max]
#   R/E/K{k}/samples.parquet  manifest: sample, shard, seed, sampler, steps, K, experiment (+ provenance)
#   R/E/K{k}/samples_grid.png uint8 grid of the first samples, for looking at them
#   R/E/K{k}/scratch/sample-<hash>/shard_*.npy  finished shards (not outputs; a rerun skips them)
# With model.reuse: M, experiment E samples from M's models (e.g. Fig 9's 8 x K set from the CIFAR-10 models).


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


rule sample:
    input:
        config=sample_model_config,
        weights=sample_model_weights,
    output:
        samples=f"{RUN}/{{E}}/K{{k}}/samples.npy",
        manifest=f"{RUN}/{{E}}/K{{k}}/samples.parquet",
        grid=f"{RUN}/{{E}}/K{{k}}/samples_grid.png",
    log:
        f"{RUN}/logs/sample/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/sample/{{E}}_K{{k}}.tsv"
    retries: 3
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=sample_mem_mb,
        runtime=sample_runtime,
        gpu=sample_gpus,
    params:
        sample=sample_json,
        model_dir=sample_model_dir,
        scratch=f"{RUN}/{{E}}/K{{k}}/scratch",
    shell:
        "memgen sample --model-dir {params.model_dir} --k {wildcards.k} --experiment {wildcards.E}"
        " --sample-config {params.sample:q} --out {output.samples} --manifest {output.manifest}"
        " --scratch {params.scratch} --grid {output.grid} > {log} 2>&1"
