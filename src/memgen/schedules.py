"""The DDPM schedule of the image models; it is the discrete VP process of :mod:`memgen.noise`.

Kept as an import location for the analyses that name it ``memgen.schedules.DDPMSchedule``.
"""

from memgen.noise import DDPMSchedule

__all__ = ["DDPMSchedule"]
