"""Checkpointed frames refer to their checkpoint files: same products, files never changed."""

import json
import sys
from pathlib import Path

import pytest

import primitives.base
import recipe_system.cache

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import make_reduce, pixels  # noqa: E402

pytestmark = pytest.mark.usefixtures("rerun_plugin")


def _reduce_darks(darks, directory, monkeypatch):
    directory.mkdir()
    monkeypatch.chdir(directory)
    r = make_reduce(darks)
    r.runr()
    return directory / r.output_filenames[0]


def test_products_identical_whether_frames_refer_to_checkpoints_or_not(
        tmp_path, f2_raw, monkeypatch):
    darks = f2_raw["dark"][:3]
    referred: list[str] = []
    adopt = primitives.base.refer_to_file

    def counting(ad, path):
        result = adopt(ad, path)
        if result:
            referred.append(str(path))
        return result

    monkeypatch.setattr(recipe_system.cache, "refer_to_file", counting)
    mapped = _reduce_darks(darks, tmp_path / "mapped", monkeypatch)
    assert referred                     # the frames did switch to their checkpoints
    monkeypatch.setattr(recipe_system.cache, "refer_to_file", lambda ad, path: False)
    private = _reduce_darks(darks, tmp_path / "private", monkeypatch)
    assert pixels(mapped) == pixels(private)


def test_checkpoints_keep_their_checksums_after_in_place_steps(tmp_path, f2_raw, monkeypatch):
    # every step saved (checkpoint_min_seconds=0): each file must still hold what it was
    # written with once the reduction ended, although later steps changed the frames
    # (which then referred to those files) in place
    darks = f2_raw["dark"][:2]
    _reduce_darks(darks, tmp_path / "work", monkeypatch)
    records = list((tmp_path / "work" / ".reducecache" / "steps").rglob("*.json"))
    checked = 0
    for record in records:
        for obj in json.loads(record.read_text())["after"]["objects"]:
            if obj.get("file") and obj.get("checksum", "").startswith("crc32:"):
                path = tmp_path / "work" / ".reducecache" / obj["file"]
                if path.is_file():
                    assert primitives.base.file_digest(path) == obj["checksum"], path
                    checked += 1
    assert checked >= 3
