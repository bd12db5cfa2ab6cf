"""Parsing of Gemini header values (component IDs, angles, conditions, dates, units)."""

import datetime as dt

import pytest

from astrodata.instruments.gemini import gmu


@pytest.mark.parametrize(
    "raw, name",
    [
        ("Kshort_G1105", "Kshort"),
        ("f/16_G5830", "f/16"),
        ("K-long_G0812", "K-long"),
        ("H2v=1-0S1_G0220", "H2v=1-0S1"),
        ("R400+_G5305", "R400+"),
        ("GG455_G0305", "GG455"),
        ("open1-6", "open1-6"),
        ("MIRROR", "MIRROR"),
        (None, None),
    ],
)
def test_component_id_is_removed_only_when_present(raw, name):
    assert gmu.remove_component_id(raw) == name


@pytest.mark.parametrize(
    "raw, percentile",
    [("Any", 100), ("70-percentile", 70), ("20-percentile", 20), ("UNKNOWN", None), ("", None),
     ("150-percentile", None), (None, None)],
)
def test_condition_percentiles(raw, percentile):
    assert gmu.parse_percentile(raw) == percentile


def test_ra_dec_accept_degrees_and_sexagesimal():
    assert gmu.parse_ra(201.365063) == pytest.approx(201.365063)
    # 13h25m27.6s = 201.365 deg
    assert gmu.parse_ra("13:25:27.6") == pytest.approx(201.365, abs=1e-9)
    assert gmu.parse_dec("-43:01:08.8") == pytest.approx(-(43 + 1 / 60 + 8.8 / 3600))
    assert gmu.parse_dec("-00:30:00") == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        gmu.parse_dec(95.0)
    with pytest.raises(ValueError):
        gmu.parse_ra("12:61:00")
    with pytest.raises(ValueError):
        gmu.parse_ra("not an angle")


def test_dates_and_times():
    assert gmu.parse_date("2017-01-01") == dt.date(2017, 1, 1)
    assert gmu.parse_date("2017-01-01T19:47:32.1") == dt.date(2017, 1, 1)
    assert gmu.parse_date("17/03/01") == dt.date(2001, 3, 17)  # old NIRI DD/MM/YY
    assert gmu.parse_date("31/12/99") == dt.date(1999, 12, 31)
    assert gmu.parse_time("19:47:32.1") == dt.time(19, 47, 32, 100000)
    assert gmu.parse_time("3:05:00") == dt.time(3, 5, 0)
    assert gmu.parse_datetime("2013-11-21T03:13:05.25") == dt.datetime(2013, 11, 21, 3, 13, 5,
                                                                        250000)
    for bad in ("2017-13-01", "yesterday", ""):
        with pytest.raises(ValueError):
            gmu.parse_date(bad)
    for bad in ("25:00:00", "19:47", "noon"):
        with pytest.raises(ValueError):
            gmu.parse_time(bad)


def test_mjd_and_filename_dates():
    # MJD 57754.0 is 2017-01-01T00:00 UT.
    assert gmu.mjd_to_datetime(57754.824) == dt.datetime(2017, 1, 1, 19, 46, 33, 600000)
    for placeholder in (0, -9999.0, "nan"):
        with pytest.raises(ValueError):
            gmu.mjd_to_datetime(placeholder)
    assert gmu.date_from_filename("S20170102S0019.fits") == dt.date(2017, 1, 2)
    assert gmu.date_from_filename("/data/N20160102S0373_dark.fits") == dt.date(2016, 1, 2)
    with pytest.raises(ValueError):
        gmu.date_from_filename("image001.fits")


def test_wavelength_units_are_powers_of_ten():
    assert gmu.convert_wavelength(2.2, "micrometers") == pytest.approx(2.2e-6)
    assert gmu.convert_wavelength(2.2, "micrometers", asNanometers=True) == 2200.0
    assert gmu.convert_wavelength(10200.0, "angstroms", asMicrometers=True) == 1.02
    assert gmu.convert_wavelength(1338.5, "nanometers", asAngstroms=True) == 13385.0
    assert gmu.convert_wavelength(None, "nanometers") is None
    with pytest.raises(ValueError):
        gmu.convert_wavelength(1.0, "micrometers", asMicrometers=True, asNanometers=True)
