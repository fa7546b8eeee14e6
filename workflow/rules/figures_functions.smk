# Helper functions of figures.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def all_figure_files(wildcards=None):
    """Every figure; an experiment whose K grid awaits its sweep contributes its kgrid.json instead
    (its figures are planned when the kgrid checkpoint has run)."""
    with known_grids_only() as pending:
        files = []
        if "circle" in EXPERIMENTS:
            files += circle_figures()
        files += (
            analysis_figures()
            + basins_figures()
            + curvature_figures()
            + energy_figures()
        )
    return files + pending + sd_curvature_targets()


def all_targets(wildcards=None):
    """Every output of the run (the default target); see all_figure_files for swept K grids."""
    with known_grids_only() as pending:
        files = all_figure_files()
        if "circle" in EXPERIMENTS:
            files += circle_targets()
        files += split_targets() + train_targets() + sample_targets()
        files += (
            analysis_targets()
            + basins_targets()
            + curvature_targets()
            + energy_targets()
        )
    return (
        files
        + pending
        + kgrid_targets()
        + tables_targets()
        + audit_targets()
        + sd_curvature_targets()
    )
