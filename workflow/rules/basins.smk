# Basin stage (docs/method.md §6, Algorithm 1 per image, §10.8): critical time and basin log-volume of the training points
# and of the top-ranked samples of each class (selection shared with curvature/energy: memgen.selection).
#   R/E/K{k}/basins.parquet  one row per (point, trial) + one row per skipped class (reason)
#   R/figures/fig4b_basins_{E}.{png,pdf}, R/figures/figC_critical_time_{E}.{png,pdf}


rule basins:
    input:
        config=get_model_config,
        weights=get_model_weights,
        classes=rules.classify.output[0],
        pool=rules.split.output.pool,
        samples=rules.sample.output.samples,
    output:
        f"{RUN}/{{E}}/K{{k}}/basins.parquet",
    log:
        f"{RUN}/logs/basins/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/basins/{{E}}_K{{k}}.tsv"
    retries: 2
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=basins_mem_mb,
        runtime=basins_runtime,
        gpu=stage_gpus("basins"),
        attempt=attempt_number,
    params:
        basins=basins_json,
        analysis=get_analysis_json,
        model_dir=get_model_dir,
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen basins --model-dir {params.model_dir} --classes {input.classes} --pool {input.pool}"
        " --samples {input.samples} --k {wildcards.k} --experiment {wildcards.E}"
        " --analysis-config {params.analysis:q} --basins-config {params.basins:q}"
        " --out {output} > {log} 2>&1"


rule basins_figure:
    input:
        per_k_inputs(rules.basins.output[0]),
    output:
        volume=report(
            f"{RUN}/figures/fig4b_basins_{{E}}.png",
            caption="../report/fig4b_basins.rst",
            category="Basins (Figs 4B, 16-19)",
        ),
        volume_pdf=f"{RUN}/figures/fig4b_basins_{{E}}.pdf",
        time=report(
            f"{RUN}/figures/figC_critical_time_{{E}}.png",
            caption="../report/figC_critical_time.rst",
            category="Basins (Figs 4B, 16-19)",
        ),
        time_pdf=f"{RUN}/figures/figC_critical_time_{{E}}.pdf",
    log:
        f"{RUN}/logs/basins_figure/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/basins_figure/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        plots=plots_json,
    shell:
        "memgen basins-figure --inputs {input} --experiment {wildcards.E}"
        " --plots-config {params.plots:q}"
        " --out-volume {output.volume} --out-time {output.time} > {log} 2>&1"
