# Helper functions of kgrid.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).


def kgrid_sweep(wildcards):
    E = wildcards.E
    if E not in SWEEPS:
        raise WorkflowError(
            f"experiment {E} has an explicit K grid (ks in the config); only experiments with "
            "`ks: sweep` have a kgrid step"
        )
    return SWEEPS[E]


def kgrid_sweep_fractions(wildcards):
    return f"{RUN}/{kgrid_sweep(wildcards)}/fractions.parquet"


def kgrid_n(wildcards):
    return sweep_pool_size(wildcards.E)


def kgrid_sweep_ks(wildcards):
    return " ".join(str(k) for k in exp_cfg(kgrid_sweep(wildcards))["ks"])


def kgrid_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E)["kgrid"], sort_keys=True)


def kgrid_targets():
    return [
        f"{RUN}/{E}/kgrid.{ext}"
        for E in IMAGE_EXPS
        if E in SWEEPS
        for ext in ("parquet", "json")
    ]
