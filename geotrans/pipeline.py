"""translate(): one scene through tiler -> batch runner -> mosaicker, with overlapped I/O.

Three stages run at once: a reader thread (its own rasterio handle) fills batches,
the calling thread runs the generator, and a writer thread blends and streams
rows into the output. Bounded queues between them keep memory flat.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import rasterio
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from torch import nn

from geotrans import __version__
from geotrans.errors import GeotransError, OutputError
from geotrans.footprint import inside_mask
from geotrans.mosaic import GeoTiffSink, StreamingMosaic, to_uint8
from geotrans.runner import Batch, BatchRunner, resolve_device
from geotrans.scene import SceneInfo, SceneReader, inspect_scene, to_model_input
from geotrans.tiler import DEFAULT_OVERLAP, DEFAULT_TILE, TileGrid
from geotrans.weights import ModelInfo

log = logging.getLogger(__name__)

QUEUE_DEPTH = 2  # batches in flight between stages
MIN_GDAL_CACHE = 64 * 2**20
_DONE = object()


@dataclass(frozen=True)
class RunOptions:
    """How to run one scene; every field has a CLI option of the same name."""

    batch_size: int = 8
    overlap: int = DEFAULT_OVERLAP
    tile_size: int = DEFAULT_TILE
    device: str = "auto"
    overwrite: bool = False
    dropout_seed: Optional[int] = None  # None: deterministic inference, dropout off
    bands: Optional[tuple[int, ...]] = None  # 1-based R,G,B (or one grey band); None: decide from the scene
    cog: bool = False  # write a Cloud Optimized GeoTIFF
    native_res: bool = False  # keep the model's resolution in the output instead of the scene's grid
    gsd: Optional[float] = None  # the scene's ground resolution in metres, overriding its georeferencing
    allow_ungeoreferenced: bool = False  # process scenes without CRS in pixel space
    aoi: Optional[str] = None  # GeoJSON file: process only windows touching this area, mask outside it

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise GeotransError("batch size must be at least 1")
        if self.tile_size % 256:
            raise GeotransError("tile size must be a multiple of 256")
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise GeotransError(f"overlap must be between 0 and {self.tile_size // 2} pixels")


@dataclass(frozen=True)
class RunReport:
    """What a run did."""

    src: str
    dst: str
    width: int
    height: int
    tiles_total: int
    tiles_run: int
    tiles_skipped: int
    seconds: float
    device: str

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)


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
        raise OutputError(f"{dst}: already exists; pass --overwrite to replace it")
    return dst


def translate(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    generator: nn.Module,
    options: RunOptions = RunOptions(),
    model_info: Optional[ModelInfo] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    extra_tags: Optional[dict] = None,
) -> RunReport:
    """Translate the scene at ``src`` into a map GeoTIFF at ``dst`` on the same grid.

    ``progress(finished, total)`` is called as tiles finish (run or skipped);
    ``extra_tags`` are added to the output's metadata.
    Nothing appears at ``dst`` unless the whole scene was written.
    """
    started = time.perf_counter()
    model_gsd = model_info.card.get("native_resolution_m") if model_info else None
    with rasterio.Env(GDAL_CACHEMAX=MIN_GDAL_CACHE):  # decimated reads for statistics touch every block
        scene = inspect_scene(src, options.bands, model_gsd, options.gsd, options.allow_ungeoreferenced, options.aoi)
    dst = check_output(src, dst, options.overwrite)
    grid = TileGrid(scene.height, scene.width, options.tile_size, options.overlap)
    runner = BatchRunner(generator, resolve_device(options.device), options.dropout_seed)
    log.info("%s: %d tiles of %d px with %d px overlap, on %s", scene.path, len(grid), grid.tile, grid.overlap,
             runner.device)
    back_to_scene_grid = scene.grid.resampled and not options.native_res
    tags = {**_provenance_tags(scene, options, model_info), **(extra_tags or {})}

    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(scene.width, grid.tile)):
        final = native = None
        try:
            final = GeoTiffSink(dst, scene.grid_profile(native=options.native_res), write_mask=scene.has_mask,
                                tags=tags, cog=options.cog)
            try:
                # Resampled scenes are mosaicked on the model's grid first, then warped back onto the scene's.
                if back_to_scene_grid:
                    native = GeoTiffSink(dst.with_name(f".{dst.name}.native"), scene.grid_profile(native=True),
                                         write_mask=True)
                mosaic = StreamingMosaic(scene.height, scene.width, grid.tile, grid.overlap, native or final)
                skipped = _run_stages(scene, grid, runner, mosaic, options.batch_size,
                                      lambda n: progress(n, len(grid)) if progress else None)
                if native is not None:
                    resample_onto_scene_grid(native.finish(overviews=False), scene, final)
            finally:
                if native is not None:
                    native.discard()
            final.commit()
        except BaseException:
            if final is not None:
                final.discard()
            raise
    out = scene.grid_profile(native=options.native_res)
    report = RunReport(os.fspath(src), os.fspath(dst), out["width"], out["height"], len(grid),
                       runner.tiles_run, skipped, time.perf_counter() - started, str(runner.device))
    log.info("%s: %d tiles run, %d skipped (no valid pixels), %.1f s, %.2f Mpx/s",
             dst, report.tiles_run, report.tiles_skipped, report.seconds, report.megapixels_per_second)
    return report


def resample_onto_scene_grid(native_path: Path, scene: SceneInfo, sink: GeoTiffSink, rows: int = 256) -> None:
    """Warp the map made on the processing grid back onto the scene's own grid, a strip of rows at a time.

    A pixel is valid where the warped map is valid and the scene itself is.
    """
    profile = scene.profile
    with rasterio.open(native_path) as native, \
            WarpedVRT(native, crs=profile["crs"], transform=profile["transform"], width=profile["width"],
                      height=profile["height"], resampling=scene.grid.back_resampling) as warped, \
            rasterio.open(scene.path) as source:
        for row in range(0, profile["height"], rows):
            window = Window(0, row, profile["width"], min(rows, profile["height"] - row))
            valid = warped.dataset_mask(window=window) > 0
            if scene.has_mask:
                valid &= source.dataset_mask(window=window) > 0
            in_aoi = inside_mask(scene.aoi, profile["transform"], window, valid.shape)
            if in_aoi is not None:
                valid &= in_aoi
            sink.write_pixels(row, warped.read(window=window), valid)


def gdal_cache_bytes(width: int, tile: int) -> int:
    """GDAL block cache for one run: a few block rows of input and output, not the scene.

    GDAL's default (5% of RAM) would otherwise fill with every block read or
    written, and peak memory would grow with the scene's height.
    """
    return max(MIN_GDAL_CACHE, 8 * width * tile * 4)


def translate_array(image: np.ndarray, runner: BatchRunner, tile_size: int = DEFAULT_TILE,
                    overlap: int = DEFAULT_OVERLAP, batch_size: int = 8) -> np.ndarray:
    """In-memory counterpart of :func:`translate` for a uint8 (3, H, W) image.

    Same tiler, batch runner and mosaicker, without files or threads; training's
    evaluation uses it so that metrics measure what ``geotrans run`` produces.
    """
    height, width = image.shape[1:]
    grid = TileGrid(height, width, tile_size, overlap)
    result = np.zeros((3, height, width), dtype=np.uint8)

    def sink(row: int, values: np.ndarray, valid: np.ndarray) -> None:
        result[:, row : row + values.shape[1]] = to_uint8(values) * valid

    mosaic = StreamingMosaic(height, width, grid.tile, grid.overlap, sink)
    tiles = list(grid)
    for start in range(0, len(tiles), batch_size):
        batch = Batch()
        for tile in tiles[start : start + batch_size]:
            pixels = to_model_input(image[:, tile.row : tile.row_stop, tile.col : tile.col_stop], grid.tile)
            batch.append(tile, pixels, np.ones((tile.height, tile.width), dtype=bool))
        for tile, output, valid in zip(batch.tiles, runner.run(batch), batch.valid):
            mosaic.add(tile, output, valid)
    mosaic.close()
    return result


def _provenance_tags(scene: SceneInfo, options: RunOptions, model_info: Optional[ModelInfo]) -> dict:
    params = {k: v for k, v in asdict(options).items() if k not in ("overwrite", "device", "cog") and v is not None}
    tags = {"GEOTRANS_VERSION": __version__, "GEOTRANS_SOURCE": os.path.basename(scene.path),
            "GEOTRANS_PARAMS": json.dumps(params, sort_keys=True)}
    if model_info is not None:
        tags.update(GEOTRANS_MODEL=model_info.name, GEOTRANS_MODEL_SHA256=model_info.sha256)
    return tags


def _run_stages(scene: SceneInfo, grid: TileGrid, runner: BatchRunner, mosaic: StreamingMosaic,
                batch_size: int, progress: Callable[[int], None]) -> int:
    """Reader thread -> generator here -> writer thread. Returns the number of skipped tiles."""
    stop = threading.Event()
    errors: list[BaseException] = []
    to_runner: queue.Queue = queue.Queue(QUEUE_DEPTH)
    to_writer: queue.Queue = queue.Queue(QUEUE_DEPTH)
    skipped = 0

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue):
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _DONE

    def guarded(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as err:  # handed to the calling thread
                errors.append(err)
                stop.set()
        return run

    def read() -> None:
        nonlocal skipped
        with SceneReader(scene, grid.tile) as reader:
            batch = Batch()
            for tile in grid:
                if stop.is_set():
                    return
                if not scene.touches(tile):
                    skipped += 1
                    progress(1)
                    continue
                pixels, valid = reader.read(tile)
                if not valid.any():
                    skipped += 1
                    progress(1)
                    continue
                batch.append(tile, pixels, valid)
                if len(batch) == batch_size:
                    if not put(to_runner, batch):
                        return
                    batch = Batch()
            if len(batch):
                put(to_runner, batch)
        put(to_runner, _DONE)

    def write() -> None:
        while (item := get(to_writer)) is not _DONE:
            batch, outputs = item
            for tile, output, valid in zip(batch.tiles, outputs, batch.valid):
                mosaic.add(tile, output, valid)
            progress(len(batch))
        if not stop.is_set():
            mosaic.close()

    threads = [threading.Thread(target=guarded(read), name="geotrans-reader", daemon=True),
               threading.Thread(target=guarded(write), name="geotrans-writer", daemon=True)]
    for thread in threads:
        thread.start()
    try:
        while (batch := get(to_runner)) is not _DONE:
            if not put(to_writer, (batch, runner.run(batch))):
                break
        put(to_writer, _DONE)
        threads[1].join()
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    if errors:
        raise errors[0]
    return skipped
