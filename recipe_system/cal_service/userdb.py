"""UserDB: calibrations chosen by the user, which beat every database.

Two sources, in this order:

1. ``--user_cal``/``ucals``: one file per calibration type, for every frame of
   the reduction (``processed_flat:myflat.fits``);
2. the per-frame pins of an editable calibration cache (:mod:`.calcache`)
   and of :meth:`UserDB.set_calibrations` (``setCalibration``).

An explicit ``--user_cal`` wins over a pin file because it was typed for this
very run (DRAGONS' UserDB has the same order).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from recipe_system.cal_service.calcache import frame_keys, read_cal_cache
from recipe_system.cal_service.errors import UserCalibrationError
from recipe_system.cal_service.frame_values import CALTYPES

__all__ = ["UserDB", "normalize_caltype", "normalize_ucals"]


def normalize_caltype(name: str) -> str:
    """``'flat'``/``'processed_flat'`` -> ``'processed_flat'``; unknown names raise."""
    text = str(name).strip()
    candidates = (text, f"processed_{text}")
    for candidate in candidates:
        if candidate in CALTYPES:
            return candidate
    raise UserCalibrationError(
        f"{name!r} is not a calibration type (known: {', '.join(CALTYPES)})")


def normalize_ucals(ucals: Any) -> dict[str, str]:
    """User calibrations as ``{caltype: absolute path}``.

    Parameters
    ----------
    ucals : None, mapping, str or iterable
        ``{'processed_bias': 'bias.fits'}``, ``'processed_bias:bias.fits'``,
        a list of such strings or of ``(caltype, path)`` pairs.

    Raises
    ------
    UserCalibrationError
        For a malformed entry, an unknown calibration type or a missing file.
    """
    if ucals is None:
        return {}
    if isinstance(ucals, Mapping):
        items: Iterable[Any] = ucals.items()
    elif isinstance(ucals, str):
        items = [ucals]
    else:
        items = ucals
    result: dict[str, str] = {}
    for item in items:
        if isinstance(item, str):
            caltype, sep, path = item.partition(":")
            if not sep or not path.strip():
                raise UserCalibrationError(
                    f"user calibration {item!r} must be written caltype:file,"
                    " e.g. processed_flat:S20131129S0320_flat.fits")
        else:
            try:
                caltype, path = item
            except (TypeError, ValueError):
                raise UserCalibrationError(
                    f"user calibration {item!r} must be a (caltype, file) pair") from None
        caltype = normalize_caltype(caltype)
        file = Path(os.path.expanduser(os.fspath(path).strip())).absolute()
        if not file.is_file():
            raise UserCalibrationError(f"{path}: user calibration file ({caltype}) not found")
        result[caltype] = str(file)
    return result


class UserDB:
    """The user's own choices: ``--user_cal`` overrides, then per-frame pins.

    Parameters
    ----------
    user_cals : see :func:`normalize_ucals`
    cal_cache : path, optional
        An editable JSON calibration cache whose pins are used.
    """

    name = "user"

    def __init__(self, user_cals: Any = None, cal_cache: str | os.PathLike | None = None) -> None:
        self.user_cals = normalize_ucals(user_cals)
        self.cal_cache = Path(os.fspath(cal_cache)).absolute() if cal_cache else None
        self.pins: dict[str, dict[str, str]] = (
            read_cal_cache(self.cal_cache) if self.cal_cache else {})
        self._pin_origin = f"cal_cache {self.cal_cache}" if self.cal_cache else "pinned"

    def set_calibrations(self, adinputs: Iterable[Any], caltype: str, calfile: str) -> None:
        """Pin `calfile` as the `caltype` of each frame (``setCalibration``)."""
        caltype = normalize_caltype(caltype)
        path = str(Path(os.path.expanduser(os.fspath(calfile))).absolute())
        for ad in adinputs:
            keys = frame_keys(ad)
            if keys:
                self.pins.setdefault(keys[0], {})[caltype] = path

    def lookup(self, ad: Any, caltype: str) -> tuple[str, str] | None:
        """``(path, origin)`` of the user's choice for `ad`, or None."""
        if caltype in self.user_cals:
            return self.user_cals[caltype], "user_cal"
        for key in frame_keys(ad):
            pinned = self.pins.get(key, {}).get(caltype)
            if pinned:
                return pinned, f"{self._pin_origin} ({key})"
        return None

    def explain(self, ad: Any, caltype: str) -> str | None:
        """One line if the user chose the calibration of `ad`, else None."""
        found = self.lookup(ad, caltype)
        if found is None:
            return None
        path, origin = found
        state = "" if os.path.isfile(path) else " (the file does not exist)"
        return f"{caltype} for {getattr(ad, 'filename', 'frame')}: {path} from {origin}{state}."
