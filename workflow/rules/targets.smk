# Default targets: every output of the run (rule all) and every figure (rule all_figures), listed
# from the rules' own output patterns. An experiment whose K grid awaits its sparse sweep
# (`ks: sweep`) contributes its kgrid.json instead; its per-K files are listed once the kgrid
# checkpoint has run (common.smk, known_grids_only).


def figure_targets():
    files = circle_figures() if "circle" in EXPERIMENTS else []
    files += per_experiment(rules.classify_figure.output, IMAGE_EXPS)
    files += per_experiment(rules.basins_figure.output, basins_experiments())
    files += per_experiment(rules.curvature_figure.output, curvature_experiments())
    files += per_experiment(rules.energy_figure.output, energy_experiments())
    files += snapshot_figures()
    return files


def analysis_targets():
    per_experiment_tables = [rules.thresholds.output[0], *rules.fractions.output]
    files = []
    for E in IMAGE_EXPS:
        files += per_experiment(per_experiment_tables, [E])
        files += per_k_paths(rules.classify.output[0], E)
    return files


def stage_targets():
    split = [rules.split.output.split, rules.split.output.pool]
    files = circle_targets() if "circle" in EXPERIMENTS else []
    files += per_experiment([*split, rules.split_check.output.check], IMAGE_EXPS)
    files += per_experiment_k(rules.train.output, train_experiments())
    files += per_experiment_k(rules.sample.output, IMAGE_EXPS)
    files += analysis_targets()
    files += per_experiment_k(rules.basins.output, basins_experiments())
    files += per_experiment_k(rules.curvature.output, curvature_experiments())
    files += per_experiment_k(rules.energy.output, energy_experiments())
    files += snapshot_targets()
    return files


def kgrid_targets():
    return per_experiment(rules.kgrid.output, [E for E in IMAGE_EXPS if E in SWEEPS])


def tables_targets():
    return list(rules.tables.output) if tables_experiments() else []


def all_figure_files(wildcards=None):
    """Every figure (rule all_figures)."""
    with known_grids_only() as pending:
        files = figure_targets()
    return files + pending + sd_curvature_targets()


def all_targets(wildcards=None):
    """Every output of the run (rule all, the default target)."""
    with known_grids_only() as pending:
        files = figure_targets() + stage_targets()
    return (
        files
        + pending
        + kgrid_targets()
        + tables_targets()
        + audit_targets()
        + sd_curvature_targets()
    )
