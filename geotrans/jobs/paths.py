"""Every path a job writes, checked against its inputs and each other before it starts (the rule is
``geotrans.io.targets``'). Light to import: the CLI checks before torch loads."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Sequence

from geotrans.errors import InputError, OutputError
from geotrans.io.targets import SUMMARY, Target, check_name, check_targets, disk_file
from geotrans.web.site import check_site_folder
from geotrans.web.tiles import libraries as tile_libraries

MAP_SUFFIXES = (".tif", ".tiff")  # what a folder run writes into its output folder, as it names the maps


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` or below it (resolved, so links and '..' count)."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_job_paths(src: Optional[str], dst: str, folder_mode: bool, preview: Optional[str] = None,
                    log_file: Optional[str] = None, other_inputs: Sequence[Optional[str]] = (),
                    overwrite: bool = False, vectors: Optional[str] = None, web: Optional[str] = None) -> None:
    """A run's inputs exist and its outputs (map or folder, preview, log, vectors, the folder's summary, the web
    site) may be written: none is an input under another name, nor replaced without ``overwrite``."""
    inputs = [p for p in (None if folder_mode else src, *other_inputs) if p]
    for path in inputs:  # before the model loads: a missing local input is the first thing to say
        check_name(path, "input", InputError)
        if disk_file(path) is not None and not os.path.lexists(disk_file(path)):
            raise InputError(f"{path}: no such file")
        if disk_file(path) is not None and os.path.exists(disk_file(path)) \
                and not stat.S_ISREG(os.stat(disk_file(path)).st_mode) and not os.path.isdir(disk_file(path)):
            raise InputError(f"{path}: is not a regular file (a pipe or a device would block or never end)",
                             hint="save it to a file first")
    targets = [Target(path, role) for path, role in ((None if folder_mode else dst, "map"),
                                                     (preview, "preview"), (log_file, "log"),
                                                     (None if folder_mode else vectors, "vectors")) if path]
    if folder_mode and vectors and Path(vectors).exists() and not Path(vectors).is_dir():
        raise InputError(f"{vectors}: in folder mode {{vectors}} is a folder (one GeoPackage per map)",
                         options=["vectors"])
    for folder in (dst, vectors) if folder_mode else ():
        if folder and not Path(folder).is_dir() and not Path(folder).parent.is_dir():  # made, but not a chain
            raise OutputError(f"{Path(folder).parent}: no such folder to make {Path(folder).name} in",
                              hint="create it first, or check the path")
    if folder_mode and log_file:  # a scene's map or features would be written over the log, which is appended to
        for folder, kinds in ((dst, MAP_SUFFIXES), (vectors, (".gpkg",))):
            if folder and _inside(Path(log_file), Path(folder)) and Path(log_file).suffix.lower() in kinds:
                raise OutputError(f"{log_file}: a log in the output folder {folder} named like its outputs would "
                                  "be written over by one", hint="give the log another name or folder")
    if folder_mode and Path(dst).is_dir():
        targets.append(Target(Path(dst) / SUMMARY, "summary"))
    check_targets(targets, inputs, overwrite)
    if web:
        check_site_folder(web, [*inputs, *(p for p in (dst, preview, log_file, vectors) if p)])
        tile_libraries()  # an hour's run does not end in "pip install" before its site
