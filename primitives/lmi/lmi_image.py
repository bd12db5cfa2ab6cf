"""Class LMIImage: LMI imaging primitives ({LMI, IMAGE}): flats and science frames."""

from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.lmi.lmi import LMI


class LMIImage(LMI, Image, Photometry):
    """LMI imaging: dome and sky flats, source detection, registration, resampling, stacking.

    Flats are scaled to a common level before they are stacked: the sky of
    evening flats fades by tens of percent between exposures, and minmax
    rejection only removes the stars and cosmic rays of frames on one level.
    """

    tagset = frozenset({"LMI", "IMAGE"})
    param_defaults = {
        "stackFlats": {"scale": True},
    }
