"""Core primitive mix-ins shared by every instrument (one concern a module).

``bookkeeping`` (streams, lists, writing), ``standardize`` (prepare and header
standardisation), ``preprocess`` (DQ, variance, calibration corrections, sky),
``ccd`` (overscan, bias), ``stack`` (stacking), ``photometry`` (source
detection), ``register`` (WCS alignment, astrometry), ``resample``,
``image`` (imaging-specific), ``nearir`` (near-infrared detectors),
``visualize`` (tiling and mosaicking), ``qa`` (quality-assessment metrics)
and ``calibdb`` (calibration requests and storage). Every mix-in has
``tagset = None``; the instrument classes in ``primitives/<inst>/`` combine
them.
"""
