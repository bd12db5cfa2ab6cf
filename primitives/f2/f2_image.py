"""Class F2Image: Flamingos-2 imaging primitives ({GEMINI, F2, IMAGE})."""

import numpy as np

from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.errors import PrimitiveError
from primitives.f2.f2 import F2
from primitives.params import primitive


class F2Image(F2, Image, Photometry):
    """Flamingos-2 imaging (science frames, lamp and sky flats)."""

    tagset = frozenset({"GEMINI", "F2", "IMAGE"})
    param_defaults = {
        "addDQ": {"add_illum_mask": True},
    }

    @primitive(inherit="makeLampFlat")
    def makeLampFlat(self, adinputs=None, **params):
        """Lamp flat; in the K band, stacked flats minus stacked darks (``_lampstack``).

        At K the lamp-off flats carry the thermal emission of the GCAL
        shutter, so the flat is the stack of the (lamp-off) flats minus a
        stack of darks of the same exposure time given with them, or minus
        the processed dark from the calibration service (``darkCorrect``).
        Other bands use the lamp-on minus lamp-off flat of NearIR.
        """
        if not adinputs or adinputs[0].wavelength_band() != "K":
            return super().makeLampFlat(adinputs, **params)
        suffix = params["suffix"]
        stack_params = {k: v for k, v in params.items() if k != "suffix"}
        flats = [ad for ad in adinputs if "FLAT" in ad.tags]
        darks = [ad for ad in adinputs if "DARK" in ad.tags]
        if not flats:
            raise PrimitiveError("makeLampFlat: no flat among the inputs")
        self.log.stdinfo(f"K band: {len(flats)} flat(s) minus "
                         + (f"{len(darks)} dark(s)" if darks else "the processed dark"))
        flat = self.stackFrames(flats, **stack_params, scale=False, zero=False,
                                separate_ext=True)[0]
        if flat is flats[0]:
            flat = self._independent(flat)
        if darks:
            dark = self.stackDarks(darks, **stack_params)[0]
            t_flat, t_dark = flats[0].exposure_time(), darks[0].exposure_time()
            if t_flat is not None and t_dark is not None and abs(t_flat - t_dark) > 0.01:
                raise PrimitiveError(f"makeLampFlat: the K-band flats ({t_flat} s) and the "
                                     f"darks ({t_dark} s) have different exposure times")
            flat.subtract(dark)
            for ext in flat:
                if ext.data.dtype != np.float32:
                    ext.nddata.data = ext.data.astype(np.float32)
        else:
            flat = self.darkCorrect([flat])[0]
        flat.update_filename(suffix=suffix, strip=True)
        self.mark(flat)
        return [flat]
