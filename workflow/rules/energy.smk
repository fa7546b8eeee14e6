# Relative energy stage (SPEC §8, owner D2): line integrals along the spherical path, Figs 6 and 25.


def energy_experiments():
    return [E for E in IMAGE_EXPS if exp_cfg(E).get("energy", {}).get("enabled", True)]


def energy_json(wildcards):
    """The energy section with the device made explicit (so a config change reruns this rule)."""
    cfg = dict(exp_cfg(wildcards.E).get("energy", {}))
    cfg["device"] = stage_device(wildcards.E, "energy")
    return json.dumps(cfg, sort_keys=True)


def energy_analysis_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E).get("analysis", {}), sort_keys=True)


def energy_gpus(wildcards):
    return gpus_for(wildcards.E, "energy")


def energy_abs_flag(wildcards):
    return (
        "--abs" if exp_cfg(wildcards.E).get("energy", {}).get("plot_abs", False) else ""
    )


def energy_per_k(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/energy.parquet" for k in ks_of(wildcards.E)]


def energy_targets():
    return [
        f"{RUN}/{E}/K{k}/energy.parquet" for E in energy_experiments() for k in ks_of(E)
    ]


def energy_figures():
    return [
        f"{RUN}/figures/{fig}_{E}.{ext}"
        for E in energy_experiments()
        for fig in ("fig6_energy", "fig25_energy_path")
        for ext in ("png", "pdf")
    ]


rule energy:
    input:
        model=f"{RUN}/{{E}}/K{{k}}/model/config.json",
        weights=f"{RUN}/{{E}}/K{{k}}/model/diffusion_pytorch_model.safetensors",
        classes=f"{RUN}/{{E}}/K{{k}}/classes.parquet",
        pool=f"{RUN}/{{E}}/train_pool.npy",
        samples=f"{RUN}/{{E}}/K{{k}}/samples.npy",
    output:
        f"{RUN}/{{E}}/K{{k}}/energy.parquet",
    log:
        f"{RUN}/logs/energy/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/energy/{{E}}_K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=energy_gpus,
    params:
        cfg=energy_json,
        analysis=energy_analysis_json,
        model_dir=f"{RUN}/{{E}}/K{{k}}/model",
    shell:
        "memgen energy --model-dir {params.model_dir} --classes {input.classes}"
        " --pool {input.pool} --samples {input.samples} --k {wildcards.k}"
        " --experiment {wildcards.E} --analysis-config {params.analysis:q}"
        " --energy-config {params.cfg:q} --out {output} > {log} 2>&1"


rule energy_figure:
    input:
        energy_per_k,
    output:
        report(
            multiext(f"{RUN}/figures/fig6_energy_{{E}}", ".png", ".pdf"),
            caption="../report/fig6_energy.rst",
            category="Energy",
            labels={"experiment": "{E}", "figure": "Fig 6 energy gap"},
        ),
        report(
            multiext(f"{RUN}/figures/fig25_energy_path_{{E}}", ".png", ".pdf"),
            caption="../report/fig25_energy_path.rst",
            category="Energy",
            labels={"experiment": "{E}", "figure": "Fig 25 energy path"},
        ),
    log:
        f"{RUN}/logs/energy_figure/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/energy_figure/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        abs_flag=energy_abs_flag,
        stem=f"{RUN}/figures/fig6_energy_{{E}}",
        path_stem=f"{RUN}/figures/fig25_energy_path_{{E}}",
    shell:
        "memgen energy-figure --inputs {input} --experiment {wildcards.E} {params.abs_flag}"
        " --out {params.stem} --out-path {params.path_stem} > {log} 2>&1"
