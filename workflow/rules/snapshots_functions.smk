# Helper functions of snapshots.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
import math


def snapshot_cfg(E):
    return exp_cfg(E)["snapshots"]


def snapshots_enabled(E):
    cfg = exp_cfg(E).get("snapshots") or {}
    return bool(cfg.get("steps")) or cfg.get("count", 0) > 0


def snapshot_log_steps(first, last, count):
    """The same steps as memgen.snapshots.log_steps (the workflow does not import memgen)."""
    if count == 1 or first == last:
        return [int(last)]
    ratio = math.log(last / first) / (count - 1)
    steps = sorted({int(round(first * math.exp(i * ratio))) for i in range(count)})
    steps[-1] = int(last)
    return steps


def snapshot_ks(E):
    """The K values analysed over training time (snapshots.ks, else every K)."""
    ks = snapshot_cfg(E).get("ks")
    return list(ks) if ks else ks_of(E)


def snapshot_steps(E, k):
    """Snapshot steps of (E, K); the config was checked by _check_snapshots."""
    cfg = snapshot_cfg(E)
    iterations = train_section(E, k)["iterations"]
    if cfg.get("steps"):
        return list(cfg["steps"])
    if cfg["count"] == 0:
        return []
    return snapshot_log_steps(cfg["first"], iterations, cfg["count"])


def _snapshot_error(where, text):
    raise WorkflowError(
        f"Invalid configuration (nothing was run): config key '{where}' {text}"
    )


def _check_snapshots():
    """Refuse impossible snapshot settings before any job, naming the key."""
    for E in IMAGE_EXPS:
        if not snapshots_enabled(E):
            continue
        where = f"images.{E}.snapshots"
        cfg = snapshot_cfg(E)
        if E in SWEEPS:
            _snapshot_error(
                where,
                "is enabled, but the K grid of this experiment comes from its sweep (ks: sweep); "
                "enable snapshots on an experiment with an explicit ks list",
            )
        if exp_cfg(E)["model"].get("reuse"):
            _snapshot_error(
                where,
                "is enabled, but this experiment trains no models (model.reuse); enable it on "
                f"'{exp_cfg(E)['model']['reuse']}'",
            )
        ks = ks_of(E)
        for k in cfg.get("ks") or []:
            if k not in ks:
                _snapshot_error(
                    f"{where}.ks", f"lists K = {k}, which is not in images.{E}.ks {ks}"
                )
        steps = cfg.get("steps") or []
        if any(b <= a for a, b in zip(steps, steps[1:])):
            _snapshot_error(
                f"{where}.steps", f"must be strictly increasing, got {steps}"
            )
        for k in snapshot_ks(E):
            iterations = train_section(E, k)["iterations"]
            if steps and steps[-1] > iterations:
                _snapshot_error(
                    f"{where}.steps",
                    f"asks for step {steps[-1]}, beyond the training length of K = {k} "
                    f"({iterations} iterations); drop it or raise train.iterations",
                )
            if not steps and cfg["first"] > iterations:
                _snapshot_error(
                    f"{where}.first",
                    f"= {cfg['first']} is beyond the training length of K = {k} ({iterations})",
                )


def snapshot_experiments():
    return [E for E in IMAGE_EXPS if snapshots_enabled(E)]


# The keys of the snapshots section that each stage uses (and reruns for); the step list reaches
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
        cfg = dict(snapshot_cfg(wildcards.E))
        cfg["device"] = stage_device(wildcards.E, "snapshots")
        return json.dumps({k: cfg[k] for k in SNAPSHOT_KEYS[rule]}, sort_keys=True)

    return params


def snapshot_section_json(section):
    def params(wildcards):
        return json.dumps(exp_cfg(wildcards.E)[section], sort_keys=True)

    return params


def snapshot_gpus(wildcards):
    return gpus_for(wildcards.E, "snapshots")


def snapshot_runtime(wildcards, attempt):
    """Minutes: sampling the set and the agreement draws (~1/3 of a training step per image and
    sampler step), plus a replay from step 0 in the worst case (a step added after training).
    """
    sample = exp_cfg(wildcards.E)["sample"]
    cfg = snapshot_cfg(wildcards.E)
    n = min(sample_count(wildcards.E, wildcards.k), cfg.get("sample_max") or 10**12)
    n = max(n, cfg["sample_min"]) + cfg["agreement_samples"]
    batch = train_section(wildcards.E, wildcards.k)["batch_size"]
    sec = train_sec_per_step(wildcards.E)
    minutes = (n * sample["steps"] * sec / (3 * batch) + int(wildcards.s) * sec) / 60
    return int(min(2880, (minutes * 1.5 + 10) * attempt))


def snapshot_outputs(E, names):
    return [
        f"{RUN}/{E}/K{k}/snapshots/step{s}/{name}"
        for k in snapshot_ks(E)
        for s in snapshot_steps(E, k)
        for name in names
    ]


def snapshot_per_step(name):
    def files(wildcards):
        return snapshot_outputs(wildcards.E, [name])

    return files


def snapshot_summary_params(wildcards):
    cfg = exp_cfg(wildcards.E)["classify"]
    return json.dumps(
        {k: cfg[k] for k in ("n_bootstrap", "confidence", "seed")}, sort_keys=True
    )


def snapshot_plots_json(wildcards):
    return json.dumps(plot_params(), sort_keys=True)


SNAPSHOT_TABLES = ("fractions", "agreement", "tau", "fit")
SNAPSHOT_FIGURES = ("figT_phase", "figT_fractions_step", "figT_tau", "figT_agreement")


def snapshot_targets():
    files = []
    for E in snapshot_experiments():
        files += snapshot_outputs(
            E,
            [
                "model/config.json",
                "model/diffusion_pytorch_model.safetensors",
                "classes.parquet",
                "agreement.parquet",
            ],
        )
        files += [f"{RUN}/{E}/snapshots/{name}.parquet" for name in SNAPSHOT_TABLES]
    return files


def snapshot_figures():
    return [
        f"{RUN}/figures/{fig}_{E}.{ext}"
        for E in snapshot_experiments()
        for fig in SNAPSHOT_FIGURES
        for ext in ("png", "pdf")
    ]


_check_snapshots()
