"""The descriptor guard of astrodata.descriptors, shared by the Gemini and LMI classes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import AstroData, AstroDataError, astro_data_descriptor, returns_list
from astrodata.descriptors import MissingKeyword, guard_descriptor, guard_descriptors
from astrodata.instruments.gemini.adclass import AstroDataGemini
from astrodata.instruments.lmi.adclass import AstroDataLMI


class AstroDataGuardTest(AstroData):
    @astro_data_descriptor
    def exposure_time(self):
        return float(self.phu["EXPTIME"])

    @astro_data_descriptor
    @returns_list
    def gain(self):
        headers = [self.hdr] if self.is_single else list(self.hdr)
        return [float(h["GAIN"]) for h in headers]

    @astro_data_descriptor
    def airmass(self):
        raise MissingKeyword("keyword AIRMASS is missing from the primary header")

    @astro_data_descriptor
    def refuses(self):
        raise AstroDataError("not a header problem")


guard_descriptors(AstroDataGuardTest)


def _ad(phu_cards, gains):
    exts = []
    for gain in gains:
        hdu = fits.ImageHDU(np.zeros((2, 3), dtype=np.float32))
        if gain is not None:
            hdu.header["GAIN"] = gain
        exts.append(hdu)
    ad = astrodata.create(fits.Header(list(phu_cards.items())), exts)
    guarded = AstroDataGuardTest(ad._nddata, ad.phu)
    guarded.path = "/data/N20240101S0001.fits"
    return guarded


def test_bad_values_give_none_and_one_warning_naming_file_and_descriptor(caplog):
    ad = _ad({"EXPTIME": "sixty"}, [2.0, None, 2.2])
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.exposure_time() is None
        assert ad.gain() == [None, None, None]  # one None per extension on a full object
        assert ad[0].gain() == 2.0 and ad[1].gain() is None
        assert ad.airmass() is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    assert messages[0].startswith("N20240101S0001.fits: exposure_time(): could not convert")
    assert messages[1].startswith("N20240101S0001.fits: gain(): keyword ")
    assert "GAIN" in messages[1] and messages[1].endswith("is missing; returning None")
    assert messages[3] == ("N20240101S0001.fits: airmass(): keyword AIRMASS is missing from the "
                           "primary header; returning None")


def test_good_values_pass_and_astrodata_errors_propagate():
    ad = _ad({"EXPTIME": 60.0}, [2.0, 2.1])
    assert ad.exposure_time() == 60.0 and ad.gain() == [2.0, 2.1]
    with pytest.raises(AstroDataError, match="not a header problem"):
        ad.refuses()


def test_guarding_twice_wraps_once_and_keeps_the_descriptor_mark():
    once = AstroDataGuardTest.__dict__["exposure_time"]
    assert guard_descriptor(once) is once
    assert once.descriptor_method and once._header_guarded
    assert "exposure_time" in AstroDataGuardTest(None, fits.Header()).descriptors


@pytest.mark.parametrize("base", [AstroDataGemini, AstroDataLMI])
def test_instrument_classes_and_their_plugins_use_the_shared_guard(base):
    class Plugin(base):
        @astro_data_descriptor
        def exposure_time(self):
            return float(self.phu["EXPTIME"])

    assert Plugin.__dict__["exposure_time"]._header_guarded
    assert base.__dict__["exposure_time"].__code__ is (
        AstroDataGuardTest.__dict__["exposure_time"].__code__)  # same wrapper
    assert Plugin(None, fits.Header([("EXPTIME", "n/a")])).exposure_time() is None
