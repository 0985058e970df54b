"""``geotrans run``: one scene (``geotrans.jobs.scene.run_scene``) or a folder of scenes
(``geotrans.jobs.folder.run_folder``) into maps."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Optional

import click

from geotrans.cli.console import error_boundary, follow, import_pipeline, progress_bar, setup_logging
from geotrans.cli.options import (
    AOI_OPTION,
    BANDS_OPTION,
    GSD_OPTION,
    MODEL_OPTION,
    NODATA_OPTION,
    OVERLAP_OPTION,
    QUIET_OPTION,
    RESAMPLING_OPTION,
    UNGEO_OPTION,
    VERBOSE_OPTION,
    CreationOption,
    GroupedCommand,
    LocalCluster,
    Number,
    SchedulerAddress,
)
from geotrans.io.footprint import aoi_file
from geotrans.io.network import SCHEDULER_WAIT_S, apply_http_settings
from geotrans.io.targets import SUMMARY
from geotrans.jobs.options import Cluster, FolderJob
from geotrans.jobs.paths import check_job_paths
from geotrans.model.choices import DEVICES, PRECISIONS
from geotrans.model.palette import PALETTES
from geotrans.run.options import COMPRESSION_NAMES, RunOptions

# The pipeline (and torch with it) is imported inside the command, by import_pipeline, so that --help,
# --version and a mistyped option answer at once.

FOLDER_ONLY = ("patterns", "recursive", "force")
SINGLE_ONLY = ("preview", "strip_rows")


RUN_OPTION_GROUPS = {
    "Input": ("bands", "gsd", "nodata", "resampling", "aoi", "allow_ungeoreferenced", "http_timeout"),
    "Output": ("dst", "native_res", "cog", "compress", "creation_options", "preview", "vectors", "web", "overwrite",
               "huge"),
    "Model": ("model_path", "palette", "tta", "dropout", "seed"),
    "Speed": ("device", "precision", "batch_size", "overlap", "compile_"),
    "Folders and clusters": ("patterns", "recursive", "list_file", "force", "scheduler", "cluster", "strip_rows"),
    "Messages": ("progress_mode", "log_file", "verbose", "quiet", "help"),
}


def refuse_flags(ctx: click.Context, folder_mode: bool) -> None:
    """Flags that do not apply to this mode are refused, not ignored."""
    names, applies_to, mode = (SINGLE_ONLY, "a single scene", "folder mode") if folder_mode else \
        (FOLDER_ONLY, "folder mode", "a single scene")
    for name in names:
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            option = next(p for p in ctx.command.params if p.name == name)
            raise click.ClickException(f"{option.opts[0]} applies to {applies_to}, not to {mode}")


def kept(dst: str, preview: Optional[str], vectors: Optional[str], web: Optional[str] = None) -> Callable[[], str]:
    """What an interrupted single-scene run says it kept: nothing, or the finished map (whose preview and
    vectors come after it)."""
    def stat_of(path: str):
        try:
            st = os.stat(path)
            return st.st_ino, st.st_mtime_ns, st.st_size
        except OSError:
            return None

    before = stat_of(dst)

    def said() -> str:
        if stat_of(dst) in (None, before):
            return f"interrupted; nothing was written to {dst}"
        extras = " and ".join(name for name in (preview and "the preview", vectors and "the vectors",
                                                web and "the web site") if name)
        return f"interrupted; the map {dst} is complete" + (f", {extras} not written" if extras else "")

    return said


def output_of(dst: Optional[str], dst_argument: Optional[str]) -> str:
    """The output, given as --out or as the argument after SRC (rio's habit), once."""
    if dst and dst_argument:
        raise click.UsageError(f"two outputs: {dst_argument} and --out {dst}; give one")
    if not (dst or dst_argument):
        raise click.UsageError("give the output: geotrans run SRC --out MAP.tif (or geotrans run SRC MAP.tif)")
    return dst or dst_argument


def compression_of(ctx: click.Context, compress: str, creation_options: tuple[tuple[str, str], ...]) -> str:
    """--compress, or the compression a --co COMPRESS=... names when --compress was left at its default: the
    user's explicit option overrides a default they never gave (rio's way)."""
    given = {key.upper(): value for key, value in creation_options}
    explicit = ctx.get_parameter_source("compress") == click.core.ParameterSource.COMMANDLINE
    if "COMPRESS" in given and not explicit and given["COMPRESS"].lower() in COMPRESSION_NAMES:
        return given["COMPRESS"].lower()
    return compress


@click.command(cls=GroupedCommand, groups=RUN_OPTION_GROUPS,
              short_help="Translate a scene, or a folder of scenes, into a map GeoTIFF.")
@click.argument("src", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.argument("dst_argument", metavar="[DST]", type=click.Path(path_type=str), required=False)
@click.option("--out", "-o", "dst", type=click.Path(path_type=str),
              help="Output GeoTIFF, or output folder when SRC is a folder or --list is given (or give it as DST, "
                   "after SRC, as in rio).")
@click.option("--pattern", "patterns", multiple=True, metavar="GLOB",
              help="Folder mode: file names to take (repeatable), matched regardless of case. Default: *.tif and "
                   "*.tiff (so .TIF too).")
@click.option("--recursive", is_flag=True, help="Folder mode: walk sub-folders too, keeping relative paths.")
@click.option("--list", "list_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Translate the scenes listed in this file (one path a line) into the --out folder.")
@click.option("--force", is_flag=True, help="Folder mode: redo scenes whose output is complete and current.")
@click.option("--scheduler", default=None, type=SchedulerAddress(), metavar="tcp://HOST:8786",
              help="Spread the folder's scenes, or one scene's strips of rows, over this Dask cluster "
                   f"(one worker per GPU); a scene too small to split runs there as one strip. A scheduler "
                   f"that does not answer within {SCHEDULER_WAIT_S} s is one line, not a wait.")
@click.option("--cluster", default=None, type=LocalCluster(), metavar="local:N",
              help="Start a local Dask cluster of N workers for the folder's scenes or one scene's strips.")
@click.option("--strip-rows", default=None, type=int, metavar="ROWS",
              help="One scene on a cluster: rows per strip, a multiple of 256 (default: about 4 strips per "
                   "worker, 2048 to 8192 rows).")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the log to this file (appended to).")
@click.option("--http-timeout", type=Number(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Network sources (/vsicurl/, URLs): give up on each connection and each request after this "
                   "long (default 15 s to connect, 60 s a request, or GDAL_HTTP_* from the environment). It bounds "
                   "one request, not the whole wait: opening a scene takes several requests and busy answers are "
                   "retried 3 times with back-off, so a silent server is given up on after several times this.")
@MODEL_OPTION
@click.option("--batch-size", default=8, show_default=True, type=int, help="Tiles per batch.")
@OVERLAP_OPTION
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, otherwise the CPU.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Arithmetic of the generator: auto takes bf16 where it is measured to be as good and faster.")
@click.option("--palette", type=click.Choice(PALETTES), default="auto", show_default=True,
              help="auto: snap pixels close to one of the map style's colours (from the model card) onto it.")
@click.option("--tta", is_flag=True, help="Average each tile over its 8 flips and rotations (8x the work).")
@click.option("--compile", "compile_", is_flag=True,
              help="Run the generator through torch.compile: builds once per process (up to 40 s on a CPU), then "
                   "runs faster (on a CPU, worth it from a few thousand tiles); needs g++ (CPU) or Triton (CUDA).")
@BANDS_OPTION
@click.option("--dropout", is_flag=True, help="Keep the generator's dropout at inference (the paper's noise).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --dropout; the same seed repeats a run.")
@AOI_OPTION
@click.option("--native-res", is_flag=True,
              help="Keep the model's native ground resolution in the output instead of the scene's grid.")
@GSD_OPTION
@NODATA_OPTION
@RESAMPLING_OPTION
@UNGEO_OPTION
@click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
@click.option("--compress", type=click.Choice(COMPRESSION_NAMES), default="deflate", show_default=True,
              help="The map's compression; jpeg and webp are lossy (the mask stays a mask).")
@click.option("--co", "creation_options", multiple=True, type=CreationOption(),
              help="A GDAL creation option for the map, KEY=VALUE (repeatable), as in rio.")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write a small PNG: input | output side by side (single scene).")
@click.option("--vectors", type=click.Path(path_type=str), default=None, metavar="FEATURES.gpkg",
              help="Also vectorize the map into this GeoPackage (roads, water, green, buildings; see geotrans "
                   "vectorize); in folder mode a folder, one GeoPackage per map.")
@click.option("--web", type=click.Path(file_okay=False, path_type=str), default=None, metavar="SITE/",
              help="Also write web tiles of the map over the scene and a viewer, SITE/index.html (see geotrans "
                   "web); in folder mode, one site of every map.")
@click.option("--overwrite", is_flag=True,
              help="Replace --out (and --preview, --vectors) if it exists; in folder mode, also replace files in the "
                   "output and --vectors folders that geotrans did not write (without it they are left alone and "
                   "the scene fails).")
@click.option("--yes", "huge", is_flag=True,
              help="Run a plan beyond the size limits (over 1,000,000 windows to run, or a map over 10^10 px), "
                   "which are refused without it.")
@click.option("--progress", "progress_mode", type=click.Choice(("bar", "json")), default="bar", show_default=True,
              help="bar: a progress bar on a terminal; json: one JSON line per update (and per log message) on stderr, "
                   "for programs.")
@VERBOSE_OPTION
@QUIET_OPTION
@click.pass_context
def run(ctx: click.Context, src: Optional[str], dst_argument: Optional[str], dst: Optional[str],
        patterns: tuple[str, ...], recursive: bool,
        list_file: Optional[str], force: bool, scheduler: Optional[str], cluster: Optional[int],
        strip_rows: Optional[int], log_file: Optional[str], http_timeout: Optional[float],
        model_path: Optional[str], batch_size: int, overlap: int, device: str,
        precision: str, palette: str, tta: bool, compile_: bool,
        bands: Optional[tuple[int, ...]], dropout: bool, seed: int, aoi: Optional[str], native_res: bool,
        gsd: Optional[float], nodata: Optional[str], resampling: str, allow_ungeoreferenced: bool, cog: bool,
        compress: str, creation_options: tuple[tuple[str, str], ...], preview: Optional[str],
        vectors: Optional[str], web: Optional[str],
        overwrite: bool, huge: bool, progress_mode: str, verbose: int, quiet: bool) -> None:
    """Translate the scene SRC into a map GeoTIFF at --out (or DST) on the same grid, or a folder of scenes.

    The output has SRC's CRS, transform and size: it lies exactly over SRC in
    QGIS. The model reads the scene resampled to its own ground resolution
    (from its model card); --native-res keeps that resolution in the output.
    Nodata, alpha and NaN pixels stay transparent. The map is written to a
    temporary file beside --out and renamed when complete, so --out never holds
    a partial map.

    \b
    Examples:
      geotrans run sample_tiles/korea_rgb_jpeg_3857.tif --out korea_map.tif
      geotrans run naip.tif -o map.tif --bands 1,2,3 --aoi field.geojson
      geotrans run scene.tif -o map.tif --cog --compress zstd --preview map.png
      geotrans run scene.tif -o map.tif --model my_region.safetensors
      geotrans run scene.tif -o map.tif --device cpu --precision fp32 -q
      geotrans run scenes/ --out maps/ --recursive    # re-run to resume
      geotrans run --list scenes.txt --out maps/ --cluster local:2

    \b
    Folder mode writes geotrans-summary.json in the output folder and exits
    non-zero when any scene failed. A re-run skips outputs that are complete and
    current (same source, model and parameters); --force redoes them.
    """
    if src is None and list_file is None:
        raise click.UsageError("give a scene or folder SRC, or --list FILE")
    dst = output_of(dst, dst_argument)
    folder_mode = list_file is not None or Path(src).is_dir()
    refuse_flags(ctx, folder_mode)
    compress = compression_of(ctx, compress, creation_options)
    with error_boundary(verbose, "interrupted; nothing was written"):
        check_job_paths(src, dst, folder_mode, preview, log_file, (aoi and aoi_file(aoi)[0], model_path, list_file),
                        overwrite, vectors, web)
    setup_logging(verbose, quiet, log_file, json_lines=progress_mode == "json", scene_details=not folder_mode)
    apply_http_settings(http_timeout)
    with error_boundary(verbose, f"interrupted; nothing was written to {dst}"):
        where = Cluster(scheduler=scheduler, local_workers=cluster)
        job = FolderJob(src, dst, patterns, recursive, list_file, force) if folder_mode else None
        options = RunOptions(batch_size=batch_size, overlap=overlap, device=device, precision=precision,
                             palette=palette, tta=tta, compile=compile_, overwrite=overwrite,
                             dropout_seed=seed if dropout else None, bands=bands, cog=cog, compress=compress,
                             creation_options=tuple(creation_options), native_res=native_res,
                             gsd=gsd, nodata=nodata, resampling=resampling,
                             allow_ungeoreferenced=allow_ungeoreferenced, aoi=aoi,
                             strip_rows=strip_rows, huge=huge)
        import_pipeline(dask=not where.here)
        from geotrans.jobs.folder import run_folder, vectorize_summary, web_summary
        from geotrans.jobs.preflight import check_before_model
        from geotrans.jobs.scene import run_scene

        check_before_model(options, model_path, bool(vectors))
    if not folder_mode:
        with error_boundary(verbose, kept(dst, preview, vectors, web)), \
                progress_bar("tiles", "tiles", quiet, progress_mode) as bar:
            run_scene(src, dst, options, model_path, preview, vectors, where, progress=follow(bar),
                      paths_checked=True, web=web)
        return
    with error_boundary(verbose, f"interrupted; finished scenes are recorded in {Path(dst) / SUMMARY}: "
                                 "run the same command again to resume"), \
            progress_bar("scenes", "scenes", quiet, progress_mode) as scenes, \
            progress_bar("tiles", "tiles", quiet, progress_mode, position=1) as tiles:
        summary = run_folder(job, options, model_path, where, on_jobs=scenes.reset,
                             on_scene=lambda result: scenes.update(1), tile_progress=follow(tiles))
    click.echo(summary.table())
    failed = 0
    if vectors:
        with error_boundary(verbose, "interrupted; the finished GeoPackages are complete"):
            outcome = vectorize_summary(summary, dst, vectors, force, overwrite)
        written = sum(v == "written" for v in outcome.values())
        current = sum(v == "current" for v in outcome.values())
        failed = len(outcome) - written - current
        click.echo(f"vectors in {vectors}: {written} written, {current} current, {failed} failed")
    if web:
        with error_boundary(verbose, f"interrupted; {web} was left as it was"):
            site = web_summary(summary, dst, web)
        click.echo(f"web site: {site / 'index.html'}")
    sys.exit(1 if summary.failed or failed else 0)
