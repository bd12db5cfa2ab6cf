"""Raw-file structure of the simulated datasets: HDUs, dtypes, shapes, sections, keywords."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gempy.sim import DATASETS
from gempy.sim.pointing import offset_keywords, rotation

FAC_PDU = ("TELESCOP", "TRKFRAME", "DECTRACK", "TRKEPOCH", "RATRACK", "PMDEC", "PMRA", "DATE",
           "DATE-OBS", "GEMPRGID", "OBSID", "DATALAB", "OBJECT", "OBSTYPE", "RAWGEMQA",
           "RAWPIREQ", "RAWBG", "RAWCC", "RAWIQ", "RAWWV", "RELEASE", "SSA", "UT", "OBSERVAT",
           "INSTRUME", "OBSCLASS", "AZIMUTH", "ELEVATIO", "CRPA", "PA", "IAA", "UTSTART", "UTEND",
           "TIME-OBS", "LT", "MJD-OBS", "RA", "DEC", "XOFFSET", "YOFFSET", "POFFSET", "QOFFSET",
           "RAOFFSET", "DECOFFSE", "GCALLAMP", "GCALSHUT", "EXPTIME", "AIRMASS")
WCS_KEYS = ("CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2",
            "CD2_1", "CD2_2")


def _expand(prefix: str, day: str, first: int, last: int) -> set[str]:
    return {f"{prefix}{day}S{n:04d}.fits" for n in range(first, last + 1)}


def test_dataset_names_are_registered():
    assert {"f2-tutorial", "gsaoi-tutorial", "niri-imaging", "gmos-imaging"} <= set(DATASETS)


def test_f2_file_list_and_roles_follow_the_tutorial(small_dataset):
    path, truth = small_dataset("f2-tutorial")
    roles = {k: set(v) for k, v in truth["roles"].items()}
    assert roles["science"] == _expand("S", "20131121", 75, 83)
    assert roles["dark_short"] == _expand("S", "20131121", 369, 375)
    assert roles["dark"] == (_expand("S", "20131120", 115, 120) | {"S20131121S0010.fits",
                             "S20131122S0012.fits"} | _expand("S", "20131122", 438, 439))
    assert roles["flat_lamp_on"] == _expand("S", "20131129", 320, 323)
    assert roles["flat_lamp_off"] == _expand("S", "20131126", 1111, 1116)
    assert all((path / name).is_file() for names in roles.values() for name in names)


def test_f2_raw_structure(small_dataset):
    path, truth = small_dataset("f2-tutorial")
    with fits.open(path / "S20131121S0075.fits", do_not_scale_image_data=True) as hdul:
        assert len(hdul) == 2
        hdr = hdul[1].header
        assert hdr["BITPIX"] == 32 and hdr["NAXIS"] == 3 and hdr["NAXIS3"] == 1
        assert "EXTNAME" not in hdr and hdr["CD3_3"] == 1.0
        assert hdul[1].data.shape == (1, 256, 256)
        phu = hdul[0].header
        for key in FAC_PDU + ("LNRS", "READMODE", "FILTER1", "FILTER2", "LYOT", "GRISM",
                              "DECKER", "MOSPOS", "MASKNAME", "COADDS", "DHSLABEL"):
            assert key in phu, key
        for key in WCS_KEYS:
            assert key in hdr, key
        assert (phu["FILTER1"], phu["FILTER2"]) == ("Open", "Y_G0811")
        assert phu["LNRS"] == 8 and phu["EXPTIME"] == 120.0


def test_f2_file_dates_roll_over_at_14h_local(small_dataset):
    path, _ = small_dataset("f2-tutorial")
    afternoon = fits.getheader(path / "S20131121S0010.fits")
    assert afternoon["DATE-OBS"] == "2013-11-20"
    assert afternoon["GEMPRGID"] == "GS-CAL20131121"
    night = fits.getheader(path / "S20131121S0075.fits")
    assert night["DATE-OBS"] == "2013-11-21"
    assert night["DATALAB"] == night["OBSID"] + "-001"


def test_gsaoi_layout_and_standard_roi(small_dataset):
    path, truth = small_dataset("gsaoi-tutorial")
    assert len(truth["roles"]["science"]) == 9 and len(truth["roles"]["sky"]) == 7
    with fits.open(path / "S20170505S0095.fits") as hdul:
        assert len(hdul) == 5
        ids = [h.header["ARRAYID"] for h in hdul[1:]]
        assert ids == ["H2RG-032-074", "H2RG-032-064", "H2RG-032-071", "H2RG-032-061"]
        assert [h.header["DETSEC"] for h in hdul[1:]] == [
            "[257:512,1:256]", "[1:256,1:256]", "[1:256,257:512]", "[257:512,257:512]"]
        assert all(h.header["BITPIX"] == -32 and h.data.shape == (256, 256) for h in hdul[1:])
        assert hdul[0].header["FILTER1"] == "Kshort_G1105" and hdul[0].header["OBJECT"] == "NGC5128"
    with fits.open(path / "S20170504S0114.fits") as hdul:
        assert hdul[0].header["OBJECT"] == "9132" and hdul[0].header["OBSCLASS"] == "partnerCal"
        for h in hdul[1:]:
            assert h.data.shape == (192, 192)
            assert h.header["CCDSEC"] == "[33:224,33:224]"
            assert h.header["DATASEC"] == "[1:192,1:192]"
        assert hdul[2].header["DETSEC"] == "[33:224,33:224]"
    lamp = fits.getheader(path / "S20170505S0030.fits")
    assert (lamp["OBJECT"], lamp["OBSTYPE"], lamp["OBSCLASS"], lamp["FRAME"]) == (
        "Domeflat", "OBJECT", "dayCal", "AZEL_TOPO")
    assert fits.getheader(path / "S20170505S0060.fits")["OBJECT"] == "Domeflat OFF"


@pytest.mark.parametrize("name, n_ext, width", [("gmos-imaging", 12, 64),
                                                 ("gmos-imaging-1x1", 12, 96),
                                                 ("gmos-imaging-ccd2", 4, 64),
                                                 ("gmos-n-e2v", 6, 96)])
def test_gmos_amplifier_layout(small_dataset, name, n_ext, width):
    path, truth = small_dataset(name)
    science = truth["roles"]["science"][0]
    with fits.open(path / science, do_not_scale_image_data=True) as hdul:
        assert len(hdul) == n_ext + 1
        for h in hdul[1:]:
            hdr = h.header
            assert hdr["BITPIX"] == 16 and hdr["BZERO"] == 32768
            assert h.data.shape[1] == width
            for key in ("GAIN", "RDNOISE", "CCDSUM", "CCDNAME", "AMPNAME", "CCDSEC", "DETSEC",
                        "DATASEC", "BIASSEC") + WCS_KEYS:
                assert key in hdr, key
    with fits.open(path / science) as hdul:
        assert hdul[1].data.dtype == np.uint16
        x1 = [int(h.header["DETSEC"][1:].split(":")[0]) for h in hdul[1:]]
        if name != "gmos-n-e2v":
            assert x1 == sorted(x1)
            # amplifiers 4,3,2,1 of each CCD: overscan after, before, after, before the data
            assert [h.header["AMPNAME"][-1] for h in hdul[1:5]] == ["4", "3", "2", "1"]
            assert hdul[1].header["BIASSEC"].startswith(f"[{width - 31}:{width},")
            assert hdul[2].header["BIASSEC"].startswith("[1:32,")
        else:
            assert [h.header["AMPNAME"].split(", ")[1] for h in hdul[1:]] == [
                "right", "left", "right", "left", "left", "right"]
            assert [h.header["BIASSEC"].startswith("[1:32,") for h in hdul[1:]] == [
                True, False, True, False, False, True]


def test_gmos_ccd2_roi_keywords(small_dataset):
    path, truth = small_dataset("gmos-imaging-ccd2")
    phu = fits.getheader(path / truth["roles"]["bias"][0])
    assert phu["DETRO1X"] == 257 and phu["DETRO1XS"] == 128 and phu["DETRO1YS"] == 264
    assert phu["OBSTYPE"] == "BIAS" and phu["OBJECT"] == "Bias"


def test_niri_subarray(small_dataset):
    path, truth = small_dataset("niri-imaging")
    with fits.open(path / truth["roles"]["science"][0]) as hdul:
        hdr = hdul[1].header
        assert hdr["BITPIX"] == -32 and hdul[1].data.shape == (256, 256)
        assert (hdr["LOWROW"], hdr["HIROW"], hdr["LOWCOL"], hdr["HICOL"]) == (384, 639, 384, 639)
        phu = hdul[0].header
        assert (phu["LNRS"], phu["NDAVGS"], phu["COADDS"], phu["EXPTIME"]) == (1, 16, 2, 15.0)
        assert phu["A_VDDUC"] - phu["A_VDET"] == pytest.approx(-0.60)


@pytest.mark.parametrize("name", ["f2-tutorial", "gsaoi-tutorial", "niri-imaging",
                                  "gmos-imaging", "gmos-n-e2v"])
def test_offsets_follow_pa_and_iaa(small_dataset, name):
    path, truth = small_dataset(name)
    for fname in truth["roles"]["science"]:
        phu = fits.getheader(path / fname)
        expected = offset_keywords(phu["RAOFFSET"], phu["DECOFFSE"], phu["PA"], phu["IAA"])
        for key in ("POFFSET", "QOFFSET", "XOFFSET", "YOFFSET"):
            assert phu[key] == pytest.approx(expected[key], abs=2e-5)


@pytest.mark.parametrize("name", ["f2-tutorial", "gsaoi-tutorial", "niri-imaging",
                                  "gmos-imaging", "gmos-n-e2v"])
def test_wcs_centre_moves_with_the_offsets(small_dataset, name):
    """The focal-plane reference pixel sees base + (RAOFFSET, DECOFFSE) in every frame."""
    path, truth = small_dataset(name)
    for fname in truth["roles"]["science"]:
        record = truth["files"][fname]
        phu = fits.getheader(path / fname)
        cos_dec = np.cos(np.radians(phu["DEC"]))
        expected = (phu["RA"] + phu["RAOFFSET"] / 3600 / cos_dec,
                    phu["DEC"] + phu["DECOFFSE"] / 3600)
        assert record["centre_radec"] == pytest.approx(expected, abs=1e-6)


def test_f2_star_shift_equals_detector_offset_convention(small_dataset):
    """A fixed star moves by A R(PA) (P,Q)/scale pixels: F2's detector offsets are -Q, -P."""
    path, truth = small_dataset("f2-tutorial")
    ra, dec = truth["catalog"]["ra"][0], truth["catalog"]["dec"][0]
    positions, pq = [], []
    for fname in truth["roles"]["science"][:4]:
        with fits.open(path / fname) as hdul:
            w = WCS(hdul[1].header, naxis=2)
            positions.append(np.array(w.all_world2pix(ra, dec, 0), float))
            pq.append((hdul[0].header["POFFSET"], hdul[0].header["QOFFSET"]))
    scale = truth["pixel_scale_arcsec"]
    for pos, (p, q) in zip(positions[1:], pq[1:], strict=True):
        shift = pos - positions[0]
        expected = np.array([-(q - pq[0][1]), -(p - pq[0][0])]) / scale
        assert shift == pytest.approx(expected, abs=0.02)


def test_rotation_helper_is_counter_clockwise():
    assert rotation(90.0) @ np.array([1.0, 0.0]) == pytest.approx([0.0, 1.0])
