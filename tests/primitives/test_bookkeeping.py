"""Bookkeeping primitives: streams, selections, sorting, lists, writing."""

import json

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from primitives.core.bookkeeping import Bookkeeping
from primitives.errors import PrimitiveError

F2_PHU = {"INSTRUME": "F2", "TELESCOP": "Gemini-South", "OBSERVAT": "Gemini-South",
          "GRISM": "Open", "OBSCLASS": "science", "OBSID": "GS-2013B-Q-15-39"}


def f2_frame(directory, name, obstype="OBJECT", n_ext=1, value=1.0, **phu):
    """Write a small raw-like F2 file and return it opened."""
    header = fits.Header({**F2_PHU, "OBSTYPE": obstype, "OBJECT": name[:-5],
                          "DATALAB": f"GS-2013B-Q-15-39-{name[6:9]}", **phu})
    ad = astrodata.create(header)
    for i in range(n_ext):
        ad.append(np.full((4, 5), value + i, dtype=np.float32))
    path = directory / name
    ad.write(str(path))
    return astrodata.open(str(path))


@pytest.fixture
def raw(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rawdir = tmp_path / "raw"
    rawdir.mkdir()
    return rawdir


def names(ads):
    return [ad.filename for ad in ads]


def test_select_from_inputs_any_tag_into_another_stream(raw):
    darks = [f2_frame(raw, f"S20130001{i}.fits", "DARK") for i in (1, 2)]
    flats = [f2_frame(raw, f"S20130002{i}.fits", "FLAT") for i in (1, 2)]
    science = f2_frame(raw, "S200000031.fits")
    p = Bookkeeping(flats + darks + [science])
    p.selectFromInputs(tags="DARK", outstream="darks")
    p.selectFromInputs(tags="FLAT")
    assert names(p.streams["darks"]) == names(darks)
    assert names(p.streams["main"]) == names(flats)
    # the darks stream holds copies, not the objects of the main stream
    assert p.streams["darks"][0] is not darks[0]
    q = Bookkeeping(flats + darks + [science])
    q.selectFromInputs(tags="DARK,FLAT", xtags="LAMPON")
    assert names(q.streams["main"]) == names(flats + darks)  # ANY tag; F2 flats w/o lamp info


def test_remove_and_reject_inputs(raw):
    frames = [f2_frame(raw, f"S20130001{i}.fits", "DARK" if i == 2 else "OBJECT")
              for i in range(1, 6)]
    p = Bookkeeping(frames)
    p.removeFromInputs(tags="DARK")
    assert len(p.streams["main"]) == 4 and "S201300012.fits" not in names(p.streams["main"])
    p.rejectInputs(at_start=1, at_end=2)
    assert names(p.streams["main"]) == ["S201300013.fits"]
    p.rejectInputs(at_end=5)
    assert p.streams["main"] == []


def test_sort_inputs_by_descriptor(raw):
    frames = [f2_frame(raw, f"S20130001{i}.fits", EXPTIME=t) for i, t in ((1, 30.), (2, 5.),
                                                                          (3, 12.))]
    p = Bookkeeping(frames)
    p.sortInputs(descriptor="exposure_time")
    assert [ad.exposure_time() for ad in p.streams["main"]] == [5.0, 12.0, 30.0]
    p.sortInputs(descriptor="exposure_time", reverse=True)
    assert [ad.exposure_time() for ad in p.streams["main"]] == [30.0, 12.0, 5.0]
    p.sortInputs()
    assert names(p.streams["main"]) == sorted(names(frames))
    with pytest.raises(PrimitiveError, match="no descriptor or attribute 'nonsense'"):
        p.sortInputs(descriptor="nonsense")


def test_clear_append_and_clear_all_streams(raw):
    frames = [f2_frame(raw, f"S20130001{i}.fits") for i in (1, 2, 3)]
    p = Bookkeeping(frames[:1])
    p.streams["extra"] = frames[1:]
    p.appendStream(from_stream="extra")
    assert names(p.streams["main"]) == names(frames)
    assert p.streams["main"][1] is frames[1]
    p.appendStream(from_stream="extra", copy=True)
    assert len(p.streams["main"]) == 5 and p.streams["main"][3] is not frames[1]
    p.clearStream(stream="extra")
    assert p.streams["extra"] == [] and len(p.streams["main"]) == 5
    p.streams["other"] = frames[:1]
    p.clearAllStreams()
    assert p.streams["other"] == [] and len(p.streams["main"]) == 5
    p.clearStream()
    assert p.streams["main"] == []
    with pytest.raises(PrimitiveError, match="no stream 'nowhere'"):
        p.appendStream(from_stream="nowhere")


def test_slice_into_streams_and_merge_back(raw):
    frames = [f2_frame(raw, f"S20130001{i}.fits", n_ext=3, value=10 * i) for i in (1, 2)]
    p = Bookkeeping(frames)
    p.sliceIntoStreams(root_stream_name="ccd")
    assert sorted(k for k in p.streams if k.startswith("ccd")) == ["ccd1", "ccd2", "ccd3"]
    ccd2 = p.streams["ccd2"]
    assert [len(ad) for ad in ccd2] == [1, 1]
    assert names(ccd2) == names(frames)
    assert np.allclose(ccd2[1][0].data, 21.0)          # 2nd file, 2nd extension
    # building one object back from the per-CCD streams
    p.clearStream()
    for i in (1, 2, 3):
        p.rejectInputs(stream=f"ccd{i}", at_end=1)
        p.appendStream(from_stream=f"ccd{i}")
    p.mergeInputs()
    merged = p.streams["main"]
    assert len(merged) == 1 and len(merged[0]) == 3
    assert [float(ext.data[0, 0]) for ext in merged[0]] == [10.0, 11.0, 12.0]


def test_copy_inputs_forks_a_stream(raw):
    frames = [f2_frame(raw, "S201300011.fits")]
    p = Bookkeeping(frames)
    p.copyInputs(outstream="saved")
    p.streams["main"][0][0].data[:] = -1
    assert np.allclose(p.streams["saved"][0][0].data, 1.0)


def test_transfer_attribute_by_name_single_and_errors(raw):
    frames = [f2_frame(raw, f"S20130001{i}.fits") for i in (1, 2)]
    p = Bookkeeping(frames)
    p.copyInputs(outstream="skysub")
    for i, ad in enumerate(reversed(p.streams["skysub"])):   # reversed: pairing by name
        ad[0].OBJMASK = np.full((4, 5), i + 1, dtype=np.uint8)
    p.streams["skysub"] = list(reversed(p.streams["skysub"]))
    p.transferAttribute(source="skysub", attribute="OBJMASK")
    by_name = {ad.filename: ad for ad in p.streams["skysub"]}
    for ad in p.streams["main"]:
        assert np.array_equal(ad[0].OBJMASK, by_name[ad.filename][0].OBJMASK)
    p.streams["one"] = [f2_frame(raw, "S201300099.fits", value=7.0)]
    p.streams["one"][0][0].mask = np.full((4, 5), 64, dtype=np.uint16)
    p.transferAttribute(source="one", attribute="mask")
    assert all(int(ad[0].mask[0, 0]) == 64 for ad in p.streams["main"])
    p.streams["three"] = [f2_frame(raw, f"S20130009{i}.fits") for i in (1, 2, 3)]
    with pytest.raises(PrimitiveError, match="3 object"):
        p.transferAttribute(source="three", attribute="mask")
    with pytest.raises(PrimitiveError, match="required"):
        p.transferAttribute(source="one")


def test_write_outputs_in_working_directory(raw, tmp_path):
    frames = [f2_frame(raw, f"S20130001{i}.fits") for i in (1, 2)]
    p = Bookkeeping(frames)
    p.writeOutputs(suffix="_copy")
    work = tmp_path / "work"
    assert sorted(f.name for f in work.glob("*.fits")) == ["S201300011_copy.fits",
                                                          "S201300012_copy.fits"]
    reread = astrodata.open(str(work / "S201300011_copy.fits"))
    assert reread.orig_filename == "S201300011.fits" and np.allclose(reread[0].data, 1.0)
    with pytest.raises(PrimitiveError, match="outfilename"):
        p.writeOutputs(outfilename="one.fits")
    p.writeOutputs([frames[0]], outfilename="chosen.fits")
    assert (work / "chosen.fits").exists()


def test_write_outputs_never_rewrites_an_input_file(raw, monkeypatch):
    monkeypatch.chdir(raw)
    frame = f2_frame(raw, "S201300011.fits")
    before = (raw / "S201300011.fits").read_bytes()
    frame[0].data[:] = 99.0
    Bookkeeping([frame]).writeOutputs()
    assert (raw / "S201300011.fits").read_bytes() == before


def test_flush_pixels_writes_and_reopens_changed_objects(raw, tmp_path):
    frames = [f2_frame(raw, f"S20130001{i}.fits") for i in (1, 2)]
    frames[1].update_filename(suffix="_flatCorrected")
    frames[1][0].data = frames[1][0].data * np.float32(3)
    p = Bookkeeping(frames)
    p.flushPixels()
    out = p.streams["main"]
    assert out[0] is frames[0]                         # unchanged raw file left alone
    assert out[1] is not frames[1]
    assert out[1].path == str(tmp_path / "work" / "S201300012_flatCorrected.fits")
    assert not out[1][0].nddata.is_loaded()             # pixels back on disk
    assert np.allclose(out[1][0].data, 3.0)


def test_show_inputs_logs_each_file(raw, caplog):
    frames = [f2_frame(raw, f"S20130001{i}.fits") for i in (1, 2)]
    with caplog.at_level("DEBUG"):
        Bookkeeping(frames).showInputs(purpose="stacking")
    messages = [r.getMessage() for r in caplog.records]
    assert "Inputs for stacking" in messages
    assert "  S201300011.fits" in messages and "  S201300012.fits" in messages


def test_add_to_list_and_get_list(raw, tmp_path):
    frames = [f2_frame(raw, f"S20130001{i}.fits", **{"DATE-OBS": "2013-11-21",
                                                     "TIME-OBS": f"0{i}:00:00.0"})
              for i in (3, 1, 2)]
    for ad in frames:
        ad.update_filename(suffix="_skyCorrected")
    p = Bookkeeping(frames)
    p.addToList(purpose="forStack")
    index = json.loads((tmp_path / "work" / ".reducecache" / "stkindex.json").read_text())
    assert len(index) == 1
    (stack_id, paths), = index.items()
    assert stack_id.startswith("forStack") and len(paths) == 3
    q = Bookkeeping(frames[:1])
    q.getList(purpose="forStack")
    assert len(q.streams["main"]) == 3
    times = [ad.ut_datetime() for ad in q.streams["main"]]
    assert times == sorted(times)                      # chronological order
    q2 = Bookkeeping(frames[:1])
    q2.getList(purpose="forStack", max_frames=2)
    assert [ad.filename for ad in q2.streams["main"]] == ["S201300012_skyCorrected.fits",
                                                         "S201300013_skyCorrected.fits"]
    q3 = Bookkeeping(frames[:1])
    q3.getList(purpose="forSky")
    assert q3.streams["main"] == []
