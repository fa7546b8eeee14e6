# Helper functions of classify.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def classify_cfg(E):
    return exp_cfg(E)["classify"]


def classify_params(wildcards):
    cfg = classify_cfg(wildcards.E)
    return {k: cfg[k] for k in ("generalized_order", "impl_version")}


def classify_fraction_params(wildcards):
    cfg = classify_cfg(wildcards.E)
    params = {
        k: cfg[k]
        for k in ("n_bootstrap", "confidence", "seed", "hist_bins", "impl_version")
    }
    params["floor"] = exp_cfg(wildcards.E)["thresholds"]["floor"]
    params["scales"] = " ".join(
        str(s) for s in exp_cfg(wildcards.E)["thresholds"]["sensitivity"]
    )
    params["sweep"] = " ".join(
        str(s) for s in exp_cfg(wildcards.E)["thresholds"]["sweep"]
    )
    return params


def classify_per_k(name):
    """Input function: R/E/K{k}/<name> for every K of the wildcard's experiment."""

    def files(wildcards):
        return [f"{RUN}/{wildcards.E}/K{k}/{name}" for k in ks_of(wildcards.E)]

    return files


def classify_figure_params(wildcards):
    return {
        "plots": plot_params(),
        "critical_k": " ".join(str(k) for k in critical_ks_of(wildcards.E)),
        "per_class": classify_cfg(wildcards.E)["examples_per_class"],
        "band": " ".join(str(s) for s in exp_cfg(wildcards.E)["thresholds"]["band"]),
    }


def classify_figure_dir(wildcards, output):
    """Figure folder, derived from the outputs (no hard-coded prefix)."""
    return os.path.dirname(output[0])


def analysis_targets():
    files = []
    for E in IMAGE_EXPS:
        files += [
            f"{RUN}/{E}/{name}.parquet"
            for name in (
                "thresholds",
                "fractions",
                "sensitivity",
                "histograms",
                "sweep",
            )
        ]
        files += [f"{RUN}/{E}/K{k}/classes.parquet" for k in ks_of(E)]
    return files


def analysis_figures():
    return [
        f"{RUN}/figures/{fig}_{E}.{ext}"
        for E in IMAGE_EXPS
        for fig in ("fig3_hist", "fig4a_fractions", "fig1b_examples")
        for ext in ("png", "pdf")
    ]
