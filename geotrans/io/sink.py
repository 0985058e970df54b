"""The map GeoTIFF: its encoding, checked before a run (``Encoding``, ``check_encoding``), and the sink that
writes it block by block (``GeoTiffSink``) to a temporary file (``geotrans.io.files``) renamed over the
target only when complete and readable (``verify_readable``).

Creation options are data (``MAP_PROFILE``, ``COG_OPTIONS``), in the manner of
rio-cogeo's profiles.
"""
from __future__ import annotations

import logging
import os
import re
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

from geotrans.errors import InputError, one_line
from geotrans.io.files import (
    FULL_BELOW_BYTES,
    durable_replace,
    free_bytes,
    remove_temporary,
    temporary_path,
    write_error,
)
from geotrans.io.gdal_messages import gdal_messages
from geotrans.io.targets import Target, check_target
from geotrans.model.generator import from_model_range
from geotrans.model.palette import Palette, Snapper

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
    ``COMPRESS`` that contradicts the compression. A 1 x 1 map is written in memory with them to find out."""
    given = dict(encoding.creation_options)
    if "COMPRESS" in given and given["COMPRESS"].lower() != encoding.compress:
        raise InputError(f"{{creation_options}} COMPRESS={given['COMPRESS']} contradicts {{compress}} "
                         f"{encoding.compress}", hint=f"use {{compress}} {given['COMPRESS'].lower()}"
                         if given["COMPRESS"].lower() in COMPRESSIONS else "give one compression",
                         options=["creation_options", "compress"])
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
        raise InputError(f"{{creation_options}} {' '.join(f'{k}={v}' for k, v in given.items())}: GDAL refuses it "
                         f"({said})", options=["creation_options"]) from None
    finally:
        logger.removeHandler(handler)
        for suffix in (".tif", ".cog.tif"):
            try:
                rasterio.shutil.delete(f"{name}{suffix}")
            except (RasterioError, CPLE_BaseError, OSError):
                pass
    if complaints:
        raise InputError(f"{{creation_options}}: GDAL {complaints[0]}", options=["creation_options"],
                         hint="see the GTiff (or COG) driver's creation options")


@contextmanager
def checked_gdal(path: Path, action: str) -> Iterator[None]:
    """Run GDAL calls that write ``path``; any error GDAL raises or merely signals becomes an OutputError
    (a DiskFullError when the disk is full)."""
    with gdal_messages() as messages:
        try:
            yield
        except (RasterioError, CPLE_BaseError, OSError) as err:
            raise write_error(path, action, [*messages, one_line(err)], err) from None
    if messages:
        raise write_error(path, action, messages)


def check_output(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool, files=None) -> Path:
    """The map's path if the run may write it (``geotrans.io.targets``' rule: none of the files the input is made
    of (``files``, when listed already), a regular file or a new name in an existing folder, replaced only with
    ``overwrite``)."""
    return check_target(Target(Path(dst), "map"), inputs=[src], overwrite=overwrite, files=files)


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
        """``palette``: snap the pixels written to it (``geotrans.model.palette``); ``encoding``: the file's
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
        free = free_bytes(self.path.parent)
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
