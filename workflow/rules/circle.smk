# 2-D circle experiment (paper Fig 2; SPEC §3): data -> train per K -> sample (net, exact) ->
# cluster -> energy (learned per K, closed form) -> figure. Owner: package A.
# Every config value a job uses is a param, so a change reruns exactly that rule + downstream
# (e.g. cluster.tau only reaches circle_cluster and the figure).

CIRCLE = f"{RUN}/circle"


def circle_cfg(section=None):
    cfg = exp_cfg("circle")
    return cfg if section is None else cfg.get(section, {})


def circle_exact_ks():
    return list(circle_cfg("exact").get("ks", [2, 9]))


def circle_train_params(wildcards):
    m, t = circle_cfg("model"), circle_cfg("train")
    return {
        "arch": m["arch"],
        "width": m["width"],
        "encoder_blocks": m["encoder_blocks"],
        "decoder_blocks": m["decoder_blocks"],
        "fourier_features": m["fourier_features"],
        "fourier_scale": m["fourier_scale"],
        "iterations": per_k(
            t["iterations"], "circle", wildcards.k, "circle.train.iterations"
        ),
        "lr": t["lr"],
        "batch_size": t["batch_size"],
        "batch_sampling": t["batch_sampling"],
        "t_sampling": t["t_sampling"],
        "t_eps": t["t_eps"],
        "lr_schedule": t["lr_schedule"],
        "checkpoint_every": t["checkpoint_every"],
        "log_every": t["log_every"],
        "seed": t["seed"],
        "device": stage_device("circle", "train"),
    }


def circle_sample_params(wildcards):
    s = circle_cfg("sample")
    return {
        "n_samples": per_k(
            s["n_samples"], "circle", wildcards.k, "circle.sample.n_samples"
        ),
        "steps": s["steps"],
        "t_end": s["t_end"],
        "prior_std": s["prior_std"],
        "seed": s["seed"],
        "device": stage_device("circle", "sample"),
    }


def circle_exact_params(wildcards):
    s, e = circle_cfg("sample"), circle_cfg("exact")
    return {
        "n_samples": per_k(
            e["n_samples"], "circle", wildcards.k, "circle.exact.n_samples"
        ),
        "steps": e["steps"],
        "t_end": s["t_end"],
        "prior_std": s["prior_std"],
        "seed": s["seed"],
    }


def circle_cluster_params(wildcards):
    c = circle_cfg("cluster")
    return {
        "tau": per_k(c["tau"], "circle", wildcards.k, "circle.cluster.tau"),
        "tau_reference_n": c["tau_reference_n"],
        "max_points": c["max_points"],
        "copy_radius": c["copy_radius"],
        "copy_fraction": c["copy_fraction"],
    }


def circle_energy_params(wildcards):
    e = circle_cfg("energy")
    return {
        "t": per_k(e["t"], "circle", wildcards.k, "circle.energy.t"),
        "grid": e["grid"],
        "extent": e["extent"],
        "rtol": e["rtol"],
        "atol": e["atol"],
        "prior": e["prior"],
        "device": stage_device("circle", "energy"),
    }


def circle_ks_arg():
    return " ".join(str(k) for k in ks_of("circle"))


def circle_exact_ks_arg():
    return " ".join(str(k) for k in circle_exact_ks())


def circle_per_k_files(name, ks=None):
    return [f"{CIRCLE}/K{k}/{name}" for k in (ks_of("circle") if ks is None else ks)]


def circle_figure_inputs(wildcards):
    return {
        "split": f"{CIRCLE}/split.parquet",
        "samples_net": circle_per_k_files("samples_net.parquet"),
        "clusters_net": circle_per_k_files("clusters_net.parquet"),
        "energy": circle_per_k_files("energy_grid.parquet"),
        "samples_exact": circle_per_k_files("samples_exact.parquet", circle_exact_ks()),
        "clusters_exact": circle_per_k_files(
            "clusters_exact.parquet", circle_exact_ks()
        ),
        "energy_exact": f"{CIRCLE}/energy_exact.parquet",
    }


def circle_figures():
    return [f"{RUN}/figures/fig2_circle.png", f"{RUN}/figures/fig2_circle.pdf"]


def circle_targets():
    files = [
        f"{CIRCLE}/pool.parquet",
        f"{CIRCLE}/split.parquet",
        f"{CIRCLE}/energy_exact.parquet",
    ]
    for name in (
        "model.pt",
        "train_log.parquet",
        "samples_net.parquet",
        "clusters_net.parquet",
        "energy_grid.parquet",
    ):
        files += circle_per_k_files(name)
    files += circle_per_k_files("samples_exact.parquet", circle_exact_ks())
    files += circle_per_k_files("clusters_exact.parquet", circle_exact_ks())
    return files + circle_figures()


rule circle_data:
    output:
        pool=f"{CIRCLE}/pool.parquet",
        split=f"{CIRCLE}/split.parquet",
    log:
        f"{RUN}/logs/circle_data/all.log",
    benchmark:
        f"{RUN}/benchmarks/circle_data/all.tsv"
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
        split=f"{CIRCLE}/split.parquet",
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
        split=f"{CIRCLE}/split.parquet",
        model=f"{CIRCLE}/K{{k}}/model.pt",
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
        split=f"{CIRCLE}/split.parquet",
    output:
        f"{CIRCLE}/K{{k}}/samples_exact.parquet",
    log:
        f"{RUN}/logs/circle_sample_exact/K{{k}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_sample_exact/K{{k}}.tsv"
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
        split=f"{CIRCLE}/split.parquet",
        samples=f"{CIRCLE}/K{{k}}/samples_{{kind}}.parquet",
    output:
        f"{CIRCLE}/K{{k}}/clusters_{{kind}}.parquet",
    log:
        f"{RUN}/logs/circle_cluster/K{{k}}_{{kind}}.log",
    benchmark:
        f"{RUN}/benchmarks/circle_cluster/K{{k}}_{{kind}}.tsv"
    wildcard_constraints:
        kind="net|exact",
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=circle_cluster_params,
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-cluster --split {input.split} --k {wildcards.k}"
        " --samples {input.samples} --tau {params.p[tau]}"
        " --tau-reference-n {params.p[tau_reference_n]} --max-points {params.p[max_points]}"
        " --copy-radius {params.p[copy_radius]} --copy-fraction {params.p[copy_fraction]}"
        " --out {output} > {log} 2>&1"


rule circle_energy:
    input:
        split=f"{CIRCLE}/split.parquet",
        model=f"{CIRCLE}/K{{k}}/model.pt",
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


rule circle_energy_exact:
    output:
        f"{CIRCLE}/energy_exact.parquet",
    log:
        f"{RUN}/logs/circle_energy_exact/all.log",
    benchmark:
        f"{RUN}/benchmarks/circle_energy_exact/all.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        beta=circle_cfg("energy")["beta_exact"],
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
        exact_ks=circle_exact_ks_arg(),
        max_points=circle_cfg("figure")["max_points"],
        impl_version=circle_cfg()["impl_version"],
    shell:
        "memgen circle-figure --split {input.split} --ks {params.ks}"
        " --samples-net {input.samples_net} --clusters-net {input.clusters_net}"
        " --energy {input.energy} --exact-ks {params.exact_ks}"
        " --samples-exact {input.samples_exact} --clusters-exact {input.clusters_exact}"
        " --energy-exact {input.energy_exact} --max-points {params.max_points}"
        " --out {output.png} > {log} 2>&1"
