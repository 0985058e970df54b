"""Writing outputs: the map GeoTIFF, and the atomic replace every writer goes through.

Creation options are data (``MAP_PROFILE``, ``COG_OPTIONS``), in the manner of
rio-cogeo's profiles. Every file geotrans writes (map, preview, summary,
training checkpoint) is written to a hidden temporary file beside its target
and renamed over it only when complete, so a target never holds a partial file.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import stat
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window

from geotrans.errors import DiskFullError, InputError, OutputBusyError, OutputError, one_line
from geotrans.gdal_messages import gdal_messages, reason
from geotrans.model import from_model_range
from geotrans.palette import Palette, Snapper

log = logging.getLogger(__name__)

# The map: tiled RGB, BigTIFF when needed, compressed on every core (the generator is done by then).
MAP_PROFILE = {
    "driver": "GTiff",
    "count": 3,
    "dtype": "uint8",
    "nodata": None,
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "num_threads": "ALL_CPUS",
    "photometric": "RGB",
    "interleave": "pixel",
    "bigtiff": "IF_SAFER",
}
# --compress: the creation options of each choice. DEFLATE (the default) at level 1, not 6: on a 2048 x 2048
# map it encodes 3x faster for 3.5% more bytes (README "Benchmarks"). JPEG and WebP are lossy: the mask stays
# an internal mask, never black pixels.
COMPRESSIONS = {
    "deflate": {"compress": "deflate", "predictor": 2, "zlevel": 1},
    "zstd": {"compress": "zstd", "predictor": 2, "zstd_level": 9},
    "lzw": {"compress": "lzw", "predictor": 2},
    "jpeg": {"compress": "jpeg", "jpeg_quality": 90, "photometric": "ycbcr"},
    "webp": {"compress": "webp", "webp_level": 90},
}
# GDAL's COG driver, when --cog is asked for (its compression comes from COMPRESSIONS, renamed).
COG_OPTIONS = {"driver": "COG", "blocksize": 256, "overview_resampling": "AVERAGE", "bigtiff": "IF_SAFER",
               "num_threads": "ALL_CPUS"}
_COG_NAMES = {"zlevel": "level", "zstd_level": "level", "jpeg_quality": "quality", "webp_level": "quality"}
OVERVIEW_ENV = {"GDAL_TIFF_INTERNAL_MASK": True, "GDAL_NUM_THREADS": "ALL_CPUS", "ZLEVEL_OVERVIEW": 1}
OVERVIEW_RESAMPLING = Resampling.average


@dataclass(frozen=True)
class Encoding:
    """How a map file is encoded: a ``COMPRESSIONS`` choice and the user's own creation options (KEY, VALUE),
    which come last and so win."""

    compress: str = "deflate"
    creation_options: tuple[tuple[str, str], ...] = ()

    def gtiff(self) -> dict:
        """Creation options for the GTiff driver."""
        return {**COMPRESSIONS[self.compress], **{k.lower(): v for k, v in self.creation_options}}

    def cog(self) -> dict:
        """Creation options for the COG driver (without the driver)."""
        options = {k: v for k, v in COG_OPTIONS.items() if k != "driver"}
        for key, value in COMPRESSIONS[self.compress].items():
            if key == "predictor":
                options["predictor"] = "YES"
            elif key != "photometric":
                options[_COG_NAMES.get(key, key)] = value.upper() if key == "compress" else value
        return {**options, **{k.lower(): v for k, v in self.creation_options}}
def check_encoding(encoding: Encoding, cog: bool = False) -> None:
    """Refuse, in one line and before any run, creation options GDAL does not know or whose values it rejects
    (it would only warn and ignore them, so the map's provenance would name options it does not have), and a
    ``COMPRESS`` that contradicts ``--compress``. A 1 x 1 map is written in memory with them to find out."""
    given = dict(encoding.creation_options)
    if "COMPRESS" in given and given["COMPRESS"].lower() != encoding.compress:
        raise InputError(f"--co COMPRESS={given['COMPRESS']} contradicts --compress {encoding.compress}",
                         hint=f"use --compress {given['COMPRESS'].lower()}" if given["COMPRESS"].lower() in
                         COMPRESSIONS else "give one compression")
    if not given:
        return
    complaints: list[str] = []

    class Complaints(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if any(kind in message for kind in ("CPLE_NotSupported", "CPLE_IllegalArg")):
                complaints.append(message.split(" in ", 1)[-1])

    handler, logger = Complaints(logging.WARNING), logging.getLogger("rasterio._env")
    logger.addHandler(handler)
    name = f"/vsimem/geotrans-check-{uuid.uuid4().hex}"
    profile = {**MAP_PROFILE, "width": 1, "height": 1}  # tiled as the map is, so block sizes are checked too
    try:
        with rasterio.Env(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            options = {**COMPRESSIONS[encoding.compress], **{k.lower(): v for k, v in given.items()}}
            with rasterio.open(f"{name}.tif", "w", **{**profile, **({} if cog else options)}) as ds:
                ds.write(np.zeros((3, 1, 1), np.uint8))
            if cog:
                rasterio.shutil.copy(f"{name}.tif", f"{name}.cog.tif", driver="COG", **encoding.cog())
    except (RasterioError, CPLE_BaseError, ValueError) as err:  # CPLE_*: GDAL's own errors (the COG driver's)
        said = re.sub(r"\w*:?/vsimem/geotrans-check-[0-9a-f]+(\.cog)?\.tif: ", "", one_line(err))  # our probe
        raise InputError(f"--co {' '.join(f'{k}={v}' for k, v in given.items())}: GDAL refuses it ({said})") \
            from None
    finally:
        logger.removeHandler(handler)
        for suffix in (".tif", ".cog.tif"):
            try:
                rasterio.shutil.delete(f"{name}{suffix}")
            except (RasterioError, CPLE_BaseError, OSError):
                pass
    if complaints:
        raise InputError(f"--co: GDAL {complaints[0]}", hint="see the GTiff (or COG) driver's creation options")


SIDECARS = (".msk", ".aux.xml")  # files GDAL may write beside a temporary file
FULL_BELOW_BYTES = 1 << 20  # a write that fails with less free space than this failed for want of space


@contextmanager
def checked_gdal(path: Path, action: str) -> Iterator[None]:
    """Run GDAL calls that write ``path``; any error GDAL raises or merely signals becomes an OutputError
    (a DiskFullError when the disk is full)."""
    with gdal_messages() as messages:
        try:
            yield
        except (RasterioError, OSError) as err:
            raise write_error(path, action, [*messages, one_line(err)], err) from None
    if messages:
        raise write_error(path, action, messages)


def write_error(path: Path, action: str, messages: list[str], err: Optional[BaseException] = None) -> OutputError:
    """The one-line error for a failed write: a DiskFullError when the disk is full."""
    free = _free_bytes(path.parent)
    full = isinstance(err, OSError) and err.errno == errno.ENOSPC or \
        any("No space left" in m for m in messages) or free is not None and free < FULL_BELOW_BYTES
    if full:
        left = "" if free is None else f" ({free // 1024} KiB left)"
        return DiskFullError(f"{path}: the disk is full{left} while {action}; nothing was written there",
                             hint="free some space and run again")
    return OutputError(f"{path}: {action} failed ({one_line(Exception(reason(messages, 'unknown')))})")


def _free_bytes(folder: Path) -> Optional[int]:
    """Free space where ``folder`` is, or None when it cannot be known (a folder that is not there)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def check_output(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool, files=None) -> Path:
    """The map's path if the run may write it (``geotrans.targets``' rule: none of the files the input is made
    of (``files``, when listed already), a regular file or a new name in an existing folder, replaced only with
    ``overwrite``)."""
    from geotrans.targets import Target, check_target

    return check_target(Target(Path(dst), "map"), inputs=[src], overwrite=overwrite, files=files)


# Hidden, beside the target: the target's whole name, then what no name can stand for: a tag of 8 hex digits,
# unique per write, and after it the stage of an intermediate file (the model grid, a cluster's strip).
TEMPORARY = ".{name}.{tag}.{suffix}"
STAGE = re.compile(r"model-grid|strip-[0-9a-f]+-[0-9]{5}")  # the map's intermediate files


def temporary_path(path: str | os.PathLike, suffix: str = "part", stage: Optional[str] = None) -> Path:
    """A hidden, unique temporary name beside ``path``; ``stage`` names an intermediate file of its write."""
    path = Path(path)
    if stage is not None:
        assert STAGE.fullmatch(stage), stage
        suffix = f"{stage}.{suffix}"
    return path.with_name(TEMPORARY.format(name=path.name, tag=uuid.uuid4().hex[:8], suffix=suffix))


def is_temporary_of(candidate: str, path: Path) -> bool:
    """Whether ``candidate`` (a file name) is one of the temporary files of ``path`` exactly, never one of
    another target's: after the name comes the tag, and no other target's temporary has 8 hex digits and
    then a stage or ``.part`` there (``m.tif.x.tif``, ``m.tif.model-grid`` or ``m.tif.0badf00d`` beside
    ``m.tif``)."""
    sidecars = "|".join(re.escape(s) for s in (*SIDECARS, ".cog"))
    pattern = rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}(\.(?:{STAGE.pattern}))?\.part({sidecars})*"
    return re.fullmatch(pattern, candidate) is not None


def remove_temporary(tmp: Path) -> None:
    for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in SIDECARS)):
        leftover.unlink(missing_ok=True)


def durable_replace(tmp: Path, path: Path) -> None:
    """Rename the finished ``tmp`` over ``path`` so that a power cut leaves the old file or the whole new one:
    the file's data reach the disk before the rename, and the folder's entry after it."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without directory handles (Windows): its rename is already durable
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network mounts) refuse fsync on a folder
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it durably replaces ``path``, on any error it is removed
    (``path`` keeps what it held). An OSError while writing becomes an OutputError (DiskFullError)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        yield tmp
        durable_replace(tmp, path)
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise write_error(path, "writing", [one_line(err)], err) from None
    finally:
        remove_temporary(tmp)


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextmanager
def output_lock(path: str | os.PathLike, clean: bool = True, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (a lock file beside it recording host and PID) while writing it.

    Another run holding it raises OutputBusyError naming the holder. A lock whose holder died is free
    (the kernel drops it with the process), and on taking it the dead run's temporary files for
    ``path`` are removed (``clean``). The lock file goes when the lock is released. With ``wait_s``,
    a busy lock is retried for that long first.
    """
    path = Path(path)
    lock = lock_path(path)
    deadline = time.monotonic() + wait_s
    while True:
        try:  # never through a link: a lock name that is one is somebody's, not ours
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise OutputError(f"{lock}: the lock file's name is a link, not a geotrans lock; it is left as "
                                  "it is and nothing was written", hint="remove the link, or choose another output") \
                    from None
            raise write_error(path, "locking the output", [one_line(err)], err) from None
        try:
            _check_lock_file(fd, lock)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise OutputBusyError(f"{path}: is being written by another run ({holder})",
                                  hint="wait for it, or choose another output") from None
        if _same_file(fd, lock):  # not a lock file that its holder removed while we waited
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
        except OSError as err:
            raise write_error(path, "locking the output", [one_line(err)], err) from None
        if clean:
            remove_stale_temporaries(path)
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still held, so no one takes a lock on a file about to vanish
        os.close(fd)


def _check_lock_file(fd: int, lock: Path) -> None:
    """Refuse (closing ``fd``) a lock file that is not a geotrans lock: not a regular file, one with other
    names (hard links), or one holding anything but a lock's record (it is left as it is, never deleted)."""
    info = os.fstat(fd)
    content = os.pread(fd, 4096, 0) if stat.S_ISREG(info.st_mode) else b""
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and (not content or _is_lock_record(content)):
        return
    os.close(fd)
    raise OutputError(f"{lock}: is not a geotrans lock file; it is left as it is and nothing was written",
                      hint="move it, or choose another output")


def _is_lock_record(content: bytes) -> bool:
    try:
        record = json.loads(content)
    except ValueError:
        return False
    return isinstance(record, dict) and set(record) == {"host", "pid"}


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files a killed run left for ``path``; call only while holding its lock."""
    stale = [p for p in path.parent.glob(f".{glob_escape(path.name)}.*") if is_temporary_of(p.name, path)]
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    if stale:
        log.info("%s: removed %d temporary file(s) left by a run that was killed", path, len(stale))
    return stale


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"host {holder['host']}, pid {holder['pid']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def overview_factors(height: int, width: int, smallest: int = 256) -> list[int]:
    """Power-of-two decimations until the coarsest overview fits in ``smallest`` pixels."""
    factors, factor = [], 1
    while max(height, width) / factor > smallest:
        factor *= 2
        factors.append(factor)
    return factors


class GeoTiffSink:
    """Streams rows into a new 3-band RGB GeoTIFF on a given grid, written atomically and checked.

    Writes to a hidden temporary file beside ``path``. ``commit`` builds overviews,
    verifies the file (it reopens; its last block, mask and overviews read back)
    and only then renames it over ``path``; ``discard`` removes it. Every GDAL
    error while writing, raised or only signalled, fails the write.
    """

    def __init__(self, path: str | os.PathLike, grid: dict, write_mask: bool, tags: Optional[dict] = None,
                 cog: bool = False, palette: Optional[Palette] = None, encoding: Encoding = Encoding(),
                 stage: Optional[str] = None):
        """``palette``: snap the pixels written to it (``geotrans.palette``); ``encoding``: the file's
        compression. Both are for the final map; intermediate files stay lossless and unsnapped. ``stage``:
        an intermediate file of the map at ``path`` (its temporary file is finished, never committed)."""
        self.path = Path(path)
        self.snap = Snapper(palette) if palette is not None else None
        self.encoding = encoding
        self.tmp_path = temporary_path(self.path, stage=stage)
        self.cog_path = self.tmp_path.with_name(self.tmp_path.name + ".cog")
        self.write_mask = write_mask
        self.cog = cog
        profile = {**MAP_PROFILE, **(COMPRESSIONS["deflate"] if cog else encoding.gtiff()), "width": grid["width"],
                   "height": grid["height"], "crs": grid["crs"], "transform": grid["transform"]}
        self._ds = None
        self._env = None
        free = _free_bytes(self.path.parent)
        if free is not None and free < FULL_BELOW_BYTES:  # GDAL can crash closing a file it never could write
            raise write_error(self.path, "creating the map", [])
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
        self._env.__enter__()
        try:
            with checked_gdal(self.path, "creating the map"):
                self._ds = rasterio.open(self.tmp_path, "w", **profile)
                self._ds.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
                if tags:
                    self._ds.update_tags(**tags)
        except BaseException:  # an interrupt during creation must not leave the file behind
            self.discard()
            raise

    def __call__(self, row: int, values: np.ndarray, valid: np.ndarray, col: int = 0) -> None:
        """Mosaicker rows (values in the model's range) starting at ``row`` (and column ``col``)."""
        self.write_pixels(row, from_model_range(values), valid, col)

    def write_pixels(self, row: int, pixels: np.ndarray, valid: np.ndarray, col: int = 0) -> None:
        """uint8 (3, n, w) pixels at ``row``, ``col``, snapped to the palette if there is one; invalid pixels are
        zeroed (in place) and masked."""
        if self.snap is not None:
            pixels = self.snap(pixels)
        pixels[:, ~valid] = 0
        window = Window(col, row, pixels.shape[2], pixels.shape[1])
        with checked_gdal(self.path, "writing the map"):
            self._ds.write(pixels, window=window)
            if self.write_mask:
                self._ds.write_mask(valid.astype(np.uint8) * 255, window=window)

    def finish(self, overviews: bool = True) -> Path:
        """Close the temporary file, with internal overviews (average) or as a COG, and verify it;
        returns its path."""
        with checked_gdal(self.path, "finishing the map"):
            if self.cog:
                self._close()
                rasterio.shutil.copy(self.tmp_path, self.cog_path, driver=COG_OPTIONS["driver"], **self.encoding.cog())
                os.replace(self.cog_path, self.tmp_path)
            else:
                factors = overview_factors(self._ds.height, self._ds.width) if overviews else []
                self._close()  # flushes every block now, so a full disk fails here, not inside GDAL's overviews
        if not self.cog and factors:
            with checked_gdal(self.path, "building overviews"), \
                    rasterio.Env(**OVERVIEW_ENV), rasterio.open(self.tmp_path, "r+") as ds:
                ds.build_overviews(factors, OVERVIEW_RESAMPLING)
                ds.update_tags(ns="rio_overview", resampling=OVERVIEW_RESAMPLING.name)
        verify_readable(self.tmp_path, self.path)
        return self.tmp_path

    def commit(self) -> None:
        """Finish, verify and rename over ``path``: only now does anything appear there."""
        self.finish()
        try:
            durable_replace(self.tmp_path, self.path)
        except OSError as err:
            raise write_error(self.path, "renaming the finished map into place", [one_line(err)], err) from None
        log.info("wrote %s", self.path)

    def discard(self) -> None:
        """Close and delete the temporary file; nothing is left at ``path``."""
        try:
            self._close()
        except (RasterioError, OSError):  # a file being discarded may fail to flush; it goes anyway
            pass
        finally:
            remove_temporary(self.tmp_path)
            self.cog_path.unlink(missing_ok=True)

    def _close(self) -> None:
        try:
            if self._ds is not None and not self._ds.closed:
                self._ds.close()
        finally:
            if self._env is not None:
                self._env.__exit__(None, None, None)
                self._env = None


def verify_readable(tmp: Path, target: Path) -> None:
    """Reopen a finished map and read back its last block, its mask there, and each overview's last block;
    raises OutputError if any of it is unreadable."""
    with checked_gdal(target, "checking the finished map"):
        with rasterio.open(tmp) as ds:
            levels = ds.overviews(1)
            _read_last_block(ds)
        for level in range(len(levels)):
            with rasterio.open(tmp, overview_level=level) as overview:
                _read_last_block(overview)


def _read_last_block(ds) -> None:
    height, width = ds.block_shapes[0]
    window = Window(((ds.width - 1) // width) * width, ((ds.height - 1) // height) * height, width, height)
    window = window.intersection(Window(0, 0, ds.width, ds.height))
    ds.read(window=window)
    ds.dataset_mask(window=window)
