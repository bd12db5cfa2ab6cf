"""Telescope pointing: offset keywords (P/Q, X/Y, RA/Dec) and the sky-to-focal-plane WCS.

Conventions (the reference's section 1.6, checked against a real GMOS-S header):

- ``RAOFFSET``/``DECOFFSE`` are the on-sky offsets (arcsec, east and north)
  of the pointing from the base position given by the PHU ``RA``/``DEC``;
  every extension's ``CRVAL`` moves with them.
- ``(POFFSET, QOFFSET) = R(PA) (dRA, dDec)`` and
  ``(XOFFSET, YOFFSET) = -R(PA - IAA) (dRA, dDec)``, where ``R(a)`` is the
  counter-clockwise rotation by ``a`` degrees.
- The CD matrix of each instrument is chosen so that its
  ``detector_x_offset``/``detector_y_offset`` descriptors (built from P and Q
  as the reference tabulates) are exactly the pixel shift of a fixed star
  between the base position and the offset one. ``CD = -(scale/3600) R(-PA)
  A^-1`` with ``A`` the instrument's P/Q-to-detector matrix: F2 ``-[[0,1],[1,0]]``
  (the image is turned so that ``position_angle = PA + 90``), GMOS identity
  (``PA + 180``: a mirrored image, north down at PA 0), GSAOI and NIRI
  ``diag(1, -1)`` (north up, east left at PA 0).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["rotation", "offset_keywords", "cd_matrix", "DETECTOR_AXES", "tan_world_to_pixel",
           "tan_pixel_to_world", "shift_pointing"]

# P/Q (arcsec) -> detector pixel shift (times pixel scale), per instrument, for INPORT != 1.
DETECTOR_AXES = {
    "F2": np.array([[0.0, -1.0], [-1.0, 0.0]]),
    "GMOS": np.array([[1.0, 0.0], [0.0, 1.0]]),
    "GSAOI": np.array([[1.0, 0.0], [0.0, -1.0]]),
    "NIRI": np.array([[1.0, 0.0], [0.0, -1.0]]),
}


def rotation(angle_deg: float) -> np.ndarray:
    """Counter-clockwise rotation matrix by ``angle_deg``."""
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def offset_keywords(dra: float, ddec: float, pa: float, iaa: float) -> dict[str, float]:
    """Header offset keywords for an on-sky offset (``dra``, ``ddec``) in arcsec.

    Returns
    -------
    dict
        ``RAOFFSET, DECOFFSE, POFFSET, QOFFSET, XOFFSET, YOFFSET`` (arcsec).
    """
    sky = np.array([dra, ddec])
    p, q = rotation(pa) @ sky
    x, y = -(rotation(pa - iaa) @ sky)
    return {"RAOFFSET": float(dra), "DECOFFSE": float(ddec), "POFFSET": float(p),
            "QOFFSET": float(q), "XOFFSET": float(x), "YOFFSET": float(y)}


def cd_matrix(instrument: str, pa: float, pixel_scale: float) -> np.ndarray:
    """CD matrix (degrees per unbinned pixel) of ``instrument`` at position angle ``pa``."""
    axes = DETECTOR_AXES[instrument]
    return -(pixel_scale / 3600.0) * rotation(-pa) @ np.linalg.inv(axes)


def shift_pointing(ra: float, dec: float, dra: float, ddec: float) -> tuple[float, float]:
    """Pointing after an offset, as Gemini writes it: ``RA + dRA/cos(Dec)``, ``Dec + dDec``."""
    return ra + dra / (3600.0 * math.cos(math.radians(dec))), dec + ddec / 3600.0


def tan_world_to_pixel(ra: np.ndarray, dec: np.ndarray, crval: tuple[float, float],
                       crpix0: tuple[float, float],
                       cd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic projection of sky positions to 0-based pixel coordinates.

    ``crpix0`` is the 0-based reference pixel (FITS CRPIX minus one). Matches
    a FITS ``RA---TAN``/``DEC--TAN`` header with the same CD matrix.
    """
    a0, d0 = np.radians(crval[0]), np.radians(crval[1])
    a, d = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    xi = np.cos(d) * np.sin(a - a0) / cos_c
    eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c
    inv = np.linalg.inv(cd)
    xi_deg, eta_deg = np.degrees(xi), np.degrees(eta)
    x = inv[0, 0] * xi_deg + inv[0, 1] * eta_deg + crpix0[0]
    y = inv[1, 0] * xi_deg + inv[1, 1] * eta_deg + crpix0[1]
    return x, y


def tan_pixel_to_world(x: np.ndarray, y: np.ndarray, crval: tuple[float, float],
                       crpix0: tuple[float, float],
                       cd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`tan_world_to_pixel` (degrees)."""
    dx, dy = np.asarray(x, float) - crpix0[0], np.asarray(y, float) - crpix0[1]
    xi = np.radians(cd[0, 0] * dx + cd[0, 1] * dy)
    eta = np.radians(cd[1, 0] * dx + cd[1, 1] * dy)
    a0, d0 = np.radians(crval[0]), np.radians(crval[1])
    denom = np.cos(d0) - eta * np.sin(d0)
    a = a0 + np.arctan2(xi, denom)
    d = np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, denom))
    return np.degrees(a) % 360.0, np.degrees(d)
