# Helper functions of snapshots.smk (kept apart: `snakemake --lint` wants rules and Python in separate
# files): the snapshot steps and K values of an experiment, the checks of its snapshots section, and
# the targets. Its job parameters and sizes are in params.smk and resources.smk.
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


def snapshot_step_files(E, keys):
    """Outputs ``keys`` of rule snapshot for every (K, step) of E, in (K, step) order."""
    patterns = [output_pattern("snapshot", key) for key in keys]
    return [
        path_of(pattern, E=E, k=k, s=s)
        for k in snapshot_ks(E)
        for s in snapshot_steps(E, k)
        for pattern in patterns
    ]


def snapshot_per_step(key):
    """Input function: output ``key`` of rule snapshot for every (K, step) of the job's experiment."""

    def files(wildcards):
        return snapshot_step_files(wildcards.E, [key])

    return files


def snapshot_targets():
    files = []
    for E in snapshot_experiments():
        files += snapshot_step_files(E, ["config", "weights", "classes", "agreement"])
        files += per_experiment(rules.snapshot_summary.output, [E])
    return files


def snapshot_figures():
    return per_experiment(rules.snapshot_figure.output, snapshot_experiments())


_check_snapshots()
