"""The ``plots`` config section: how every figure looks (style, resolution, K axis).

Figure commands receive it as ``--plots-config`` (``memgen.cli.common.add_plots_argument``) and
apply it once before drawing (``use_plots``); :func:`memgen.io.save_figure` then writes at the
configured resolution. Importing this module costs nothing: matplotlib is loaded only when a style
other than the default is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from memgen.sections import Section, section


@section("plots")
@dataclass(frozen=True)
class PlotsConfig(Section):
    """Figure style options; changing them reruns only figure rules."""

    dpi: int = 150  # resolution of the PNG figures
    k_log: bool = True  # log-scale K axes (K spans 2 to 1.3e5)
    style: str = "default"  # matplotlib style name

    def __post_init__(self):
        if not isinstance(self.dpi, int) or isinstance(self.dpi, bool) or self.dpi < 50:
            raise ValueError(f"plots.dpi must be a whole number >= 50, got {self.dpi!r}")
        if not isinstance(self.k_log, bool):
            raise ValueError(f"plots.k_log must be true or false, got {self.k_log!r}")
        if not isinstance(self.style, str) or not self.style:
            raise ValueError(f"plots.style must be a matplotlib style name, got {self.style!r}")


# The section in force for this process's figures (a command applies its --plots-config once).
_ACTIVE = [PlotsConfig()]


def active_plots() -> PlotsConfig:
    """The plots section the current command applied (the defaults when none was)."""
    return _ACTIVE[0]


def use_plots(cfg: PlotsConfig) -> PlotsConfig:
    """Apply a plots section: the matplotlib style now, the dpi for every later ``save_figure``."""
    use_style(cfg.style)
    _ACTIVE[0] = cfg
    return cfg


def use_style(style: str | None) -> None:
    """Apply the matplotlib style of config ``plots.style``; a name matplotlib does not know is a
    one-line error naming the key (never a traceback)."""
    if not style or style == "default":
        return
    import matplotlib.pyplot as plt

    try:
        plt.style.use(style)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"plots.style {style!r} is not a matplotlib style (use one of "
            f"{', '.join(sorted(plt.style.available)[:8])}, ... or 'default'): {err}"
        ) from err
