"""Resampling of images onto a common pixel frame, with variance and DQ, and WCS edits.

Used by ``resampleToCommonFrame`` (and ``mosaicDetectors``):

- `common_frame` works out, from each image's shape and WCS, the output
  frame (the reference image's pixel grid, grown to cover every input unless
  ``trim``) and a `PixelMapping` from each input's pixels to it.
- `resample_image` pulls an image, its variance and its DQ mask through such
  a mapping (or any astropy model or affine matrix).
- `shift_wcs`, `prepend_pixel_transform` and `pixel_scale` edit or measure an
  astropy or gwcs WCS after a registration.

Conventions: pixel coordinates are 0-based (x, y), the centre of the first
pixel is (0, 0) and pixel ``i`` covers ``[i - 0.5, i + 0.5]``; shapes are
numpy (ny, nx).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.modeling import Model
from scipy import ndimage
from scipy.interpolate import RectBivariateSpline

from . import _interpolation_kernels as _kernels
from ._wcs import SkyWCS, pixel_scale, prepend_pixel_transform, shift_wcs

__all__ = [
    "INTERPOLANTS",
    "CommonFrame",
    "PixelMapping",
    "ResampledImage",
    "common_frame",
    "pixel_scale",
    "prepend_pixel_transform",
    "resample_image",
    "shift_wcs",
]

#: Accepted ``interpolant`` values and the spline order / kernel they use.
INTERPOLANTS = ("nearest", "linear", "poly3", "poly5", "spline3", "spline5")

# DQ bits (astrodata.DQ) used here, kept local so plain arrays suffice
_DQ_BAD_PIXEL = 1
_DQ_NO_DATA = 16

# grid step (pixels) at which a non-affine mapping is evaluated exactly before
# being interpolated, and the accuracy required of that interpolation
_COARSE_STEP = 16
_COARSE_TOLERANCE = 0.01
# an affine fit this close (pixels) to the mapping is used as exact
_AFFINE_TOLERANCE = 1e-3


class PixelMapping:
    """A mapping between the pixels of an input image and an output frame.

    Parameters
    ----------
    forward : callable
        ``forward(x, y) -> (x_out, y_out)``: input pixel -> output pixel,
        0-based, vectorised over numpy arrays.
    inverse : callable
        ``inverse(x_out, y_out) -> (x, y)``: output pixel -> input pixel.
    affine : (numpy.ndarray, numpy.ndarray), optional
        ``(matrix, offset)`` of the inverse when it is known to be exactly
        affine: ``(x, y) = matrix @ (x_out, y_out) + offset``.

    See Also
    --------
    PixelMapping.from_model, PixelMapping.from_affine, common_frame
    """

    def __init__(
        self,
        forward: Callable[[Any, Any], tuple[Any, Any]],
        inverse: Callable[[Any, Any], tuple[Any, Any]],
        affine: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self._forward = forward
        self._inverse = inverse
        self._affine = affine

    def __call__(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Output pixel coordinates of input pixel coordinates."""
        xo, yo = self._forward(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(xo, dtype=float), np.asarray(yo, dtype=float)

    def inverse(self, x_out, y_out) -> tuple[np.ndarray, np.ndarray]:
        """Input pixel coordinates of output pixel coordinates."""
        x, y = self._inverse(np.asarray(x_out, dtype=float), np.asarray(y_out, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    @classmethod
    def from_model(cls, model: Model) -> PixelMapping:
        """Mapping from an astropy model (input -> output pixels) that has an inverse.

        Raises
        ------
        ValueError
            If the model has no inverse.
        """
        if not model.has_inverse():
            raise ValueError(
                f"{model.name or type(model).__name__} has no inverse; resampling needs the "
                "output -> input mapping"
            )
        inverse = model.inverse
        return cls(lambda x, y: model(x, y), lambda x, y: inverse(x, y))

    @classmethod
    def from_affine(cls, matrix, offset) -> PixelMapping:
        """Mapping ``(x_out, y_out) = matrix @ (x, y) + offset``.

        Parameters
        ----------
        matrix : array_like, shape (2, 2)
        offset : array_like, shape (2,)
        """
        matrix = np.asarray(matrix, dtype=float).reshape(2, 2)
        offset = np.asarray(offset, dtype=float).reshape(2)
        inverse_matrix = np.linalg.inv(matrix)
        inverse_offset = -inverse_matrix @ offset

        def forward(x, y):
            return (
                matrix[0, 0] * x + matrix[0, 1] * y + offset[0],
                matrix[1, 0] * x + matrix[1, 1] * y + offset[1],
            )

        def inverse(x, y):
            return (
                inverse_matrix[0, 0] * x + inverse_matrix[0, 1] * y + inverse_offset[0],
                inverse_matrix[1, 0] * x + inverse_matrix[1, 1] * y + inverse_offset[1],
            )

        return cls(forward, inverse, affine=(inverse_matrix, inverse_offset))

    def affine_inverse(
        self, output_shape: tuple[int, int], tolerance: float | None = _AFFINE_TOLERANCE
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Affine approximation of the inverse over an output frame.

        Parameters
        ----------
        output_shape : (ny, nx)
        tolerance : float or None
            Largest deviation (pixels) of the affine fit from the mapping on
            a grid over the frame for the fit to be returned; None returns
            the fit whatever its accuracy (``force_affine``).

        Returns
        -------
        (matrix, offset) or None
            ``(x, y) = matrix @ (x_out, y_out) + offset``.
        """
        if self._affine is not None:
            return self._affine
        ny, nx = output_shape
        gx, gy = np.meshgrid(np.linspace(0, nx - 1, 9), np.linspace(0, ny - 1, 9))
        gx, gy = gx.ravel(), gy.ravel()
        x, y = self.inverse(gx, gy)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            return None
        design = np.column_stack([gx, gy, np.ones_like(gx)])
        coeffs_x, *_ = np.linalg.lstsq(design, x, rcond=None)
        coeffs_y, *_ = np.linalg.lstsq(design, y, rcond=None)
        error = np.hypot(design @ coeffs_x - x, design @ coeffs_y - y).max()
        if tolerance is not None and error > tolerance:
            return None
        matrix = np.array([coeffs_x[:2], coeffs_y[:2]])
        offset = np.array([coeffs_x[2], coeffs_y[2]])
        return matrix, offset


def _as_mapping(transform: Any) -> PixelMapping:
    if isinstance(transform, PixelMapping):
        return transform
    if isinstance(transform, Model):
        return PixelMapping.from_model(transform)
    try:
        array = np.asarray(transform, dtype=float)
    except (TypeError, ValueError):
        array = None
    if array is not None and array.shape in ((2, 3), (3, 3)):
        return PixelMapping.from_affine(array[:2, :2], array[:2, 2])
    raise TypeError(
        "transform_or_mapping must be a PixelMapping, an astropy Model or a 2x3/3x3 affine "
        f"matrix, got {type(transform).__name__}"
    )


@dataclass(frozen=True)
class CommonFrame:
    """Result of `common_frame`.

    Attributes
    ----------
    shape : (int, int)
        Output (ny, nx).
    origin : (int, int)
        (x, y) of the output pixel (0, 0) in the reference image's pixels.
    mappings : list of PixelMapping
        Input i pixels -> output pixels, one per input.
    reference_index : int
    wcs : astropy.wcs.WCS or gwcs.WCS
        The reference WCS moved to the output frame (same type as given; a
        gwcs one gets the output's bounding box).
    """

    shape: tuple[int, int]
    origin: tuple[int, int]
    mappings: list[PixelMapping]
    reference_index: int
    wcs: Any


def _wcs_mapping(wcs_in: Any, wcs_ref: Any, origin: tuple[int, int]) -> PixelMapping:
    sky_in = SkyWCS(wcs_in)
    sky_ref = SkyWCS(wcs_ref)
    ox, oy = origin

    def forward(x, y):
        xr, yr = sky_ref.world_to_pixel(*sky_in.pixel_to_world(x, y))
        return xr - ox, yr - oy

    def inverse(x_out, y_out):
        return sky_in.world_to_pixel(*sky_ref.pixel_to_world(x_out + ox, y_out + oy))

    return PixelMapping(forward, inverse)


def _shift_mapping(dx: float, dy: float) -> PixelMapping:
    return PixelMapping.from_affine(np.eye(2), (dx, dy))


def _perimeter(shape: tuple[int, int], per_side: int = 33) -> tuple[np.ndarray, np.ndarray]:
    """Points along the outer edges of an image's pixels."""
    ny, nx = shape
    xs = np.linspace(-0.5, nx - 0.5, per_side)
    ys = np.linspace(-0.5, ny - 0.5, per_side)
    x = np.concatenate([xs, xs, np.full(per_side, -0.5), np.full(per_side, nx - 0.5)])
    y = np.concatenate([np.full(per_side, -0.5), np.full(per_side, ny - 0.5), ys, ys])
    return x, y


def common_frame(
    shapes_and_wcses: Sequence[tuple[tuple[int, int], Any]],
    reference_index: int = 0,
    trim: bool = False,
) -> CommonFrame:
    """The pixel frame in which a set of images can be stacked.

    Parameters
    ----------
    shapes_and_wcses : sequence of ((ny, nx), wcs)
        Each input's shape and WCS (astropy.wcs.WCS or gwcs.WCS).
    reference_index : int
        Input whose pixel grid (orientation and scale) the output uses.
    trim : bool
        If True the output is exactly the reference image's frame; otherwise
        it is the reference grid extended (by whole pixels) to cover every
        input's footprint.

    Returns
    -------
    CommonFrame
        Output shape, the origin of the output in reference pixels, one
        `PixelMapping` per input (the reference's is an exact integer shift),
        and the output WCS.

    Raises
    ------
    ValueError
        If no inputs are given, ``reference_index`` is out of range, or a
        footprint cannot be mapped (non-finite coordinates).
    """
    items = list(shapes_and_wcses)
    if not items:
        raise ValueError("common_frame needs at least one (shape, wcs) pair")
    if not -len(items) <= reference_index < len(items):
        raise ValueError(f"reference_index {reference_index} out of range for {len(items)} inputs")
    reference_index %= len(items)
    ref_shape, ref_wcs = items[reference_index]
    ref_shape = tuple(int(n) for n in ref_shape)
    if trim:
        x0, y0 = 0, 0
        shape = ref_shape
    else:
        unit_mappings = [
            _shift_mapping(0.0, 0.0) if i == reference_index else _wcs_mapping(wcs, ref_wcs, (0, 0))
            for i, (_, wcs) in enumerate(items)
        ]
        xs, ys = [], []
        for (shape_i, _), mapping in zip(items, unit_mappings, strict=True):
            x, y = mapping(*_perimeter(tuple(shape_i)))
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                raise ValueError(f"the footprint of an input of shape {shape_i} cannot be mapped")
            xs.append(x)
            ys.append(y)
        x_all = np.concatenate(xs)
        y_all = np.concatenate(ys)
        # pixel j is needed if [j - 0.5, j + 0.5] overlaps the footprint; the
        # small tolerance keeps round-off from adding a column or row
        x0 = int(np.floor(x_all.min() - 0.5 + 1e-3)) + 1
        y0 = int(np.floor(y_all.min() - 0.5 + 1e-3)) + 1
        x1 = int(np.ceil(x_all.max() + 0.5 - 1e-3)) - 1
        y1 = int(np.ceil(y_all.max() + 0.5 - 1e-3)) - 1
        shape = (y1 - y0 + 1, x1 - x0 + 1)
    mappings = [
        _shift_mapping(-x0, -y0) if i == reference_index else _wcs_mapping(wcs, ref_wcs, (x0, y0))
        for i, (_, wcs) in enumerate(items)
    ]
    out_wcs = shift_wcs(ref_wcs, -x0, -y0) if (x0 or y0) else ref_wcs
    if hasattr(out_wcs, "forward_transform") and hasattr(out_wcs, "bounding_box"):
        # a gwcs bounding box must describe the grown output, not the reference image
        if out_wcs is ref_wcs:
            out_wcs = copy.deepcopy(ref_wcs)
        out_wcs.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    return CommonFrame(
        shape=(int(shape[0]), int(shape[1])),
        origin=(x0, y0),
        mappings=mappings,
        reference_index=reference_index,
        wcs=out_wcs,
    )


@dataclass(frozen=True)
class ResampledImage:
    """Result of `resample_image`.

    Attributes
    ----------
    data : numpy.ndarray of float32, output shape
    variance : numpy.ndarray of float32 or None
    mask : numpy.ndarray of uint16
        Input DQ bits spread to the output, plus no_data (16) where the
        input does not cover the output pixel.
    """

    data: np.ndarray
    variance: np.ndarray | None
    mask: np.ndarray

    def __iter__(self):
        return iter((self.data, self.variance, self.mask))


def _input_coordinates(
    mapping: PixelMapping,
    output_shape: tuple[int, int],
    affine: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Input (x, y) of every output pixel centre, arrays of the output shape."""
    ny, nx = output_shape
    if affine is not None:
        matrix, offset = affine
        xo = np.arange(nx, dtype=float)[None, :]
        yo = np.arange(ny, dtype=float)[:, None]
        xi = matrix[0, 0] * xo + matrix[0, 1] * yo + offset[0]
        yi = matrix[1, 0] * xo + matrix[1, 1] * yo + offset[1]
        return xi, yi
    # evaluate the (possibly slow) WCS chain on a coarse grid and interpolate
    # with a bicubic spline, checking the result at the cell centres
    gx = np.unique(np.append(np.arange(0, nx, _COARSE_STEP), nx - 1)).astype(float)
    gy = np.unique(np.append(np.arange(0, ny, _COARSE_STEP), ny - 1)).astype(float)
    if len(gx) >= 4 and len(gy) >= 4:
        mx, my = np.meshgrid(gx, gy)
        cx, cy = mapping.inverse(mx, my)
        if np.all(np.isfinite(cx)) and np.all(np.isfinite(cy)):
            spline_x = RectBivariateSpline(gy, gx, cx, kx=3, ky=3)
            spline_y = RectBivariateSpline(gy, gx, cy, kx=3, ky=3)
            tx = (gx[:-1] + gx[1:]) / 2
            ty = (gy[:-1] + gy[1:]) / 2
            tmx, tmy = np.meshgrid(tx, ty)
            ex, ey = mapping.inverse(tmx, tmy)
            error = np.hypot(spline_x(ty, tx) - ex, spline_y(ty, tx) - ey)
            if np.all(np.isfinite(error)) and error.max() <= _COARSE_TOLERANCE:
                xs = np.arange(nx, dtype=float)
                ys = np.arange(ny, dtype=float)
                return spline_x(ys, xs), spline_y(ys, xs)
    mx, my = np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float))
    return mapping.inverse(mx, my)


def _scipy_resample(
    image: np.ndarray,
    xi: np.ndarray,
    yi: np.ndarray,
    affine: tuple[np.ndarray, np.ndarray] | None,
    order: int,
    output_shape: tuple[int, int],
) -> np.ndarray:
    if affine is not None:
        matrix, offset = affine
        # ndimage works in (row, column) = (y, x) order
        matrix_yx = np.array([[matrix[1, 1], matrix[1, 0]], [matrix[0, 1], matrix[0, 0]]])
        offset_yx = np.array([offset[1], offset[0]])
        return ndimage.affine_transform(
            image,
            matrix_yx,
            offset=offset_yx,
            output_shape=output_shape,
            order=order,
            mode="nearest",
            output=np.float32,
        )
    coords = np.array([np.nan_to_num(yi), np.nan_to_num(xi)])
    return ndimage.map_coordinates(image, coords, order=order, mode="nearest", output=np.float32)


def _interpolate(
    image: np.ndarray,
    xi: np.ndarray,
    yi: np.ndarray,
    affine: tuple[np.ndarray, np.ndarray] | None,
    interpolant: str,
    output_shape: tuple[int, int],
) -> np.ndarray:
    if interpolant.startswith("poly"):
        out = np.empty(output_shape, dtype=np.float32)
        _kernels.polynomial_interpolation(image, xi, yi, int(interpolant[-1]), out)
        return out
    order = {"nearest": 0, "linear": 1, "spline3": 3, "spline5": 5}[interpolant]
    return _scipy_resample(image, xi, yi, affine, order, output_shape)


def _jacobian_determinant(
    xi: np.ndarray, yi: np.ndarray, affine: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray | float:
    """|d(input)/d(output)|: input pixels per output pixel."""
    if affine is not None:
        return float(abs(np.linalg.det(affine[0])))
    if min(xi.shape) < 2:
        raise ValueError("a non-affine mapping needs an output at least 2 pixels on each side")
    dxi_dy, dxi_dx = np.gradient(xi)
    dyi_dy, dyi_dx = np.gradient(yi)
    return np.abs(dxi_dx * dyi_dy - dxi_dy * dyi_dx)


def resample_image(
    data: np.ndarray,
    variance: np.ndarray | None,
    mask: np.ndarray | None,
    transform_or_mapping: Any,
    output_shape: tuple[int, int],
    interpolant: str = "poly3",
    conserve: bool = True,
    dq_threshold: float = 0.001,
    force_affine: bool = False,
) -> ResampledImage:
    """Resample an image, its variance and its DQ mask into another pixel frame.

    Parameters
    ----------
    data : numpy.ndarray, shape (ny, nx)
        Input image.
    variance : numpy.ndarray, shape (ny, nx), or None
        Input variance.
    mask : numpy.ndarray of uint16, shape (ny, nx), or None
        Input DQ bits.
    transform_or_mapping : PixelMapping, astropy.modeling.Model or array_like
        Input pixels -> output pixels (0-based): a `PixelMapping` (e.g. from
        `common_frame`), a model with an inverse, or a 2x3 (or 3x3) affine
        matrix ``[[a, b, tx], [c, d, ty]]``.
    output_shape : (int, int)
        Output (ny, nx).
    interpolant : {'poly3', 'poly5', 'linear', 'nearest', 'spline3', 'spline5'}
        ``poly3``/``poly5``: local Lagrange polynomial through the 4x4
        (6x6) nearest pixels, as DRAGONS' polyN; interpolating, nothing
        spreads beyond 2 (3) pixels. ``spline3``/``spline5``: B-splines
        (scipy; smoother and more accurate on well-sampled images, but the
        global prefilter spreads deviant pixels). ``linear``: bilinear.
        ``nearest``: nearest pixel.
    conserve : bool
        Multiply data by the pixel-area ratio (input pixels per output
        pixel, the Jacobian determinant of the output -> input mapping) so
        that fluxes, not surface brightness, are kept; variance is multiplied
        by its square.
    dq_threshold : float
        An output pixel gets a DQ bit when the input pixels carrying it make
        up more than this fraction of its interpolation weight (absolute
        weights of the polynomial kernel of the same order, also used as the
        local stand-in for the splines).
    force_affine : bool
        Use the best affine approximation of a non-affine mapping (faster,
        exact for shifts, rotations and scale changes); otherwise an affine
        shortcut is only taken when it is exact to 0.001 pixel.

    Returns
    -------
    ResampledImage
        ``data`` and ``variance`` (float32) and ``mask`` (uint16) of
        ``output_shape``; unpacks as ``data, variance, mask``. Output pixels
        whose centre maps outside the input get data 0, variance 0 and DQ
        no_data (16).

    Raises
    ------
    ValueError
        For an unknown interpolant or inconsistent shapes.

    Notes
    -----
    The variance is resampled with the same kernel as the data (weights
    w rather than w**2). The exact variance of one interpolated pixel is
    sum(w**2 var), smaller than this, but neighbouring output pixels become
    correlated, and over any aperture larger than the kernel the noise is
    the one the input variance implies; keeping the kernel-weighted variance
    keeps per-pixel weights and sigma-clipping thresholds of later stacking
    right (the same approximation DRAGONS makes). Negative values from the
    polynomial and spline kernels' side lobes are clipped to 0.

    Non-finite input data are replaced by 0 and flagged bad_pixel (1) before
    interpolation so that they cannot contaminate the whole output; for
    the splines the prefilter still spreads very deviant pixels further than
    the flagged neighbourhood (use ``poly3`` to avoid that).
    """
    if interpolant not in INTERPOLANTS:
        raise ValueError(f"interpolant must be one of {INTERPOLANTS}, got {interpolant!r}")
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}")
    for name, array in (("variance", variance), ("mask", mask)):
        if array is not None and np.shape(array) != data.shape:
            raise ValueError(f"{name} shape {np.shape(array)} differs from data shape {data.shape}")
    output_shape = (int(output_shape[0]), int(output_shape[1]))
    if min(output_shape) < 1:
        raise ValueError(f"output_shape must be positive, got {output_shape}")
    if not 0 <= dq_threshold < 1:
        raise ValueError(f"dq_threshold must be in [0, 1), got {dq_threshold}")

    mapping = _as_mapping(transform_or_mapping)
    affine = mapping.affine_inverse(output_shape, None if force_affine else _AFFINE_TOLERANCE)
    xi, yi = _input_coordinates(mapping, output_shape, affine)
    ny, nx = data.shape
    outside = ~(
        np.isfinite(xi)
        & np.isfinite(yi)
        & (xi >= -0.5)
        & (xi <= nx - 0.5)
        & (yi >= -0.5)
        & (yi <= ny - 0.5)
    )

    image = np.asarray(data, dtype=np.float32)
    in_mask = None if mask is None else np.asarray(mask, dtype=np.uint16)
    nonfinite = ~np.isfinite(image)
    if nonfinite.any():
        image = np.where(nonfinite, 0.0, image).astype(np.float32)
        in_mask = np.zeros(data.shape, np.uint16) if in_mask is None else in_mask.copy()
        in_mask[nonfinite] |= _DQ_BAD_PIXEL
    image = np.ascontiguousarray(image)
    out_data = _interpolate(image, xi, yi, affine, interpolant, output_shape)

    out_variance = None
    if variance is not None:
        var = np.ascontiguousarray(np.nan_to_num(np.asarray(variance, dtype=np.float32)))
        out_variance = _interpolate(var, xi, yi, affine, interpolant, output_shape)
        np.clip(out_variance, 0.0, None, out=out_variance)

    if conserve:
        area = _jacobian_determinant(xi, yi, affine)
        if np.any(np.asarray(area) != 1.0):
            out_data *= np.float32(area) if np.isscalar(area) else area.astype(np.float32)
            if out_variance is not None:
                factor = np.asarray(area, dtype=np.float32) ** 2
                out_variance *= factor

    out_mask = np.zeros(output_shape, dtype=np.uint16)
    if in_mask is not None and in_mask.any():
        kind = (
            0
            if interpolant == "nearest"
            else 1
            if interpolant == "linear"
            else int(interpolant[-1])
        )
        _kernels.spread_mask(
            np.ascontiguousarray(in_mask), xi, yi, kind, float(dq_threshold), out_mask
        )
    out_mask[outside] |= _DQ_NO_DATA
    out_data[outside] = 0.0
    if out_variance is not None:
        out_variance[outside] = 0.0
    return ResampledImage(data=out_data, variance=out_variance, mask=out_mask)
