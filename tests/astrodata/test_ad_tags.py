"""Tag resolution: TagSet, @astro_data_tag and the order rules, through real classes."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import AstroData, TagSet, astro_data_tag
from astrodata.factory import add_class, remove_class
from astrodata.tags import resolve_tags


class AstroDataTagTest(AstroData):
    """A test instrument whose tags exercise every TagSet field."""

    @staticmethod
    def _matches_data(source):
        return source.phu.get("INSTRUME") == "TAGTEST"

    @astro_data_tag
    def _tag_instrument(self):
        return TagSet({"TAGTEST"})

    @astro_data_tag
    def _tag_image(self):
        return TagSet({"IMAGE"})

    @astro_data_tag
    def _tag_dark(self):
        if self.phu["OBSTYPE"] == "DARK":
            return TagSet({"DARK", "CAL"}, blocks={"IMAGE", "SPECT"})

    @astro_data_tag
    def _tag_processed(self):
        if "PROCDARK" in self.phu:
            return TagSet({"PROCESSED"})

    @astro_data_tag
    def _tag_lamp(self):
        if self.phu.get("LAMP") == "on":
            return TagSet({"LAMPON"}, blocked_by={"PROCESSED"})

    @astro_data_tag
    def _tag_thruslit(self):
        if "SLIT" in self.phu:
            return TagSet({"THRUSLIT"}, if_present={"IMAGE"})

    @astro_data_tag
    def _tag_raw(self):
        if "GEM-TLM" not in self.phu:
            return TagSet({"RAW"})

    @astro_data_tag
    def _tag_missing_keyword(self):
        return TagSet({"NEVER"}) if self.phu["NO_SUCH_KEY"] else None

    @astro_data_tag
    def _tag_malformed_keyword(self):
        return TagSet({"FAST"}) if float(self.phu.get("RDSPEED", "x")) > 1 else None


class AstroDataBadTag(AstroData):
    @staticmethod
    def _matches_data(source):
        return source.phu.get("INSTRUME") == "BADTAG"

    @astro_data_tag
    def _tag_wrong(self):
        return "IMAGE"


@pytest.fixture
def registered():
    add_class(AstroDataTagTest)
    add_class(AstroDataBadTag)
    yield
    remove_class(AstroDataTagTest)
    remove_class(AstroDataBadTag)


def make(cards):
    return astrodata.create(fits.Header([("INSTRUME", "TAGTEST"), *cards.items()]))


def test_tagset_fields_are_sets():
    ts = TagSet("A", ["B", "C"], blocks=("D",))
    assert ts.add == {"A"}
    assert ts.remove == {"B", "C"}
    assert ts.blocked_by == set()
    assert ts.blocks == {"D"}
    assert ts.if_present == set()
    assert TagSet().is_empty()


def test_plain_object_gets_instrument_image_and_raw(registered):
    ad = make({"OBSTYPE": "OBJECT"})
    assert type(ad) is AstroDataTagTest
    assert ad.tags == {"TAGTEST", "IMAGE", "RAW"}


def test_blocks_beats_alphabetical_order(registered):
    # _tag_dark sorts alphabetically before _tag_image anyway; the blocks
    # count must put it first even when given last.
    dark = TagSet({"DARK", "CAL"}, blocks={"IMAGE"})
    image = TagSet({"IMAGE"})
    assert resolve_tags([image, dark]) == {"DARK", "CAL"}
    assert resolve_tags([dark, image]) == {"DARK", "CAL"}
    ad = make({"OBSTYPE": "DARK"})
    assert "IMAGE" not in ad.tags
    assert {"DARK", "CAL", "RAW"} <= ad.tags


def test_blocked_by_is_applied_after_the_blocking_tag(registered):
    lamp = TagSet({"LAMPON"}, blocked_by={"PROCESSED"})
    processed = TagSet({"PROCESSED"})
    assert resolve_tags([lamp, processed]) == {"PROCESSED"}
    assert resolve_tags([processed, lamp]) == {"PROCESSED"}
    assert "LAMPON" in make({"OBSTYPE": "FLAT", "LAMP": "on"}).tags
    tags = make({"OBSTYPE": "FLAT", "LAMP": "on", "PROCDARK": "x"}).tags
    assert "PROCESSED" in tags and "LAMPON" not in tags


def test_if_present_needs_all_the_tags(registered):
    assert "THRUSLIT" in make({"OBSTYPE": "OBJECT", "SLIT": "1.0"}).tags
    # A dark blocks IMAGE, so the if_present condition fails.
    assert "THRUSLIT" not in make({"OBSTYPE": "DARK", "SLIT": "1.0"}).tags
    assert resolve_tags([TagSet({"B"}, if_present={"A", "C"}), TagSet({"A"})]) == {"A"}


def test_remove_prevents_later_additions_only():
    remover = TagSet({"PREPARED"}, remove={"UNPREPARED"})
    adder = TagSet({"UNPREPARED"})
    # The remover sorts first (more removals) whatever the input order.
    assert resolve_tags([adder, remover]) == {"PREPARED"}
    # A remover that can only apply later (if_present) cannot delete a tag already added.
    late = TagSet({"C"}, remove={"B"}, if_present={"B"})
    assert resolve_tags([late, TagSet({"B"})]) == {"B", "C"}


def test_empty_tagsets_are_ignored():
    assert resolve_tags([TagSet(), TagSet(blocked_by={"X"}), TagSet({"A"})]) == {"A"}


def test_missing_or_malformed_keyword_gives_no_tag(registered):
    ad = make({"OBSTYPE": "OBJECT", "RDSPEED": "fast"})
    assert "NEVER" not in ad.tags
    assert "FAST" not in ad.tags
    assert AstroDataTagTest._tag_missing_keyword(ad) == TagSet()
    assert "FAST" in make({"OBSTYPE": "OBJECT", "RDSPEED": 2.0}).tags


def test_missing_obstype_only_drops_that_tag(registered):
    ad = make({})
    assert ad.tags == {"TAGTEST", "IMAGE", "RAW"}


def test_non_tagset_return_raises_typeerror(registered):
    ad = astrodata.create(fits.Header([("INSTRUME", "BADTAG")]))
    with pytest.raises(TypeError, match="_tag_wrong"):
        ad.tags  # noqa: B018


def test_tags_follow_phu_changes(registered):
    ad = make({"OBSTYPE": "OBJECT"})
    assert "RAW" in ad.tags
    astrodata.mark_history(ad, "prepare")
    assert "RAW" not in ad.tags
    ad.phu["OBSTYPE"] = "DARK"
    assert "DARK" in ad.tags and "IMAGE" not in ad.tags
    del ad.phu["OBSTYPE"]
    assert "DARK" not in ad.tags


def test_tags_survive_write_and_read(registered, tmp_path):
    ad = make({"OBSTYPE": "DARK"})
    ad.append(np.zeros((2, 2), dtype="float32"))
    path = ad.write(tmp_path / "dark.fits")
    again = astrodata.open(path)
    assert type(again) is AstroDataTagTest
    assert again.tags == ad.tags
