"""Primitive mix-in Visualize: tiling and mosaicking of detectors (tileArrays, mosaicDetectors).

Extensions are grouped into physical arrays (CCDs) by their detector and
array sections: every extension of one array has the same array origin on
the detector, ``DETSEC - CCDSEC`` (unbinned). An extension without an array
section is an array of its own. Only the data section of each extension is
used, so untrimmed data tile correctly too.

``tileArrays`` puts the amplifiers of each array side by side, without
interpolation, at their ``CCDSEC`` positions (one extension per array), or,
with ``tile_all``, all arrays into one extension with the instrument's gaps
(:meth:`Visualize._tile_gaps`, unbinned pixels) between them. A per-array
tile carries the exact WCS of its amplifiers. A whole-detector tile carries
the WCS of the reference array (the one at the centre of the detector, GMOS
CCD2): tiling ignores the small shifts and rotations of the other arrays,
so their pixels are placed to within those residuals only.

``mosaicDetectors`` puts every array where the detector geometry says
(:meth:`Visualize._array_geometry`): an array ``k`` pixel ``u`` (unbinned,
0-based, on the full array) lands at

    f = R(rotation_k) (u - centre_k) + centre_ref + shift_k

in the frame of the reference array's unbinned pixels (``R`` rotates
counter-clockwise, ``centre`` is the centre of the full array, the
reference array has no shift and no rotation). This is the convention of
the Gemini geometry tables and of ``gempy.sim``. The reference array is
copied without interpolation; the others are resampled
(:func:`gempy.library.resample.resample_image`, flux conserving) with their
variance and DQ. The output WCS is the reference array's, shifted to its
place in the mosaic, and is exact everywhere the geometry is.

In both, pixels no array covers (chip gaps, unread regions) are 0 with DQ
``no_data`` (16) and variance 0; variance and DQ planes are carried
(``sci_only`` drops them); gain and read noise keywords are averaged over
the amplifiers (a warning is given if data in ADU had different gains) and
saturation levels take the lowest value. Extension tables (``OBJCAT``) are
dropped, their positions no longer apply; same-shaped extension arrays
(``OBJMASK``) are tiled by ``tileArrays`` and dropped by the mosaic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import astrodata
from astrodata import DQ, Section
from astrodata.nddata import NDAstroData
from gempy.library.resample import resample_image, shift_wcs
from primitives.base import PrimitivesBASE
from primitives.core.frame_sections import binning_of, sections_of
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

__all__ = ["Visualize", "ArrayGroup", "ArrayGeometry", "group_arrays", "mosaic_transform",
           "reference_array"]

#: Extension keywords describing one amplifier, meaningless once amplifiers are combined.
_AMPLIFIER_KEYWORDS = ("BIASSEC", "TRIMSEC", "AMPNAME", "FRMNAME", "FRAMEID", "OVERSEC")


@dataclass
class ArrayGroup:
    """The extensions of one physical array (CCD) of a frame.

    Attributes
    ----------
    indices : list of int
        0-based extension indices, in input order.
    origin : tuple of int
        (x, y) of the array's first pixel on the detector, unbinned.
    array_box : Section
        Region of the array read by these extensions (union of ``CCDSEC``), unbinned.
    detector_box : Section
        The same region on the detector (union of ``DETSEC``), unbinned.
    positions : list of tuple of int
        Binned (x, y) of each extension's data in the array tile.
    """

    indices: list[int]
    origin: tuple[int, int]
    array_box: Section
    detector_box: Section
    positions: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class ArrayGeometry:
    """Where one array sits relative to the reference array (unbinned pixels).

    Attributes
    ----------
    shift : tuple of float
        (x, y) of the array's centre minus the reference array's centre.
    rotation : float
        Counter-clockwise rotation of the array, degrees.
    centre : tuple of float
        (x, y) of the array's centre in its own pixel coordinates (0-based).
    """

    shift: tuple[float, float]
    rotation: float
    centre: tuple[float, float]


def _union(sections: list[Section]) -> Section:
    return Section(min(s.x1 for s in sections), max(s.x2 for s in sections),
                   min(s.y1 for s in sections), max(s.y2 for s in sections))


def group_arrays(ad: Any) -> list[ArrayGroup]:
    """The extensions of `ad` grouped by physical array, sorted by detector position.

    Raises
    ------
    PrimitiveError
        If an extension has no detector section, or its data section does
        not have the size its detector section implies.
    """
    xbin, ybin = binning_of(ad)
    detector = sections_of(ad, "detector_section")
    array = sections_of(ad, "array_section")
    data = sections_of(ad, "data_section")
    groups: dict[tuple[int, int], list[int]] = {}
    for index in range(len(ad)):
        det = detector[index]
        if det is None:
            raise PrimitiveError(f"{ad.filename} extension {index + 1}: no detector section "
                                 f"(DETSEC); cannot place it on the detector")
        arr = array[index] or Section(0, det.x2 - det.x1, 0, det.y2 - det.y1)
        if (arr.x2 - arr.x1, arr.y2 - arr.y1) != (det.x2 - det.x1, det.y2 - det.y1):
            raise PrimitiveError(f"{ad.filename} extension {index + 1}: array section "
                                 f"{arr.asIRAFsection()} and detector section "
                                 f"{det.asIRAFsection()} differ in size")
        origin = (det.x1 - arr.x1, det.y1 - arr.y1) if array[index] is not None \
            else (det.x1, det.y1)
        if array[index] is None:
            # an array of its own: keyed by its detector position
            groups.setdefault(origin + (index,), []).append(index)
        else:
            groups.setdefault(origin, []).append(index)
    result = []
    for key, indices in groups.items():
        origin = (key[0], key[1])
        boxes = []
        for index in indices:
            det = detector[index]
            arr = array[index] or Section(0, det.x2 - det.x1, 0, det.y2 - det.y1)
            boxes.append(arr)
            ny, nx = ad[index].shape[-2:]
            section = data[index] or Section(0, nx, 0, ny)
            expected = ((arr.x2 - arr.x1) // xbin, (arr.y2 - arr.y1) // ybin)
            if (section.x2 - section.x1, section.y2 - section.y1) != expected:
                raise PrimitiveError(
                    f"{ad.filename} extension {index + 1}: data section "
                    f"{section.asIRAFsection()} is not the {expected[0]}x{expected[1]} binned "
                    f"pixels of its detector section {det.asIRAFsection()}")
        array_box = _union(boxes)
        detector_box = Section(array_box.x1 + origin[0], array_box.x2 + origin[0],
                               array_box.y1 + origin[1], array_box.y2 + origin[1])
        positions = [((b.x1 - array_box.x1) // xbin, (b.y1 - array_box.y1) // ybin)
                     for b in boxes]
        result.append(ArrayGroup(indices, origin, array_box, detector_box, positions))
    result.sort(key=lambda g: (g.detector_box.y1, g.detector_box.x1))
    return result


def reference_array(groups: list[ArrayGroup]) -> int:
    """Index of the array at the centre of the detector (GMOS CCD2)."""
    whole = _union([g.detector_box for g in groups])
    cx, cy = (whole.x1 + whole.x2) / 2.0, (whole.y1 + whole.y2) / 2.0

    def distance(group: ArrayGroup) -> float:
        box = group.detector_box
        gx = min(max(cx, box.x1), box.x2)
        gy = min(max(cy, box.y1), box.y2)
        centre = ((box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0)
        # inside the box first, then nearest centre
        return np.hypot(gx - cx, gy - cy) * 1e6 + np.hypot(centre[0] - cx, centre[1] - cy)

    return min(range(len(groups)), key=lambda i: distance(groups[i]))


def mosaic_transform(geometry: ArrayGeometry, reference: ArrayGeometry, array_box: Section,
                     binning: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Affine map of an array tile's binned pixels into the reference array's binned frame.

    Parameters
    ----------
    geometry, reference : ArrayGeometry
        The array's and the reference array's geometry.
    array_box : Section
        Region of the array the tile holds (unbinned array pixels).
    binning : (int, int)
        (xbin, ybin).

    Returns
    -------
    matrix, offset : numpy.ndarray
        ``m = matrix @ p + offset``: tile pixel p -> binned pixel m of the
        reference array's own pixel grid (before the mosaic's integer shift).
    """
    bins = np.array(binning, dtype=float)
    half = (bins - 1.0) / 2.0
    theta = np.radians(geometry.rotation)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    scale = np.diag(bins)
    inverse_scale = np.diag(1.0 / bins)
    start = np.array([array_box.x1, array_box.y1], dtype=float)
    focal = (rot @ (half + start - np.asarray(geometry.centre)) + np.asarray(reference.centre)
             + np.asarray(geometry.shift))
    matrix = inverse_scale @ rot @ scale
    offset = inverse_scale @ (focal - half)
    return matrix, offset


@dataclass
class _Tile:
    """One combined image: data, variance, mask, other arrays, header, WCS."""

    data: np.ndarray
    variance: np.ndarray | None
    mask: np.ndarray | None
    other: dict[str, np.ndarray]
    header: Any
    wcs: Any


class Visualize(PrimitivesBASE):
    """Tiling and mosaicking of multi-extension detectors (tileArrays, mosaicDetectors)."""

    tagset = None

    # -- hooks for the instrument classes ----------------------------------------
    def _tile_gaps(self, ad: Any) -> tuple[float, float]:
        """Gaps (x, y) between arrays when tiling, unbinned pixels."""
        return 0.0, 0.0

    def _array_geometry(self, ad: Any, groups: list[ArrayGroup], reference: int
                        ) -> list[ArrayGeometry]:
        """Geometry of each array relative to the reference array.

        Default: the arrays sit at their detector sections, separated by the
        tile gaps, with no rotation.
        """
        gap_x, gap_y = self._tile_gaps(ad)
        xs = sorted({g.origin[0] for g in groups})
        ys = sorted({g.origin[1] for g in groups})
        result = []
        for group in groups:
            x = group.origin[0] + xs.index(group.origin[0]) * gap_x
            y = group.origin[1] + ys.index(group.origin[1]) * gap_y
            result.append((x, y))
        ref_x, ref_y = result[reference]
        return [ArrayGeometry((x - ref_x, y - ref_y), 0.0, (0.0, 0.0)) for x, y in result]

    # -- tiling helpers --------------------------------------------------------
    def _combined_levels(self, ad: Any, indices: list[int], header: Any) -> None:
        """Average gain and read noise, lowest saturation, over the extensions combined."""
        for name, fallback, how in (("gain", "GAIN", "mean"), ("read_noise", "RDNOISE", "mean"),
                                    ("saturation_level", "SATLEVEL", "min"),
                                    ("non_linear_level", "NONLINEA", "min")):
            try:
                keyword = ad._keyword_for(name)
            except (AttributeError, KeyError):
                keyword = fallback
            try:
                values = getattr(ad, name)()
            except (AttributeError, TypeError):
                continue
            values = list(values) if isinstance(values, (list, tuple)) else [values] * len(ad)
            chosen = [values[i] for i in indices if i < len(values)]
            if not chosen or any(v is None for v in chosen):
                continue
            chosen = np.asarray(chosen, dtype=float)
            if name == "gain" and np.ptp(chosen) > 0.01 * chosen.mean():
                in_adu = getattr(ad, "is_in_adu", lambda: True)()
                if in_adu:
                    self.log.warning(f"{ad.filename}: combining amplifiers of gains "
                                     f"{chosen.min():.3f}-{chosen.max():.3f} e-/ADU while the "
                                     f"data are in ADU; the output gain is their mean")
            value = float(chosen.mean() if how == "mean" else chosen.min())
            header[keyword] = (round(value, 6), header.comments[keyword]
                               if keyword in header else name.replace("_", " "))

    def _tile_group(self, ad: Any, group: ArrayGroup, sci_only: bool) -> _Tile:
        """The amplifiers of one array side by side (no interpolation)."""
        xbin, ybin = binning_of(ad)
        box = group.array_box
        shape = ((box.y2 - box.y1) // ybin, (box.x2 - box.x1) // xbin)
        data_sections = sections_of(ad, "data_section")
        data = np.zeros(shape, dtype=np.float32)
        covered = np.zeros(shape, dtype=bool)
        exts = [ad[i] for i in group.indices]
        with_var = not sci_only and all(e.variance is not None for e in exts)
        with_mask = not sci_only
        variance = np.zeros(shape, dtype=np.float32) if with_var else None
        mask = np.zeros(shape, dtype=DQ.datatype) if with_mask else None
        other_names = set.intersection(*(
            {k for k, v in e.nddata.meta.get("other", {}).items()
             if hasattr(v, "shape") and tuple(v.shape) == tuple(e.shape)} for e in exts))
        other = {} if sci_only else {
            name: np.zeros(shape, dtype=np.asarray(exts[0].nddata.meta["other"][name]).dtype)
            for name in other_names}
        first_wcs = None
        for ext, index, (px, py) in zip(exts, group.indices, group.positions, strict=True):
            ny, nx = ext.shape[-2:]
            section = data_sections[index] or Section(0, nx, 0, ny)
            src = section.asslice()
            h, w = section.y2 - section.y1, section.x2 - section.x1
            dst = (slice(py, py + h), slice(px, px + w))
            data[dst] = np.asarray(ext.data)[src]
            covered[dst] = True
            if variance is not None:
                variance[dst] = np.asarray(ext.variance)[src]
            if mask is not None and ext.mask is not None:
                mask[dst] = np.asarray(ext.mask)[src]
            for name in other:
                other[name][dst] = np.asarray(ext.nddata.meta["other"][name])[src]
            if first_wcs is None and ext.wcs is not None:
                first_wcs = shift_wcs(ext.wcs, px - section.x1, py - section.y1)
        if mask is not None:
            mask[~covered] |= DQ.no_data
        header = ad[group.indices[0]].hdr.copy()
        self._combined_levels(ad, group.indices, header)
        for keyword in _AMPLIFIER_KEYWORDS:
            if keyword in header:
                del header[keyword]
        if "CCDNAME" in header:
            header["AMPNAME"] = (str(header["CCDNAME"]), "Array (all its amplifiers)")
        header["DATASEC"] = (f"[1:{shape[1]},1:{shape[0]}]", "Data section")
        header["CCDSEC"] = (group.array_box.asIRAFsection(), "Region of the array")
        header["DETSEC"] = (group.detector_box.asIRAFsection(), "Region of the detector")
        return _Tile(data, variance, mask, other, header, first_wcs)

    def _append(self, out: Any, tile: _Tile) -> None:
        nd = NDAstroData(tile.data, mask=tile.mask, variance=tile.variance,
                         meta={"header": tile.header, "other": dict(tile.other)})
        if tile.wcs is not None:
            nd.wcs = tile.wcs
        out.append(nd)

    def _new_frame(self, ad: Any) -> Any:
        out = astrodata.create(ad.phu.copy())
        out.filename = ad.filename
        out.path = getattr(ad, "path", None)
        for name in getattr(ad, "tables", ()):
            setattr(out, name, copy.deepcopy(getattr(ad, name)))
        return out

    def _place_tiles(self, ad: Any, groups: list[ArrayGroup], tiles: list[_Tile],
                     sci_only: bool) -> _Tile:
        """All array tiles into one image, separated by the tile gaps."""
        xbin, ybin = binning_of(ad)
        gap_x, gap_y = self._tile_gaps(ad)
        xs = sorted({g.detector_box.x1 for g in groups})
        ys = sorted({g.detector_box.y1 for g in groups})
        whole = _union([g.detector_box for g in groups])
        # every gap is the same whole number of binned pixels
        step_x, step_y = int(round(gap_x / xbin)), int(round(gap_y / ybin))
        offsets = []
        for group in groups:
            ox = (group.detector_box.x1 - whole.x1) // xbin + xs.index(
                group.detector_box.x1) * step_x
            oy = (group.detector_box.y1 - whole.y1) // ybin + ys.index(
                group.detector_box.y1) * step_y
            offsets.append((ox, oy))
        ny = max(oy + t.data.shape[0] for (ox, oy), t in zip(offsets, tiles, strict=True))
        nx = max(ox + t.data.shape[1] for (ox, oy), t in zip(offsets, tiles, strict=True))
        data = np.zeros((ny, nx), dtype=np.float32)
        variance = None if sci_only or any(t.variance is None for t in tiles) \
            else np.zeros((ny, nx), dtype=np.float32)
        mask = None if sci_only else np.full((ny, nx), DQ.no_data, dtype=DQ.datatype)
        names = set.intersection(*(set(t.other) for t in tiles)) if tiles else set()
        other = {n: np.zeros((ny, nx), dtype=tiles[0].other[n].dtype) for n in names}
        for (ox, oy), tile in zip(offsets, tiles, strict=True):
            h, w = tile.data.shape
            dst = (slice(oy, oy + h), slice(ox, ox + w))
            data[dst] = tile.data
            if variance is not None:
                variance[dst] = tile.variance
            if mask is not None:
                mask[dst] = tile.mask if tile.mask is not None else 0
            for name in names:
                other[name][dst] = tile.other[name]
        reference = reference_array(groups)
        ref_tile = tiles[reference]
        wcs = None if ref_tile.wcs is None else shift_wcs(ref_tile.wcs, *offsets[reference])
        header = self._whole_detector_header(ad, groups, ref_tile.header, (ny, nx))
        return _Tile(data, variance, mask, other, header, wcs)

    def _whole_detector_header(self, ad: Any, groups: list[ArrayGroup], template: Any,
                               shape: tuple[int, int]) -> Any:
        header = template.copy()
        all_indices = [i for g in groups for i in g.indices]
        self._combined_levels(ad, all_indices, header)
        header["DATASEC"] = (f"[1:{shape[1]},1:{shape[0]}]", "Data section")
        header["DETSEC"] = (_union([g.detector_box for g in groups]).asIRAFsection(),
                            "Region of the detector")
        if len(groups) > 1:
            for keyword in ("CCDSEC", "AMPNAME"):
                if keyword in header:
                    del header[keyword]
            names = []
            for group in groups:
                name = ad[group.indices[0]].hdr.get("CCDNAME")
                if name and name not in names:
                    names.append(str(name))
            if names:
                header["CCDNAME"] = (",".join(names), "Arrays in this image")
        return header

    # -- primitives --------------------------------------------------------------
    @primitive(
        per_file=True,
        suffix=Param(str, "_tiled", "Filename suffix"),
        sci_only=Param(bool, False, "Tile the science data only (no variance or DQ)"),
        tile_all=Param(bool, False, "Tile all arrays into one extension (with gaps)"),
    )
    def tileArrays(self, adinputs=None, **params):
        """Tile amplifiers into one extension per array (or one for all) without interpolating."""
        outputs = []
        for ad in adinputs:
            if self._already_done(ad, "tileArrays"):
                outputs.append(ad)
                continue
            groups = group_arrays(ad)
            tiles = [self._tile_group(ad, g, params["sci_only"]) for g in groups]
            out = self._new_frame(ad)
            if params["tile_all"] and len(tiles) > 1:
                self._append(out, self._place_tiles(ad, groups, tiles, params["sci_only"]))
            else:
                for tile in tiles:
                    self._append(out, tile)
            gap_x, gap_y = self._tile_gaps(ad)
            shapes = ", ".join("x".join(str(n) for n in ext.shape[::-1]) for ext in out)
            self.log.stdinfo(
                f"{ad.filename}: tiled {len(ad)} extension(s) into {len(out)} ({shapes})"
                + (f" with gaps of {gap_x:g} unbinned pixels" if params["tile_all"]
                   and len(tiles) > 1 else ""))
            self.mark(out)
            out.update_filename(suffix=params["suffix"], strip=True)
            outputs.append(out)
        return outputs

    @primitive(
        per_file=True,
        suffix=Param(str, "_mosaic", "Filename suffix"),
        sci_only=Param(bool, False, "Mosaic the science data only (no variance or DQ)"),
        interpolant=Param(str, "poly3", "Interpolation of the arrays that are moved",
                          choices=("nearest", "linear", "poly3", "poly5", "spline3",
                                   "spline5")),
    )
    def mosaicDetectors(self, adinputs=None, **params):
        """Mosaic all arrays into one extension with the detector geometry (shifts, rotations).

        The output WCS is the reference array's (GMOS CCD2), extended over
        the mosaic; chip gaps have DQ no_data.
        """
        outputs = []
        for ad in adinputs:
            if self._already_done(ad, "mosaicDetectors"):
                outputs.append(ad)
                continue
            out = self._new_frame(ad)
            groups = group_arrays(ad)
            tiles = [self._tile_group(ad, g, params["sci_only"]) for g in groups]
            reference = reference_array(groups)
            geometry = self._array_geometry(ad, groups, reference)
            self._append(out, self._mosaic(ad, groups, tiles, geometry, reference, params))
            moved = [f"{g.shift[0]:+.2f},{g.shift[1]:+.2f} px {g.rotation:+.4f} deg"
                     for i, g in enumerate(geometry) if i != reference]
            self.log.stdinfo(f"{ad.filename}: mosaicked {len(groups)} array(s) from {len(ad)} "
                             f"extension(s) into {out[0].shape[1]}x{out[0].shape[0]} pixels"
                             + (f"; arrays moved by {'; '.join(moved)}" if moved else ""))
            self.mark(out)
            out.update_filename(suffix=params["suffix"], strip=True)
            outputs.append(out)
        return outputs

    def _mosaic(self, ad: Any, groups: list[ArrayGroup], tiles: list[_Tile],
                geometry: list[ArrayGeometry], reference: int, params: dict) -> _Tile:
        binning = binning_of(ad)
        transforms = [mosaic_transform(g, geometry[reference], grp.array_box, binning)
                      for g, grp in zip(geometry, groups, strict=True)]
        lows, highs = [], []
        for (matrix, offset), tile in zip(transforms, tiles, strict=True):
            ny, nx = tile.data.shape
            corners = np.array([[-0.5, -0.5], [nx - 0.5, -0.5], [-0.5, ny - 0.5],
                                [nx - 0.5, ny - 0.5]]).T
            mapped = matrix @ corners + offset[:, None]
            lows.append(mapped.min(axis=1))
            highs.append(mapped.max(axis=1))
        # the output pixels whose centres fall on some array
        low = np.ceil(np.min(lows, axis=0) - 1e-9)
        high = np.floor(np.max(highs, axis=0) + 1e-9)
        shape = (int(high[1] - low[1]) + 1, int(high[0] - low[0]) + 1)
        sci_only = params["sci_only"]
        data = np.zeros(shape, dtype=np.float32)
        variance = None if sci_only or any(t.variance is None for t in tiles) \
            else np.zeros(shape, dtype=np.float32)
        mask = None if sci_only else np.full(shape, DQ.no_data, dtype=DQ.datatype)
        for (matrix, offset), tile in zip(transforms, tiles, strict=True):
            offset = offset - low
            ny, nx = tile.data.shape
            integer = np.allclose(matrix, np.eye(2), atol=1e-12) and np.allclose(
                offset, np.round(offset), atol=1e-9)
            if integer:
                ox, oy = (int(v) for v in np.round(offset))
                dst = (slice(oy, oy + ny), slice(ox, ox + nx))
                data[dst] = tile.data
                if variance is not None:
                    variance[dst] = tile.variance
                if mask is not None:
                    mask[dst] = tile.mask if tile.mask is not None else 0
                continue
            # resample into the array's own bounding box of the mosaic only
            corners = np.array([[-0.5, -0.5], [nx - 0.5, -0.5], [-0.5, ny - 0.5],
                                [nx - 0.5, ny - 0.5]]).T
            mapped = matrix @ corners + offset[:, None]
            x0, y0 = (max(int(v), 0) for v in np.floor(mapped.min(axis=1)))
            x1 = min(int(np.ceil(mapped[0].max())) + 1, shape[1])
            y1 = min(int(np.ceil(mapped[1].max())) + 1, shape[0])
            affine = np.hstack([matrix, (offset - [x0, y0])[:, None]])
            result = resample_image(tile.data, tile.variance if variance is not None else None,
                                    tile.mask, affine, (y1 - y0, x1 - x0),
                                    interpolant=params["interpolant"], conserve=True)
            inside = (result.mask & DQ.no_data) == 0
            box = (slice(y0, y1), slice(x0, x1))
            data[box][inside] = result.data[inside]
            if variance is not None:
                variance[box][inside] = result.variance[inside]
            if mask is not None:
                mask[box][inside] = result.mask[inside]
        ref_tile = tiles[reference]
        ref_offset = transforms[reference][1] - low
        wcs = None if ref_tile.wcs is None else shift_wcs(ref_tile.wcs, float(ref_offset[0]),
                                                          float(ref_offset[1]))
        if any(t.other for t in tiles):
            self.log.fullinfo(f"{ad.filename}: extension items "
                              f"{', '.join(sorted(set().union(*(t.other for t in tiles))))} "
                              f"are not carried into the mosaic")
        header = self._whole_detector_header(ad, groups, ref_tile.header, shape)
        return _Tile(data, variance, mask, {}, header, wcs)
