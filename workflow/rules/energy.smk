# Relative energy stage (docs/method.md §8): line integrals along the spherical path, Figs 6 and 25.


rule energy:
    input:
        model=get_model_config,  # model.reuse: another experiment's models
        weights=get_model_weights,
        classes=rules.classify.output[0],
        pool=rules.split.output.pool,
        samples=rules.sample.output.samples,
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
        gpu=stage_gpus("energy"),
        attempt=attempt_number,
    params:
        cfg=energy_json,
        analysis=get_analysis_json,
        model_dir=get_model_dir,
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen energy --model-dir {params.model_dir} --classes {input.classes}"
        " --pool {input.pool} --samples {input.samples} --k {wildcards.k}"
        " --experiment {wildcards.E} --analysis-config {params.analysis:q}"
        " --energy-config {params.cfg:q} --out {output} > {log} 2>&1"


rule energy_figure:
    input:
        per_k_inputs(rules.energy.output[0]),
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
        report(
            multiext(f"{RUN}/figures/figE_energy_refs_{{E}}", ".png", ".pdf"),
            caption="../report/figE_energy_refs.rst",
            category="Energy",
            labels={
                "experiment": "{E}",
                "figure": "Figs 27-30 energy gap per reference",
            },
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
        figure=energy_figure_json,
        plots=plots_json,
        stem=output_stem("energy_figure", 0),
        path_stem=output_stem("energy_figure", 2),
        refs_stem=output_stem("energy_figure", 4),
    shell:
        "memgen energy-figure --inputs {input} --experiment {wildcards.E}"
        " --energy-config {params.figure:q} --plots-config {params.plots:q}"
        " --out {params.stem} --out-path {params.path_stem} --out-refs {params.refs_stem}"
        " > {log} 2>&1"
