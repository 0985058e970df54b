"""The ``geotrans`` command: a thin click layer over :func:`geotrans.pipeline.translate`."""
from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import click
from tqdm import tqdm

from geotrans import __version__
from geotrans.bands import parse_bands
from geotrans.batch import DEFAULT_PATTERNS, SUMMARY, plan_jobs, run_batch
from geotrans.distributed import parse_cluster, run_batch_dask
from geotrans.errors import GeotransError, NoModelError, one_line
from geotrans.info import plan_scene
from geotrans.pipeline import RunOptions, translate
from geotrans.preview import write_preview
from geotrans.runner import DEVICES
from geotrans.scene import inspect_scene
from geotrans.tiler import DEFAULT_OVERLAP
from geotrans.weights import load_generator

log = logging.getLogger("geotrans")


def _load_model(model_path: Optional[str], required: bool = True):
    """(generator, info) from ``model_path`` or the shipped model; (None, None) if optional and absent."""
    try:
        return load_generator(model_path)
    except NoModelError:
        if required:
            raise
        return None, None


def _setup_logging(verbose: int, quiet: bool, log_file: Optional[str] = None) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("geotrans: %(message)s"))
    log.handlers[:] = [handler]
    if log_file:
        to_file = logging.FileHandler(log_file)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_file.setLevel(logging.DEBUG if verbose else logging.INFO)
        log.addHandler(to_file)
        handler.setLevel(level)
        level = min(level, to_file.level)
    log.setLevel(level)
    log.propagate = False


def _run_folder(src: Optional[str], dst: str, patterns, recursive: bool, list_file: Optional[str], force: bool,
                model_path: Optional[str], options: RunOptions, quiet: bool, scheduler: Optional[str] = None,
                cluster: Optional[str] = None) -> None:
    """Folder mode: every scene to DST/, a summary, exit 1 if any scene failed, 130 if interrupted."""
    try:
        if os.path.isfile(dst):
            raise GeotransError(f"{dst}: is a file; folder mode needs an output folder")
        jobs = plan_jobs(src, dst, patterns, recursive, list_file)
        if not jobs:
            raise GeotransError(f"{src}: no scenes matching {', '.join(patterns or DEFAULT_PATTERNS)}")
        local_workers = parse_cluster(cluster) if cluster else None
        generator, model_info = _load_model(model_path)  # fails here, once, if there is no model
    except GeotransError as err:
        raise click.ClickException(str(err)) from None
    hidden = quiet or not sys.stderr.isatty()
    with _sigterm_as_interrupt(), tqdm(total=len(jobs), unit="scene", desc="scenes", disable=hidden) as scenes, \
            tqdm(total=0, unit="tile", desc="tiles", position=1, leave=False, disable=hidden) as tiles:
        def tile_progress(finished: int, total: int) -> None:
            if tiles.total != total or tiles.n >= total:
                tiles.reset(total)
            tiles.update(finished)

        try:
            if scheduler or local_workers:
                summary = run_batch_dask(jobs, model_path, options, dst, force, scheduler, local_workers,
                                         on_scene=lambda result: scenes.update(1))
            else:
                summary = run_batch(jobs, generator, model_info, options, dst, force,
                                    on_scene=lambda result: scenes.update(1), tile_progress=tile_progress)
        except GeotransError as err:
            raise click.ClickException(str(err)) from None
        except KeyboardInterrupt:
            click.echo(f"geotrans: interrupted; finished scenes are recorded in {Path(dst) / SUMMARY}", err=True)
            sys.exit(130)
    click.echo(summary.table())
    sys.exit(1 if summary.failed else 0)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so temporary files are removed."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Scene options shared by `run` and `info` (click makes a fresh Option each time one is applied).
MODEL_OPTION = click.option(
    "--model", "model_path", type=click.Path(path_type=str), default=None,
    help="Exported generator (.safetensors). Default: the model shipped with geotrans.")
OVERLAP_OPTION = click.option(
    "--overlap", default=DEFAULT_OVERLAP, show_default=True, type=click.IntRange(min=0, max=128),
    help="Pixels shared by neighbouring 256 px tiles, blended with a cosine ramp.")
BANDS_OPTION = click.option(
    "--bands", default=None, metavar="R,G,B",
    help="1-based bands to use as R,G,B (or one band for grey). Default: from the colour interpretation, "
         "else the first three.")
AOI_OPTION = click.option(
    "--aoi", type=click.Path(dir_okay=False, path_type=str), default=None, metavar="FILE.geojson",
    help="Only process windows touching this area (WGS84 GeoJSON unless it names a CRS); mask outside.")
GSD_OPTION = click.option(
    "--gsd", type=click.FloatRange(min=0, min_open=True), default=None, metavar="METRES",
    help="The scene's ground resolution, for scenes whose scale is wrong or missing.")
UNGEO_OPTION = click.option(
    "--allow-ungeoreferenced", is_flag=True, help="Process a scene without CRS in pixel space.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geotrans")
def main() -> None:
    """Turn GeoTIFF satellite and aerial scenes into map-style GeoTIFFs with a pix2pix GAN.

    \b
    Examples:
      geotrans run scene.tif --out map.tif
      geotrans run scene.tif --out map.tif --model my_generator.safetensors --batch-size 16
    """


@main.command()
@click.argument("src", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.option("--out", "-o", "dst", required=True, type=click.Path(path_type=str),
              help="Output GeoTIFF, or output folder when SRC is a folder or --list is given.")
@click.option("--pattern", "patterns", multiple=True, metavar="GLOB",
              help="Folder mode: file names to take (repeatable). Default: *.tif and *.tiff.")
@click.option("--recursive", is_flag=True, help="Folder mode: walk sub-folders too, keeping relative paths.")
@click.option("--list", "list_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Translate the scenes listed in this file (one path a line) into the --out folder.")
@click.option("--force", is_flag=True, help="Folder mode: redo scenes whose output is complete and current.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:8786",
              help="Folder mode: spread scenes over this Dask cluster (one worker per GPU).")
@click.option("--cluster", default=None, metavar="local:N", help="Folder mode: start a local Dask cluster of N workers.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the log to this file.")
@MODEL_OPTION
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1), help="Tiles per batch.")
@OVERLAP_OPTION
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, otherwise the CPU.")
@BANDS_OPTION
@click.option("--dropout", is_flag=True, help="Keep the generator's dropout at inference (the paper's noise).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --dropout; the same seed repeats a run.")
@AOI_OPTION
@click.option("--native-res", is_flag=True,
              help="Keep the model's ground resolution in the output instead of the scene's grid.")
@GSD_OPTION
@UNGEO_OPTION
@click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write a small PNG: input | output side by side.")
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
@click.option("-v", "--verbose", count=True, help="More log detail (and tracebacks of internal errors).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bar.")
def run(src: Optional[str], dst: str, patterns: tuple[str, ...], recursive: bool, list_file: Optional[str],
        force: bool, scheduler: Optional[str], cluster: Optional[str], log_file: Optional[str],
        model_path: Optional[str], batch_size: int, overlap: int, device: str,
        bands: Optional[str], dropout: bool, seed: int, aoi: Optional[str], native_res: bool, gsd: Optional[float],
        allow_ungeoreferenced: bool, cog: bool, preview: Optional[str], overwrite: bool, verbose: int,
        quiet: bool) -> None:
    """Translate the scene SRC into a map GeoTIFF at DST on the same grid, or a folder of scenes.

    The output has SRC's CRS, transform and size: it lies exactly over SRC in
    QGIS. The model reads the scene resampled to its own ground resolution
    (from its model card); --native-res keeps that resolution in the output.
    Nodata, alpha and NaN pixels stay transparent. The map is written to a
    temporary file beside DST and renamed when complete, so DST never holds a
    partial map.

    \b
    Examples:
      geotrans run sample_tiles/korea_rgb_jpeg_3857.tif --out korea_map.tif
      geotrans run scene.tif -o map.tif --device cpu --overlap 32 -q
      geotrans run scene.tif -o map.tif --dropout --seed 7
      geotrans run naip.tif -o map.tif --bands 1,2,3
      geotrans run scenes/ --out maps/ --recursive          # resumable: re-run to finish
      geotrans run --list scenes.txt --out maps/

    \b
    Folder mode writes geotrans-summary.json in the output folder and exits
    non-zero when any scene failed. A re-run skips outputs that are complete and
    current (same source, model and parameters); --force redoes them.
    """
    _setup_logging(verbose, quiet, log_file)
    if src is None and list_file is None:
        raise click.UsageError("give a scene or folder SRC, or --list FILE")
    folder_mode = list_file is not None or os.path.isdir(src)
    try:
        if folder_mode and preview:
            raise GeotransError("--preview takes a single scene, not a folder")
        options = RunOptions(batch_size=batch_size, overlap=overlap, device=device, overwrite=overwrite,
                             dropout_seed=seed if dropout else None, bands=parse_bands(bands), cog=cog,
                             native_res=native_res, gsd=gsd, allow_ungeoreferenced=allow_ungeoreferenced, aoi=aoi)
    except GeotransError as err:
        raise click.ClickException(str(err)) from None
    if folder_mode:
        _run_folder(src, dst, patterns, recursive, list_file, force, model_path, options, quiet, scheduler, cluster)
        return
    try:
        generator, model_info = _load_model(model_path)
        with _sigterm_as_interrupt(), tqdm(total=0, unit="tile", desc="tiles", dynamic_ncols=True,
                                           disable=quiet or not sys.stderr.isatty()) as bar:
            def progress(finished: int, total: int) -> None:
                bar.total = total
                bar.update(finished)

            report = translate(src, dst, generator, options, model_info=model_info, progress=progress)
        if preview:
            write_preview(inspect_scene(src, options.bands, allow_ungeoreferenced=allow_ungeoreferenced, aoi_path=aoi),
                          report.dst, preview)
            log.info("wrote preview %s", preview)
    except GeotransError as err:
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        click.echo(f"geotrans: interrupted; nothing was written to {dst}", err=True)
        sys.exit(130)
    except Exception as err:  # unexpected: one line unless -v asks for the traceback
        if verbose:
            raise
        raise click.ClickException(f"internal error: {type(err).__name__}: {one_line(err)} "
                                   "(run with -v for the traceback)") from None


@main.command()
@click.argument("src", type=click.Path(path_type=str))
@MODEL_OPTION
@BANDS_OPTION
@OVERLAP_OPTION
@GSD_OPTION
@AOI_OPTION
@UNGEO_OPTION
def info(src: str, model_path: Optional[str], bands: Optional[str], overlap: int, gsd: Optional[float],
         aoi: Optional[str], allow_ungeoreferenced: bool) -> None:
    """Say what `geotrans run` would do with SRC, without running the model.

    \b
    Size, CRS and ground resolution against the model's; the bands and their
    scaling; the valid fraction; the windows to run and to skip; a time estimate.

    \b
    Example:
      geotrans info sample_tiles/landsat_rgb_nodata_utm.tif
    """
    _setup_logging(0, True)
    try:
        _, model_info = _load_model(model_path, required=model_path is not None)
        options = RunOptions(overlap=overlap, bands=parse_bands(bands), gsd=gsd, aoi=aoi,
                             allow_ungeoreferenced=allow_ungeoreferenced)
        for line in plan_scene(src, options, model_info).lines():
            click.echo(line)
        if model_info is None:
            click.echo("model        none installed; ground resolution not compared")
    except GeotransError as err:
        raise click.ClickException(str(err)) from None
