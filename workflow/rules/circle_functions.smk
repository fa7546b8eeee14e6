# Helper functions of circle.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
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
        "copy_quantile": c["copy_quantile"],
        "copy_max_null": c["copy_max_null"],
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


def circle_energy_centres_params(wildcards):
    # A few dozen points: seconds on a CPU, not worth a GPU job (float64 either way).
    return {**circle_energy_params(wildcards), "device": "cpu"}


def circle_beta_exact():
    """Inverse temperature of the closed-form K -> inf panel: `energy.beta_exact`, or (auto) the
    learned panels' own, 1 / (2 t_E) at the largest K, so both are drawn at one temperature.
    """
    e = circle_cfg("energy")
    if e["beta_exact"] != "auto":
        return e["beta_exact"]
    k = ks_of("circle")[-1]
    return 1.0 / (2.0 * per_k(e["t"], "circle", k, "circle.energy.t"))


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
        "energy_centres": circle_per_k_files("energy_centres.parquet"),
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
        "energy_centres.parquet",
    ):
        files += circle_per_k_files(name)
    files += circle_per_k_files("samples_exact.parquet", circle_exact_ks())
    files += circle_per_k_files("clusters_exact.parquet", circle_exact_ks())
    return files + circle_figures()
