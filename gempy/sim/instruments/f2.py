"""Flamingos-2: one 2048x2048 HAWAII-2 array, raw data 3-D int32 (1, N, N) without EXTNAME."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..detector import ArrayPhysics
from ..headers import Pointing, gemini_primary, wavefront_cards
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec
from ..observatory import GEMINI_SOUTH, mjd
from .base import InstrumentModel

__all__ = ["F2"]

_FULL = 2048
# read noise (e-) per number of non-destructive read pairs (LNRS)
_READ_NOISE = {1: 11.7, 4: 6.0, 6: 5.3, 8: 5.0}
_READMODE = {1: "Bright", 4: "Medium", 6: "Medium", 8: "Faint"}
_GAIN_TABLE = 4.44
_WELL = 155400.0
_LINEARITY = (0.9999107, -4.2854848e-8, 1.0096585e-12)
_ZEROPOINTS = {"Y": 26.73, "J": 26.51, "H": 26.75, "Ks": 26.12}
_WAVELENGTH = {"Y": 10200.0, "J": 12500.0, "H": 16310.0, "Ks": 21570.0, "dark": 12500.0}
# circular field stop measured on the DRAGONS illumination mask (0-based, full frame)
_APERTURE = (1049.9, 1055.0, 1054.4)


class F2(InstrumentModel):
    """Flamingos-2 imaging (f/16).

    ``spec.config['lnrs']`` sets the read mode (1, 4, 6 or 8 read pairs);
    the gain is 4.44/LNRS e-/ADU because F2 sums its reads in ADU.
    """

    name = "F2"
    family = "F2"
    site = GEMINI_SOUTH
    pixel_scale = 0.17974
    psf_beta = 3.5
    iaa = 0.117
    inport = 5
    dtype = np.int32

    @property
    def size(self) -> int:
        return self.scaled(_FULL)

    @property
    def arrays(self) -> list[ArrayPlacement]:
        c = (self.size - 1) / 2.0
        return [ArrayPlacement("HAWAII-2 109", (self.size, self.size), (c, c))]

    def readouts(self, spec: FrameSpec) -> list[Readout]:
        return [Readout(0, (0, self.size, 0, self.size), name="HAWAII-2 109")]

    def illumination(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        s = self.size / _FULL
        cx, cy, r = ((_APERTURE[0] + 0.5) * s - 0.5, (_APERTURE[1] + 0.5) * s - 0.5,
                     _APERTURE[2] * s)
        return self.circle(fx, fy, cx, cy, r, edge=2.0 * max(s, 0.5)) * self.vignetting(
            fx, fy, cx, cy, r, 0.06)

    def aperture(self) -> tuple[float, float, float]:
        """Centre (x, y) and radius of the illuminated disk on this (possibly small) array."""
        s = self.size / _FULL
        return (_APERTURE[0] + 0.5) * s - 0.5, (_APERTURE[1] + 0.5) * s - 0.5, _APERTURE[2] * s

    def physics(self, index: int) -> ArrayPhysics:
        return ArrayPhysics(dark_current=0.3, well_depth=_WELL, linearity=_LINEARITY,
                            qe=1.0, response_rms=0.02, large_scale_rms=0.02,
                            hot_dark=(2.0e3, 3.0e4), cosmic_rate=6.0e-7, cosmic_track=0.8,
                            cosmic_energy=2000.0)

    @staticmethod
    def lnrs(spec: FrameSpec) -> int:
        return int(spec.config.get("lnrs", 1))

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        lnrs = self.lnrs(spec)
        return _GAIN_TABLE / lnrs, _READ_NOISE[lnrs]

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        return float(int(_WELL / (_GAIN_TABLE / self.lnrs(spec))))

    def zeropoint(self, band: str) -> float:
        return _ZEROPOINTS[band]

    def wavelength_angstrom(self, band: str) -> float:
        return _WAVELENGTH.get(band, 12500.0)

    def pack(self, adu: np.ndarray) -> np.ndarray:
        return np.rint(adu).astype(np.int32)[np.newaxis]

    def primary_header(self, spec: FrameSpec, pointing: Pointing) -> fits.Header:
        hdr = gemini_primary(spec, self.name, self.iaa, self.inport,
                             self.wavelength_angstrom(spec.filter_band), pointing,
                             readout_seconds=2.0 + 1.5 * self.lnrs(spec))
        lnrs = self.lnrs(spec)
        filter1, filter2 = spec.filters
        dark = spec.obstype == "DARK"
        guider = "PWFS2_ST" if spec.pointing == "sidereal" else None
        cards = wavefront_cards(guider) + [
            ("READMODE", _READMODE[lnrs], "Read mode"),
            ("NREADS", lnrs, "Number of reads"),
            ("LNRS", lnrs, "Number of non-destructive read pairs"),
            ("COADDS", spec.coadds, "Number of coadds"),
            ("EXPTIME", float(spec.exptime), "Exposure time (s) per coadd"),
            ("GAIN", _GAIN_TABLE, "Gain (e-/ADU) for a single read pair"),
            ("RDNOISE", 0.0, "Read noise (not measured)"),
            ("PIXSCALE", self.pixel_scale, "Pixel scale (arcsec/pixel)"),
            ("DECKER", "Open", "Decker position"),
            ("DETID", "109", "Detector ID"),
            ("DETTYPE", "Hawaii-2 2048", "Detector type"),
            ("FILTER1", filter1, "Filter wheel 1"),
            ("FILTER2", filter2, "Filter wheel 2"),
            ("FILTER", filter2 if filter1 == "Open" else filter1, "Combined filter"),
            ("FOCUS", "f/16", "Focus / camera"),
            ("GRISM", "Open", "Grism wheel"),
            ("GRWLEN", 0.0, "Grism wavelength"),
            ("LYOT", "f/16_G5830", "Lyot wheel"),
            ("MASKNAME", "None", "Mask name"),
            ("MASKTYPE", "0", "Mask type"),
            ("MOSPOS", "Open", "MOS wheel"),
            ("WINDOW", "Closed" if dark else "Open", "Window cover"),
        ]
        return fits.Header(hdr + cards)

    def extension_header(self, index: int, readout: Readout, spec: FrameSpec,
                         wcs: list[tuple[str, object, str]]) -> fits.Header:
        hdr = []
        cards = [("EXTVER", 1, "Extension version"), ("INHERIT", False, "Inherits PHU"),
                 ("FRMNAME", " 1 of 1 ", "Frame name"), ("FRAMEID", "1", "Frame ID"),
                 ("DATATYP", "Intensity", "Data type"), ("AXISLAB1", "Xaxis", ""),
                 ("AXISLAB2", "Yaxis", ""), ("AXISLAB3", "Extensions", "")]
        cards += wcs
        cards += [("CD3_3", 1.0, "Extensions axis"),
                  ("MJD-OBS", round(mjd(spec.ut_start), 8), "MJD of start of observation"),
                  # with MJD-OBS alone astropy.wcs would warn that it derived DATE-OBS
                  ("DATE-OBS", spec.ut_start.isoformat(timespec="milliseconds"),
                   "UT start of observation")]
        return fits.Header(hdr + cards)
