"""Configuration files: dragonsrc and rsys.cfg styles, precedence, defaults, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recipe_system.config import (
    DEFAULT_DATABASE_NAME,
    find_config_file,
    load_config,
    parse_databases,
)
from recipe_system.errors import ConfigError


def _home() -> Path:
    return Path(os.environ["HOME"])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_configuration_means_calibrations_dir_of_cwd():
    config = load_config()
    assert config.config_file is None and config.style == "default"
    [db] = config.databases
    assert db.location == str(Path.cwd() / "calibrations" / DEFAULT_DATABASE_NAME)
    assert (db.get, db.store) == (True, True)
    assert "No configuration file found" in config.describe()


def test_dragonsrc_flags_follow_dragons(tmp_path, monkeypatch):
    existing = tmp_path / "caldir"
    existing.mkdir()
    monkeypatch.setenv("CALROOT", str(tmp_path / "root"))
    rc = _write(_home() / ".dragons" / "dragonsrc", f"""
[calibs]
databases = {existing}
    ~/cals/plain.db get
    $CALROOT/stored.db get store
    ${{CALROOT}}/storeonly.db store
    postgresql+psycopg://me:secret@dbhost/cals get store
    https://archive.gemini.edu get
""")
    config = load_config()
    assert config.config_file == rc and config.style == "dragonsrc"
    spec = [(d.location, d.get, d.store) for d in config.databases]
    assert spec == [
        (str(existing / DEFAULT_DATABASE_NAME), True, False),
        (str(_home() / "cals" / "plain.db"), True, False),
        (str(tmp_path / "root" / "stored.db"), True, True),
        (str(tmp_path / "root" / "storeonly.db"), False, True),
        ("postgresql+psycopg://me:secret@dbhost/cals", True, True),
    ]
    assert any("archive.gemini.edu" in note and "not supported" in note for note in config.notes)
    assert [d.location for d in config.get_databases][-1].startswith("postgresql")
    assert len(config.store_databases) == 3


def test_unknown_flag_and_unset_variable_are_errors():
    with pytest.raises(ConfigError, match="unknown flag"):
        parse_databases("/tmp/x.db get stor", source="rc")
    with pytest.raises(ConfigError, match=r"\$\{path_to_my_data\}"):
        parse_databases("${path_to_my_data}/playground get", source="rc")


def test_rsys_cfg_is_a_get_store_database(tmp_path, monkeypatch):
    monkeypatch.setenv("path_to_my_data", str(tmp_path / "data"))
    rc = _write(_home() / ".geminidr" / "rsys.cfg", """[calibs]
standalone = True
database_dir = ${path_to_my_data}/f2img_tutorial/playground
""")
    config = load_config()
    assert config.config_file == rc and config.style == "rsys.cfg"
    [db] = config.databases
    assert db.location == str(tmp_path / "data" / "f2img_tutorial" / "playground"
                              / DEFAULT_DATABASE_NAME)
    assert (db.get, db.store) == (True, True)


def test_rsys_cfg_with_unset_variable_names_it():
    _write(_home() / ".geminidr" / "rsys.cfg",
           "[calibs]\nstandalone = True\ndatabase_dir = ${path_to_my_data}/playground\n")
    with pytest.raises(ConfigError, match=r"rsys\.cfg: database_dir .*path_to_my_data"):
        load_config()


def test_rsys_cfg_remote_service_is_not_supported():
    _write(_home() / ".geminidr" / "rsys.cfg", "[calibs]\nstandalone = False\n")
    config = load_config()
    assert config.databases == []
    assert "not supported" in " ".join(config.notes)


def test_precedence_explicit_env_dragonsrc_rsys(tmp_path, monkeypatch):
    rsys = _write(_home() / ".geminidr" / "rsys.cfg",
                  f"[calibs]\nstandalone = True\ndatabase_dir = {tmp_path}\n")
    assert find_config_file() == rsys
    rc = _write(_home() / ".dragons" / "dragonsrc", f"[calibs]\ndatabases = {tmp_path}/a.db\n")
    assert find_config_file() == rc
    config = load_config()
    assert any(str(rsys) in note for note in config.notes)
    env = _write(tmp_path / "env.rc", f"[calibs]\ndatabases = {tmp_path}/env.db get store\n")
    monkeypatch.setenv("DRAGONSRC", str(env))
    assert find_config_file() == env
    explicit = _write(tmp_path / "explicit.rc", f"[calibs]\ndatabases = {tmp_path}/x.db\n")
    assert find_config_file(explicit) == explicit
    assert load_config(explicit).databases[0].location == str(tmp_path / "x.db")
    with pytest.raises(ConfigError, match=r"missing\.rc: configuration file not found"):
        load_config(tmp_path / "missing.rc")
    monkeypatch.setenv("DRAGONSRC", str(tmp_path / "gone.rc"))
    with pytest.raises(ConfigError, match=r"gone\.rc: configuration file named by \$DRAGONSRC"):
        load_config()


def test_malformed_file_names_the_file(tmp_path):
    bad = _write(tmp_path / "bad.rc", "databases = /x.db\n[calibs\n")
    with pytest.raises(ConfigError, match=r"bad\.rc: cannot parse"):
        load_config(bad)


def test_comment_lines_in_databases_are_ignored(tmp_path):
    databases, notes = parse_databases(f"""
    # my databases
    {tmp_path}/a.db get store
    ; old one
    """)
    assert [(d.location, d.flags) for d in databases] == [(f"{tmp_path}/a.db", "get store")]
    assert notes == []
