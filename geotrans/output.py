"""Writing outputs: the map GeoTIFF, and the atomic replace every writer goes through.

Creation options are data (``MAP_PROFILE``, ``COG_OPTIONS``), in the manner of
rio-cogeo's profiles. Every file geotrans writes (map, preview, summary,
training checkpoint) is written to a hidden temporary file beside its target
and renamed over it only when complete, so a target never holds a partial file.
"""
from __future__ import annotations

import logging
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import Window

from geotrans.errors import OutputError
from geotrans.model import from_model_range

log = logging.getLogger(__name__)

# The map: tiled RGB, lossless DEFLATE with horizontal differencing, BigTIFF when needed.
MAP_PROFILE = {
    "driver": "GTiff",
    "count": 3,
    "dtype": "uint8",
    "nodata": None,
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "predictor": 2,
    "zlevel": 6,
    "photometric": "RGB",
    "interleave": "pixel",
    "bigtiff": "IF_SAFER",
}
# GDAL's COG driver, when --cog is asked for.
COG_OPTIONS = {"driver": "COG", "compress": "DEFLATE", "predictor": "YES", "blocksize": 256,
               "overview_resampling": "AVERAGE", "bigtiff": "IF_SAFER"}
OVERVIEW_RESAMPLING = Resampling.average
SIDECARS = (".msk", ".aux.xml")  # files GDAL may write beside a temporary file


def check_output(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an output that is the input, a folder, in a missing folder, or exists without ``overwrite``."""
    dst = Path(dst)
    if dst.is_dir():
        raise OutputError(f"{dst}: is a directory; give an output file name")
    if not dst.parent.is_dir():
        raise OutputError(f"{dst.parent}: output folder does not exist")
    if dst.exists() and os.path.samefile(src, dst) or Path(src).resolve() == dst.resolve():
        raise OutputError(f"{dst}: is the input scene; geotrans never overwrites its input")
    if dst.exists() and not overwrite:
        raise OutputError(f"{dst}: already exists", hint="pass --overwrite to replace it")
    return dst


def temporary_path(path: str | os.PathLike, suffix: str = "part") -> Path:
    """A hidden, unique temporary name beside ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.{suffix}")


def remove_temporary(tmp: Path) -> None:
    for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in SIDECARS)):
        leftover.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any error it is removed."""
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        remove_temporary(tmp)


def overview_factors(height: int, width: int, smallest: int = 256) -> list[int]:
    """Power-of-two decimations until the coarsest overview fits in ``smallest`` pixels."""
    factors, factor = [], 1
    while max(height, width) / factor > smallest:
        factor *= 2
        factors.append(factor)
    return factors


class GeoTiffSink:
    """Streams rows into a new 3-band RGB GeoTIFF on a given grid, written atomically.

    Writes to a hidden temporary file beside ``path``; ``commit`` builds overviews
    and renames it into place, ``discard`` removes it.
    """

    def __init__(self, path: str | os.PathLike, grid: dict, write_mask: bool, tags: Optional[dict] = None,
                 cog: bool = False):
        self.path = Path(path)
        self.tmp_path = temporary_path(self.path)
        self.cog_path = self.tmp_path.with_name(self.tmp_path.name + ".cog")
        self.write_mask = write_mask
        self.cog = cog
        profile = {**MAP_PROFILE, "width": grid["width"], "height": grid["height"], "crs": grid["crs"],
                   "transform": grid["transform"]}
        self._ds = None
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
        self._env.__enter__()
        try:
            self._ds = rasterio.open(self.tmp_path, "w", **profile)
            self._ds.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
            if tags:
                self._ds.update_tags(**tags)
        except BaseException:  # an interrupt during creation must not leave the file behind
            self.discard()
            raise

    def __call__(self, row: int, values: np.ndarray, valid: np.ndarray) -> None:
        """Mosaicker rows (values in the model's range) starting at ``row``."""
        self.write_pixels(row, from_model_range(values), valid)

    def write_pixels(self, row: int, pixels: np.ndarray, valid: np.ndarray) -> None:
        """uint8 (3, n, width) rows starting at ``row``; invalid pixels are zeroed (in place) and masked."""
        pixels[:, ~valid] = 0
        window = Window(0, row, pixels.shape[2], pixels.shape[1])
        self._ds.write(pixels, window=window)
        if self.write_mask:
            self._ds.write_mask(valid.astype(np.uint8) * 255, window=window)

    def finish(self, overviews: bool = True) -> Path:
        """Close the temporary file, with internal overviews (average) or as a COG; returns its path."""
        if self.cog:
            self._close()
            options = {k: v for k, v in COG_OPTIONS.items() if k != "driver"}
            rasterio.shutil.copy(self.tmp_path, self.cog_path, driver=COG_OPTIONS["driver"], **options)
            os.replace(self.cog_path, self.tmp_path)
            return self.tmp_path
        factors = overview_factors(self._ds.height, self._ds.width) if overviews else []
        if factors:
            self._ds.build_overviews(factors, OVERVIEW_RESAMPLING)
            self._ds.update_tags(ns="rio_overview", resampling=OVERVIEW_RESAMPLING.name)
        self._close()
        return self.tmp_path

    def commit(self) -> None:
        """Finish and rename over ``path``: only now does anything appear there."""
        self.finish()
        os.replace(self.tmp_path, self.path)
        log.info("wrote %s", self.path)

    def discard(self) -> None:
        """Close and delete the temporary file; nothing is left at ``path``."""
        try:
            self._close()
        finally:
            remove_temporary(self.tmp_path)
            self.cog_path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._ds is not None and not self._ds.closed:
            self._ds.close()
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None
