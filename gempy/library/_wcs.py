"""Uniform pixel <-> sky access to astropy and gwcs WCS objects, and edits of their pixel frames.

The imaging library takes a WCS wherever one is needed, and both
`astropy.wcs.WCS` (built from FITS headers) and `gwcs.WCS` (what AstroData
attaches) must work. Both implement the APE 14 ``pixel_to_world_values`` /
``world_to_pixel_values`` methods, but a gwcs object returns NaN outside its
bounding box, which is wrong when a frame is grown to cover several images, so
the adapter calls gwcs without the bounding box.

All pixel coordinates are 0-based (the centre of the first pixel is 0, as in
numpy and APE 14); world coordinates are (RA, Dec) in degrees.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from astropy.modeling import Model, models

__all__ = [
    "SkyWCS",
    "pixel_scale",
    "prepend_pixel_transform",
    "shift_wcs",
]


def _values(array: Any) -> np.ndarray:
    """Strip units from a WCS output (gwcs frames may carry them)."""
    return np.asarray(getattr(array, "value", array), dtype=float)


def _is_gwcs(wcs: Any) -> bool:
    return hasattr(wcs, "forward_transform") and hasattr(wcs, "invert")


def _is_astropy_wcs(wcs: Any) -> bool:
    return hasattr(wcs, "wcs") and hasattr(wcs, "all_pix2world")


class SkyWCS:
    """Pixel <-> (RA, Dec) conversions for an astropy or a gwcs WCS.

    Parameters
    ----------
    wcs : astropy.wcs.WCS, gwcs.WCS or SkyWCS
        Any object with ``pixel_to_world_values`` and ``world_to_pixel_values``
        taking and returning two coordinates.

    Raises
    ------
    TypeError
        If ``wcs`` has no APE 14 pixel/world methods.
    """

    def __init__(self, wcs: Any):
        if isinstance(wcs, SkyWCS):
            wcs = wcs.wcs
        if not (hasattr(wcs, "pixel_to_world_values") and hasattr(wcs, "world_to_pixel_values")):
            raise TypeError(
                f"{type(wcs).__name__} is not a WCS: it has no pixel_to_world_values/"
                "world_to_pixel_values"
            )
        self.wcs = wcs
        # astropy puts the celestial axes in header order, which may be (Dec, RA)
        self._swap = False
        if _is_astropy_wcs(wcs) and wcs.has_celestial and wcs.wcs.lng == 1 and wcs.wcs.lat == 0:
            self._swap = True

    def pixel_to_world(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Sky position of 0-based pixel coordinates.

        Parameters
        ----------
        x, y : float or array_like
            0-based pixel coordinates (any shape, broadcastable).

        Returns
        -------
        ra, dec : numpy.ndarray
            World coordinates in degrees, shape of the broadcast inputs.
        """
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        if _is_gwcs(self.wcs):
            out = self.wcs(x, y, with_bounding_box=False)
        else:
            out = self.wcs.pixel_to_world_values(x, y)
        a, b = _values(out[0]), _values(out[1])
        return (b, a) if self._swap else (a, b)

    def world_to_pixel(self, ra: Any, dec: Any) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel coordinates of sky positions.

        Parameters
        ----------
        ra, dec : float or array_like
            World coordinates in degrees (any shape, broadcastable).

        Returns
        -------
        x, y : numpy.ndarray
            0-based pixel coordinates, shape of the broadcast inputs.
        """
        ra, dec = np.broadcast_arrays(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float))
        if self._swap:
            ra, dec = dec, ra
        if _is_gwcs(self.wcs):
            try:
                out = self.wcs.invert(ra, dec, with_bounding_box=False)
            except (NotImplementedError, AttributeError, TypeError, ValueError):
                # no analytical inverse and gwcs' own numerical one failed
                return self._invert_numerically(ra, dec)
        else:
            out = self.wcs.world_to_pixel_values(ra, dec)
        return _values(out[0]), _values(out[1])

    def _invert_numerically(
        self, ra: np.ndarray, dec: np.ndarray, tolerance: float = 1e-8, max_iters: int = 30
    ) -> tuple[np.ndarray, np.ndarray]:
        """Newton iterations on the forward transform, one 2x2 solve per point."""
        x = np.zeros(ra.shape)
        y = np.zeros(ra.shape)
        cos_dec = np.cos(np.radians(dec))

        def east(a, b):
            # RA difference in a local tangent plane, wrapped at RA = 0 (degrees)
            return ((a - b + 180.0) % 360.0 - 180.0) * cos_dec

        for _ in range(max_iters):
            r0, d0 = self.pixel_to_world(x, y)
            r1, d1 = self.pixel_to_world(x + 1.0, y)
            r2, d2 = self.pixel_to_world(x, y + 1.0)
            j11, j12 = east(r1, r0), east(r2, r0)
            j21, j22 = d1 - d0, d2 - d0
            e1, e2 = east(ra, r0), dec - d0
            det = j11 * j22 - j12 * j21
            dx = (j22 * e1 - j12 * e2) / det
            dy = (j11 * e2 - j21 * e1) / det
            x, y = x + dx, y + dy
            if np.all(np.hypot(dx, dy) < tolerance):
                break
        return x, y


def pixel_scale(wcs: Any, x: float, y: float) -> float:
    """Local pixel scale of a WCS, in arcsec per pixel.

    Parameters
    ----------
    wcs : astropy.wcs.WCS, gwcs.WCS or SkyWCS
    x, y : float
        0-based pixel position where the scale is measured.

    Returns
    -------
    float
        Square root of the pixel area on the sky, in arcsec.
    """
    sky = SkyWCS(wcs)
    ra, dec = sky.pixel_to_world([x, x + 1.0, x], [y, y, y + 1.0])
    cos_dec = np.cos(np.radians(dec[0]))
    # wrap RA differences so a field across RA = 0 still gives a small step
    d_ra = (np.asarray(ra[1:]) - ra[0] + 180.0) % 360.0 - 180.0
    jac = np.array([[d_ra[0] * cos_dec, d_ra[1] * cos_dec], [dec[1] - dec[0], dec[2] - dec[0]]])
    return float(np.sqrt(abs(np.linalg.det(jac))) * 3600.0)


def _affine_parts(model: Model) -> tuple[np.ndarray, np.ndarray] | None:
    """(matrix, offset) of a model that is exactly affine, else None."""
    x = np.array([0.0, 1.0, 0.0, 137.0, -53.0])
    y = np.array([0.0, 0.0, 1.0, -71.0, 211.0])
    xo, yo = model(x, y)
    xo, yo = np.asarray(xo, dtype=float), np.asarray(yo, dtype=float)
    offset = np.array([xo[0], yo[0]])
    matrix = np.array([[xo[1] - xo[0], xo[2] - xo[0]], [yo[1] - yo[0], yo[2] - yo[0]]])
    predicted = matrix @ np.vstack([x[3:], y[3:]]) + offset[:, None]
    if np.allclose(predicted, np.vstack([xo[3:], yo[3:]]), rtol=0, atol=1e-9):
        return matrix, offset
    return None


def prepend_pixel_transform(wcs: Any, model: Model) -> Any:
    """A copy of a WCS whose pixel coordinates first go through a model.

    The returned WCS gives, at pixel ``p``, the sky position that ``wcs``
    gives at ``model(p)``. This is how a registration fitted in pixel space
    (see `gempy.library.matching.fit_transform`: input pixels -> the pixel
    positions that the reference sources have in this image according to
    ``wcs``) corrects the image's WCS.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or gwcs.WCS
        The WCS to correct; it is not modified.
    model : astropy.modeling.Model
        Two inputs, two outputs, 0-based pixel coordinates.

    Returns
    -------
    astropy.wcs.WCS or gwcs.WCS
        Same type as ``wcs``. For astropy, CRPIX and the CD matrix absorb the
        (necessarily affine) model; for gwcs the model is inserted right after
        the input (pixel) frame, so any transform is allowed (it needs an
        inverse, analytical or numerical, for ``world_to_pixel``).

    Raises
    ------
    ValueError
        For an astropy WCS if the model is not affine, or if the WCS has SIP
        or lookup-table distortions and the model is more than a shift (the
        distortion is defined about CRPIX and cannot absorb a rotation).
    TypeError
        If ``wcs`` is neither kind.
    """
    if _is_gwcs(wcs):
        if not model.has_inverse():
            raise ValueError(
                f"{model.name or type(model).__name__} has no inverse, so the corrected gwcs "
                "could not map sky to pixels; attach one (model.inverse = ...)"
            )
        new = copy.deepcopy(wcs)
        try:
            bbox = wcs.bounding_box
        except (NotImplementedError, AttributeError):
            bbox = None
        # the pixel extent of the image does not change, so its bounding box is kept
        if bbox is not None:
            bbox = tuple(
                tuple(float(v) for v in interval) for interval in bbox.bounding_box(order="F")
            )
        new.insert_transform(new.input_frame, model.copy(), after=True)
        if bbox is not None:
            new.bounding_box = bbox
        return new
    if not _is_astropy_wcs(wcs):
        raise TypeError(f"cannot edit a {type(wcs).__name__}: need an astropy or gwcs WCS")
    parts = _affine_parts(model)
    if parts is None:
        raise ValueError(
            "an astropy WCS can only absorb an affine pixel transform; use a gwcs WCS "
            "for higher-order corrections"
        )
    matrix, offset = parts
    is_shift = np.allclose(matrix, np.eye(2), rtol=0, atol=1e-12)
    if any(getattr(wcs, name, None) is not None for name in ("cpdis1", "cpdis2", "det2im1")):
        raise ValueError(
            "this astropy WCS has lookup-table distortions in absolute pixel coordinates; "
            "convert it to gwcs first"
        )
    if getattr(wcs, "sip", None) is not None and not is_shift:
        raise ValueError(
            "this astropy WCS has SIP distortions, which cannot absorb a rotation or scale; "
            "convert it to gwcs first"
        )
    new = wcs.deepcopy()
    if new.wcs.naxis != 2:
        raise ValueError(f"expected a 2-axis WCS, got {new.wcs.naxis} axes")
    # world offset = CD @ (p + 1 - CRPIX) with 1-based CRPIX; substituting
    # p -> A p + t gives CD' = CD A and CRPIX' = 1 - A^-1 (t + 1 - CRPIX)
    cd = new.pixel_scale_matrix
    crpix = np.array(new.wcs.crpix, dtype=float)
    new_crpix = 1.0 - np.linalg.solve(matrix, offset + 1.0 - crpix)
    if not is_shift:
        if new.wcs.has_cd():
            new.wcs.cd = cd @ matrix
        else:
            new.wcs.pc = np.diag(1.0 / np.asarray(new.wcs.cdelt, dtype=float)) @ cd @ matrix
    new.wcs.crpix = new_crpix
    new.wcs.set()
    return new


def shift_wcs(wcs: Any, dx: float, dy: float) -> Any:
    """A copy of a WCS for an image whose content moved by (dx, dy) pixels.

    The sky position that ``wcs`` puts at pixel ``(x, y)`` is put at
    ``(x + dx, y + dy)`` by the returned WCS.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or gwcs.WCS
    dx, dy : float
        Shift in pixels.

    Returns
    -------
    astropy.wcs.WCS or gwcs.WCS
        Same type as ``wcs``; for astropy only CRPIX changes.
    """
    return prepend_pixel_transform(wcs, models.Shift(-dx) & models.Shift(-dy))
