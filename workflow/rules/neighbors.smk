# Neighbour stage (SPEC §5.1-5.2): exact k-NN of each (E, K) synthetic set.
#   R/E/K{k}/nn_train.parquet  samples vs the first K rows of R/E/train_pool.npy (the training subset)
#   R/E/K{k}/nn_synth.parquet  samples vs samples, self excluded by index (D7)
# Columns: query, rank (1 = nearest), ref_index, distance (LPIPS value or Euclidean L2), metric, experiment, K.


rule neighbors_train:
    input:
        samples=rules.sample.output.samples,
        pool=rules.split.output.pool,
    output:
        f"{RUN}/{{E}}/K{{k}}/nn_train.parquet",
    log:
        f"{RUN}/logs/neighbors_train/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/neighbors_train/{{E}}_K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=neighbors_mem_mb,
        runtime=neighbors_runtime,
        gpu=stage_gpus("neighbors"),
        attempt=attempt_number,
    params:
        metric=experiment_setting("neighbors", "metric"),
        k=neighbors_k_train,
        batch_size=experiment_setting("neighbors", "batch_size"),
        device=neighbors_device,
        impl_version=experiment_setting("neighbors", "impl_version"),
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen neighbors --reference {input.pool} --queries {input.samples}"
        " --reference-limit {wildcards.k} --metric {params.metric} --k {params.k}"
        " --batch-size {params.batch_size} --device {params.device}"
        " --impl-version {params.impl_version} --experiment {wildcards.E} --K {wildcards.k}"
        " --out {output} > {log} 2>&1"


rule neighbors_synth:
    input:
        samples=rules.sample.output.samples,
    output:
        f"{RUN}/{{E}}/K{{k}}/nn_synth.parquet",
    log:
        f"{RUN}/logs/neighbors_synth/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/neighbors_synth/{{E}}_K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=neighbors_mem_mb,
        runtime=neighbors_runtime,
        gpu=stage_gpus("neighbors"),
        attempt=attempt_number,
    params:
        metric=experiment_setting("neighbors", "metric"),
        k=neighbors_k_synth,
        batch_size=experiment_setting("neighbors", "batch_size"),
        device=neighbors_device,
        impl_version=experiment_setting("neighbors", "impl_version"),
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen neighbors --reference {input.samples} --exclude-self"
        " --metric {params.metric} --k {params.k}"
        " --batch-size {params.batch_size} --device {params.device}"
        " --impl-version {params.impl_version} --experiment {wildcards.E} --K {wildcards.k}"
        " --out {output} > {log} 2>&1"
