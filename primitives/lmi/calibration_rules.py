"""LMI calibration association rules, as plain data read by the calibration service.

The calibration service finds them through the ``astroreduce.calibration_rules``
entry point (``lmi = "primitives.lmi.calibration_rules:RULES"``), so this
module imports nothing: each mapping has the fields of
``recipe_system.cal_service.rules.CalibrationRule``.

* bias: same binning, a detector section containing the frame's, the same
  overscan state once the frame is prepared, taken within 30 days;
* dark: same binning and exposure time (0.01 s), within 30 days;
* flat: same filter and binning, containing detector section, within 90 days
  (dome and sky flats alike; the closest in time wins);
* bad-pixel mask: same binning, the most recent one taken before the frame.
"""

__all__ = ["RULES"]

_BINNING = ("detector_x_bin", "detector_y_bin")

#: The rules, keyed by instrument family ``LMI`` (``instrument()`` upper-cased).
RULES = (
    {"instrument": "LMI", "caltype": "processed_bias", "match": _BINNING,
     "roi": "detector_section", "match_if_prepared": ("overscan_subtracted", "overscan_trimmed"),
     "window_days": 30, "exclude_observation_types": ("BIAS", "BPM"),
     "note": "LMI biases are taken every night"},
    {"instrument": "LMI", "caltype": "processed_dark", "match": _BINNING,
     "tolerances": {"exposure_time": 0.01}, "roi": "detector_section", "window_days": 30,
     "exclude_observation_types": ("BIAS", "DARK", "FLAT", "BPM"),
     "note": "LMI's dark current is negligible; darks are optional"},
    {"instrument": "LMI", "caltype": "processed_flat", "match": ("filter_name",) + _BINNING,
     "roi": "detector_section", "window_days": 90,
     "exclude_observation_types": ("BIAS", "DARK", "FLAT", "BPM"),
     "note": "dome or sky flats of the same filter"},
    {"instrument": "LMI", "caltype": "processed_bpm", "match": _BINNING, "before_only": True,
     "exclude_observation_types": ("BPM",)},
)
