"""Truth catalogue: stars and galaxies with sky positions, fluxes (e-/s) and shapes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

__all__ = ["FieldSpec", "HaloSpec", "SourceCatalog", "make_catalog", "sersic_fwhm"]


@dataclass(frozen=True)
class HaloSpec:
    """A large galaxy whose light is smooth on the scale of a detector (e.g. NGC 5128)."""

    ra: float
    dec: float
    mag: float
    r_eff_arcsec: float
    sersic_n: float = 4.0
    axis_ratio: float = 0.8
    pa_deg: float = 35.0


@dataclass(frozen=True)
class FieldSpec:
    """A patch of sky to populate.

    Magnitudes are in the first filter of ``zeropoints`` of
    :func:`make_catalog`; ``colours`` gives, per other filter, the mean and
    spread of (m_other - m_first) for stars and for galaxies.
    """

    name: str
    ra: float
    dec: float
    half_width_arcsec: float
    n_stars: int
    n_galaxies: int
    star_mags: tuple[float, float] = (15.0, 23.0)
    galaxy_mags: tuple[float, float] = (18.0, 23.5)
    seeing_fwhm_arcsec: float = 0.8
    count_slope: float = 0.3
    standard_mag: float | None = None
    halo: HaloSpec | None = None
    colours: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


def sersic_b(n: float | np.ndarray) -> np.ndarray:
    """Ciotti & Bertin (1999) approximation of the Sersic b_n (half light at r_eff)."""
    n = np.asarray(n, float)
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)


def sersic_fwhm(r_eff: np.ndarray, n: np.ndarray) -> np.ndarray:
    """FWHM of a Sersic profile along its major axis (same unit as ``r_eff``)."""
    return 2.0 * np.asarray(r_eff) * (math.log(2.0) / sersic_b(n)) ** np.asarray(n)


@dataclass
class SourceCatalog:
    """Columns of the truth catalogue (one row per source).

    ``flux`` maps a filter name to e-/s at the detector for a pixel response
    of one. ``pa_deg`` is the major-axis position angle, east of north.
    ``fwhm_arcsec`` is the nominal observed FWHM (seeing for stars, seeing
    and Sersic FWHM added in quadrature for galaxies).
    """

    ids: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    kind: np.ndarray
    flux: dict[str, np.ndarray]
    mag: dict[str, np.ndarray]
    fwhm_arcsec: np.ndarray
    r_eff_arcsec: np.ndarray
    sersic_n: np.ndarray
    axis_ratio: np.ndarray
    pa_deg: np.ndarray
    field_name: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def filters(self) -> list[str]:
        return list(self.flux)

    def to_table(self) -> Table:
        """The catalogue as an astropy Table (columns of ``truth_catalog.ecsv``)."""
        first = self.filters[0]
        cols = {
            "id": self.ids, "ra": self.ra, "dec": self.dec, "type": self.kind,
            "flux_e_per_s": self.flux[first], "mag": self.mag[first],
            "fwhm_arcsec": self.fwhm_arcsec,
        }
        for name in self.filters:
            cols[f"flux_e_per_s_{name}"] = self.flux[name]
            cols[f"mag_{name}"] = self.mag[name]
        cols.update({"r_eff_arcsec": self.r_eff_arcsec, "sersic_n": self.sersic_n,
                     "axis_ratio": self.axis_ratio, "pa_deg": self.pa_deg,
                     "field": self.field_name})
        table = Table(cols)
        table["ra"].unit = "deg"
        table["dec"].unit = "deg"
        table["fwhm_arcsec"].unit = "arcsec"
        table["r_eff_arcsec"].unit = "arcsec"
        table["pa_deg"].unit = "deg"
        table.meta["filters"] = self.filters
        table.meta["flux_unit"] = "electron / s at the detector for a pixel response of 1"
        return table

    @classmethod
    def from_table(cls, table: Table) -> SourceCatalog:
        filters = list(table.meta["filters"])
        return cls(
            ids=np.asarray(table["id"]), ra=np.asarray(table["ra"], float),
            dec=np.asarray(table["dec"], float), kind=np.asarray(table["type"]).astype(str),
            flux={f: np.asarray(table[f"flux_e_per_s_{f}"], float) for f in filters},
            mag={f: np.asarray(table[f"mag_{f}"], float) for f in filters},
            fwhm_arcsec=np.asarray(table["fwhm_arcsec"], float),
            r_eff_arcsec=np.asarray(table["r_eff_arcsec"], float),
            sersic_n=np.asarray(table["sersic_n"], float),
            axis_ratio=np.asarray(table["axis_ratio"], float),
            pa_deg=np.asarray(table["pa_deg"], float),
            field_name=np.asarray(table["field"]).astype(str))


def _power_law_mags(rng: np.random.Generator, n: int, bright: float, faint: float,
                    slope: float) -> np.ndarray:
    """Magnitudes with cumulative counts N(<m) proportional to 10**(slope*m)."""
    lo, hi = 10.0 ** (slope * bright), 10.0 ** (slope * faint)
    return np.log10(lo + rng.random(n) * (hi - lo)) / slope


def _offsets_to_radec(ra0: float, dec0: float, dx: np.ndarray,
                      dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tangent-plane offsets (arcsec east, north) about (ra0, dec0) to RA, Dec in degrees."""
    xi, eta = np.radians(dx / 3600.0), np.radians(dy / 3600.0)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    denom = math.cos(d0) - eta * math.sin(d0)
    ra = np.degrees(a0 + np.arctan2(xi, denom)) % 360.0
    dec = np.degrees(np.arctan2(math.sin(d0) + eta * math.cos(d0), np.hypot(xi, denom)))
    return ra, dec


def make_catalog(rng: np.random.Generator, fields: list[FieldSpec],
                 zeropoints: dict[str, float]) -> SourceCatalog:
    """Populate ``fields`` with stars and galaxies.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the caller derives it from the dataset seed).
    fields : list of FieldSpec
        Patches of sky; each gets uniformly distributed sources.
    zeropoints : dict
        Filter name -> magnitude giving 1 e-/s; the first one is the
        reference band of the field magnitudes.

    Returns
    -------
    SourceCatalog
    """
    filters = list(zeropoints)
    rows: dict[str, list] = {k: [] for k in ("ra", "dec", "kind", "fwhm", "reff", "n", "q",
                                            "pa", "field")}
    mags: dict[str, list] = {f: [] for f in filters}
    for spec in fields:
        kinds, m0, reff, nser, q, pa, dx, dy = [], [], [], [], [], [], [], []
        w = spec.half_width_arcsec
        if spec.standard_mag is not None:
            kinds.append(np.array(["star"]))
            m0.append(np.array([spec.standard_mag]))
            for column, value in ((reff, 0.0), (nser, 0.0), (q, 1.0), (pa, 0.0), (dx, 0.0),
                                  (dy, 0.0)):
                column.append(np.full(1, value))
        ns, ng = spec.n_stars, spec.n_galaxies
        kinds.append(np.array(["star"] * ns + ["galaxy"] * ng))
        m_star = _power_law_mags(rng, ns, *spec.star_mags, spec.count_slope)
        m_gal = _power_law_mags(rng, ng, *spec.galaxy_mags, 0.35)
        m0.append(np.concatenate([m_star, m_gal]))
        # brighter galaxies are larger; a log-normal spread around that trend
        r_gal = 0.45 * 10.0 ** (-0.12 * (m_gal - spec.galaxy_mags[1]))
        r_gal *= np.exp(rng.normal(0.0, 0.35, ng))
        reff.append(np.concatenate([np.zeros(ns), np.clip(r_gal, 0.08, 4.0)]))
        nser.append(np.concatenate([np.zeros(ns), rng.uniform(0.6, 2.5, ng)]))
        q.append(np.concatenate([np.ones(ns), rng.uniform(0.35, 1.0, ng)]))
        pa.append(np.concatenate([np.zeros(ns), rng.uniform(0.0, 180.0, ng)]))
        dx.append(rng.uniform(-w, w, ns + ng))
        dy.append(rng.uniform(-w, w, ns + ng))
        kinds_f = np.concatenate(kinds)
        m0_f = np.concatenate(m0)
        reff_f, nser_f = np.concatenate(reff), np.concatenate(nser)
        ra, dec = _offsets_to_radec(spec.ra, spec.dec, np.concatenate(dx), np.concatenate(dy))
        n_here = len(kinds_f)
        is_star = kinds_f == "star"
        for i, f in enumerate(filters):
            if i == 0:
                mags[f].append(m0_f)
                continue
            s_mean, s_sig, g_mean, g_sig = spec.colours.get(f, (0.0, 0.0, 0.0, 0.0))
            colour = np.where(is_star, rng.normal(s_mean, s_sig, n_here),
                              rng.normal(g_mean, g_sig, n_here))
            mags[f].append(m0_f + colour)
        fwhm_gal = sersic_fwhm(np.where(is_star, 0.0, reff_f), np.where(is_star, 1.0, nser_f))
        rows["fwhm"].append(np.hypot(spec.seeing_fwhm_arcsec, fwhm_gal))
        for key, val in (("ra", ra), ("dec", dec), ("kind", kinds_f), ("reff", reff_f),
                         ("n", nser_f), ("q", np.concatenate(q)), ("pa", np.concatenate(pa)),
                         ("field", np.array([spec.name] * n_here))):
            rows[key].append(val)
        if spec.halo is not None:
            h = spec.halo
            for key, value in (("ra", h.ra), ("dec", h.dec), ("kind", "galaxy"),
                               ("reff", h.r_eff_arcsec), ("n", h.sersic_n), ("q", h.axis_ratio),
                               ("pa", h.pa_deg), ("field", spec.name)):
                rows[key].append(np.array([value]))
            rows["fwhm"].append(sersic_fwhm(np.array([h.r_eff_arcsec]), np.array([h.sersic_n])))
            for f in filters:
                s_mean = spec.colours.get(f, (0.0, 0.0, 0.0, 0.0))[2] if f != filters[0] else 0.0
                mags[f].append(np.array([h.mag + s_mean]))
    mag = {f: np.concatenate(mags[f]) for f in filters}
    flux = {f: 10.0 ** (-0.4 * (mag[f] - zeropoints[f])) for f in filters}
    total = len(mag[filters[0]])
    return SourceCatalog(
        ids=np.arange(1, total + 1), ra=np.concatenate(rows["ra"]),
        dec=np.concatenate(rows["dec"]), kind=np.concatenate(rows["kind"]), flux=flux, mag=mag,
        fwhm_arcsec=np.concatenate(rows["fwhm"]), r_eff_arcsec=np.concatenate(rows["reff"]),
        sersic_n=np.concatenate(rows["n"]), axis_ratio=np.concatenate(rows["q"]),
        pa_deg=np.concatenate(rows["pa"]), field_name=np.concatenate(rows["field"]))
