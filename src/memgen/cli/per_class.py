"""Arguments shared by the per-class analysis commands (basins, curvature, energy): one (E, K),
its model, classes table, pool and samples, and the analysis section that picks the points."""

from __future__ import annotations

import argparse

from memgen.cli.common import add_experiment_k, add_section_argument


def add_per_class_inputs(p: argparse.ArgumentParser) -> None:
    """Inputs and identifiers of a per-class analysis of one (E, K): basins, curvature, energy."""
    p.add_argument("--model-dir", required=True, help="trained model directory (memgen train output)")
    p.add_argument("--classes", required=True, help="classes.parquet of this (E, K) (sample, d_train, d_synth, class)")
    p.add_argument("--pool", required=True, help="train_pool.npy of the experiment (rows [:K] = training subset)")
    p.add_argument("--samples", required=True, help="samples.npy of this (E, K) (N, H, W, C) in [-1, 1]")
    add_experiment_k(p)
    add_section_argument(p, "analysis", "analysis (points per class: n_train_points, max_per_class, "
                         "min_class_frac, ranking)", required=False)  # fmt: skip
