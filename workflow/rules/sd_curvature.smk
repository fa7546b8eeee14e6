# Stable Diffusion curvature case study (`sd_curvature.<name>`, paper Fig 5B / 24): DDIM generations of a
# prompt list on a local Stable Diffusion folder and the top singular values of the latent score Jacobian.


rule sd_curvature:
    input:
        model=sd_model,
        prompts=sd_prompts,
    output:
        spectra=f"{RUN}/sd_curvature/{{S}}/spectra.parquet",
        prompts=f"{RUN}/sd_curvature/{{S}}/prompts.parquet",
        latents=f"{RUN}/sd_curvature/{{S}}/latents.npy",
        images=f"{RUN}/sd_curvature/{{S}}/images.npy",
        provenance=f"{RUN}/sd_curvature/{{S}}/sd_curvature.json",
    log:
        f"{RUN}/logs/sd_curvature/{{S}}.log",
    benchmark:
        f"{RUN}/benchmarks/sd_curvature/{{S}}.tsv"
    wildcard_constraints:
        S="|".join(re.escape(s) for s in SD_CASES) or "NO_SD_CASE",
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=32000,
        runtime=720,
        gpu=sd_gpus,
    params:
        options=sd_options,
        out_dir=f"{RUN}/sd_curvature/{{S}}",
    shell:
        "memgen sd-curvature --model {input.model:q} --prompts {input.prompts:q}"
        " --experiment {wildcards.S} --sd-curvature-config {params.options:q}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule sd_curvature_figure:
    input:
        spectra=rules.sd_curvature.output.spectra,
        prompts=rules.sd_curvature.output.prompts,
        images=rules.sd_curvature.output.images,
    output:
        report(
            multiext(f"{RUN}/figures/fig5b_sd_curvature_{{S}}", ".png", ".pdf"),
            caption="../report/fig5b_sd_curvature.rst",
            category="Curvature",
            labels={"experiment": "{S}", "figure": "Fig 5B Stable Diffusion spectra"},
        ),
    log:
        f"{RUN}/logs/sd_curvature_figure/{{S}}.log",
    benchmark:
        f"{RUN}/benchmarks/sd_curvature_figure/{{S}}.tsv"
    wildcard_constraints:
        S="|".join(re.escape(s) for s in SD_CASES) or "NO_SD_CASE",
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        options=sd_options,
        plots=plots_json(),
        folder=sd_output_folder,
        stem=f"{RUN}/figures/fig5b_sd_curvature_{{S}}",
    shell:
        "memgen sd-curvature-figure --inputs {params.folder} --experiment {wildcards.S}"
        " --sd-curvature-config {params.options:q} --plots-config {params.plots:q}"
        " --out {params.stem} > {log} 2>&1"
