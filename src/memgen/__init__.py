"""memgen: memorization -> spurious states -> generalization in diffusion models."""

__version__ = "0.1.0"
