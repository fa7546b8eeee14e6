# Thresholds stage: one delta_m / delta_s per K of experiment E. Default: the alpha-quantile of
# the real pool's leave-one-out nearest-neighbour distances (rule pool_null; it depends on the pool and the
# metric only, never on the K grid or the models). Alternative: the valley of the equal-weight pooled
# histograms. The threshold config is a param of `thresholds` only, so changing it reruns thresholds ->
# classify -> downstream, nothing upstream.


include: "thresholds_functions.smk"


rule pool_null:
    input:
        pool=f"{RUN}/{{E}}/train_pool.npy",
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
        gpu=neighbors_gpus,
    params:
        metric=neighbors_metric,
        batch_size=neighbors_batch_size,
        device=neighbors_device,
        impl_version=pool_null_impl_version,
    shell:
        "memgen pool-null --pool {input.pool} --metric {params.metric}"
        " --batch-size {params.batch_size} --device {params.device}"
        " --impl-version {params.impl_version} --experiment {wildcards.E}"
        " --out {output} > {log} 2>&1"


rule thresholds:
    input:
        train_nn=thresholds_train_nn,
        synth_nn=thresholds_synth_nn,
        null=thresholds_null,
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
