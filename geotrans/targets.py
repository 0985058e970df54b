"""What geotrans may write: one rule for every path it writes (map, preview, log, summary, vectors, model).

A target is refused, in one line, when it is:

* an input of the run, named directly or through a GDAL path (``/vsizip/a.zip/x.tif``,
  ``/vsigzip/x.tif.gz``, ``/vsitar/`` ... name a file on disk: the archive);
* another output of the same run (the map and its preview, log or summary);
* not a regular file (a device, a pipe, a socket, a folder) or not a local path (a ``/vsi`` or URL target);
* in a folder that does not exist;
* an existing file, unless ``overwrite``; in folder mode an existing file geotrans did not write (no
  ``GEOTRANS_*`` tags) is refused even then, unless ``overwrite``. A log is appended to, so an existing
  log is fine, but never an existing image (a TIFF, PNG or JPEG file is no log); an existing folder summary is
  merged, but only one geotrans wrote (else it is refused, unless ``overwrite``).

``check_targets`` checks all of a run's targets at once, before anything is read or loaded.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from geotrans.errors import OutputError

_ARCHIVE = re.compile(r"^/vsi(zip|gzip|tar|7z|rar)/(.*)$", re.IGNORECASE)
_SUBFILE = re.compile(r"^/vsisubfile/[0-9_]+,(.*)$", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def disk_file(path: str | os.PathLike) -> Optional[Path]:
    """The local file a path reads: itself, or the archive or compressed file under a GDAL path such as
    ``/vsizip/a.zip/x.tif``, ``/vsizip/{a.zip}/x.tif``, ``/vsigzip/x.tif.gz`` or ``/vsisubfile/0_100,x.bin``;
    None for network and memory paths (``/vsicurl/``, ``/vsimem/``, URLs)."""
    text = os.fspath(path)
    if text.startswith("vrt://"):  # GDAL's connection string to a VRT of a file: vrt://PATH?OPTIONS
        return disk_file(text[len("vrt://"):].split("?", 1)[0])
    sub = _SUBFILE.match(text)
    if sub:
        return disk_file(sub.group(1))
    archive = _ARCHIVE.match(text)
    if not archive:
        return None if text.startswith("/vsi") or _URL.match(text) else Path(text)
    rest = archive.group(2)
    if rest.startswith("{") and "}" in rest:
        return disk_file(rest[1 : rest.index("}")])
    parts = rest.split("/")
    for i in range(1, len(parts) + 1):  # GDAL takes the first prefix that is a file as the archive
        candidate = "/".join(parts[:i])
        if candidate and os.path.isfile(candidate):
            return Path(candidate)
    return disk_file(rest) if rest.startswith("/vsi") else Path(rest)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def is_summary(path: Path) -> bool:
    """Whether ``path`` holds a folder summary geotrans wrote (a JSON object of ``totals`` and ``scenes``)."""
    import json

    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and isinstance(summary.get("totals"), dict) and \
        isinstance(summary.get("scenes"), list)


def written_by_geotrans(path: Path) -> bool:
    """Whether the GeoTIFF at ``path`` carries geotrans's tags (a map it wrote)."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return any(key.startswith("GEOTRANS_") for key in ds.tags())
    except (RasterioError, OSError):
        return False


SUMMARY = "geotrans-summary.json"  # folder mode's record of its scenes, in the output folder
APPENDED = ("log", "summary")  # roles extended, not replaced: the log is appended to, the summary merged
_IMAGE_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\x89PNG", b"\xff\xd8\xff")


def _is_image(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return any(head.startswith(magic[: len(head)]) and head for magic in _IMAGE_MAGIC)


@dataclass(frozen=True)
class Target:
    """A path the run will write and what it is (``map``, ``preview``, ``log``, ``summary``, ``model``,
    ``vectors``, ``results``)."""

    path: str | os.PathLike  # as given: a str keeps a URL's "//" that a Path would fold
    role: str


def check_target(target: Target, inputs: Sequence[str | os.PathLike] = (), others: Iterable[Target] = (),
                 overwrite: bool = False, geotrans_only: bool = False) -> Path:
    """``target.path`` if the run may write it; else an OutputError saying why (see the module's rule)."""
    raw = os.fspath(target.path)
    if raw.startswith("/vsi") or _URL.match(raw):
        raise OutputError(f"{raw}: the {target.role} must be a local file, not a GDAL virtual path or URL")
    path = Path(raw)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name for the {target.role}")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: the {target.role}'s output folder does not exist")
    if os.path.lexists(path):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG  # a dangling link: writing replaces the link itself
        if not stat.S_ISREG(mode):
            raise OutputError(f"{path}: is not a regular file; geotrans writes the {target.role} only to a "
                              "regular file or a new name")
    for source in inputs:
        local = disk_file(source)
        if local is not None and _same(local, path):
            raise OutputError(f"{path}: is an input of the run{'' if os.fspath(source) == raw else f' ({source})'}; "
                              "geotrans never overwrites its input")
    for other in others:
        if other.role != target.role and _same(Path(os.fspath(other.path)), path):
            raise OutputError(f"{path}: is also the run's {other.role}; give the {target.role} a name of its own")
    if os.path.lexists(path):
        if target.role == "summary" and not overwrite and not is_summary(path):
            raise OutputError(f"{path}: exists and is not a summary geotrans wrote; it is left as it is",
                              hint="move it, or pass --overwrite to replace it")
        if target.role in APPENDED:
            if _is_image(path):
                raise OutputError(f"{path}: is an image, not a log; geotrans appends its log only to a text file")
            return path
        if geotrans_only and not overwrite and not written_by_geotrans(path):
            raise OutputError(f"{path}: exists and is not a map geotrans wrote; it is left as it is",
                              hint="pass --overwrite to replace it")
        if not overwrite and not geotrans_only:
            raise OutputError(f"{path}: already exists", hint="pass --overwrite to replace it")
    return path


def check_targets(targets: Sequence[Target], inputs: Sequence[str | os.PathLike] = (),
                  overwrite: bool = False) -> None:
    """Check every target of a run against the inputs and each other, before anything runs."""
    for target in targets:
        check_target(target, inputs, targets, overwrite)
