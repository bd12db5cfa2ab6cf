"""Shared helpers of the P3 imaging-primitive tests: simulated frames calibrated with the truth.

Imported by test_photometry.py, test_register.py, test_resample.py and
test_image.py (pytest runs with ``--import-mode=importlib``, so they put this
directory on ``sys.path``). The science frames are calibrated with the
simulator's own truth (gain, dark current, flat field, bad pixels), not with
the calibration primitives, so that these tests depend only on astrodata,
gempy.sim and the primitives they test:

    electrons = (raw ADU x gain - dark x t) / flat - median sky

with the variance of Poisson + read noise and the truth BPM as DQ.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pytest

import astrodata
from astrodata.wcs import fits_header_to_gwcs
from gempy.library._wcs import SkyWCS
from gempy.sim import load_truth, make_dataset
from gempy.sim.render import MoffatPSF

#: One dataset directory per name for the whole session (generation takes seconds).
_CACHE: dict[str, tuple[str, dict]] = {}

# keywords of the length-1 third axis of raw F2 data
_THIRD_AXIS = re.compile(
    r"^((CD|PC)3_\d|(CD|PC)\d_3|(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA)3|NAXIS3|AXISLAB3)$")
# pixels whose true flat is below this are unusable
_MIN_FLAT = 0.05


@pytest.fixture(scope="session", name="imaging_sim")
def imaging_sim_fixture(tmp_path_factory):
    """Fixture ``imaging_sim``: ``imaging_sim(name)`` -> (directory, truth) of a small dataset.

    Test modules import this function (under this name) to get the fixture.
    """

    def get(name: str) -> tuple[str, dict]:
        if name not in _CACHE:
            path = make_dataset(name, tmp_path_factory.mktemp(name), small=True, seed=0)
            _CACHE[name] = (str(path), load_truth(path))
        return _CACHE[name]

    return get


def truth_calibrated(directory: str, truth: dict, name: str) -> Any:
    """One raw frame in electrons, dark-subtracted, flat-fielded and sky-subtracted (truth)."""
    raw = astrodata.open(os.path.join(directory, name))
    record = truth["files"][name]
    out = astrodata.create(raw.phu.copy())
    for index, ext in enumerate(raw):
        info = record["extensions"][index]
        flat = np.asarray(truth["flat"][index], dtype=np.float32)
        bpm = np.asarray(truth["bpm"][index], dtype=np.uint16)
        good = (bpm == 0) & (flat > _MIN_FLAT)
        electrons = np.asarray(ext.data, dtype=np.float32).reshape(ext.shape[-2:])
        electrons = electrons * np.float32(info["gain_e_per_adu"])
        electrons -= np.asarray(truth["dark"][index], dtype=np.float32) * \
            np.float32(record["total_exptime"])
        electrons = np.where(good, electrons / np.where(good, flat, 1.0), 0.0).astype(np.float32)
        variance = np.clip(electrons, 0, None) + np.float32(info["read_noise_e"] ** 2)
        variance = np.where(good, variance, variance[good].max()).astype(np.float32)
        electrons[good] -= np.float32(np.median(electrons[good]))
        header = ext.hdr.copy()
        for key in [k for k in header if _THIRD_AXIS.match(k)]:
            del header[key]
        header["WCSAXES"] = 2
        header["BUNIT"] = "electron"
        new = out.append(electrons, header=header)
        new.variance = variance
        dq = bpm.copy()
        dq[~good & (dq == 0)] = 64
        new.mask = dq
        new.wcs = fits_header_to_gwcs(header)
    out.filename = name
    return out


def science_frames(directory: str, truth: dict, count: int | None = None) -> list:
    """The truth-calibrated science frames of a dataset (the first ``count``)."""
    names = truth["roles"]["science"][:count]
    return [truth_calibrated(directory, truth, name) for name in names]


def psf_of(truth: dict, name: str, pixel_scale: float) -> MoffatPSF:
    """The simulated PSF of a frame, in pixels of the given scale (arcsec)."""
    record = truth["files"][name]
    return MoffatPSF(record["psf_fwhm_arcsec"] / pixel_scale, truth["psf"]["beta"],
                     truth["psf"]["truncation_fwhm"])


def truth_stars(truth: dict, name: str, ext: Any, margin: float = 4.0) -> dict:
    """Catalogue stars on an extension: 0-based pixel positions, total electrons, S/N.

    The S/N is that of an aperture of radius one FWHM on the frame's
    background noise (the median variance of good pixels). Only stars at
    least ``margin`` pixels inside the frame with no flagged pixel within
    1.5 FWHM of their centre (e.g. cut by the edge of the illuminated field)
    are returned.
    """
    catalog = truth["catalog"]
    stars = catalog[np.asarray(catalog["type"]) == "star"]
    record = truth["files"][name]
    x, y = SkyWCS(ext.wcs).world_to_pixel(np.asarray(stars["ra"], float),
                                          np.asarray(stars["dec"], float))
    ny, nx = ext.shape
    inside = (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)
    scale = float(np.sqrt(abs(np.linalg.det(_jacobian(ext.wcs, nx / 2, ny / 2)))))
    psf = psf_of(truth, name, scale)
    flagged = np.asarray(ext.mask) != 0
    yy, xx = np.mgrid[0:ny, 0:nx]
    for i in np.flatnonzero(inside):
        near = np.hypot(xx - x[i], yy - y[i]) <= 1.5 * psf.fwhm
        inside[i] = not flagged[near].any()
    flux = np.asarray(stars["flux_e_per_s"], float) * record["exptime"]
    enclosed = float(psf.enclosed_fraction(psf.fwhm))
    sky_variance = float(np.median(np.asarray(ext.variance)[np.asarray(ext.mask) == 0]))
    snr = flux * enclosed / np.sqrt(flux * enclosed + np.pi * psf.fwhm ** 2 * sky_variance)
    return {"x": x[inside], "y": y[inside], "flux": flux[inside], "snr": snr[inside],
            "ra": np.asarray(stars["ra"], float)[inside],
            "dec": np.asarray(stars["dec"], float)[inside], "fwhm": psf.fwhm, "psf": psf}


def _jacobian(wcs: Any, x: float, y: float) -> np.ndarray:
    """d(east, north)/d(x, y) in arcsec per pixel."""
    ra, dec = SkyWCS(wcs).pixel_to_world([x, x + 1.0, x], [y, y, y + 1.0])
    cos_dec = np.cos(np.radians(dec[0]))
    return 3600.0 * np.array([[(ra[1] - ra[0]) * cos_dec, (ra[2] - ra[0]) * cos_dec],
                              [dec[1] - dec[0], dec[2] - dec[0]]])


def centroid(data: np.ndarray, x: float, y: float, radius: float, iterations: int = 5
             ) -> tuple[float, float]:
    """Gaussian-windowed centroid (like SExtractor's XWIN) started at (x, y)."""
    sigma = radius / 2.0
    ny, nx = data.shape
    for _ in range(iterations):
        x0, x1 = int(max(np.floor(x - 2 * radius), 0)), int(min(np.ceil(x + 2 * radius) + 1, nx))
        y0, y1 = int(max(np.floor(y - 2 * radius), 0)), int(min(np.ceil(y + 2 * radius) + 1, ny))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        weight = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
        values = np.clip(data[y0:y1, x0:x1], 0, None) * weight
        total = values.sum()
        if total <= 0:
            break
        x = float(np.sum(values * xx) / total)
        y = float(np.sum(values * yy) / total)
    return x, y


def render_star_field(ad: Any, ra: np.ndarray, dec: np.ndarray, flux: np.ndarray,
                      fwhm: float, noise: float, seed: int) -> None:
    """Replace the data of every extension by stars at (ra, dec) seen through its WCS, plus noise.

    The stars are Moffat profiles (beta 3.5) of the given FWHM (pixels) with
    ``flux`` electrons each; Gaussian noise of ``noise`` electrons is added,
    the variance set to ``noise**2`` and the DQ cleared.
    """
    rng = np.random.default_rng(seed)
    psf = MoffatPSF(fwhm, 3.5, 5.0)
    reach = int(np.ceil(psf.radius)) + 1
    for ext in ad:
        ny, nx = ext.shape
        image = np.zeros((ny, nx), dtype=np.float64)
        x, y = SkyWCS(ext.wcs).world_to_pixel(ra, dec)
        for xs, ys, fs in zip(x, y, flux, strict=True):
            x0, x1 = max(int(xs) - reach, 0), min(int(xs) + reach + 1, nx)
            y0, y1 = max(int(ys) - reach, 0), min(int(ys) + reach + 1, ny)
            if x0 >= x1 or y0 >= y1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1]
            image[y0:y1, x0:x1] += fs * psf.profile(np.hypot(xx - xs, yy - ys))
        image += rng.normal(0.0, noise, image.shape)
        ext.data = image.astype(np.float32)
        ext.variance = np.full(image.shape, noise ** 2, dtype=np.float32)
        ext.mask = np.zeros(image.shape, dtype=np.uint16)
