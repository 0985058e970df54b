"""One scene across a Dask cluster: horizontal strips of tile rows, one task each, assembled into one map.

A strip computes every tile that touches its rows (the tiles at a seam run in
both neighbours), blends them exactly as a serial run does (``pipeline.blend``
with the strip), and writes its own rows to a temporary file beside the output.
The client assembles the strips in order, as they arrive, through the same sink
as a serial run, so the map has the same layout, mask, tags and overviews, and
is written atomically. With batch-independent inference the result equals a
serial run pixel for pixel.

Workers must see the scene, the output's folder and the model file. Dask retries
a strip whose worker died; an interrupted run leaves no strip file behind.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import rasterio
from affine import Affine
from rasterio.windows import Window

from geotrans.errors import GeotransError
from geotrans.io.files import glob_escape, own_temporaries
from geotrans.io.sink import GeoTiffSink
from geotrans.io.tiler import BLOCK, MAX_BAND_WIDTH, RowStrip, row_strips
from geotrans.jobs.distributed import _distributed, dask_client, worker_model
from geotrans.jobs.options import Cluster
from geotrans.run.pipeline import Progress, RunReport, blend, write_map
from geotrans.run.plan import RunPlan
from geotrans.run.runner import BatchRunner, resolve_device

log = logging.getLogger(__name__)

STRIPS_PER_WORKER = 4  # enough tasks to balance workers of unequal speed
MIN_STRIP_ROWS, MAX_STRIP_ROWS = 2048, 8192  # a seam runs one or two rows of windows twice: 9% at 2048 rows
RETRIES = 2  # a strip that raised is tried again (a strip whose worker died is rescheduled by Dask itself)


@dataclass(frozen=True)
class StripResult:
    """A finished strip: its temporary file, what it ran, and how long it took."""

    index: int
    path: str
    tiles_run: int
    tiles_skipped: int
    seconds: float


def splits(plan: RunPlan) -> bool:
    """Whether ``plan`` makes two strips or more on a cluster (a smaller scene runs as one piece)."""
    return len(row_strips(plan.tiles, plan.options.strip_rows or MIN_STRIP_ROWS)) > 1


def strip_rows_for(height: int, workers: int, requested: Optional[int] = None) -> int:
    """Rows per strip: ``requested``, or about ``STRIPS_PER_WORKER`` strips per worker within sane bounds."""
    if requested is not None:
        return requested
    rows = -(-height // (STRIPS_PER_WORKER * max(1, workers)))
    rows = -(-rows // BLOCK) * BLOCK
    return min(MAX_STRIP_ROWS, max(MIN_STRIP_ROWS, rows))


def strip_grid(grid: dict, strip: RowStrip) -> dict:
    """The grid of the rows ``strip`` owns, within ``grid``."""
    return {**grid, "height": strip.stop - strip.start,
            "transform": grid["transform"] * Affine.translation(0, strip.start)}


def strip_stage(token: str, index: int) -> str:
    """The stage name of strip ``index`` of the run ``token``: its file is a temporary file of the map."""
    return f"strip-{token}-{index:05d}"


class StripCancelled(GeotransError):
    """The client gave up on the run; the strip stops."""


def make_strip(plan: RunPlan, strip: RowStrip, index: int, dst: Path, stage: str, runner: BatchRunner,
               stop: Optional[Callable[[], bool]] = None) -> StripResult:
    """Blend ``strip`` of ``plan`` into a finished temporary GeoTIFF of the map ``dst`` named for ``stage``
    (mask always written). ``stop()`` is asked after each batch; when true the strip is abandoned and its file
    removed."""
    started = time.perf_counter()
    sink = GeoTiffSink(dst, strip_grid(plan.scene.output_grid(model_grid=True), strip), write_mask=True, stage=stage)

    def check(*_) -> None:
        if stop is not None and stop():
            raise StripCancelled(f"{dst}: strip {index} was cancelled")

    try:
        check()
        skipped = blend(plan, runner, sink, progress=check, strip=strip)
        finished = sink.finish(overviews=False)
    except BaseException:
        sink.discard()
        raise
    return StripResult(index, os.fspath(finished), runner.tiles_run, skipped, time.perf_counter() - started)


def _strip_on_worker(plan: RunPlan, strip: RowStrip, index: int, dst: str, stage: str,
                     cancel_event: str) -> StripResult:
    distributed = _distributed()
    generator, _, device = worker_model()
    cancelled = distributed.Event(cancel_event)
    runner = BatchRunner.for_options(
        generator, resolve_device(device if plan.options.device == "auto" else plan.options.device), plan.options)
    return make_strip(plan, strip, index, Path(dst), stage, runner, stop=cancelled.is_set)


def assemble(strip: RowStrip, part: str | os.PathLike, sink: GeoTiffSink, rows: int = BLOCK) -> None:
    """Copy a finished strip's pixels and mask into ``sink`` at the strip's rows."""
    with rasterio.open(part) as ds:
        for row in range(0, ds.height, rows):
            for col in range(0, ds.width, MAX_BAND_WIDTH):
                window = Window(col, row, min(MAX_BAND_WIDTH, ds.width - col), min(rows, ds.height - row))
                sink.write_pixels(strip.start + row, ds.read(window=window), ds.dataset_mask(window=window) > 0, col)


def translate_split(plan: RunPlan, dst: str | os.PathLike, model_path: Optional[str], cluster: Cluster,
                    progress: Optional[Progress] = None, extra_tags: Optional[dict] = None) -> RunReport:
    """Execute ``plan`` on a Dask ``cluster`` (an existing one, or a LocalCluster started for it), split into
    strips of rows; the map at ``dst`` is the one :func:`geotrans.run.pipeline.translate` writes."""
    dst = Path(dst)
    token = uuid.uuid4().hex[:8]
    seconds = {"assembly": 0.0}

    def fill(sink: GeoTiffSink) -> tuple[int, int]:
        own_temporaries(dst, _strips_of(dst, token))  # the workers write them: recorded here, under the lock
        with dask_client(model_path, cluster) as client:
            workers = len(client.scheduler_info()["workers"])
            strips = row_strips(plan.tiles, strip_rows_for(plan.tiles.height, workers, plan.options.strip_rows))
            try:
                return _run_strips(client, plan, strips, dst, token, sink, progress, seconds)
            finally:
                _remove_strips(dst, token)

    try:
        report = write_map(plan, dst, fill, cluster.describe(), extra_tags)
    finally:
        _remove_strips(dst, token)  # after the cluster closed: a killed local worker may have left a file
    log.info("%s: strips assembled in %.1f s", dst, seconds["assembly"])
    return report


def _run_strips(client, plan: RunPlan, strips: list[RowStrip], dst: Path, token: str, sink: GeoTiffSink,
                progress: Optional[Progress], seconds: dict) -> tuple[int, int]:
    """Submit every strip, and assemble them into ``sink`` in order as they finish."""
    distributed = _distributed()
    work = [sum(1 for t in plan.tiles if strip.holds(t)) for strip in strips]
    log.info("%s: %d strips of up to %d rows on %d workers (%d windows at the seams run twice)", plan.src,
             len(strips), strips[0].stop - strips[0].start, len(client.scheduler_info()["workers"]),
             sum(work) - len(plan.tiles))
    cancel_event = f"geotrans-cancel-{token}"
    cancelled = distributed.Event(cancel_event, client=client)
    futures = [client.submit(_strip_on_worker, plan, strip, i, os.fspath(dst), strip_stage(token, i), cancel_event,
                             key=f"geotrans-strip-{token}-{i}", retries=RETRIES, pure=False)
               for i, strip in enumerate(strips)]
    done: dict[int, StripResult] = {}
    assembled, tiles_run, skipped = 0, 0, 0
    try:
        for future in distributed.as_completed(futures):
            result = future.result()
            done[result.index] = result
            tiles_run += result.tiles_run
            skipped += result.tiles_skipped
            if progress is not None:
                progress(work[result.index], sum(work))
            while assembled in done:  # in order: the sink takes rows top to bottom
                started = time.perf_counter()
                assemble(strips[assembled], done[assembled].path, sink)
                Path(done[assembled].path).unlink(missing_ok=True)
                seconds["assembly"] += time.perf_counter() - started
                assembled += 1
    except BaseException:
        cancelled.set()
        client.cancel(futures)
        raise
    return tiles_run, skipped


def _remove_strips(dst: Path, token: str) -> None:
    """Remove the run's strip files (temporary files of ``dst`` for a ``strip_stage`` of ``token``) still there."""
    for leftover in dst.parent.glob(_strips_of(dst, token)):
        leftover.unlink(missing_ok=True)


def _strips_of(dst: Path, token: str) -> str:
    """The names (a glob) of the strip files of the run ``token`` for the map ``dst``."""
    return f".{glob_escape(dst.name)}.{'[0-9a-f]' * 8}.strip-{token}-*"
