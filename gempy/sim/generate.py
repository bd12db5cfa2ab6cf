"""Generation of a named dataset: catalogue, static detector maps, every raw file, the truth."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np
from astropy.table import Table

from .catalog import make_catalog
from .datasets import DATASETS, DatasetPlan
from .detector import make_array_maps
from .exposure import binned_window, flat_response, simulate_frame
from .instruments.base import SCALE_SMALL
from .truth import (
    DQ_BAD_PIXEL,
    DQ_UNILLUMINATED,
    TRUTH_DIR,
    TRUTH_JSON,
    extension_hdus,
    write_fits,
    write_json,
    write_table,
)

__all__ = ["make_dataset", "SIM_VERSION"]

SIM_VERSION = "2"  # 2: GMOS numbers from astrodata's lookup, fringes, illumination geometry


def _rng(seed: int, name: str, *stream: int) -> np.random.Generator:
    """Random stream for (seed, dataset, purpose...), independent of generation order."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), *stream])


def _check_outdir(outdir: Path, name: str) -> None:
    previous = outdir / TRUTH_DIR / TRUTH_JSON
    if previous.is_file():
        try:
            held = json.loads(previous.read_text()).get("dataset")
        except (OSError, ValueError):
            held = None
        if held != name:
            raise ValueError(f"{outdir}: already holds simulated dataset {held!r}; "
                             f"use an empty directory for {name!r}")


def make_dataset(name: str, outdir: str | os.PathLike, small: bool = False,
                 seed: int = 0) -> Path:
    """Write the raw files of a named dataset and its truth into ``outdir``.

    Parameters
    ----------
    name : str
        A key of :data:`gempy.sim.DATASETS` (``'f2-tutorial'``, ...).
    outdir : path
        Directory to write into (created if needed). It may already hold the
        same dataset (files are regenerated), not another one.
    small : bool
        Shrink the detectors (8x per axis) for fast tests; the header layout
        stays consistent and the truth says ``"small": true``.
    seed : int
        Seed of every random stream; the same seed gives byte-identical files.

    Returns
    -------
    pathlib.Path
        ``outdir``.

    Raises
    ------
    ValueError
        Unknown dataset name, or ``outdir`` holds another dataset.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown simulated dataset {name!r}; choose one of "
                         f"{', '.join(sorted(DATASETS))}")
    root = Path(outdir)
    root.mkdir(parents=True, exist_ok=True)
    _check_outdir(root, name)
    plan: DatasetPlan = DATASETS[name].build(small, _rng(seed, name, 1))
    inst = plan.instrument
    catalog = make_catalog(_rng(seed, name, 2), plan.fields, plan.zeropoints)
    binnings = {inst.binning(f) for f in plan.frames}
    if len(binnings) != 1:
        raise ValueError(f"{name}: frames with different binnings {sorted(binnings)}")
    binning = binnings.pop()
    maps = []
    for index, placement in enumerate(inst.arrays):
        ny, nx = placement.shape
        maps.append(make_array_maps(_rng(seed, name, 3, index), inst.physics(index),
                                    (ny // binning[1], nx // binning[0]), binning))
    inst.prepare_static(_rng(seed, name, 4), plan.frames)
    inst.prepare_fringes(seed)
    files: dict[str, dict] = {}
    roles: dict[str, list[str]] = {}
    cosmic_rows = []
    flat_cache: dict = {}
    for spec in plan.frames:
        hdulist, record = simulate_frame(inst, spec, catalog, maps,
                                         _rng(seed, name, 5, spec.stream_key), flat_cache)
        write_fits(root / spec.filename, hdulist)
        record["file"]["role"] = spec.role
        record["file"]["seed"] = [int(seed), zlib.crc32(name.encode()), 5, spec.stream_key]
        files[spec.filename] = record["file"]
        roles.setdefault(spec.role, []).append(spec.filename)
        cosmic_rows.extend(record["cosmics"])
    reference = next((f for f in plan.frames if f.role == "science"), plan.frames[0])
    # the truth sits in its own folder so that `playdata/*.fits` globs match raw files only
    troot = root / TRUTH_DIR
    troot.mkdir(exist_ok=True)
    has_fringes = _write_truth_images(troot, inst, reference, maps)
    arrays = [_array_truth(inst, i) for i in range(len(inst.arrays))]
    for entry in arrays:
        # electronics of the array as read for the science frames (first amplifier)
        ext = next((e for e in files[reference.filename]["extensions"]
                    if e["array"] == entry["name"]), None)
        if ext is not None:   # arrays outside a region of interest are not read
            entry.update({key: ext[key] for key in ("gain_e_per_adu", "read_noise_e",
                                                     "bias_level_adu")})
    write_table(troot / "truth_catalog.ecsv", catalog.to_table())
    cosmics = Table(rows=cosmic_rows or None,
                    names=("file", "ext", "x", "y", "npix", "electrons"),
                    dtype=(str, int, int, int, int, float))
    write_table(troot / "truth_cosmics.ecsv", cosmics)
    truth = {
        "dataset": name, "instrument": inst.name, "seed": int(seed), "small": bool(small),
        "small_factor": SCALE_SMALL if small else 1, "sim_version": SIM_VERSION,
        "pixel_scale_arcsec": inst.pixel_scale, "binning": list(binning),
        "psf": {"model": "moffat", "beta": inst.psf_beta, "truncation_fwhm": 5.0},
        "zeropoints": plan.zeropoints,
        "arrays": arrays,
        "files": files, "roles": roles, "notes": plan.notes,
        "reference_layout_file": reference.filename,
        "catalog_file": "truth_catalog.ecsv", "flat_file": "truth_flat.fits",
        "bpm_file": "truth_bpm.fits", "dark_file": "truth_dark.fits",
        "bias_file": "truth_bias.fits" if inst.is_ccd else None,
        "fringe_file": "truth_fringe.fits" if has_fringes else None,
        "cosmics_file": "truth_cosmics.ecsv",
    }
    write_json(troot / TRUTH_JSON, truth)
    return root


def _array_truth(inst, index: int) -> dict:
    physics = inst.physics(index)
    placement = inst.arrays[index]
    return {"name": placement.name, "shape": list(placement.shape),
            "focal_plane_centre": list(placement.centre), "rotation_deg": placement.rotation_deg,
            "dark_current_e_per_s": physics.dark_current, "well_depth_e": physics.well_depth,
            "linearity_coeffs": list(physics.linearity) if physics.linearity else None,
            "qe": physics.qe, "response_rms": physics.response_rms}


def _write_truth_images(root: Path, inst, reference, maps) -> bool:
    """Write the truth images of the reference layout; True if a fringe image was written."""
    flats, bpms, darks, biases, fringes, headers = [], [], [], [], [], []
    for readout in inst.readouts(reference):
        placement = inst.arrays[readout.array]
        data_sl = readout.data_slice
        flat = np.zeros(readout.raw_shape, np.float32)
        flat[data_sl] = flat_response(inst, readout, maps[readout.array])
        window = binned_window(readout)
        bpm = np.zeros(readout.raw_shape, np.uint16)
        bpm[data_sl] = maps[readout.array].bpm[window]
        flats.append(flat)
        bpms.append(bpm)
        dark = np.zeros(readout.raw_shape, np.float32)
        dark[data_sl] = maps[readout.array].dark[window]
        darks.append(dark)
        if inst.is_ccd:
            biases.append(inst.static_bias(readout).astype(np.float32))
        pattern = inst.fringe_pattern(readout)
        if pattern is not None:
            fringe = np.zeros(readout.raw_shape, np.float32)
            fringe[data_sl] = pattern
            fringes.append(fringe)
        headers.append({"ARRAYID": placement.name, "DATASEC": readout.datasec(),
                        "CCDSEC": readout.ccdsec(), "DETSEC": readout.detsec(placement)})
    illuminated = [f[readout.data_slice] for f, readout in zip(flats, inst.readouts(reference),
                                                               strict=True)]
    level = float(np.median(np.concatenate([f[f > 0.2].ravel() for f in illuminated])))
    for flat, bpm, readout in zip(flats, bpms, inst.readouts(reference), strict=True):
        dark_region = np.zeros(readout.raw_shape, bool)
        geometric = inst.unilluminated(readout)
        if geometric is not None:
            # the instrument's illumination geometry: exactly what its masks flag
            dark_region[readout.data_slice] = geometric
            bpm[dark_region] |= DQ_UNILLUMINATED
            continue
        dark_region[readout.data_slice] = flat[readout.data_slice] < 0.05 * level
        bpm[dark_region & (bpm & DQ_BAD_PIXEL == 0)] |= DQ_UNILLUMINATED
    write_fits(root / "truth_flat.fits", extension_hdus(
        flats, headers, "RESPONSE", "True flat field: pixel response x illumination"))
    write_fits(root / "truth_bpm.fits", extension_hdus(
        bpms, headers, "DQ", "True bad pixels (1) and unilluminated pixels (64)"))
    write_fits(root / "truth_dark.fits", extension_hdus(
        darks, headers, "DARK", "Dark current, e-/s per pixel"))
    if inst.is_ccd:
        write_fits(root / "truth_bias.fits", extension_hdus(
            biases, headers, "BIAS", "Static bias (ADU) of each amplifier"))
    if fringes:
        write_fits(root / "truth_fringe.fits", extension_hdus(
            fringes, headers, "FRINGE", "Fringe pattern, unit rms per CCD; frame fringe = "
            "fringe_e_per_pix x binned area x pattern x true flat"))
    return bool(fringes)
