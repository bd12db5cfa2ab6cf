"""LMI primitive classes (entry point ``lmi``): LMI and LMIImage, built from the core mix-ins.

A plug-in instrument: the recipe system reaches this module only through the
``astroreduce.primitives`` entry point. LMI's calibration association rules
(:mod:`primitives.lmi.calibration_rules`) are data the calibration service
reads through the ``astroreduce.calibration_rules`` entry point.
"""

from primitives.lmi.lmi import LMI
from primitives.lmi.lmi_image import LMIImage

__all__ = ["LMI", "LMIImage"]
