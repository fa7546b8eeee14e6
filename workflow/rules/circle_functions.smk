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


def circle_per_k_files(pattern, ks=None, **wildcards):
    """An output pattern of a circle per-K rule (wildcard k) for every K of the grid (or of ks)."""
    ks = ks_of("circle") if ks is None else ks
    return [path_of(pattern, k=k, **wildcards) for k in ks]


def circle_figure_inputs(wildcards):
    exact = circle_exact_ks()
    clusters = rules.circle_cluster.output[0]
    return {
        "split": rules.circle_data.output.split,
        "samples_net": circle_per_k_files(rules.circle_sample_net.output[0]),
        "clusters_net": circle_per_k_files(clusters, kind="net"),
        "energy": circle_per_k_files(rules.circle_energy.output[0]),
        "energy_centres": circle_per_k_files(rules.circle_energy_centres.output[0]),
        "samples_exact": circle_per_k_files(rules.circle_sample_exact.output[0], exact),
        "clusters_exact": circle_per_k_files(clusters, exact, kind="exact"),
        "energy_exact": rules.circle_energy_exact.output[0],
    }


def circle_figures():
    return list(rules.circle_figure.output)


def circle_targets():
    inputs = circle_figure_inputs(None)
    files = [*rules.circle_data.output, inputs["energy_exact"]]
    files += circle_per_k_files(rules.circle_train.output.model)
    files += circle_per_k_files(rules.circle_train.output.log)
    for key in ("samples_net", "clusters_net", "energy", "energy_centres"):
        files += inputs[key]
    files += inputs["samples_exact"] + inputs["clusters_exact"]
    return files + circle_figures()
