"""Truth files written beside a simulated dataset, and reading them back.

Files (in the dataset directory):

``truth.json``
    Dataset, seed, ``small`` flag, PSF model, per-array physics, per-file
    records (role, exposure, sky/lamp/thermal/fringe electrons per pixel, offsets,
    PSF FWHM, cosmic-ray count, and per extension: gain, read noise, bias
    level, saturation, sections), and ``roles`` -> file names.
``truth_catalog.ecsv``
    One row per source: id, ra, dec, type (star/galaxy), flux_e_per_s (first
    filter), mag, fwhm_arcsec, per-filter fluxes and magnitudes, Sersic shape.
``truth_flat.fits``
    Per raw extension (same shape as the raw extension, overscan columns
    zero): the true flat field = pixel response x illumination. Extension
    headers carry DATASEC/CCDSEC/DETSEC of the layout they describe.
``truth_bpm.fits``
    Per raw extension, uint16 with DQ bits: 1 (bad_pixel: hot, cold, dead,
    dead column) and 64 (unilluminated: for GMOS the pixels outside the
    imaging field of ``astrodata.instruments.gmos.lookup``, exactly what the
    GMOS illumination mask flags; for the others, good pixels whose true
    flat is below 0.05 of the median).
``truth_dark.fits``
    Per raw extension, dark current in e-/s per (binned) pixel.
``truth_bias.fits``
    CCD datasets only: the static bias (ADU) of each amplifier, overscan included.
``truth_fringe.fits``
    Datasets whose detector fringes (GMOS) only: per raw extension, the
    dimensionless fringe pattern (unit rms over each CCD, fixed on the
    detector, overscan columns zero). A frame's fringe signal in electrons
    per binned pixel is its ``fringe_e_per_pix`` (``truth.json``, per
    unbinned pixel like ``sky_e_per_pix``; ``fringe_fraction`` = that over
    the sky) x the binned pixel area x pattern x the true flat, i.e.
    ``fringe_e_per_pix`` x area x pattern once flat-fielded. Frames that do
    not fringe (other filters, twilights, biases) have ``fringe_e_per_pix`` 0.
``truth_cosmics.ecsv``
    One row per cosmic-ray hit: file, ext, x, y (0-based start), npix, electrons.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

__all__ = ["TRUTH_DIR", "TRUTH_JSON", "write_json", "write_fits", "write_table", "load_truth",
           "DQ_BAD_PIXEL", "DQ_UNILLUMINATED"]

TRUTH_JSON = "truth.json"
TRUTH_DIR = "truth"  # sub-folder of a dataset directory holding its truth
DQ_BAD_PIXEL = 1
DQ_UNILLUMINATED = 64


def _atomic_path(path: Path):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` as sorted, indented JSON, atomically."""
    tmp = _atomic_path(path)
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_fits(path: Path, hdulist: fits.HDUList) -> None:
    """Write a FITS file atomically (temporary file in the same directory, then rename)."""
    tmp = _atomic_path(path)
    try:
        # headers are built from fixed, valid cards: skip astropy's slow re-verification
        hdulist.writeto(tmp, overwrite=True, output_verify="ignore")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(path: Path, table: Table) -> None:
    """Write an ECSV table atomically."""
    tmp = _atomic_path(path)
    try:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_truth(outdir: str | os.PathLike) -> dict:
    """Read the truth of a simulated dataset.

    Parameters
    ----------
    outdir : path
        Directory given to :func:`gempy.sim.make_dataset` (the truth is in
        its ``truth/`` sub-folder; a directory holding ``truth.json`` itself
        is accepted too).

    Returns
    -------
    dict
        The content of ``truth.json`` plus ``'catalog'`` (astropy Table of
        ``truth_catalog.ecsv``), ``'flat'``, ``'bpm'``, ``'dark'`` and, for
        CCD datasets, ``'bias'``, for fringing detectors ``'fringe'`` (lists
        of per-extension arrays), and
        ``'cosmics'`` (Table); ``'path'`` is the directory.

    Raises
    ------
    FileNotFoundError
        If ``outdir`` holds no ``truth.json``.
    """
    root = Path(outdir)
    if (root / TRUTH_DIR / TRUTH_JSON).is_file():
        root = root / TRUTH_DIR
    truth_file = root / TRUTH_JSON
    if not truth_file.is_file():
        raise FileNotFoundError(f"{truth_file}: no simulated-dataset truth here")
    truth = json.loads(truth_file.read_text())
    truth["path"] = str(root.parent if root.name == TRUTH_DIR else root)
    truth["catalog"] = Table.read(root / truth["catalog_file"], format="ascii.ecsv")
    for key in ("flat", "bpm", "dark", "bias", "fringe"):
        name = truth.get(f"{key}_file")
        if name:
            with fits.open(root / name) as hdul:
                truth[key] = [np.array(h.data) for h in hdul[1:]]
    truth["cosmics"] = Table.read(root / truth["cosmics_file"], format="ascii.ecsv")
    return truth


def extension_hdus(arrays: list[np.ndarray], headers: list[dict], extname: str,
                   comment: str) -> fits.HDUList:
    """HDUList of per-extension truth images with their section keywords."""
    phu = fits.PrimaryHDU()
    phu.header["COMMENT"] = comment
    hdus = [phu]
    for i, (data, cards) in enumerate(zip(arrays, headers, strict=True)):
        hdu = fits.ImageHDU(data=data, name=extname)
        hdu.header["EXTVER"] = i + 1
        for key, value in cards.items():
            hdu.header[key] = value
        hdus.append(hdu)
    return fits.HDUList(hdus)
