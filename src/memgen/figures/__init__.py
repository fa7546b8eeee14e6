"""Paper figures: one module per figure family, one API.

Every figure function takes tables (pandas DataFrames, or a small dataclass of them) and returns a
``matplotlib.figure.Figure``; it reads no files, saves nothing and selects no backend, so it works
the same in a notebook and in the pipeline. Saving is ``memgen.io.save_figure(fig, stem, dpi)``
(PNG + PDF, atomically); the figure commands (``memgen <stage>-figure``) read the tables, apply
the ``plots`` config section and save.

=================================  ======================================================  ================
Paper figure                       Module: function                                         Snakemake rule
=================================  ======================================================  ================
Fig 1B (examples per class)        ``figures/classify.py``: ``examples_figure``             classify_figure
Fig 2 (circle: samples, energies)  ``figures/circle.py``: ``circle_figure``                 circle_figure
Fig 3 (distance histograms)        ``figures/classify.py``: ``histograms_figure``           classify_figure
Fig 4A (class fractions vs K)      ``figures/classify.py``: ``fractions_figure``            classify_figure
Fig 4B, 16-17 (basin log-volume)   ``figures/basins.py``: ``log_volume_figure``             basins_figure
Figs 18-19 (critical time)         ``figures/basins.py``: ``critical_time_figure``          basins_figure
Fig 5A (score-Jacobian spectra)    ``figures/curvature.py``: ``curvature_figure``           curvature_figure
Fig 5B / 24 (Stable Diffusion)     ``figures/sd_curvature.py``: ``sd_curvature_figure``     sd_curvature_figure
Fig 6 / 26 (relative energy gap)   ``figures/energy.py``: ``energy_gap_figure``             energy_figure
Fig 25 (energy along the path)     ``figures/energy.py``: ``energy_path_figure``            energy_figure
Figs 27-30 (gap per reference)     ``figures/energy.py``: ``energy_refs_figure``            energy_figure
=================================  ======================================================  ================

The tables come from the stage of the same name (``memgen.classify``, ``memgen.circle``,
``memgen.basins``, ``memgen.curvature``, ``memgen.energy``, ``memgen.sd_curvature``); the per-class tables of all K of one
experiment are read with ``memgen.per_class.read_tables``.
"""
