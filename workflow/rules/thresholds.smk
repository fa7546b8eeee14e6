# Thresholds stage (SPEC §5.4): one delta_m / delta_s per K of experiment E, chosen automatically from the
# equal-weight pooled log-distance histograms of all K (or overridden in config). The threshold config is
# a param of this rule only, so changing it reruns thresholds -> classify -> downstream, nothing upstream.


include: "thresholds_functions.smk"


rule thresholds:
    input:
        train_nn=thresholds_train_nn,
        synth_nn=thresholds_synth_nn,
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
        " --sample-nn {input.synth_nn} --ks {params.ks}"
        " --delta-m {params.delta_m:q} --delta-s {params.delta_s:q}"
        " --floor {params.method[floor]} --bins {params.method[bins]}"
        " --smoothing {params.method[smoothing]} --out {output} > {log} 2>&1"
