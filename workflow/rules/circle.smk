# 2-D circle experiment (paper Fig 2; docs/method.md §3): data -> train per K -> sample (net, exact) ->
# cluster -> energy (learned per K on the grid and at the cluster centres, closed form) -> figure.
# Every config value a job uses is a param, so a change reruns exactly that rule + downstream
# (e.g. cluster.tau only reaches circle_cluster and the figure).


include: "circle_functions.smk"


rule circle_data:
    output:
        pool=f"{CIRCLE}/pool.parquet",
        split=f"{CIRCLE}/split.parquet",
    log:
        f"{RUN}/logs/circle_data/all.log",
    benchmark:
        f"{RUN}/benchmarks/circle_data/all.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        circle=circle_data_json(),
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-data --circle-config {params.circle:q}"
        " --pool-out {output.pool} --split-out {output.split} > {log} 2>&1"


rule circle_train:
    input:
        split=rules.circle_data.output.split,
    output:
        model=f"{CIRCLE}/K{{k}}/model.pt",
        log=f"{CIRCLE}/K{{k}}/train_log.parquet",
    log:
        f"{RUN}/logs/circle_train/K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_train/K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=2880,
        gpu=gpus_for("circle", "train"),
    params:
        model=circle_model_json,
        train=circle_train_json,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-train --split {input.split} --k {wildcards.k}"
        " --model-config {params.model:q} --train-config {params.train:q}"
        " --model-out {output.model} --log-out {output.log} > {log} 2>&1"


rule circle_sample_net:
    input:
        split=rules.circle_data.output.split,
        model=rules.circle_train.output.model,
    output:
        f"{CIRCLE}/K{{k}}/samples_net.parquet",
    log:
        f"{RUN}/logs/circle_sample_net/K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_sample_net/K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
        gpu=gpus_for("circle", "sample"),
    params:
        sample=circle_sample_json,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-sample --model net --split {input.split} --k {wildcards.k}"
        " --checkpoint {input.model} --sample-config {params.sample:q}"
        " --out {output} > {log} 2>&1"


rule circle_sample_exact:
    input:
        split=rules.circle_data.output.split,
    output:
        f"{CIRCLE}/K{{k}}/samples_exact.parquet",
    log:
        f"{RUN}/logs/circle_sample_exact/K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_sample_exact/K{{k}}.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        sample=circle_exact_sample_json,
        exact=circle_exact_json,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-sample --model exact --split {input.split} --k {wildcards.k}"
        " --sample-config {params.sample:q} --exact-config {params.exact:q}"
        " --out {output} > {log} 2>&1"


rule circle_cluster:
    input:
        split=rules.circle_data.output.split,
        samples=f"{CIRCLE}/K{{k}}/samples_{{kind}}.parquet",
    output:
        f"{CIRCLE}/K{{k}}/clusters_{{kind}}.parquet",
    log:
        f"{RUN}/logs/circle_cluster/K{{k}}_{{kind}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_cluster/K{{k}}_{{kind}}.tsv"
    wildcard_constraints:
        kind="net|exact",
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cluster=circle_cluster_json,
        impl_version=circle_cfg()["impl_version"],
        stage_impl_version=circle_cfg("cluster")["impl_version"],
    shell:
        "memgen circle-cluster --split {input.split} --k {wildcards.k}"
        " --samples {input.samples} --cluster-config {params.cluster:q}"
        " --out {output} > {log} 2>&1"


rule circle_energy:
    input:
        split=rules.circle_data.output.split,
        model=rules.circle_train.output.model,
    output:
        f"{CIRCLE}/K{{k}}/energy_grid.parquet",
    log:
        f"{RUN}/logs/circle_energy/K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_energy/K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=gpus_for("circle", "energy"),
    params:
        energy=circle_energy_json,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-energy --split {input.split} --k {wildcards.k}"
        " --checkpoint {input.model} --energy-config {params.energy:q}"
        " --out {output} > {log} 2>&1"


rule circle_energy_centres:
    input:
        split=rules.circle_data.output.split,
        model=rules.circle_train.output.model,
        clusters=expand(rules.circle_cluster.output[0], kind="net", allow_missing=True),
    output:
        f"{CIRCLE}/K{{k}}/energy_centres.parquet",
    log:
        f"{RUN}/logs/circle_energy_centres/K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_energy_centres/K{{k}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        energy=circle_energy_centres_json,
        impl_version=circle_cfg()["impl_version"],
        stage_impl_version=circle_cfg("energy")["impl_version"],
    shell:
        "memgen circle-energy-centres --split {input.split} --k {wildcards.k}"
        " --checkpoint {input.model} --clusters {input.clusters}"
        " --energy-config {params.energy:q} --out {output} > {log} 2>&1"


rule circle_energy_exact:
    output:
        f"{CIRCLE}/energy_exact.parquet",
    log:
        f"{RUN}/logs/circle_energy_exact/all.log",
    benchmark:
        f"{RUN}/benchmarks/circle_energy_exact/all.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        energy=circle_energy_exact_json(),
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-energy-exact --energy-config {params.energy:q} --out {output} > {log} 2>&1"


rule circle_figure:
    input:
        unpack(circle_figure_inputs),
    output:
        png=report(
            f"{RUN}/figures/fig2_circle.png",
            caption="../report/fig2_circle.rst",
            category="Circle (Fig 2)",
        ),
        pdf=f"{RUN}/figures/fig2_circle.pdf",
    log:
        f"{RUN}/logs/circle_figure/all.log",
    benchmark:
        f"{RUN}/benchmarks/circle_figure/all.tsv"
    localrule: True
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure=circle_figure_json(),
        exact=circle_figure_exact_json(),
        plots=circle_plots_json(),
        impl_version=circle_cfg()["impl_version"],
        stage_impl_version=circle_cfg("figure")["impl_version"],
    shell:
        "memgen circle-figure --split {input.split}"
        " --samples-net {input.samples_net} --clusters-net {input.clusters_net}"
        " --energy {input.energy} --energy-centres {input.energy_centres}"
        " --samples-exact {input.samples_exact} --clusters-exact {input.clusters_exact}"
        " --energy-exact {input.energy_exact} --figure-config {params.figure:q}"
        " --exact-config {params.exact:q} --plots-config {params.plots:q}"
        " --out {output.png} > {log} 2>&1"
