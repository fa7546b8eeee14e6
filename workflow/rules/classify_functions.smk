# Helper functions of classify.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def classify_cfg(E):
    return exp_cfg(E)["classify"]


def classify_json(wildcards):
    return section_json(wildcards.E, "classify", ("generalized_order", "impl_version"))


def fractions_classify_json(wildcards):
    keys = ("n_bootstrap", "confidence", "seed", "hist_bins", "impl_version")
    return section_json(wildcards.E, "classify", keys)


def fractions_thresholds_json(wildcards):
    return section_json(wildcards.E, "thresholds", ("floor", "sensitivity", "sweep"))


def classify_per_k(name):
    """Input function: R/E/K{k}/<name> for every K of the wildcard's experiment."""

    def files(wildcards):
        return [f"{RUN}/{wildcards.E}/K{k}/{name}" for k in ks_of(wildcards.E)]

    return files


def classify_figure_params(wildcards):
    E = wildcards.E
    return {
        "critical_k": " ".join(str(k) for k in critical_ks_of(E)),
        "classify": section_json(E, "classify", ("examples_per_class",)),
        "thresholds": section_json(E, "thresholds", ("band",)),
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
