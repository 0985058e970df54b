"""translate(): execute a RunPlan, tiler -> batch runner -> mosaicker -> GeoTIFF.

Reading runs ahead in a background thread, and the generator beside blending on
an accelerator or in turn with it on the CPU (``runner.run_stages``); the
blended rows stream into the output sink (``io.sink.GeoTiffSink``). A resampled
scene is mosaicked on the model's grid and then warped back onto its own grid,
a strip of rows at a time.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import rasterio
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from torch import nn

from geotrans.io.files import output_lock
from geotrans.io.scene import SceneReader, tile_reads, to_tile, valid_pixels
from geotrans.io.sink import Encoding, GeoTiffSink, check_output
from geotrans.io.targets import input_files
from geotrans.io.tiler import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    MAX_BAND_WIDTH,
    ColumnBand,
    RowStrip,
    Tile,
    TileGrid,
    column_bands,
)
from geotrans.model.generator import from_model_range
from geotrans.run.mosaic import StreamingMosaic
from geotrans.run.plan import RunPlan
from geotrans.run.runner import Batch, BatchRunner, batched, resolve_device, run_stages

log = logging.getLogger(__name__)

MIN_GDAL_CACHE = 64 * 2**20
Progress = Callable[[int, int], None]  # (tiles just finished, run or skipped; tiles in all)

__all__ = ["RunReport", "translate", "translate_array", "write_map"]


@dataclass(frozen=True)
class RunReport:
    """What a run did, with the plan it executed."""

    plan: RunPlan
    dst: str
    tiles_run: int
    tiles_skipped: int
    seconds: float
    device: str

    @property
    def src(self) -> str:
        return self.plan.src

    @property
    def tiles_total(self) -> int:
        return len(self.plan.tiles)

    @property
    def width(self) -> int:
        return self.plan.map_grid["width"]

    @property
    def height(self) -> int:
        return self.plan.map_grid["height"]

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)


def translate(plan: RunPlan, dst: str | os.PathLike, generator: nn.Module, progress: Optional[Progress] = None,
              extra_tags: Optional[dict] = None) -> RunReport:
    """Execute ``plan``: translate its scene into a map GeoTIFF at ``dst``.

    ``progress(finished, total)`` is called as tiles finish (run or skipped);
    ``extra_tags`` are added to the output's metadata. Nothing appears at ``dst``
    unless the whole scene was written.
    """
    plan.check_size()
    runner = BatchRunner.for_options(generator, resolve_device(plan.options.device), plan.options)

    def fill(sink: GeoTiffSink) -> tuple[int, int]:
        skipped = blend(plan, runner, sink, progress)
        return runner.tiles_run, skipped

    return write_map(plan, dst, fill, str(runner.device), extra_tags)


Fill = Callable[[GeoTiffSink], "tuple[int, int]"]
"""Blends the whole plan into a sink on the processing grid; returns (tiles run, tiles skipped)."""


def write_map(plan: RunPlan, dst: str | os.PathLike, fill: Fill, device: str,
              extra_tags: Optional[dict] = None) -> RunReport:
    """The map at ``dst``, made by ``fill`` (here, or on a cluster), warped back when the plan says so, and
    written atomically under the output's lock."""
    started = time.perf_counter()
    files = input_files(plan.src, listed=plan.scene.files)  # the files GDAL listed when the plan opened it
    dst = check_output(plan.src, dst, plan.options.overwrite, files)
    announce(plan, device)
    tags = {**plan.tags, **(extra_tags or {})}
    band_width = min(plan.scene.grid.width, MAX_BAND_WIDTH + 2 * plan.tiles.tile)
    with output_lock(dst), rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(band_width, plan.tiles.tile)):
        check_output(plan.src, dst, plan.options.overwrite, files)  # again: a finished run may have made it
        final = GeoTiffSink(dst, plan.map_grid, write_mask=plan.scene.has_mask, tags=tags, cog=plan.options.cog,
                            palette=plan.palette,
                            encoding=Encoding(plan.options.compress, plan.options.creation_options))
        try:
            tiles_run, skipped = _mosaic_into(plan, final, fill)
            final.commit()
        except BaseException:
            final.discard()
            raise
    report = RunReport(plan, os.fspath(dst), tiles_run, skipped, time.perf_counter() - started, device)
    log.info("%s: %d tiles run, %d skipped (no valid pixels), %.1f s, %.2f Mpx/s",
             dst, report.tiles_run, report.tiles_skipped, report.seconds, report.megapixels_per_second)
    return report


HUGE_JOB_TILES = 100_000
COMPILE_PAYS_TILES = 5_000  # on a CPU, --compile's first build (~40 s) is repaid after about this many tiles


def announce(plan: RunPlan, device: str) -> None:
    """Say what is about to run before it starts, loudly when the job is huge (a sparse file's header can
    claim any size)."""
    profile = plan.scene.profile
    level = logging.WARNING if plan.tiles_to_run > HUGE_JOB_TILES else logging.INFO
    log.log(level, "%s: %d x %d px; %d of %d windows of %d px (overlap %d) to run on %s", plan.src,
            profile["width"], profile["height"], plan.tiles_to_run, len(plan.tiles), plan.tiles.tile,
            plan.tiles.overlap, device)
    for expectation in plan.expectations:
        log.warning("%s: %s", plan.src, expectation)
    if device == "cpu" and not plan.options.compile and plan.tiles_to_run >= COMPILE_PAYS_TILES:
        log.info("tip: --compile may run this scene faster on a CPU (1.2x end to end on 2 cores, after a "
                 "build of up to 40 s)")


def _mosaic_into(plan: RunPlan, final: GeoTiffSink, fill: Fill) -> tuple[int, int]:
    """``fill`` into ``final`` (through the model's grid when warped back); returns (tiles run, skipped)."""
    if not plan.warp_back:
        return fill(final)
    model_grid = plan.scene.output_grid(model_grid=True)
    native = GeoTiffSink(final.path, model_grid, write_mask=True, stage="model-grid")
    try:
        counts = fill(native)
        warp_back(native.finish(overviews=False), plan, final)
        return counts
    finally:
        native.discard()


def blend(plan: RunPlan, runner: BatchRunner, sink: GeoTiffSink, progress: Optional[Progress] = None,
          strip: Optional[RowStrip] = None) -> int:
    """Run the stages and blend every result into ``sink``, a band of columns at a time (one band unless the
    scene is very wide); returns tiles skipped.

    With ``strip``, only that strip's rows are made (from every tile that touches them) and written to
    ``sink`` from its row 0: one worker's part of a scene split across a cluster.
    """
    tiles = plan.tiles
    strip = strip or RowStrip(0, tiles.height, 0, tiles.height)
    bands = column_bands(tiles, MAX_BAND_WIDTH)
    held = [[t for t in band.tiles(tiles) if strip.holds(t)] for band in bands]
    work = sum(map(len, held))
    if len(bands) > 1:
        log.info("%s: %d columns, blended in %d bands of up to %d columns (%d windows at the seams run twice)",
                 plan.src, tiles.width, len(bands), MAX_BAND_WIDTH, work - sum(1 for t in tiles if strip.holds(t)))
    skipped, clock = 0, (time.perf_counter(), 0)
    # On the model's grid, on the way back to the scene's, a run tile's every pixel is kept (inputs outside the
    # valid area were filled from inside): the warp back then has true colours up to the scene-grid mask's edge.
    coverage = plan.warp_back
    for band, band_tiles in zip(bands, held):
        mosaic = StreamingMosaic(strip.last - strip.first, band.last - band.first, tiles.tile, tiles.overlap,
                                 _span_sink(sink, band, strip), first_col=band.first, first_row=strip.first)
        for batch, outputs in run_stages(read_batches(plan, band_tiles), runner):
            for tile, output, valid in zip(batch.tiles, outputs if outputs is not None else (), batch.valid):
                mosaic.add(tile, output, np.ones_like(valid) if coverage else valid)
            if outputs is not None:
                clock = _first_rate(plan, runner, work, clock)
            skipped += batch.skipped
            if progress is not None:
                progress(len(batch) + batch.skipped, work)
        mosaic.close()
    return skipped


def _first_rate(plan: RunPlan, runner: BatchRunner, work: int, clock: Optional[tuple[float, int]]):
    """Say the rate and the time left once the first timed batch is done; ``clock`` is (since when, tiles
    run then), None once said. A compiled generator's first batch includes its build, so it is said apart
    and the rate is taken from the next batch."""
    if clock is None:
        return None
    since, tiles_then = clock
    now = time.perf_counter()
    if runner.compiled and tiles_then == 0 and runner.tiles_run:
        log.info("%s: built the compiled generator and ran the first batch in %.0f s", plan.src, now - since)
        return now, runner.tiles_run
    rate = (runner.tiles_run - tiles_then) / max(now - since, 1e-9)
    log.info("%s: first batch at %.1f tiles/s; about %.0f s for the %d windows", plan.src, rate,
             (work - tiles_then) / rate, work - tiles_then)
    return None


def _span_sink(sink: GeoTiffSink, band: ColumnBand, strip: RowStrip):
    """The finished rows, cropped to the columns of ``band`` and the rows of ``strip`` (which they own), written
    where they lie in the scene (in the strip)."""
    own = slice(band.start - band.first, band.stop - band.first)

    def write(row: int, values: np.ndarray, valid: np.ndarray) -> None:
        top, bottom = max(row, strip.start), min(row + values.shape[1], strip.stop)
        if top < bottom:
            rows = slice(top - row, bottom - row)
            sink(top - strip.start, values[:, rows, own], valid[rows, own], band.start)

    return write


def read_batches(plan: RunPlan, tiles: Optional[Iterable[Tile]] = None) -> Iterator[Batch]:
    """Batches of the plan's tiles (or of ``tiles``), read through a handle of their own (so this may run in
    another thread)."""
    with SceneReader(plan.scene, plan.tiles.tile) as reader:
        yield from batched(tile_reads(plan.scene, plan.tiles if tiles is None else tiles, reader),
                           plan.options.batch_size)


def warp_back(model_grid_map: str | os.PathLike, plan: RunPlan, sink: GeoTiffSink, rows: int = 256) -> None:
    """Warp the map made on the model's grid onto the scene's own grid, a strip of rows at a time.

    A pixel is valid where the warped map is (its mask travels as an alpha band) and the scene itself is
    (the same rule as reading).
    """
    grid, scene = plan.map_grid, plan.scene
    with rasterio.open(model_grid_map) as made, \
            WarpedVRT(made, crs=grid["crs"], transform=grid["transform"], width=grid["width"],
                      height=grid["height"], resampling=scene.grid.back_resampling, add_alpha=True) as warped, \
            rasterio.open(scene.path) as source:
        for row in range(0, grid["height"], rows):
            for col in range(0, grid["width"], MAX_BAND_WIDTH):  # one strip unless the scene is very wide
                window = Window(col, row, min(MAX_BAND_WIDTH, grid["width"] - col), min(rows, grid["height"] - row))
                valid = (warped.dataset_mask(window=window) > 0) & valid_pixels(source, scene, window)
                sink.write_pixels(row, warped.read(indexes=list(range(1, made.count + 1)), window=window), valid, col)


def gdal_cache_bytes(width: int, tile_size: int) -> int:
    """GDAL block cache for one run: a few block rows of input and output, not the scene.

    GDAL's default (5% of RAM) would otherwise fill with every block read or
    written, and peak memory would grow with the scene's height.
    """
    return max(MIN_GDAL_CACHE, 8 * width * tile_size * 4)


def translate_array(image: np.ndarray, runner: BatchRunner, tile_size: int = DEFAULT_TILE,
                    overlap: int = DEFAULT_OVERLAP, batch_size: int = 8) -> np.ndarray:
    """In-memory counterpart of :func:`translate` for a uint8 (3, H, W) image.

    Same tiler, batching, batch runner and mosaicker, without files or threads;
    training's evaluation uses it so that metrics measure what ``geotrans run`` produces.
    """
    height, width = image.shape[1:]
    tiles = TileGrid(height, width, tile_size, overlap)
    result = np.zeros((3, height, width), dtype=np.uint8)

    def sink(row: int, values: np.ndarray, valid: np.ndarray) -> None:
        result[:, row : row + values.shape[1]] = from_model_range(values) * valid

    mosaic = StreamingMosaic(height, width, tiles.tile, tiles.overlap, sink)
    reads = ((tile, (to_tile(image[:, tile.row : tile.row_stop, tile.col : tile.col_stop], tiles.tile),
                     np.ones((tile.height, tile.width), dtype=bool))) for tile in tiles)
    for batch in batched(reads, batch_size):
        for tile, output, valid in zip(batch.tiles, runner.run(batch), batch.valid):
            mosaic.add(tile, output, valid)
    mosaic.close()
    return result
