# Audit of a user's own diffusion model (`audit.<name>` in the config): sample a local diffusers
# checkpoint, classify its samples against its training images, tables and figures of that one K.


include: "audit_functions.smk"


rule audit:
    input:
        unpack(audit_inputs),
    output:
        summary=f"{RUN}/audit/{{A}}/summary.json",
        classes=f"{RUN}/audit/{{A}}/classes.parquet",
        fractions=f"{RUN}/audit/{{A}}/fractions.parquet",
        thresholds=f"{RUN}/audit/{{A}}/thresholds.parquet",
        figures=multiext(
            f"{RUN}/audit/{{A}}/",
            *(
                f"{fig}_{{A}}.{ext}"
                for fig in ("fig1b_examples", "fig3_hist", "fig4a_fractions")
                for ext in ("png", "pdf")
            ),
        ),
    log:
        f"{RUN}/logs/audit/{{A}}.log",
    benchmark:
        f"{RUN}/benchmarks/audit/{{A}}.tsv"
    wildcard_constraints:
        A="|".join(re.escape(a) for a in AUDITS) or "NO_AUDIT",
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=audit_gpus,
    params:
        train=audit_train_images,
        flags=audit_flags,
        options=audit_options,
        plots=plots_json(),
        out_dir=f"{RUN}/audit/{{A}}",
    shell:
        "memgen audit --checkpoint {input.checkpoint:q} --train-images {params.train:q}"
        " {params.flags} --experiment {wildcards.A} --audit-config {params.options:q}"
        " --plots-config {params.plots:q} --out-dir {params.out_dir} > {log} 2>&1"
