# 2-D circle experiment (paper Fig 2; SPEC §3): data -> train per K -> sample (net, exact) ->
# cluster -> energy (learned per K on the grid and at the cluster centres, closed form) -> figure.
# Owner: package A.
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
        pool_size=circle_cfg()["pool_size"],
        pool_seed=circle_cfg()["pool_seed"],
        split_seed=circle_cfg()["split_seed"],
        ks=circle_ks_arg(),
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-data --pool-size {params.pool_size} --pool-seed {params.pool_seed}"
        " --split-seed {params.split_seed} --ks {params.ks}"
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
        p=circle_train_params,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-train --split {input.split} --k {wildcards.k}"
        " --arch {params.p[arch]} --width {params.p[width]}"
        " --encoder-blocks {params.p[encoder_blocks]} --decoder-blocks {params.p[decoder_blocks]}"
        " --fourier-features {params.p[fourier_features]}"
        " --fourier-scale {params.p[fourier_scale]}"
        " --iterations {params.p[iterations]} --lr {params.p[lr]}"
        " --batch-size {params.p[batch_size]} --batch-sampling {params.p[batch_sampling]}"
        " --t-sampling {params.p[t_sampling]} --t-eps {params.p[t_eps]}"
        " --lr-schedule {params.p[lr_schedule]} --checkpoint-every {params.p[checkpoint_every]}"
        " --log-every {params.p[log_every]} --seed {params.p[seed]} --device {params.p[device]}"
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
        p=circle_sample_params,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-sample --model net --split {input.split} --k {wildcards.k}"
        " --checkpoint {input.model} --n-samples {params.p[n_samples]}"
        " --steps {params.p[steps]} --t-end {params.p[t_end]}"
        " --prior-std {params.p[prior_std]} --seed {params.p[seed]}"
        " --device {params.p[device]} --out {output} > {log} 2>&1"


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
        p=circle_exact_params,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-sample --model exact --split {input.split} --k {wildcards.k}"
        " --n-samples {params.p[n_samples]} --steps {params.p[steps]}"
        " --t-end {params.p[t_end]} --prior-std {params.p[prior_std]}"
        " --seed {params.p[seed]} --out {output} > {log} 2>&1"


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
        p=circle_cluster_params,
        impl_version=circle_cfg()["impl_version"],
        stage_impl_version=circle_cfg("cluster")["impl_version"],
    shell:
        "memgen circle-cluster --split {input.split} --k {wildcards.k}"
        " --samples {input.samples} --tau {params.p[tau]}"
        " --tau-reference-n {params.p[tau_reference_n]} --max-points {params.p[max_points]}"
        " --copy-radius {params.p[copy_radius]} --copy-fraction {params.p[copy_fraction]}"
        " --copy-quantile {params.p[copy_quantile]} --copy-max-null {params.p[copy_max_null]}"
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
        p=circle_energy_params,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-energy --split {input.split} --k {wildcards.k}"
        " --checkpoint {input.model} --t {params.p[t]} --grid {params.p[grid]}"
        " --extent {params.p[extent]} --rtol {params.p[rtol]} --atol {params.p[atol]}"
        " --prior {params.p[prior]} --device {params.p[device]} --out {output} > {log} 2>&1"


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
        p=circle_energy_centres_params,
        impl_version=circle_cfg()["impl_version"],
        stage_impl_version=circle_cfg("energy")["impl_version"],
    shell:
        "memgen circle-energy-centres --split {input.split} --k {wildcards.k}"
        " --checkpoint {input.model} --clusters {input.clusters} --t {params.p[t]}"
        " --rtol {params.p[rtol]} --atol {params.p[atol]} --prior {params.p[prior]}"
        " --device {params.p[device]} --out {output} > {log} 2>&1"


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
        beta=circle_beta_exact(),
        grid=circle_cfg("energy")["grid"],
        extent=circle_cfg("energy")["extent"],
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-energy-exact --beta {params.beta} --grid {params.grid}"
        " --extent {params.extent} --out {output} > {log} 2>&1"


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
        ks=circle_ks_arg(),
        plots=plot_params(),
        exact_ks=circle_exact_ks_arg(),
        max_points=circle_cfg("figure")["max_points"],
        impl_version=circle_cfg()["impl_version"],
        stage_impl_version=circle_cfg("figure")["impl_version"],
    shell:
        "MEMGEN_FIGURE_DPI={params.plots[dpi]} MEMGEN_FIGURE_STYLE={params.plots[style]:q}"
        " memgen circle-figure --split {input.split} --ks {params.ks}"
        " --samples-net {input.samples_net} --clusters-net {input.clusters_net}"
        " --energy {input.energy} --exact-ks {params.exact_ks}"
        " --energy-centres {input.energy_centres}"
        " --samples-exact {input.samples_exact} --clusters-exact {input.clusters_exact}"
        " --energy-exact {input.energy_exact} --max-points {params.max_points}"
        " --out {output.png} > {log} 2>&1"
