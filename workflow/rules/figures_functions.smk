# Helper functions of figures.smk (kept apart: `snakemake --lint` wants rules and Python in separate files).
def all_figure_files():
    files = []
    if "circle" in EXPERIMENTS:
        files += circle_figures()
    files += (
        analysis_figures() + basins_figures() + curvature_figures() + energy_figures()
    )
    return files


def all_targets():
    files = all_figure_files()
    if "circle" in EXPERIMENTS:
        files += circle_targets()
    files += split_targets() + train_targets() + sample_targets()
    files += (
        analysis_targets() + basins_targets() + curvature_targets() + energy_targets()
    )
    return files
