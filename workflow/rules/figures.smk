# Figure aggregation: every paper figure of the enabled experiments (SPEC §9). The figure rules live in the
# stage files (they read that stage's tables); this file collects them into one target, `all_figures`,
# so `snakemake all_figures` regenerates every figure from finished tables.


def all_figure_files():
    files = []
    if "circle" in EXPERIMENTS:
        files += circle_figures()
    files += analysis_figures() + basins_figures() + curvature_figures() + energy_figures()
    return files


def all_targets():
    files = all_figure_files()
    if "circle" in EXPERIMENTS:
        files += circle_targets()
    files += split_targets() + train_targets() + sample_targets()
    files += analysis_targets() + basins_targets() + curvature_targets() + energy_targets()
    return files


rule all_figures:
    input:
        all_figure_files(),
    localrule: True
