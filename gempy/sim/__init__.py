"""gempy.sim: realistic raw Gemini imaging data (F2, GSAOI, GMOS, NIRI) with their truth.

>>> from gempy.sim import make_dataset, load_truth, DATASETS
>>> path = make_dataset("f2-tutorial", "playdata", small=True, seed=0)   # doctest: +SKIP
>>> truth = load_truth(path)                                              # doctest: +SKIP

Only numpy, scipy and astropy are needed to write the files.
"""

from .datasets import DATASETS, DatasetInfo
from .generate import SIM_VERSION, make_dataset
from .truth import load_truth

__all__ = ["make_dataset", "load_truth", "DATASETS", "DatasetInfo", "SIM_VERSION"]
