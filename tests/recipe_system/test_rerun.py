"""Re-run semantics: the step cache reuses unchanged steps and recomputes changed ones."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import astrodata
from astrodata.provenance import md5sum
from recipe_system.errors import ReduceError
from recipe_system.reduction.command_line import parse_arguments
from recipe_system.reduction.coreReduce import Reduce

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import make_reduce, pixels  # noqa: E402
from rerun_prims import counted  # noqa: E402

pytestmark = pytest.mark.usefixtures("rerun_plugin")

PRODUCT = "S20131120S0115_combined.fits"


def statuses(r):
    return [(s.primitive, s.status) for s in r.step_reports]


def runs_of(workdir, primitive):
    return [line for line in counted(workdir) if line[0] == primitive]


def test_auto_second_run_reuses_every_step_and_keeps_the_product(workdir, f2_raw):
    darks = f2_raw["dark"][:3]
    first = make_reduce(darks, "chain")
    first.runr()
    assert first.output_filenames == [PRODUCT]
    assert statuses(first) == [("scaleData", "ran"), ("addNoiseModel", "ran"),
                               ("combineFrames", "ran")]
    product = workdir / PRODUCT
    before = (product.stat().st_mtime_ns, md5sum(product))
    executed = len(counted(workdir))
    assert executed == 3 + 3 + 3          # per file, per file, combine (3 inputs)

    second = make_reduce(darks, "chain")
    second.runr()
    assert statuses(second) == [("scaleData", "reused"), ("addNoiseModel", "reused"),
                                ("combineFrames", "reused")]
    assert len(counted(workdir)) == executed                  # nothing ran again
    assert second.output_filenames == [PRODUCT]
    assert (product.stat().st_mtime_ns, md5sum(product)) == before   # not rewritten
    # and the product is right: mean of 2 x raw
    raw = np.mean([np.asarray(astrodata.open(f)[0].data, dtype=np.float32) for f in darks],
                  axis=0)
    assert np.allclose(astrodata.open(str(product))[0].data, 2.0 * raw, rtol=1e-6)


def test_always_recomputes_every_step(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "chain").runr()
    first = pixels(workdir / PRODUCT)
    again = make_reduce(darks, "chain", reprocess="always")
    again.runr()
    assert [s for _, s in statuses(again)] == ["ran", "ran", "ran"]
    assert len(runs_of(workdir, "scaleData")) == 4
    assert pixels(workdir / PRODUCT) == first


def test_changing_one_parameter_recomputes_only_what_depends_on_it(workdir, f2_raw):
    darks = f2_raw["dark"][:3]
    make_reduce(darks, "chain").runr()
    changed = make_reduce(darks, "chain", uparms=[("addNoiseModel:read_noise", 9.0)])
    changed.runr()
    assert statuses(changed) == [("scaleData", "reused"), ("addNoiseModel", "ran"),
                                 ("combineFrames", "ran")]
    assert len(runs_of(workdir, "scaleData")) == 3
    assert len(runs_of(workdir, "addNoiseModel")) == 6
    # the variance follows the new read noise: mean of (data + 81) / 3 for 3 frames
    out = astrodata.open(str(workdir / PRODUCT))
    scaled = [2.0 * np.asarray(astrodata.open(f)[0].data, dtype=np.float32) for f in darks]
    expected = sum(np.maximum(s, 0) + 81.0 for s in scaled) / 9.0
    assert np.allclose(out[0].variance, expected, rtol=1e-5)
    # back to the first value: every step reused again (both versions are recorded)
    back = make_reduce(darks, "chain")
    back.runr()
    assert [s for _, s in statuses(back)] == ["reused", "reused", "reused"]


def test_a_changed_input_file_recomputes_from_the_start(workdir, f2_raw, tmp_path):
    copies = []
    for path in f2_raw["dark"][:2]:
        target = tmp_path / "raw" / os.path.basename(path)
        target.write_bytes(Path(path).read_bytes())
        copies.append(str(target))
    make_reduce(copies, "chain").runr()
    ad = astrodata.open(copies[1])
    ad[0].data = np.asarray(ad[0].data) + 1
    ad.write(copies[1], overwrite=True)
    again = make_reduce(copies, "chain")
    again.runr()
    assert [s for _, s in statuses(again)] == ["ran", "ran", "ran"]


def test_never_reuses_what_is_up_to_date_and_refuses_to_overwrite(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "chain").runr()
    product = workdir / PRODUCT
    original = md5sum(product)
    same = make_reduce(darks, "chain", reprocess="never")
    same.runr()                                      # nothing to overwrite: fine
    assert same.output_filenames == [PRODUCT]
    other = make_reduce(darks, "chain", reprocess="never",
                        uparms=[("combineFrames:operation", "median")])
    with pytest.raises(ReduceError, match=f"{PRODUCT}: exists .*--reprocess never"):
        other.runr()
    assert md5sum(product) == original
    make_reduce(darks, "chain", uparms=[("combineFrames:operation", "median")]).runr()
    assert md5sum(product) != original               # auto replaces it


def test_a_checkpoint_that_changed_is_not_trusted(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "chain").runr()
    expected = pixels(workdir / PRODUCT)
    (workdir / PRODUCT).unlink()
    # damage every checkpoint of the last step (the combined frame): flip one byte
    steps = [p for p in (workdir / ".reducecache" / "objects").rglob("*.fits")]
    combined = [p for p in steps if astrodata.open(str(p)).phu.get("RRCOMB")]
    assert len(combined) == 1
    data = bytearray(combined[0].read_bytes())
    data[-10] ^= 0xFF
    combined[0].write_bytes(bytes(data))
    again = make_reduce(darks, "chain")
    again.runr()
    # the combined frame is made again from the (intact) state before it
    assert statuses(again) == [("scaleData", "reused"), ("addNoiseModel", "reused"),
                               ("combineFrames", "rerun")]
    assert len(runs_of(workdir, "combineFrames")) == 4
    assert len(runs_of(workdir, "scaleData")) == 2
    assert pixels(workdir / PRODUCT) == expected


def test_a_deleted_checkpoint_is_recomputed_from_an_earlier_state(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "chain").runr()
    expected = pixels(workdir / PRODUCT)
    (workdir / PRODUCT).unlink()
    for path in (workdir / ".reducecache" / "objects").rglob("*.fits"):
        path.unlink()
    again = make_reduce(darks, "chain")
    again.runr()
    assert [s for _, s in statuses(again)] == ["rerun", "rerun", "rerun"]
    assert pixels(workdir / PRODUCT) == expected


def test_user_value_of_a_nested_call_is_part_of_what_a_step_depends_on(workdir, f2_raw):
    darks = f2_raw["dark"][:1]
    make_reduce(darks, "nested").runr()
    same = make_reduce(darks, "nested")
    same.runr()
    assert statuses(same) == [("scaleViaNested", "reused")]
    other = make_reduce(darks, "nested", uparms=[("scaleData:factor", 5.0)])
    other.runr()
    assert statuses(other) == [("scaleViaNested", "ran")]
    out = astrodata.open(str(workdir / "S20131120S0115_nested.fits"))
    raw = np.asarray(astrodata.open(darks[0])[0].data, dtype=np.float32)
    assert np.allclose(out[0].data, 5.0 * raw)


def test_products_record_their_key_and_how_they_were_made(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    r = make_reduce(darks, "chain", uparms=["addNoiseModel:read_noise=3"])
    r.runr()
    ad = astrodata.open(str(workdir / PRODUCT))
    key = ad.phu["REDKEY"]
    assert len(key) == 40 and r.product_keys[PRODUCT] == key
    from recipe_system.replay import read_reduction_record

    record = read_reduction_record(workdir / PRODUCT)
    assert record["recipe"] == "chain" and record["recipe_ref"].endswith("recipes_user.chain")
    assert record["uparms"] == [["addNoiseModel:read_noise", "3"]]
    assert [(i["name"], i["md5"]) for i in record["inputs"]] == \
        [(os.path.basename(f), md5sum(f)) for f in darks]
    assert record["key"] == key and record["mode"] == "sq"
    assert list(ad.HISTORY["primitive"]) == ["scaleData", "addNoiseModel", "combineFrames"]


def test_calibration_replaced_in_the_database_invalidates_the_step(workdir, f2_raw,
                                                                   caldb_path):
    darks, science = f2_raw["dark"][:2], f2_raw["science"][:2]
    make_reduce(darks, caldb=caldb_path).runr()          # processed dark stored
    first = make_reduce(science, caldb=caldb_path)
    first.runr()
    assert statuses(first) == [("addNoiseModel", "ran"), ("subtractDark", "ran"),
                               ("scaleData", "ran")]
    again = make_reduce(science, caldb=caldb_path)
    again.runr()
    assert [s for _, s in statuses(again)] == ["reused", "reused", "reused"]
    # a different dark (3 frames) replaces the stored one under the same name
    make_reduce(f2_raw["dark"][:3], caldb=caldb_path).runr()
    changed = make_reduce(science, caldb=caldb_path)
    changed.runr()
    assert statuses(changed) == [("addNoiseModel", "reused"), ("subtractDark", "ran"),
                                 ("scaleData", "ran")]
    dark = astrodata.open(str(workdir / "calibrations" / "processed_dark"
                              / "S20131120S0115_dark.fits"))
    out = astrodata.open(str(workdir / "S20131121S0075_reduced.fits"))
    raw = np.asarray(astrodata.open(science[0])[0].data, dtype=np.float32)
    assert np.allclose(out[0].data, 0.5 * (raw - dark[0].data), rtol=1e-6, atol=1e-3)
    # the dark used is in PROVENANCE with its checksum
    prov = out.PROVENANCE
    rows = [(r["filename"], r["md5"], r["provenance_added_by"]) for r in prov]
    assert ("S20131120S0115_dark.fits",
            md5sum(workdir / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits"),
            "subtractDark") in rows


def test_reprocess_comes_from_the_configuration_file(workdir, f2_raw, tmp_path):
    config = tmp_path / "dragonsrc"
    config.write_text("[calibs]\ndatabases = " + str(workdir / "calibrations")
                      + " get store\n\n[reduce]\nreprocess = always\n")
    darks = f2_raw["dark"][:1]
    make_reduce(darks, "chain").runr()
    r = make_reduce(darks, "chain", config_file=str(config))
    r.runr()
    assert [s for _, s in statuses(r)] == ["ran", "ran", "ran"]
    r = make_reduce(darks, "chain", config_file=str(config), reprocess="auto")
    r.runr()                                               # the explicit value wins
    assert [s for _, s in statuses(r)] == ["reused", "reused", "reused"]


def test_reduce_options_of_issue_10():
    args = parse_arguments(["a.fits", "--reprocess", "never", "--jobs", "3", "--cluster",
                            "tcp://h:8786", "--group-by", "night", "--cal-cache", "c.json"])
    assert (args.reprocess, args.jobs, args.cluster, args.group_by, args.cal_cache) == \
        ("never", 3, "tcp://h:8786", "night", "c.json")
    assert parse_arguments(["--replay", "x_dark.fits"]).replay == "x_dark.fits"
    r = Reduce(args)
    assert (r.reprocess, r.jobs, r.cluster, r.group_by, r.cal_cache) == \
        ("never", 3, "tcp://h:8786", "night", "c.json")
    defaults = parse_arguments([])
    assert defaults.reprocess is None and defaults.jobs is None and defaults.replay is None
    with pytest.raises(SystemExit):
        parse_arguments(["--jobs", "0"])
    with pytest.raises(SystemExit):
        parse_arguments(["--reprocess", "sometimes"])


def test_cal_cache_records_the_choices_and_pins_them(workdir, f2_raw, caldb_path):
    darks, science = f2_raw["dark"][:2], f2_raw["science"][:1]
    make_reduce(darks, caldb=caldb_path).runr()
    cache = workdir / "cals.json"
    make_reduce(science, caldb=caldb_path, cal_cache=str(cache)).runr()
    from recipe_system.cal_service import read_cal_cache

    label = astrodata.open(science[0]).data_label()
    dark = str(workdir / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits")
    assert read_cal_cache(cache)[label] == {"processed_dark": dark}
    # pin another file (a copy with other pixels) by editing the cache: it is used
    other = workdir / "other_dark.fits"
    ad = astrodata.open(dark)
    ad[0].data = np.asarray(ad[0].data, dtype=np.float32) + 100.0
    ad.write(str(other))
    cache.write_text(cache.read_text().replace(dark, str(other)))
    r = make_reduce(science, caldb=caldb_path, cal_cache=str(cache))
    r.runr()
    assert statuses(r)[1] == ("subtractDark", "ran")
    out = astrodata.open(str(workdir / "S20131121S0075_reduced.fits"))
    raw = np.asarray(astrodata.open(science[0])[0].data, dtype=np.float32)
    assert np.allclose(out[0].data, 0.5 * (raw - ad[0].data), rtol=1e-6, atol=1e-3)


def checkpoints(workdir):
    return sorted((workdir / ".reducecache" / "objects").rglob("*.fits"))


@pytest.mark.parametrize("policy", ["auto", 1000.0])
def test_cheap_steps_roll_only_the_latest_state_stays_on_disk(workdir, f2_raw, policy):
    darks = f2_raw["dark"][:2]
    first = make_reduce(darks, "chain", checkpoint_min_seconds=policy)
    first.runr()
    expected = pixels(workdir / PRODUCT)
    # these steps take milliseconds: each one's checkpoints were deleted once the
    # next step's were on disk; only the last state (the combined frame) stays
    saved = checkpoints(workdir)
    assert len(saved) == 1
    assert np.array_equal(astrodata.open(str(saved[0]))[0].data,
                          astrodata.open(str(workdir / PRODUCT))[0].data)
    # every step is still recorded
    assert len(list((workdir / ".reducecache" / "steps").rglob("*.json"))) == 3
    again = make_reduce(darks, "chain", checkpoint_min_seconds=policy)
    again.runr()                  # recorded, and the product is up to date: nothing to do
    assert [s for _, s in statuses(again)] == ["reused", "reused", "reused"]
    assert len(counted(workdir)) == 2 + 2 + 2
    (workdir / PRODUCT).unlink()
    rebuilt = make_reduce(darks, "chain", checkpoint_min_seconds=policy)
    rebuilt.runr()                # the product is needed: the last state is loaded, no step runs
    assert [s for _, s in statuses(rebuilt)] == ["reused", "reused", "reused"]
    assert len(counted(workdir)) == 2 + 2 + 2
    assert pixels(workdir / PRODUCT) == expected
    # a change in the last step needs the state before it: deleted (cheap), so the
    # rolling steps before it run again from the raw files
    changed = make_reduce(darks, "chain", checkpoint_min_seconds=policy,
                          uparms=[("combineFrames:operation", "median")])
    changed.runr()
    assert statuses(changed) == [("scaleData", "rerun"), ("addNoiseModel", "rerun"),
                                 ("combineFrames", "ran")]


def test_keeping_every_step_recomputes_only_from_the_changed_step(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "chain", checkpoint_min_seconds=0).runr()
    assert len(checkpoints(workdir)) == 2 + 2 + 1
    changed = make_reduce(darks, "chain", checkpoint_min_seconds=0,
                          uparms=[("combineFrames:operation", "median")])
    changed.runr()
    assert statuses(changed) == [("scaleData", "reused"), ("addNoiseModel", "reused"),
                                 ("combineFrames", "ran")]
    assert len(runs_of(workdir, "scaleData")) == 2


def test_objects_whose_wcs_fits_cannot_hold_are_not_checkpointed(workdir, f2_raw):
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "distorted").runr()
    assert list((workdir / ".reducecache" / "objects").rglob("*.fits")) == []
    again = make_reduce(darks, "distorted")
    again.runr()
    assert [s for _, s in statuses(again)] == ["reused", "reused"]
    (workdir / "S20131120S0115_scaled.fits").unlink()
    rebuilt = make_reduce(darks, "distorted")
    rebuilt.runr()
    assert [s for _, s in statuses(rebuilt)] == ["rerun", "rerun"]


def test_the_key_card_fits_in_one_fits_card(workdir, f2_raw, recwarn):
    r = make_reduce(f2_raw["dark"][:2], "chain")
    r.runr()
    product = astrodata.open(str(workdir / PRODUCT))
    assert product.phu["REDKEY"] == r.product_keys[PRODUCT]
    card = product.phu.cards["REDKEY"]
    assert len(str(card)) == 80 and "astroreduce cache key" in card.comment
    astrodata.open(str(workdir / PRODUCT)).write(str(workdir / "copy.fits"))
    assert not [w for w in recwarn if "too long" in str(w.message).lower()]


def test_steps_after_one_that_always_runs_are_reused_with_the_default_policy(workdir,
                                                                              f2_raw):
    """flushPixels runs every time: the state it needs is kept, and what it writes is the same."""
    darks = f2_raw["dark"][:2]
    make_reduce(darks, "flushed", checkpoint_min_seconds="auto").runr()
    expected = pixels(workdir / PRODUCT)
    again = make_reduce(darks, "flushed", checkpoint_min_seconds="auto")
    again.runr()
    assert statuses(again) == [("scaleData", "reused"), ("flushPixels", "always"),
                               ("addNoiseModel", "reused"), ("combineFrames", "reused")]
    assert len(runs_of(workdir, "scaleData")) == 2        # the first run only
    assert pixels(workdir / PRODUCT) == expected


def test_a_calibration_stored_again_unchanged_does_not_invalidate_its_users(workdir, f2_raw,
                                                                             caldb_path):
    darks, science = f2_raw["dark"][:2], f2_raw["science"][:2]
    make_reduce(darks, caldb=caldb_path).runr()
    stored = workdir / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits"
    before = md5sum(stored)
    make_reduce(science, caldb=caldb_path).runr()
    # the same dark reduction again: every step reused, the dark stored again with
    # the time of this storing (another MD5, the same content)
    time.sleep(1.1)                     # the stamps are to the second
    make_reduce(darks, caldb=caldb_path).runr()
    assert md5sum(stored) != before
    again = make_reduce(science, caldb=caldb_path)
    again.runr()
    assert [s for _, s in statuses(again)] == ["reused", "reused", "reused"]


def _objects(workdir):
    return sorted(p for p in (workdir / ".reducecache" / "objects").rglob("*.fits"))


def test_the_cache_cap_removes_the_least_recently_used_variant(workdir, f2_raw, caplog):
    # make_reduce keeps every step (checkpoint_min_seconds=0): each variant leaves
    # its checkpoints; a cap of one variant keeps the latest run's and removes the
    # other's, which is then simply computed again
    darks = f2_raw["dark"][:3]
    make_reduce(darks, "chain", cache_max_gb="none").runr()
    first = set(_objects(workdir))
    one_variant = sum(p.stat().st_size for p in first)
    hour_ago = time.time() - 3600       # files of the last 10 minutes are never removed
    for path in first:
        os.utime(path, (hour_ago, hour_ago))
    make_reduce(darks, "chain", cache_max_gb="none",
                uparms=[("scaleData:factor", 3.0)]).runr()
    second = set(_objects(workdir)) - first
    assert second
    with caplog.at_level("INFO"):
        capped = make_reduce(darks, "chain", uparms=[("scaleData:factor", 3.0)],
                             cache_max_gb=1.05 * one_variant / 1e9)
        capped.runr()
    assert [s for _, s in statuses(capped)] == ["reused", "reused", "reused"]
    left = set(_objects(workdir))
    assert second <= left                      # the run's own checkpoints stay
    assert sum(p.stat().st_size for p in left) <= 1.05 * one_variant
    assert any("least recently used" in r.getMessage() for r in caplog.records)
    # the removed variant is computed again, with the same product
    product = pixels(workdir / PRODUCT)
    again = make_reduce(darks, "chain", cache_max_gb="none")
    again.runr()
    assert [s for _, s in statuses(again)] == ["rerun", "rerun", "rerun"]   # recorded, file gone
    make_reduce(darks, "chain", cache_max_gb="none", uparms=[("scaleData:factor", 3.0)]).runr()
    assert pixels(workdir / PRODUCT) == product


def test_the_cache_cap_is_read_from_the_configuration(workdir, f2_raw, tmp_path):
    config = tmp_path / "dragonsrc"
    config.write_text("[reduce]\ncache_max_gb = lots\n")
    with pytest.raises(ReduceError, match="cache_max_gb"):
        make_reduce(f2_raw["dark"][:2], "chain", config_file=str(config)).runr()
    assert not runs_of(workdir, "scaleData")          # refused before any step ran
