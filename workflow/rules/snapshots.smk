# Training dynamics (docs/training_dynamics.md): the memorization analysis at EMA snapshots taken
# during training, per (experiment E, K, step s), with the experiment's final thresholds.
#   R/E/K{k}/scratch/train/snapshots/step{s}/ the EMA copies written during training (not outputs)
#   R/E/K{k}/snapshots/exact.npy              exact empirical-score model's draws (agreement reference)
#   R/E/K{k}/snapshots/step{s}/model/         the published snapshot (replayed if training passed s)
#   R/E/K{k}/snapshots/step{s}/classes.parquet, agreement.parquet
#   R/E/snapshots/{fractions,agreement,tau,fit}.parquet, R/figures/figT_*_E.{png,pdf}
# Job parameters are in params.smk and job sizes in resources.smk, as for every stage; the step list,
# the checks of the section and the targets are in snapshots_functions.smk. The train rule gets the
# steps of its K (train_snapshot_steps in params.smk) as a parameter computed from its input, which
# Snakemake's params trigger leaves out: adding a step never reruns training, and the step list
# reaches no other rule's parameters.


include: "snapshots_functions.smk"


rule snapshot_exact:
    input:
        pool=rules.split.output.pool,
    output:
        f"{RUN}/{{E}}/K{{k}}/snapshots/exact.npy",
    log:
        f"{RUN}/logs/snapshot_exact/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/snapshot_exact/{{E}}_K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=stage_gpus("snapshots"),
    params:
        cfg=snapshot_json("exact"),
        sample=snapshot_section_json("sample"),
    shell:
        "memgen snapshot-exact --pool {input.pool} --k {wildcards.k} --experiment {wildcards.E}"
        " --sample-config {params.sample:q} --snapshots-config {params.cfg:q}"
        " --out {output} > {log} 2>&1"


rule snapshot:
    input:
        config=rules.train.output.config,  # snapshots are refused on a model.reuse experiment
        weights=rules.train.output.weights,
        pool=rules.split.output.pool,
        thresholds=rules.thresholds.output[0],
        exact=rules.snapshot_exact.output[0],
    output:
        config=f"{RUN}/{{E}}/K{{k}}/snapshots/step{{s}}/model/config.json",
        weights=f"{RUN}/{{E}}/K{{k}}/snapshots/step{{s}}/model/diffusion_pytorch_model.safetensors",
        classes=f"{RUN}/{{E}}/K{{k}}/snapshots/step{{s}}/classes.parquet",
        agreement=f"{RUN}/{{E}}/K{{k}}/snapshots/step{{s}}/agreement.parquet",
    log:
        f"{RUN}/logs/snapshot/{{E}}_K{{k}}_step{{s}}.log",
    benchmark:
        f"{RUN}/benchmarks/snapshot/{{E}}_K{{k}}_step{{s}}.tsv"
    wildcard_constraints:
        s=r"\d+",
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=snapshot_runtime,
        gpu=stage_gpus("snapshots"),
    params:
        cfg=snapshot_json("snapshot"),
        model=train_model_json,
        train=train_train_json,
        sample=snapshot_section_json("sample"),
        neighbors=snapshot_section_json("neighbors"),
        model_dir=snapshot_model_dir,
        scratch=f"{RUN}/{{E}}/K{{k}}/scratch/train",
    shell:
        "memgen snapshot --pool {input.pool} --k {wildcards.k} --experiment {wildcards.E}"
        " --step {wildcards.s} --model-config {params.model:q} --train-config {params.train:q}"
        " --sample-config {params.sample:q} --snapshots-config {params.cfg:q}"
        " --neighbors-config {params.neighbors:q} --thresholds {input.thresholds}"
        " --exact {input.exact} --scratch {params.scratch} --model-dir {params.model_dir}"
        " --classes-out {output.classes} --agreement-out {output.agreement} > {log} 2>&1"


rule snapshot_summary:
    input:
        classes=snapshot_per_step("classes"),
        agreement=snapshot_per_step("agreement"),
    output:
        fractions=f"{RUN}/{{E}}/snapshots/fractions.parquet",
        agreement=f"{RUN}/{{E}}/snapshots/agreement.parquet",
        tau=f"{RUN}/{{E}}/snapshots/tau.parquet",
        fit=f"{RUN}/{{E}}/snapshots/fit.parquet",
    log:
        f"{RUN}/logs/snapshot_summary/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/snapshot_summary/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        cfg=snapshot_json("summary"),
        classify=snapshot_classify_json,
    shell:
        "memgen snapshot-summary --experiment {wildcards.E} --snapshots-config {params.cfg:q}"
        " --classify-config {params.classify:q} --classes {input.classes}"
        " --agreement {input.agreement} --fractions-out {output.fractions}"
        " --agreement-out {output.agreement} --tau-out {output.tau} --fit-out {output.fit}"
        " > {log} 2>&1"


rule snapshot_figure:
    input:
        fractions=rules.snapshot_summary.output.fractions,
        agreement=rules.snapshot_summary.output.agreement,
        tau=rules.snapshot_summary.output.tau,
        fit=rules.snapshot_summary.output.fit,
    output:
        report(
            multiext(f"{RUN}/figures/figT_phase_{{E}}", ".png", ".pdf"),
            caption="../report/figT_dynamics.rst",
            category="Training dynamics",
            labels={"experiment": "{E}", "figure": "phase diagram over K and step"},
        ),
        report(
            multiext(f"{RUN}/figures/figT_fractions_step_{{E}}", ".png", ".pdf"),
            caption="../report/figT_dynamics.rst",
            category="Training dynamics",
            labels={"experiment": "{E}", "figure": "fractions vs step"},
        ),
        report(
            multiext(f"{RUN}/figures/figT_tau_{{E}}", ".png", ".pdf"),
            caption="../report/figT_dynamics.rst",
            category="Training dynamics",
            labels={"experiment": "{E}", "figure": "tau_mem vs K"},
        ),
        report(
            multiext(f"{RUN}/figures/figT_agreement_{{E}}", ".png", ".pdf"),
            caption="../report/figT_dynamics.rst",
            category="Training dynamics",
            labels={"experiment": "{E}", "figure": "exact-model agreement"},
        ),
    log:
        f"{RUN}/logs/snapshot_figure/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/snapshot_figure/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        plots=plots_json,
        out_dir=output_dir,
    shell:
        "memgen snapshot-figure --experiment {wildcards.E} --fractions {input.fractions}"
        " --agreement {input.agreement} --tau {input.tau} --fit {input.fit}"
        " --plots-config {params.plots:q} --out-dir {params.out_dir} > {log} 2>&1"
