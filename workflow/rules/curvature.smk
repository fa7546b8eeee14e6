# Curvature stage (docs/method.md §7): score-Jacobian spectra per class and (E, K), Fig 5A.


rule curvature:
    input:
        model=get_model_config,  # model.reuse: another experiment's models
        weights=get_model_weights,
        classes=rules.classify.output[0],
        pool=rules.split.output.pool,
        samples=rules.sample.output.samples,
    output:
        f"{RUN}/{{E}}/K{{k}}/curvature.parquet",
    log:
        f"{RUN}/logs/curvature/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/curvature/{{E}}_K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=stage_gpus("curvature"),
        attempt=attempt_number,
    params:
        cfg=curvature_json,
        analysis=get_analysis_json,
        model_dir=get_model_dir,
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen curvature --model-dir {params.model_dir} --classes {input.classes}"
        " --pool {input.pool} --samples {input.samples} --k {wildcards.k}"
        " --experiment {wildcards.E} --analysis-config {params.analysis:q}"
        " --curvature-config {params.cfg:q} --out {output} > {log} 2>&1"


rule curvature_figure:
    input:
        per_k_inputs(rules.curvature.output[0]),
    output:
        report(
            multiext(f"{RUN}/figures/fig5a_curvature_{{E}}", ".png", ".pdf"),
            caption="../report/fig5a_curvature.rst",
            category="Curvature",
            labels={"experiment": "{E}", "figure": "Fig 5A spectra"},
        ),
    log:
        f"{RUN}/logs/curvature_figure/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/curvature_figure/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        figure=curvature_figure_json,
        plots=plots_json,
        stem=output_stem("curvature_figure"),
    shell:
        "memgen curvature-figure --inputs {input} --experiment {wildcards.E}"
        " --curvature-config {params.figure:q} --plots-config {params.plots:q}"
        " --out {params.stem} > {log} 2>&1"
