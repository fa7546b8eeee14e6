# Helper functions of thresholds.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
import json


def thresholds_cfg(E):
    return exp_cfg(E)["thresholds"]


def thresholds_train_nn(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/nn_train.parquet" for k in ks_of(wildcards.E)]


def thresholds_synth_nn(wildcards):
    return [f"{RUN}/{wildcards.E}/K{k}/nn_synth.parquet" for k in ks_of(wildcards.E)]


def thresholds_delta(wildcards, key):
    value = thresholds_cfg(wildcards.E)[key]
    return json.dumps(value) if isinstance(value, list) else str(value)


def thresholds_delta_m(wildcards):
    return thresholds_delta(wildcards, "delta_m")


def thresholds_delta_s(wildcards):
    return thresholds_delta(wildcards, "delta_s")


def thresholds_ks(wildcards):
    return " ".join(str(k) for k in ks_of(wildcards.E))


def thresholds_method(wildcards):
    cfg = thresholds_cfg(wildcards.E)
    return {k: cfg[k] for k in ("floor", "bins", "smoothing", "impl_version")}
