"""GSAOI: four 2048x2048 HAWAII-2RG arrays behind GeMS, float32 raw data, optional ROI readout.

Raw pixels are stored as float32 (BITPIX -32): GSAOI averages its Fowler
samples, so raw values are not integers. A frame whose ``config['roi']`` is
``'central'`` reads the central 3/4 of every array (1536x1536, CCDSEC
``[257:1792,257:1792]``; ``[33:224,33:224]`` under --small), the layout
used for the tutorial's standard star.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..detector import ArrayPhysics
from ..headers import Pointing, gemini_primary, wavefront_cards
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec
from ..observatory import GEMINI_SOUTH
from .base import InstrumentModel

__all__ = ["GSAOI"]

_FULL = 2048
# EXTVER order: ARRAYID, DETSEC origin, centre shift from array 064 (unbinned px), rotation (deg)
_ARRAYS = (
    ("H2RG-032-074", (2048, 0), (2198.604, -1.249), 0.0336),
    ("H2RG-032-064", (0, 0), (0.0, 0.0), 0.0),
    ("H2RG-032-071", (0, 2048), (0.030, 2177.102), -0.583),
    ("H2RG-032-061", (2048, 2048), (2192.421, 2175.723), -0.770),
)
_READ_SPEED = {2: "Bright Objects", 8: "Faint Objects", 16: "Very Faint Objects"}
# per array: read noise (Bright, Faint, Very Faint), gain, well (ADU), linearity coefficients
_ELECTRONICS = {
    "H2RG-032-074": ((26.53, 13.63, 10.22), 2.434, 52400.0,
                     (0.9947237, 3.0403620e-7, 4.2870263e-12)),
    "H2RG-032-064": ((19.10, 9.85, 7.44), 2.010, 50250.0,
                     (0.9944842, 3.3573418e-7, 9.1085864e-12)),
    "H2RG-032-071": ((27.24, 14.22, 10.61), 2.411, 53700.0,
                     (0.9947278, 2.9311700e-7, 3.7454887e-12)),
    "H2RG-032-061": ((32.26, 16.78, 12.79), 2.644, 52300.0,
                     (0.9958842, 2.1448022e-7, 3.8885419e-12)),
}
# Kshort zeropoints per array: their spread is the arrays' relative QE
_ZP_KSHORT = {"H2RG-032-074": 26.201, "H2RG-032-064": 26.287, "H2RG-032-071": 26.154,
              "H2RG-032-061": 26.192}
_ZEROPOINTS = {"Kshort": float(np.mean(list(_ZP_KSHORT.values()))), "J": 26.81, "H": 26.84,
               "Kprime": 26.43}
_WAVELENGTH = {"Kshort": 21500.0, "J": 12500.0, "H": 16500.0, "Kprime": 21200.0}
_UNILLUMINATED_EDGE = 4


class GSAOI(InstrumentModel):
    """GSAOI imaging with GeMS. ``spec.config``: ``lnrs`` (2, 8, 16) and ``roi``."""

    name = "GSAOI"
    family = "GSAOI"
    site = GEMINI_SOUTH
    pixel_scale = 0.0196558
    psf_beta = 2.5
    iaa = 0.959
    inport = 3
    summed_coadds = False
    dtype = np.float32

    @property
    def size(self) -> int:
        return self.scaled(_FULL)

    @property
    def arrays(self) -> list[ArrayPlacement]:
        n = self.size
        c = (n - 1) / 2.0
        out = []
        for name, (ox, oy), (sx, sy), rot in _ARRAYS:
            # keep the measured gap/shift residuals in pixels when the arrays shrink
            shift_x = sx - ox + ox * n / _FULL
            shift_y = sy - oy + oy * n / _FULL
            out.append(ArrayPlacement(name, (n, n), (c + shift_x, c + shift_y), rot,
                                      (ox * n // _FULL, oy * n // _FULL)))
        return out

    def readouts(self, spec: FrameSpec) -> list[Readout]:
        n = self.size
        lo, hi = (n // 8, n - n // 8) if spec.config.get("roi") == "central" else (0, n)
        return [Readout(i, (lo, hi, lo, hi), name=a.name) for i, a in enumerate(self.arrays)]

    def illumination(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        cx, cy = self.focal_crpix0()
        return self.vignetting(fx, fy, cx, cy, 1.5 * self.size, 0.03)

    def array_illumination(self, index: int, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        n, e = self.size, _UNILLUMINATED_EDGE
        lit = (ix >= e) & (ix < n - e) & (iy >= e) & (iy < n - e)
        return lit.astype(np.float32)

    def physics(self, index: int) -> ArrayPhysics:
        name = self.arrays[index].name
        _, gain, well, coeffs = _ELECTRONICS[name]
        qe = 10.0 ** (0.4 * (_ZP_KSHORT[name] - _ZEROPOINTS["Kshort"]))
        return ArrayPhysics(dark_current=0.01, well_depth=well * gain, linearity=coeffs, qe=qe,
                            response_rms=0.025, large_scale_rms=0.03,
                            hot_dark=(3.0e2, 1.0e4), cosmic_rate=6.0e-7, cosmic_track=0.8,
                            cosmic_energy=1500.0)

    @staticmethod
    def lnrs(spec: FrameSpec) -> int:
        return int(spec.config.get("lnrs", 8))

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        noise, gain, _, _ = _ELECTRONICS[self.arrays[readout.array].name]
        speed = {2: 0, 8: 1, 16: 2}[self.lnrs(spec)]
        return gain, noise[speed]

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        return _ELECTRONICS[self.arrays[readout.array].name][2]

    def zeropoint(self, band: str) -> float:
        return _ZEROPOINTS[band]

    def wavelength_angstrom(self, band: str) -> float:
        return _WAVELENGTH.get(band, 21500.0)

    def primary_header(self, spec: FrameSpec, pointing: Pointing) -> fits.Header:
        lnrs = self.lnrs(spec)
        hdr = gemini_primary(spec, self.name, self.iaa, self.inport,
                             self.wavelength_angstrom(spec.filter_band), pointing,
                             readout_seconds=5.0 + 1.5 * lnrs)
        guider = "AOWFS_ST" if spec.pointing == "sidereal" else None
        cards = wavefront_cards(guider, ao=True) + [
            ("GWFS1CFG", "LGS", "GeMS wavefront sensor configuration"),
            ("DETECTOR", "GSAOI", "Detector name"),
            ("READMODE", "FOWLER", "Read mode"),
            ("LNRS", lnrs, "Number of Fowler samples"),
            ("COADDS", spec.coadds, "Number of coadds (averaged)"),
            ("EXPTIME", float(spec.exptime), "Exposure time (s)"),
            ("FILTER1", spec.filters[0], "Filter wheel 1"),
            ("FILTER2", spec.filters[1], "Filter wheel 2"),
            ("UTLWHEEL", "Open", "Utility wheel"),
            ("PIXSCALE", self.pixel_scale, "Pixel scale (arcsec/pixel)"),
            ("BUNIT", "adu", "Units of the raw data"),
            ("NSCIEXT", 4, "Number of science extensions"),
        ]
        return fits.Header(hdr + cards)

    def extension_header(self, index: int, readout: Readout, spec: FrameSpec,
                         wcs: list[tuple[str, object, str]]) -> fits.Header:
        placement = self.arrays[readout.array]
        hdr = []
        cards = [("EXTNAME", "SCI", "Extension name"), ("EXTVER", index + 1, "Extension version"),
                 ("ARRAYID", placement.name, "Array identifier"),
                 ("CCDSIZE", f"[1:{self.size},1:{self.size}]", "Array size"),
                 ("CCDSUM", "1 1", "Binning"),
                 ("CCDSEC", readout.ccdsec(), "Region of the array read"),
                 ("DETSEC", readout.detsec(placement), "Region of the mosaic"),
                 ("DATASEC", readout.datasec(), "Data section"),
                 ("DATATYP", "Intensity", "Data type"),
                 ("FRAMEID", str(index + 1), "Frame ID")]
        cards += wcs
        return fits.Header(hdr + cards)
