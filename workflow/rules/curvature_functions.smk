# Helper functions of curvature.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def curvature_experiments():
    return [
        E for E in IMAGE_EXPS if exp_cfg(E).get("curvature", {}).get("enabled", True)
    ]


def curvature_json(wildcards):
    """The curvature section with the device made explicit (so a config change reruns this rule)."""
    cfg = dict(exp_cfg(wildcards.E).get("curvature", {}))
    cfg.pop("figure_ks", None)  # figure only: changing it must not rerun the spectra
    cfg["device"] = stage_device(wildcards.E, "curvature")
    return json.dumps(cfg, sort_keys=True)


def curvature_analysis_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E).get("analysis", {}), sort_keys=True)


def curvature_gpus(wildcards):
    return gpus_for(wildcards.E, "curvature")


def curvature_figure_json(wildcards):
    """The figure keys of the curvature section (drop_top, figure_ks): changing the spectra's keys
    reruns the spectra, and these only the figure."""
    cfg = exp_cfg(wildcards.E).get("curvature", {})
    keys = ("drop_top", "figure_ks")
    return json.dumps({key: cfg[key] for key in keys if key in cfg}, sort_keys=True)


def curvature_per_k(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/curvature.parquet" for k in ks_of(wildcards.E)]


def curvature_targets():
    return [
        f"{RUN}/{E}/K{k}/curvature.parquet"
        for E in curvature_experiments()
        for k in ks_of(E)
    ]


def curvature_figures():
    return [
        f"{RUN}/figures/fig5a_curvature_{E}.{ext}"
        for E in curvature_experiments()
        for ext in ("png", "pdf")
    ]
