"""2-D circle experiment (paper Fig 2): data, score network, training, sampling, exact model,
clustering, energies and the figure. Each module has one job; the CLI (memgen.cli.circle) wires
them to files."""
