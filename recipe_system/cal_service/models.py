"""SQLAlchemy ORM models of the calibration database: one row per processed calibration file.

The table keeps, for each file, where it is and how to recognise it again
(path, size, modification time and checksum), what it is (instrument,
calibration type, processing mode, data label, observation time) and every
descriptor value that an association rule (:mod:`.rules`) compares, in its own
indexed column, so that the exact-match part of a look-up is one SQL query.
All descriptor values of the file are also kept in a JSON column for
``caldb explain`` and future rules.

Conventions of the stored values:

* checksum: the **MD5** hex digest of the whole file (:data:`CHECKSUM_ALGORITHM`),
  the digest DRAGONS' local database and our PROVENANCE tables use, so a row
  can be cross-checked against a provenance record. It detects changed files;
  it is not a security measure.
* per-extension descriptors (``amp_read_area``, ``array_name``,
  ``detector_section``, ``data_section``) are joined with ``+`` in extension
  order unless all values are equal (the DRAGONS request convention);
  sections are stored as IRAF strings (``[1:2048,1:2048]``), except
  ``data_section`` which is stored as ``Section(x1=0, x2=1024, y1=0, y2=1024)``
  as the Gemini archive does.
* ``filter_name``, ``camera``, ``lyot_stop`` ... are the raw descriptor values,
  with component IDs (``Open&Y_G0811``).
* times are naive UTC ``datetime`` values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CHECKSUM_ALGORITHM",
    "SCHEMA_VERSION",
    "Base",
    "DatabaseInfo",
    "ProcessedCalibration",
    "RULE_COLUMNS",
]

#: hashlib name of the file checksum stored in ``ProcessedCalibration.checksum``.
CHECKSUM_ALGORITHM = "md5"
#: Version of the table layout; a database with another version is refused.
SCHEMA_VERSION = 1


class Base(DeclarativeBase):
    """Declarative base of the calibration database tables."""


class DatabaseInfo(Base):
    """Key/value facts about the database itself (schema version, creation time)."""

    __tablename__ = "astroreduce_caldb_info"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class ProcessedCalibration(Base):
    """A processed calibration file known to the database."""

    __tablename__ = "processed_calibration"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # -- the file ------------------------------------------------------------
    filename: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    checksum: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    added: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    # -- what it is ----------------------------------------------------------
    caltype: Mapped[str] = mapped_column(String(32), nullable=False)
    instrument_family: Mapped[str] = mapped_column(String(32), nullable=False)
    instrument: Mapped[str | None] = mapped_column(String(32))
    processing: Mapped[str | None] = mapped_column(String(8))
    data_label: Mapped[str | None] = mapped_column(String(128))
    observation_id: Mapped[str | None] = mapped_column(String(128))
    observation_type: Mapped[str | None] = mapped_column(String(32))
    observation_class: Mapped[str | None] = mapped_column(String(32))
    object: Mapped[str | None] = mapped_column(String(128))
    ut_datetime: Mapped[datetime | None] = mapped_column(DateTime)
    tags: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # -- descriptor values compared by the association rules -----------------
    exposure_time: Mapped[float | None] = mapped_column(Float)
    coadds: Mapped[int | None] = mapped_column(Integer)
    filter_name: Mapped[str | None] = mapped_column(String(128))
    read_mode: Mapped[str | None] = mapped_column(String(64))
    well_depth_setting: Mapped[str | None] = mapped_column(String(32))
    camera: Mapped[str | None] = mapped_column(String(64))
    disperser: Mapped[str | None] = mapped_column(String(64))
    lyot_stop: Mapped[str | None] = mapped_column(String(64))
    focal_plane_mask: Mapped[str | None] = mapped_column(String(64))
    decker: Mapped[str | None] = mapped_column(String(64))
    pupil_mask: Mapped[str | None] = mapped_column(String(64))
    central_wavelength: Mapped[float | None] = mapped_column(Float)
    gcal_lamp: Mapped[str | None] = mapped_column(String(32))
    detector_x_bin: Mapped[int | None] = mapped_column(Integer)
    detector_y_bin: Mapped[int | None] = mapped_column(Integer)
    binning: Mapped[str | None] = mapped_column(String(16))
    read_speed_setting: Mapped[str | None] = mapped_column(String(32))
    gain_setting: Mapped[str | None] = mapped_column(String(32))
    amp_read_area: Mapped[str | None] = mapped_column(Text)
    array_name: Mapped[str | None] = mapped_column(Text)
    detector_name: Mapped[str | None] = mapped_column(String(128))
    detector_roi_setting: Mapped[str | None] = mapped_column(String(32))
    data_section: Mapped[str | None] = mapped_column(Text)
    detector_section: Mapped[str | None] = mapped_column(Text)
    spectroscopy: Mapped[bool | None] = mapped_column(Boolean)
    overscan_subtracted: Mapped[bool | None] = mapped_column(Boolean)
    overscan_trimmed: Mapped[bool | None] = mapped_column(Boolean)
    # -- everything else -----------------------------------------------------
    descriptors: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_calibration_lookup", "caltype", "instrument_family", "ut_datetime"),
        Index("ix_calibration_filter", "caltype", "instrument_family", "filter_name"),
        Index("ix_calibration_exptime", "caltype", "instrument_family", "exposure_time"),
        Index("ix_calibration_binning", "caltype", "instrument_family", "detector_x_bin",
              "detector_y_bin"),
        Index("ix_calibration_data_label", "data_label"),
    )

    def __repr__(self) -> str:
        return (f"ProcessedCalibration({self.filename!r}, {self.caltype!r}, "
                f"{self.instrument!r}, {self.ut_datetime})")


#: Descriptor columns an association rule may compare (name -> SQL column).
RULE_COLUMNS: dict[str, Any] = {
    name: getattr(ProcessedCalibration, name)
    for name in (
        "instrument", "processing", "observation_type", "observation_class", "object",
        "exposure_time", "coadds", "filter_name", "read_mode", "well_depth_setting", "camera",
        "disperser", "lyot_stop", "focal_plane_mask", "decker", "pupil_mask",
        "central_wavelength", "gcal_lamp", "detector_x_bin", "detector_y_bin", "binning",
        "read_speed_setting", "gain_setting", "amp_read_area", "array_name", "detector_name",
        "detector_roi_setting", "data_section", "detector_section", "spectroscopy",
        "overscan_subtracted", "overscan_trimmed",
    )
}
