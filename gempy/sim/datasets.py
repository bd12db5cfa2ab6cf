"""Named datasets: the tutorials' file lists, roles and observing sequences.

Each builder returns a :class:`DatasetPlan` (instrument, frames, sky fields,
zeropoints). ``small`` shrinks the detectors (pixel scales are kept, the
field shrinks); dithers that would leave too little overlap are reduced
and recorded in the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from .catalog import FieldSpec, HaloSpec
from .instruments.base import InstrumentModel
from .instruments.f2 import F2
from .instruments.gmos import GMOS, GMOS_N_E2V, GMOS_S_HAMAMATSU
from .instruments.gsaoi import GSAOI
from .instruments.niri import NIRI
from .observation import FrameSpec, grid_dither, sequence, square_dither
from .observatory import GEMINI_NORTH, GEMINI_SOUTH, local_sidereal_time_deg

__all__ = ["DatasetPlan", "DatasetInfo", "DATASETS"]


@dataclass
class DatasetPlan:
    """What to simulate for one named dataset."""

    instrument: InstrumentModel
    frames: list[FrameSpec]
    fields: list[FieldSpec]
    zeropoints: dict[str, float]
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInfo:
    """A named dataset: instrument, one-line description and its builder."""

    name: str
    instrument: str
    description: str
    build: Callable[[bool, np.random.Generator], DatasetPlan]


def _varied(rng: np.random.Generator, value: float, rms: float, n: int) -> list[float]:
    """``n`` values scattered by a fractional ``rms`` about ``value`` (clipped at 2 rms)."""
    return [round(float(value * (1.0 + rms * np.clip(g, -2, 2))), 4)
            for g in rng.standard_normal(n)]


def _sky_rate(mag_per_arcsec2: float, zeropoint: float, pixel_scale: float) -> float:
    """Sky in e-/s per unbinned pixel from its surface brightness."""
    return 10.0 ** (-0.4 * (mag_per_arcsec2 - zeropoint)) * pixel_scale ** 2


def _field_half_width(instrument: InstrumentModel, pixels: float) -> float:
    return 0.5 * pixels * instrument.pixel_scale


# ---------------------------------------------------------------------------
# Flamingos-2 imaging tutorial
# ---------------------------------------------------------------------------
def build_f2_tutorial(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """F2 tutorial (API chapter): Y-band science, 2 s and 120 s darks, GCAL flats."""
    f2 = F2(small)
    site = GEMINI_SOUTH
    target = (25.0000, -22.0000)
    zp = f2.zeropoint("Y")
    sky = _sky_rate(17.5, zp, f2.pixel_scale)
    program = "GS-2013B-Q-15"
    science = FrameSpec(
        filename="", role="science", site=site, ut_start=datetime(2013, 11, 21), exptime=120.0,
        obstype="OBJECT", obsclass="science", object_name="Field_0140-2200",
        program_id=program, observation_id=f"{program}-39", pointing="sidereal",
        target=target, pa=0.0, filters=("Open", "Y_G0811"), filter_band="Y",
        config={"lnrs": 8}, psf_fwhm=0.8,
        raw_quality=("70-percentile", "50-percentile", "Any", "Any"))
    offsets = grid_dither(10.0, jitter=0.5, rng=rng)
    frames = sequence(science, "20131121", 75, 9, datetime(2013, 11, 21, 2, 0, 5), 32.0,
                      offset=offsets, sky_rate=_varied(rng, sky, 0.03, 9),
                      psf_fwhm=_varied(rng, 0.8, 0.05, 9))

    def darks(day, number, count, start, exptime, lnrs, label):
        prog = f"GS-CAL{day}"
        template = FrameSpec(
            filename="", role="dark" if exptime > 10 else "dark_short", site=site,
            ut_start=start, exptime=exptime, obstype="DARK", obsclass="dayCal",
            object_name="Dark", program_id=prog, observation_id=f"{prog}-{label}",
            pointing="zenith", pa=0.0, filters=("Open", "DK_G0807"), filter_band="dark",
            config={"lnrs": lnrs})
        return sequence(template, day, number, count, start, 8.0)

    frames += darks("20131120", 115, 6, datetime(2013, 11, 20, 9, 30, 12), 120.0, 8, 4)
    frames += darks("20131121", 10, 1, datetime(2013, 11, 20, 18, 31, 40), 120.0, 8, 2)
    frames += darks("20131122", 12, 1, datetime(2013, 11, 21, 18, 29, 3), 120.0, 8, 2)
    frames += darks("20131122", 438, 2, datetime(2013, 11, 22, 10, 2, 30), 120.0, 8, 9)
    frames += darks("20131121", 369, 7, datetime(2013, 11, 21, 10, 41, 17), 2.0, 1, 7)

    def flats(day, number, count, start, shutter, role, label):
        prog = f"GS-CAL{day}"
        template = FrameSpec(
            filename="", role=role, site=site, ut_start=start, exptime=20.0, obstype="FLAT",
            obsclass="dayCal", object_name="GCALflat", program_id=prog,
            observation_id=f"{prog}-{label}", pointing="azel", altaz=(72.0, 185.0), pa=0.0,
            filters=("Open", "Y_G0811"), filter_band="Y", gcal=("IRhigh", shutter),
            config={"lnrs": 1}, thermal_rate=1.5,
            lamp_rate=1200.0 if shutter == "OPEN" else 0.0)
        return sequence(template, day, number, count, start, 12.0)

    frames += flats("20131129", 320, 4, datetime(2013, 11, 29, 10, 5, 44), "OPEN",
                    "flat_lamp_on", 12)
    frames += flats("20131126", 1111, 6, datetime(2013, 11, 26, 11, 2, 9), "CLOSED",
                    "flat_lamp_off", 15)
    width = _field_half_width(f2, f2.size) + 20.0
    # a small field gets a flatter count slope so that enough bright stars land on it
    n_stars = max(40, int(160 * (f2.size / 2048) ** 2))
    n_gal = max(15, int(180 * (f2.size / 2048) ** 2))
    fields = [FieldSpec("target", *target, width, n_stars, n_gal, star_mags=(14.0, 22.5),
                        galaxy_mags=(17.5, 22.5), seeing_fwhm_arcsec=0.8,
                        count_slope=0.12 if small else 0.3)]
    notes = {"read_modes": "science and 120 s darks LNRS=8 (Faint); 2 s darks and flats LNRS=1 "
                           "(Bright)",
             "dither": "9-point grid, 10 arcsec steps, 0.5 arcsec jitter",
             "aperture_xyr": list(f2.aperture())}
    return DatasetPlan(f2, frames, fields, {"Y": zp}, notes)


# ---------------------------------------------------------------------------
# GSAOI imaging tutorial
# ---------------------------------------------------------------------------
_NGC5128 = (201.365063, -43.019112)


def build_gsaoi_tutorial(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """GSAOI tutorial: NGC 5128 Kshort with offsets to sky, dome flats, a standard in an ROI."""
    gsaoi = GSAOI(small)
    site = GEMINI_SOUTH
    zp = gsaoi.zeropoint("Kshort")
    sky = _sky_rate(13.3, zp, gsaoi.pixel_scale)
    nucleus = _NGC5128
    cosd = np.cos(np.radians(nucleus[1]))
    target = (round(nucleus[0] - 120.0 / 3600.0 / cosd, 6), round(nucleus[1] - 90.0 / 3600.0, 6))
    program = "GS-2017A-Q-29"
    step = 1.5 if small else 5.0
    sky_offset = (-150.0, -120.0)
    # 9 on-target and 7 sky frames: O O S O S O S O S O S O S O S O
    kinds = ["O", "O"] + ["S", "O"] * 7
    on = iter(grid_dither(step, jitter=0.2 * step, rng=rng))
    off = iter(grid_dither(step, jitter=0.2 * step, rng=rng))
    offsets, roles = [], []
    for kind in kinds:
        if kind == "O":
            offsets.append(next(on))
            roles.append("science")
        else:
            dx, dy = next(off)
            offsets.append((round(sky_offset[0] + dx, 3), round(sky_offset[1] + dy, 3)))
            roles.append("sky")
    science = FrameSpec(
        filename="", role="science", site=site, ut_start=datetime(2017, 5, 5), exptime=60.0,
        obstype="OBJECT", obsclass="science", object_name="NGC5128", program_id=program,
        observation_id=f"{program}-13", pointing="sidereal", target=target, pa=0.0,
        filters=("Kshort_G1105", "Clear"), filter_band="Kshort", config={"lnrs": 8},
        psf_fwhm=0.09, raw_quality=("70-percentile", "50-percentile", "Any", "Any"))
    frames = sequence(science, "20170505", 95, 16, datetime(2017, 5, 5, 2, 30, 11), 25.0,
                      offset=offsets, role=roles, sky_rate=_varied(rng, sky, 0.03, 16),
                      psf_fwhm=_varied(rng, 0.09, 0.08, 16))

    def domeflats(number, start, lamp_on, label):
        prog = "GS-CAL20170505"
        template = FrameSpec(
            filename="", role="flat_lamp_on" if lamp_on else "flat_lamp_off", site=site,
            ut_start=start, exptime=30.0, obstype="OBJECT", obsclass="dayCal",
            object_name="Domeflat" if lamp_on else "Domeflat OFF", program_id=prog,
            observation_id=f"{prog}-{label}", pointing="azel", altaz=(40.0, 90.0), pa=0.0,
            filters=("Kshort_G1105", "Clear"), filter_band="Kshort", config={"lnrs": 2},
            lamp_rate=1000.0 if lamp_on else 0.0, thermal_rate=25.0)
        return sequence(template, "20170505", number, 15, start, 14.0)

    frames += domeflats(30, datetime(2017, 5, 4, 19, 30, 4), True, 3)
    frames += domeflats(60, datetime(2017, 5, 4, 20, 10, 31), False, 4)
    standard_pos = (226.0, -37.0)
    standard = FrameSpec(
        filename="", role="standard", site=site, ut_start=datetime(2017, 5, 4), exptime=30.0,
        obstype="OBJECT", obsclass="partnerCal", object_name="9132", program_id=program,
        observation_id=f"{program}-2", pointing="sidereal", target=standard_pos, pa=0.0,
        filters=("Kshort_G1105", "Clear"), filter_band="Kshort",
        config={"lnrs": 2, "roi": "central"}, psf_fwhm=0.09, sky_rate=round(sky, 4),
        raw_quality=("70-percentile", "50-percentile", "Any", "Any"))
    # the standard is dithered onto the centre of each of the four arrays in turn
    array_offset = 2 * round((gsaoi.size / 2 + 73) * gsaoi.pixel_scale, 2)
    frames += sequence(standard, "20170504", 114, 4, datetime(2017, 5, 4, 5, 0, 20), 20.0,
                       offset=square_dither(array_offset))
    area = (0.5 * (gsaoi.size * 2 + 150) * gsaoi.pixel_scale) ** 2 / (0.5 * 4340 * 0.0196558) ** 2
    half = 0.5 * (gsaoi.size * 2 + 150) * gsaoi.pixel_scale + 2 * step
    halo = HaloSpec(*nucleus, mag=3.9, r_eff_arcsec=305.0, sersic_n=4.0, axis_ratio=0.8,
                    pa_deg=35.0)
    fields = [
        FieldSpec("target", *target, half, max(40, int(2500 * area)), max(5, int(40 * area)),
                  star_mags=(20.5, 23.5), galaxy_mags=(17.0, 21.0), seeing_fwhm_arcsec=0.09,
                  count_slope=0.45, halo=halo),
        FieldSpec("target_foreground", *target, half, max(6, int(30 * area)), 0,
                  star_mags=(12.5, 19.0), seeing_fwhm_arcsec=0.09),
        FieldSpec("sky", *[c for c in _offset_radec(target, sky_offset)], half,
                  max(8, int(30 * area)), max(5, int(40 * area)), star_mags=(12.5, 19.5),
                  galaxy_mags=(17.0, 21.0), seeing_fwhm_arcsec=0.09),
        FieldSpec("standard", *standard_pos, half, max(5, int(12 * area)), max(2, int(6 * area)),
                  star_mags=(15.0, 20.0), galaxy_mags=(17.0, 21.0), seeing_fwhm_arcsec=0.09,
                  standard_mag=14.0),
    ]
    notes = {"pattern": "on/sky order " + "".join(kinds) + f"; sky offset {sky_offset} arcsec",
             "standard_roi": "central 3/4 of each array: CCDSEC "
                             + gsaoi.readouts(frames[-1])[0].ccdsec(),
             "read_modes": "science LNRS=8 (Faint Objects); flats and standard LNRS=2 (Bright)",
             "raw_dtype": "float32 (Fowler-averaged ADU)"}
    return DatasetPlan(gsaoi, frames, fields, {"Kshort": zp}, notes)


def _offset_radec(base: tuple[float, float], offset: tuple[float, float]) -> tuple[float, float]:
    cosd = np.cos(np.radians(base[1]))
    return base[0] + offset[0] / 3600.0 / cosd, base[1] + offset[1] / 3600.0


# ---------------------------------------------------------------------------
# NIRI imaging
# ---------------------------------------------------------------------------
def build_niri_imaging(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """NIRI f/6 K(prime) dithered science, darks, short darks and GCAL lamp-on/off flats."""
    niri = NIRI(small)
    site = GEMINI_NORTH
    zp = niri.zeropoint("K(prime)")
    sky = _sky_rate(13.5, zp, niri.pixel_scale)
    target = (66.0, 18.0)
    program = "GN-2015B-Q-18"
    medium = {"lnrs": 1, "ndavgs": 16}
    filters = ("Kprime_G0206", "open", "pupil38_G5221")
    science = FrameSpec(
        filename="", role="science", site=site, ut_start=datetime(2016, 1, 2), exptime=15.0,
        coadds=2, obstype="OBJECT", obsclass="science", object_name="Field_0424+1800",
        program_id=program, observation_id=f"{program}-10", pointing="sidereal",
        target=target, pa=33.5, filters=filters, filter_band="K(prime)", config=medium,
        psf_fwhm=0.6, raw_quality=("70-percentile", "50-percentile", "Any", "Any"))
    step = 4.0 if small else 10.0
    frames = sequence(science, "20160102", 270, 9, datetime(2016, 1, 2, 7, 0, 9), 20.0,
                      offset=grid_dither(step, jitter=0.3, rng=rng),
                      sky_rate=_varied(rng, sky, 0.03, 9), psf_fwhm=_varied(rng, 0.6, 0.05, 9),
                      anomaly=["first_frame"] + [None] * 8)

    def darks(day, number, count, start, exptime, coadds, role, label):
        prog = f"GN-CAL{day}"
        template = FrameSpec(
            filename="", role=role, site=site, ut_start=start, exptime=exptime, coadds=coadds,
            obstype="DARK", obsclass="dayCal", object_name="Dark", program_id=prog,
            observation_id=f"{prog}-{label}", pointing="zenith", pa=0.0,
            filters=("blank", "open", "pupil38_G5221"), filter_band="blank", config=medium)
        return sequence(template, day, number, count, start, 6.0)

    frames += darks("20160102", 423, 10, datetime(2016, 1, 2, 16, 0, 41), 15.0, 2, "dark", 8)
    frames += darks("20160103", 463, 10, datetime(2016, 1, 3, 16, 2, 10), 1.0, 1, "dark_short",
                    5)
    prog = "GN-CAL20160102"
    flat = FrameSpec(
        filename="", role="flat_lamp_on", site=site, ut_start=datetime(2016, 1, 2), exptime=10.0,
        obstype="FLAT", obsclass="dayCal", object_name="GCALflat", program_id=prog,
        observation_id=f"{prog}-6", pointing="azel", altaz=(80.0, 10.0), pa=0.0,
        filters=filters, filter_band="K(prime)", config=medium, thermal_rate=120.0)
    frames += sequence(flat, "20160102", 373, 10, datetime(2016, 1, 2, 15, 0, 12), 8.0,
                       role=["flat_lamp_on"] * 5 + ["flat_lamp_off"] * 5,
                       gcal=[("IRhigh", "OPEN")] * 5 + [("IRhigh", "CLOSED")] * 5,
                       lamp_rate=[5000.0] * 5 + [0.0] * 5)
    half = 0.5 * niri.rows_read * niri.pixel_scale + step + 2.0
    scale = (niri.rows_read / 1024) ** 2
    fields = [FieldSpec("target", *target, half, max(25, int(90 * scale * 2)),
                        max(20, int(110 * scale * 2)), star_mags=(13.0, 21.0),
                        galaxy_mags=(16.5, 21.0), seeing_fwhm_arcsec=0.6)]
    notes = {"read_mode": "Medium Background (LNRS=1, NDAVGS=16), shallow well",
             "first_frame": "the first science frame carries a 1500 e- ramp along y "
                            "(decaying reset offset); DRAGONS drops it (removeFirstFrame)",
             "small": "the central 256x256 sub-array (LOWROW/HIROW 384/639)" if small else None}
    return DatasetPlan(niri, frames, fields, {"K(prime)": zp}, notes)


# ---------------------------------------------------------------------------
# GMOS imaging
# ---------------------------------------------------------------------------
def _gmos_plan(small: bool, rng: np.random.Generator, detector, binning, roi,
               bands: tuple[str, ...], n_bias: int, n_twilight: int, n_science: int) -> DatasetPlan:
    gmos = GMOS(detector, small)
    site = gmos.site
    north = site is GEMINI_NORTH
    if north:
        day, bias_start, twi_start, sci_start = (
            "20160505", datetime(2016, 5, 5, 17, 0, 3), datetime(2016, 5, 5, 5, 21, 30),
            datetime(2016, 5, 5, 8, 0, 12))
        target, program = (190.0, 30.0), "GN-2016A-Q-44"
        bias_pointing = "zenith"
    else:
        day, bias_start, twi_start, sci_start = (
            "20220305", datetime(2022, 3, 5, 14, 0, 3), datetime(2022, 3, 4, 23, 21, 30),
            datetime(2022, 3, 5, 1, 30, 12))
        target, program = (123.0, -25.0), "GS-2022A-Q-31"
        bias_pointing = "unrecorded"
    letter = site.letter
    config = {"binning": binning, "roi": roi}
    zps = {b: gmos.zeropoint(b) for b in bands}
    filters = {b: ("open1-6", detector.filter_ids[b]) for b in bands}
    frames: list[FrameSpec] = []
    cal = f"G{letter}-CAL{day}"
    bias = FrameSpec(
        filename="", role="bias", site=site, ut_start=bias_start, exptime=0.0, obstype="BIAS",
        obsclass="dayCal", object_name="Bias", program_id=cal, observation_id=f"{cal}-1",
        pointing=bias_pointing, filters=filters[bands[0]], filter_band="", config=config)
    frames += sequence(bias, day, 301, n_bias, bias_start, 20.0)
    # evening twilight: zenith field, sky fading by ~28% per frame
    twilight_target = (round(_lst_deg(site, twi_start), 4), round(site.latitude + 2.0, 4))
    number, label = 11, 1
    ut = twi_start
    level = 2500.0
    for b in bands:
        template = FrameSpec(
            filename="", role="twilight", site=site, ut_start=ut, exptime=_TWILIGHT_EXPTIME[b],
            obstype="OBJECT", obsclass="dayCal", object_name="Twilight", program_id=cal,
            observation_id=f"{cal}-{2 + bands.index(b)}", pointing="sidereal",
            target=twilight_target, pa=0.0, filters=filters[b], filter_band=b, config=config,
            psf_fwhm=0.9)
        levels = [round(level * 0.72 ** i, 3) for i in range(n_twilight)]
        offsets = [(round(10.0 * i, 1), round(-8.0 * i, 1)) for i in range(n_twilight)]
        frames += sequence(template, day, number, n_twilight, ut, 40.0, first_label=label,
                           sky_rate=levels, offset=offsets)
        number += n_twilight
        level = levels[-1] * 0.72
        ut = frames[-1].ut_start + (frames[-1].ut_start - frames[-2].ut_start)
    step = 5.0 if small else 12.0
    pattern = [(0.0, 0.0), (step, step), (-step, -step), (step, -step), (-step, step)]
    sky_mag = {"g": 21.8, "r": 20.9, "i": 20.0, "z": 19.0}
    number = 51
    ut = sci_start
    for b in bands:
        sky = _sky_rate(sky_mag[b], zps[b], gmos.pixel_scale)
        template = FrameSpec(
            filename="", role="science", site=site, ut_start=ut, exptime=90.0, obstype="OBJECT",
            obsclass="science", object_name="Field_0812-2500" if not north else "Field_1240+3000",
            program_id=program, observation_id=f"{program}-{7 + bands.index(b)}",
            pointing="sidereal", target=target, pa=0.0 if not north else 90.0,
            filters=filters[b], filter_band=b, config=config, psf_fwhm=0.7,
            raw_quality=("70-percentile", "50-percentile", "Any", "50-percentile"))
        jitter = [(round(x + rng.uniform(-0.4, 0.4), 3), round(y + rng.uniform(-0.4, 0.4), 3))
                  for x, y in pattern[:n_science]]
        frames += sequence(template, day, number, n_science, ut, 60.0, offset=jitter,
                           sky_rate=_varied(rng, sky, 0.03, n_science),
                           psf_fwhm=_varied(rng, 0.7 if b == "r" else 0.65, 0.05, n_science))
        number += n_science
        ut = frames[-1].ut_start + (frames[-1].ut_start - frames[-2].ut_start)
    # the emission lines (and so the fringes) vary against the continuum from frame to frame;
    # drawn last so that adding a band leaves the other bands' frames as they were
    science = [i for i, f in enumerate(frames) if f.role == "science"]
    for i, scale in zip(science, _varied(rng, 1.0, 0.08, len(science)), strict=True):
        frames[i] = replace(frames[i], fringe_scale=scale)
    rows, cols = gmos.ccd_shape
    half = 0.5 * (3 * cols + 2 * detector.gap) * gmos.pixel_scale + step + 2.0
    scale = (cols / detector.ccd_shape[1]) * (rows / detector.ccd_shape[0])
    colours = {"i": (-0.5, 0.4, -0.4, 0.2), "g": (0.6, 0.3, 0.6, 0.2), "z": (-0.8, 0.5, -0.6, 0.2)}
    fields = [FieldSpec("target", *target, half, max(30, int(140 * scale)),
                        max(30, int(300 * scale)), star_mags=(16.0, 24.0),
                        galaxy_mags=(19.0, 24.5), seeing_fwhm_arcsec=0.7, colours=colours,
                        count_slope=0.15 if small else 0.3),
              FieldSpec("twilight", *twilight_target, half + 60.0, max(8, int(30 * scale)), 0,
                        star_mags=(15.0, 19.0), seeing_fwhm_arcsec=0.9, colours=colours)]
    notes = {"binning": f"{binning[0]}x{binning[1]}", "roi": roi,
             "detector": detector.detector,
             "twilight": "evening twilight, sky fading by 28 percent per frame",
             "gains": "slow read, low gain; per-amplifier gain, read noise, bias level and "
                      "full well from astrodata.instruments.gmos.lookup for the frame's date "
                      "(also in the extension GAIN/RDNOISE keywords and the truth)",
             "fringes": {b: detector.fringe_fractions[b] for b in bands
                         if b in detector.fringe_fractions} or None,
             "illumination": "imaging field of astrodata.instruments.gmos.lookup.imaging_field "
                             "(truth_bpm bit 64 = the GMOS illumination mask)"}
    return DatasetPlan(gmos, frames, fields, zps, notes)


#: Twilight exposure per band (s): longer in the redder bands, taken later as the sky fades.
_TWILIGHT_EXPTIME = {"g": 5.0, "r": 5.0, "i": 8.0, "z": 40.0}


def _lst_deg(site, ut) -> float:
    return local_sidereal_time_deg(ut, site)


def build_gmos_imaging(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """GMOS-S Hamamatsu 2x2: biases, r, i and z twilight flats, dithered r, i and z science.

    The z frames fringe (fringeCorrect's case on Hamamatsu); r and i do not.
    """
    return _gmos_plan(small, rng, GMOS_S_HAMAMATSU, (2, 2), "full", ("r", "i", "z"), 5, 5, 5)


def build_gmos_imaging_1x1(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """GMOS-S Hamamatsu 1x1: 3 biases, 3 r twilights, 3 r science frames."""
    return _gmos_plan(small, rng, GMOS_S_HAMAMATSU, (1, 1), "full", ("r",), 3, 3, 3)


def build_gmos_imaging_ccd2(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """GMOS-S Hamamatsu 2x2, CCD2 region of interest (4 amplifiers), r band."""
    return _gmos_plan(small, rng, GMOS_S_HAMAMATSU, (2, 2), "ccd2", ("r",), 5, 5, 5)


def build_gmos_n_e2v(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """GMOS-N e2vDD (6 amplifiers) 2x2: biases, r and i twilights, dithered science.

    The i science frames fringe (the e2vDD CCDs fringe from i band on).
    """
    return _gmos_plan(small, rng, GMOS_N_E2V, (2, 2), "full", ("r", "i"), 5, 5, 5)


DATASETS: dict[str, DatasetInfo] = {}


def _register(info: DatasetInfo) -> None:
    DATASETS[info.name] = info


_register(DatasetInfo("f2-tutorial", "F2",
                      "F2 imaging tutorial: Y 120 s dithered science, 2 s and 120 s darks, "
                      "GCAL lamp-on/off flats", build_f2_tutorial))

_register(DatasetInfo("gsaoi-tutorial", "GSAOI",
                      "GSAOI tutorial: NGC 5128 Kshort 60 s (9 on target, 7 sky), dome flats "
                      "on/off, standard 9132 in a central ROI", build_gsaoi_tutorial))
_register(DatasetInfo("niri-imaging", "NIRI",
                      "NIRI f/6 K(prime): dithered science, darks, 1 s darks for a BPM, "
                      "GCAL lamp-on/off flats", build_niri_imaging))
_register(DatasetInfo("gmos-imaging", "GMOS-S",
                      "GMOS-S Hamamatsu 2x2: biases, r/i/z twilight flats, dithered r/i/z "
                      "science (z fringes)",
                      build_gmos_imaging))
_register(DatasetInfo("gmos-imaging-1x1", "GMOS-S",
                      "GMOS-S Hamamatsu unbinned: biases, r twilights, r science",
                      build_gmos_imaging_1x1))
_register(DatasetInfo("gmos-imaging-ccd2", "GMOS-S",
                      "GMOS-S Hamamatsu 2x2 CCD2 region of interest (4 amplifiers), r band",
                      build_gmos_imaging_ccd2))
_register(DatasetInfo("gmos-n-e2v", "GMOS-N",
                      "GMOS-N e2vDD 2x2 (6 amplifiers): biases, r/i twilights, r/i science "
                      "(i fringes)",
                      build_gmos_n_e2v))
