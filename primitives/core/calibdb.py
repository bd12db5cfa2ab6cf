"""Primitive mix-in CalibDB: calibration requests to the provider and storage of processed products.

The calibration provider (``p.caldb``, see ``docs/developer/contracts.md`` §6)
is built by the recipe system; primitives only call its methods. Where a
calibration for a frame comes from, first match wins:

1. the correction primitive's own parameter (``biasCorrect(bias=...)``);
2. a calibration pinned with :meth:`CalibDB.setCalibration`;
3. the user's ``--user_cal``/``ucals`` for that calibration type;
4. the provider (its user overrides, then the databases by association rules).

``storeProcessed*`` mark a product as a processed calibration (``PROCMODE``,
the timestamp keyword that gives the ``PROCESSED`` tag, the data label
``<label>-<MODE>-<SUFFIX>``, the calibration suffix), write a copy under
``calibrations/<caltype>/`` in the working directory (atomically), leave the
product in the stream (the recipe system writes it to the working directory
at the end) and hand the copy to the provider, which adds it to every database
configured with ``store``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from primitives.base import PrimitivesBASE
from primitives.errors import CalibrationNotFoundError, ParameterError
from primitives.params import Param, primitive

__all__ = ["CALIBRATION_DIR", "CALTYPE_SUFFIXES", "CalibDB"]

#: Directory (in the working directory) receiving copies of processed products.
CALIBRATION_DIR = "calibrations"

#: Calibration type -> (default file suffix, timestamp keyword).
CALTYPE_SUFFIXES: dict[str, tuple[str, str]] = {
    "processed_bias": ("_bias", "PROCBIAS"),
    "processed_dark": ("_dark", "PROCDARK"),
    "processed_flat": ("_flat", "PROCFLAT"),
    "processed_bpm": ("_bpm", "PROCBPM"),
    "processed_fringe": ("_fringe", "PROCFRNG"),
    "processed_standard": ("_standard", "PROCSTND"),
    "processed_science": ("_image", "PROCSCI"),
}

#: Origin the provider reports when a calibration type never applies to a frame.
_NOT_APPLICABLE = "not applicable"
_DATALAB_PRODUCT = re.compile(r"-(SQ|QL|QA)-[A-Z0-9]+$")
_DO_CAL = ("procmode", "force", "skip")
#: Calibration type -> the OBSTYPE (and tag) a product must have to be stored as one.
_CALTYPE_OBSTYPES = {"processed_bias": "BIAS", "processed_dark": "DARK",
                     "processed_flat": "FLAT"}
_FORCE_PARAM = Param(bool, False, "Store even a product that is not a frame of this type, "
                     "converting its headers to a calibration's")


def _suffix_param(caltype: str) -> Param:
    return Param(str, CALTYPE_SUFFIXES[caltype][0], "Filename suffix of the processed product")


def _frame_key(ad: Any) -> str | None:
    try:
        label = ad.data_label()
    except Exception:  # noqa: BLE001 - frames without a data label are keyed by name
        label = None
    return str(label) if label else getattr(ad, "filename", None)


class CalibDB(PrimitivesBASE):
    """Calibration requests (``getProcessed*``, ``setCalibration``) and storage (``store*``)."""

    tagset = None

    # -- finding calibrations ------------------------------------------------
    def _calibration_pins(self) -> dict[tuple[str, str], str]:
        pins = getattr(self, "_pins", None)
        if pins is None:
            pins = self._pins = {}
        return pins

    def _find_calibrations(self, adinputs: Sequence[Any], caltype: str
                           ) -> list[tuple[str | None, str | None]]:
        """``(path, origin)`` per frame from pins, ``--user_cal`` and the provider."""
        pins = self._calibration_pins()
        found: list[tuple[str | None, str | None]] = []
        for ad in adinputs:
            pinned = pins.get((_frame_key(ad), caltype))
            if pinned:
                found.append((pinned, "setCalibration"))
            elif caltype in self.ucals:
                found.append((self.ucals[caltype], "user_cal"))
            else:
                found.append((None, None))
        todo = [i for i, (path, _) in enumerate(found) if path is None]
        if todo and self.caldb is not None:
            answer = self.caldb.get_calibrations([adinputs[i] for i in todo], caltype,
                                                 procmode=self.mode)
            for i, path, origin in zip(todo, answer.files, answer.origins, strict=True):
                found[i] = (path, origin)
        return found

    def _explain_missing(self, ad: Any, caltype: str) -> str:
        if self.caldb is None:
            return (f"{ad.filename}: no {caltype} found: no calibration database is in use and"
                    f" no user calibration was given (--user_cal {caltype}:FILE)")
        return f"{ad.filename}: no {caltype} found. {self.caldb.explain(ad, caltype)}"

    def _get_cal(self, ad_list: Sequence[Any], caltype: str, user_value: Any = None,
                 do_cal: str = "procmode") -> list[Any]:
        """The calibration of `caltype` for each frame, for correction primitives.

        Parameters
        ----------
        ad_list : sequence of AstroData
            The frames to correct.
        caltype : str
            ``processed_bias``, ``processed_dark``, ``processed_flat``, ...
        user_value : str, AstroData, or a list of them, optional
            The primitive's own calibration parameter: one value for every
            frame or one per frame (None entries are looked up).
        do_cal : {'procmode', 'force', 'skip'}
            ``skip``: no calibration (all None). ``force``: a missing
            calibration is an error whatever the mode. ``procmode``: an error in
            ``sq`` mode, a warning (and None) in ``ql``/``qa``.

        Returns
        -------
        list
            Per frame: a file path, the AstroData given as `user_value`, or
            None (skipped, not applicable, or missing outside ``sq``).

        Raises
        ------
        CalibrationNotFoundError
            When a required calibration is missing; the message is the
            provider's explanation (rule, frame values, nearest candidates).
        ParameterError
            For a bad `do_cal` or a `user_value` list of the wrong length.
        """
        if do_cal not in _DO_CAL:
            raise ParameterError(f"do_cal={do_cal!r}: expected one of {', '.join(_DO_CAL)}")
        count = len(ad_list)
        if do_cal == "skip":
            self.log.stdinfo(f"Not using {caltype} (do_cal='skip')")
            return [None] * count
        if user_value is None:
            given: list[Any] = [None] * count
        elif isinstance(user_value, (list, tuple)):
            given = list(user_value)
            if len(given) == 1:
                given = given * count
        else:
            given = [user_value] * count
        if len(given) != count:
            raise ParameterError(f"{len(given)} {caltype} values given for {count} inputs")
        results: list[Any] = list(given)
        origins: list[str | None] = ["parameter" if v is not None else None for v in given]
        for ad, value in zip(ad_list, given, strict=True):
            if isinstance(value, (str, os.PathLike)) and not os.path.isfile(value):
                raise CalibrationNotFoundError(
                    f"{ad.filename}: {caltype} {os.fspath(value)}: file not found")
        todo = [i for i, value in enumerate(given) if value is None]
        if todo:
            answers = self._find_calibrations([ad_list[i] for i in todo], caltype)
            for i, (path, origin) in zip(todo, answers, strict=True):
                results[i], origins[i] = path, origin
        for ad, result, origin in zip(ad_list, results, origins, strict=True):
            if result is not None:
                name = getattr(result, "filename", None) or os.fspath(result)
                self.log.stdinfo(f"{ad.filename}: using {caltype} {name} ({origin})")
                if origin in ("parameter", "setCalibration", "user_cal"):
                    # the provider's answers are noted by the wrapper; these are not
                    path = os.fspath(result) if isinstance(result, (str, os.PathLike)) \
                        else getattr(result, "path", None)
                    if path and os.path.isfile(path):
                        self.note_calibration(ad, caltype, path, origin)
                continue
            if origin == _NOT_APPLICABLE and do_cal != "force":
                self.log.fullinfo(f"{ad.filename}: {caltype} does not apply")
                continue
            message = self._explain_missing(ad, caltype)
            if do_cal == "force" or self.mode == "sq":
                raise CalibrationNotFoundError(message)
            self.log.warning(f"{message} Continuing without it ({self.mode} mode).")
        return results

    def _request(self, adinputs: list, caltype: str) -> list:
        found = self._find_calibrations(adinputs, caltype)
        for ad, (path, origin) in zip(adinputs, found, strict=True):
            if path is not None:
                self.log.stdinfo(f"{ad.filename}: received {caltype} {path} from {origin}")
            elif origin == _NOT_APPLICABLE:
                self.log.stdinfo(f"{ad.filename}: {caltype} does not apply")
            else:
                self.log.stdinfo(f"{ad.filename}: NO {caltype.upper()} RECEIVED")
        return adinputs

    @primitive
    def getProcessedBias(self, adinputs=None, **params):
        """Ask for the processed bias of each input and log what would be used."""
        return self._request(adinputs, "processed_bias")

    @primitive
    def getProcessedDark(self, adinputs=None, **params):
        """Ask for the processed dark of each input and log what would be used."""
        return self._request(adinputs, "processed_dark")

    @primitive
    def getProcessedFlat(self, adinputs=None, **params):
        """Ask for the processed flat of each input and log what would be used."""
        return self._request(adinputs, "processed_flat")

    @primitive
    def getProcessedFringe(self, adinputs=None, **params):
        """Ask for the processed fringe frame of each input and log what would be used."""
        return self._request(adinputs, "processed_fringe")

    @primitive
    def getProcessedStandard(self, adinputs=None, **params):
        """Ask for the processed standard star of each input and log what would be used."""
        return self._request(adinputs, "processed_standard")

    @primitive
    def getBPM(self, adinputs=None, **params):
        """Ask for the bad pixel mask of each input and log what would be used."""
        return self._request(adinputs, "processed_bpm")

    @primitive(
        caltype=Param(str, None, "Calibration type", choices=tuple(CALTYPE_SUFFIXES)),
        calfile=Param(str, None, "The calibration file to use"),
    )
    def setCalibration(self, adinputs=None, **params):
        """Use `calfile` as the `caltype` calibration of every input from now on."""
        caltype, calfile = params["caltype"], params["calfile"]
        if caltype is None or calfile is None:
            raise ParameterError("setCalibration needs both caltype and calfile")
        if not os.path.isfile(calfile):
            raise CalibrationNotFoundError(f"setCalibration: {calfile}: file not found")
        path = os.path.abspath(calfile)
        pins = self._calibration_pins()
        for ad in adinputs:
            pins[(_frame_key(ad), caltype)] = path
            self.log.stdinfo(f"{ad.filename}: {caltype} set to {path}")
        setter = getattr(self.caldb, "set_calibrations", None)
        if setter is not None:
            setter(adinputs, caltype, path)
        return adinputs

    # -- storing products ------------------------------------------------------
    def _convert_to_calibration(self, ad: Any, caltype: str) -> None:
        """Rewrite the headers of a product made from other frames as a `caltype`'s.

        A sky flat stacked from science frames still says ``OBSTYPE = 'OBJECT'``:
        it would not carry the ``FLAT``/``CAL`` tags, would be taken for science
        and would not be stored as a flat. The original values are kept in
        ``ORIGOBST``/``ORIGOBCL``/``ORIGOBJ``.
        """
        obstype = _CALTYPE_OBSTYPES.get(caltype)
        if obstype is None:
            return
        old_type = str(ad.phu.get("OBSTYPE", "")).strip()
        if old_type == obstype:
            return
        ad.phu["ORIGOBST"] = (old_type, "OBSTYPE before conversion to a calibration")
        ad.phu["ORIGOBCL"] = (str(ad.phu.get("OBSCLASS", "")).strip(),
                              "OBSCLASS before conversion to a calibration")
        ad.phu["ORIGOBJ"] = (str(ad.phu.get("OBJECT", "")).strip(),
                             "OBJECT before conversion to a calibration")
        ad.phu["OBSTYPE"] = (obstype, "Observation type")
        ad.phu["OBSCLASS"] = ("partnerCal", "Observe class")
        kind = "sky" if old_type == "OBJECT" else old_type.lower() or "converted"
        ad.phu["OBJECT"] = (f"{kind} {obstype.lower()}", "Object name")
        self.log.stdinfo(f"{ad.filename}: headers converted to a {caltype} "
                         f"(OBSTYPE {old_type or '(none)'} -> {obstype})")

    def _is_calibration_of(self, ad: Any, caltype: str) -> bool:
        tag = _CALTYPE_OBSTYPES.get(caltype)
        return tag is None or tag in ad.tags

    def _mark_as_calibration(self, ad: Any, caltype: str, suffix: str,
                             force: bool = False) -> None:
        keyword = CALTYPE_SUFFIXES[caltype][1]
        if force:
            self._convert_to_calibration(ad, caltype)
        ad.phu["PROCMODE"] = (self.mode, "Processing mode (sq, ql, qa)")
        self.mark(ad, keyword=keyword)
        mode_suffix = "" if self.mode == "sq" else f"_{self.mode}"
        ad.update_filename(suffix=mode_suffix + suffix, strip=True)
        label = ad.phu.get("DATALAB")
        if label:
            base = _DATALAB_PRODUCT.sub("", str(label).strip())
            word = re.sub(r"[^A-Za-z0-9]", "", suffix).upper() or "PRODUCT"
            ad.phu["DATALAB"] = (f"{base}-{self.mode.upper()}-{word}", "Data label")
        else:
            self.log.warning(f"{ad.filename}: no DATALAB keyword; data label not updated")

    def _store(self, adinputs: list, caltype: str, suffix: str, force: bool = False) -> list:
        """Mark, copy to ``calibrations/<caltype>/`` and hand to the provider.

        A product lacking the tag of its calibration type (``BIAS``, ``DARK``,
        ``FLAT``) is only marked, with a warning, unless `force` converts its
        headers first (:meth:`_convert_to_calibration`).
        """
        directory = os.path.join(os.getcwd(), CALIBRATION_DIR, caltype)
        os.makedirs(directory, exist_ok=True)
        for ad in adinputs:
            self._mark_as_calibration(ad, caltype, suffix, force=force)
            if not self._is_calibration_of(ad, caltype):
                self.log.warning(
                    f"{ad.filename}: not stored as a {caltype}: it is not a "
                    f"{_CALTYPE_OBSTYPES[caltype]} frame (OBSTYPE "
                    f"{str(ad.phu.get('OBSTYPE', '')).strip() or '(none)'}); "
                    f"use force=True to convert its headers")
                continue
            path = os.path.join(directory, ad.filename)
            ad.write(path, overwrite=True)
            self.processed_filenames.append(path)
            self.log.stdinfo(f"Wrote {caltype} {os.path.relpath(path)}")
            if self.caldb is not None:
                self.caldb.store_calibration(path, caltype)
        return adinputs

    @primitive(suffix=_suffix_param("processed_bias"), force=_FORCE_PARAM)
    def storeProcessedBias(self, adinputs=None, **params):
        """Mark the inputs as processed biases, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_bias", params["suffix"], params["force"])

    @primitive(suffix=_suffix_param("processed_dark"), force=_FORCE_PARAM)
    def storeProcessedDark(self, adinputs=None, **params):
        """Mark the inputs as processed darks, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_dark", params["suffix"], params["force"])

    @primitive(suffix=_suffix_param("processed_flat"), force=_FORCE_PARAM)
    def storeProcessedFlat(self, adinputs=None, **params):
        """Mark the inputs as processed flats, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_flat", params["suffix"], params["force"])

    @primitive(suffix=_suffix_param("processed_bpm"), force=_FORCE_PARAM)
    def storeProcessedBPM(self, adinputs=None, **params):
        """Mark the inputs as bad pixel masks, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_bpm", params["suffix"], params["force"])

    @primitive(inherit="storeProcessedBPM")
    def storeBPM(self, adinputs=None, **params):
        """DRAGONS name of storeProcessedBPM."""
        return self._store(adinputs, "processed_bpm", params["suffix"], params["force"])

    @primitive(suffix=_suffix_param("processed_fringe"), force=_FORCE_PARAM)
    def storeProcessedFringe(self, adinputs=None, **params):
        """Mark the inputs as processed fringe frames, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_fringe", params["suffix"], params["force"])

    @primitive(suffix=_suffix_param("processed_standard"), force=_FORCE_PARAM)
    def storeProcessedStandard(self, adinputs=None, **params):
        """Mark the inputs as processed standards, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_standard", params["suffix"], params["force"])

    @primitive(suffix=_suffix_param("processed_science"), force=_FORCE_PARAM)
    def storeProcessedScience(self, adinputs=None, **params):
        """Mark the inputs as processed science, copy them to calibrations/ and store them."""
        return self._store(adinputs, "processed_science", params["suffix"], params["force"])
