# Curvature stage (SPEC §7, owner D2): score-Jacobian spectra per class and (E, K), Fig 5A.


def curvature_experiments():
    return [
        E for E in IMAGE_EXPS if exp_cfg(E).get("curvature", {}).get("enabled", True)
    ]


def curvature_json(wildcards):
    """The curvature section with the device made explicit (so a config change reruns this rule)."""
    cfg = dict(exp_cfg(wildcards.E).get("curvature", {}))
    cfg["device"] = stage_device(wildcards.E, "curvature")
    return json.dumps(cfg, sort_keys=True)


def curvature_analysis_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E).get("analysis", {}), sort_keys=True)


def curvature_gpus(wildcards):
    return gpus_for(wildcards.E, "curvature")


def curvature_drop_top(wildcards):
    return exp_cfg(wildcards.E).get("curvature", {}).get("drop_top", 5)


def curvature_per_k(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/curvature.parquet" for k in ks_of(wildcards.E)]


def curvature_targets():
    return [
        f"{RUN}/{E}/K{k}/curvature.parquet"
        for E in curvature_experiments()
        for k in ks_of(E)
    ]


def curvature_figures():
    return [
        f"{RUN}/figures/fig5a_curvature_{E}.{ext}"
        for E in curvature_experiments()
        for ext in ("png", "pdf")
    ]


rule curvature:
    input:
        model=f"{RUN}/{{E}}/K{{k}}/model/config.json",
        weights=f"{RUN}/{{E}}/K{{k}}/model/diffusion_pytorch_model.safetensors",
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
        model_dir=f"{RUN}/{{E}}/K{{k}}/model",
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
        drop_top=curvature_drop_top,
        stem=f"{RUN}/figures/fig5a_curvature_{{E}}",
    shell:
        "memgen curvature-figure --inputs {input} --experiment {wildcards.E}"
        " --drop-top {params.drop_top} --out {params.stem} > {log} 2>&1"
