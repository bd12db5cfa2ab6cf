"""GMOS-S Hamamatsu (12 amplifiers) and GMOS-N e2vDD (6 amplifiers) imaging, uint16 raw data.

Raw amplifier arrays are stored as 16-bit unsigned integers (BITPIX 16,
BZERO 32768) with 32 binned overscan columns each. CCD placement follows
the reference's mosaic geometry: CCD1 and CCD3 centres are shifted (and
slightly rotated) relative to CCD2, so a mosaic built with that geometry
puts every star where the truth WCS says. ``spec.config``: ``binning``
((1, 1) or (2, 2)) and ``roi`` (``'full'`` or ``'ccd2'``: the four CCD2
amplifiers only).

One table, astrodata's (:mod:`astrodata.instruments.gmos.lookup`), is the
source of every number the reduction also reads: CCD names, per-amplifier
gain, read noise and bias level for the frame's date and read mode, full
wells, pixel scale, chip gaps, mosaic shifts, nominal zeropoints and the
imaging field (illumination). So the descriptors of a simulated frame
(``gain()``, ``read_noise()``, ``saturation_level()``) are exactly the truth.
What the table does not hold (CCD QE ratios, bias structure, fringes,
the e2vDD zeropoints) is simulator physics, defined here.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from scipy import ndimage

from astrodata.instruments.gmos import lookup

from ..detector import ArrayMaps, ArrayPhysics, ccd_readout
from ..fringe import FringeModel, draw_fringe_model
from ..headers import Pointing, gemini_primary, wavefront_cards
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec
from ..observatory import GEMINI_NORTH, GEMINI_SOUTH, decimal_year
from .base import InstrumentModel

__all__ = ["GMOS", "GMOS_S_HAMAMATSU", "GMOS_N_E2V", "GmosDetector", "FIELD_EDGE_PIXELS"]

_OVERSCAN = lookup.OVERSCAN_WIDTH

#: Width (unbinned pixels) of the penumbra inside the imaging-field edge, over which
#: the light rises from nothing (at the edge of ``lookup.imaging_field``) to full.
FIELD_EDGE_PIXELS = 2.0

#: The read mode simulated: slow read, low gain (the imaging default).
_GAIN_SETTING = "low"


@dataclass(frozen=True)
class GmosDetector:
    """One GMOS detector system: what the simulator adds to astrodata's GMOS tables.

    ``key`` names the detector in ``lookup.CCDS``/``MOSAIC_SHIFTS``; CCD names,
    pixel scale, gap, shifts, gains, read noise, bias levels and wells come
    from the lookup through the properties and :class:`GMOS`.
    """

    key: str                # key of lookup.CCDS
    instrument: str
    site_name: str
    detector: str           # DETECTOR (key of lookup.DETECTOR_CCDS and FULL_WELLS)
    dettype: str            # DETTYPE
    ccdnames: tuple[str, str, str]
    ccd_shape: tuple[int, int]        # unbinned (rows, columns)
    ccdsize: str
    detsize_rows: int
    amps_per_ccd: int
    # per CCD, amplifier labels in extension order (increasing DETSEC unless stated)
    amp_labels: tuple[tuple[str, ...], ...]
    # per CCD, the x index (0-based, in units of amp width) of each amp in extension order
    amp_slots: tuple[tuple[int, ...], ...]
    qe: tuple[float, float, float]
    iaa: float
    inport: int
    amp_integration: int
    # zeropoints for filters lookup.NOMINAL_ZEROPOINTS does not give for this detector
    zeropoints: dict
    filter_ids: dict
    # rms of the fringes as a fraction of the night sky, by filter (absent: no fringes)
    fringe_fractions: dict

    @property
    def family(self) -> str:
        return lookup.DETTYPE_FAMILY[self.dettype]

    @property
    def ccds(self) -> tuple[str, ...]:
        return lookup.CCDS[self.key]

    @property
    def pixel_scale(self) -> float:
        return lookup.PIXEL_SCALES[(self.instrument, self.family)]

    @property
    def gap(self) -> float:
        return float(lookup.TILE_GAPS[(self.instrument, self.family)])

    @property
    def read_speed(self) -> str:
        """'slow' or 'fast' as astrodata derives it from ``AMPINTEG``."""
        threshold = lookup.READ_SPEED_SLOW_ABOVE[self.family]
        return "slow" if self.amp_integration > threshold else "fast"


GMOS_S_HAMAMATSU = GmosDetector(
    key="GMOS-S Hamamatsu", instrument="GMOS-S", site_name="south",
    detector="GMOS + Hamamatsu_new", dettype="S10892",
    ccdnames=("BI5-36-4k-2", "BI11-33-4k-1", "BI12-34-4k-1"),
    ccd_shape=(4224, 2048), ccdsize="[1:2048,1:4224]", detsize_rows=4224, amps_per_ccd=4,
    amp_labels=(("4", "3", "2", "1"),) * 3, amp_slots=((0, 1, 2, 3),) * 3,
    qe=(0.97, 1.0, 1.04), iaa=359.9, inport=3, amp_integration=11880,
    zeropoints={},
    filter_ids={"r": "r_G0326", "i": "i_G0327", "g": "g_G0325", "z": "z_G0328"},
    # thick, deep-depletion CCDs: only the far red fringes measurably
    fringe_fractions={"z": 0.02, "Y": 0.03},
)

GMOS_N_E2V = GmosDetector(
    key="GMOS-N e2vDD", instrument="GMOS-N", site_name="north",
    detector="GMOS + e2v DD CCD42-90", dettype="SDSU II e2v DD CCD42-90",
    ccdnames=("e2v DD ML2AR CCD42-90-1-F43 10031-23-05", "e2v DD ML2AR CCD42-90-1-F43 10031-01-03",
              "e2v DD ML2AR CCD42-90-1-F43 10031-18-04"),
    ccd_shape=(4608, 2048), ccdsize="[1:2048,1:4644]", detsize_rows=4644, amps_per_ccd=2,
    amp_labels=(("right", "left"), ("right", "left"), ("left", "right")),
    amp_slots=((1, 0), (1, 0), (0, 1)),
    qe=(0.98, 1.0, 1.02), iaa=270.0, inport=5, amp_integration=5000,
    # the reference has no e2vDD zeropoints: representative values
    zeropoints={"r": 28.20, "i": 28.25, "g": 27.95, "z": 28.10},
    filter_ids={"r": "r_G0303", "i": "i_G0302", "g": "g_G0301", "z": "z_G0304"},
    # thinner CCDs: fringes from i band (OH lines beyond 700 nm) on
    fringe_fractions={"i": 0.02, "CaT": 0.03, "Z": 0.035, "z": 0.04, "Y": 0.05},
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
        self._bias_date: dt.date | None = None
        self._fringe_models: list[FringeModel] = []
        self._fringe_cache: dict[Readout, np.ndarray] = {}

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
        """CCDs placed by ``lookup.MOSAIC_SHIFTS`` about CCD2 (as ``lookup.imaging_field``).

        Narrower (--small) CCDs keep the measured gap and residual shifts in pixels.
        """
        rows, cols = self.ccd_shape
        c2 = (cols + self.det.gap + (cols - 1) / 2.0, (rows - 1) / 2.0)
        placements = lookup.imaging_field(self.det.key, cols).placements
        return [ArrayPlacement(name, (rows, cols), (c2[0] + dx, c2[1] + dy), rot, (k * cols, 0))
                for k, (name, (dx, dy, rot)) in enumerate(zip(self.det.ccds, placements,
                                                              strict=True))]

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
        """The imaging field of ``lookup.imaging_field`` with a penumbra and mild vignetting.

        No light at or beyond the field edge (exactly where
        ``lookup.unilluminated_pixels``, hence the GMOS illumination masks,
        flag pixels); inside, the light rises over ``FIELD_EDGE_PIXELS`` and
        falls by 4 percent at 1.4 half sides from the centre.
        """
        field = lookup.imaging_field(self.det.key, self.ccd_shape[1])
        cx, cy = self.focal_crpix0()
        margin = lookup.field_margin(field, fx - cx, fy - cy)
        edge = np.clip(margin / FIELD_EDGE_PIXELS, 0.0, 1.0)
        return (edge * self.vignetting(fx, fy, cx, cy, 1.4 * field.half_width, 0.04)).astype(
            np.float32)

    def unilluminated(self, readout: Readout) -> np.ndarray:
        """Data pixels outside the imaging field, as the GMOS illumination masks flag them."""
        x0, _, y0, _ = readout.window
        return lookup.unilluminated_pixels(self.det.key, readout.array, self.ccd_shape, (x0, y0),
                                           readout.binning, readout.data_shape)

    # -- physics --------------------------------------------------------
    def physics(self, index: int) -> ArrayPhysics:
        # the CCD's lowest amplifier well: each amplifier saturates at its own in digitize
        well = min(self._well(amp) for amp in lookup.amp_names(self.det.ccds[index]))
        return ArrayPhysics(dark_current=0.0003, well_depth=well, linearity=None,
                            qe=self.det.qe[index], response_rms=0.012, large_scale_rms=0.015,
                            hot_fraction=5e-5, cold_fraction=1e-4, dead_fraction=5e-5,
                            hot_dark=(5.0, 50.0), dead_columns=1, dust_rings=3,
                            cosmic_rate=1.5e-7, cosmic_track=4.0, cosmic_energy=3000.0)

    def _table_value(self, tables: tuple, what: str, amp: str, date: dt.date) -> float:
        """An amplifier's value in astrodata's GMOS table for ``date`` and the simulated mode."""
        value = lookup.amp_value(tables, date, self.det.read_speed, _GAIN_SETTING, amp)
        if value is None:
            raise ValueError(f"gempy.sim: astrodata's GMOS tables have no {what} for amp "
                             f"{amp!r} ({self.det.read_speed}/{_GAIN_SETTING}) on {date}")
        return float(value)

    def _well(self, amp: str) -> float:
        wells = lookup.FULL_WELLS.get(self.det.detector, {})
        if amp not in wells:
            raise ValueError(f"gempy.sim: astrodata's GMOS tables have no full well for "
                             f"{self.det.detector!r} amp {amp!r}")
        return float(wells[amp])

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        """Gain and read noise of the amp on the frame's date (``DATE-OBS``), from the lookup."""
        date = spec.ut_start.date()
        return (self._table_value(lookup.GAIN, "gain", readout.name, date),
                self._table_value(lookup.READ_NOISE, "read noise", readout.name, date))

    def bias_level(self, readout: Readout) -> float:
        """Typical bias of the amp (lookup ``BIAS_LEVEL`` for the dataset's dates)."""
        if self._bias_date is None:
            raise RuntimeError("gempy.sim: GMOS.prepare_static sets the dataset's dates first")
        return self._table_value(lookup.BIAS_LEVEL, "bias level", readout.name, self._bias_date)

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        """Raw saturation as astrodata's ``saturation_level``: ADC limit, or well/gain if lower."""
        xb, yb = readout.binning
        if xb * yb > 2:
            return float(lookup.ADC_LIMIT)
        gain, _ = self.electronics(readout, spec)
        return float(min(self._well(readout.name) * xb * yb / gain, lookup.ADC_LIMIT))

    def zeropoint(self, band: str) -> float:
        """Nominal zeropoint: astrodata's (by ``DETID`` and filter), else the simulator's own."""
        value = lookup.NOMINAL_ZEROPOINTS.get((",".join(self.det.ccds), band))
        return float(value) if value is not None else self.det.zeropoints[band]

    def wavelength_angstrom(self, band: str) -> float:
        return {"g": 4750.0, "r": 6300.0, "i": 7800.0, "z": 9250.0}.get(band, 6300.0)

    def prepare_static(self, rng: np.random.Generator, frames: list[FrameSpec]) -> None:
        """Static bias of every amplifier: level, a ramp near the readout edge, a row slope.

        Raises
        ------
        ValueError
            If the frames' dates fall in different eras of the bias table (one
            static bias serves the whole dataset).
        """
        dates = sorted({f.ut_start.date() for f in frames})
        eras = {lookup.era_index(d) for d in dates}
        if len(eras) != 1:
            raise ValueError(f"gempy.sim: GMOS frames from {dates[0]} to {dates[-1]} span a "
                             f"change of astrodata's bias table")
        self._bias_date = dates[0]
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

    # -- fringes ----------------------------------------------------------
    def prepare_fringes(self, seed: int) -> None:
        """One fringe pattern per CCD (the CCDs differ in thickness), fixed on the detector.

        Drawn from ``seed`` and the CCD's name: every dataset of this
        detector made with the same seed (and size) has the same fringes.
        """
        self._fringe_models = [
            draw_fringe_model(np.random.default_rng([int(seed), zlib.crc32(ccd.encode()), 6]),
                              self.ccd_shape)
            for ccd in self.det.ccds]
        self._fringe_cache.clear()

    def fringe_fraction(self, spec: FrameSpec) -> float:
        """Fringe rms / sky: the detector's value for the filter on night-sky frames, else 0.

        Twilight (a continuum) and lamps do not fringe; ``spec.fringe_scale``
        follows the night-to-night strength of the emission lines.
        """
        if spec.pointing != "sidereal" or spec.is_twilight or spec.sky_rate <= 0:
            return 0.0
        return self.det.fringe_fractions.get(spec.filter_band, 0.0) * spec.fringe_scale

    def fringe_pattern(self, readout: Readout) -> np.ndarray | None:
        if not self._fringe_models:
            return None
        if readout not in self._fringe_cache:
            model = self._fringe_models[readout.array]
            self._fringe_cache[readout] = model.evaluate(readout.window, readout.binning)
        return self._fringe_cache[readout]

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
        well = self._well(readout.name) * xb * yb
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
