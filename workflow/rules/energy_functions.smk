# Helper functions of energy.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def energy_experiments():
    return [E for E in IMAGE_EXPS if exp_cfg(E).get("energy", {}).get("enabled", True)]


def energy_json(wildcards):
    """The energy section with the device made explicit (so a config change reruns this rule)."""
    cfg = dict(exp_cfg(wildcards.E).get("energy", {}))
    cfg["device"] = stage_device(wildcards.E, "energy")
    return json.dumps(cfg, sort_keys=True)


def energy_analysis_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E).get("analysis", {}), sort_keys=True)


def energy_gpus(wildcards):
    return gpus_for(wildcards.E, "energy")


def energy_figure_json(wildcards):
    """The figure key of the energy section (plot_abs)."""
    cfg = exp_cfg(wildcards.E).get("energy", {})
    return json.dumps(
        {key: cfg[key] for key in ("plot_abs",) if key in cfg}, sort_keys=True
    )


def energy_per_k(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/energy.parquet" for k in ks_of(wildcards.E)]


def energy_targets():
    return [
        f"{RUN}/{E}/K{k}/energy.parquet" for E in energy_experiments() for k in ks_of(E)
    ]


def energy_figures():
    return [
        f"{RUN}/figures/{fig}_{E}.{ext}"
        for E in energy_experiments()
        for fig in ("fig6_energy", "fig25_energy_path", "figE_energy_refs")
        for ext in ("png", "pdf")
    ]
