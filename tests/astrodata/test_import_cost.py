"""Opening files for their headers must not import the pixel-work stack.

Each check runs in a fresh interpreter (``sys.modules`` of the test process
is full already) and reports which of the heavy modules got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from gempy.sim import load_truth, make_dataset

#: Modules needed only to work on pixels, WCS or tables (each costs 0.1-0.5 s to import).
HEAVY = ("astropy.nddata", "astropy.wcs", "astropy.table", "astropy.coordinates",
         "astropy.modeling", "gwcs", "scipy", "numba", "sqlalchemy", "photutils", "dask")


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    """The GSAOI tutorial's raw files (PHU + 4 extensions each), simulated small."""
    directory = tmp_path_factory.mktemp("import_cost")
    make_dataset("gsaoi-tutorial", directory, small=True, seed=0)
    return directory


def _heavy_modules_after(code: str, *args: str) -> dict:
    """Run ``code`` in a new interpreter; return its result and the heavy modules it imported."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        print(json.dumps({{"result": result, "heavy": heavy}}))
    """)
    process = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                             text=True, check=True, timeout=120)
    return json.loads(process.stdout.splitlines()[-1])


def test_import_astrodata_and_the_helper_commands_is_light():
    report = _heavy_modules_after("""
        import astrodata
        import gempy.scripts.dataselect, gempy.scripts.showd, gempy.scripts.typewalk
        result = [len(astrodata.registered_classes()), "NDAstroData" in dir(astrodata)]
    """)
    n_classes, listed = report["result"]
    assert n_classes >= 6 and listed  # instrument classes loaded; the lazy name is public
    assert report["heavy"] == []


def test_tags_descriptors_and_selection_read_headers_only(raw_dir):
    files = sorted(str(raw_dir / name) for name in load_truth(raw_dir)["files"])
    report = _heavy_modules_after("""
        import io, sys
        import astrodata
        from gempy.adlibrary import dataselect
        from gempy.scripts import typewalk
        files = sys.argv[1:]
        expr = dataselect.expr_parser('observation_class=="science" and exposure_time==60.')
        chosen = dataselect.select_data(files, ["GSAOI"], [], expr)
        ad = astrodata.open(files[0])
        values = ad.descriptor_values()  # every descriptor, including wcs_ra/wcs_dec
        ad[0].hdr["NEWKEY"] = 1  # headers can be changed without building extensions
        shapes = ad.shape
        # the directory holds the truth/ folder too: its images are judged, not listed
        listed = typewalk.typewalk(sys.argv[1].rsplit("/", 1)[0], io.StringIO())
        result = [len(chosen), len(listed), len(values), shapes]
    """, *files)
    truth = load_truth(raw_dir)["files"]
    expected = [f for f, t in truth.items() if t["obsclass"] == "science" and t["exptime"] == 60]
    n_chosen, n_listed, n_values, shapes = report["result"]
    assert n_chosen == len(expected) > 0
    assert n_listed == len(files)
    assert n_values > 30 and len(shapes) == 4
    assert report["heavy"] == []


def test_pixel_work_still_imports_what_it_needs(raw_dir):
    """The check above can fail: touching pixels builds NDAstroData (astropy.nddata)."""
    first = sorted(load_truth(raw_dir)["files"])[0]
    report = _heavy_modules_after("""
        import sys
        import astrodata
        ad = astrodata.open(sys.argv[1])
        result = float(ad[0].data.sum() >= 0) + isinstance(ad[0].nddata, astrodata.NDAstroData)
    """, str(raw_dir / first))
    assert report["result"] == 2
    assert "astropy.nddata" in report["heavy"]
