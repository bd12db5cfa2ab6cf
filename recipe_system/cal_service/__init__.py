"""Calibration service: databases of processed calibrations, association rules and the provider.

The tutorials' API::

    from recipe_system import cal_service
    caldb = cal_service.CalibrationService()
    caldb.config()
    caldb.init()
    cal_service.set_calservice()
    caldb.add_cal("S20131120S0115_dark.fits")

The current API::

    db = cal_service.LocalDB("~/work/calibrations")     # directory, file or URL
    db.init()
    db.add_cal("S20131120S0115_dark.fits")
    db.add_directory("calibrations", walk=True)
    for f in db.list_files(): print(f.name, f.path)
    db.remove_cal("S20131120S0115_dark.fits")

    provider = cal_service.init_calibration_databases(ucals=None, config_file=None, mode="sq")
    provider.get_calibrations(adinputs, "processed_flat")   # CalReturn(files, origins)
    print(cal_service.explain(ad, "processed_flat"))

Modules: :mod:`.models` (tables), :mod:`.rules` (association rules as data),
:mod:`.association` (applying them), :mod:`.database` (engines, SQLite WAL),
:mod:`.localdb` (LocalDB), :mod:`.userdb` (user overrides), :mod:`.calcache`
(editable JSON pins), :mod:`.provider` (the cascade), :mod:`.service` (the
tutorial API).
"""

from __future__ import annotations

import os
from typing import Any

from recipe_system.cal_service.calcache import read_cal_cache, write_cal_cache
from recipe_system.cal_service.errors import (
    CalibrationRefused,
    DatabaseNotInitialised,
    NotInDatabase,
    UserCalibrationError,
)
from recipe_system.cal_service.frame_values import CALTYPES
from recipe_system.cal_service.localdb import AddResult, CalReturn, FileData, LocalDB
from recipe_system.cal_service.provider import (
    ORIGIN_NOT_APPLICABLE,
    CalibrationProvider,
    init_calibration_databases,
)
from recipe_system.cal_service.rules import RULES, CalibrationRule, register_rule
from recipe_system.cal_service.service import (
    CalibrationService,
    clear_calservice,
    set_calservice,
)
from recipe_system.cal_service.userdb import UserDB

__all__ = [
    "AddResult",
    "CALTYPES",
    "CalReturn",
    "CalibrationProvider",
    "CalibrationRefused",
    "CalibrationRule",
    "CalibrationService",
    "DatabaseNotInitialised",
    "FileData",
    "LocalDB",
    "NotInDatabase",
    "ORIGIN_NOT_APPLICABLE",
    "RULES",
    "UserCalibrationError",
    "UserDB",
    "clear_calservice",
    "explain",
    "init_calibration_databases",
    "read_cal_cache",
    "register_rule",
    "set_calservice",
    "write_cal_cache",
]


def explain(ad: Any, caltype: str, procmode: str | None = None,
            config_file: str | os.PathLike | None = None, ucals: Any = None) -> str:
    """Which calibration of `caltype` frame `ad` would get from the configured databases, and why.

    Parameters
    ----------
    ad : AstroData or path
        The frame (a path is opened).
    caltype : str
        ``processed_flat``, ``processed_dark``, ...
    procmode : str, optional
        Reduction mode (default ``sq``).
    config_file : path, optional
        Configuration file instead of the usual search.
    ucals : optional
        User calibrations, as for ``reduce --user_cal``.
    """
    if isinstance(ad, (str, os.PathLike)):
        import astrodata

        ad = astrodata.open(os.fspath(ad))
    provider = init_calibration_databases(ucals=ucals, config_file=config_file,
                                          mode=procmode or "sq")
    return provider.explain(ad, caltype, procmode)
