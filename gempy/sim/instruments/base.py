"""What every simulated instrument provides: layout, physics, electronics and headers."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..detector import ArrayMaps, ArrayPhysics, ir_readout
from ..headers import Pointing
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec

__all__ = ["InstrumentModel", "SCALE_SMALL"]

# --small shrinks detectors by this factor per axis (pixel scales are kept).
SCALE_SMALL = 8


class InstrumentModel:
    """Base class of the instrument descriptions in this package.

    Subclasses set the class attributes and implement the layout, the
    electronics and the instrument-specific header cards. Units: arcsec,
    seconds, electrons, unbinned pixels unless stated.

    Parameters
    ----------
    small : bool
        Shrink the detectors by :data:`SCALE_SMALL` per axis (``--small``).
    """

    name = ""            # INSTRUME
    family = ""          # key of pointing.DETECTOR_AXES
    pixel_scale = 0.0    # arcsec per unbinned pixel
    psf_beta = 3.5
    iaa = 0.0
    inport = 5
    is_ccd = False
    summed_coadds = True
    dtype = np.float32

    def __init__(self, small: bool = False):
        self.small = small

    # -- geometry -------------------------------------------------------
    @property
    def arrays(self) -> list[ArrayPlacement]:
        raise NotImplementedError

    def focal_crpix0(self) -> tuple[float, float]:
        """0-based focal-plane pixel at which the pointing (``CRVAL``) is defined."""
        xs = [a.centre[0] for a in self.arrays]
        ys = [a.centre[1] for a in self.arrays]
        return (min(xs) + max(xs)) / 2.0, (min(ys) + max(ys)) / 2.0

    def readouts(self, spec: FrameSpec) -> list[Readout]:
        raise NotImplementedError

    def binning(self, spec: FrameSpec) -> tuple[int, int]:
        return tuple(spec.config.get("binning", (1, 1)))

    def illumination(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """Fraction of the nominal light reaching focal-plane position (fx, fy)."""
        return np.ones_like(fx, dtype=np.float32)

    def array_illumination(self, index: int, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        """Extra illumination factor tied to array pixels (unbinned ix, iy); 1 by default."""
        return np.ones(np.broadcast(ix, iy).shape, np.float32)

    def unilluminated(self, readout: Readout) -> np.ndarray | None:
        """Data pixels (binned) that the instrument's illumination mask flags, or None.

        None: the truth BPM flags (bit 64) pixels whose true flat is below 5
        percent of the median instead.
        """
        return None

    def prepare_static(self, rng: np.random.Generator, frames: list[FrameSpec]) -> None:
        """Draw static electronics (e.g. CCD bias structure) once per dataset."""

    def prepare_fringes(self, seed: int) -> None:
        """Draw the static fringe patterns of the arrays (none by default).

        The patterns belong to the detector, not to a dataset: instruments
        derive them from ``seed`` and the detector's identity only, so every
        dataset made with one seed sees the same fringes on the same detector.
        """

    def fringe_fraction(self, spec: FrameSpec) -> float:
        """Rms of the fringes of ``spec`` as a fraction of its sky (0: no fringes)."""
        return 0.0

    def fringe_pattern(self, readout: Readout) -> np.ndarray | None:
        """Unit-rms fringe pattern of a readout's data section (binned), or None."""
        return None

    def static_bias(self, readout: Readout) -> np.ndarray:
        """Static bias (ADU) of a CCD amplifier, stored-array shape."""
        raise NotImplementedError

    # -- physics --------------------------------------------------------
    def physics(self, index: int) -> ArrayPhysics:
        raise NotImplementedError

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        """Gain (e-/ADU) and read noise (e-, per coadd) of one extension for ``spec``."""
        raise NotImplementedError

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        """Value reported by saturated pixels (the ``saturation_level`` descriptor)."""
        raise NotImplementedError

    def bias_level(self, readout: Readout) -> float:
        """Mean bias in ADU (0 for IR arrays read by correlated double sampling)."""
        return 0.0

    def zeropoint(self, band: str) -> float:
        """Magnitude giving 1 e-/s in ``band``."""
        raise NotImplementedError

    def wavelength_angstrom(self, band: str) -> float:
        raise NotImplementedError

    # -- digitisation ---------------------------------------------------
    def digitize(self, rng: np.random.Generator, readout: Readout, spec: FrameSpec,
                 electrons: np.ndarray, maps: ArrayMaps) -> tuple[np.ndarray, dict]:
        """Turn the collected charge of one extension into the stored array.

        Returns the array (instrument dtype and shape) and extra truth values.
        """
        gain, read_noise = self.electronics(readout, spec)
        physics = self.physics(readout.array)
        adu = ir_readout(rng, electrons, spec.coadds, physics.linearity, gain, read_noise,
                         self.saturation_adu(readout, spec), self.summed_coadds)
        return self.pack(adu), {}

    def pack(self, adu: np.ndarray) -> np.ndarray:
        return adu.astype(self.dtype)

    # -- headers --------------------------------------------------------
    def primary_header(self, spec: FrameSpec, pointing: Pointing) -> fits.Header:
        raise NotImplementedError

    def extension_header(self, index: int, readout: Readout, spec: FrameSpec,
                         wcs: list[tuple[str, object, str]]) -> fits.Header:
        raise NotImplementedError

    # -- helpers for subclasses ----------------------------------------
    def scaled(self, value: int) -> int:
        """A detector dimension, shrunk under --small."""
        return value // SCALE_SMALL if self.small else value

    @staticmethod
    def round_gain(value: float) -> float:
        return float(f"{value:.6g}")

    @staticmethod
    def circle(fx: np.ndarray, fy: np.ndarray, cx: float, cy: float, radius: float,
               edge: float = 2.0) -> np.ndarray:
        """Soft-edged disk: 1 inside, 0 outside, a linear ramp ``edge`` pixels wide."""
        r = np.hypot(fx - cx, fy - cy)
        return np.clip((radius - r) / edge + 0.5, 0.0, 1.0).astype(np.float32)

    @staticmethod
    def vignetting(fx: np.ndarray, fy: np.ndarray, cx: float, cy: float, radius: float,
                   depth: float) -> np.ndarray:
        """Smooth radial fall-off: 1 at the centre, ``1 - depth`` at ``radius``."""
        r2 = ((fx - cx) ** 2 + (fy - cy) ** 2) / (radius * radius)
        return (1.0 - depth * r2).astype(np.float32)
