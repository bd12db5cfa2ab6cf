"""GMOS-S Hamamatsu (12 amplifiers) and GMOS-N e2vDD (6 amplifiers) imaging, uint16 raw data.

Raw amplifier arrays are stored as 16-bit unsigned integers (BITPIX 16,
BZERO 32768) with 32 binned overscan columns each. CCD placement follows
the reference's mosaic geometry: CCD1 and CCD3 centres are shifted (and
slightly rotated) relative to CCD2, so a mosaic built with that geometry
puts every star where the truth WCS says. ``spec.config``: ``binning``
((1, 1) or (2, 2)) and ``roi`` (``'full'`` or ``'ccd2'``: the four CCD2
amplifiers only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from scipy import ndimage

from ..detector import ArrayMaps, ArrayPhysics, ccd_readout
from ..headers import Pointing, gemini_primary, wavefront_cards
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec
from ..observatory import GEMINI_NORTH, GEMINI_SOUTH, decimal_year
from .base import InstrumentModel

__all__ = ["GMOS", "GMOS_S_HAMAMATSU", "GMOS_N_E2V", "GmosDetector"]

_OVERSCAN = 32


@dataclass(frozen=True)
class GmosDetector:
    """One GMOS detector system (CCD set, amplifiers, electronics, geometry)."""

    instrument: str
    site_name: str
    detector: str          # DETECTOR
    dettype: str           # DETTYPE
    ccds: tuple[str, str, str]
    ccdnames: tuple[str, str, str]
    ccd_shape: tuple[int, int]        # unbinned (rows, columns)
    ccdsize: str
    detsize_rows: int
    amps_per_ccd: int
    # per CCD, amplifier labels in extension order (increasing DETSEC unless stated)
    amp_labels: tuple[tuple[str, ...], ...]
    # per CCD, the x index (0-based, in units of amp width) of each amp in extension order
    amp_slots: tuple[tuple[int, ...], ...]
    gains: dict
    read_noise: dict
    bias: dict
    wells: tuple[float, float, float]
    qe: tuple[float, float, float]
    gap: float
    shifts: tuple[tuple[float, float, float], tuple[float, float, float]]  # CCD1, CCD3
    pixel_scale: float
    iaa: float
    inport: int
    amp_integration: int
    zeropoints: dict
    filter_ids: dict


GMOS_S_HAMAMATSU = GmosDetector(
    instrument="GMOS-S", site_name="south", detector="GMOS + Hamamatsu_new", dettype="S10892",
    ccds=("BI5-36-4k-2", "BI11-33-4k-1", "BI12-34-4k-1"),
    ccdnames=("BI5-36-4k-2", "BI11-33-4k-1", "BI12-34-4k-1"),
    ccd_shape=(4224, 2048), ccdsize="[1:2048,1:4224]", detsize_rows=4224, amps_per_ccd=4,
    amp_labels=(("4", "3", "2", "1"),) * 3, amp_slots=((0, 1, 2, 3),) * 3,
    gains={"BI5-36-4k-2": (1.852, 1.878, 1.874, 1.834),
           "BI11-33-4k-1": (1.878, 1.840, 1.933, 1.908),
           "BI12-34-4k-1": (1.652, 1.761, 1.724, 1.813)},
    read_noise={"BI5-36-4k-2": (4.21, 4.24, 4.28, 4.04),
                "BI11-33-4k-1": (4.29, 4.07, 4.24, 3.90),
                "BI12-34-4k-1": (3.53, 3.72, 3.61, 4.15)},
    bias={"BI5-36-4k-2": (897.0, 790.0, 630.0, 500.0),
          "BI11-33-4k-1": (495.0, 640.0, 820.0, 990.0),
          "BI12-34-4k-1": (230.0, 410.0, 600.0, 795.0)},
    wells=(110000.0, 118000.0, 125000.0), qe=(0.97, 1.0, 1.04), gap=61.0,
    shifts=((-2110.2, 0.71, 0.0), (2109.0, -0.73, 0.0)), pixel_scale=0.0800, iaa=359.9,
    inport=3, amp_integration=11880,
    zeropoints={"r": 28.23, "i": 28.21, "g": 27.99, "z": 28.02},
    filter_ids={"r": "r_G0326", "i": "i_G0327", "g": "g_G0325", "z": "z_G0328"},
)

GMOS_N_E2V = GmosDetector(
    instrument="GMOS-N", site_name="north", detector="GMOS + e2v DD CCD42-90",
    dettype="SDSU II e2v DD CCD42-90",
    ccds=("e2v 10031-23-05", "e2v 10031-01-03", "e2v 10031-18-04"),
    ccdnames=("e2v DD ML2AR CCD42-90-1-F43 10031-23-05", "e2v DD ML2AR CCD42-90-1-F43 10031-01-03",
              "e2v DD ML2AR CCD42-90-1-F43 10031-18-04"),
    ccd_shape=(4608, 2048), ccdsize="[1:2048,1:4644]", detsize_rows=4644, amps_per_ccd=2,
    amp_labels=(("right", "left"), ("right", "left"), ("left", "right")),
    amp_slots=((1, 0), (1, 0), (0, 1)),
    gains={"e2v 10031-23-05": {"right": 2.310, "left": 2.310},
           "e2v 10031-01-03": {"right": 2.270, "left": 2.210},
           "e2v 10031-18-04": {"left": 2.170, "right": 2.330}},
    read_noise={"e2v 10031-23-05": {"right": 3.17, "left": 3.41},
                "e2v 10031-01-03": {"right": 3.22, "left": 3.20},
                "e2v 10031-18-04": {"left": 3.46, "right": 3.44}},
    bias={"e2v 10031-23-05": {"right": 1012.0, "left": 1188.0},
          "e2v 10031-01-03": {"right": 909.0, "left": 1065.0},
          "e2v 10031-18-04": {"left": 1120.0, "right": 960.0}},
    wells=(105100.0, 110400.0, 115700.0), qe=(0.98, 1.0, 1.02), gap=37.0,
    shifts=((-2087.7, -0.749, -0.009), (2087.80, 2.05, -0.003)), pixel_scale=0.07288,
    iaa=270.0, inport=5, amp_integration=5000,
    zeropoints={"r": 28.20, "i": 28.25, "g": 27.95, "z": 28.10},
    filter_ids={"r": "r_G0303", "i": "i_G0302", "g": "g_G0301", "z": "z_G0304"},
)


class GMOS(InstrumentModel):
    """GMOS imaging with the detector system ``detector`` (Hamamatsu or e2vDD)."""

    family = "GMOS"
    psf_beta = 3.5
    is_ccd = True
    dtype = np.uint16

    def __init__(self, detector: GmosDetector = GMOS_S_HAMAMATSU, small: bool = False):
        super().__init__(small)
        self.det = detector
        self.name = detector.instrument
        self.site = GEMINI_SOUTH if detector.site_name == "south" else GEMINI_NORTH
        self.pixel_scale = detector.pixel_scale
        self.iaa = detector.iaa
        self.inport = detector.inport
        self._static_bias: dict[str, np.ndarray] = {}

    # -- geometry -------------------------------------------------------
    @property
    def ccd_shape(self) -> tuple[int, int]:
        rows, cols = self.det.ccd_shape
        return self.scaled(rows), self.scaled(cols)

    @property
    def amp_width(self) -> int:
        return self.ccd_shape[1] // self.det.amps_per_ccd

    @property
    def arrays(self) -> list[ArrayPlacement]:
        rows, cols = self.ccd_shape
        full = self.det.ccd_shape[1]
        c2 = (cols + self.det.gap + (cols - 1) / 2.0, (rows - 1) / 2.0)
        out = []
        for k, name in enumerate(self.det.ccds):
            if k == 1:
                centre, rot = c2, 0.0
            else:
                sx, sy, rot = self.det.shifts[0 if k == 0 else 1]
                sign = -1.0 if k == 0 else 1.0
                # keep the measured gap and residual shift in pixels when CCDs shrink
                centre = (c2[0] + sx - sign * full + sign * cols, c2[1] + sy)
            out.append(ArrayPlacement(name, (rows, cols), centre, rot, (k * cols, 0)))
        return out

    def focal_crpix0(self) -> tuple[float, float]:
        return self.arrays[1].centre

    def readouts(self, spec: FrameSpec) -> list[Readout]:
        binning = self.binning(spec)
        rows = self.ccd_shape[0]
        width = self.amp_width
        ccds = (1,) if spec.config.get("roi") == "ccd2" else (0, 1, 2)
        out = []
        for k in ccds:
            for label, slot in zip(self.det.amp_labels[k], self.det.amp_slots[k], strict=True):
                x0 = slot * width
                if self.det.amps_per_ccd == 4:
                    side = "right" if label in ("4", "2") else "left"
                else:
                    side = "left" if label == "right" else "right"
                out.append(Readout(k, (x0, x0 + width, 0, rows), binning, _OVERSCAN, side,
                                   name=f"{self.det.ccds[k]}, {label}"))
        return out

    def binning(self, spec: FrameSpec) -> tuple[int, int]:
        return tuple(spec.config.get("binning", (2, 2)))

    def illumination(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """Square 5.5-arcmin field with clipped corners, soft edges and mild vignetting."""
        cx, cy = self.focal_crpix0()
        scale = self.ccd_shape[1] / self.det.ccd_shape[1]
        # the 5.5' field covers the same fraction of the mosaic width at every size
        full_width = 3 * self.det.ccd_shape[1] + 2 * self.det.gap
        width = 3 * self.ccd_shape[1] + 2 * self.det.gap
        half = 0.5 * width * min(1.0, 330.0 / self.det.pixel_scale / full_width)
        edge = max(3.0 * scale, 1.0)
        box = (np.clip((half - np.abs(fx - cx)) / edge + 0.5, 0, 1)
               * np.clip((half - np.abs(fy - cy)) / edge + 0.5, 0, 1))
        corners = self.circle(fx, fy, cx, cy, 1.3 * half, edge)
        return (box * corners * self.vignetting(fx, fy, cx, cy, 1.4 * half, 0.04)).astype(
            np.float32)

    # -- physics --------------------------------------------------------
    def physics(self, index: int) -> ArrayPhysics:
        return ArrayPhysics(dark_current=0.0003, well_depth=self.det.wells[index], linearity=None,
                            qe=self.det.qe[index], response_rms=0.012, large_scale_rms=0.015,
                            hot_fraction=5e-5, cold_fraction=1e-4, dead_fraction=5e-5,
                            hot_dark=(5.0, 50.0), dead_columns=1, dust_rings=3,
                            cosmic_rate=1.5e-7, cosmic_track=4.0, cosmic_energy=3000.0)

    def _amp_value(self, table: dict, readout: Readout) -> float:
        ccd, label = readout.name.rsplit(", ", 1)
        values = table[ccd]
        if isinstance(values, dict):
            return values[label]
        return values[int(label) - 1]

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        return self._amp_value(self.det.gains, readout), self._amp_value(self.det.read_noise,
                                                                          readout)

    def bias_level(self, readout: Readout) -> float:
        return self._amp_value(self.det.bias, readout)

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        xb, yb = readout.binning
        if xb * yb > 2:
            return 65535.0
        gain = self._amp_value(self.det.gains, readout)
        return float(min(int(self.det.wells[readout.array] * xb * yb / gain), 65535))

    def zeropoint(self, band: str) -> float:
        return self.det.zeropoints[band]

    def wavelength_angstrom(self, band: str) -> float:
        return {"g": 4750.0, "r": 6300.0, "i": 7800.0, "z": 9250.0}.get(band, 6300.0)

    def prepare_static(self, rng: np.random.Generator, frames: list[FrameSpec]) -> None:
        """Static bias of every amplifier: level, a ramp near the readout edge, a row slope."""
        for readout in self.readouts(frames[0]):
            ny, nx = readout.raw_shape
            level = self.bias_level(readout)
            bias = np.full((ny, nx), level, np.float32)
            dsl = readout.data_slice
            ndx = dsl[1].stop - dsl[1].start
            cols = np.arange(ndx, dtype=np.float32)
            # the ramp sits on the data columns next to the overscan (the readout side)
            dist = (ndx - 1 - cols) if readout.overscan_side == "right" else cols
            ramp = rng.uniform(2.0, 6.0) * np.exp(-dist / rng.uniform(8.0, 25.0))
            slope = rng.uniform(-1.5, 1.5) * (np.arange(ny, dtype=np.float32) / ny - 0.5)
            bias[dsl] += ramp[None, :] + slope[:, None]
            self._static_bias[readout.name] = bias

    def static_bias(self, readout: Readout) -> np.ndarray:
        return self._static_bias[readout.name]

    def digitize(self, rng: np.random.Generator, readout: Readout, spec: FrameSpec,
                 electrons: np.ndarray, maps: ArrayMaps) -> tuple[np.ndarray, dict]:
        gain, read_noise = self.electronics(readout, spec)
        ny, nx = readout.raw_shape
        charge = np.zeros((ny, nx), np.float32)
        charge[readout.data_slice] = electrons
        offset = float(rng.normal(0.0, 2.5))
        rows = ndimage.gaussian_filter1d(rng.standard_normal(ny), 15.0, mode="wrap")
        rows = (rows - rows.mean()) * (0.7 / max(rows.std(), 1e-6))
        bias = self.static_bias(readout) + np.float32(offset) + rows[:, None].astype(np.float32)
        xb, yb = readout.binning
        well = self.det.wells[readout.array] * xb * yb
        data = ccd_readout(rng, charge, gain, read_noise, well, bias)
        return data, {"bias_level_adu": round(self.bias_level(readout) + offset, 4),
                      "bias_frame_offset_adu": round(offset, 4)}

    # -- headers --------------------------------------------------------
    def primary_header(self, spec: FrameSpec, pointing: Pointing) -> fits.Header:
        binning = self.binning(spec)
        rows, cols = self.ccd_shape
        ccd2_only = spec.config.get("roi") == "ccd2"
        hdr = gemini_primary(spec, self.name, self.iaa, self.inport,
                             self.wavelength_angstrom(spec.filter_band) if spec.filter_band
                             else 6300.0, pointing, readout_seconds=45.0)
        nexts = len(self.readouts(spec))
        # biases taken without telescope information carry no airmass
        airmass_value = -9999.0 if spec.pointing == "unrecorded" else dict(
            (k, v) for k, v, _ in hdr)["AIRMASS"]
        guider = "OIWFS_ST" if spec.pointing == "sidereal" else None
        f1, f2 = spec.filters
        cards = wavefront_cards(guider) + [
            ("OBSMODE", "IMAGE", "Observing mode"),
            ("GMOSCC", "GMOS CC 2.0", "GMOS components controller"),
            ("CONID", "ARC-III", "Detector controller"),
            ("DETECTOR", self.det.detector, "Detector name"),
            ("DEWAR", f"{self.name} dewar", "Dewar"),
            ("DETSIZE", f"[1:{3 * cols},1:{self.scaled(self.det.detsize_rows)}]",
             "Detector size"),
            ("NCCDS", 3, "Number of CCDs"),
            ("NAMPS", self.det.amps_per_ccd, "Number of amplifiers per CCD"),
            ("SHUTTER", "CLOSED", "Shutter state after the exposure"),
            ("AMPINTEG", self.det.amp_integration, "Amplifier integration time"),
            ("OBSEPOCH", round(decimal_year(spec.ut_start), 6), "Epoch at start of exposure"),
            ("NSUBEXP", 1, "Number of sub-exposures"),
            ("EXPTIME", float(spec.exptime), "Exposure time (s)"),
            ("ELAPSED", float(spec.exptime) + 0.2, "Elapsed time (s)"),
            ("DARKTIME", float(spec.exptime) + 45.0, "Dark time (s)"),
            ("EXPOSURE", float(spec.exptime), "Requested exposure time (s)"),
            ("MASKID", -99, "Mask ID"),
            ("MASKNAME", "None", "Mask name"),
            ("MASKTYP", 0, "Mask type"),
            ("MASKLOC", -1, "Mask location"),
            ("FILTER1", f1, "Filter 1"),
            ("FILTID1", 0 if f1.startswith("open") else int(f1[-4:]), "Filter 1 ID"),
            ("FILTER2", f2, "Filter 2"),
            ("FILTID2", 0 if f2.startswith("open") else int(f2[-4:]), "Filter 2 ID"),
            ("GRATING", "MIRROR", "Grating"),
            ("GRATID", 0, "Grating ID"),
            ("GRWLEN", 0.0, "Grating wavelength (nm)"),
            ("CENTWAVE", 0.0, "Central wavelength (nm)"),
            ("GRORDER", 0, "Grating order"),
            ("GRTILT", 0.0, "Grating tilt (deg)"),
            ("DTAX", 0.0, "Detector translation X"),
            ("DTAY", 0.0, "Detector translation Y"),
            ("DTAZ", 0.0, "Detector translation Z"),
            ("DETTYPE", self.det.dettype, "Detector type"),
            ("DETID", ",".join(c.replace("e2v ", "") if i else c
                               for i, c in enumerate(self.det.ccds)), "Chip IDs"),
            ("ADCUSED", 0, "ADC used"),
            ("DETNROI", 1, "Number of regions of interest"),
            ("DETRO1X", cols + 1 if ccd2_only else 1, "ROI 1 x start (unbinned)"),
            ("DETRO1XS", (cols if ccd2_only else 3 * cols) // binning[0],
             "ROI 1 x size (binned)"),
            ("DETRO1Y", 1, "ROI 1 y start (unbinned)"),
            ("DETRO1YS", rows // binning[1], "ROI 1 y size (binned)"),
            ("AMSTART", airmass_value, "Airmass at start"),
            ("AMEND", airmass_value, "Airmass at end"),
            ("NSCIEXT", nexts, "Number of science extensions"),
            ("NEXTEND", nexts, "Number of extensions"),
            ("PIXSCALE", self.pixel_scale * binning[1], "Pixel scale (arcsec/binned pixel)"),
        ]
        hdr = [(k, airmass_value, c) if k == "AIRMASS" else (k, v, c) for k, v, c in hdr]
        return fits.Header(hdr + cards)

    def extension_header(self, index: int, readout: Readout, spec: FrameSpec,
                         wcs: list[tuple[str, object, str]]) -> fits.Header:
        placement = self.arrays[readout.array]
        gain, read_noise = self.electronics(readout, spec)
        xb, yb = readout.binning
        amp = readout.name.rsplit(", ", 1)[1]
        hdr = []
        cards = [("EXTNAME", "SCI", "Extension name"), ("EXTVER", index + 1, "Extension version"),
                 ("CCDNAME", self.det.ccdnames[readout.array], "CCD name"),
                 ("AMPNAME", readout.name, "Amplifier name"),
                 ("GAIN", gain, "Amplifier gain (e-/ADU)"),
                 ("RDNOISE", read_noise, "Read noise (e-)"),
                 ("CCDSIZE", self.det.ccdsize if not self.small else
                  f"[1:{self.ccd_shape[1]},1:{self.ccd_shape[0]}]", "CCD size"),
                 ("CCDSUM", f"{xb} {yb}", "CCD binning"),
                 ("CCDSEC", readout.ccdsec(), "Region of the CCD read"),
                 ("DETSEC", readout.detsec(placement), "Region of the detector"),
                 ("DATASEC", readout.datasec(), "Data section"),
                 ("BIASSEC", readout.biassec(), "Overscan section"),
                 ("FRMNAME", f"FRAME-1 ROI-0, CHIP-{readout.array + 1}, AMP-{amp}", "Frame name"),
                 ("FRAMEID", str(index + 1), "Frame ID")]
        cards += wcs
        cards += [("EQUINOX", 2000.0, "Equinox of the WCS")]
        return fits.Header(hdr + cards)
