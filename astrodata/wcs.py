"""Conversions between FITS WCS header keywords and gWCS objects.

Reading: :func:`fits_header_to_gwcs` builds a gWCS (pixel frame -> celestial
frame) from the CRPIX/CRVAL/CD (or PC+CDELT)/CTYPE keywords of an extension.
Distortion keywords (SIP, TPV) are not modelled.

Writing: :func:`gwcs_to_fits` expresses a gWCS as FITS keywords. Any gWCS
whose pixel -> sky transform is an affine map followed by one zenithal or
other standard projection and a sky rotation (what the header gave, plus
any shifts, scalings, rotations added by registration or slicing) is
represented exactly: the CD matrix and CRPIX are fitted to the transform on a
grid of pixels and the fit is checked to be exact. Anything else is written
as the best such approximation, with ``FITS-WCS = 'APPROXIMATE'``; astroreduce
does not store gWCS objects as ASDF.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = ["fits_header_to_gwcs", "gwcs_to_fits", "WCS_KEYWORD_PATTERN", "wcs_fingerprint"]

log = logging.getLogger("astrodata")

#: Keywords describing a (primary, unlettered) celestial FITS WCS.
WCS_KEYWORD_PATTERN = re.compile(
    r"^(CRPIX\d|CRVAL\d|CTYPE\d|CUNIT\d|CDELT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|LONPOLE|LATPOLE"
    r"|WCSAXES|RADESYS|RADECSYS|EQUINOX|FITS-WCS|A_ORDER|B_ORDER|AP_ORDER|BP_ORDER"
    r"|A_\d+_\d+|B_\d+_\d+|AP_\d+_\d+|BP_\d+_\d+|A_DMAX|B_DMAX)$"
)


def fits_header_to_gwcs(header: fits.Header) -> Any:
    """Build a gWCS from the FITS WCS keywords of a header.

    Returns None (and logs why at DEBUG level) when the header has no usable
    WCS; a malformed WCS is logged as a warning and also gives None.
    """
    if "CTYPE1" not in header and "CRPIX1" not in header:
        return None
    try:
        import gwcs
        from astropy import coordinates
        from astropy import units as u
        from gwcs import coordinate_frames as cf
        from gwcs.utils import get_axes, make_fitswcs_transform, read_wcs_from_header

        wcs_header = header.copy()
        if "CTYPE1" not in wcs_header:
            wcs_header["CTYPE1"] = ""
            wcs_header["CTYPE2"] = ""
        info = read_wcs_from_header(wcs_header)
        if info["WCSAXES"] != 2:
            # Only the 2 celestial/image axes are modelled (F2 raw data are 3-D).
            info = _two_axes(info)
        transform = make_fitswcs_transform(info)
        sky_axes, _, _ = get_axes(info)
        pixel_frame = cf.Frame2D(name="pixels")
        if len(sky_axes) == 2:
            radesys = str(info.get("RADESYS") or "ICRS").strip().upper()
            if radesys == "FK5":
                equinox = info.get("EQUINOX") or 2000.0
                ref = coordinates.FK5(equinox=f"J{float(equinox)}")
            elif radesys == "FK4":
                ref = coordinates.FK4()
            else:
                ref = coordinates.ICRS()
            world = cf.CelestialFrame(reference_frame=ref, unit=(u.deg, u.deg), name="world")
        else:
            world = cf.Frame2D(name="world")
        return gwcs.WCS([(pixel_frame, transform), (world, None)])
    except Exception as err:  # a bad WCS must not stop the file from opening
        log.warning("cannot build a WCS from the header (%s: %s)", type(err).__name__, err)
        return None


def _two_axes(info: dict) -> dict:
    """Restrict a read_wcs_from_header dict to its first two axes."""
    new = dict(info)
    new["WCSAXES"] = 2
    for key in ("CTYPE", "CUNIT", "CRPIX", "CRVAL", "CDELT"):
        new[key] = list(info[key])[:2]
    new["PC"] = np.asarray(info["PC"])[:2, :2]
    return new


def _sample_grid(shape: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    if shape and len(shape) >= 2:
        ny, nx = shape[-2], shape[-1]
    else:
        ny = nx = 1000
    xs = np.linspace(0, max(nx - 1, 1), 5)
    ys = np.linspace(0, max(ny - 1, 1), 5)
    x, y = np.meshgrid(xs, ys)
    return x.ravel(), y.ravel()


def wcs_fingerprint(wcs: Any, shape: tuple[int, ...] | None) -> np.ndarray | None:
    """World coordinates of a few pixels: equal fingerprints mean an unchanged WCS."""
    if wcs is None:
        return None
    x, y = _sample_grid(shape)
    try:
        world = wcs.forward_transform(x, y)
    except Exception:
        return None
    return np.array(world, dtype=float)


def gwcs_to_fits(wcs: Any, shape: tuple[int, ...] | None) -> tuple[dict[str, Any], bool]:
    """FITS WCS keywords for a 2-D celestial gWCS.

    Parameters
    ----------
    wcs : gwcs.WCS
    shape : tuple of int
        Data shape; the fit is done on a grid covering it.

    Returns
    -------
    keywords : dict
        ``{keyword: (value, comment)}``; empty if the WCS is not celestial.
    exact : bool
        True if the keywords reproduce the gWCS to within 1e-6 pixel.
    """
    from astropy.modeling import models
    from astropy.modeling.projections import Pix2SkyProjection
    from gwcs import coordinate_frames as cf

    out_frame = wcs.output_frame
    if not isinstance(out_frame, cf.CelestialFrame):
        return {}, False
    transform = wcs.forward_transform
    if transform.n_inputs != 2 or transform.n_outputs != 2:
        return {}, False
    leaves = [m for m in transform.traverse_postorder() if not hasattr(m, "op")]
    rotations = [m for m in leaves if isinstance(m, models.RotateNative2Celestial)]
    projections = [m for m in leaves if isinstance(m, Pix2SkyProjection)]
    structural = len(rotations) == 1 and len(projections) == 1
    x, y = _sample_grid(shape)
    lon, lat = transform(x, y)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if structural:
        rot = rotations[0]
        crval = (float(rot.lon.value), float(rot.lat.value))
        lon_pole = float(rot.lon_pole.value)
        proj = projections[0]
    else:
        cx, cy = x.mean(), y.mean()
        clon, clat = transform(cx, cy)
        crval = (float(clon), float(clat))
        lon_pole = 180.0
        proj = models.Pix2Sky_TAN()
    to_plane = models.RotateCelestial2Native(crval[0], crval[1], lon_pole) | proj.inverse
    u_, v_ = to_plane(lon, lat)
    design = np.column_stack([x, y, np.ones_like(x)])
    coef_u, *_ = np.linalg.lstsq(design, u_, rcond=None)
    coef_v, *_ = np.linalg.lstsq(design, v_, rcond=None)
    cd = np.array([[coef_u[0], coef_u[1]], [coef_v[0], coef_v[1]]])
    det = np.linalg.det(cd)
    if not np.isfinite(det) or det == 0:
        return {}, False
    residual = max(
        np.max(np.abs(design @ coef_u - u_)), np.max(np.abs(design @ coef_v - v_))
    )
    pixel_scale = np.sqrt(abs(det))
    exact = structural and residual <= 1e-6 * pixel_scale
    crpix0 = -np.linalg.solve(cd, np.array([coef_u[2], coef_v[2]]))
    code = proj.prj_code
    frame_name = type(out_frame.reference_frame).__name__.upper()
    keywords: dict[str, Any] = {
        "CTYPE1": (f"RA---{code}", "R.A. in a projection"),
        "CTYPE2": (f"DEC--{code}", "Declination in a projection"),
        "CRPIX1": (float(crpix0[0] + 1), "Reference pixel along axis 1"),
        "CRPIX2": (float(crpix0[1] + 1), "Reference pixel along axis 2"),
        "CRVAL1": (crval[0], "RA at the reference pixel [deg]"),
        "CRVAL2": (crval[1], "Dec at the reference pixel [deg]"),
        "CUNIT1": ("deg", "Unit of CRVAL1 and CD1_*"),
        "CUNIT2": ("deg", "Unit of CRVAL2 and CD2_*"),
        "CD1_1": (float(cd[0, 0]), "WCS matrix element 1 1"),
        "CD1_2": (float(cd[0, 1]), "WCS matrix element 1 2"),
        "CD2_1": (float(cd[1, 0]), "WCS matrix element 2 1"),
        "CD2_2": (float(cd[1, 1]), "WCS matrix element 2 2"),
        "RADESYS": (frame_name if frame_name in ("ICRS", "FK5", "FK4") else "ICRS",
                    "Celestial reference frame"),
    }
    if frame_name == "FK5":
        keywords["EQUINOX"] = (float(out_frame.reference_frame.equinox.jyear), "Equinox")
    if lon_pole != 180.0:
        keywords["LONPOLE"] = (lon_pole, "Native longitude of the celestial pole")
    if not exact:
        keywords["FITS-WCS"] = ("APPROXIMATE", "FITS WCS is an approximation of the gWCS")
        log.warning(
            "the WCS cannot be written exactly as FITS keywords; writing an approximation "
            "(largest error %.3g pixel)", residual / pixel_scale if pixel_scale else np.inf
        )
    return keywords, exact


def update_header_wcs(header: fits.Header, keywords: dict[str, Any]) -> None:
    """Replace the WCS keywords of ``header`` by ``keywords`` (from :func:`gwcs_to_fits`)."""
    for key in [k for k in header if WCS_KEYWORD_PATTERN.match(k)]:
        del header[key]
    for key, (value, comment) in keywords.items():
        header[key] = (value, comment)
