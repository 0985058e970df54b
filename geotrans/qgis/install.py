"""Install the QGIS plugin into a QGIS profile, recording which ``geotrans`` it runs.

The plugin (``geotrans/qgis/plugin``) is copied to ``PROFILE/python/plugins/geotrans_processing``
with a ``geotrans.json`` that names this environment's ``geotrans`` executable and the
GDAL/PROJ/Python variables it runs with, so QGIS's Python never imports torch.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Mapping, Optional

from geotrans import __version__
from geotrans.errors import InputError, OutputError
from geotrans.io.files import temporary_path
from geotrans.qgis.plugin.command import INSTALL_RECORD, ISOLATED

log = logging.getLogger("geotrans.qgis")

PLUGIN_NAME = "geotrans_processing"  # the plugin's folder, and its name for `qgis_process plugins enable`
PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugin"


def default_profiles_path(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """Where QGIS 3 keeps its profiles on this platform (QGIS's own --profiles-path default)."""
    home = Path(environ.get("HOME") or Path.home())
    if platform == "win32":
        return Path(environ.get("APPDATA") or home / "AppData" / "Roaming") / "QGIS" / "QGIS3" / "profiles"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "QGIS" / "QGIS3" / "profiles"
    return Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "QGIS" / "QGIS3" / "profiles"


def profile_folder(profile: str, profiles_path: Optional[str | os.PathLike] = None) -> Path:
    """The folder of an existing QGIS profile; a missing one is refused (QGIS creates it on first start)."""
    profiles = Path(profiles_path) if profiles_path else default_profiles_path()
    if not profile or profile in (".", "..") or any(sep in profile for sep in ("/", "\\", "\0")):
        raise InputError(f"QGIS profile {profile!r}: a profile is a folder name, not a path",
                         hint="give the name QGIS shows under Settings > User Profiles")
    folder = profiles / profile
    if not folder.is_dir():
        found = sorted(p.name for p in profiles.iterdir() if p.is_dir()) if profiles.is_dir() else []
        raise InputError(f"QGIS profile {profile!r} not found: no folder {folder}"
                         + (f" (profiles there: {', '.join(found)})" if found else ""),
                         hint="start QGIS once with that profile, or give --profile / --profiles-path")
    return folder


def geotrans_command() -> list[str]:
    """This environment's ``geotrans`` executable, absolute; else its Python running ``-m geotrans``."""
    python = Path(os.path.abspath(sys.executable))  # not resolved: a venv's python is a symlink
    script = python.parent / ("geotrans.exe" if sys.platform == "win32" else "geotrans")
    return [str(script)] if script.is_file() else [str(python), "-m", "geotrans"]


def check_ours(target: Path) -> None:
    """Refuse to replace or remove a plugin folder geotrans did not write: one without its install record, or a
    link (whatever it points to is the user's)."""
    if target.is_symlink() or (os.path.lexists(target) and not (target / INSTALL_RECORD).is_file()):
        raise OutputError(f"{target}: a plugin folder geotrans did not install (no {INSTALL_RECORD} in it); "
                          "left as it is", hint="remove or rename it yourself if it is an old copy")


def install_plugin(profile: str = "default", profiles_path: Optional[str | os.PathLike] = None) -> Path:
    """Copy the plugin into the profile (replacing an earlier copy geotrans installed) and record this
    environment's geotrans."""
    plugins = profile_folder(profile, profiles_path) / "python" / "plugins"
    target = plugins / PLUGIN_NAME
    check_ours(target)
    staged = temporary_path(target, "install")
    try:
        plugins.mkdir(parents=True, exist_ok=True)
        shutil.copytree(PLUGIN_SOURCE, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        record = {"command": geotrans_command(), "version": __version__,
                  "environment": {k: os.environ[k] for k in ISOLATED if k in os.environ}}
        (staged / INSTALL_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    except OSError as err:
        shutil.rmtree(staged, ignore_errors=True)
        raise OutputError(f"{target}: cannot install the plugin there ({err.strerror or err})") from None
    log.debug("installed the geotrans plugin in %s; it runs %s", target, " ".join(record["command"]))
    return target


def uninstall_plugin(profile: str = "default", profiles_path: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """Remove the plugin from the profile; None when it was not there."""
    target = profile_folder(profile, profiles_path) / "python" / "plugins" / PLUGIN_NAME
    if not os.path.lexists(target):
        return None
    check_ours(target)
    try:
        shutil.rmtree(target)
    except OSError as err:
        raise OutputError(f"{target}: cannot remove the plugin ({err.strerror or err})") from None
    return target
