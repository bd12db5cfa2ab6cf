"""ultradeep and its three parts on small simulated F2, GSAOI and NIRI datasets."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import astrodata

sys.path.insert(0, os.path.dirname(__file__))
from conftest import reduce_files  # noqa: E402

pytestmark = pytest.mark.slow


def _calibrate(directory, truth, instrument):
    """Processed dark (F2, NIRI) and lamp flat in the database."""
    roles = truth["roles"]
    if instrument != "gsaoi":
        reduce_files([directory / n for n in roles["dark"]])
    flats = [directory / n for n in roles["flat_lamp_on"] + roles.get("flat_lamp_off", [])]
    reduce_files(flats)


# F2 runs in every suite; GSAOI and NIRI share the recipe's structure and
# cost ~100 s each on 2 cores, so they run with the opt-in full runs.
_OPT_IN = pytest.mark.skipif(not os.environ.get("ASTROREDUCE_FULL_TUTORIALS"),
                             reason="~100 s each; set ASTROREDUCE_FULL_TUTORIALS=1")


@pytest.mark.parametrize("dataset,instrument", [
    ("f2-tutorial", "f2"),
    pytest.param("gsaoi-tutorial", "gsaoi", marks=_OPT_IN),
    pytest.param("niri-imaging", "niri", marks=_OPT_IN)])
def test_ultradeep_parts_give_the_same_stack_as_ultradeep(dataset, instrument, sim_dataset,
                                                         workdir):
    directory, truth = sim_dataset(dataset)
    _calibrate(directory, truth, instrument)
    science = [directory / n for n in truth["roles"]["science"]]
    whole = reduce_files(science, recipename="ultradeep")
    (image,) = whole.output_filenames
    reference = astrodata.open(os.path.abspath(image))
    ref_data = np.array(reference[0].data)
    ref_mask = np.array(reference[0].mask)

    os.makedirs("parts")
    os.chdir("parts")
    part1 = reduce_files(science, recipename="ultradeep_part1")
    assert all(f.endswith("_flatCorrected.fits") for f in part1.output_filenames)
    part2 = reduce_files(part1.output_filenames, recipename="ultradeep_part2")
    first_stack = astrodata.open(part2.output_filenames[0].replace("_objmaskTransferred",
                                                                   "_stack"))
    assert first_stack.phu["NCOMBINE"] == len(part2.output_filenames)
    for name in part2.output_filenames:
        ad = astrodata.open(name)
        assert ad[0].OBJMASK is not None and ad[0].OBJMASK.any()
    part3 = reduce_files(part2.output_filenames, recipename="ultradeep_part3")
    (final,) = part3.output_filenames
    assert final.endswith("_image.fits")
    result = astrodata.open(final)
    assert result[0].shape == ref_data.shape
    both = (result[0].mask == 0) & (ref_mask == 0)
    scale = np.std(ref_data[both])
    # the same frames, masks and sky: the stacks agree to a small fraction of the noise
    assert np.median(np.abs(result[0].data[both] - ref_data[both])) < 0.1 * scale
