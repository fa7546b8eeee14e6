# Sampling stage (docs/method.md §2.1, §4.5, §10.4, §10.6): the synthetic set of each (E, K) from the EMA model.
#   R/E/K{k}/samples.npy      (N, H, W, C) float32 in [-1, 1], N = ratio x K clamped to [min, max]
#   R/E/K{k}/samples.parquet  manifest: sample, shard, seed, sampler, steps, K, experiment (+ provenance)
#   R/E/K{k}/samples_grid.png uint8 grid of the first samples, for looking at them
#   R/E/K{k}/scratch/sample-<hash>/shard_*.npy  finished shards (not outputs; a rerun skips them)
# With model.reuse: M, experiment E samples from M's models (e.g. Fig 9's 8 x K set from the CIFAR-10 models).


rule sample:
    input:
        config=get_model_config,
        weights=get_model_weights,
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
        gpu=stage_gpus("sample"),
        attempt=attempt_number,
    params:
        sample=sample_json,
        model_dir=get_model_dir,
        scratch=f"{RUN}/{{E}}/K{{k}}/scratch",
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen sample --model-dir {params.model_dir} --k {wildcards.k} --experiment {wildcards.E}"
        " --sample-config {params.sample:q} --out {output.samples} --manifest {output.manifest}"
        " --scratch {params.scratch} --grid {output.grid} > {log} 2>&1"
