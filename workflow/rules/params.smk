# Config -> job parameters: each function turns an experiment's config section into the `params:`
# value of one rule (config reaches commands only through params, so a changed value reruns exactly
# the rules that read it). Grouped by stage, in pipeline order.


# --- split


def split_max_k(wildcards):
    if wildcards.E in SWEEPS:  # a grid from a sweep always ends at N
        return sweep_pool_size(wildcards.E)
    return max(ks_of(wildcards.E))


def split_impl_version(wildcards):
    # Bump when the split's numbers change (readers, normalisation, crop, permutation).
    return exp_cfg(wildcards.E).get("split_impl_version", 1)


# --- train

# Keys of the train section that may be given per K (a list aligned with ks).
TRAIN_PER_K = PER_K_KEYS["train"]


def train_experiments():
    """Image experiments that train their own models (not `model.reuse` of another one)."""
    return [E for E in IMAGE_EXPS if not exp_cfg(E)["model"].get("reuse")]


def train_model_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E)["model"], sort_keys=True)


def train_section(E, k):
    """The train section of E with per-K values resolved and the device made explicit."""
    cfg = dict(exp_cfg(E)["train"])
    for key in TRAIN_PER_K:
        if key in cfg:
            cfg[key] = per_k(cfg[key], E, k, f"images.{E}.train.{key}")
    cfg["device"] = stage_device(E, "train")
    return cfg


def train_train_json(wildcards):
    return json.dumps(train_section(wildcards.E, wildcards.k), sort_keys=True)


def train_reused_from(E, k):
    """The sweep experiment whose model of this K E copies (same settings, same K), or None."""
    sweep = SWEEPS.get(E)
    return sweep if sweep and int(k) in exp_cfg(sweep)["ks"] else None


def train_reuse_params(wildcards):
    sweep = train_reused_from(wildcards.E, wildcards.k)
    if sweep is None:
        return {"model": "", "log": ""}
    model = path_of(output_pattern("train", "config"), E=sweep, k=wildcards.k)
    return {
        "model": os.path.dirname(model),
        "log": path_of(output_pattern("train", "log"), E=sweep, k=wildcards.k),
    }


def train_snapshot_steps(wildcards, input):
    """The train rule's --snapshot-steps: a JSON list, or "" (none).

    Computed from the job's input on purpose: Snakemake's params trigger does not cover such
    parameters, so adding or removing a snapshot step never reruns training (a run that is still
    going takes the new list when it starts or resumes; a step it has passed is replayed by the
    snapshot job alone).
    """
    E, k = wildcards.E, int(wildcards.k)
    if not snapshots_enabled(E) or k not in snapshot_ks(E):
        return ""
    return json.dumps(snapshot_steps(E, k))


def train_reuse_inputs(wildcards):
    sweep = train_reused_from(wildcards.E, wildcards.k)
    if sweep is None:
        return []
    names = ("config", "weights", "log")
    return [path_of(output_pattern("train", n), E=sweep, k=wildcards.k) for n in names]


# --- sample


def sample_section(E):
    cfg = dict(exp_cfg(E)["sample"])
    cfg["device"] = stage_device(E, "sample")
    return cfg


def sample_json(wildcards):
    return json.dumps(sample_section(wildcards.E), sort_keys=True)


def sample_count(E, k):
    cfg = sample_section(E)
    n = max(int(round(cfg["ratio"] * int(k))), cfg["min"])
    return min(n, cfg["max"]) if cfg["max"] is not None else n


# --- neighbors


def neighbors_k_train(wildcards):
    """k, at most K: at K = 2 (paper grid) there are only 2 training images to rank."""
    return min(exp_cfg(wildcards.E)["neighbors"]["k"], int(wildcards.k))


def neighbors_k_synth(wildcards):
    """k, at most |S| - 1 (the sample itself is excluded)."""
    k = exp_cfg(wildcards.E)["neighbors"]["k"]
    return max(1, min(k, sample_count(wildcards.E, wildcards.k) - 1))


def neighbors_json(wildcards):
    """The neighbors section of the search (device resolved)."""
    E = wildcards.E
    return section_json(E, "neighbors", device=stage_device(E, "neighbors"))


# --- thresholds


def thresholds_cfg(E):
    return exp_cfg(E)["thresholds"]


def thresholds_ks(wildcards):
    return " ".join(str(k) for k in ks_of(wildcards.E))


# Keys of the thresholds section that choose the thresholds; the sweep/band/sensitivity factors
# only rescale them downstream (rules fractions and classify_figure), so they are not params here.
THRESHOLDS_KEYS = ("delta_m", "delta_s", "method", "null_alpha", "null_duplicates",
                   "delta_s_null", "floor", "bins", "smoothing", "impl_version")  # fmt: skip


def thresholds_json(wildcards):
    return section_json(wildcards.E, "thresholds", THRESHOLDS_KEYS)


def pool_null_json(wildcards):
    """The neighbors section of the pool null: the same search, without the per-sample k."""
    E = wildcards.E
    keys = ("metric", "batch_size", "impl_version")
    return section_json(E, "neighbors", keys, device=stage_device(E, "neighbors"))


def null_source(E):
    """Experiment whose pool null E uses: the one whose models E reuses (model.reuse, e.g. the 8 x K
    synthetic-set study) when both read the same pool with the same metric, else E itself.
    """
    if E in SWEEPS:
        # Same data set, split seed and metric as its sweep, and both grids end at N: the same pool.
        return SWEEPS[E]
    src = model_exp(E)
    if src == E:
        return E
    same = ("dataset", "path", "split_seed", "ks")
    mine, theirs = exp_cfg(E), exp_cfg(src)
    if all(mine.get(k) == theirs.get(k) for k in same) and (
        mine["neighbors"]["metric"] == theirs["neighbors"]["metric"]
    ):
        return src
    return E


def get_pool_null(wildcards):
    return path_of(output_pattern("pool_null"), E=null_source(wildcards.E))


# --- classify


def classify_cfg(E):
    return exp_cfg(E)["classify"]


def classify_json(wildcards):
    return section_json(wildcards.E, "classify", ("generalized_order", "impl_version"))


def fractions_classify_json(wildcards):
    keys = ("n_bootstrap", "confidence", "seed", "hist_bins", "impl_version")
    return section_json(wildcards.E, "classify", keys)


def fractions_thresholds_json(wildcards):
    return section_json(wildcards.E, "thresholds", ("floor", "sensitivity", "sweep"))


def classify_figure_params(wildcards):
    E = wildcards.E
    return {
        "critical_k": " ".join(str(k) for k in critical_ks_of(E)),
        "classify": section_json(E, "classify", ("examples_per_class",)),
        "thresholds": section_json(E, "thresholds", ("band",)),
    }


def output_dir(wildcards, output):
    """Folder of a rule's outputs (figures, tables), derived from them (no second path)."""
    return os.path.dirname(output[0])


def output_stem(rule, index=0):
    """Params function: output `index` of `rule` without its extension, where a figure command
    writes <stem>.png and <stem>.pdf. It reads the wildcards only, so Snakemake records it like
    any other param."""

    def stem(wildcards):
        return os.path.splitext(
            path_of(output_pattern(rule, index), **dict(wildcards.items()))
        )[0]

    return stem


# --- kgrid


def kgrid_sweep(wildcards):
    E = wildcards.E
    if E not in SWEEPS:
        raise WorkflowError(
            f"experiment {E} has an explicit K grid (ks in the config); only experiments with "
            "`ks: sweep` have a kgrid step"
        )
    return SWEEPS[E]


def kgrid_sweep_fractions(wildcards):
    return path_of(output_pattern("fractions", "fractions"), E=kgrid_sweep(wildcards))


def kgrid_n(wildcards):
    return sweep_pool_size(wildcards.E)


def kgrid_sweep_ks(wildcards):
    return " ".join(str(k) for k in exp_cfg(kgrid_sweep(wildcards))["ks"])


def kgrid_json(wildcards):
    return json.dumps(exp_cfg(wildcards.E)["kgrid"], sort_keys=True)


# --- basins


def basins_experiments():
    return [E for E in IMAGE_EXPS if exp_cfg(E)["basins"].get("enabled", True)]


def basins_section(E, k):
    """The basins section with per-K delta resolved and the device made explicit."""
    cfg = dict(exp_cfg(E)["basins"])
    cfg["delta"] = per_k(cfg["delta"], E, k, f"images.{E}.basins.delta")
    cfg["device"] = stage_device(E, "basins")
    return cfg


def basins_json(wildcards):
    return json.dumps(basins_section(wildcards.E, wildcards.k), sort_keys=True)


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


def energy_experiments():
    return [E for E in IMAGE_EXPS if exp_cfg(E).get("energy", {}).get("enabled", True)]


def energy_json(wildcards):
    """The energy section with the device made explicit (so a config change reruns this rule)."""
    cfg = dict(exp_cfg(wildcards.E).get("energy", {}))
    cfg["device"] = stage_device(wildcards.E, "energy")
    return json.dumps(cfg, sort_keys=True)


def tables_experiments():
    """Image experiments of the tables: every experiment but the sparse sweeps (their results are in
    the kgrid table of the experiment they serve)."""
    sweeps = set(SWEEPS.values())
    return [E for E in IMAGE_EXPS if E not in sweeps]


def tables_model_source(E):
    """(experiment, K) of the saved model Table 3 describes: E's largest K. A grid from a sweep ends
    at N, whose model is the sweep's (copied, identical): known before the dense grid is.
    """
    M = SWEEPS.get(E) or model_exp(E)
    return M, max(exp_cfg(M)["ks"])


def tables_entry(E):
    M, k = tables_model_source(E)
    model_config = path_of(rules.train.output.config, E=M, k=k)
    entry = {
        "experiment": E,
        # a swept experiment's data and pool are its sweep's (same data set, same split)
        "split": path_of(rules.split.output.split, E=SWEEPS.get(E, E)),
        "thresholds": path_of(rules.thresholds.output[0], E=E),
        "model_dir": os.path.dirname(model_config),
        "model_config": model_config,
        "critical_k": list(exp_cfg(E).get("critical_k", [])),
    }
    if E in SWEEPS:
        entry["kgrid"] = path_of(rules.kgrid.output.table, E=E)
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


def curvature_figure_json(wildcards):
    """The figure keys of the curvature section (drop_top, figure_ks): changing the spectra's keys
    reruns the spectra, and these only the figure."""
    cfg = exp_cfg(wildcards.E).get("curvature", {})
    keys = ("drop_top", "figure_ks")
    return json.dumps({key: cfg[key] for key in keys if key in cfg}, sort_keys=True)


def energy_figure_json(wildcards):
    """The figure key of the energy section (plot_abs)."""
    cfg = exp_cfg(wildcards.E).get("energy", {})
    return json.dumps(
        {key: cfg[key] for key in ("plot_abs",) if key in cfg}, sort_keys=True
    )


# --- snapshots

# The keys of the snapshots section that each rule uses (and reruns for); the step list reaches
# only the training job (not a trigger there) and the targets: an added step leaves the other jobs alone.
SNAPSHOT_KEYS = {
    "exact": ("agreement_samples", "device", "impl_version"),
    "snapshot": (
        "sample_max",
        "sample_min",
        "agreement_samples",
        "device",
        "impl_version",
    ),
    "summary": ("level", "impl_version"),
}


def snapshot_json(rule):
    """Params function: the keys of the snapshots section that ``rule`` uses, device explicit."""

    def params(wildcards):
        E = wildcards.E
        cfg = dict(snapshot_cfg(E), device=stage_device(E, "snapshots"))
        return json.dumps({k: cfg[k] for k in SNAPSHOT_KEYS[rule]}, sort_keys=True)

    return params


def snapshot_section_json(section):
    """Params function: a section (sample, neighbors) as the config gives it; the snapshot
    commands run it on the device of the snapshots section."""

    def params(wildcards):
        return section_json(wildcards.E, section)

    return params


def snapshot_model_dir(wildcards):
    """The published snapshot's model folder, the folder of rule snapshot's config.json."""
    config = path_of(output_pattern("snapshot", "config"), **dict(wildcards.items()))
    return os.path.dirname(config)


def snapshot_classify_json(wildcards):
    """The classify keys of the bootstrap intervals of the fractions over steps."""
    keys = ("n_bootstrap", "confidence", "seed")
    return section_json(wildcards.E, "classify", keys)
