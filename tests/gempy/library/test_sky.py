"""Field grouping (separateSky) and sky association (associateSky) on realistic sequences."""

from datetime import datetime, timedelta

import numpy as np
import pytest

from gempy.library.sky import FrameInfo, angular_separation, associate_sky, group_by_field

RA0, DEC0 = 210.0, -30.0
START = datetime(2017, 5, 5, 3, 0, 0)
GSAOI_RADIUS = 42.5  # arcsec, half of the 85" field
F2_RADIUS = 183.0  # arcsec, the 6.1' circular field
KSHORT = ("GSAOI", "Kshort", "Faint", 60.0)


def offset_position(east, north):
    """(RA, Dec) of a point east/north arcsec from the target."""
    return RA0 + east / 3600 / np.cos(np.radians(DEC0)), DEC0 + north / 3600


def frame(name, seconds, east, north, config=KSHORT, **extra):
    ra, dec = offset_position(east, north)
    return FrameInfo(
        name=name,
        ut_datetime=START + timedelta(seconds=seconds),
        ra=ra,
        dec=dec,
        config=config,
        offset=(east, north),
        **extra,
    )


@pytest.fixture
def gsaoi_sequence():
    """9 dithered on-target frames and 7 sky frames 5' north, taken in blocks of 3/2/3/3/3/2."""
    dithers = [(-5, -5), (0, -5), (5, -5), (-5, 0), (0, 0), (5, 0), (-5, 5), (0, 5), (5, 5)]
    sky_dithers = [(0, 300), (20, 310), (-20, 290), (10, 280), (-10, 320), (25, 300), (-25, 300)]
    plan = ["T", "T", "T", "S", "S", "T", "T", "T", "S", "S", "S", "T", "T", "T", "S", "S"]
    frames, t, i_on, i_sky = [], 0, 0, 0
    for kind in plan:
        if kind == "T":
            frames.append(frame(f"S20170505S{len(frames) + 1:04d}", t, *dithers[i_on]))
            i_on += 1
        else:
            frames.append(frame(f"S20170505S{len(frames) + 1:04d}", t, *sky_dithers[i_sky]))
            i_sky += 1
        t += 100
    return frames


def test_offset_to_sky_sequence_is_split_into_target_and_sky(gsaoi_sequence):
    grouping = group_by_field(gsaoi_sequence, target=(RA0, DEC0), field_radius=GSAOI_RADIUS)
    on_target = [i for i, f in enumerate(gsaoi_sequence) if abs(f.offset[1]) < 10]
    off_target = [i for i, f in enumerate(gsaoi_sequence) if abs(f.offset[1]) > 200]
    assert len(on_target) == 9 and len(off_target) == 7
    assert grouping.object_indices == on_target
    assert grouping.sky_indices == off_target
    assert [sorted(g) for g in grouping.groups] == [on_target, off_target]
    assert grouping.group_of(on_target[0]) == 0 and grouping.group_of(off_target[0]) == 1
    # the offsets alone tell which field holds the target
    by_offsets = group_by_field(gsaoi_sequence, field_radius=GSAOI_RADIUS)
    assert by_offsets.object_indices == on_target


def test_each_target_frame_gets_the_nearest_skies_in_time(gsaoi_sequence):
    grouping = group_by_field(gsaoi_sequence, target=(RA0, DEC0), field_radius=GSAOI_RADIUS)
    science = [gsaoi_sequence[i] for i in grouping.object_indices]
    skies = [gsaoi_sequence[i] for i in grouping.sky_indices]
    # target frames at t = 0, 100, 200 | 500, 600, 700 | 1100, 1200, 1300 s,
    # sky frames at t = 300, 400 | 800, 900, 1000 | 1400, 1500 s
    sky_times = [300, 400, 800, 900, 1000, 1400, 1500]
    times = [(f.ut_datetime - START).total_seconds() for f in science]
    assert times == [0, 100, 200, 500, 600, 700, 1100, 1200, 1300]
    chosen = associate_sky(science, skies, time=300, distance=1.0, min_skies=3)
    # first frame: only the sky at 300 s is within 300 s; min_skies adds 400 and 800
    assert [sky_times[k] for k in chosen[0]] == [300, 400, 800]
    # frame at 600 s: 400 and 800 (200 s away), then 300 and 900 (300 s)
    assert [sky_times[k] for k in chosen[4]] == [400, 800, 300, 900]
    # the GSAOI default window (900 s) takes every sky for the middle frame
    wide = associate_sky(science, skies, time=900, distance=1.0)
    assert sorted(wide[4]) == list(range(7))
    capped = associate_sky(science, skies, time=900, distance=1.0, max_skies=2)
    assert all(len(c) == 2 for c in capped)
    assert [sky_times[k] for k in capped[4]] == [400, 800]


def test_dither_on_target_uses_the_other_frames_as_sky():
    pattern = [
        (0, 0),
        (15, 15),
        (-15, 15),
        (-15, -15),
        (15, -15),
        (0, 0),
        (15, 15),
        (-15, 15),
        (-15, -15),
    ]
    frames = [frame(f"N{i:04d}", 40 * i, *p, config=("F2", "J")) for i, p in enumerate(pattern)]
    grouping = group_by_field(frames, target=(RA0, DEC0), field_radius=F2_RADIUS)
    assert grouping.object_indices == list(range(9))
    assert grouping.sky_indices == list(range(9))
    assert len(grouping.groups) == 1
    chosen = associate_sky(frames, frames, time=600, distance=3.0, min_skies=3)
    for i, skies in enumerate(chosen):
        assert i not in skies
        # frames at the same dither position are too close to be sky
        assert all(pattern[k] != pattern[i] for k in skies)
        gaps = [abs(40 * k - 40 * i) for k in skies]
        assert gaps == sorted(gaps)
    assert chosen[0] == [1, 2, 3, 4, 6, 7, 8]


def test_skies_need_the_same_configuration_and_time_window_yields_to_min_skies():
    science = [frame("sci", 0, 0, 0)]
    other_filter = ("GSAOI", "H", "Faint", 60.0)
    skies = [
        frame("sky_h", 50, 0, 300, config=other_filter),
        frame("sky_k1", 2000, 0, 300),
        frame("sky_k2", 3000, 0, 300),
        frame("sky_k3", 4000, 0, 300),
        frame("sky_k4", 5000, 0, 300),
    ]
    assert associate_sky(science, skies, time=600, min_skies=3) == [[1, 2, 3]]
    assert associate_sky(science, skies, time=600, min_skies=0) == [[]]
    assert associate_sky(science, skies, time=600, use_all=True) == [[1, 2, 3, 4]]
    assert associate_sky(science, skies[:1], time=600) == [[]]


def test_explicit_lists_override_the_geometry(gsaoi_sequence):
    names = [f.name for f in gsaoi_sequence]
    grouping = group_by_field(
        gsaoi_sequence, target=(RA0, DEC0), field_radius=GSAOI_RADIUS, ref_obj=names[:2]
    )
    assert grouping.object_indices == [0, 1]
    assert grouping.sky_indices == list(range(2, 16))
    both = group_by_field(
        gsaoi_sequence,
        target=(RA0, DEC0),
        field_radius=GSAOI_RADIUS,
        ref_obj=names[:2],
        ref_sky=names[3:5],
    )
    assert both.object_indices == [0, 1]
    assert both.sky_indices == [3, 4]
    assert both.unassigned == [2] + list(range(5, 16))
    with pytest.raises(ValueError, match="not among the inputs"):
        group_by_field(gsaoi_sequence, field_radius=GSAOI_RADIUS, ref_sky=["nonexistent.fits"])


def test_header_flags_and_unguided_frames_decide_first():
    frames = [
        frame("a", 0, 0, 0, is_object=True),
        frame("b", 60, 3, 0, is_sky=True, is_object=False),
        frame("c", 120, 0, 3, guided=False),
        frame("d", 180, 3, 3),
        frame("e", 240, -3, 3),
    ]
    grouping = group_by_field(frames, target=(RA0, DEC0), field_radius=F2_RADIUS)
    assert grouping.object_indices == [0, 3, 4]
    # sky frames were already given, so the undecided on-target frames are not sky
    assert grouping.sky_indices == [1, 2]


def test_several_sky_fields_fill_object_frames_nearest_first():
    frames = (
        [frame(f"t{i}", 10 * i, 0, 2 * i) for i in range(4)]
        + [frame(f"n{i}", 100 + 10 * i, 0, 400 + 2 * i) for i in range(3)]
        + [frame(f"e{i}", 200 + 10 * i, 800 + 2 * i, 0) for i in range(3)]
    )
    grouping = group_by_field(frames, target=(RA0, DEC0), field_radius=GSAOI_RADIUS)
    assert len(grouping.groups) == 3
    # 4 frames on target are fewer than half of 10, so the next nearest field joins
    assert grouping.object_indices == list(range(7))
    assert grouping.sky_indices == [7, 8, 9]


def test_grouping_works_across_ra_zero_and_accepts_dicts():
    frames = [
        {"name": "a", "ut_datetime": START, "ra": 359.999, "dec": 0.0},
        {"name": "b", "ut_datetime": START, "ra": 0.001, "dec": 0.0},
        {"name": "c", "ut_datetime": START, "ra": 0.2, "dec": 0.0},
    ]
    assert angular_separation(359.999, 0, 0.001, 0) == pytest.approx(7.2, rel=1e-6)
    grouping = group_by_field(frames, target=(0.0, 0.0), field_radius=30.0)
    assert grouping.object_indices == [0, 1]
    assert grouping.sky_indices == [2]


def test_unknowable_target_field_raises():
    frames = [
        FrameInfo("a", START, RA0, DEC0, field_radius=30.0),
        FrameInfo("b", START, RA0, DEC0 + 0.1, field_radius=30.0),
    ]
    with pytest.raises(ValueError, match="which field holds the target"):
        group_by_field(frames)
    with pytest.raises(ValueError, match="field radius"):
        group_by_field([FrameInfo("a", START, RA0, DEC0)])
    with pytest.raises(ValueError, match="unknown metadata"):
        group_by_field([{"name": "a", "ut_datetime": START, "ra": 0, "dec": 0, "filter": "K"}])
