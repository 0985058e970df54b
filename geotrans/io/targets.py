"""What geotrans may write: one rule for every path it writes (map, preview, log, summary, vectors, model).

A target is refused, in one line, when it is:

* any file an input of the run is made of (``input_files``): the file it names, directly or through a GDAL
  or rasterio path (``/vsizip/a.zip/x.tif``, ``zip://a.zip!x.tif``, ``file://``, ``/vsicached?file=``,
  ``/vsisparse/`` ... name files on disk: the archive, the cached file, the sparse file's parts), every file
  GDAL reads for it (a VRT's sources, its mask band's and a processed dataset's too, followed into VRTs of VRTs
  however they are named; a tile index's index and tiles), and the sidecars GDAL would read beside each
  (``.ovr``, ``.aux.xml``, ``.msk``, world files), whether or not they exist yet;
* another output of the same run (the map and its preview, log or summary);
* not a regular file (a device, a pipe, a socket, a folder) or not a local path (a ``/vsi`` or URL target);
* in a folder that does not exist;
* an existing file, unless ``overwrite``; in folder mode an existing file geotrans did not write (no
  ``GEOTRANS_*`` tags) is refused even then, unless ``overwrite``. A log is appended to, so an existing
  log is fine, but never an existing image (a TIFF, PNG or JPEG file is no log); an existing folder summary is
  merged, but only one geotrans wrote (else it is refused, unless ``overwrite``); likewise a log is appended
  only to a geotrans log (or an empty file), and replaces any other text file only with ``overwrite``.

``check_targets`` checks all of a run's targets at once, before anything is read or loaded.
"""
from __future__ import annotations

import functools
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence
from urllib.parse import unquote
from xml.etree import ElementTree

from geotrans.errors import InputError, OutputError
from geotrans.io.gdal_messages import quiet_gdal

# rasterio is imported in the functions that open a file: the CLI checks every target before it loads
# rasterio and torch, so that a wrong path is said at once.

_ARCHIVE = re.compile(r"^/vsi(zip|gzip|tar|7z|rar)/(.*)$", re.IGNORECASE)
_SUBFILE = re.compile(r"^/vsisubfile/[0-9_]+,(.*)$", re.IGNORECASE)
_CACHED = re.compile(r"^/vsicached\?(.*)$", re.IGNORECASE)
_KEYED = re.compile(r"^/vsicrypt/(.*)$", re.IGNORECASE)  # /vsicrypt/key=...,file=PATH
_SPARSE = re.compile(r"^/vsisparse/(.*)$", re.IGNORECASE)
# GDAL's GeoTIFF driver prefixes, and its tile index's
_DRIVER = re.compile(r"^(GTIFF_DIR:[0-9]+:|GTIFF_RAW:|GTI:)(.*)$", re.IGNORECASE)
# rasterio's URL-like paths: file://PATH, zip://ARCHIVE!MEMBER, tar://, gzip://, zip+file:// ...
_RASTERIO = re.compile(r"^(?:(zip|tar|gzip)(?:\+file)?|file)://(.*)$", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# The files GDAL reads beside a raster: overviews, auxiliary metadata, masks; world files replace the extension.
SIDECARS = (".ovr", ".aux.xml", ".msk", ".aux")
# ... and a satellite scene's metadata beside it, which GDAL's GeoTIFF driver reads (RPCs, imagery metadata).
METADATA_SIDECARS = (".rpb", "_rpc.txt", ".imd", ".pvl", ".att", ".eph")
NESTING = 64  # VRTs of VRTs (and tile indexes) followed this deep, deeper than GDAL reads; deeper is refused
_NESTED_XML_BYTES = 256 << 20  # a VRT or tile index description larger than this is refused, not parsed
_GTI_SUFFIXES = (".gti.gpkg", ".gti.fgb", ".gti.parquet")  # tile indexes GDAL opens as such by their name


def disk_file(path: str | os.PathLike) -> Optional[Path]:
    """The local file a path reads: itself, or the archive or compressed file under a GDAL path such as
    ``/vsizip/a.zip/x.tif``, ``/vsizip/{a.zip}/x.tif``, ``/vsigzip/x.tif.gz`` or ``/vsisubfile/0_100,x.bin``,
    a rasterio path (``file://x.tif``, ``zip://a.zip!x.tif``), ``/vsicached?file=x.tif`` or a driver prefix
    (``GTIFF_DIR:1:x.tif``); None for network and memory paths (``/vsicurl/``, ``/vsimem/``, URLs). A sparse
    file (``/vsisparse/``) reads several: ``disk_files`` names them all."""
    files = disk_files(path)
    return files[0] if files else None


def disk_files(path: str | os.PathLike) -> list[Path]:
    """Every local file a path reads, the one it names first (see ``disk_file``); empty for network paths."""
    text = os.fspath(path)
    if text.startswith("vrt://"):  # GDAL's connection string to a VRT of a file: vrt://PATH?OPTIONS
        return disk_files(text[len("vrt://"):].split("?", 1)[0])
    for pattern in (_SUBFILE, _DRIVER):
        match = pattern.match(text)
        if match:
            return disk_files(match.group(match.lastindex))
    cached = _CACHED.match(text) or _KEYED.match(text)
    if cached:
        named = _option(cached.group(1), "file")
        return disk_files(named) if named else []
    sparse = _SPARSE.match(text)
    if sparse:
        xml = disk_files(sparse.group(1))
        return xml + [f for part in _sparse_parts(xml[0]) for f in disk_files(part)] if xml else []
    scheme = _RASTERIO.match(text)
    if scheme:
        rest = unquote(scheme.group(2))
        return disk_files(rest.split("!", 1)[0] if scheme.group(1) else rest)
    archive = _ARCHIVE.match(text)
    if not archive:
        return [] if text.startswith("/vsi") or _URL.match(text) else [Path(text)]
    rest = archive.group(2)
    if rest.startswith("{") and "}" in rest:
        return disk_files(rest[1 : rest.index("}")])
    parts = rest.split("/")
    for i in range(1, len(parts) + 1):  # GDAL takes the first prefix that is a file as the archive
        candidate = "/".join(parts[:i])
        if candidate and os.path.isfile(candidate):
            return [Path(candidate)]
    return disk_files(rest) if rest.startswith("/vsi") else [Path(rest)]


def _option(query: str, key: str) -> Optional[str]:
    """``key``'s value in GDAL's ``key=value`` options (``&`` or ``,`` between them)."""
    for part in re.split(r"[&,]", query):
        name, _, value = part.partition("=")
        if name.strip().lower() == key:
            return unquote(value)
    return None


def _sparse_parts(xml: Path) -> list[str]:
    """The files a ``/vsisparse/`` description names (its ``SubfileRegion`` filenames), relative to it
    where it says so."""
    try:
        root = ElementTree.parse(xml).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    parts = []
    for name in root.iter("Filename"):
        if name.text:
            relative = name.get("relative", "0") in ("1", "true", "TRUE")
            parts.append(os.fspath(xml.parent / name.text) if relative else name.text)
    return parts


def sidecars(path: Path) -> list[Path]:
    """The files GDAL reads beside a raster, existing or not: ``x.tif.ovr``, ``x.tif.aux.xml``,
    ``x.tif.msk``, ``x.tif.aux``, ``x.aux`` and the world files ``x.tfw``, ``x.tifw``, ``x.wld`` (either case)."""
    ext = path.suffix[1:]
    pairs = [(path.name, suffix) for suffix in SIDECARS] + [(path.stem, ".aux")]
    pairs += [(path.stem, suffix) for suffix in METADATA_SIDECARS]
    if ext:
        pairs += [(path.stem, f".{ext[0]}{ext[-1]}w"), (path.stem, f".{ext}w"), (path.stem, ".wld")]
    return [path.with_name(base + s) for base, suffix in pairs for s in dict.fromkeys((suffix.lower(), suffix.upper()))]


def _read_files(source: str) -> list[str]:
    """The files GDAL lists for a raster it opens (``dataset.files``); none when it cannot open it."""
    import rasterio
    from rasterio.errors import RasterioError

    try:  # a file that is no raster (a label file, a model's card) simply lists nothing, without a log line
        with quiet_gdal(), rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="NO"), rasterio.open(source) as ds:
            return list(ds.files)
    except (RasterioError, OSError, ValueError):
        return []


@dataclass(frozen=True)
class InputFile:
    """A local file a run reads, and why: the input it belongs to and how (``named``, ``read``, ``sidecar``)."""

    path: Path
    source: str
    how: str


def input_files(source: str | os.PathLike, listed: Optional[Sequence[str]] = None) -> list[InputFile]:
    """Every local file an input is made of: the files its path names (through any GDAL or rasterio prefix),
    the files GDAL reads for it (its own list, and every source a VRT or tile index names, followed down
    through VRTs of VRTs whatever their names), and each one's sidecars. ``listed``: GDAL's list for
    ``source`` when the caller has it open already (it is not opened again)."""
    source = os.fspath(source)
    named = disk_files(source)
    found = [InputFile(p, source, "named") for p in named]
    seen = {os.path.abspath(p) for p in named}
    if not named:  # network inputs have no local files to protect (or to open here)
        return found
    gti = source.upper().startswith("GTI:")
    nested = _nested_sources(named[0], gti)
    if listed is None and nested is None and source == os.fspath(named[0]) and _is_tiff(named[0]):
        listed = [source]  # a plain local TIFF: GDAL lists itself and its sidecars (added below) without an open
    queue = [(source, nested or [])]
    for _ in range(NESTING):
        next_queue = []
        for item, nested in queue:
            listed_files = listed if item is source and listed is not None else _read_files(item)
            for listed_file in [*listed_files, *nested]:
                for local in disk_files(listed_file):
                    key = os.path.abspath(local)
                    if key in seen:
                        continue
                    seen.add(key)
                    found.append(InputFile(local, source, "read"))
                    inner = _nested_sources(local)
                    if inner is not None:  # a VRT or a tile index, by what it holds: followed down
                        next_queue.append((os.fspath(local), inner))
        queue = next_queue
        if not queue:
            break
    else:
        raise InputError(f"{source}: its VRTs are nested more than {NESTING} deep; geotrans follows no deeper",
                         hint="point geotrans at an inner VRT, or flatten the chain with gdalbuildvrt")
    for item in list(found):
        found += [InputFile(side, source, "sidecar") for side in sidecars(item.path)]
    return found


def _is_tiff(path: Path) -> bool:
    head = _regular_head(path, 4)
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _nested_sources(path: Path, gti: bool = False) -> Optional[list[str]]:
    """The files a VRT or a tile index at ``path`` names, known by what the file holds (a VRT named ``.xml``
    or ``.tif`` is a VRT), with those GDAL leaves out of its own list (a mask band's source, a processed
    dataset's input, an index's tiles); None for any other file. ``gti``: named through ``GTI:``."""
    head = _regular_head(path, 512)
    if head is None:
        return None
    text = head.lstrip()
    if text.startswith((b"<VRTDataset", b"<GDALTileIndexDataset")):
        return _xml_sources(path)
    if gti or path.name.lower().endswith(_GTI_SUFFIXES):
        return [os.fspath(path), *_index_tiles(path, path)]
    return None


def _xml_sources(path: Path) -> list[str]:
    """Every file a VRT (or a tile index's XML) names: its sources wherever they stand (``SourceFilename``,
    a warped VRT's ``SourceDataset``, an ``IndexDataset`` and that index's tiles), relative to it where it
    says so."""
    if path.stat().st_size > _NESTED_XML_BYTES:
        raise InputError(f"{path}: a VRT of {path.stat().st_size >> 20} MiB is larger than geotrans reads "
                         f"({_NESTED_XML_BYTES >> 20} MiB)")
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    names = []
    for element in root.iter():
        if element.tag not in ("SourceFilename", "SourceDataset", "IndexDataset") or not element.text:
            continue
        text = element.text.strip()
        relative = element.get("relativeToVRT", "0") in ("1", "true") or element.tag == "IndexDataset"
        name = os.fspath(path.parent / text) if relative and not _is_absolute(text) else text
        names.append(name)
        if element.tag == "IndexDataset":
            field = root.findtext("LocationField") or "location"
            names += [f for local in disk_files(name) for f in _index_tiles(local, local, field)]
    return names


def _is_absolute(name: str) -> bool:
    return os.path.isabs(name) or name.startswith("/vsi") or _URL.match(name) is not None


def _index_tiles(index: Path, relative_to: Path, field: str = "location") -> list[str]:
    """The tiles a tile index lists in ``field``, relative names taken relative to the index's folder (and,
    to be safe, to the working folder too); none when it cannot be read as one."""
    import pyogrio

    try:
        with quiet_gdal():
            _, _, _, values = pyogrio.raw.read(index, columns=[field], read_geometry=False)
    except Exception:  # noqa: BLE001 - pyogrio raises its own and GDAL's errors: an unreadable index lists nothing
        return []
    if not values:
        return []
    tiles = []
    for value in values[0]:
        if isinstance(value, str) and value:
            tiles.append(value)
            if not _is_absolute(value):
                tiles.append(os.fspath(relative_to.parent / value))
    return tiles


def _regular_head(path: Path, size: int) -> Optional[bytes]:
    """The first ``size`` bytes (at most 512) of ``path`` when it is a regular file (a pipe or a device is never
    opened for reading: it could block or never end); None otherwise. Read once while the file is unchanged."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    head = _head_of(os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return None if head is None else head[:size]


@functools.lru_cache(maxsize=256)
def _head_of(path: str, *identity) -> Optional[bytes]:
    """The first 512 bytes of the regular file at ``path`` (``identity``: its device, inode, size and
    modification time, so a changed file is read again)."""
    size = 512
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, size) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def is_summary(path: Path) -> bool:
    """Whether ``path`` holds a folder summary geotrans wrote (a JSON object of ``totals`` and ``scenes``)."""
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


RESULTS_MAX_BYTES = 64 << 20  # an evaluation's results are a few kB; a larger file is not one


def is_results(path: Path) -> bool:
    """Whether ``path`` is the results of a ``training.evaluate`` run (a JSON object naming its model and results),
    which a new evaluation may replace."""
    try:
        if not path.is_file() or path.stat().st_size > RESULTS_MAX_BYTES:
            return False
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and {"model", "results"} <= set(data)


SUMMARY = "geotrans-summary.json"  # folder mode's record of its scenes, in the output folder
APPENDED = ("log", "summary")  # roles extended, not replaced: the log is appended to, the summary merged
_IMAGE_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\x89PNG", b"\xff\xd8\xff")


def _head(path: Path, size: int) -> Optional[bytes]:
    """The first ``size`` bytes of the file at ``path``; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return None


def _is_image(path: Path) -> bool:
    head = _head(path, 4)
    return bool(head) and any(head.startswith(magic[: len(head)]) for magic in _IMAGE_MAGIC)


@dataclass(frozen=True)
class Target:
    """A path the run will write and what it is (``map``, ``preview``, ``log``, ``summary``, ``model``,
    ``vectors``, ``results``)."""

    path: str | os.PathLike  # as given: a str keeps a URL's "//" that a Path would fold
    role: str


def _owned(path: Path, files: Sequence[InputFile], raw: str) -> None:
    """An OutputError when ``path`` is one of the files the run's inputs are made of."""
    for item in files:
        if not _same(item.path, path):
            continue
        if item.how == "sidecar":
            why = f" (a file GDAL reads with {item.source})"
        elif item.how == "read":
            why = f" ({item.source} reads it)"
        else:
            why = "" if item.source == raw else f" ({item.source})"
        raise OutputError(f"{path}: is an input of the run{why}; geotrans never overwrites its input")


def is_geotrans_log(path: Path) -> bool:
    """Whether ``path`` is empty or holds a log geotrans wrote (its first line is a geotrans log line)."""
    head = _head(path, 4096)
    if head is None:
        return False
    if not head:
        return True
    try:
        first = head.decode("utf-8").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return False
    return bool(LOG_LINE.match(first))


# A line of geotrans's --log: "2026-12-06 01:17:58,582 INFO geotrans.run.pipeline: ..." (training's loggers too).
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ (geotrans|training)[\w.]*: ")


def check_name(path: str | os.PathLike, what: str, error: type = OutputError) -> None:
    """Refuse a file name that is not UTF-8 text (bytes the file system allows, which GDAL cannot be given)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        shown = os.fsencode(path).decode("utf-8", errors="backslashreplace")
        raise error(f"{shown}: the {what}'s name is not UTF-8 text, which GDAL cannot open",
                    hint="rename the file") from None


NAME_MAX = 255  # bytes in a file name on Linux, macOS and Windows file systems
TEMPORARY_EXTRA_BYTES = 48  # files.TEMPORARY adds ".", ".<8 hex>", ".<stage>" (up to 32) and ".part"


def _device_name(path: Path) -> bool:
    """Whether ``path`` names a device or a process's file (``/dev/...``, ``/proc/...``), itself or through links."""
    special = ("/dev/", "/proc/")
    current = os.path.abspath(path)
    for _ in range(40):  # every hop of a chain of links (the kernel allows 40)
        if current.startswith(special) and not current.startswith("/dev/shm/"):  # shm: a RAM folder of files
            return True
        if not os.path.islink(current):
            return False
        current = os.path.abspath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return True  # a loop of links: not a file either


def check_target(target: Target, inputs: Sequence[str | os.PathLike] = (), others: Iterable[Target] = (),
                 overwrite: bool = False, geotrans_only: bool = False,
                 files: Optional[Sequence[InputFile]] = None) -> Path:
    """``target.path`` if the run may write it; else an OutputError saying why (see the module's rule).
    ``files``: the inputs' files, when the caller has listed them already (``input_files``)."""
    raw = os.fspath(target.path)
    check_name(raw, target.role)
    if raw.startswith("/vsi") or _URL.match(raw):
        raise OutputError(f"{raw}: the {target.role} must be a local file, not a GDAL virtual path or URL")
    path = Path(raw)
    if _device_name(path):  # /dev/stdout is a link to a file descriptor: a rename would replace the link itself
        raise OutputError(f"{path}: is a device or a process's file, not a file; geotrans writes the "
                          f"{target.role} only to a regular file or a new name")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name for the {target.role}")
    longest = len(os.fsencode(path.name)) + TEMPORARY_EXTRA_BYTES
    if longest > NAME_MAX:  # the temporary file beside it (.NAME.<tag>.<stage>.part) could not be made
        raise OutputError(f"{path.name[:40]}...: the {target.role}'s name is too long ({len(os.fsencode(path.name))} "
                          f"bytes; at most {NAME_MAX - TEMPORARY_EXTRA_BYTES}, for the temporary file beside it)",
                          hint="give a shorter name")
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
    _owned(path, files if files is not None else [f for source in inputs for f in input_files(source)], raw)
    for other in others:
        if other.role != target.role and _same(Path(os.fspath(other.path)), path):
            raise OutputError(f"{path}: is also the run's {other.role}; give the {target.role} a name of its own")
    if os.path.lexists(path):
        if target.role == "summary" and not overwrite and not is_summary(path):
            raise OutputError(f"{path}: exists and is not a summary geotrans wrote; it is left as it is",
                              hint="move it, or pass --overwrite to replace it")
        if target.role in APPENDED and _is_image(path):  # never, not even with --overwrite
            raise OutputError(f"{path}: is an image, not a log; geotrans appends its log only to a text file")
        if target.role == "log" and not overwrite and not is_geotrans_log(path):
            raise OutputError(f"{path}: exists and is not a geotrans log; geotrans appends only to its own logs",
                              hint="give the log a new name, or pass --overwrite to replace the file")
        if target.role in APPENDED:
            return path
        if target.role == "results" and not overwrite and not is_results(path):
            raise OutputError(f"{path}: exists and is not an evaluation's results; it is left as it is",
                              hint="give the results a new name, or pass --overwrite to replace the file")
        if target.role == "results":
            return path
        if geotrans_only and not overwrite and not written_by_geotrans(path):
            raise OutputError(f"{path}: exists and is not a map geotrans wrote; it is left as it is",
                              hint="pass --overwrite to replace it")
        if not overwrite and not geotrans_only:
            raise OutputError(f"{path}: already exists", hint="pass --overwrite to replace it")
    return path


def check_targets(targets: Sequence[Target], inputs: Sequence[str | os.PathLike] = (),
                  overwrite: bool = False) -> None:
    """Check every target of a run against the inputs' files and each other, before anything runs."""
    files = [f for source in inputs for f in input_files(source)]
    for target in targets:
        check_target(target, inputs, targets, overwrite, files=files)
