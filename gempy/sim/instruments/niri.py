"""NIRI: one 1024x1024 ALADDIN array (float32 raw), full frame or the central 256x256 sub-array.

``--small`` uses the real 256x256 central sub-array readout (LOWROW/HIROW/
LOWCOL/HICOL 384/639), which keeps the pixel scale and gives the
linearity coefficients of a 256-row read.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..detector import ArrayMaps, ArrayPhysics, ir_readout
from ..headers import Pointing, gemini_primary, wavefront_cards
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec
from ..observatory import GEMINI_NORTH
from .base import InstrumentModel

__all__ = ["NIRI"]

_FULL = 1024
_GAIN = 12.3
_READ_NOISE = {"Low Background": 12.3, "Medium Background": 35.0, "High Background": 70.0}
_READ_MODES = {(16, 16): "Low Background", (1, 16): "Medium Background",
               (1, 1): "High Background"}
_WELL = {"Shallow": 200000.0, "Deep": 280000.0}
# (read mode, rows read) -> (gamma, eta) of corrected = c (1 + c (gamma + c eta)), shallow well
_LINEARITY = {("Low Background", 1024): (6.006310407e-7, 1.282732019e-12),
              ("Medium Background", 1024): (2.787629143e-7, 3.178236042e-12),
              ("Medium Background", 256): (5.540988347e-7, 1.404726339e-12),
              ("High Background", 1024): (2.471574550e-7, 3.067478573e-12)}
_ZEROPOINTS = {"K(prime)": 26.40, "J": 26.69, "H": 26.77, "K": 26.15}
_WAVELENGTH = {"K(prime)": 21200.0, "J": 12500.0, "H": 16500.0, "K": 22000.0}


class NIRI(InstrumentModel):
    """NIRI f/6 imaging. ``spec.config``: ``lnrs``, ``ndavgs`` (read mode)."""

    name = "NIRI"
    family = "NIRI"
    site = GEMINI_NORTH
    pixel_scale = 0.1171
    psf_beta = 3.5
    iaa = 270.56
    inport = 3
    dtype = np.float32

    @property
    def arrays(self) -> list[ArrayPlacement]:
        c = (_FULL - 1) / 2.0
        return [ArrayPlacement("ALADDIN-2", (_FULL, _FULL), (c, c))]

    @property
    def rows_read(self) -> int:
        return 256 if self.small else _FULL

    def readouts(self, spec: FrameSpec) -> list[Readout]:
        lo = (_FULL - self.rows_read) // 2
        hi = lo + self.rows_read
        return [Readout(0, (lo, hi, lo, hi), name="ALADDIN-2")]

    def illumination(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        c = (_FULL - 1) / 2.0
        return self.vignetting(fx, fy, c, c, 0.72 * _FULL, 0.05)

    def read_mode(self, spec: FrameSpec) -> str:
        key = (int(spec.config.get("lnrs", 1)), int(spec.config.get("ndavgs", 16)))
        return _READ_MODES[key]

    def physics(self, index: int) -> ArrayPhysics:
        gamma, eta = _LINEARITY[("Medium Background", self.rows_read)]
        return ArrayPhysics(dark_current=0.25, well_depth=_WELL["Shallow"],
                            linearity=(1.0, gamma, eta), qe=1.0, response_rms=0.02,
                            large_scale_rms=0.025, hot_dark=(2.0e3, 3.0e4),
                            cosmic_rate=6.0e-7, cosmic_track=0.8, cosmic_energy=2000.0)

    def linearity_for(self, spec: FrameSpec) -> tuple[float, float, float]:
        gamma, eta = _LINEARITY[(self.read_mode(spec), self.rows_read)]
        return 1.0, gamma, eta

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        return _GAIN, _READ_NOISE[self.read_mode(spec)]

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        return float(int(_WELL["Shallow"] * spec.coadds / _GAIN))

    def zeropoint(self, band: str) -> float:
        return _ZEROPOINTS[band]

    def wavelength_angstrom(self, band: str) -> float:
        return _WAVELENGTH.get(band, 21200.0)

    def digitize(self, rng: np.random.Generator, readout: Readout, spec: FrameSpec,
                 electrons: np.ndarray, maps: ArrayMaps) -> tuple[np.ndarray, dict]:
        extra = {}
        if spec.anomaly == "first_frame":
            # the first frame after the array idles carries a decaying reset offset
            ny = electrons.shape[0]
            ramp = 1500.0 * (1.0 - np.arange(ny, dtype=np.float32) / ny)
            electrons = electrons + ramp[:, None]
            extra["first_frame_ramp_e"] = [1500.0, 0.0]
        gain, read_noise = self.electronics(readout, spec)
        adu = ir_readout(rng, electrons, spec.coadds, self.linearity_for(spec), gain,
                         read_noise, self.saturation_adu(readout, spec), True)
        return adu.astype(np.float32), extra

    def primary_header(self, spec: FrameSpec, pointing: Pointing) -> fits.Header:
        hdr = gemini_primary(spec, self.name, self.iaa, self.inport,
                             self.wavelength_angstrom(spec.filter_band), pointing,
                             readout_seconds=3.0)
        guider = "PWFS2_ST" if spec.pointing == "sidereal" else None
        cards = wavefront_cards(guider) + [
            ("CAMERA", "f6", "Camera"),
            ("BEAMSPLT", "f6", "Beam splitter"),
            ("FOCUSNAM", "f6", "Focus name"),
            ("FPMASK", "f6-cam_G5208", "Focal plane mask"),
            ("FILTER1", spec.filters[0], "Filter wheel 1"),
            ("FILTER2", spec.filters[1], "Filter wheel 2"),
            ("FILTER3", spec.filters[2], "Filter wheel 3 (pupil)"),
            ("EXPTIME", float(spec.exptime), "Exposure time (s) per coadd"),
            ("COADDS", spec.coadds, "Number of coadds (summed)"),
            ("LNRS", int(spec.config.get("lnrs", 1)), "Number of non-destructive reads"),
            ("NDAVGS", int(spec.config.get("ndavgs", 16)), "Number of digital averages"),
            ("A_VDDUC", -3.49, "Array VDDUC bias (V)"),
            ("A_VDET", -2.89, "Array VDET bias (V)"),
            ("MODE", "STARE", "Observing mode"),
            ("PVIEW", "OUT", "Pupil viewer"),
            ("CRFOLLOW", "no", "Cass rotator following"),
        ]
        return fits.Header(hdr + cards)

    def extension_header(self, index: int, readout: Readout, spec: FrameSpec,
                         wcs: list[tuple[str, object, str]]) -> fits.Header:
        x0, x1, y0, y1 = readout.window
        hdr = []
        # NIRI names array rows X: LOWROW/HIROW bound the x range (0-based, inclusive)
        cards = [("EXTVER", 1, "Extension version"),
                 ("LOWROW", x0, "Lowest row read"), ("HIROW", x1 - 1, "Highest row read"),
                 ("LOWCOL", y0, "Lowest column read"), ("HICOL", y1 - 1, "Highest column read")]
        cards += wcs
        return fits.Header(hdr + cards)
