# Helper functions of circle.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
# Each circle command takes its config sections as JSON (--<name>-config), per-K values resolved here.
import json

CIRCLE = f"{RUN}/circle"


def circle_cfg(section=None):
    cfg = exp_cfg("circle")
    return cfg if section is None else cfg.get(section, {})


def circle_exact_ks():
    return list(circle_cfg("exact").get("ks", [2, 9]))


def circle_json(section):
    """A circle section as the JSON a memgen circle-* command takes (--<name>-config)."""
    return json.dumps(section, sort_keys=True)


def circle_per_k(section, key, k):
    return per_k(circle_cfg(section)[key], "circle", k, f"circle.{section}.{key}")


def circle_data_json():
    c = circle_cfg()
    return circle_json(
        {key: c[key] for key in ("pool_size", "pool_seed", "split_seed", "ks")}
    )


def circle_model_json(wildcards):
    return circle_json(circle_cfg("model"))


def circle_train_json(wildcards):
    """circle.train with the per-K iterations resolved and the device made explicit."""
    t = dict(circle_cfg("train"))
    t["iterations"] = circle_per_k("train", "iterations", wildcards.k)
    t["device"] = stage_device("circle", "train")
    return circle_json(t)


def circle_sample_json(wildcards):
    s = dict(circle_cfg("sample"))
    s["n_samples"] = circle_per_k("sample", "n_samples", wildcards.k)
    s["device"] = stage_device("circle", "sample")
    return circle_json(s)


def circle_exact_sample_json(wildcards):
    """The keys of circle.sample the exact sampler shares (its count and steps are circle.exact's)."""
    s = circle_cfg("sample")
    return circle_json({key: s[key] for key in ("t_end", "prior_std", "seed")})


def circle_exact_json(wildcards):
    return circle_json(
        {
            "n_samples": circle_per_k("exact", "n_samples", wildcards.k),
            "steps": circle_cfg("exact")["steps"],
        }
    )


def circle_cluster_json(wildcards):
    c = dict(circle_cfg("cluster"))
    c["tau"] = circle_per_k("cluster", "tau", wildcards.k)
    c.pop("impl_version", None)  # a param of its own (reruns the stages it names)
    return circle_json(c)


def circle_energy_section(k, device):
    e = circle_cfg("energy")
    keys = ("grid", "extent", "rtol", "atol", "prior")
    return {
        **{key: e[key] for key in keys},
        "t": circle_per_k("energy", "t", k),
        "device": device,
    }


def circle_energy_json(wildcards):
    return circle_json(
        circle_energy_section(wildcards.k, stage_device("circle", "energy"))
    )


def circle_energy_centres_json(wildcards):
    # A few dozen points: seconds on a CPU, not worth a GPU job (float64 either way).
    section = circle_energy_section(wildcards.k, "cpu")
    section.pop("grid"), section.pop("extent")
    return circle_json(section)


def circle_beta_exact():
    """Inverse temperature of the closed-form K -> inf panel: `energy.beta_exact`, or (auto) the
    learned panels' own, 1 / (2 t_E) at the largest K, so both are drawn at one temperature.
    """
    e = circle_cfg("energy")
    if e["beta_exact"] != "auto":
        return e["beta_exact"]
    k = ks_of("circle")[-1]
    return 1.0 / (2.0 * per_k(e["t"], "circle", k, "circle.energy.t"))


def circle_energy_exact_json():
    e = circle_cfg("energy")
    return circle_json(
        {"beta_exact": circle_beta_exact(), "grid": e["grid"], "extent": e["extent"]}
    )


def circle_figure_json():
    return circle_json({"max_points": circle_cfg("figure")["max_points"]})


def circle_figure_exact_json():
    return circle_json({"ks": circle_exact_ks()})


def circle_plots_json():
    return json.dumps(plot_params(), sort_keys=True)


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
