# Thresholds stage: one delta_m / delta_s per K of experiment E. Default: the alpha-quantile of
# the real pool's leave-one-out nearest-neighbour distances (rule pool_null; it depends on the pool and the
# metric only, never on the K grid or the models). Alternative: the valley of the equal-weight pooled
# histograms. The threshold config is a param of `thresholds` only, so changing it reruns thresholds ->
# classify -> downstream, nothing upstream.


rule pool_null:
    input:
        pool=rules.split.output.pool,
    output:
        f"{RUN}/{{E}}/pool_null.parquet",
    log:
        f"{RUN}/logs/pool_null/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/pool_null/{{E}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=neighbors_mem_mb,
        runtime=pool_null_runtime,
        gpu=stage_gpus("neighbors"),
    params:
        metric=experiment_setting("neighbors", "metric"),
        batch_size=experiment_setting("neighbors", "batch_size"),
        device=neighbors_device,
        # the null is the neighbour search on the pool: its numbers change with the neighbour code
        impl_version=experiment_setting("neighbors", "impl_version"),
    shell:
        "memgen pool-null --pool {input.pool} --metric {params.metric}"
        " --batch-size {params.batch_size} --device {params.device}"
        " --impl-version {params.impl_version} --experiment {wildcards.E}"
        " --out {output} > {log} 2>&1"


rule thresholds:
    input:
        train_nn=per_k_inputs(rules.neighbors_train.output[0]),
        synth_nn=per_k_inputs(rules.neighbors_synth.output[0]),
        null=get_pool_null,
    output:
        f"{RUN}/{{E}}/thresholds.parquet",
    log:
        f"{RUN}/logs/thresholds/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/thresholds/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        ks=thresholds_ks,
        delta_m=thresholds_delta_m,
        delta_s=thresholds_delta_s,
        method=thresholds_method,
    shell:
        "memgen thresholds --experiment {wildcards.E} --train-nn {input.train_nn}"
        " --sample-nn {input.synth_nn} --ks {params.ks} --null {input.null}"
        " --method {params.method[method]} --alpha {params.method[null_alpha]}"
        " --null-duplicates {params.method[null_duplicates]}"
        " --delta-s-null {params.method[delta_s_null]}"
        " --delta-m {params.delta_m:q} --delta-s {params.delta_s:q}"
        " --floor {params.method[floor]} --bins {params.method[bins]}"
        " --smoothing {params.method[smoothing]} --out {output} > {log} 2>&1"
