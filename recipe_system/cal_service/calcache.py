"""The editable calibration cache: a JSON file pinning which calibration each input frame uses.

Format (one object; keys are input data labels, or file names when a frame
has no data label; values map a calibration type to a file)::

    {
      "GS-2013B-Q-15-39-005": {
        "processed_dark": "calibrations/processed_dark/S20131120S0115_dark.fits",
        "processed_flat": "/data/flats/S20131129S0320_flat.fits"
      },
      "N20160102S0373.fits": {"processed_bpm": "bpm_niri.fits"}
    }

A reduction can write the choices it made (:func:`write_cal_cache`); a user
edits the file to pin other calibrations and passes it back (the provider's
``cal_cache=``, later ``reduce --cal-cache FILE``). Relative paths are taken
from the directory of the JSON file, so the file can be moved with the data.
A ``null`` value means "not pinned" (the databases decide).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recipe_system.cal_service.frame_values import CALTYPES
from recipe_system.errors import ConfigError

__all__ = ["frame_keys", "read_cal_cache", "write_cal_cache"]


def write_cal_cache(path: str | os.PathLike,
                    choices: Mapping[str, Mapping[str, str | None]]) -> Path:
    """Write `choices` as an editable JSON calibration cache (atomically).

    Parameters
    ----------
    path : str or path
        The JSON file to write (replaced if it exists).
    choices : mapping
        ``{data label or filename: {caltype: path or None}}``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        If a calibration type is unknown.
    """
    target = Path(os.path.expanduser(os.fspath(path))).absolute()
    clean: dict[str, dict[str, str | None]] = {}
    for key in sorted(choices):
        per_frame = {}
        for caltype, calfile in sorted(choices[key].items()):
            if caltype not in CALTYPES:
                raise ConfigError(f"{target}: unknown calibration type {caltype!r} for {key}")
            per_frame[caltype] = None if calfile is None else os.fspath(calfile)
        clean[str(key)] = per_frame
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(clean, stream, indent=2)
            stream.write("\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def read_cal_cache(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Read a calibration cache written by :func:`write_cal_cache` (and maybe edited).

    Returns
    -------
    dict
        ``{key: {caltype: absolute path}}``; null entries are dropped.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid JSON, or is not of the documented
        form; the message names the file and the offending entry.
    """
    source = Path(os.path.expanduser(os.fspath(path))).absolute()
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: calibration cache not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the calibration cache: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected an object {{frame: {{caltype: file}}}}")
    result: dict[str, dict[str, str]] = {}
    for key, per_frame in data.items():
        if not isinstance(per_frame, dict):
            raise ConfigError(f"{source}: entry {key!r} must be an object {{caltype: file}}")
        pins = {}
        for caltype, calfile in per_frame.items():
            if caltype not in CALTYPES:
                raise ConfigError(f"{source}: entry {key!r} has an unknown calibration type"
                                  f" {caltype!r} (known: {', '.join(CALTYPES)})")
            if calfile is None:
                continue
            if not isinstance(calfile, str):
                raise ConfigError(f"{source}: entry {key!r} {caltype} must be a file name")
            file = Path(os.path.expanduser(calfile))
            if not file.is_absolute():
                file = source.parent / file
            pins[caltype] = os.path.normpath(str(file))
        result[str(key)] = pins
    return result


def frame_keys(ad: Any) -> list[str]:
    """The keys under which a frame may appear in a cache: data label, file name, original name."""
    keys = []
    for getter in ("data_label",):
        try:
            value = getattr(ad, getter)()
        except Exception:  # noqa: BLE001 - a frame without a data label is keyed by name
            value = None
        if value:
            keys.append(str(value))
    for attribute in ("filename", "orig_filename"):
        value = getattr(ad, attribute, None)
        if value:
            keys.append(os.path.basename(str(value)))
    return list(dict.fromkeys(keys))
