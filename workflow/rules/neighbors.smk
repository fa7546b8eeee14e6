# Neighbour stage (docs/method.md §5.1-5.2): exact k-NN of each (E, K) synthetic set.
#   R/E/K{k}/nn_train.parquet  samples vs the first K rows of R/E/train_pool.npy (the training subset)
#   R/E/K{k}/nn_synth.parquet  samples vs samples, self excluded by index (docs/method.md §10.7)
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
        neighbors=neighbors_json,
        n_neighbors=neighbors_k_train,
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen neighbors --experiment {wildcards.E} --k {wildcards.k}"
        " --neighbors-config {params.neighbors:q} --n-neighbors {params.n_neighbors}"
        " --reference {input.pool} --queries {input.samples} --reference-limit {wildcards.k}"
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
        neighbors=neighbors_json,
        n_neighbors=neighbors_k_synth,
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen neighbors --experiment {wildcards.E} --k {wildcards.k}"
        " --neighbors-config {params.neighbors:q} --n-neighbors {params.n_neighbors}"
        " --reference {input.samples} --exclude-self --out {output} > {log} 2>&1"
