# Curvature stage (SPEC §7, owner D2): score-Jacobian spectra per class and (E, K), Fig 5A.


include: "curvature_functions.smk"


rule curvature:
    input:
        model=sample_model_config,  # model.reuse: another experiment's models
        weights=sample_model_weights,
        classes=f"{RUN}/{{E}}/K{{k}}/classes.parquet",
        pool=f"{RUN}/{{E}}/train_pool.npy",
        samples=f"{RUN}/{{E}}/K{{k}}/samples.npy",
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
        gpu=curvature_gpus,
    params:
        cfg=curvature_json,
        analysis=curvature_analysis_json,
        model_dir=sample_model_dir,
    shell:
        "memgen curvature --model-dir {params.model_dir} --classes {input.classes}"
        " --pool {input.pool} --samples {input.samples} --k {wildcards.k}"
        " --experiment {wildcards.E} --analysis-config {params.analysis:q}"
        " --curvature-config {params.cfg:q} --out {output} > {log} 2>&1"


rule curvature_figure:
    input:
        curvature_per_k,
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
        stem=f"{RUN}/figures/fig5a_curvature_{{E}}",
    shell:
        "memgen curvature-figure --inputs {input} --experiment {wildcards.E}"
        " --curvature-config {params.figure:q} --plots-config {params.plots:q}"
        " --out {params.stem} > {log} 2>&1"
