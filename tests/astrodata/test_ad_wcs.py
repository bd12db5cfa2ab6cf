"""gWCS built from FITS headers, and written back as FITS keywords."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling import models
from astropy.wcs import WCS

import astrodata
from astrodata.wcs import fits_header_to_gwcs, gwcs_to_fits

PIXELS = (np.array([0.0, 10.0, 39.0, 25.5, 3.0]), np.array([0.0, 29.0, 5.0, 14.2, 20.0]))


def sky_by_astropy(header, x, y):
    """Independent reference: wcslib through astropy (0-based pixels)."""
    return WCS(header).all_pix2world(x, y, 0)


def test_gwcs_from_header_matches_wcslib(fitsbuild):
    header = fits.Header(list(fitsbuild.TAN_WCS.items()))
    gw = fits_header_to_gwcs(header)
    ra, dec = gw(*PIXELS)
    ref_ra, ref_dec = sky_by_astropy(header, *PIXELS)
    np.testing.assert_allclose(ra, ref_ra, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dec, ref_dec, rtol=0, atol=1e-10)
    x, y = gw.invert(ra, dec)
    np.testing.assert_allclose(x, PIXELS[0], atol=1e-6)


def test_pc_cdelt_header_and_3d_data(fitsbuild):
    header = fits.Header([("NAXIS", 3), ("NAXIS1", 40), ("NAXIS2", 30), ("NAXIS3", 1),
                          ("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRPIX1", 10.0),
                          ("CRPIX2", 12.0), ("CRVAL1", 20.0), ("CRVAL2", 45.0),
                          ("CDELT1", -5e-5), ("CDELT2", 5e-5), ("PC1_1", 0.9),
                          ("PC1_2", 0.1), ("PC2_1", -0.1), ("PC2_2", 0.9)])
    gw = fits_header_to_gwcs(header)
    ra, dec = gw(*PIXELS)
    ref = WCS(header, naxis=2).all_pix2world(*PIXELS, 0)
    np.testing.assert_allclose(ra, ref[0], atol=1e-10)
    np.testing.assert_allclose(dec, ref[1], atol=1e-10)


def test_no_wcs_gives_none_and_bad_wcs_warns(caplog):
    assert fits_header_to_gwcs(fits.Header([("OBJECT", "x")])) is None
    bad = fits.Header([("CTYPE1", "RA---XYZ"), ("CTYPE2", "DEC--XYZ"), ("CRPIX1", 1.0)])
    assert fits_header_to_gwcs(bad) is None
    assert "cannot build a WCS" in caplog.text


def test_gwcs_to_fits_is_exact_for_tan(fitsbuild):
    header = fits.Header(list(fitsbuild.TAN_WCS.items()))
    keywords, exact = gwcs_to_fits(fits_header_to_gwcs(header), (30, 40))
    assert exact
    for key in ("CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        assert keywords[key][0] == pytest.approx(header[key], rel=1e-9, abs=1e-12), key
    assert keywords["CTYPE1"][0] == "RA---TAN"


def test_untouched_wcs_keeps_the_header(science_file, tmp_path):
    path = science_file[0]
    ad = astrodata.open(path)
    ad[0].wcs(1, 1)  # built, but not changed
    out = ad.write(tmp_path / "same.fits")
    original = fits.getheader(path, 1)
    written = fits.getheader(out, 1)
    for key in ("CRPIX1", "CRVAL2", "CD1_2", "CTYPE1"):
        assert written[key] == original[key]
    assert "FITS-WCS" not in written


def test_modified_wcs_is_written_as_fits_keywords(science_file, tmp_path):
    ad = astrodata.open(science_file[0])
    wcs = ad[0].wcs
    # registration-like change: shift by (2.5, -1) pixels and rotate by 0.3 deg
    wcs.insert_transform(wcs.input_frame,
                         (models.Shift(2.5) & models.Shift(-1.0)) | models.Rotation2D(0.3),
                         after=True)
    ad[0].wcs = wcs
    expected = ad[0].wcs(*PIXELS)
    out = ad.write(tmp_path / "moved.fits")
    written = fits.getheader(out, 1)
    assert "FITS-WCS" not in written  # exact
    ra, dec = sky_by_astropy(written, *PIXELS)
    np.testing.assert_allclose(ra, expected[0], atol=1e-9)
    np.testing.assert_allclose(dec, expected[1], atol=1e-9)
    back = astrodata.open(out)
    np.testing.assert_allclose(back[0].wcs(*PIXELS)[1], expected[1], atol=1e-9)


def test_astropy_wcs_can_be_assigned(science_file):
    ad = astrodata.open(science_file[0])
    header = fits.getheader(science_file[0], 1)
    ad[0].wcs = WCS(header)
    np.testing.assert_allclose(ad[0].wcs(3, 4), sky_by_astropy(header, 3, 4), atol=1e-10)
    with pytest.raises(TypeError):
        ad[0].wcs = "not a wcs"


def test_nonlinear_wcs_is_approximated_with_a_flag(science_file, tmp_path, caplog):
    ad = astrodata.open(science_file[0])
    wcs = ad[0].wcs
    # a quadratic distortion in x cannot be expressed by CD + TAN
    distortion = models.Mapping((0, 1, 0, 1)) | (
        models.Polynomial2D(2, c1_0=1, c2_0=2e-3) & models.Polynomial2D(2, c0_1=1)
    )
    wcs.insert_transform(wcs.input_frame, distortion, after=True)
    ad[0].wcs = wcs
    out = ad.write(tmp_path / "distorted.fits")
    assert fits.getheader(out, 1)["FITS-WCS"] == "APPROXIMATE"
    assert "approximation" in caplog.text
