"""Observatory sites and clocks: sidereal time, alt-azimuth, airmass and Gemini file dates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["Site", "GEMINI_SOUTH", "GEMINI_NORTH", "mjd", "local_sidereal_time_deg",
           "altaz", "radec_of_altaz", "airmass", "file_date", "decimal_year"]

_MJD_EPOCH = datetime(1858, 11, 17)


@dataclass(frozen=True)
class Site:
    """A Gemini telescope site.

    Attributes
    ----------
    name : str
        Header value of ``OBSERVAT``/``TELESCOP`` (``'Gemini-South'``).
    letter : str
        First letter of raw file names (``'S'`` or ``'N'``).
    latitude, longitude : float
        Degrees, longitude east-positive.
    utc_offset_hours : float
        Local civil time minus UT (Chile summer -3, Hawaii -10).
    """

    name: str
    letter: str
    latitude: float
    longitude: float
    utc_offset_hours: float

    def local_time(self, ut: datetime) -> datetime:
        """Local civil time of the UT instant ``ut``."""
        return ut + timedelta(hours=self.utc_offset_hours)


GEMINI_SOUTH = Site("Gemini-South", "S", -30.24075, -70.73669, -3.0)
GEMINI_NORTH = Site("Gemini-North", "N", 19.82380, -155.46906, -10.0)


def mjd(ut: datetime) -> float:
    """Modified Julian Date of a naive UT ``datetime``."""
    return (ut - _MJD_EPOCH).total_seconds() / 86400.0


def decimal_year(ut: datetime) -> float:
    """Julian epoch of ``ut`` (``OBSEPOCH``)."""
    return 2000.0 + (mjd(ut) - 51544.5) / 365.25


def local_sidereal_time_deg(ut: datetime, site: Site) -> float:
    """Local mean sidereal time in degrees (IAU 1982 GMST; UT1 taken as UTC)."""
    d = mjd(ut) - 51544.5
    t = d / 36525.0
    gmst = 280.46061837 + 360.98564736629 * d + 0.000387933 * t * t - t ** 3 / 38710000.0
    return (gmst + site.longitude) % 360.0


def altaz(ra: float, dec: float, ut: datetime, site: Site) -> tuple[float, float, float]:
    """Elevation, azimuth (degrees, azimuth from north through east) and hour angle (hours)."""
    ha = (local_sidereal_time_deg(ut, site) - ra + 180.0) % 360.0 - 180.0
    h, d, phi = map(math.radians, (ha, dec, site.latitude))
    sin_el = math.sin(d) * math.sin(phi) + math.cos(d) * math.cos(phi) * math.cos(h)
    el = math.asin(max(-1.0, min(1.0, sin_el)))
    az = math.atan2(-math.cos(d) * math.sin(h),
                    math.sin(d) * math.cos(phi) - math.cos(d) * math.sin(phi) * math.cos(h))
    return math.degrees(el), math.degrees(az) % 360.0, ha / 15.0


def radec_of_altaz(elevation: float, azimuth: float, ut: datetime,
                   site: Site) -> tuple[float, float]:
    """RA and Dec (degrees) of the direction (``elevation``, ``azimuth``) at ``ut``."""
    el, az, phi = map(math.radians, (elevation, azimuth, site.latitude))
    sin_d = math.sin(el) * math.sin(phi) + math.cos(el) * math.cos(phi) * math.cos(az)
    d = math.asin(max(-1.0, min(1.0, sin_d)))
    h = math.atan2(-math.sin(az) * math.cos(el),
                   math.sin(el) * math.cos(phi) - math.cos(el) * math.sin(phi) * math.cos(az))
    ra = (local_sidereal_time_deg(ut, site) - math.degrees(h)) % 360.0
    return ra, math.degrees(d)


def airmass(elevation: float) -> float:
    """Plane-parallel airmass sec(z); ``-9999.`` below the horizon, as Gemini writes it."""
    if elevation <= 0:
        return -9999.0
    return 1.0 / math.sin(math.radians(elevation))


def file_date(ut: datetime, site: Site) -> date:
    """Date in a Gemini raw file name.

    The Gemini "observing day" (file names and daily CAL programs) rolls over
    at 14:00 local time, so an afternoon calibration in Chile carries the next
    day's date while its ``DATE-OBS`` still shows the UT date.
    """
    return (site.local_time(ut) + timedelta(hours=10)).date()
