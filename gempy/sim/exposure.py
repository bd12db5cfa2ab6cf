"""Simulate one raw exposure: sky and fringes, sources, flat, dark, noise, cosmic rays, readout."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from .catalog import SourceCatalog
from .detector import ArrayMaps, add_cosmic_rays, poisson_electrons
from .headers import frame_pointing, wcs_cards
from .instruments.base import InstrumentModel
from .layout import Readout, affine_to_focal_plane, readout_wcs
from .observation import FrameSpec
from .pointing import cd_matrix, tan_world_to_pixel
from .render import MoffatPSF, render_sources

__all__ = ["ExtensionTruth", "simulate_frame", "flat_response", "binned_window"]


@dataclass
class ExtensionTruth:
    """Truth of one extension of one frame."""

    array: str
    gain: float
    read_noise: float
    bias_level: float
    saturation_adu: float
    datasec: str
    ccdsec: str
    detsec: str
    extra: dict

    def as_dict(self) -> dict:
        out = {"array": self.array, "gain_e_per_adu": self.gain, "read_noise_e": self.read_noise,
               "bias_level_adu": self.bias_level, "saturation_adu": self.saturation_adu,
               "datasec": self.datasec, "ccdsec": self.ccdsec, "detsec": self.detsec}
        out.update(self.extra)
        return out


def binned_window(readout: Readout) -> tuple[slice, slice]:
    """Slice of the readout's data in its array's binned static maps."""
    x0, x1, y0, y1 = readout.window
    xb, yb = readout.binning
    return slice(y0 // yb, y1 // yb), slice(x0 // xb, x1 // xb)


def flat_response(instrument: InstrumentModel, readout: Readout, maps: ArrayMaps) -> np.ndarray:
    """True flat field of a readout's data section: pixel response times illumination."""
    placement = instrument.arrays[readout.array]
    matrix, vector = affine_to_focal_plane(placement, readout)
    ny, nx = readout.data_shape
    py, px = np.mgrid[0:ny, 0:nx].astype(np.float64)
    fx = matrix[0, 0] * px + matrix[0, 1] * py + vector[0]
    fy = matrix[1, 0] * px + matrix[1, 1] * py + vector[1]
    xb, yb = readout.binning
    ux = readout.window[0] + xb * px + (xb - 1) / 2.0
    uy = readout.window[2] + yb * py + (yb - 1) / 2.0
    illum = instrument.illumination(fx, fy) * instrument.array_illumination(readout.array, ux, uy)
    return (maps.response[binned_window(readout)] * illum).astype(np.float32)


def _wcs_values(cards) -> tuple[tuple[float, float], tuple[float, float], np.ndarray]:
    """CRPIX, CRVAL and CD back from the (rounded) header cards, so pixels follow the header."""
    v = {key: value for key, value, _ in cards}
    cd = np.array([[v["CD1_1"], v["CD1_2"]], [v["CD2_1"], v["CD2_2"]]])
    return (v["CRPIX1"], v["CRPIX2"]), (v["CRVAL1"], v["CRVAL2"]), cd


def _galaxy_angles(cd: np.ndarray, pa_deg: np.ndarray) -> np.ndarray:
    """Major-axis angle from +x (radians, counter-clockwise) for sky PAs east of north."""
    pa = np.radians(pa_deg)
    inv = np.linalg.inv(cd)
    east, north = np.sin(pa), np.cos(pa)
    vx = inv[0, 0] * east + inv[0, 1] * north
    vy = inv[1, 0] * east + inv[1, 1] * north
    return np.arctan2(vy, vx)


def simulate_frame(instrument: InstrumentModel, spec: FrameSpec, catalog: SourceCatalog | None,
                   maps: list[ArrayMaps], rng: np.random.Generator,
                   flat_cache: dict | None = None) -> tuple[fits.HDUList, dict]:
    """Make the HDUList of one raw frame and its truth record.

    Parameters
    ----------
    instrument : InstrumentModel
    spec : FrameSpec
    catalog : SourceCatalog or None
        Sources; only drawn on sidereal frames taken through a filter in it.
    maps : list of ArrayMaps
        Static maps of every array (at the frame's binning).
    rng : numpy.random.Generator
        This frame's own random stream.
    flat_cache : dict, optional
        Flat fields already computed, by readout (they are static).
    """
    flat_cache = {} if flat_cache is None else flat_cache
    pointing = frame_pointing(spec)
    phu = instrument.primary_header(spec, pointing)
    hdus = [fits.PrimaryHDU(header=phu)]
    focal_cd = cd_matrix(instrument.family, spec.pa, instrument.pixel_scale)
    crval = pointing.centre
    t = spec.total_exptime
    draw_sources = (catalog is not None and spec.pointing == "sidereal"
                    and spec.filter_band in catalog.flux)
    fringe_fraction = instrument.fringe_fraction(spec)
    psfs: dict[int, MoffatPSF] = {}
    ext_truth = []
    n_cosmics = 0
    cosmic_rows = []
    for index, readout in enumerate(instrument.readouts(spec)):
        placement = instrument.arrays[readout.array]
        crpix, cd = readout_wcs(placement, readout, crval, instrument.focal_crpix0(), focal_cd)
        cards = wcs_cards(crpix, crval, cd)
        crpix_h, crval_h, cd_h = _wcs_values(cards)
        xb, yb = readout.binning
        area = xb * yb
        shape = readout.data_shape
        rate = np.zeros(shape, np.float32)
        if draw_sources:
            crpix0 = (crpix_h[0] - 1.0 - readout.data_x0, crpix_h[1] - 1.0)
            x, y = tan_world_to_pixel(catalog.ra, catalog.dec, crval_h, crpix0, cd_h)
            scale = instrument.pixel_scale * math.sqrt(area)
            psf = psfs.setdefault(area, MoffatPSF(spec.psf_fwhm / scale, instrument.psf_beta))
            is_star = catalog.kind == "star"
            rate = render_sources(shape, x, y, catalog.flux[spec.filter_band], is_star,
                                  catalog.r_eff_arcsec / scale, catalog.sersic_n,
                                  catalog.axis_ratio, _galaxy_angles(cd_h, catalog.pa_deg), psf)
        if readout not in flat_cache:
            flat_cache[readout] = flat_response(instrument, readout, maps[readout.array])
        flat = flat_cache[readout]
        diffuse = (spec.sky_rate + spec.lamp_rate + spec.thermal_rate) * area
        light = rate + np.float32(diffuse)
        pattern = instrument.fringe_pattern(readout) if fringe_fraction else None
        if pattern is not None:
            # the emission-line part of the sky ripples with the CCD thickness; the ripple
            # is light, so it passes through the flat (illumination and pixel response)
            light = light + np.float32(fringe_fraction * spec.sky_rate * area) * pattern
        mean = (light * flat + maps[readout.array].dark[binned_window(readout)]) * np.float32(t)
        electrons = poisson_electrons(rng, mean)
        physics = instrument.physics(readout.array)
        hits = add_cosmic_rays(rng, electrons, physics, t, readout.binning)
        n_cosmics += len(hits)
        for row in hits:
            cosmic_rows.append((spec.filename, index + 1, *row))
        data, extra = instrument.digitize(rng, readout, spec, electrons, maps[readout.array])
        header = instrument.extension_header(index, readout, spec, cards)
        hdus.append(fits.ImageHDU(data=data, header=header))
        gain, read_noise = instrument.electronics(readout, spec)
        ext_truth.append(ExtensionTruth(
            array=placement.name, gain=gain, read_noise=read_noise,
            bias_level=extra.pop("bias_level", instrument.bias_level(readout)),
            saturation_adu=instrument.saturation_adu(readout, spec), datasec=readout.datasec(),
            ccdsec=readout.ccdsec(), detsec=readout.detsec(placement), extra=extra).as_dict())
    truth = {
        "ut_start": spec.ut_start.isoformat(), "exptime": spec.exptime, "coadds": spec.coadds,
        "total_exptime": t, "object": spec.object_name, "obstype": spec.obstype,
        "obsclass": spec.obsclass, "filter": spec.filter_band,
        "sky_rate_e_per_s": spec.sky_rate, "sky_e_per_pix": spec.sky_rate * t,
        "lamp_e_per_pix": spec.lamp_rate * t, "thermal_e_per_pix": spec.thermal_rate * t,
        "fringe_fraction": round(fringe_fraction, 6),
        "fringe_e_per_pix": round(fringe_fraction * spec.sky_rate * t, 4),
        "psf_fwhm_arcsec": spec.psf_fwhm, "pa": spec.pa, "pointing": spec.pointing,
        "base_radec": list(pointing.base), "centre_radec": list(crval),
        "offsets_arcsec": {key.lower(): phu[key] for key in
                           ("RAOFFSET", "DECOFFSE", "POFFSET", "QOFFSET", "XOFFSET", "YOFFSET")},
        "stream_key": spec.stream_key, "cosmic_rays": n_cosmics, "anomaly": spec.anomaly,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.config.items()},
        "extensions": ext_truth,
    }
    return fits.HDUList(hdus), {"file": truth, "cosmics": cosmic_rows}
