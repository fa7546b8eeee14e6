# Helper functions of tables.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).


def tables_experiments():
    """Image experiments of the tables: every experiment but the sparse sweeps (their results are in
    the kgrid table of the experiment they serve)."""
    sweeps = set(SWEEPS.values())
    return [E for E in IMAGE_EXPS if E not in sweeps]


def tables_model_source(E):
    """(experiment, K) of the saved model Table 3 describes: E's largest K. A grid from a sweep ends
    at N, whose model is the sweep's (copied, identical): known before the dense grid is.
    """
    # model.reuse: the experiment whose models E uses
    M = SWEEPS.get(E) or sample_model_exp(E)
    return M, max(exp_cfg(M)["ks"])


def tables_entry(E):
    M, k = tables_model_source(E)
    entry = {
        "experiment": E,
        # a swept experiment's data and pool are its sweep's (same data set, same split)
        "split": f"{RUN}/{SWEEPS.get(E, E)}/split.parquet",
        "thresholds": f"{RUN}/{E}/thresholds.parquet",
        "model_dir": f"{RUN}/{M}/K{k}/model",
        "model_config": f"{RUN}/{M}/K{k}/model/config.json",
        "critical_k": list(exp_cfg(E).get("critical_k", [])),
    }
    if E in SWEEPS:
        entry["kgrid"] = f"{RUN}/{E}/kgrid.parquet"
    else:
        entry["ks"] = list(exp_cfg(E)["ks"])
    return entry


def tables_inputs(wildcards):
    files = {}
    for E in tables_experiments():
        entry = tables_entry(E)
        for key in ("split", "thresholds", "model_config", "kgrid"):
            if key in entry:
                files[f"{E}_{key}"] = entry[key]
    return files


def tables_spec(wildcards):
    return json.dumps([tables_entry(E) for E in tables_experiments()])


def tables_dir(wildcards, output):
    """Folder of the tables, derived from the outputs (no hard-coded prefix)."""
    return os.path.dirname(output[0])


def tables_targets():
    if not tables_experiments():
        return []
    return [
        f"{RUN}/tables/{name}.{ext}"
        for name in ("table1_kgrid", "table2_thresholds", "table3_models")
        for ext in ("csv", "md")
    ]
