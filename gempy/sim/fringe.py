"""Fringe patterns of thinned CCDs: fixed interference ripples on the detector, in unit rms.

Night-sky emission lines (OH, O2) are narrow enough for the light reflected
inside a thin CCD to interfere with the incoming light: the response to
them ripples with the local thickness of the silicon. The ripple is fixed
on the detector, has the shape of contour lines of the thickness (arcs a few
tens of pixels apart) and its amplitude follows the emission-line part of
the sky in each exposure. Twilight (scattered sunlight, a continuum) does
not fringe measurably.

A :class:`FringeModel` holds the random parameters of one CCD's pattern;
:meth:`FringeModel.evaluate` gives the pattern of any window of the CCD at
any binning (the mean over the unbinned pixels of each binned pixel), so
the same detector pixel has the same value in every frame, binning and
region of interest. Each CCD's pattern has unit rms over the whole CCD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import interpolate

__all__ = ["FringeModel", "draw_fringe_model", "FRINGE_PERIODS"]

#: Range of the ripple spacing, unbinned pixels (kept when --small shrinks the CCDs).
FRINGE_PERIODS = (28.0, 80.0)
_COMPONENTS = 3
_KNOTS = 5


@dataclass(frozen=True)
class _Smooth:
    """A smooth random field over the CCD: a cubic spline through random knot values."""

    values: np.ndarray      # (_KNOTS, _KNOTS), rows along y
    shape: tuple[int, int]  # unbinned CCD (ny, nx) the knots span

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Field on the grid of x coordinates ``u`` and y coordinates ``v`` (1-D, unbinned)."""
        ny, nx = self.shape
        ky = np.linspace(-0.5, ny - 0.5, _KNOTS)
        kx = np.linspace(-0.5, nx - 0.5, _KNOTS)
        spline = interpolate.RectBivariateSpline(ky, kx, self.values, kx=3, ky=3, s=0)
        return spline(v, u)


@dataclass(frozen=True)
class FringeModel:
    """Random parameters of the fringe pattern of one CCD.

    Attributes
    ----------
    shape : tuple of int
        Unbinned (ny, nx) of the CCD.
    centres : ndarray
        (components, 2) x, y of the centre of each family of arcs (off the CCD).
    periods : ndarray
        Ripple spacing of each family, unbinned pixels.
    phases : ndarray
        Phase offset of each family, radians.
    envelopes, warps : tuple of _Smooth
        Smooth amplitude envelope and smooth phase distortion of each family.
    norm : float
        Factor giving the pattern unit rms over the whole CCD.
    """

    shape: tuple[int, int]
    centres: np.ndarray
    periods: np.ndarray
    phases: np.ndarray
    envelopes: tuple[_Smooth, ...]
    warps: tuple[_Smooth, ...]
    norm: float = 1.0

    def _raw(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unnormalised pattern on the grid (v rows, u columns) of unbinned pixel centres."""
        uu, vv = np.meshgrid(u, v)
        out = np.zeros(uu.shape, np.float64)
        for j in range(len(self.periods)):
            radius = np.hypot(uu - self.centres[j, 0], vv - self.centres[j, 1])
            phase = 2.0 * math.pi * radius / self.periods[j] + self.phases[j]
            phase += self.warps[j](u, v)
            amplitude = np.clip(self.envelopes[j](u, v), 0.15, None)
            out += amplitude * np.sin(phase)
        return out

    def evaluate(self, window: tuple[int, int, int, int],
                 binning: tuple[int, int] = (1, 1)) -> np.ndarray:
        """Pattern (float32, unit rms over the CCD) of a CCD window at a binning.

        Parameters
        ----------
        window : tuple of int
            (x0, x1, y0, y1), unbinned CCD pixels, half-open (a ``CCDSEC``).
        binning : tuple of int
            (xbin, ybin); each binned pixel is the mean of its unbinned pixels.

        Returns
        -------
        ndarray
            Binned (ny, nx) pattern.
        """
        x0, x1, y0, y1 = window
        xb, yb = binning
        nx, ny = (x1 - x0) // xb, (y1 - y0) // yb
        u = x0 + np.arange(nx * xb, dtype=np.float64)
        v = y0 + np.arange(ny * yb, dtype=np.float64)
        # row blocks keep the temporary arrays small on full-size CCDs
        out = np.empty((ny, nx), np.float32)
        step = max(1, 262144 // max(u.size * yb, 1))
        for r0 in range(0, ny, step):
            r1 = min(ny, r0 + step)
            block = self._raw(u, v[r0 * yb:r1 * yb]) * self.norm
            out[r0:r1] = block.reshape(r1 - r0, yb, nx, xb).mean(axis=(1, 3))
        return out


def draw_fringe_model(rng: np.random.Generator, shape: tuple[int, int]) -> FringeModel:
    """Draw the fringe pattern of a CCD of unbinned ``shape`` (ny, nx).

    A few families of arcs (contour lines of the silicon thickness) with
    centres one to four CCD sizes off the CCD, spacings in
    :data:`FRINGE_PERIODS`, smooth random amplitude envelopes and smooth
    phase distortions (rms 0.012 rad per pixel of CCD size) that bend the
    arcs into irregular contours.
    """
    ny, nx = shape
    size = float(max(nx, ny))
    angles = rng.uniform(0.0, 2.0 * math.pi, _COMPONENTS)
    distance = size * rng.uniform(1.0, 4.0, _COMPONENTS)
    centres = np.column_stack([(nx - 1) / 2.0 + distance * np.cos(angles),
                               (ny - 1) / 2.0 + distance * np.sin(angles)])
    periods = rng.uniform(*FRINGE_PERIODS, _COMPONENTS)
    phases = rng.uniform(0.0, 2.0 * math.pi, _COMPONENTS)
    envelopes = tuple(_Smooth(0.7 + 0.35 * rng.standard_normal((_KNOTS, _KNOTS)), shape)
                      for _ in range(_COMPONENTS))
    # thickness varies by many half-waves over a CCD: the phase distortion grows with its size
    # (about a third of the mean ripple frequency between knots) so that the arcs wander
    warp_rms = 0.012 * size
    warps = tuple(_Smooth(warp_rms * rng.standard_normal((_KNOTS, _KNOTS)), shape)
                  for _ in range(_COMPONENTS))
    model = FringeModel(shape, centres, periods, phases, envelopes, warps)
    # rms over the whole CCD from a regular sub-grid, whatever window is read later
    stride = max(1, int(min(nx, ny) // 256))
    sample = model._raw(np.arange(0, nx, stride, dtype=np.float64),
                        np.arange(0, ny, stride, dtype=np.float64))
    norm = 1.0 / max(float(np.sqrt(np.mean(sample ** 2))), 1e-12)
    return FringeModel(shape, centres, periods, phases, envelopes, warps, norm)
