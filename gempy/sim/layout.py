"""Detector layouts: where each array sits in the focal plane and how each raw extension reads it.

Coordinates are 0-based pixel centres. The *focal plane* is a frame of
unbinned pixels in which the truth WCS of a pointing is defined (for
multi-array instruments it is the mosaic frame of the reference's geometry
tables). A physical array maps into it by

    f = R(rotation) (u - centre_on_array) + centre_in_focal_plane,

with ``u`` the unbinned array pixel and ``R`` the counter-clockwise
rotation. A raw extension (:class:`Readout`) reads a window of one array,
possibly binned, possibly with overscan columns on one side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pointing import rotation

__all__ = ["ArrayPlacement", "Readout", "iraf_section", "affine_to_focal_plane",
           "readout_wcs"]


def iraf_section(x0: int, x1: int, y0: int, y1: int) -> str:
    """1-based inclusive IRAF section string of the 0-based half-open box (x0:x1, y0:y1)."""
    return f"[{x0 + 1}:{x1},{y0 + 1}:{y1}]"


@dataclass(frozen=True)
class ArrayPlacement:
    """One physical detector array in the focal plane.

    Attributes
    ----------
    name : str
        Array identifier (``ARRAYID``/``CCDNAME``).
    shape : tuple of int
        Unbinned (ny, nx).
    centre : tuple of float
        Focal-plane position (x, y) of the array centre, unbinned pixels.
    rotation_deg : float
        Counter-clockwise rotation of the array axes in the focal plane.
    detsec_origin : tuple of int
        (x0, y0) of the array in the instrument's nominal ``DETSEC`` frame.
    """

    name: str
    shape: tuple[int, int]
    centre: tuple[float, float]
    rotation_deg: float = 0.0
    detsec_origin: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Readout:
    """One raw image extension: a (binned) window of one array plus optional overscan.

    Attributes
    ----------
    array : int
        Index of the :class:`ArrayPlacement` read.
    window : tuple of int
        (x0, x1, y0, y1), unbinned array pixels, half-open (``CCDSEC``).
    binning : tuple of int
        (xbin, ybin).
    overscan : int
        Number of binned overscan columns.
    overscan_side : str
        ``'left'`` (overscan before the data) or ``'right'``.
    name : str
        Amplifier or array name written to the header.
    """

    array: int
    window: tuple[int, int, int, int]
    binning: tuple[int, int] = (1, 1)
    overscan: int = 0
    overscan_side: str = "right"
    name: str = ""

    @property
    def data_shape(self) -> tuple[int, int]:
        """Binned (ny, nx) of the light-sensitive part."""
        x0, x1, y0, y1 = self.window
        return (y1 - y0) // self.binning[1], (x1 - x0) // self.binning[0]

    @property
    def raw_shape(self) -> tuple[int, int]:
        """(ny, nx) of the stored extension, overscan included."""
        ny, nx = self.data_shape
        return ny, nx + self.overscan

    @property
    def data_x0(self) -> int:
        """First data column in the stored extension."""
        return self.overscan if self.overscan_side == "left" else 0

    @property
    def data_slice(self) -> tuple[slice, slice]:
        """Slice of the data section in the stored extension."""
        ny, nx = self.data_shape
        return slice(0, ny), slice(self.data_x0, self.data_x0 + nx)

    @property
    def overscan_slice(self) -> tuple[slice, slice] | None:
        """Slice of the overscan columns, or None."""
        if not self.overscan:
            return None
        ny, nx = self.data_shape
        x0 = 0 if self.overscan_side == "left" else nx
        return slice(0, ny), slice(x0, x0 + self.overscan)

    def datasec(self) -> str:
        ny, nx = self.data_shape
        return iraf_section(self.data_x0, self.data_x0 + nx, 0, ny)

    def biassec(self) -> str | None:
        sl = self.overscan_slice
        if sl is None:
            return None
        return iraf_section(sl[1].start, sl[1].stop, sl[0].start, sl[0].stop)

    def ccdsec(self) -> str:
        return iraf_section(*self.window)

    def detsec(self, placement: ArrayPlacement) -> str:
        x0, x1, y0, y1 = self.window
        ox, oy = placement.detsec_origin
        return iraf_section(x0 + ox, x1 + ox, y0 + oy, y1 + oy)


def affine_to_focal_plane(placement: ArrayPlacement,
                          readout: Readout) -> tuple[np.ndarray, np.ndarray]:
    """Matrix ``M`` and vector ``t`` with ``f = M p + t`` for data-section pixel ``p``.

    ``p`` is a 0-based (x, y) pixel of the readout's data section (binned);
    ``f`` is the focal-plane position in unbinned pixels.
    """
    xbin, ybin = readout.binning
    x0, _, y0, _ = readout.window
    ny, nx = placement.shape
    centre_on_array = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0])
    rot = rotation(placement.rotation_deg)
    scale = np.diag([float(xbin), float(ybin)])
    # unbinned array pixel of binned data pixel p: u = bin * p + (bin - 1)/2 + window origin
    u_offset = np.array([x0 + (xbin - 1) / 2.0, y0 + (ybin - 1) / 2.0])
    matrix = rot @ scale
    vector = rot @ (u_offset - centre_on_array) + np.array(placement.centre)
    return matrix, vector


def readout_wcs(placement: ArrayPlacement, readout: Readout, crval: tuple[float, float],
                focal_crpix0: tuple[float, float],
                focal_cd: np.ndarray) -> tuple[tuple[float, float], np.ndarray]:
    """FITS ``CRPIX`` (1-based, stored-array pixels) and ``CD`` of one raw extension.

    The extension's linear TAN WCS is exact: the array's placement is affine.
    """
    matrix, vector = affine_to_focal_plane(placement, readout)
    cd = focal_cd @ matrix
    p0 = np.linalg.solve(matrix, np.asarray(focal_crpix0) - vector)
    crpix = (float(p0[0] + readout.data_x0 + 1.0), float(p0[1] + 1.0))
    return crpix, cd
