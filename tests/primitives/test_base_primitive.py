"""The @primitive wrapper: streams, logging, universal parameters, provenance, pixel types."""

import hashlib
import json
import logging

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from gempy.utils import logutils
from primitives.base import PrimitivesBASE
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive


def write_frame(directory, name, value=1.0, shape=(6, 5)):
    """Write a one-extension FITS file and return it opened."""
    ad = astrodata.create(fits.Header({"OBJECT": "toy"}))
    ad.append(np.full(shape, value, dtype=np.float32))
    path = directory / name
    ad.write(str(path))
    return astrodata.open(str(path))


class Toy(PrimitivesBASE):
    tagset = frozenset({"TOY"})

    @primitive(
        suffix=Param(str, "_scaled", "Filename suffix"),
        factor=Param(float, 2.0, "Multiplicative factor"),
    )
    def scale(self, adinputs=None, **params):
        """Multiply the data by a factor."""
        self.seen_name = self.myself()
        for ad in adinputs:
            for ext in ad:
                ext.data = ext.data * np.float32(params["factor"])
            ad.update_filename(suffix=params["suffix"], strip=True)
            self.mark(ad, keyword="TOYSCALE")
        return adinputs

    @primitive(suffix=Param(str, "_twice", "Filename suffix"))
    def scaleTwice(self, adinputs=None, **params):
        """Calls scale twice (nested calls)."""
        self.log.stdinfo("outer body")
        adinputs = self.scale(adinputs, factor=3.0)
        adinputs = self.scale(adinputs, factor=3.0, write_outputs=True)
        for ad in adinputs:
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive
    def makeDouble(self, adinputs=None, **params):
        """Returns float64 data, which the data model refuses."""
        for ad in adinputs:
            ad[0].data = ad[0].data.astype(np.float64)
        return adinputs

    @primitive
    def returnNothing(self, adinputs=None, **params):
        """Forgets to return its outputs."""

    @primitive
    def combine(self, adinputs=None, **params):
        """Makes one new object from all inputs (like a stack)."""
        out = astrodata.create(adinputs[0].phu.copy())
        out.append(np.sum([ad[0].data for ad in adinputs], axis=0).astype(np.float32))
        out.filename = adinputs[0].filename
        out.update_filename(suffix="_sum", strip=True)
        return [out]

    @primitive
    def writeOutputs(self, adinputs=None, **params):
        """Minimal writer used by write_outputs=True."""
        for ad in adinputs:
            ad.write(ad.filename, overwrite=True)
        return adinputs


@pytest.fixture
def frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    return [write_frame(raw, f"S00{i}.fits", value=i) for i in (1, 2, 3)]


def test_main_stream_in_and_out(frames):
    p = Toy(frames)
    out = p.scale()
    assert out is p.streams["main"]
    assert [ad.filename for ad in out] == ["S001_scaled.fits", "S002_scaled.fits",
                                           "S003_scaled.fits"]
    assert np.allclose(out[1][0].data, 4.0)
    assert p.seen_name == "scale" and p.myself() is None
    assert out[0].phu["TOYSCALE"] and out[0].phu["GEM-TLM"]


def test_named_streams_and_deep_copy(frames):
    p = Toy(frames)
    p.streams["other"] = frames[:1]
    p.scale(stream="other")
    assert len(p.streams["other"]) == 1 and np.allclose(p.streams["other"][0][0].data, 2.0)
    p2 = Toy(frames[1:])
    p2.scale(instream="main", outstream="copy", factor=10)
    # the copy was scaled, the main stream objects were not touched
    assert np.allclose(p2.streams["copy"][0][0].data, 20.0)
    assert np.allclose(p2.streams["main"][0][0].data, 2.0)
    assert p2.streams["copy"][0] is not p2.streams["main"][0]


def test_explicit_inputs_leave_streams_alone(frames):
    p = Toy(frames[:2])
    out = p.scale([frames[2]])
    assert [ad.filename for ad in out] == ["S003_scaled.fits"]
    assert [ad.filename for ad in p.streams["main"]] == ["S001.fits", "S002.fits"]
    assert p.scale(adinputs=[]) == [] and len(p.streams["main"]) == 2


def test_skip_primitive_passes_inputs_through(frames):
    p = Toy(frames, uparms=["scale:skip_primitive=True"])
    out = p.scale()
    assert [ad.filename for ad in out] == ["S001.fits", "S002.fits", "S003.fits"]
    assert np.allclose(out[0][0].data, 1.0)
    assert "HISTORY" not in out[0].tables


def test_history_and_provenance_for_top_level_calls(frames, tmp_path):
    raw_md5 = hashlib.md5((tmp_path / "raw" / "S001.fits").read_bytes()).hexdigest()
    p = Toy(frames[:1], uparms=["scale:factor=1.5"])
    p.scaleTwice()
    p.scale(suffix="_again")
    ad = p.streams["main"][0]
    history = ad.HISTORY
    assert list(history["primitive"]) == ["scaleTwice", "scale"]   # nested calls not recorded
    args = [json.loads(a) for a in history["args"]]
    assert args[0] == {"suffix": "_twice"}
    assert args[1] == {"suffix": "_again", "factor": 1.5}
    assert all(start <= stop for start, stop in zip(history["timestamp_start"],
                                                    history["timestamp_stop"], strict=True))
    prov = ad.PROVENANCE
    # only the raw file read from disk is recorded, once, by the first primitive
    assert list(prov["filename"]) == ["S001.fits"]
    assert list(prov["md5"]) == [raw_md5]
    assert list(prov["provenance_added_by"]) == ["scaleTwice"]
    # the user's scale:factor=1.5 also beats the factor=3.0 the calling
    # primitive passes to its nested calls (logged), so three scalings by 1.5
    assert np.allclose(ad[0].data, 1.5 ** 3)


def test_new_outputs_inherit_provenance_of_all_inputs(frames):
    p = Toy(frames)
    p.scale()
    out = p.combine()
    assert len(out) == 1
    prov = out[0].PROVENANCE
    assert sorted(prov["filename"]) == ["S001.fits", "S002.fits", "S003.fits"]
    assert list(out[0].HISTORY["primitive"]) == ["scale", "combine"]
    assert np.allclose(out[0][0].data, 2 + 4 + 6)


def test_write_outputs_only_at_top_level(frames, tmp_path):
    p = Toy(frames[:1])
    p.scaleTwice()
    # the nested scale(write_outputs=True) is ignored
    assert not list(tmp_path.glob("*.fits"))
    p.scale(write_outputs=True)
    assert [f.name for f in tmp_path.glob("*.fits")] == ["S001_scaled.fits"]


def test_output_pixel_types_are_checked(frames):
    p = Toy(frames[:1])
    with pytest.raises(PrimitiveError, match=r"makeDouble: S001.fits extension 1: data .*float64"):
        p.makeDouble()


def test_primitive_returning_none_is_an_error(frames):
    with pytest.raises(PrimitiveError, match="returnNothing returned None"):
        Toy(frames).returnNothing()


def test_missing_primitive_message():
    with pytest.raises(AttributeError, match="Toy has no primitive 'scal'; did you mean 'scale'"):
        Toy([]).scal()


def test_progress_is_plain_without_a_terminal(frames):
    p = Toy(frames)
    assert p.progress(frames) == frames


def test_progress_bar_on_a_terminal(frames, monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    p = Toy(frames)
    bar = p.progress(frames, desc="scale")
    assert isinstance(bar, tqdm.tqdm) and list(bar) == frames
    assert p.progress(frames[:1]) == frames[:1]          # a single file: no bar


def test_log_header_underline_and_indentation(frames, capsys):
    logutils.config(mode="standard")
    try:
        Toy(frames[:1]).scaleTwice()
    finally:
        logutils.reset()
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("PRIMITIVE: scaleTwice")
    assert lines[start + 1] == "-" * len("PRIMITIVE: scaleTwice")
    assert lines[start + 2] == "   outer body"
    assert "   PRIMITIVE: scale" in lines and "   " + "-" * 16 in lines
    assert lines.count("   .") == 2
    assert lines[-1] == "."


def test_primitive_header_is_status_level(frames, caplog):
    with caplog.at_level(logging.DEBUG):
        Toy(frames[:1]).scale()
    header = [r for r in caplog.records if r.getMessage() == "PRIMITIVE: scale"]
    assert header and header[0].levelno == logutils.STATUS
