"""Flamingos-2 lookup tables: array properties by read mode, filters, zeropoints, illumination.

Values from ``/work/shared/reference/gemini-headers.md`` section 2.4 (the
Gemini F2 tables and the F2 imaging illumination mask).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ArrayProperties",
    "ARRAY_PROPERTIES",
    "NONLINEARITY_COEFFICIENTS",
    "FULL_FRAME_SHAPE",
    "FILTER_WAVELENGTHS",
    "CENTRAL_WAVELENGTH_BY_FILTER_NM",
    "NOMINAL_ZEROPOINTS",
    "CAMERA_COMPONENT_IDS",
    "ILLUMINATION_CIRCLE",
    "illumination_circle",
]


class ArrayProperties(NamedTuple):
    """Properties of the F2 Hawaii-2 array in one read mode.

    Attributes
    ----------
    read_noise : float
        Read noise of one exposure, electrons.
    gain : float
        Electrons per ADU of a single read pair; the gain of the raw data is
        this divided by ``LNRS``, because F2 sums the reads in ADU.
    well_depth : float
        Full well, electrons.
    linear_limit : float
        Fraction of the saturation level up to which the array is linear to
        0.5% (after the non-linearity correction): the non-linear level.
    nonlinear_limit : float
        Fraction of the saturation level usable at all.
    coefficients : tuple of float
        ``(c0, c1, c2)`` of the non-linearity correction: with ``x`` the
        electrons per coadd, the linearised value is ``x (c0 + c1 x + c2 x^2)``.
    """

    read_noise: float
    gain: float
    well_depth: float
    linear_limit: float
    nonlinear_limit: float
    coefficients: tuple[float, float, float]


#: Non-linearity correction coefficients (c0, c1, c2) for electrons per coadd.
NONLINEARITY_COEFFICIENTS = (0.9999107, -4.2854848e-8, 1.0096585e-12)

#: ``read_mode()`` (``str(LNRS)``, the number of non-destructive read pairs) ->
#: array properties.
ARRAY_PROPERTIES = {
    "1": ArrayProperties(11.7, 4.44, 155400.0, 0.72, 1.0, NONLINEARITY_COEFFICIENTS),
    "4": ArrayProperties(6.0, 4.44, 155400.0, 0.72, 1.0, NONLINEARITY_COEFFICIENTS),
    "6": ArrayProperties(5.3, 4.44, 155400.0, 0.72, 1.0, NONLINEARITY_COEFFICIENTS),
    "8": ArrayProperties(5.0, 4.44, 155400.0, 0.72, 1.0, NONLINEARITY_COEFFICIENTS),
}

#: numpy shape of a raw F2 frame (the raw extension is 3-D, ``(1, 2048, 2048)``).
FULL_FRAME_SHAPE = (2048, 2048)

#: Pretty filter name -> central wavelength in micrometres.
FILTER_WAVELENGTHS = {
    "Y": 1.02,
    "J": 1.25,
    "Jlow": 1.122,
    "J-lo": 1.122,
    "JH": 1.390,
    "H": 1.631,
    "HK": 1.871,
    "K-blue": 2.060,
    "Ks": 2.157,
    "K-red": 2.310,
    "Klong": 2.200,
    "K-long": 2.200,
}

#: Filters whose header ``WAVELENG`` is wrong: the central wavelength (nm) to use.
CENTRAL_WAVELENGTH_BY_FILTER_NM = {
    "K-long_G0812": 2200.0,
    "JH_G0816": 1338.5,
    "HK_G0817": 1900.0,
}

#: Nominal zeropoints (magnitude giving 1 electron/s) by (pretty filter, camera).
NOMINAL_ZEROPOINTS = {
    ("Y", "f/16"): 26.73,
    ("J", "f/16"): 26.51,
    ("H", "f/16"): 26.75,
    ("Ks", "f/16"): 26.12,
}

#: Component ID appended to a camera name derived from ``FOCUS``/the pixel scale.
CAMERA_COMPONENT_IDS = {"f/16": "G5830"}

#: The illuminated field of a full 2048x2048 F2 image: a circle of centre
#: (x, y) = (1049.9, 1055.0) (0-based pixel centres) and radius 1054.4 px,
#: clipped by all four array edges (about 82% of the pixels are illuminated).
#: Fitted to the edge of the Gemini F2 imaging illumination mask (rms 0.3 px).
ILLUMINATION_CIRCLE = (1049.9, 1055.0, 1054.4)


def illumination_circle(shape: tuple[int, ...] = FULL_FRAME_SHAPE) -> tuple[float, float, float]:
    """The illuminated circle ``(x_centre, y_centre, radius)`` for an array shape.

    The full-frame circle is scaled to smaller (simulated or binned) arrays:
    pixel-centre coordinates map as ``(x + 0.5) * scale - 0.5``.

    Parameters
    ----------
    shape : tuple of int
        numpy shape ``(ny, nx)`` (a leading length-1 axis is ignored).

    Returns
    -------
    x_centre, y_centre, radius : float
        0-based pixel coordinates and radius in pixels of that array.

    Examples
    --------
    >>> illumination_circle((2048, 2048))
    (1049.9, 1055.0, 1054.4)
    >>> illumination_circle((1024, 1024))
    (524.7, 527.25, 527.2)
    """
    ny, nx = tuple(shape)[-2:]
    full_y, full_x = FULL_FRAME_SHAPE
    scale_x, scale_y = nx / full_x, ny / full_y
    x0, y0, radius = ILLUMINATION_CIRCLE
    return (
        round((x0 + 0.5) * scale_x - 0.5, 6),
        round((y0 + 0.5) * scale_y - 0.5, 6),
        round(radius * (scale_x + scale_y) / 2, 6),
    )
