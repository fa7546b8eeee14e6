# Classification stage (SPEC §5.3-5.5): per-sample classes per (E, K), fractions with bootstrap CIs,
# threshold sensitivity and histogram bins per E, and the classification figures (Figs 1B, 3, 4A).


rule classify:
    input:
        train_nn=rules.neighbors_train.output[0],
        synth_nn=rules.neighbors_synth.output[0],
        thresholds=rules.thresholds.output[0],
    output:
        f"{RUN}/{{E}}/K{{k}}/classes.parquet",
    log:
        f"{RUN}/logs/classify/{{E}}_K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/classify/{{E}}_K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        attempt=attempt_number,
    params:
        cfg=classify_params,
    shell:
        "python -m memgen.retry --attempt {resources.attempt} --log {log} --inputs {input} -- "
        "memgen classify --experiment {wildcards.E} --K {wildcards.k}"
        " --train-nn {input.train_nn} --sample-nn {input.synth_nn}"
        " --thresholds {input.thresholds}"
        " --generalized-order {params.cfg[generalized_order]} --out {output} > {log} 2>&1"


rule fractions:
    input:
        per_k_inputs(rules.classify.output[0]),
    output:
        fractions=f"{RUN}/{{E}}/fractions.parquet",
        sensitivity=f"{RUN}/{{E}}/sensitivity.parquet",
        histograms=f"{RUN}/{{E}}/histograms.parquet",
        sweep=f"{RUN}/{{E}}/sweep.parquet",
    log:
        f"{RUN}/logs/fractions/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/fractions/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        cfg=classify_fraction_params,
    shell:
        "memgen fractions --experiment {wildcards.E} --classes {input}"
        " --out {output.fractions} --sensitivity-out {output.sensitivity}"
        " --histograms-out {output.histograms} --scales {params.cfg[scales]}"
        " --sweep-out {output.sweep} --sweep {params.cfg[sweep]}"
        " --n-bootstrap {params.cfg[n_bootstrap]} --confidence {params.cfg[confidence]}"
        " --seed {params.cfg[seed]} --bins {params.cfg[hist_bins]}"
        " --floor {params.cfg[floor]} > {log} 2>&1"


rule classify_figure:
    input:
        fractions=rules.fractions.output.fractions,
        histograms=rules.fractions.output.histograms,
        thresholds=rules.thresholds.output[0],
        sweep=rules.fractions.output.sweep,
        null=get_pool_null,
        classes=per_k_inputs(rules.classify.output[0]),
        train_nn=per_k_inputs(rules.neighbors_train.output[0]),
        synth_nn=per_k_inputs(rules.neighbors_synth.output[0]),
        samples=per_k_inputs(rules.sample.output.samples),
        pool=rules.split.output.pool,
    output:
        report(
            multiext(f"{RUN}/figures/fig3_hist_{{E}}", ".png", ".pdf"),
            caption="../report/fig3_hist.rst",
            category="Classification",
            labels={"experiment": "{E}", "figure": "Fig 3 histograms"},
        ),
        report(
            multiext(f"{RUN}/figures/fig4a_fractions_{{E}}", ".png", ".pdf"),
            caption="../report/fig4a_fractions.rst",
            category="Classification",
            labels={"experiment": "{E}", "figure": "Fig 4A fractions"},
        ),
        report(
            multiext(f"{RUN}/figures/fig1b_examples_{{E}}", ".png", ".pdf"),
            caption="../report/fig1b_examples.rst",
            category="Classification",
            labels={"experiment": "{E}", "figure": "Fig 1B examples"},
        ),
    log:
        f"{RUN}/logs/classify_figure/{{E}}.log",
    benchmark:
        f"{RUN}/benchmarks/classify_figure/{{E}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    params:
        cfg=classify_figure_params,
        out_dir=output_dir,
    shell:
        "memgen classify-figure --experiment {wildcards.E} --fractions {input.fractions}"
        " --histograms {input.histograms} --thresholds {input.thresholds}"
        " --sweep {input.sweep} --null {input.null} --band {params.cfg[band]}"
        " --classes {input.classes} --train-nn {input.train_nn} --sample-nn {input.synth_nn}"
        " --samples {input.samples} --pool {input.pool} --critical-k {params.cfg[critical_k]}"
        " --per-class {params.cfg[per_class]} --dpi {params.cfg[plots][dpi]}"
        " --k-log {params.cfg[plots][k_log]} --style={params.cfg[plots][style]:q}"
        " --out-dir {params.out_dir} > {log} 2>&1"
